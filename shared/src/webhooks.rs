//! Webhooks' outbox in PostgreSQL: one row per message to send (written by a trigger in
//! the transaction that starts or ends a job, or by the worker for `progress`), claimed
//! by any deliverer with `FOR UPDATE SKIP LOCKED` under a lease, each attempt recorded;
//! and each API key's signing secret.

use crate::db::JobRow;
use crate::progress::LiveProgress;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// The events a job may ask to be told of.
pub const EVENTS: [&str; 3] = ["start", "progress", "completed"];

/// What the deliverers listen on for new messages.
pub const CHANNEL: &str = "stylize_webhooks";

/// A message claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    pub id: Uuid,
    pub job_id: Uuid,
    /// The job's API key, whose secret signs the message.
    pub owner: Option<Uuid>,
    pub event: String,
    pub url: String,
    /// The body sent before, if an attempt was made: every attempt sends the same.
    pub body: Option<String>,
    /// For `progress`: the live progress as the worker published it.
    pub progress: Option<sqlx::types::Json<LiveProgress>>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// The claim's token: only its holder records the attempt.
    pub lease: Uuid,
    /// The job's `traceparent`, whose trace each attempt joins.
    pub trace_context: Option<String>,
}

/// Attempts under way to one URL at once, over all deliverers.
pub const MAX_IN_FLIGHT_PER_RECEIVER: i64 = 4;

/// Claims up to `limit` due messages for `lease`: each is due again when the lease ends,
/// so a message whose deliverer died is taken by another.
pub async fn claim_due(
    pool: &PgPool,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE webhook_messages m
         SET lease = gen_random_uuid(), next_attempt_at = now() + make_interval(secs => $1)
         FROM (SELECT id FROM webhook_messages
               WHERE id IN (
                   -- A receiver has at most MAX_IN_FLIGHT_PER_RECEIVER attempts under
                   -- way, from all deliverers: a slow one cannot hold every turn. Its
                   -- due messages are ranked, and only as many as it has room for taken.
                   SELECT id FROM (
                       SELECT id, url, row_number() OVER (
                                  PARTITION BY url ORDER BY next_attempt_at, id) AS nth
                       FROM webhook_messages
                       WHERE delivered_at IS NULL AND gave_up_at IS NULL
                         AND next_attempt_at <= now()
                   ) AS due
                   WHERE nth + (SELECT count(*) FROM webhook_messages AS busy
                                WHERE busy.url = due.url AND busy.lease IS NOT NULL
                                  AND busy.next_attempt_at > now()
                                  AND busy.delivered_at IS NULL
                                  AND busy.gave_up_at IS NULL) <= $3
               )
               -- Checked again on the row as it is once locked: a message another
               -- deliverer claimed after this statement's snapshot is no longer due,
               -- and is skipped (the ranking above saw it as it was).
               AND delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now()
               ORDER BY next_attempt_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED) due
         WHERE m.id = due.id
         RETURNING m.id, m.job_id, (m.job ->> 'owner')::uuid AS owner, m.event, m.url, m.body, m.progress, m.attempts,
                   m.created_at, m.lease, m.job ->> 'trace_context' AS trace_context",
    )
    .bind(lease.as_secs_f64())
    .bind(limit)
    .bind(MAX_IN_FLIGHT_PER_RECEIVER)
    .fetch_all(pool)
    .await
}

/// The job's row as the message's event left it.
pub async fn job_then(pool: &PgPool, message: Uuid) -> Result<JobRow, sqlx::Error> {
    sqlx::query_as(
        "SELECT (jsonb_populate_record(NULL::jobs, job)).* FROM webhook_messages WHERE id = $1",
    )
    .bind(message)
    .fetch_one(pool)
    .await
}

/// How an attempt went.
pub struct Attempt<'a> {
    /// The body it sent (kept for the next attempts); `None` when it could not be built.
    pub body: Option<&'a str>,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    /// `None`: delivered. Otherwise the wait before the next attempt, unless that comes
    /// later than `give_up_after` past the event: then the message is given up.
    pub retry_in: Option<Duration>,
    pub give_up_after: Duration,
}

/// Records an attempt of a message claimed under `lease`; `false` when the lease was
/// lost (the attempt outlived it, and another deliverer has the message).
pub async fn record_attempt(
    pool: &PgPool,
    message: &Message,
    attempt: &Attempt<'_>,
) -> Result<bool, sqlx::Error> {
    let retry_in = attempt.retry_in.map(|wait| wait.as_secs_f64());
    let recorded = sqlx::query(
        "WITH message AS (
             UPDATE webhook_messages SET
                 attempts = attempts + 1,
                 lease = NULL,
                 body = COALESCE(body, $3),
                 delivered_at = CASE WHEN $6::float8 IS NULL THEN now() END,
                 gave_up_at = CASE WHEN now() + make_interval(secs => $6)
                                        > created_at + make_interval(secs => $7)
                                   THEN now() END,
                 next_attempt_at = COALESCE(now() + make_interval(secs => $6), now())
             WHERE id = $1 AND lease = $2
             RETURNING id, attempts
         ), receiver_backs_off AS (
             -- A receiver that failed waits as long before its other messages are tried
             -- (each still keeps its own count of attempts).
             UPDATE webhook_messages SET
                 next_attempt_at = GREATEST(next_attempt_at, now() + make_interval(secs => $6))
             WHERE $6::float8 IS NOT NULL AND url = $8 AND id <> $1 AND lease IS NULL
               AND delivered_at IS NULL AND gave_up_at IS NULL
               AND EXISTS (SELECT 1 FROM message)
         )
         INSERT INTO webhook_attempts (message_id, attempt, status, error)
         SELECT id, attempts, $4, $5 FROM message",
    )
    .bind(message.id)
    .bind(message.lease)
    .bind(attempt.body)
    .bind(attempt.status.map(i32::from))
    .bind(attempt.error)
    .bind(retry_in)
    .bind(attempt.give_up_after.as_secs_f64())
    .bind(&message.url)
    .execute(pool)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// Deletes up to `batch` messages delivered or given up more than `kept` ago, with
/// their attempts; how many.
pub async fn prune_finished(pool: &PgPool, kept: Duration, batch: i64) -> Result<u64, sqlx::Error> {
    let pruned = sqlx::query(
        "DELETE FROM webhook_messages WHERE id IN (
             SELECT id FROM webhook_messages
             WHERE COALESCE(delivered_at, gave_up_at) < now() - make_interval(secs => $1)
             LIMIT $2
         )",
    )
    .bind(kept.as_secs_f64())
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(pruned.rows_affected())
}

/// Messages neither delivered nor given up (a count the partial index `webhook_messages_due`
/// answers).
pub async fn count_pending(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM webhook_messages WHERE delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .fetch_one(pool)
    .await
}

/// Adds a `progress` message for a running job that asked for them, with its row as it
/// is now; `false` when the job did not ask (or no longer runs). The job's earlier
/// progress messages not yet delivered, and not being attempted now, are given up in the
/// same statement: only the latest progress is worth sending, so a receiver that does not
/// answer is owed one message per job, not one every few seconds for a day.
pub async fn add_progress(
    pool: &PgPool,
    job: Uuid,
    progress: &LiveProgress,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query(
        "WITH added AS (
             INSERT INTO webhook_messages (id, job_id, event, url, job, progress)
             SELECT gen_random_uuid(), id, 'progress', webhook, to_jsonb(jobs), $2
             FROM jobs
             WHERE id = $1 AND state = 'running' AND webhook IS NOT NULL
               AND 'progress' = ANY (webhook_events)
             RETURNING id
         ), superseded AS (
             UPDATE webhook_messages SET gave_up_at = now()
             WHERE job_id = $1 AND event = 'progress' AND EXISTS (SELECT 1 FROM added)
               AND delivered_at IS NULL AND gave_up_at IS NULL
               AND (lease IS NULL OR next_attempt_at <= now())
         )
         SELECT count(*) FROM added",
    )
    .bind(job)
    .bind(sqlx::types::Json(progress))
    .fetch_one(pool)
    .await;
    let added: i64 = sqlx::Row::try_get(&added?, 0)?;
    Ok(added == 1)
}

/// The signing key of `key`'s webhooks, `fresh` made its key if it had none yet; `None`
/// when there is no such key.
pub async fn key_secret(
    pool: &PgPool,
    key: Uuid,
    fresh: &[u8],
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE api_keys SET webhook_secret = COALESCE(webhook_secret, $2) WHERE id = $1
         RETURNING webhook_secret",
    )
    .bind(key)
    .bind(fresh)
    .fetch_optional(pool)
    .await
}

/// Replaces `key`'s signing key with `fresh`; `false` when there is no such key.
pub async fn rotate_key_secret(
    pool: &PgPool,
    key: Uuid,
    fresh: &[u8],
) -> Result<bool, sqlx::Error> {
    let rotated = sqlx::query("UPDATE api_keys SET webhook_secret = $2 WHERE id = $1")
        .bind(key)
        .bind(fresh)
        .execute(pool)
        .await?;
    Ok(rotated.rows_affected() == 1)
}
