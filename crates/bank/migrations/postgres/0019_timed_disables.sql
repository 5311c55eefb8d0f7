-- Entries disabled until a time (HMA's `disable_until_ts`): the service enables each again when
-- its time comes, unless the entry changed after the disable (its `seq` then differs).
CREATE TABLE timed_disables (
    entry_id BIGINT PRIMARY KEY,
    bank     TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    seq      BIGINT NOT NULL
);
CREATE INDEX timed_disables_due ON timed_disables (until_ms);
