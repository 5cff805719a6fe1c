-- Webhooks: a job may name a URL to be told of its events; each message to send is a
-- row of an outbox, written in the transaction that changes the job's state (by the
-- trigger below, whichever statement makes the change), and sent by the api's
-- deliverer, with every attempt recorded.
ALTER TABLE jobs
    ADD COLUMN webhook TEXT,
    ADD COLUMN webhook_events TEXT[] NOT NULL DEFAULT '{}';

-- Signing key (random bytes) of each API key's webhooks, made at first use.
ALTER TABLE api_keys ADD COLUMN webhook_secret BYTEA;

CREATE TABLE webhook_messages (
    -- The `webhook-id` header: one per message, the same on every attempt.
    id UUID PRIMARY KEY,
    job_id UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    event TEXT NOT NULL CHECK (event IN ('start', 'progress', 'completed')),
    url TEXT NOT NULL,
    -- The job's row as the event left it, and for `progress` the live progress then:
    -- what the body is built from.
    job JSONB NOT NULL,
    progress JSONB,
    -- The body, kept from the first attempt so that every attempt sends the same.
    body TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the message is due: its next attempt, or the end of a deliverer's lease on it.
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set by each claim; only that claim's deliverer records the attempt.
    lease UUID,
    attempts INT NOT NULL DEFAULT 0,
    delivered_at TIMESTAMPTZ,
    gave_up_at TIMESTAMPTZ
);

CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_messages_by_job ON webhook_messages (job_id);

CREATE TABLE webhook_attempts (
    message_id UUID NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempt INT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The receiver's HTTP status; NULL when there was no answer (then `error` says why).
    status INT,
    error TEXT,
    PRIMARY KEY (message_id, attempt)
);

-- `start` when a worker claims the job, `completed` when it ends, for jobs that asked.
CREATE FUNCTION jobs_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event TEXT := CASE
        WHEN NEW.state = 'running' THEN 'start'
        WHEN NEW.state IN ('succeeded', 'failed', 'canceled') THEN 'completed'
    END;
BEGIN
    IF event IS NOT NULL AND event = ANY (NEW.webhook_events) THEN
        INSERT INTO webhook_messages (id, job_id, event, url, job)
        VALUES (gen_random_uuid(), NEW.id, event, NEW.webhook, to_jsonb(NEW));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF state ON jobs FOR EACH ROW
    WHEN (NEW.webhook IS NOT NULL AND NEW.state IS DISTINCT FROM OLD.state)
    EXECUTE FUNCTION jobs_webhook_events();

-- A new message wakes the deliverers (the notice goes out when its transaction commits).
CREATE FUNCTION webhook_messages_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stylize_webhooks', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER webhook_messages_notify AFTER INSERT ON webhook_messages FOR EACH ROW
    EXECUTE FUNCTION webhook_messages_notify();
