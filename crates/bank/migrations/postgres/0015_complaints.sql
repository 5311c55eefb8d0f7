-- Complaints against decisions, re-reviewed by someone who took no part in them.
CREATE TABLE complaints (
    id          BIGSERIAL PRIMARY KEY,
    case_id     BIGINT  NOT NULL REFERENCES cases (id),
    created_at  BIGINT  NOT NULL,
    submitter   TEXT    NOT NULL,   -- who filed it (key:NAME, user:NAME)
    complainant TEXT    NOT NULL,   -- the service's reference of the person complaining
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'open', -- open | upheld | overturned
    decided_at  BIGINT,
    decided_by  TEXT,
    reason      TEXT,
    entry_id    BIGINT              -- the entry an overturn named
);
-- The complaints queue: open complaints, oldest first.
CREATE INDEX complaints_open ON complaints (created_at, id) WHERE state = 'open';
-- At most one open complaint per case.
CREATE UNIQUE INDEX complaints_one_open ON complaints (case_id) WHERE state = 'open';
CREATE INDEX complaints_by_case ON complaints (case_id, id);

-- A case reversed by an overturned complaint (it is then a false positive).
ALTER TABLE cases ADD COLUMN reversed_at BIGINT;
ALTER TABLE cases ADD COLUMN reversed_by TEXT;
ALTER TABLE cases ADD COLUMN reversed_complaint BIGINT;

-- A complaint names its case by the submitter's content reference.
CREATE INDEX cases_by_content_ref ON cases (submitter, content_ref, id) WHERE content_ref IS NOT NULL;

-- Messages found by the start of their key (a complaint's follow-ups), in byte order whatever
-- the database's collation.
CREATE INDEX outbox_by_key_bytes ON outbox (dedupe_key COLLATE "C");
