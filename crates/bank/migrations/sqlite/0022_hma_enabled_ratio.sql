-- HMA's matching_enabled_ratio: the share of lookups on HMA's routes that consult a bank
-- (greater than 0, at most 1; a bank that matches nothing is paused instead). Spoor's own
-- routes consult every enabled bank.
ALTER TABLE banks ADD COLUMN hma_enabled_ratio REAL NOT NULL DEFAULT 1.0
    CHECK (hma_enabled_ratio > 0 AND hma_enabled_ratio <= 1);
