-- API keys: only a SHA-256 of each key is kept. Every job belongs to the key that
-- submitted it (NULL when the api runs without keys), and an idempotency key is unique
-- per owner, not across owners.
CREATE TABLE api_keys (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);

ALTER TABLE jobs ADD COLUMN owner UUID REFERENCES api_keys (id);
ALTER TABLE jobs DROP CONSTRAINT jobs_idempotency_key_key;
CREATE UNIQUE INDEX jobs_idempotency
    ON jobs (COALESCE(owner, '00000000-0000-0000-0000-000000000000'), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_owner ON jobs (owner, created_at DESC, id DESC);
