//! The worker's entry in the registry (`stylize_shared::workers`): its identity, load
//! and [`Throughput`], reported every few seconds until the worker stops. The api reads
//! the reports for `GET /v1/queue`, and the page estimates from them how long a job
//! will take.

use crate::throughput::Throughput;
use prometheus::IntGauge;
use std::sync::Arc;
use stylize_shared::config::Settings;
use stylize_shared::lazy_redis::Redis;
use stylize_shared::workers::{WorkerIdentity, WorkerRegistry, WorkerReport, REPORT_EVERY};
use tokio::sync::watch;

/// The worker as the registry knows it: what it is, and how fast its jobs have recently
/// run (they record into `throughput`, which the reporter reads).
pub struct Reporter {
    registry: WorkerRegistry,
    identity: WorkerIdentity,
    throughput: Arc<Throughput>,
}

impl Reporter {
    /// The worker `name` on `device` (`cpu`, `cuda:N`), serving `settings`' queue with
    /// `worker.concurrency` jobs at once.
    pub fn new(
        redis: &Redis,
        settings: &Settings,
        name: &str,
        device: &str,
        throughput: Arc<Throughput>,
    ) -> Self {
        Reporter {
            registry: WorkerRegistry::on(redis, &settings.amqp.queue),
            identity: WorkerIdentity {
                name: name.to_owned(),
                device: device.to_owned(),
                capacity: u32::try_from(settings.worker.concurrency.max(1)).unwrap_or(u32::MAX),
            },
            throughput,
        }
    }

    /// Reports every [`REPORT_EVERY`], with the jobs `running` now, until `shutdown`
    /// turns true; then takes the worker off the registry. Redis being away costs only
    /// the reports meanwhile.
    pub async fn report_until_stopped(
        self: Arc<Self>,
        running: IntGauge,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut every = tokio::time::interval(REPORT_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let running = u32::try_from(running.get()).unwrap_or(0);
                    let rates = self.throughput.rates();
                    let report = WorkerReport::now(self.identity.clone(), running, rates);
                    if let Err(error) = self.registry.publish(&report).await {
                        tracing::debug!(%error, "reporting to the worker registry");
                    }
                }
                () = crate::background::stopped(&mut shutdown) => break,
            }
        }
        if let Err(error) = self.registry.withdraw(&self.identity.name).await {
            tracing::debug!(%error, "leaving the worker registry");
        }
    }
}
