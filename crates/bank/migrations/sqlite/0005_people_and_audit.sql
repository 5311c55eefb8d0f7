-- People who use the console, their sessions, and the deployment's hash-chained audit log.
-- Times are milliseconds since the epoch (UTC), as everywhere in this store.

-- Persons (not API keys). A person is created with a one-time setup token (only its SHA-256 is
-- kept), sets a password (argon2id, PHC string) and enrols TOTP before anything else.
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE,
    role                TEXT    NOT NULL CHECK (role IN ('admin', 'curator', 'reviewer', 'auditor')),
    password_hash       TEXT,
    password_set_at     INTEGER,
    totp_secret         BLOB,
    totp_enrolled_at    INTEGER,
    totp_last_step      INTEGER,
    setup_token_hash    BLOB    UNIQUE,
    setup_expires_at    INTEGER,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        INTEGER,
    disabled_at         INTEGER,
    disabled_by         TEXT,
    disabled_reason     TEXT,
    created_at          INTEGER NOT NULL,
    created_by          TEXT    NOT NULL
);

-- Console sessions, shared by every replica. The cookie carries a random token; only its
-- SHA-256 is stored. Deleting a user's rows logs them out everywhere.
CREATE TABLE sessions (
    token_hash   BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    address      TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- The audit log: one for the deployment, append-only, each record chained to the one before by
-- hash = SHA-256(prev_hash || canonical bytes of the record).
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_kind TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL
);
CREATE INDEX audit_by_actor ON audit (actor, seq);
CREATE INDEX audit_by_action ON audit (action, seq);
CREATE INDEX audit_by_object ON audit (object_kind, object_id, seq);
CREATE INDEX audit_by_time ON audit (at);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Signed checkpoints of the audit log's head (Ed25519), so that a cut tail is detectable.
CREATE TABLE audit_checkpoints (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    at          INTEGER NOT NULL,
    public_key  BLOB    NOT NULL,
    signature   BLOB    NOT NULL
);
CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
