-- Where each exchange (another Spoor instance's bank followed into a local one) has read its
-- source's change log up to: a pull starts after `position`.
CREATE TABLE exchange_positions (
    name        TEXT PRIMARY KEY,
    source_url  TEXT NOT NULL,
    remote_bank TEXT NOT NULL,
    local_bank  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
