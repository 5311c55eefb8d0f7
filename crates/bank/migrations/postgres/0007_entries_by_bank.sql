-- A bank's entries in id order, for pages by cursor (the console's entry list, the API's
-- list, exports): without it a page of a bank of millions sorted the whole bank. Ids only grow,
-- so the index is appended to, never split in the middle, as entries are added.
CREATE INDEX entries_by_bank ON entries (bank_id, id);
