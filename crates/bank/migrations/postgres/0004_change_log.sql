-- A change log that is the whole truth. Entry ids come from the `entries` sequence, which never
-- hands an id out twice; nothing changes there.
--
-- Each change record keeps what a follower needs, as of the change: the bank's name, the entry's
-- signal (type and value), its category and severity, and whether it matches afterwards.
-- Existing records are back-filled as far as the data allows:
-- * bank names: exact (banks are never renamed);
-- * signals: exact wherever recoverable. A record of entry X before a delete of X takes the
--   delete's signal; a record of X with no delete after it belongs to the entry still stored as
--   X. A record whose entry is neither deleted later nor stored (which no Spoor write leaves
--   behind) keeps no signal;
-- * enabled: exact for disable/enable/delete and for updates after a disable or enable; for an
--   add, the opposite of the first disable/enable after it, else the stored entry's state, else
--   (deleted without ever being switched) true, as entries are added enabled by default;
-- * category and severity: the stored entry's current ones for records of entries still stored
--   (exact for records after the entry's last update, the later values before it); unknown
--   (NULL) for records of entries deleted before this migration.

ALTER TABLE changes DISABLE TRIGGER changes_append_only;

ALTER TABLE changes ADD COLUMN bank_name TEXT;
ALTER TABLE changes ADD COLUMN enabled BOOLEAN;
ALTER TABLE changes ADD COLUMN category TEXT;
ALTER TABLE changes ADD COLUMN severity TEXT;

CREATE INDEX changes_0004_entry ON changes (entry_id, seq);

UPDATE changes c SET bank_name = b.name FROM banks b WHERE b.id = c.bank_id;

UPDATE changes c
SET (signal_type, value) = (
    SELECT d.signal_type, d.value FROM changes d
    WHERE d.entry_id = c.entry_id AND d.action = 'delete' AND d.seq > c.seq
    ORDER BY d.seq LIMIT 1)
WHERE c.entry_id IS NOT NULL AND c.action <> 'delete'
  AND EXISTS (SELECT 1 FROM changes d
              WHERE d.entry_id = c.entry_id AND d.action = 'delete' AND d.seq > c.seq);

UPDATE changes c
SET (signal_type, value, category, severity) = (
    SELECT e.signal_type, e.value, e.category, e.severity FROM entries e
    WHERE e.id = c.entry_id AND e.bank_id = c.bank_id)
WHERE c.entry_id IS NOT NULL AND c.action <> 'delete'
  AND NOT EXISTS (SELECT 1 FROM changes d
                  WHERE d.entry_id = c.entry_id AND d.action = 'delete' AND d.seq > c.seq);

UPDATE changes SET enabled = (action = 'enable')
WHERE action IN ('enable', 'disable', 'delete');

UPDATE changes c
SET enabled = COALESCE(
    (SELECT t.action <> 'enable' FROM changes t
     WHERE t.entry_id = c.entry_id AND t.seq > c.seq
       AND t.action IN ('enable', 'disable', 'delete')
     ORDER BY t.seq LIMIT 1),
    (SELECT e.enabled FROM entries e WHERE e.id = c.entry_id),
    TRUE)
WHERE c.action = 'add';

UPDATE changes c
SET enabled = (
    SELECT p.enabled FROM changes p
    WHERE p.entry_id = c.entry_id AND p.seq < c.seq AND p.action IN ('add', 'enable', 'disable')
    ORDER BY p.seq DESC LIMIT 1)
WHERE c.action = 'update';

DROP INDEX changes_0004_entry;

ALTER TABLE changes ENABLE TRIGGER changes_append_only;
