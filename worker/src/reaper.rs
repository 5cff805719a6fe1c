//! The reaper, a background task every worker runs: every third of a lease, jobs whose
//! worker died (their lease ran out) go back on the queue, and queued jobs whose message
//! was never sent (RabbitMQ was away) are published again.

use crate::background::{BackgroundTask, TaskState};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use stylize_shared::db;
use stylize_shared::queue::{JobMessage, JobQueue};
use tokio::time::{interval_at, Instant, Interval};
use uuid::Uuid;

pub struct Reaper {
    pool: PgPool,
    queue: Arc<JobQueue>,
    lease: Duration,
    schedule: Interval,
}

impl Reaper {
    pub fn new(pool: PgPool, queue: Arc<JobQueue>, lease: Duration) -> Self {
        let every = lease / 3;
        Reaper {
            pool,
            queue,
            lease,
            schedule: interval_at(Instant::now() + every, every),
        }
    }
}

impl BackgroundTask for Reaper {
    fn name(&self) -> &'static str {
        "reaper"
    }

    /// One pass.
    async fn step(&mut self) -> TaskState {
        // Jobs just re-queued are younger than the grace, so none is found twice.
        let found = [
            (
                "lease expired; queueing the job again",
                db::requeue_expired(&self.pool, self.lease).await,
            ),
            (
                "publishing a queued job that has no message",
                db::unpublished(&self.pool, self.lease / 3).await,
            ),
        ];
        for (what, jobs) in found {
            match jobs {
                Ok(ids) => {
                    for id in ids {
                        tracing::warn!(job = %id, "{what}");
                        publish(&self.pool, &self.queue, id).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "reaping: {what}"),
            }
        }
        TaskState::Idle
    }

    async fn wait_for_work(&mut self) -> TaskState {
        self.schedule.tick().await;
        TaskState::Busy
    }
}

/// Sends a queued job's message and notes it sent. A job whose message RabbitMQ did not
/// take stays queued and unpublished, and the next reaping sends it.
pub async fn publish(pool: &PgPool, queue: &JobQueue, id: Uuid) {
    match queue.publish(&JobMessage::new(id)).await {
        Ok(()) => {
            if let Err(error) = db::mark_published(pool, id).await {
                tracing::warn!(job = %id, %error, "marking the job published");
            }
        }
        Err(error) => tracing::error!(job = %id, %error, "could not publish a queued job"),
    }
}
