ALTER TABLE followups DROP COLUMN item_key;
ALTER TABLE photos DROP COLUMN kind;
ALTER TABLE photos DROP COLUMN item_key;
