//! The worker's start-up and its consuming: [`Worker::connect`] loads the models and
//! prepares the service clients; [`Worker::run`] waits for PostgreSQL and RabbitMQ,
//! starts the reaper, the sweeper and the registry's reports beside the jobs, and
//! consumes the queue in `concurrency` slots, each taking a job id, claiming the job in
//! PostgreSQL and running it (`job_run`), until shutdown.

use crate::background::{self, stopped};
use crate::clients::Clients;
use crate::job_run::{JobRunner, Models};
use crate::metrics::WorkerMetrics;
use crate::reaper::Reaper;
use crate::registry::Reporter;
use crate::sweeper::Sweeper;
use crate::throughput::Throughput;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stylize_engine::{self as engine, FastStylizer, Vgg19};
use stylize_shared::backoff::{self, Backoff};
use stylize_shared::config::{RetentionSettings, Settings, WorkerSettings};
use stylize_shared::db;
use stylize_shared::lazy_redis::Redis;
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::{JobMessage, JobQueue};
use stylize_shared::storage::Storage;
use tokio::sync::watch;
use tracing::Instrument;

/// The worker: what consuming the queue takes (its name, settings, service clients,
/// metrics and reports), and the runner its slots hand each claimed job to.
pub struct Worker {
    name: String,
    settings: WorkerSettings,
    retention: RetentionSettings,
    clients: Clients,
    metrics: WorkerMetrics,
    reporter: Arc<Reporter>,
    runner: JobRunner,
}

/// Settling a delivery can fail only with its connection, which returns the message to
/// the queue by itself: worth a log line, not the worker.
fn settled(result: Result<(), stylize_shared::queue::QueueError>) {
    if let Err(error) = result {
        tracing::warn!(%error, "settling a delivery");
    }
}

/// A GPU's memory when not set: libtorch does not report it, and 8 GiB is less than any
/// card this service is meant for.
const GUESSED_GPU_MEMORY: u64 = 8 << 30;

/// The device's memory for the guard: `configured` when set, else a conservative figure
/// (three quarters of what the machine, or its container, has for a CPU).
fn device_memory(configured: u64, device: tch::Device) -> u64 {
    if configured > 0 {
        return configured;
    }
    match device {
        tch::Device::Cpu => host_memory().map_or(GUESSED_GPU_MEMORY, |bytes| bytes / 4 * 3),
        _ => GUESSED_GPU_MEMORY,
    }
}

/// The machine's memory, or its container's where a cgroup allows less.
fn host_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    let total = total_kib * 1024;
    let limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    Some(limit.map_or(total, |limit| limit.min(total)))
}

/// `cpu` or `cuda:N`, as the settings name devices.
fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl Worker {
    pub async fn connect(settings: &Settings, name: String) -> anyhow::Result<Self> {
        if settings.worker.threads > 0 {
            tch::set_num_threads(settings.worker.threads);
        }
        let device = engine::select_device(&settings.worker.device)?;
        let vgg = Vgg19::load(std::path::Path::new(&settings.worker.weights), device)?;
        let fast = FastStylizer::load(std::path::Path::new(&settings.worker.fast_weights), device)?;
        tracing::info!(?device, worker = %name, "model loaded");
        let metrics = WorkerMetrics::new(&name, &device_name(device));
        // One Redis connection for the process's progress and its registry reports
        // (subscriptions to cancels open their own).
        let redis = Redis::open(&settings.redis)?;
        let throughput = Arc::new(Throughput::default());
        let reporter = Arc::new(Reporter::new(
            &redis,
            settings,
            &name,
            &device_name(device),
            throughput.clone(),
        ));
        // The services connect at their first call: `run` waits for them.
        let clients = Clients {
            pool: db::connect_lazy(&settings.database)?,
            storage: Storage::new(&settings.s3),
            queue: Arc::new(JobQueue::new(&settings.amqp)),
            progress: ProgressStore::on(&redis, &settings.redis),
        };
        let device_memory = device_memory(settings.worker.device_memory_bytes, device);
        tracing::info!(
            device_memory_gib = device_memory as f64 / (1u64 << 30) as f64,
            "the memory guard's budget"
        );
        let runner = JobRunner::new(
            &name,
            settings,
            clients.clone(),
            Models { vgg, fast },
            metrics.clone(),
            throughput,
            device_memory,
        );
        Ok(Worker {
            name,
            settings: settings.worker.clone(),
            retention: settings.retention.clone(),
            clients,
            metrics,
            reporter,
            runner,
        })
    }

    pub fn metrics(&self) -> &WorkerMetrics {
        &self.metrics
    }

    /// Waits, retrying with backoff, until PostgreSQL has the schema (migrated) and
    /// RabbitMQ answers, then counts the worker ready; `false` when shutdown came first.
    /// Redis and S3 are not waited for: a run already waits for S3, and goes on without
    /// Redis.
    async fn start_up(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let connected = async {
            backoff::until_ok("migrating PostgreSQL", backoff::start_up(), || {
                db::migrate(&self.clients.pool)
            })
            .await;
            backoff::until_ok("connecting to RabbitMQ", backoff::start_up(), || {
                self.clients.queue.depth()
            })
            .await;
        };
        tokio::select! {
            () = connected => {
                self.metrics.ready.set(1);
                tracing::info!("PostgreSQL and RabbitMQ answer; taking jobs");
                true
            }
            _ = stopped(shutdown) => false,
        }
    }

    /// Runs up to `concurrency` jobs at once, and the reaper and sweeper beside them, until
    /// `shutdown` turns true; the jobs running then are handed back. Waits first for the
    /// services it needs, however long they take to come.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        if !self.start_up(&mut shutdown.clone()).await {
            return Ok(());
        }
        let lease = Duration::from_secs(self.settings.lease_seconds);
        let clients = &self.clients;
        let reaper = Reaper::new(
            clients.pool.clone(),
            clients.queue.clone(),
            clients.progress.clone(),
            lease,
            self.metrics.republished.clone(),
        );
        // Well inside the worker's own deadline, which the jobs' hand-back is held to.
        let reaper_deadline = Duration::from_secs(self.settings.shutdown_deadline_seconds) / 2;
        let reaper = tokio::spawn(background::run(reaper, shutdown.clone(), reaper_deadline));
        let sweeper = Sweeper::new(
            clients.pool.clone(),
            clients.storage.clone(),
            &self.retention,
        )
        .map(|sweeper| tokio::spawn(background::run(sweeper, shutdown.clone(), reaper_deadline)));
        let reporter = self.reporter.clone();
        let reporter = tokio::spawn(
            reporter.report_until_stopped(self.metrics.busy.clone(), shutdown.clone()),
        );
        let slots: Vec<_> = (0..self.settings.concurrency.max(1))
            .map(|_| tokio::spawn(self.clone().consume(shutdown.clone())))
            .collect();
        for slot in slots {
            slot.await?;
        }
        reaper.await?;
        if let Some(sweeper) = sweeper {
            sweeper.await?;
        }
        reporter.await?;
        Ok(())
    }

    /// One job at a time, until `shutdown` turns true. Each slot takes its own message
    /// (on a channel with a prefetch of one), so a worker holds at most `concurrency`
    /// unacknowledged deliveries. RabbitMQ going away stops the consuming, not the
    /// worker: it waits, reconnects and goes on.
    async fn consume(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let mut stop = shutdown.clone();
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        loop {
            let taken = tokio::select! {
                _ = stopped(&mut stop) => break,
                taken = self.clients.queue.take(&self.name) => taken,
            };
            let taken = match taken {
                Ok(taken) => {
                    backoff.reset();
                    taken
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, ?delay, "taking a job; waiting for RabbitMQ");
                    tokio::select! {
                        _ = stopped(&mut stop) => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            if let Err(error) = JobMessage::decode(&taken.delivery.data) {
                tracing::warn!(%error, "dead-lettering a malformed message");
                settled(taken.reject(false).await);
                continue;
            }
            // A message is a turn, not an order: the worker claims whichever queued job
            // is next in the fair order across owners (`db::claim_next`), which is the
            // message's own job only when its owner is next. Each queued job has one
            // message, so as many turns come as jobs wait. Claimed or not, the message
            // has done its work once the row says who holds a job; an ack lost with the
            // connection only brings it back, as one more turn.
            let cap = self.settings.max_running_per_owner;
            let claim = db::claim_next(&self.clients.pool, &self.name, cap);
            match claim.instrument(taken.span.clone()).await {
                Ok(Some(job)) => {
                    let claimed = Instant::now();
                    settled(taken.ack().await);
                    self.runner.process(job, claimed, shutdown.clone()).await;
                }
                Ok(None) => {
                    // Jobs wait, but their owners are at the cap of running jobs: the
                    // turn comes back a second later.
                    if cap > 0 && self.any_queued().await {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        settled(taken.reject(true).await);
                    } else {
                        settled(taken.ack().await);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "claiming a job; returning it to the queue");
                    settled(taken.reject(true).await);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Whether any job waits in the queue (when PostgreSQL cannot say, one may).
    async fn any_queued(&self) -> bool {
        db::any_queued(&self.clients.pool).await.unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_takes_the_memory_it_is_told_or_a_conservative_figure() {
        assert_eq!(device_memory(5 << 30, tch::Device::Cpu), 5 << 30);
        assert_eq!(device_memory(0, tch::Device::Cuda(0)), GUESSED_GPU_MEMORY);
        let host = host_memory().expect("Linux tells its memory");
        assert_eq!(device_memory(0, tch::Device::Cpu), host / 4 * 3);
        assert!(host > 1 << 30, "{host} bytes");
    }
}
