-- Banks, entries and the change log. Times are milliseconds since the Unix epoch, UTC.
CREATE TABLE banks (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    owner           TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    review_required INTEGER NOT NULL DEFAULT 0,
    pdq_radius      INTEGER NOT NULL DEFAULT 31
);

CREATE TABLE entries (
    id              INTEGER PRIMARY KEY,
    bank_id         INTEGER NOT NULL REFERENCES banks (id),
    signal_type     TEXT    NOT NULL,
    value           BLOB    NOT NULL,
    category        TEXT,
    severity        TEXT,
    tags            TEXT,
    source_org      TEXT,
    source_id       TEXT,
    added_by        TEXT    NOT NULL,
    added_at        INTEGER NOT NULL,
    verified_by     TEXT,
    verified_at     INTEGER,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_by     TEXT,
    disabled_at     INTEGER,
    disabled_reason TEXT,
    -- sequence number of the last change to this entry
    seq             INTEGER NOT NULL,
    UNIQUE (bank_id, signal_type, value)
);

-- Append-only. signal_type and value are filled for deletes only (the entry row is gone).
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    bank_id     INTEGER NOT NULL REFERENCES banks (id),
    entry_id    INTEGER,
    signal_type TEXT,
    value       BLOB,
    reason      TEXT
);
CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TRIGGER changes_append_only_delete BEFORE DELETE ON changes
BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
