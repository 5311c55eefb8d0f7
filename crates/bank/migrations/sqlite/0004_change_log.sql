-- A change log that is the whole truth, and entry ids that are never reused.
--
-- 1. Entry ids come from a counter (`spoor_ids`) that starts above every id the table or the
--    change log has ever named (a plain INTEGER PRIMARY KEY hands the id of a deleted newest row
--    out again).
-- 2. Each change record keeps what a follower needs, as of the change: the bank's name, the
--    entry's signal (type and value), its category and severity, and whether it matches
--    afterwards. Existing records are back-filled as far as the data allows:
--    * bank names: exact (banks are never renamed);
--    * signals: exact wherever recoverable. A record of entry X before a delete of X belongs to
--      the entry that delete removed and takes the delete's signal (ids were only reused after a
--      delete); a record of X with no delete after it belongs to the entry still stored as X.
--      A record whose entry is neither deleted later nor stored (which no Spoor write leaves
--      behind) keeps no signal;
--    * enabled: exact for disable/enable/delete and for updates after a disable or enable; for
--      an add, the opposite of the first disable/enable after it, else the stored entry's state,
--      else (deleted without ever being switched) true, as entries are added enabled by default;
--    * category and severity: the stored entry's current ones for records of entries still
--      stored (exact for records after the entry's last update, the later values before it);
--      unknown (NULL) for records of entries deleted before this migration.

DROP TRIGGER changes_append_only_update;
DROP TRIGGER changes_append_only_delete;

-- The last entry id ever handed out. Writers give new entries the ids after it and move it up in
-- the same transaction; a plain INTEGER PRIMARY KEY would hand the id of a deleted newest entry
-- out again (AUTOINCREMENT would not, but costs a write per row and burns an id on every
-- conflicting insert).
CREATE TABLE spoor_ids (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
INSERT INTO spoor_ids (name, last)
SELECT 'entries', MAX(COALESCE((SELECT MAX(id) FROM entries), 0),
                      COALESCE((SELECT MAX(entry_id) FROM changes), 0));

ALTER TABLE changes ADD COLUMN bank_name TEXT;
ALTER TABLE changes ADD COLUMN enabled INTEGER;
ALTER TABLE changes ADD COLUMN category TEXT;
ALTER TABLE changes ADD COLUMN severity TEXT;

CREATE INDEX changes_0004_entry ON changes (entry_id, seq);

UPDATE changes SET bank_name = (SELECT b.name FROM banks b WHERE b.id = changes.bank_id);

UPDATE changes
SET (signal_type, value) = (
    SELECT d.signal_type, d.value FROM changes d
    WHERE d.entry_id = changes.entry_id AND d.action = 'delete' AND d.seq > changes.seq
    ORDER BY d.seq LIMIT 1)
WHERE entry_id IS NOT NULL AND action <> 'delete'
  AND EXISTS (SELECT 1 FROM changes d
              WHERE d.entry_id = changes.entry_id AND d.action = 'delete' AND d.seq > changes.seq);

UPDATE changes
SET (signal_type, value, category, severity) = (
    SELECT e.signal_type, e.value, e.category, e.severity FROM entries e
    WHERE e.id = changes.entry_id AND e.bank_id = changes.bank_id)
WHERE entry_id IS NOT NULL AND action <> 'delete'
  AND NOT EXISTS (SELECT 1 FROM changes d
                  WHERE d.entry_id = changes.entry_id AND d.action = 'delete'
                    AND d.seq > changes.seq);

UPDATE changes SET enabled = CASE action WHEN 'enable' THEN 1 ELSE 0 END
WHERE action IN ('enable', 'disable', 'delete');

UPDATE changes
SET enabled = COALESCE(
    (SELECT CASE t.action WHEN 'enable' THEN 0 ELSE 1 END FROM changes t
     WHERE t.entry_id = changes.entry_id AND t.seq > changes.seq
       AND t.action IN ('enable', 'disable', 'delete')
     ORDER BY t.seq LIMIT 1),
    (SELECT e.enabled FROM entries e WHERE e.id = changes.entry_id),
    1)
WHERE action = 'add';

UPDATE changes
SET enabled = (
    SELECT p.enabled FROM changes p
    WHERE p.entry_id = changes.entry_id AND p.seq < changes.seq
      AND p.action IN ('add', 'enable', 'disable')
    ORDER BY p.seq DESC LIMIT 1)
WHERE action = 'update';

DROP INDEX changes_0004_entry;

CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TRIGGER changes_append_only_delete BEFORE DELETE ON changes
BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
