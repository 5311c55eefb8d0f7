-- Each reviewer's starting view of a case's picture: the blur step (4 strongest … 0 none) and
-- whether colour is shown. No row: the strongest blur, in greyscale.
CREATE TABLE review_views (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    blur    SMALLINT NOT NULL CHECK (blur BETWEEN 0 AND 4),
    colour  BOOLEAN NOT NULL,
    set_at  BIGINT NOT NULL
);
