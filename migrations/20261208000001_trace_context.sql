-- Traces: the W3C traceparent of the request that submitted a job (NULL when traces
-- were off), so that each of its runs, a requeue or a reaping, and its webhook
-- deliveries join the trace of its submission.
ALTER TABLE jobs ADD COLUMN trace_context TEXT;
