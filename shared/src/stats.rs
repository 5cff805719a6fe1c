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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, sqlx::FromRow)]
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
