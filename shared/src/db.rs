//! PostgreSQL: the job rows, and every state change as one conditional UPDATE so two
//! workers (or a worker and a cancel) can never both win.

use crate::config::DatabaseSettings;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;
use stylize_core::job::{JobState, StyleSource};
use stylize_core::params::StyleParams;
use uuid::Uuid;

pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(settings.url.expose())
        .await
}

/// A pool that connects on first use: a process starting while PostgreSQL is away comes
/// up all the same, and its calls work once PostgreSQL does. Fails only on a malformed
/// URL.
pub fn connect_lazy(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(settings.url.expose().parse()?))
}

/// Applies `migrations/` (idempotent; run by every service at start-up).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations").run(pool).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub state: String,
    pub params: sqlx::types::Json<StyleParams>,
    /// The style images in blend order, and so where each is stored.
    pub styles: sqlx::types::Json<Vec<StyleSource>>,
    pub width: i32,
    pub height: i32,
    pub idempotency_key: Option<String>,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub worker: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The API key that submitted the job; `None` when the api runs without keys.
    pub owner: Option<Uuid>,
    /// Whether the queue holds a message for the job (meaningful while queued).
    pub published: bool,
    /// A SHA-256 of the submission's parameters and inputs; `None` for older jobs.
    pub request_hash: Option<Vec<u8>>,
    /// When the job was deleted (its row a tombstone, its images gone), and why.
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<String>,
    /// Where the job's events are POSTed, and which (`start`, `progress`, `completed`).
    pub webhook: Option<String>,
    pub webhook_events: Vec<String>,
    /// The W3C `traceparent` of the request that submitted the job; `None` when traces
    /// were off.
    pub trace_context: Option<String>,
}

impl JobRow {
    pub fn state(&self) -> JobState {
        self.state
            .parse()
            .expect("the CHECK constraint admits only known states")
    }
}

/// What a new job needs; the rest starts at its default.
pub struct NewJob<'a> {
    pub id: Uuid,
    pub params: &'a StyleParams,
    pub styles: &'a [StyleSource],
    pub width: u32,
    pub height: u32,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a [u8],
    pub owner: Option<Uuid>,
    pub webhook: Option<&'a str>,
    pub webhook_events: &'a [String],
    pub trace_context: Option<&'a str>,
}

/// What [`insert_job`] made of a new job.
#[derive(Debug)]
pub enum Insertion {
    /// Queued.
    Created(JobRow),
    /// The job the owner's idempotency key already made: nothing was inserted.
    Existing(JobRow),
    /// The owner already has `active` jobs queued or running, its limit.
    OverQuota { active: i64 },
}

/// Inserts a queued job, if its owner has fewer than `max_active` jobs queued or
/// running (`None`: no limit); the count and the insert are one transaction under a
/// lock on the owner, so parallel submissions cannot all slip under the limit. With an
/// idempotency key its owner already used, inserts nothing and returns the earlier job.
#[tracing::instrument(name = "INSERT jobs", skip_all, fields(
    otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT",
    db.collection.name = "jobs", job = %job.id,
))]
pub async fn insert_job(
    pool: &PgPool,
    job: &NewJob<'_>,
    max_active: Option<i64>,
) -> Result<Insertion, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    if let (Some(owner), Some(limit)) = (job.owner, max_active) {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
            .bind(owner)
            .execute(&mut *transaction)
            .await?;
        let active = count_active_jobs(&mut *transaction, owner).await?;
        if active >= limit {
            return Ok(Insertion::OverQuota { active });
        }
    }
    let inserted: Option<JobRow> = sqlx::query_as(
        "INSERT INTO jobs
             (id, state, params, styles, width, height, idempotency_key, owner, request_hash,
              webhook, webhook_events, trace_context)
         VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (COALESCE(owner, '00000000-0000-0000-0000-000000000000'), idempotency_key)
             WHERE idempotency_key IS NOT NULL
         DO NOTHING
         RETURNING *",
    )
    .bind(job.id)
    .bind(sqlx::types::Json(job.params))
    .bind(sqlx::types::Json(job.styles))
    .bind(job.width as i32)
    .bind(job.height as i32)
    .bind(job.idempotency_key)
    .bind(job.owner)
    .bind(job.request_hash)
    .bind(job.webhook)
    .bind(job.webhook_events)
    .bind(job.trace_context)
    .fetch_optional(&mut *transaction)
    .await?;
    transaction.commit().await?;
    match (inserted, job.idempotency_key) {
        (Some(row), _) => Ok(Insertion::Created(row)),
        (None, Some(key)) => {
            let earlier = find_by_idempotency_key(pool, job.owner, key).await?;
            Ok(Insertion::Existing(
                earlier.ok_or(sqlx::Error::RowNotFound)?,
            ))
        }
        (None, None) => Err(sqlx::Error::RowNotFound),
    }
}

/// The job `owner` submitted with this idempotency key, if any.
pub async fn find_by_idempotency_key(
    pool: &PgPool,
    owner: Option<Uuid>,
    key: &str,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM jobs WHERE idempotency_key = $1 AND owner IS NOT DISTINCT FROM $2",
    )
    .bind(key)
    .bind(owner)
    .fetch_optional(pool)
    .await
}

/// The job.
pub async fn get_job(pool: &PgPool, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Takes the job `chosen` names (a CTE of one `id`, or none) for `worker` (`$2`) if it
/// is still queued, counting the attempt and its owner's turn.
const CLAIM_CHOSEN: &str = "claimed AS (
        UPDATE jobs SET state = 'running', worker = $2, attempts = attempts + 1,
            started_at = now(), updated_at = now()
        FROM chosen
        WHERE jobs.id = chosen.id AND jobs.state = 'queued'
        RETURNING jobs.*
    ), turn AS (
        INSERT INTO owner_turns (owner, served_at)
        SELECT COALESCE(owner, '00000000-0000-0000-0000-000000000000'), clock_timestamp()
        FROM claimed
        ON CONFLICT (owner) DO UPDATE SET served_at = excluded.served_at
    )
    SELECT * FROM claimed";

/// Takes the queued job `id` for `worker`, counting the attempt and its owner's turn;
/// `None` when the job is not queued (canceled, finished, or taken by another worker).
pub async fn claim(pool: &PgPool, id: Uuid, worker: &str) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH chosen AS (SELECT $1::uuid AS id), {CLAIM_CHOSEN}"
    ))
    .bind(id)
    .bind(worker)
    .fetch_optional(pool)
    .await
}

/// Claims for `worker` the job whose turn it is (`fair_queue`'s first), among owners
/// with fewer than `max_running_per_owner` jobs running (0: no cap); `None` when no
/// queued job may start now. Workers claiming at once skip each other's choice (`SKIP
/// LOCKED`); with a cap they take turns at choosing, so that two cannot both start an
/// owner's last allowed job.
#[tracing::instrument(name = "claim", skip_all, fields(
    otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE",
    db.collection.name = "jobs",
))]
pub async fn claim_next(
    pool: &PgPool,
    worker: &str,
    max_running_per_owner: u32,
) -> Result<Option<JobRow>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    if max_running_per_owner > 0 {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('stylize claims', 0))")
            .execute(&mut *transaction)
            .await?;
    }
    let claimed = sqlx::query_as(&format!(
        "WITH chosen AS (
             SELECT jobs.id FROM fair_queue JOIN jobs USING (id)
             WHERE jobs.state = 'queued' AND ($1 = 0 OR fair_queue.running < $1)
             ORDER BY fair_queue.turn, fair_queue.served_at, fair_queue.updated_at, jobs.id
             LIMIT 1
             FOR UPDATE OF jobs SKIP LOCKED
         ), {CLAIM_CHOSEN}"
    ))
    .bind(i64::from(max_running_per_owner))
    .bind(worker)
    .fetch_optional(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(claimed)
}

/// Whether any job waits in the queue.
pub async fn any_queued(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued')")
        .fetch_one(pool)
        .await
}

/// Renews `worker`'s lease on a running job; answers whether a cancel was asked for,
/// or `None` when the job is no longer this worker's.
pub async fn heartbeat(pool: &PgPool, id: Uuid, worker: &str) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE jobs SET updated_at = now()
         WHERE id = $1 AND state = 'running' AND worker = $2
         RETURNING cancel_requested",
    )
    .bind(id)
    .bind(worker)
    .fetch_optional(pool)
    .await
}

/// Running jobs whose lease ran out (their worker died) go back to `queued`; returns
/// each with the state it is in now: a queued one to publish again, and those ended
/// to announce. One whose cancel was asked for ends `canceled` instead, as its worker
/// would have ended it: running it again would only be stopped again.
pub async fn requeue_expired(
    pool: &PgPool,
    lease: Duration,
) -> Result<Vec<(Uuid, JobState)>, sqlx::Error> {
    let reaped: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE jobs SET
             state = CASE WHEN cancel_requested THEN 'canceled' ELSE 'queued' END,
             finished_at = CASE WHEN cancel_requested THEN now() END,
             worker = CASE WHEN cancel_requested THEN worker END,
             published = cancel_requested AND published,
             updated_at = now()
         WHERE state = 'running' AND updated_at < now() - make_interval(secs => $1)
         RETURNING id, state",
    )
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(reaped
        .into_iter()
        .map(|(id, state)| {
            let state = state
                .parse()
                .expect("the CHECK constraint admits only known states");
            (id, state)
        })
        .collect())
}

/// Notes that RabbitMQ took the job's message.
pub async fn mark_published(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET published = TRUE WHERE id = $1 AND state = 'queued'")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

/// Queued jobs without a message for longer than `grace` (their publish failed, or the
/// process that owed it died).
pub async fn unpublished(pool: &PgPool, grace: Duration) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM jobs
         WHERE state = 'queued' AND NOT published
           AND updated_at < now() - make_interval(secs => $1)
         ORDER BY updated_at LIMIT 100",
    )
    .bind(grace.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// How many queued jobs are marked published: each should have its message in the queue
/// (or on its way to a worker's claim).
pub async fn count_published_queued(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'queued' AND published")
        .fetch_one(pool)
        .await
}

/// The `limit` queued jobs marked published the longest, oldest first.
pub async fn oldest_published_queued(pool: &PgPool, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM jobs WHERE state = 'queued' AND published
         ORDER BY updated_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Removes a job that was never accepted (its submission failed before it was queued).
pub async fn delete_job(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

/// Asks for a job to stop: a queued job is canceled at once, a running one is flagged
/// for its worker (the api also tells it through Redis; without Redis it sees the flag
/// at its next heartbeat), and its run can then only end canceled or failed. `None`
/// when the job has already finished.
pub async fn request_cancel<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE jobs SET
             state = CASE WHEN state = 'queued' THEN 'canceled' ELSE state END,
             finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
             cancel_requested = TRUE
         WHERE id = $1 AND state IN ('queued', 'running')
         RETURNING *",
    )
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A page of `owner`'s jobs (those without an owner for `None`), newest first, after
/// the job `after` (keyset pagination); deleted jobs are left out.
pub async fn list_jobs(
    pool: &PgPool,
    owner: Option<Uuid>,
    limit: u32,
    after: Option<Uuid>,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM jobs
         WHERE owner IS NOT DISTINCT FROM $3
           AND deleted_at IS NULL
           AND ($2::uuid IS NULL
                OR (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = $2))
         ORDER BY created_at DESC, id DESC
         LIMIT $1",
    )
    .bind(i64::from(limit))
    .bind(after)
    .bind(owner)
    .fetch_all(pool)
    .await
}

/// For each state with jobs not deleted: how many, and the seconds since the oldest of
/// them was submitted.
pub async fn count_by_state(pool: &PgPool) -> Result<Vec<(String, i64, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT state, count(*), extract(epoch FROM now() - min(created_at))::float8
         FROM jobs WHERE deleted_at IS NULL GROUP BY state",
    )
    .fetch_all(pool)
    .await
}

/// Records how `worker`'s run of a job ended. Only the worker holding the job may: one
/// whose lease ran out, and whose job another worker has taken, changes nothing. A job
/// going back to `queued` is released; `charge_attempt: false` also returns the attempt
/// its claim counted (the worker shut down: not the job's doing). Once a cancel was
/// accepted, a run that did not fail ends `canceled`, whatever it reports: a 202 to a
/// cancel is never followed by a result.
pub async fn finish_run(
    pool: &PgPool,
    id: Uuid,
    worker: &str,
    to: JobState,
    error: Option<&str>,
    charge_attempt: bool,
) -> Result<Option<JobRow>, sqlx::Error> {
    debug_assert!(JobState::Running.can_become(to));
    // FOR UPDATE reads the row as a cancel committed meanwhile left it.
    sqlx::query_as(
        "WITH ending AS (
             SELECT id, CASE WHEN cancel_requested AND $3 <> 'failed' THEN 'canceled'
                             ELSE $3 END AS state
             FROM jobs
             WHERE id = $1 AND state = 'running' AND worker = $2
             FOR UPDATE
         )
         UPDATE jobs SET
             state = ending.state,
             error = CASE WHEN ending.state = 'succeeded' THEN NULL
                          WHEN ending.state = 'canceled' THEN error
                          ELSE COALESCE($4, error) END,
             worker = CASE WHEN ending.state = 'queued' THEN NULL ELSE worker END,
             finished_at = CASE WHEN ending.state IN ('succeeded', 'failed', 'canceled')
                                THEN now() END,
             attempts = attempts - CASE WHEN $5 THEN 0 ELSE 1 END,
             published = CASE WHEN ending.state = 'queued' THEN FALSE ELSE published END,
             updated_at = now()
         FROM ending
         WHERE jobs.id = ending.id
         RETURNING jobs.*",
    )
    .bind(id)
    .bind(worker)
    .bind(to.as_str())
    .bind(error)
    .bind(charge_attempt)
    .fetch_optional(pool)
    .await
}

/// Jobs of `owner` still queued or running.
pub async fn count_active_jobs(
    executor: impl sqlx::PgExecutor<'_>,
    owner: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE owner = $1 AND state IN ('queued', 'running')",
    )
    .bind(owner)
    .fetch_one(executor)
    .await
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whose a key is: a program's, made on the admin path, or a page visitor's, minted by
/// `POST /v1/session` (the visitors' limits, no webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Program,
    Visitor,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Program => "program",
            KeyKind::Visitor => "visitor",
        }
    }
}

/// Stores a key by its hash.
pub async fn insert_key(
    pool: &PgPool,
    name: &str,
    kind: KeyKind,
    key_hash: &[u8],
) -> Result<ApiKeyRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO api_keys (id, name, kind, key_hash) VALUES ($1, $2, $3, $4)
         RETURNING id, name, created_at, revoked_at",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(kind.as_str())
    .bind(key_hash)
    .fetch_one(pool)
    .await
}

/// The live (not revoked) key with this hash: its id and kind.
pub async fn find_key(
    pool: &PgPool,
    key_hash: &[u8],
) -> Result<Option<(Uuid, KeyKind)>, sqlx::Error> {
    let found: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, kind FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(pool)
            .await?;
    Ok(found.map(|(id, kind)| {
        let kind = if kind == KeyKind::Visitor.as_str() {
            KeyKind::Visitor
        } else {
            KeyKind::Program
        };
        (id, kind)
    }))
}

/// The key with this id, revoked or not.
pub async fn get_key(pool: &PgPool, id: Uuid) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, created_at, revoked_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The programs' keys (visitors' keys are many, and managed by nobody).
pub async fn list_keys(pool: &PgPool) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at, revoked_at FROM api_keys
         WHERE kind = 'program' ORDER BY created_at",
    )
    .fetch_all(pool)
    .await
}

/// Revokes a key; `None` when there is no such key.
pub async fn revoke_key(pool: &PgPool, id: Uuid) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
         RETURNING id, name, created_at, revoked_at",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
