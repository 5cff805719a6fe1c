-- A SHA-256 of what a submission asked for (its parameters and each input), so that a
-- retry with the same idempotency key is told apart from a different request reusing
-- it. NULL for jobs from before this column: a retry of one is taken as the same.
ALTER TABLE jobs ADD COLUMN request_hash BYTEA;
