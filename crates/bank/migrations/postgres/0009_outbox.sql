-- A durable outbox: messages to other systems (webhooks now; NCMEC and EU reports later),
-- written by the service and delivered by a worker that retries until it succeeds or gives up.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    topic           TEXT    NOT NULL,
    dedupe_key      TEXT    NOT NULL UNIQUE,   -- enqueueing twice with one key stores one item
    target          TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    delivered_at    BIGINT,
    gave_up_at      BIGINT
);
-- What is due: undelivered items not given up, by the time of their next attempt.
CREATE INDEX outbox_due ON outbox (next_attempt_at, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
