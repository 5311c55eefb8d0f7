-- Exchanges `spoor serve` runs: another Spoor instance's bank followed into a local bank every
-- interval, with the read-only exchange key the source gave (never shown again, never logged).
-- Where each has read up to stays in exchange_positions (shared with `spoor exchange pull`).
CREATE TABLE exchanges (
    name            TEXT PRIMARY KEY,
    source_url      TEXT NOT NULL,
    remote_bank     TEXT NOT NULL,
    local_bank      TEXT NOT NULL,
    api_key         TEXT NOT NULL,
    interval_ms     BIGINT NOT NULL,
    page            BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- The last pull: when, whether it failed (and how often in a row), how far the source was.
    last_attempt_at BIGINT,
    last_success_at BIGINT,
    last_error      TEXT,
    failures        BIGINT NOT NULL DEFAULT 0,
    remote_last_seq BIGINT,
    added           BIGINT NOT NULL DEFAULT 0,
    changed         BIGINT NOT NULL DEFAULT 0,
    -- Which replica pulls, until when (replicas over one PostgreSQL take turns, never together).
    lease_holder    TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    -- When the holder took it (a pull running since then while lease_until is ahead).
    lease_since     BIGINT
);

-- Changes of a source not applied because a local decision stands (local decisions win).
CREATE TABLE exchange_conflicts (
    id          BIGSERIAL PRIMARY KEY,
    exchange    TEXT NOT NULL,
    remote_seq  BIGINT NOT NULL,
    entry_id    BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    message     TEXT NOT NULL,
    UNIQUE (exchange, remote_seq)
);
