DROP INDEX uploads_user;
ALTER TABLE uploads DROP COLUMN busy_until;
ALTER TABLE web_sessions DROP COLUMN role;
ALTER TABLE web_sessions DROP COLUMN token_stamp;
