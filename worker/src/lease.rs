//! A claimed job's lease. The queue's delivery is acknowledged as soon as the job is
//! claimed: from then on the worker holds the job by renewing a lease on its row in
//! PostgreSQL every `heartbeat_seconds`, so a job may run longer than RabbitMQ's
//! consumer timeout. A worker that dies stops renewing, and any worker's reaper puts the
//! job back on the queue once `lease_seconds` have passed.

use crate::run_end::RunEnd;
use sqlx::PgPool;
use std::future::Future;
use std::time::Duration;
use stylize_shared::db;
use tokio::time::{interval, interval_at, Instant, Interval};
use uuid::Uuid;

pub struct Lease<'a> {
    pool: &'a PgPool,
    worker: &'a str,
    job: Uuid,
    heartbeat: Duration,
}

impl<'a> Lease<'a> {
    /// The lease `worker` took on `job` by claiming it.
    pub fn new(pool: &'a PgPool, worker: &'a str, job: Uuid, heartbeat: Duration) -> Self {
        Lease {
            pool,
            worker,
            job,
            heartbeat,
        }
    }

    pub fn job(&self) -> Uuid {
        self.job
    }

    /// Renews the lease; the reason to stop the job, when there is one: a renewal also
    /// reads the job's cancel, and finds the lease lost when another worker took the
    /// job. (A renewal that fails is only logged: the lease outlasts a few heartbeats.)
    pub async fn renew(&self) -> Option<RunEnd> {
        match db::heartbeat(self.pool, self.job, self.worker).await {
            Ok(Some(true)) => Some(RunEnd::Canceled),
            Ok(Some(false)) => None,
            Ok(None) => Some(RunEnd::Retry("the worker lost its lease".into())),
            Err(error) => {
                tracing::warn!(%error, "renewing the lease");
                None
            }
        }
    }

    /// When to renew, for a loop that renews beside other work: at once, then every
    /// heartbeat.
    pub fn renewals(&self) -> Interval {
        interval(self.heartbeat)
    }

    /// Drives `work` (storage calls, which may retry for a while; a wait for device
    /// memory) while renewing the lease every heartbeat; stops early when the job is
    /// canceled or taken away.
    pub async fn hold<T>(
        &self,
        work: impl Future<Output = Result<T, RunEnd>>,
    ) -> Result<T, RunEnd> {
        tokio::pin!(work);
        let mut renewals = interval_at(Instant::now() + self.heartbeat, self.heartbeat);
        loop {
            tokio::select! {
                result = &mut work => return result,
                _ = renewals.tick() => if let Some(stop) = self.renew().await {
                    return Err(stop);
                },
            }
        }
    }
}
