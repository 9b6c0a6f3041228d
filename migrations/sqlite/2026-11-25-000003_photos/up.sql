-- A job per photo whose bytes arrived: make its variants. Kept in the
-- database so a restart resumes them.
CREATE TABLE photo_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    photo_id TEXT NOT NULL REFERENCES photos (id),
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX photo_jobs_due ON photo_jobs (status, next_attempt_at);
CREATE INDEX photo_jobs_photo ON photo_jobs (photo_id);
