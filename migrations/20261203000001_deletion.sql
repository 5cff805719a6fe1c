-- A deleted job keeps its row as a tombstone: every route on it answers `410 Gone`
-- saying when and why (`owner`: its key deleted it; `admin`: an operator deleted its
-- key's jobs; `expired`: the retention sweeper), while its images are gone from S3.
ALTER TABLE jobs
    ADD COLUMN deleted_at TIMESTAMPTZ,
    ADD COLUMN deleted_by TEXT CHECK (deleted_by IN ('owner', 'admin', 'expired')),
    ADD CONSTRAINT jobs_deletion_said CHECK ((deleted_at IS NULL) = (deleted_by IS NULL));

-- The sweeper reads the oldest finished jobs not yet deleted as a range of this index,
-- however many tombstones pile up beside them.
CREATE INDEX jobs_expiring ON jobs (finished_at)
    WHERE finished_at IS NOT NULL AND deleted_at IS NULL;
