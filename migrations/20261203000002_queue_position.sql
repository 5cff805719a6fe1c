-- The queued jobs in the order they entered the queue (`updated_at`: a retried or
-- handed-back job re-enters at the back, as its message does), so a queued job's
-- position in its status is one bounded range of this small index, not a scan.
CREATE INDEX jobs_queue_order ON jobs (updated_at, id) WHERE state = 'queued';
