-- Whether RabbitMQ holds a message for a queued job. A job goes back to `queued` (a
-- retry, a hand-back, an expired lease) before its message is published, and the broker
-- may be away just then: such jobs are found here and published again, so none waits
-- forever for a message that was never sent. Jobs from before this column had theirs.
ALTER TABLE jobs ADD COLUMN published BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE jobs ALTER COLUMN published SET DEFAULT FALSE;
CREATE INDEX jobs_unpublished ON jobs (updated_at) WHERE state = 'queued' AND NOT published;
