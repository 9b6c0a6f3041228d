-- Security: a review-page session remembers the user's token stamp and
-- role when it began, and ends when either changes (a password change, a
-- deactivation, a new role). A resumable upload is leased by the PATCH
-- writing to it, so two PATCHes of one upload never interleave.
ALTER TABLE web_sessions ADD COLUMN token_stamp BIGINT NOT NULL DEFAULT -1;
ALTER TABLE web_sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN busy_until TIMESTAMP;
CREATE INDEX uploads_user ON uploads (user_id);
