-- Complaints against decisions, re-reviewed by someone who took no part in them.
CREATE TABLE complaints (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    created_at  INTEGER NOT NULL,
    submitter   TEXT    NOT NULL,   -- who filed it (key:NAME, user:NAME)
    complainant TEXT    NOT NULL,   -- the service's reference of the person complaining
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'open', -- open | upheld | overturned
    decided_at  INTEGER,
    decided_by  TEXT,
    reason      TEXT,
    entry_id    INTEGER             -- the entry an overturn named
);
-- The complaints queue: open complaints, oldest first.
CREATE INDEX complaints_open ON complaints (created_at, id) WHERE state = 'open';
-- At most one open complaint per case.
CREATE UNIQUE INDEX complaints_one_open ON complaints (case_id) WHERE state = 'open';
CREATE INDEX complaints_by_case ON complaints (case_id, id);

-- A case reversed by an overturned complaint (it is then a false positive).
ALTER TABLE cases ADD COLUMN reversed_at INTEGER;
ALTER TABLE cases ADD COLUMN reversed_by TEXT;
ALTER TABLE cases ADD COLUMN reversed_complaint INTEGER;

-- A complaint names its case by the submitter's content reference.
CREATE INDEX cases_by_content_ref ON cases (submitter, content_ref, id) WHERE content_ref IS NOT NULL;
