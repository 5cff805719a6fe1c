//! What `GET /v1/queue` shows: the jobs waiting and running, the workers serving this api's queue
//! (device, capacity, load, recent speed) and the jobs finished in the last hour; and
//! the queued jobs' order, which their statuses show. Two bounded queries to PostgreSQL
//! and two round trips to Redis, at most once a second per api process: every request
//! within that second gets the same answer.

use crate::services::error::{database, Outage};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stylize_shared::stats::{self, Finished};
use stylize_shared::workers::{WorkerRegistry, WorkerReport};
use tokio::sync::Mutex;
use uuid::Uuid;

/// How long one answer is served again.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// The window of the finished jobs counted.
const RECENT: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Snapshot {
    pub queued: i64,
    pub running: i64,
    /// Most recently reported first; `null` when Redis, which holds the reports, does
    /// not answer.
    pub workers: Option<Vec<WorkerReport>>,
    pub throughput: Finished,
    /// How many queued jobs are ahead of each queued job, in the order workers take
    /// them (the first `stats::MAX_COUNTED_AHEAD`): what a queued job's status shows,
    /// without a query of its own.
    #[serde(skip)]
    pub ahead: HashMap<Uuid, i64>,
}

/// The registry and the latest answer, kept for [`FRESH_FOR`].
pub struct QueueView {
    registry: WorkerRegistry,
    latest: Mutex<Option<(Instant, Arc<Snapshot>)>>,
}

impl QueueView {
    pub fn new(registry: WorkerRegistry) -> Self {
        QueueView {
            registry,
            latest: Mutex::new(None),
        }
    }

    /// Drops the kept answer: this api changed the queue (a cancel, a deletion), and the
    /// next request sees it at once.
    pub(crate) async fn forget(&self) {
        *self.latest.lock().await = None;
    }

    /// The latest answer while fresh, else a new one. The lock is held while it is made,
    /// so requests arriving meanwhile wait for it rather than ask again.
    pub(crate) async fn snapshot(&self, pool: &PgPool) -> Result<Arc<Snapshot>, Outage> {
        let mut latest = self.latest.lock().await;
        if let Some((made, snapshot)) = latest.as_ref() {
            if made.elapsed() < FRESH_FOR {
                return Ok(snapshot.clone());
            }
        }
        let (jobs, order, workers) = tokio::join!(
            stats::job_stats(pool, RECENT),
            stats::queue_order(pool),
            self.registry.list()
        );
        let jobs = jobs.map_err(database)?;
        let ahead = order.map_err(database)?.into_iter().zip(0..).collect();
        let workers = workers
            .inspect_err(|error| tracing::warn!(%error, "reading the worker registry"))
            .ok();
        let snapshot = Arc::new(Snapshot {
            queued: jobs.queued,
            running: jobs.running,
            workers,
            throughput: jobs.recent,
            ahead,
        });
        *latest = Some((Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }
}
