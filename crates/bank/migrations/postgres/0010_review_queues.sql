-- Review queues per team. Each bank names the queue its matches are reviewed in; a person may be
-- limited to some queues.
ALTER TABLE banks ADD COLUMN review_queue TEXT NOT NULL DEFAULT 'main';
-- The queues a person reviews, separated by commas (queue names hold none); NULL: every queue.
ALTER TABLE users ADD COLUMN queues TEXT;
