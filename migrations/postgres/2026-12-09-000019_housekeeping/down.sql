DROP INDEX push_batches_answer_age;
DROP INDEX push_batches_created_at;
