-- Checklist logic (issue 21): a photo may name the checklist item it
-- proves (`item_key`, the item's answer path after `answers.`), and a
-- signature drawn on the phone is a photo of kind 'signature'. Photos
-- taken before this name no item and are of kind 'photo'.
ALTER TABLE photos ADD COLUMN item_key TEXT;
ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo';

-- A follow-up made from a failed item names it (its answer path), so an
-- item proposes its follow-up once.
ALTER TABLE followups ADD COLUMN item_key TEXT;
