//! What the job table says about the load, in one bounded query: the jobs waiting and
//! running (counted on the partial index of active jobs) and those finished in a recent
//! window (a range of the index on `finished_at`), never a scan of the whole history.

use serde::Serialize;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, sqlx::FromRow)]
pub struct JobStats {
    pub queued: i64,
    pub running: i64,
    #[sqlx(flatten)]
    pub recent: Finished,
}

/// Jobs that ended within the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Finished {
    pub window_seconds: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
    /// From claim to success, on average; `None` when none succeeded.
    pub mean_run_seconds: Option<f64>,
}

pub async fn job_stats(pool: &PgPool, window: Duration) -> Result<JobStats, sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM jobs WHERE state = 'queued') AS queued,
                (SELECT count(*) FROM jobs WHERE state = 'running') AS running,
                $1 AS window_seconds,
                count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                count(*) FILTER (WHERE state = 'failed') AS failed,
                count(*) FILTER (WHERE state = 'canceled') AS canceled,
                avg(extract(epoch FROM finished_at - started_at)::float8)
                    FILTER (WHERE state = 'succeeded') AS mean_run_seconds
         FROM jobs
         WHERE finished_at > now() - make_interval(secs => $1)",
    )
    .bind(i64::try_from(window.as_secs()).unwrap_or(i64::MAX))
    .fetch_one(pool)
    .await
}

/// A queued job's place, as its status shows it; both `null` for any other job (and
/// where unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueuePlace {
    /// 1 for the next job to start; jobs past the first [`MAX_COUNTED_AHEAD`] all show
    /// that many plus one.
    pub queue_position: Option<i64>,
    /// `null` while no worker has reported or no job finished in the last hour.
    pub estimated_start_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The jobs counted ahead of a queued one at most: past that its position shows as
/// this many plus one, and counting stays a bounded range of the queue's index.
pub const MAX_COUNTED_AHEAD: i64 = 10_000;

/// How many queued jobs are ahead of the queued job `id` in the order workers take
/// them (fair across owners: see the view `fair_queue`), up to [`MAX_COUNTED_AHEAD`].
pub async fn queued_ahead(pool: &PgPool, id: uuid::Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT LEAST(ahead, $2) FROM (
             SELECT id, row_number() OVER (ORDER BY turn, served_at, updated_at, id) - 1 AS ahead
             FROM fair_queue
         ) AS ranked
         WHERE ranked.id = $1",
    )
    .bind(id)
    .bind(MAX_COUNTED_AHEAD)
    .fetch_optional(pool)
    .await
    // Claimed meanwhile: nothing is ahead of it any more.
    .map(Option::unwrap_or_default)
}

/// The queued jobs in the order workers take them, the first [`MAX_COUNTED_AHEAD`].
pub async fn queue_order(pool: &PgPool) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM fair_queue ORDER BY turn, served_at, updated_at, id LIMIT $1",
    )
    .bind(MAX_COUNTED_AHEAD)
    .fetch_all(pool)
    .await
}
