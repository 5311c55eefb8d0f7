-- API keys. Only a SHA-256 of each key's secret is stored; the key is shown once, at creation.
CREATE TABLE api_keys (
    id          BIGSERIAL PRIMARY KEY,
    key_id      TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL,
    banks       TEXT,
    secret_hash BYTEA   NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_by  TEXT,
    revoked_at  BIGINT
);
