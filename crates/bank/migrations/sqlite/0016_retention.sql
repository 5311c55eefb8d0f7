-- Retention: legal holds, and what was erased when.
ALTER TABLE cases ADD COLUMN hold_until INTEGER;      -- nothing of the case goes before this
ALTER TABLE cases ADD COLUMN hold_reason TEXT;
ALTER TABLE cases ADD COLUMN hold_by TEXT;
ALTER TABLE cases ADD COLUMN personal_purged_at INTEGER; -- its personal data was erased then
ALTER TABLE complaints ADD COLUMN purged_at INTEGER;  -- the complainant's words were erased then

-- Cases whose personal data is still kept, oldest first (what a retention run looks at).
CREATE INDEX cases_personal_kept ON cases (created_at, id) WHERE personal_purged_at IS NULL;
-- Decided complaints whose words are still kept.
CREATE INDEX complaints_words_kept ON complaints (decided_at, id)
    WHERE purged_at IS NULL AND state <> 'open';
-- Finished reports whose document is still kept.
CREATE INDEX reports_documents_kept ON reports (finished_at, id)
    WHERE document IS NOT NULL AND state = 'finished';
-- Messages delivered or given up, by when.
CREATE INDEX outbox_done ON outbox (COALESCE(delivered_at, gave_up_at), id)
    WHERE delivered_at IS NOT NULL OR gave_up_at IS NOT NULL;
-- Held media by the case's making (the absolute limit of held media).
CREATE INDEX cases_media_by_age ON cases (created_at, id) WHERE media_id IS NOT NULL;
