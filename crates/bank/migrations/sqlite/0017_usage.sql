-- Lookups and matches per UTC day, client (the key's name) and technology: anonymous
-- aggregates for the statistics and the annual report, added to as the service counts them.
CREATE TABLE usage_daily (
    day BIGINT NOT NULL,          -- days since 1970-01-01 (UTC)
    client TEXT NOT NULL,
    technology TEXT NOT NULL,     -- md5, sha1, sha256, vpdq, pdq:0 … pdq:32+, pdq:none
    lookups BIGINT NOT NULL,
    matches BIGINT NOT NULL,
    PRIMARY KEY (day, client, technology)
);
