-- Browsing a bank of millions of entries in the console: an entry's history from the change
-- log, and the (few) disabled entries of a bank without scanning the live ones.
--
-- An entry keeps the number of its `add` record (`added_seq`), and only the records that
-- follow an add (disable, enable, update, delete: curation, a few per entry at most) are
-- indexed by entry. Indexing the `add` records too would slow every import by a tenth.
ALTER TABLE entries ADD COLUMN added_seq BIGINT;
CREATE INDEX changes_0006_add ON changes (entry_id) WHERE action = 'add';
UPDATE entries SET added_seq = (
    SELECT MAX(c.seq) FROM changes c WHERE c.entry_id = entries.id AND c.action = 'add'
);
DROP INDEX changes_0006_add;
CREATE INDEX changes_by_entry ON changes (entry_id, seq)
    WHERE entry_id IS NOT NULL AND action <> 'add';
CREATE INDEX entries_disabled ON entries (bank_id, id) WHERE NOT enabled;
