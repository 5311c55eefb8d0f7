-- API keys. Only a SHA-256 of each key's secret is stored; the key is shown once, at creation.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    key_id      TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL,
    banks       TEXT,
    secret_hash BLOB    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_by  TEXT,
    revoked_at  INTEGER
);
