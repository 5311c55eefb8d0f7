-- Browsing a bank of millions of entries in the console: an entry's history straight from the
-- change log, and the (few) disabled entries of a bank without scanning the live ones.
CREATE INDEX changes_by_entry ON changes (entry_id, seq) WHERE entry_id IS NOT NULL;
CREATE INDEX entries_disabled ON entries (bank_id, id) WHERE NOT enabled;
