-- People who use the console, their sessions, and the deployment's hash-chained audit log.
-- Times are milliseconds since the epoch (UTC), as everywhere in this store.

-- Persons (not API keys). A person is created with a one-time setup token (only its SHA-256 is
-- kept), sets a password (argon2id, PHC string) and enrols TOTP before anything else.
CREATE TABLE users (
    id                  BIGSERIAL PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE,
    role                TEXT    NOT NULL CHECK (role IN ('admin', 'curator', 'reviewer', 'auditor')),
    password_hash       TEXT,
    password_set_at     BIGINT,
    totp_secret         BYTEA,
    totp_enrolled_at    BIGINT,
    totp_last_step      BIGINT,
    setup_token_hash    BYTEA   UNIQUE,
    setup_expires_at    BIGINT,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        BIGINT,
    disabled_at         BIGINT,
    disabled_by         TEXT,
    disabled_reason     TEXT,
    created_at          BIGINT  NOT NULL,
    created_by          TEXT    NOT NULL
);

-- Console sessions, shared by every replica. The cookie carries a random token; only its
-- SHA-256 is stored. Deleting a user's rows logs them out everywhere.
CREATE TABLE sessions (
    token_hash   BYTEA   PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    address      TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- The audit log: one for the deployment, append-only, each record chained to the one before by
-- hash = SHA-256(prev_hash || canonical bytes of the record).
CREATE TABLE audit (
    seq         BIGINT  PRIMARY KEY,
    at          BIGINT  NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_kind TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   BYTEA   NOT NULL,
    hash        BYTEA   NOT NULL
);
CREATE INDEX audit_by_actor ON audit (actor, seq);
CREATE INDEX audit_by_action ON audit (action, seq);
CREATE INDEX audit_by_object ON audit (object_kind, object_id, seq);
CREATE INDEX audit_by_time ON audit (at);
CREATE FUNCTION spoor_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION spoor_audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION spoor_audit_append_only();

-- Signed checkpoints of the audit log's head (Ed25519), so that a cut tail is detectable.
CREATE TABLE audit_checkpoints (
    id          BIGSERIAL PRIMARY KEY,
    seq         BIGINT  NOT NULL,
    hash        BYTEA   NOT NULL,
    at          BIGINT  NOT NULL,
    public_key  BYTEA   NOT NULL,
    signature   BYTEA   NOT NULL
);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION spoor_audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION spoor_audit_append_only();
