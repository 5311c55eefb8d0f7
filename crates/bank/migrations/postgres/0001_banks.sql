-- Banks, entries and the change log. Times are milliseconds since the Unix epoch, UTC.
CREATE TABLE banks (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    owner           TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    review_required BOOLEAN NOT NULL DEFAULT FALSE,
    pdq_radius      INTEGER NOT NULL DEFAULT 31
);

CREATE TABLE entries (
    id              BIGSERIAL PRIMARY KEY,
    bank_id         BIGINT  NOT NULL REFERENCES banks (id),
    signal_type     TEXT    NOT NULL,
    value           BYTEA   NOT NULL,
    category        TEXT,
    severity        TEXT,
    tags            TEXT,
    source_org      TEXT,
    source_id       TEXT,
    added_by        TEXT    NOT NULL,
    added_at        BIGINT  NOT NULL,
    verified_by     TEXT,
    verified_at     BIGINT,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_by     TEXT,
    disabled_at     BIGINT,
    disabled_reason TEXT,
    -- sequence number of the last change to this entry
    seq             BIGINT  NOT NULL,
    UNIQUE (bank_id, signal_type, value)
);

-- Append-only. signal_type and value are filled for deletes only (the entry row is gone).
CREATE TABLE changes (
    seq         BIGINT  PRIMARY KEY,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    bank_id     BIGINT  NOT NULL REFERENCES banks (id),
    entry_id    BIGINT,
    signal_type TEXT,
    value       BYTEA,
    reason      TEXT
);
CREATE FUNCTION spoor_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the change log is append-only';
END;
$$;
CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE ON changes
    FOR EACH ROW EXECUTE FUNCTION spoor_changes_append_only();
