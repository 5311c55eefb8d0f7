-- Whether a key's match answers carry exact distances (off: a matcher must not be able to
-- rebuild a banked hash from distances).
ALTER TABLE api_keys ADD COLUMN show_distance INTEGER NOT NULL DEFAULT 0;
