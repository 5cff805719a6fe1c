-- The jobs that ended in a recent window (`GET /v1/queue`'s throughput) are read as a
-- range of this index, not by scanning every job ever finished.
CREATE INDEX jobs_by_finish ON jobs (finished_at) WHERE finished_at IS NOT NULL;
