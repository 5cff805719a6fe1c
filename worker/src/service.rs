//! The queue worker: takes job ids from RabbitMQ, claims each job in PostgreSQL, runs it
//! while holding its lease (its device memory reserved, its inputs loaded, the fast
//! network's pass, then the engine's optimisation), and records how the run ended. Each
//! claim counts an attempt, and a job past its attempts ends `failed`.

use crate::background::{self, stopped};
use crate::engine_run::{EngineRun, Next};
use crate::lease::Lease;
use crate::metrics::WorkerMetrics;
use crate::progress_bridge::ProgressBridge;
use crate::reaper::{self, Reaper};
use crate::registry::{output_pixels, Reporter};
use crate::run_end::{engine_failure, reason, RunEnd};
use crate::sweeper::Sweeper;
use futures_util::stream::{BoxStream, StreamExt};
use image::RgbImage;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stylize_engine::fast::fast_stylize;
use stylize_engine::{self as engine, EngineError, FastStylizer, Inputs, RunOptions, Vgg19};
use stylize_shared::backoff::{self, Backoff};
use stylize_shared::config::{RetentionSettings, Settings, WorkerSettings};
use stylize_shared::db::{self, JobRow};
use stylize_shared::images::{self, ImageLimits, OutputFormat};
use stylize_shared::job::{keys, JobState};
use stylize_shared::memory::{self, model_bytes, MIB};
use stylize_shared::params::{Init, Mode, StyleParams};
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::{JobMessage, JobQueue};
use stylize_shared::retention;
use stylize_shared::storage::{Storage, StorageError};
use tokio::sync::{watch, Semaphore, SemaphorePermit};
use uuid::Uuid;

pub struct Worker {
    name: String,
    settings: WorkerSettings,
    retention: RetentionSettings,
    pool: PgPool,
    storage: Storage,
    /// Shared with the reaper.
    queue: Arc<JobQueue>,
    progress: ProgressStore,
    /// Shared by the jobs running at once: forward passes only read it.
    model: Arc<Vgg19>,
    /// The fast network, shared the same way: `fast` jobs and each `full` job's first
    /// preview.
    fast: Arc<FastStylizer>,
    style_vectors: Arc<StyleVectors>,
    image_limits: ImageLimits,
    metrics: WorkerMetrics,
    /// The device's memory beside the weights, in MiB, that running jobs reserve by
    /// their estimates; `None` when `device_memory_bytes` is unknown.
    memory: Option<Semaphore>,
    /// The worker in the registry, and its speed as its jobs measure it.
    reporter: Arc<Reporter>,
    /// At most one `progress` webhook message per job this often.
    progress_webhooks_every: Duration,
}

/// A job's decoded images. Each preset style carries a hash of its bytes, under which
/// its style vector is cached.
struct JobImages {
    content: RgbImage,
    styles: Vec<RgbImage>,
    preset_hashes: Vec<Option<String>>,
}

/// The fast network's style vectors of the preset paintings a worker has seen: a vector
/// depends only on the painting, and presets come back job after job. (Uploads are not
/// kept: each comes once.)
#[derive(Default)]
struct StyleVectors(Mutex<HashMap<String, tch::Tensor>>);

impl StyleVectors {
    fn get(&self, fast: &FastStylizer, style: &RgbImage, hash: Option<&str>) -> tch::Tensor {
        let cached = |hash| {
            let vectors = self.0.lock().expect("no panic while holding the lock");
            vectors.get(hash).map(tch::Tensor::shallow_clone)
        };
        if let Some(vector) = hash.and_then(cached) {
            return vector;
        }
        let vector = fast.style_vector(style);
        if let Some(hash) = hash {
            self.0
                .lock()
                .expect("no panic while holding the lock")
                .insert(hash.to_owned(), vector.shallow_clone());
        }
        vector
    }
}

/// A job's picture from the fast network, at its size, in its blend of paintings.
fn fast_picture(
    fast: &FastStylizer,
    style_vectors: &StyleVectors,
    images: &JobImages,
    params: &StyleParams,
) -> Result<RgbImage, EngineError> {
    let vectors: Vec<tch::Tensor> = images
        .styles
        .iter()
        .zip(&images.preset_hashes)
        .map(|(style, hash)| style_vectors.get(fast, style, hash.as_deref()))
        .collect();
    Ok(fast_stylize(fast, &images.content, &vectors, params, 1.0)?.image)
}

/// Settling a delivery can fail only with its connection, which returns the message to
/// the queue by itself: worth a log line, not the worker.
fn settled(result: Result<(), stylize_shared::queue::QueueError>) {
    if let Err(error) = result {
        tracing::warn!(%error, "settling a delivery");
    }
}

/// `cpu` or `cuda:N`, as the settings name devices.
fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The next item of `stream`; pending for good when there is no stream.
async fn next_or_pending<T>(stream: &mut Option<BoxStream<'static, T>>) -> Option<T> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

impl Worker {
    pub async fn connect(settings: &Settings, name: String) -> anyhow::Result<Self> {
        if settings.worker.threads > 0 {
            tch::set_num_threads(settings.worker.threads);
        }
        let device = engine::select_device(&settings.worker.device)?;
        let model = Vgg19::load(std::path::Path::new(&settings.worker.weights), device)?;
        let fast = FastStylizer::load(std::path::Path::new(&settings.worker.fast_weights), device)?;
        tracing::info!(?device, worker = %name, "model loaded");
        let metrics = WorkerMetrics::new(&name, &device_name(device));
        let reporter = Arc::new(Reporter::connect(settings, &name, &device_name(device)).await?);
        // The services connect at their first call: `run` waits for them.
        let pool = db::connect_lazy(&settings.database)?;
        Ok(Worker {
            name,
            settings: settings.worker.clone(),
            retention: settings.retention.clone(),
            pool,
            storage: Storage::new(&settings.s3),
            queue: Arc::new(JobQueue::new(&settings.amqp)),
            progress: ProgressStore::connect(&settings.redis).await?,
            model: Arc::new(model),
            fast: Arc::new(fast),
            style_vectors: Arc::default(),
            image_limits: settings.image_limits(),
            metrics,
            reporter,
            progress_webhooks_every: Duration::from_secs(
                settings.webhooks.progress_interval_seconds,
            ),
            memory: (settings.worker.device_memory_bytes > 0).then(|| {
                let free = settings
                    .worker
                    .device_memory_bytes
                    .saturating_sub(model_bytes());
                Semaphore::new((free / MIB) as usize)
            }),
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
                db::migrate(&self.pool)
            })
            .await;
            backoff::until_ok("connecting to RabbitMQ", backoff::start_up(), || {
                self.queue.depth()
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
        let reaper = Reaper::new(
            self.pool.clone(),
            self.queue.clone(),
            lease,
            self.metrics.republished.clone(),
        );
        // Well inside the worker's own deadline, which the jobs' hand-back is held to.
        let reaper_deadline = Duration::from_secs(self.settings.shutdown_deadline_seconds) / 2;
        let reaper = tokio::spawn(background::run(reaper, shutdown.clone(), reaper_deadline));
        let sweeper =
            Sweeper::new(self.pool.clone(), self.storage.clone(), &self.retention).map(|sweeper| {
                tokio::spawn(background::run(sweeper, shutdown.clone(), reaper_deadline))
            });
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
                taken = self.queue.take(&self.name) => taken,
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
            let message = match JobMessage::decode(&taken.delivery.data) {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "dead-lettering a malformed message");
                    settled(taken.reject(false).await);
                    continue;
                }
            };
            // Claimed or not, the message has done its work once the row says who
            // holds the job (or that nobody needs to). An ack lost with the connection
            // only brings the message back, and its next claim finds the job taken.
            match db::claim(&self.pool, message.job_id, &self.name).await {
                Ok(Some(job)) => {
                    let claimed = Instant::now();
                    settled(taken.ack().await);
                    self.process(job, claimed, shutdown.clone()).await;
                }
                Ok(None) => settled(taken.ack().await),
                Err(error) => {
                    tracing::error!(%error, "claiming a job; returning it to the queue");
                    settled(taken.reject(true).await);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(job = %job.id, attempt = job.attempts))]
    async fn process(&self, job: JobRow, claimed: Instant, shutdown: watch::Receiver<bool>) {
        self.metrics.busy.inc();
        let max_attempts = self.settings.max_attempts;
        let gave_up =
            |last: &str| format!("gave up after {max_attempts} attempts; the last: {last}");
        // A job whose runs kill their worker is only seen again at its next claim.
        let end = if job.attempts as u32 > max_attempts {
            RunEnd::Failed(gave_up(
                job.error
                    .as_deref()
                    .unwrap_or("its worker stopped answering"),
            ))
        } else {
            match self.run_job(&job, claimed, shutdown).await {
                RunEnd::Retry(reason) if job.attempts as u32 >= max_attempts => {
                    RunEnd::Failed(gave_up(&reason))
                }
                end => end,
            }
        };
        let end = self.record(job.id, end).await;
        self.remove_if_deleted(job.id).await;
        self.metrics.runs.with_label_values(&[end.label()]).inc();
        self.metrics
            .run_seconds
            .with_label_values(&[end.label()])
            .observe(claimed.elapsed().as_secs_f64());
        self.metrics.busy.dec();
    }

    /// Records how the run ended in the job's row, and sends the job's message again when
    /// it goes back on the queue. Returns how the run ended after all: a cancel accepted
    /// as it ended makes it canceled.
    async fn record(&self, id: Uuid, end: RunEnd) -> RunEnd {
        let (to, reason) = end.recorded_as();
        let charge_attempt = end.charges_attempt();
        // Unrecorded, the job stays with this worker's expired lease, and the reaper
        // queues it again: only a recorded hand-back is published here.
        let recorded =
            match db::finish_run(&self.pool, id, &self.name, to, reason, charge_attempt).await {
                Ok(Some(row)) if row.state() != to => {
                    // A cancel accepted while the run ended: the job is canceled, and a
                    // result stored meanwhile goes.
                    tracing::info!(state = %row.state(), "job canceled as its run ended");
                    if to == JobState::Succeeded {
                        self.discard_result(id).await;
                    }
                    self.announce_end(id, row.state()).await;
                    return RunEnd::Canceled;
                }
                Ok(Some(_)) => {
                    tracing::info!(state = %to, reason, "job finished its run");
                    self.announce_end(id, to).await;
                    true
                }
                Ok(None) => {
                    tracing::warn!("the job was no longer ours to record");
                    false
                }
                Err(error) => {
                    tracing::error!(%error, "recording the outcome");
                    false
                }
            };
        if recorded && end.requeues() {
            reaper::publish(&self.pool, &self.queue, id).await;
        }
        end
    }

    /// Tells those waiting for the job that it ended, once its row says so (a job back
    /// in the queue has not ended). Unheard, they read the row at their deadline.
    async fn announce_end(&self, id: Uuid, state: JobState) {
        if state.is_terminal() {
            if let Err(error) = self.progress.announce_end(id, state).await {
                tracing::warn!(%error, "announcing the job's end");
            }
        }
    }

    /// Runs a claimed job while holding its lease: its device memory reserved, its inputs
    /// loaded, the fast network's picture painted (a `fast` job's result; a `full` job's
    /// first preview, and its start with init `fast`), then the optimisation.
    async fn run_job(
        &self,
        job: &JobRow,
        claimed: Instant,
        shutdown: watch::Receiver<bool>,
    ) -> RunEnd {
        let heartbeat = Duration::from_secs(self.settings.heartbeat_seconds);
        let lease = Lease::new(&self.pool, &self.name, job.id, heartbeat);
        let params = &job.params.0;
        let _reserved = match self.reserve_memory(&lease, params).await {
            Ok(reserved) => reserved,
            Err(end) => return end,
        };
        let images = match lease.hold(self.fetch_inputs(job)).await {
            Ok(images) => Arc::new(images),
            Err(end) => return end,
        };
        let interval = Duration::from_millis(self.settings.progress_interval_ms);
        let mut progress = ProgressBridge::new(
            job,
            claimed,
            interval,
            &self.progress,
            &self.storage,
            &self.metrics,
            self.reporter
                .throughput
                .clock(params, images.content.dimensions()),
        )
        .with_progress_webhooks(job, &self.pool, self.progress_webhooks_every);
        progress.fast_pass_started().await;
        let fast_image = match self.paint_fast(&lease, &images, params).await {
            Ok(image) => image,
            Err(end) => return end,
        };
        if params.mode == Mode::Fast {
            let image = fast_image.expect("a fast job's pass paints or ends its run");
            progress.fast_job_painted().await;
            return self.store_result(&lease, image).await;
        }
        if let Some(image) = &fast_image {
            progress.store_preview(0, image.clone()).await;
        }
        progress.optimisation_started().await;
        let init_image = fast_image.filter(|_| params.init == Init::Fast);
        let run = self.start_optimisation(images, init_image, params);
        self.follow(run, &lease, &mut progress, shutdown).await
    }

    /// The fast network's picture of the job, painted while holding its lease; a `full`
    /// job that wanted it only as a preview goes on without it.
    async fn paint_fast(
        &self,
        lease: &Lease<'_>,
        images: &Arc<JobImages>,
        params: &StyleParams,
    ) -> Result<Option<RgbImage>, RunEnd> {
        let pass = async { Ok(self.fast_pass(images, params).await) };
        match lease.hold(pass).await {
            Err(end) | Ok(Err(end @ RunEnd::Failed(_))) => Err(end),
            Ok(Ok(image)) => Ok(Some(image)),
            // A picture only a preview depends on is not worth an attempt of the job.
            Ok(Err(end)) if params.mode == Mode::Full && params.init != Init::Fast => {
                tracing::warn!(job = %lease.job(), outcome = end.label(), "no fast preview");
                Ok(None)
            }
            Ok(Err(end)) => Err(end),
        }
    }

    /// Starts the engine's optimisation of the job on a blocking thread.
    fn start_optimisation(
        &self,
        images: Arc<JobImages>,
        init_image: Option<RgbImage>,
        params: &StyleParams,
    ) -> EngineRun {
        let model = self.model.clone();
        let params = params.clone();
        let options = RunOptions {
            preview_every: (params.iterations / self.settings.previews.max(1)).max(1),
        };
        EngineRun::start(move |on_event| {
            let inputs = Inputs {
                content: &images.content,
                styles: &images.styles,
                init_image: init_image.as_ref(),
            };
            engine::stylize(&model, &inputs, &params, options, on_event)
        })
    }

    /// Follows the optimisation to its end: its events become the job's progress and
    /// previews, and it stops when the job is canceled (announced through Redis, or found
    /// by a renewal of the lease), the lease is lost, or the worker shuts down.
    async fn follow(
        &self,
        mut run: EngineRun,
        lease: &Lease<'_>,
        progress: &mut ProgressBridge<'_>,
        mut shutdown: watch::Receiver<bool>,
    ) -> RunEnd {
        // A cancel announced through Redis stops the run at once. Listening starts before
        // the first renewal (at once), which finds a cancel asked for before that, and
        // any while Redis is away.
        let mut cancel_notices = self.cancel_notices(lease.job()).await;
        let mut renewals = lease.renewals();
        let ended = loop {
            tokio::select! {
                next = run.next() => match next {
                    Next::Event(event) => progress.on_event(event).await,
                    Next::Ended(ended) => break ended,
                },
                notice = next_or_pending(&mut cancel_notices) => match notice {
                    Some(()) => {
                        tracing::info!("cancel announced; stopping");
                        run.stop(RunEnd::Canceled);
                    }
                    // Redis went away: the lease's renewals still find a cancel.
                    None => cancel_notices = None,
                },
                _ = renewals.tick() => if let Some(stop) = lease.renew().await {
                    run.stop(stop);
                },
                _ = stopped(&mut shutdown), if !run.stopping() => run.stop(RunEnd::HandBack),
            }
        };
        // Count what the engine sent before it ended; on success its last iteration is
        // published below.
        progress.count_unseen(run.unseen_events());
        match ended {
            Ok(image) => {
                progress.send_last().await;
                self.store_result(lease, image).await
            }
            Err(end) => end,
        }
    }

    /// The fast network's picture for the job, on a blocking thread.
    async fn fast_pass(
        &self,
        images: &Arc<JobImages>,
        params: &StyleParams,
    ) -> Result<RgbImage, RunEnd> {
        let (fast, vectors) = (self.fast.clone(), self.style_vectors.clone());
        let pixels = output_pixels(params.size, images.content.dimensions());
        let (images, params) = (images.clone(), params.clone());
        let started = Instant::now();
        let painted =
            tokio::task::spawn_blocking(move || fast_picture(&fast, &vectors, &images, &params))
                .await;
        match painted {
            Ok(Ok(image)) => {
                self.metrics
                    .fast_pass_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.reporter
                    .throughput
                    .record_fast_pass(pixels, started.elapsed());
                Ok(image)
            }
            Ok(Err(error)) => Err(engine_failure(error)),
            Err(panic) => Err(RunEnd::Retry(reason(&format!(
                "the fast network crashed: {panic}"
            )))),
        }
    }

    /// Stores the job's result: the run succeeded once it is.
    async fn store_result(&self, lease: &Lease<'_>, image: RgbImage) -> RunEnd {
        let encoded =
            tokio::task::spawn_blocking(move || images::encode(&image, OutputFormat::Png)).await;
        let bytes = match encoded {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => return RunEnd::Failed(error.to_string()),
            Err(panic) => return RunEnd::Failed(panic.to_string()),
        };
        let key = keys::result(&lease.job().to_string());
        let store = async {
            self.with_storage_retries(|| self.storage.put(&key, bytes.clone(), "image/png"))
                .await
                .map_err(|error| RunEnd::Retry(error.to_string()))
        };
        match lease.hold(store).await {
            Ok(()) => RunEnd::Succeeded,
            Err(RunEnd::Canceled) => {
                // Canceled while storing: the result may have landed all the same.
                self.discard_result(lease.job()).await;
                RunEnd::Canceled
            }
            Err(end) => end,
        }
    }

    /// Reserves the job's estimated device memory for its run. A job that could not fit
    /// on the device even alone fails at once (another attempt would run out of memory
    /// the same way); one that fits waits, renewing its lease, for the jobs running
    /// beside it to leave it room.
    async fn reserve_memory(
        &self,
        lease: &Lease<'_>,
        params: &StyleParams,
    ) -> Result<Option<SemaphorePermit<'_>>, RunEnd> {
        let Some(budget) = &self.memory else {
            return Ok(None);
        };
        let mib = memory::fit(params, self.settings.device_memory_bytes)
            .map_err(|too_large| RunEnd::Failed(too_large.to_string()))?;
        // Fits in u32: no more than the device's MiB.
        let acquire = async {
            Ok(budget
                .acquire_many(mib as u32)
                .await
                .expect("the memory budget is never closed"))
        };
        lease.hold(acquire).await.map(Some)
    }

    /// Cancel notices for `job`; `None` while Redis does not answer (within a second).
    async fn cancel_notices(&self, job: Uuid) -> Option<BoxStream<'static, ()>> {
        match tokio::time::timeout(Duration::from_secs(1), self.progress.cancels(job)).await {
            Ok(Ok(notices)) => Some(notices),
            Ok(Err(error)) => {
                tracing::warn!(%error, "listening for cancels; the heartbeat will find them");
                None
            }
            Err(_) => {
                tracing::warn!("listening for cancels timed out; the heartbeat will find them");
                None
            }
        }
    }

    /// A job deleted while it ran: what its run stored after the deletion removed the
    /// job's objects goes too (called once the run has stored all it will).
    async fn remove_if_deleted(&self, job: Uuid) {
        match retention::remove_if_deleted(&self.pool, &self.storage, job).await {
            Ok(true) => tracing::info!("the job was deleted while it ran; its objects are gone"),
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "removing the objects of a deleted job"),
        }
    }

    /// Deletes a canceled job's result, stored before the cancel was seen.
    async fn discard_result(&self, job: Uuid) {
        if let Err(error) = self.storage.delete(&keys::result(&job.to_string())).await {
            tracing::warn!(%error, "deleting the result of a canceled job");
        }
    }

    /// Runs a storage call until it succeeds or `storage_retry_seconds` have passed:
    /// S3 has its blips, and a job should not spend an attempt on each. (Callers hold the
    /// job's lease meanwhile, renewing it.)
    async fn with_storage_retries<T, F, Fut>(&self, mut call: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        let deadline = Instant::now() + Duration::from_secs(self.settings.storage_retry_seconds);
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(4));
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let delay = backoff.next_delay();
                    if Instant::now() + delay > deadline {
                        return Err(error);
                    }
                    tracing::warn!(%error, ?delay, "storage; trying again");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// The decoded content and style images, or why the job cannot run.
    async fn fetch_inputs(&self, job: &JobRow) -> Result<JobImages, RunEnd> {
        let id = job.id.to_string();
        let styles = job
            .styles
            .iter()
            .enumerate()
            .map(|(position, style)| (style.key(&id, position), !style.is_upload()));
        let keys_in_order: Vec<_> = std::iter::once((keys::content(&id), false))
            .chain(styles)
            .collect();
        let mut decoded = Vec::with_capacity(keys_in_order.len());
        let mut preset_hashes = Vec::with_capacity(keys_in_order.len());
        for (key, preset) in keys_in_order {
            let bytes = match self.with_storage_retries(|| self.storage.get(&key)).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Err(RunEnd::Failed(format!("input {key} is missing"))),
                Err(error) => return Err(RunEnd::Retry(error.to_string())),
            };
            // Hashed rather than named: a preset imported again under its name may be
            // another picture.
            preset_hashes.push(preset.then(|| format!("{:x}", Sha256::digest(&bytes))));
            let limits = self.image_limits;
            let image = tokio::task::spawn_blocking(move || images::decode(&bytes, &limits))
                .await
                .map_err(|e| RunEnd::Failed(e.to_string()))?
                .map_err(|e| RunEnd::Failed(format!("{key}: {e}")))?;
            decoded.push(image);
        }
        let content = decoded.remove(0);
        preset_hashes.remove(0);
        Ok(JobImages {
            content,
            styles: decoded,
            preset_hashes,
        })
    }
}
