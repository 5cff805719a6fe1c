-- One row per stylisation job: the durable truth about it. Redis holds only live
-- progress, RabbitMQ only the job's id.
CREATE TABLE jobs (
    id UUID PRIMARY KEY,
    state TEXT NOT NULL
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    params JSONB NOT NULL,
    style_count INT NOT NULL CHECK (style_count > 0),
    -- Preset ids in style order; NULL entries are uploaded styles.
    presets TEXT[] NOT NULL DEFAULT '{}',
    width INT NOT NULL,
    height INT NOT NULL,
    idempotency_key TEXT UNIQUE,
    -- Deliveries taken; a job that keeps killing workers ends failed.
    attempts INT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    worker TEXT,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX jobs_by_creation ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_state ON jobs (state) WHERE state IN ('queued', 'running');
