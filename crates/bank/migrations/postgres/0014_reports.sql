-- Reports of confirmed cases to their receivers (NCMEC, the EU Centre), made in the transaction
-- of the decision that makes them and delivered step by step by a worker holding a claim.
CREATE TABLE reports (
    id              BIGSERIAL PRIMARY KEY,
    uuid            TEXT    NOT NULL UNIQUE,    -- Spoor's id of the report, given to the receiver
    recipient       TEXT    NOT NULL,           -- ncmec | eu_centre
    grouping        TEXT,                       -- one uploader on one service; NULL: alone
    state           TEXT    NOT NULL DEFAULT 'pending',
    created_at      BIGINT  NOT NULL,
    send_after      BIGINT  NOT NULL,           -- the end of its window
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    ever_claimed    BOOLEAN NOT NULL DEFAULT FALSE, -- once claimed, it takes no new case
    remote_id       TEXT,                       -- the receiver's id (NCMEC's reportId)
    progress        TEXT,                       -- the worker's record of the steps done
    document        TEXT,                       -- what was sent
    receipt         TEXT,                       -- the receiver's acknowledgement
    last_error      TEXT,
    finished_at     BIGINT,
    dead_at         BIGINT
);
-- What a worker may claim: active reports by when they are due.
CREATE INDEX reports_due ON reports (next_attempt_at, id)
    WHERE state IN ('pending', 'open', 'finishing');
-- The young report of a group that a newly confirmed case joins.
CREATE INDEX reports_young ON reports (recipient, grouping, send_after)
    WHERE NOT ever_claimed AND grouping IS NOT NULL;

CREATE TABLE report_cases (
    report_id BIGINT  NOT NULL REFERENCES reports (id),
    case_id   BIGINT  NOT NULL REFERENCES cases (id),
    recipient TEXT    NOT NULL,
    PRIMARY KEY (report_id, case_id),
    UNIQUE (case_id, recipient)                 -- a case is reported once per recipient
);

-- Whether the content was publicly available (NCMEC's publiclyAvailable), as the submitter says.
ALTER TABLE cases ADD COLUMN publicly_available BOOLEAN;

-- "Do not inform" (an authority's request): the user's notice is held until this time.
ALTER TABLE cases ADD COLUMN no_inform_until BIGINT;
ALTER TABLE cases ADD COLUMN no_inform_reason TEXT;
-- A message not sent before this time (a held notice).
ALTER TABLE outbox ADD COLUMN not_before BIGINT;
-- A claim on a message while a worker sends it (replicas never send one message at once).
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;
