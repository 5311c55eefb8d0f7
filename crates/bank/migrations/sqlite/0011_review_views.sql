-- Each reviewer's starting view of a case's picture: the blur step (4 strongest … 0 none) and
-- whether colour is shown. No row: the strongest blur, in greyscale.
CREATE TABLE review_views (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    blur    INTEGER NOT NULL CHECK (blur BETWEEN 0 AND 4),
    colour  INTEGER NOT NULL CHECK (colour IN (0, 1)),
    set_at  INTEGER NOT NULL
);
