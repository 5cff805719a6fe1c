-- Many owners on one service.
--
-- A key is a program's (made on the admin path) or a page visitor's (minted by
-- POST /v1/session, one per browser): both own jobs the same way, but a visitor's key
-- has the visitors' limits and no webhook secret.
ALTER TABLE api_keys
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'program' CHECK (kind IN ('program', 'visitor'));

-- The one page key every visitor shared (registered by the api under the name 'page')
-- was handed to anyone who opened the page: it is revoked, not made a program's key.
UPDATE api_keys SET revoked_at = now() WHERE name = 'page' AND revoked_at IS NULL;

-- Undelivered webhook messages by receiver, for the per-receiver cap on attempts.
CREATE INDEX webhook_messages_pending_by_url ON webhook_messages (url)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Fair turns: when each owner (the nil UUID for jobs without one) last had a job
-- claimed, so that owners with as many jobs running take turns.
CREATE TABLE owner_turns (
    owner UUID PRIMARY KEY,
    served_at TIMESTAMPTZ NOT NULL
);

-- The queued jobs in the order workers take them: round-robin across owners. A job's
-- `turn` is its owner's running jobs plus the owner's queued jobs before it, so an
-- owner's backlog waits behind every other owner's next job; owners on the same turn go
-- least recently served first, then by when the job entered the queue. Claims
-- (`db::claim_next`) and queue positions (`db::get_job`) both read this one order.
CREATE VIEW fair_queue AS
WITH running AS (
    SELECT COALESCE(owner, '00000000-0000-0000-0000-000000000000') AS owner,
           count(*) AS running
    FROM jobs WHERE state = 'running'
    GROUP BY 1
), queued AS (
    SELECT id, COALESCE(owner, '00000000-0000-0000-0000-000000000000') AS owner, updated_at,
           row_number() OVER (PARTITION BY owner ORDER BY updated_at, id) - 1 AS rank
    FROM jobs WHERE state = 'queued'
)
SELECT queued.id, queued.owner, queued.updated_at,
       COALESCE(running.running, 0) AS running,
       COALESCE(running.running, 0) + queued.rank AS turn,
       COALESCE(owner_turns.served_at, '-infinity') AS served_at
FROM queued
LEFT JOIN running USING (owner)
LEFT JOIN owner_turns USING (owner);
