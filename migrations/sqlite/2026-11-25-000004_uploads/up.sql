-- Resumable (tus 1.0) uploads of photo bytes in progress. The bytes so
-- far are a file under the data directory; `offset` is what is durable.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    photo_id TEXT NOT NULL REFERENCES photos (id),
    length INTEGER NOT NULL,
    "offset" INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX uploads_expires ON uploads (expires_at);
