//! Where a queued job stands, for its status, its `state` events and the answer to its
//! submission: its position in the order workers take queued jobs (1 = next; fair
//! across owners), read from the order `GET /v1/queue`'s snapshot keeps (made at most
//! once a second; a job newer than it is counted alone), and when it may start, from the numbers `GET /v1/queue` shows
//! (its snapshot, made at most once a second): the jobs running, the workers' capacity
//! and the mean run time of the last hour's jobs. Lists leave both out (`null`): a page
//! of jobs would cost a count per queued job.

use crate::services::queue_view::{QueueView, Snapshot};
use chrono::Utc;
use sqlx::PgPool;
use std::time::Duration;
use stylize_core::job::JobState;
use stylize_shared::db::JobRow;
use stylize_shared::stats::{self, QueuePlace};

/// `row`'s place in the queue, if it is queued. The status answers without it when
/// PostgreSQL cannot count (the job's own row was just read).
pub(crate) async fn place(pool: &PgPool, queue_view: &QueueView, row: &JobRow) -> QueuePlace {
    if row.state() != JobState::Queued {
        return QueuePlace::default();
    }
    let snapshot = queue_view.snapshot(pool).await.ok();
    // From the order kept a second; a job newer than that is counted on its own.
    let ahead = match snapshot.as_ref().and_then(|s| s.ahead.get(&row.id)) {
        Some(ahead) => Ok(*ahead),
        None => stats::queued_ahead(pool, row.id).await,
    };
    let ahead = match ahead {
        Ok(ahead) => ahead,
        Err(error) => {
            tracing::warn!(%error, job = %row.id, "counting the jobs ahead");
            return QueuePlace::default();
        }
    };
    QueuePlace {
        queue_position: Some(ahead + 1),
        estimated_start_at: snapshot
            .and_then(|snapshot| wait_behind(ahead, &snapshot))
            .and_then(|wait| chrono::Duration::from_std(wait).ok())
            .map(|wait| Utc::now() + wait),
    }
}

/// How long a job with `ahead` queued jobs before it waits, from `snapshot`'s figures.
fn wait_behind(ahead: i64, snapshot: &Snapshot) -> Option<Duration> {
    let capacity: u32 = snapshot
        .workers
        .iter()
        .flatten()
        .map(|worker| worker.identity.capacity)
        .sum();
    estimated_wait(
        ahead,
        snapshot.running,
        capacity,
        snapshot.throughput.mean_run_seconds,
    )
}

/// The jobs before this one (`ahead` queued, `running`) take the workers' `capacity`
/// slots in rounds of `mean_run_seconds` each: with fewer before it than slots it starts
/// now, and each full round of slots before it adds a mean run. `None` without a slot or
/// a mean.
fn estimated_wait(
    ahead: i64,
    running: i64,
    capacity: u32,
    mean_run_seconds: Option<f64>,
) -> Option<Duration> {
    let mean = mean_run_seconds.filter(|mean| mean.is_finite() && *mean >= 0.0)?;
    if capacity == 0 {
        return None;
    }
    let rounds = (ahead + running).max(0) / i64::from(capacity);
    Some(Duration::from_secs_f64(rounds as f64 * mean))
}

#[cfg(test)]
mod tests {
    use super::estimated_wait;
    use std::time::Duration;

    #[test]
    fn each_full_round_of_slots_ahead_adds_a_mean_run() {
        let wait = |ahead, running, capacity| estimated_wait(ahead, running, capacity, Some(2.0));
        // A free slot: it starts as soon as a worker takes it.
        assert_eq!(wait(0, 0, 1), Some(Duration::ZERO));
        assert_eq!(wait(1, 2, 4), Some(Duration::ZERO));
        // Every slot taken: one round.
        assert_eq!(wait(0, 1, 1), Some(Duration::from_secs(2)));
        assert_eq!(wait(2, 2, 4), Some(Duration::from_secs(2)));
        assert_eq!(wait(5, 4, 2), Some(Duration::from_secs(8)));
    }

    #[test]
    fn without_workers_or_a_recent_job_there_is_no_estimate() {
        assert_eq!(estimated_wait(3, 0, 0, Some(2.0)), None);
        assert_eq!(estimated_wait(3, 0, 2, None), None);
        assert_eq!(estimated_wait(3, 0, 2, Some(f64::NAN)), None);
    }
}
