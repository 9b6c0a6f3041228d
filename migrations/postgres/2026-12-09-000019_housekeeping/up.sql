-- Batch answers still held, by age (housekeeping drops them; what is
-- dropped is not scanned again), and batches by age (forgotten later).
CREATE INDEX push_batches_answer_age ON push_batches (created_at) WHERE length(response) > 0;
CREATE INDEX push_batches_created_at ON push_batches (created_at);
