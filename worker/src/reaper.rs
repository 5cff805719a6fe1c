//! The reaper, a background task every worker runs: every third of a lease, jobs whose
//! worker died (their lease ran out) go back on the queue, queued jobs whose message
//! was never sent (RabbitMQ was away) are published again, and so are queued jobs whose
//! message RabbitMQ lost (see [`Reaper::lost_messages`]).

use crate::background::{BackgroundTask, TaskState};
use prometheus::IntCounter;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use stylize_core::job::JobState;
use stylize_shared::db;
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::{JobMessage, JobQueue};
use stylize_shared::telemetry;
use tokio::time::{interval_at, Instant, Interval};
use tracing::Instrument;
use uuid::Uuid;

pub struct Reaper {
    pool: PgPool,
    queue: Arc<JobQueue>,
    progress: ProgressStore,
    lease: Duration,
    schedule: Interval,
    /// The messages the queue lacked at the last pass.
    missing_before: u64,
    /// Jobs published again because RabbitMQ had lost their message.
    republished: IntCounter,
}

/// The most jobs one pass publishes again for lost messages.
const MAX_REPUBLISHED: u64 = 100;

impl Reaper {
    pub fn new(
        pool: PgPool,
        queue: Arc<JobQueue>,
        progress: ProgressStore,
        lease: Duration,
        republished: IntCounter,
    ) -> Self {
        let every = lease / 3;
        Reaper {
            pool,
            queue,
            progress,
            lease,
            schedule: interval_at(Instant::now() + every, every),
            missing_before: 0,
            republished,
        }
    }

    /// Queued jobs whose message RabbitMQ lost (it came back empty after losing its
    /// data, or the queue was deleted) while PostgreSQL still marks them published.
    /// They are found by count: the queue should hold a ready message for each queued
    /// job marked published. When it holds fewer at two passes running, the oldest such
    /// jobs, as many as were missing at both, are returned to be published again.
    ///
    /// Why by count rather than every queued job older than a bound, or every queued job
    /// after a reconnect: a long queue is legitimately old, and a reconnect is most often
    /// a network blip with every message safe; either rule would add a duplicate of each
    /// waiting job. Counting sends only as many messages as are missing. A count cannot
    /// tell which jobs lost theirs, so a partly emptied queue may get a duplicate for a
    /// job whose message survived while another job still lacks one; the count, short
    /// again once the duplicate is consumed, sends that one at a later pass. Two passes
    /// running, because a message a worker has taken and not yet claimed, or one sent and
    /// marked between the two reads, is missing from the queue's count for a moment;
    /// and several workers' reapers may each send the same ones. None of that runs a job
    /// twice: `db::claim` takes only a queued job, and a worker acknowledges and drops a
    /// message whose job is not queued.
    async fn lost_messages(&mut self) -> Result<Vec<Uuid>, String> {
        let ready = self.queue.depth().await.map_err(|e| e.to_string())?;
        let published = db::count_published_queued(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        let missing = u64::try_from(published)
            .unwrap_or(0)
            .saturating_sub(u64::from(ready));
        let confirmed = missing.min(self.missing_before).min(MAX_REPUBLISHED);
        self.missing_before = missing;
        if confirmed == 0 {
            return Ok(Vec::new());
        }
        tracing::warn!(
            published,
            ready,
            "the queue holds fewer messages than there are queued jobs; it lost some"
        );
        db::oldest_published_queued(&self.pool, confirmed as i64)
            .await
            .map_err(|e| e.to_string())
    }
}

impl Reaper {
    /// Tells those following each reaped job its state now (back in the queue, or
    /// canceled as its cancel asked); returns the jobs back in the queue.
    async fn announce(&self, reaped: Vec<(Uuid, JobState)>) -> Vec<Uuid> {
        let mut requeued = Vec::new();
        for (id, state) in reaped {
            if let Err(error) = self.progress.announce_state(id, state).await {
                tracing::warn!(%error, job = %id, "announcing a reaped job's state");
            }
            if state == JobState::Queued {
                requeued.push(id);
            }
        }
        requeued
    }
}

impl BackgroundTask for Reaper {
    fn name(&self) -> &'static str {
        "reaper"
    }

    /// One pass.
    async fn step(&mut self) -> TaskState {
        // Jobs just re-queued are younger than the grace, so none is found twice.
        let requeued = match db::requeue_expired(&self.pool, self.lease).await {
            Ok(reaped) => Ok(self.announce(reaped).await),
            Err(error) => Err(error),
        };
        let found = [
            ("lease expired; queueing the job again", requeued),
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
        match self.lost_messages().await {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(job = %id, "publishing a queued job whose message was lost");
                    if publish(&self.pool, &self.queue, id).await {
                        self.republished.inc();
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "reaping: counting the queue's messages"),
        }
        TaskState::Idle
    }

    async fn wait_for_work(&mut self) -> TaskState {
        self.schedule.tick().await;
        TaskState::Busy
    }
}

/// Sends a queued job's message, in the trace of its submission, and notes it sent. A
/// job whose message RabbitMQ did not take stays queued and unpublished, and the next
/// reaping sends it. Answers whether RabbitMQ took it.
pub async fn publish(pool: &PgPool, queue: &JobQueue, id: Uuid) -> bool {
    let span = tracing::info_span!("republish", job = %id, trace_id = tracing::field::Empty);
    if let Ok(Some(row)) = db::get_job(pool, id).await {
        telemetry::continue_trace(&span, row.trace_context.as_deref());
    }
    let published = queue.publish(&JobMessage::new(id)).instrument(span).await;
    match published {
        Ok(()) => {
            if let Err(error) = db::mark_published(pool, id).await {
                tracing::warn!(job = %id, %error, "marking the job published");
            }
            true
        }
        Err(error) => {
            tracing::error!(job = %id, %error, "could not publish a queued job");
            false
        }
    }
}
