-- Cases and their review. A case is made when submitted content matched a bank or was flagged;
-- it is decided automatically (known material, or content decided before) or by people.
ALTER TABLE banks ADD COLUMN auto_confirm_distance INTEGER DEFAULT 10;  -- NULL: never
ALTER TABLE banks ADD COLUMN four_eyes INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cases (
    id            INTEGER PRIMARY KEY,
    created_at    INTEGER NOT NULL,
    submitter     TEXT    NOT NULL,
    reason        TEXT    NOT NULL,   -- match | user_flag | own_initiative
    service       TEXT,
    content_ref   TEXT,
    uploader_ref  TEXT,
    uploaded_at   INTEGER,
    upload_ip     TEXT,
    media_kind    TEXT    NOT NULL,   -- image | video | file | none
    media_id      TEXT,               -- the vault's id while the media is held
    media_bytes   INTEGER,
    media_purged_at INTEGER,
    md5           BLOB,
    sha1          BLOB,
    sha256        BLOB,
    pdq           BLOB,
    pdq_quality   INTEGER,
    state         TEXT    NOT NULL,   -- queued | second_review | escalated | confirmed | false_positive
    queue         TEXT    NOT NULL,
    lease_holder  TEXT,
    lease_until   INTEGER,
    resolution    TEXT,               -- auto | review | earlier, once decided
    earlier_case  INTEGER REFERENCES cases (id),
    category      TEXT,
    industry_class TEXT,
    annotations   TEXT,               -- JSON array of NCMEC file annotations
    decided_at    INTEGER,
    decided_by    TEXT
);
-- "Review next": the oldest open case of a queue.
CREATE INDEX cases_open ON cases (queue, id) WHERE state IN ('queued', 'second_review', 'escalated');
-- The case a person holds ("review next" gives it back before another).
CREATE INDEX cases_held ON cases (lease_holder) WHERE lease_holder IS NOT NULL;
CREATE INDEX cases_by_state ON cases (state, id);
-- Never view twice: decided content by digest, and decided PDQs in the order they were
-- decided (a case decided late may be old), for the service's index of decided content.
CREATE INDEX cases_decided_sha256 ON cases (sha256) WHERE decided_at IS NOT NULL AND sha256 IS NOT NULL;
CREATE INDEX cases_decided_pdq ON cases (decided_at, id) WHERE decided_at IS NOT NULL AND pdq IS NOT NULL;
-- Held media of decided cases, for the job that deletes it after the grace period.
CREATE INDEX cases_held_media ON cases (decided_at) WHERE media_id IS NOT NULL;

CREATE TABLE case_matches (
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    bank_id     INTEGER NOT NULL REFERENCES banks (id),
    entry_id    INTEGER NOT NULL,
    signal_type TEXT    NOT NULL,
    distance    INTEGER NOT NULL,
    PRIMARY KEY (case_id, entry_id)
);
CREATE INDEX case_matches_by_entry ON case_matches (entry_id);
CREATE INDEX case_matches_by_bank ON case_matches (bank_id);

CREATE TABLE case_decisions (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    at            INTEGER NOT NULL,
    person        TEXT    NOT NULL,
    verdict       TEXT    NOT NULL,   -- confirm | false_positive | escalate
    category      TEXT,
    industry_class TEXT,
    annotations   TEXT,
    note          TEXT    NOT NULL DEFAULT '',
    entry_id      INTEGER             -- the entry a false positive names
);
CREATE INDEX case_decisions_by_case ON case_decisions (case_id, id);
