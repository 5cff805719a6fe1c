//! The queue worker: takes job ids from RabbitMQ, claims each job in PostgreSQL, runs
//! the engine on a blocking thread, streams progress to Redis and previews to S3, and
//! records the outcome.
//!
//! A delivery is acknowledged as soon as the job is claimed: from then on the job is held
//! by a lease in PostgreSQL that the worker renews every few seconds, not by the
//! delivery, so a job may run longer than RabbitMQ's consumer timeout. A worker that dies
//! stops renewing; any worker's reaper then puts the job back on the queue. Each claim
//! counts an attempt, and a job past its attempts ends `failed`.
//!
//! A run that fails in a way another attempt could get past (storage unreachable, a
//! libtorch error such as running out of device memory, a crash inside the engine) goes
//! back on the queue with its reason; one that cannot (undecodable input, invalid
//! parameters, a diverged optimisation) ends `failed` at once.

use crate::backoff::Backoff;
use crate::engine::fast::fast_stylize;
use crate::engine::{self, EngineError, Event, FastStylizer, Inputs, RunOptions, Vgg19};
use crate::metrics::WorkerMetrics;
use futures_util::stream::{BoxStream, StreamExt};
use image::RgbImage;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stylize_shared::config::{Settings, WorkerSettings};
use stylize_shared::db::{self, JobRow};
use stylize_shared::images::{self, ImageLimits, OutputFormat};
use stylize_shared::job::{keys, JobState};
use stylize_shared::memory::{self, model_bytes, MIB};
use stylize_shared::params::{Init, Mode, StyleParams};
use stylize_shared::progress::{LiveProgress, LossSnapshot, Phase, ProgressStore};
use stylize_shared::queue::{JobMessage, JobQueue};
use stylize_shared::storage::{Storage, StorageError};
use tokio::sync::{mpsc, watch, Semaphore, SemaphorePermit};
use uuid::Uuid;

pub struct Worker {
    name: String,
    settings: WorkerSettings,
    pool: PgPool,
    storage: Storage,
    queue: JobQueue,
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
}

/// How a job's run ended, for the record.
enum Outcome {
    Succeeded,
    Failed(String),
    Canceled,
    /// Another attempt may succeed: back to the queue, counting this attempt.
    Retry(String),
    /// The worker is stopping: back to the queue, and the attempt does not count.
    HandBack,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed(_) => "failed",
            Outcome::Canceled => "canceled",
            Outcome::Retry(_) => "retried",
            Outcome::HandBack => "handed_back",
        }
    }
}

/// What clients see of an iteration.
fn live_progress(progress: &engine::Progress, preview_iteration: Option<u32>) -> LiveProgress {
    let elapsed = progress.elapsed.as_secs_f64();
    let remaining = f64::from(progress.total - progress.iteration);
    LiveProgress {
        phase: Phase::Optimising,
        iteration: progress.iteration,
        total: progress.total,
        fraction: f64::from(progress.iteration) / f64::from(progress.total.max(1)),
        loss: Some(LossSnapshot {
            content: progress.loss.content,
            style: progress.loss.style,
            tv: progress.loss.tv,
            total: progress.loss.total,
        }),
        elapsed_seconds: elapsed,
        eta_seconds: Some(elapsed / f64::from(progress.iteration) * remaining),
        preview_iteration,
    }
}

/// What clients see before the first iteration: the fast pass running, or done with its
/// picture stored as preview 0.
fn progress_before_iterations(
    phase: Phase,
    params: &StyleParams,
    started: Instant,
    preview_iteration: Option<u32>,
) -> LiveProgress {
    LiveProgress {
        phase,
        iteration: 0,
        // A fast job's one step is its pass.
        total: match params.mode {
            Mode::Fast => 1,
            Mode::Full => params.iterations,
        },
        fraction: 0.0,
        loss: None,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        eta_seconds: None,
        preview_iteration,
    }
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

/// How an engine error ends a run: libtorch errors include running out of device
/// memory, which another worker (or this one, later) may not.
fn engine_failure(error: EngineError) -> Outcome {
    match error {
        EngineError::Torch(_) => Outcome::Retry(reason(&error.to_string())),
        error => Outcome::Failed(error.to_string()),
    }
}

/// A failure as a job shows it: libtorch appends a C++ backtrace to its messages (which
/// the worker's log keeps), and that helps no one reading the job.
fn reason(message: &str) -> String {
    let end = ["\nframe #", "\\nframe #"]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    message[..end].chars().take(500).collect()
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

/// Resolves once shutdown is asked for. (The guard `wait_for` returns must not live
/// across an await of a spawned task: it is not `Send`.)
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
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
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        Ok(Worker {
            name,
            settings: settings.worker.clone(),
            pool,
            storage: Storage::new(&settings.s3),
            queue: JobQueue::connect(&settings.amqp).await?,
            progress: ProgressStore::connect(&settings.redis).await?,
            model: Arc::new(model),
            fast: Arc::new(fast),
            style_vectors: Arc::default(),
            image_limits: settings.image_limits(),
            metrics,
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

    /// Runs up to `concurrency` jobs at once until `shutdown` turns true; the jobs
    /// running then are handed back.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let reaper = tokio::spawn(self.clone().reap(shutdown.clone()));
        let slots: Vec<_> = (0..self.settings.concurrency.max(1))
            .map(|_| tokio::spawn(self.clone().consume(shutdown.clone())))
            .collect();
        for slot in slots {
            slot.await?;
        }
        reaper.abort();
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

    /// Every third of a lease: jobs whose worker died go back on the queue, and queued
    /// jobs whose message was never sent (RabbitMQ was away) are published again.
    async fn reap(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let lease = Duration::from_secs(self.settings.lease_seconds);
        let mut ticks = tokio::time::interval(lease / 3);
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => return,
                _ = ticks.tick() => {}
            }
            // Jobs just re-queued are younger than the grace, so none is found twice.
            let passes = [
                (
                    "lease expired; queueing the job again",
                    db::requeue_expired(&self.pool, lease).await,
                ),
                (
                    "publishing a queued job that has no message",
                    db::unpublished(&self.pool, lease / 3).await,
                ),
            ];
            for (what, found) in passes {
                match found {
                    Ok(ids) => {
                        for id in ids {
                            tracing::warn!(job = %id, "{what}");
                            self.publish(id).await;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "reaping: {what}"),
                }
            }
        }
    }

    async fn publish(&self, id: Uuid) {
        match self.queue.publish(&JobMessage::new(id)).await {
            Ok(()) => {
                if let Err(error) = db::mark_published(&self.pool, id).await {
                    tracing::warn!(job = %id, %error, "marking the job published");
                }
            }
            // The row stays queued and unpublished: the next reaping publishes it.
            Err(error) => tracing::error!(job = %id, %error, "could not publish a queued job"),
        }
    }

    #[tracing::instrument(skip_all, fields(job = %job.id, attempt = job.attempts))]
    async fn process(&self, job: JobRow, claimed: Instant, shutdown: watch::Receiver<bool>) {
        let id = job.id;
        self.metrics.busy.inc();
        let max_attempts = self.settings.max_attempts;
        let gave_up =
            |last: &str| format!("gave up after {max_attempts} attempts; the last: {last}");
        // A job whose runs kill their worker is only seen again at its next claim.
        let mut outcome = if job.attempts as u32 > max_attempts {
            Outcome::Failed(gave_up(
                job.error
                    .as_deref()
                    .unwrap_or("its worker stopped answering"),
            ))
        } else {
            match self.run_job(&job, claimed, shutdown).await {
                Outcome::Retry(reason) if job.attempts as u32 >= max_attempts => {
                    Outcome::Failed(gave_up(&reason))
                }
                outcome => outcome,
            }
        };
        let (to, reason) = match &outcome {
            Outcome::Succeeded => (JobState::Succeeded, None),
            Outcome::Failed(reason) => (JobState::Failed, Some(reason.as_str())),
            Outcome::Canceled => (JobState::Canceled, None),
            Outcome::Retry(reason) => (JobState::Queued, Some(reason.as_str())),
            Outcome::HandBack => (JobState::Queued, None),
        };
        let charge_attempt = !matches!(outcome, Outcome::HandBack);
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
                    outcome = Outcome::Canceled;
                    true
                }
                Ok(Some(_)) => {
                    tracing::info!(state = %to, reason, "job finished its run");
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
        if recorded && matches!(outcome, Outcome::Retry(_) | Outcome::HandBack) {
            self.publish(id).await;
        }
        self.metrics
            .runs
            .with_label_values(&[outcome.label()])
            .inc();
        self.metrics
            .run_seconds
            .with_label_values(&[outcome.label()])
            .observe(claimed.elapsed().as_secs_f64());
        self.metrics.busy.dec();
    }

    async fn run_job(
        &self,
        job: &JobRow,
        claimed: Instant,
        mut shutdown: watch::Receiver<bool>,
    ) -> Outcome {
        let _reserved = match self.reserve_memory(job.id, &job.params.0).await {
            Ok(reserved) => reserved,
            Err(outcome) => return outcome,
        };
        let images = match self.holding_lease(job.id, self.fetch_inputs(job)).await {
            Ok(images) => Arc::new(images),
            Err(outcome) => return outcome,
        };
        // The fast network paints first: a `fast` job's result, a `full` job's first
        // preview (and start, with init `fast`).
        let params = &job.params.0;
        let started = Instant::now();
        let before = |phase, preview| progress_before_iterations(phase, params, started, preview);
        self.send_progress(job.id, &before(Phase::Fast, None)).await;
        let pass = async { Ok(self.fast_pass(&images, params).await) };
        let fast_image = match self.holding_lease(job.id, pass).await {
            Err(outcome) | Ok(Err(outcome @ Outcome::Failed(_))) => return outcome,
            Ok(Ok(image)) => Some(image),
            // A picture only a preview depends on is not worth an attempt of the job.
            Ok(Err(outcome)) if params.mode == Mode::Full && params.init != Init::Fast => {
                tracing::warn!(job = %job.id, outcome = outcome.label(), "no fast preview");
                None
            }
            Ok(Err(outcome)) => return outcome,
        };
        if params.mode == Mode::Fast {
            let image = fast_image.expect("a fast job's failed pass returned above");
            let done = LiveProgress {
                iteration: 1,
                fraction: 1.0,
                ..before(Phase::Fast, None)
            };
            self.send_progress(job.id, &done).await;
            return self.store_result(job.id, image).await;
        }
        let mut preview_iteration = match &fast_image {
            Some(image) => self.store_preview(job.id, 0, image.clone()).await,
            None => None,
        };
        self.send_progress(job.id, &before(Phase::Optimising, preview_iteration))
            .await;
        let init_image = fast_image.filter(|_| params.init == Init::Fast);

        let cancel = Arc::new(AtomicBool::new(false));
        let (events, mut received) = mpsc::unbounded_channel();
        let run = {
            let model = self.model.clone();
            let params = params.clone();
            let cancel = cancel.clone();
            let images = images.clone();
            let preview_every = (params.iterations / self.settings.previews.max(1)).max(1);
            tokio::task::spawn_blocking(move || {
                let inputs = Inputs {
                    content: &images.content,
                    styles: &images.styles,
                    init_image: init_image.as_ref(),
                };
                let mut on_event = |event: Event| {
                    let _ = events.send(event);
                    if cancel.load(Ordering::Relaxed) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                engine::stylize(
                    &model,
                    &inputs,
                    &params,
                    RunOptions { preview_every },
                    &mut on_event,
                )
            })
        };
        tokio::pin!(run);

        // A cancel announced through Redis stops the run at once. Listening starts before
        // the first heartbeat (at once), which finds a cancel asked for before that, and
        // any while Redis is away.
        let mut cancel_notices = self.cancel_notices(job.id).await;
        let mut heartbeat =
            tokio::time::interval(Duration::from_secs(self.settings.heartbeat_seconds));
        let interval = Duration::from_millis(self.settings.progress_interval_ms);
        let mut last_sent = Instant::now() - interval;
        let mut latest: Option<LiveProgress> = None;
        // What was last published: each iteration goes out once, and a new preview with
        // the iteration after it.
        let mut sent: (u32, Option<u32>) = (0, preview_iteration);
        let mut stop_reason = None;
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                Some(event) = received.recv() => match event {
                    Event::Iteration(progress) => {
                        self.metrics.iterations.inc();
                        if latest.is_none() {
                            self.metrics.first_iteration_seconds.observe(claimed.elapsed().as_secs_f64());
                        }
                        let live = live_progress(&progress, preview_iteration);
                        if last_sent.elapsed() >= interval
                            || progress.iteration == progress.total
                            || preview_iteration != sent.1
                        {
                            last_sent = Instant::now();
                            self.send_progress(job.id, &live).await;
                            sent = (live.iteration, live.preview_iteration);
                        }
                        latest = Some(live);
                    }
                    Event::Preview { iteration, image } => {
                        if let Some(stored) = self.store_preview(job.id, iteration, image).await {
                            preview_iteration = Some(stored);
                        }
                    }
                },
                notice = next_or_pending(&mut cancel_notices) => match notice {
                    Some(()) => {
                        tracing::info!("cancel announced; stopping");
                        cancel.store(true, Ordering::Relaxed);
                        stop_reason.get_or_insert(Outcome::Canceled);
                    }
                    // Redis went away: the heartbeat still finds a cancel.
                    None => cancel_notices = None,
                },
                _ = heartbeat.tick() => if let Some(stop) = self.renew_lease(job.id).await {
                    cancel.store(true, Ordering::Relaxed);
                    stop_reason.get_or_insert(stop);
                },
                _ = stopped(&mut shutdown), if stop_reason.is_none() => {
                    cancel.store(true, Ordering::Relaxed);
                    stop_reason = Some(Outcome::HandBack);
                }
            }
        };
        // Count what the engine sent before it finished; the final state is published below.
        while let Ok(event) = received.try_recv() {
            if let Event::Iteration(progress) = event {
                self.metrics.iterations.inc();
                latest = Some(live_progress(&progress, preview_iteration));
            }
        }
        match result {
            Err(panic) => Outcome::Retry(reason(&format!("the engine crashed: {panic}"))),
            Ok(Err(EngineError::Canceled { .. })) => stop_reason.unwrap_or(Outcome::Canceled),
            Ok(Err(error)) => engine_failure(error),
            Ok(Ok(outcome)) => {
                // The last iterations, if the engine finished before they were seen.
                if let Some(live) = latest.as_ref().filter(|live| live.iteration != sent.0) {
                    self.send_progress(job.id, live).await;
                }
                self.store_result(job.id, outcome.image).await
            }
        }
    }

    /// The fast network's picture for the job, on a blocking thread.
    async fn fast_pass(
        &self,
        images: &Arc<JobImages>,
        params: &StyleParams,
    ) -> Result<RgbImage, Outcome> {
        let (fast, vectors) = (self.fast.clone(), self.style_vectors.clone());
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
                Ok(image)
            }
            Ok(Err(error)) => Err(engine_failure(error)),
            Err(panic) => Err(Outcome::Retry(reason(&format!(
                "the fast network crashed: {panic}"
            )))),
        }
    }

    /// Stores `image` as the job's preview; the iteration it shows, once stored (a
    /// preview that could not be stored is only missed).
    async fn store_preview(&self, job: Uuid, iteration: u32, image: RgbImage) -> Option<u32> {
        let encoded =
            tokio::task::spawn_blocking(move || images::encode(&image, OutputFormat::Jpeg)).await;
        if let Ok(Ok(bytes)) = encoded {
            match self
                .storage
                .put(&keys::preview(&job.to_string()), bytes, "image/jpeg")
                .await
            {
                Ok(()) => return Some(iteration),
                Err(error) => tracing::warn!(%error, "storing a preview"),
            }
        }
        None
    }

    /// Stores the job's result: the run succeeded once it is.
    async fn store_result(&self, job: Uuid, image: RgbImage) -> Outcome {
        let encoded =
            tokio::task::spawn_blocking(move || images::encode(&image, OutputFormat::Png)).await;
        let bytes = match encoded {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => return Outcome::Failed(error.to_string()),
            Err(panic) => return Outcome::Failed(panic.to_string()),
        };
        let key = keys::result(&job.to_string());
        let store = async {
            self.with_storage_retries(|| self.storage.put(&key, bytes.clone(), "image/png"))
                .await
                .map_err(|error| Outcome::Retry(error.to_string()))
        };
        match self.holding_lease(job, store).await {
            Ok(()) => Outcome::Succeeded,
            Err(Outcome::Canceled) => {
                // Canceled while storing: the result may have landed all the same.
                self.discard_result(job).await;
                Outcome::Canceled
            }
            Err(outcome) => outcome,
        }
    }

    /// Reserves the job's estimated device memory for its run. A job that could not fit
    /// on the device even alone fails at once (another attempt would run out of memory
    /// the same way); one that fits waits, renewing its lease, for the jobs running
    /// beside it to leave it room.
    async fn reserve_memory(
        &self,
        job: Uuid,
        params: &StyleParams,
    ) -> Result<Option<SemaphorePermit<'_>>, Outcome> {
        let Some(budget) = &self.memory else {
            return Ok(None);
        };
        let mib = memory::fit(params, self.settings.device_memory_bytes)
            .map_err(|too_large| Outcome::Failed(too_large.to_string()))?;
        // Fits in u32: no more than the device's MiB.
        let acquire = async {
            Ok(budget
                .acquire_many(mib as u32)
                .await
                .expect("the memory budget is never closed"))
        };
        self.holding_lease(job, acquire).await.map(Some)
    }

    /// Renews the lease on a running job; the reason to stop it, when there is one.
    async fn renew_lease(&self, job: Uuid) -> Option<Outcome> {
        match db::heartbeat(&self.pool, job, &self.name).await {
            Ok(Some(true)) => Some(Outcome::Canceled),
            Ok(Some(false)) => None,
            Ok(None) => Some(Outcome::Retry("the worker lost its lease".into())),
            Err(error) => {
                tracing::warn!(%error, "renewing the lease");
                None
            }
        }
    }

    /// Drives `work` (storage calls, which may retry for a while) while renewing the
    /// job's lease; stops early when the job is canceled or taken away.
    async fn holding_lease<T>(
        &self,
        job: Uuid,
        work: impl std::future::Future<Output = Result<T, Outcome>>,
    ) -> Result<T, Outcome> {
        tokio::pin!(work);
        let period = Duration::from_secs(self.settings.heartbeat_seconds);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                result = &mut work => return result,
                _ = heartbeat.tick() => if let Some(stop) = self.renew_lease(job).await {
                    return Err(stop);
                },
            }
        }
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

    /// Deletes a canceled job's result, stored before the cancel was seen.
    async fn discard_result(&self, job: Uuid) {
        if let Err(error) = self.storage.delete(&keys::result(&job.to_string())).await {
            tracing::warn!(%error, "deleting the result of a canceled job");
        }
    }

    async fn send_progress(&self, job: Uuid, live: &LiveProgress) {
        if let Err(error) = self.progress.publish(job, live).await {
            tracing::warn!(%error, "publishing progress");
        }
    }

    /// Runs a storage call until it succeeds or `storage_retry_seconds` have passed:
    /// S3 has its blips, and a job should not spend an attempt on each. (The window
    /// stays below the lease, which is not renewed while inputs load.)
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
    async fn fetch_inputs(&self, job: &JobRow) -> Result<JobImages, Outcome> {
        let id = job.id.to_string();
        let mut keys_in_order = vec![(keys::content(&id), false)];
        let mut uploaded = 0;
        for preset in &job.presets {
            keys_in_order.push(if preset.is_empty() {
                uploaded += 1;
                (keys::style(&id, uploaded - 1), false)
            } else {
                (keys::preset_image(preset), true)
            });
        }
        let mut decoded = Vec::with_capacity(keys_in_order.len());
        let mut preset_hashes = Vec::with_capacity(job.presets.len());
        for (key, preset) in keys_in_order {
            let bytes = match self.with_storage_retries(|| self.storage.get(&key)).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Err(Outcome::Failed(format!("input {key} is missing"))),
                Err(error) => return Err(Outcome::Retry(error.to_string())),
            };
            // Hashed rather than named: a preset imported again under its name may be
            // another picture.
            preset_hashes.push(preset.then(|| format!("{:x}", Sha256::digest(&bytes))));
            let limits = self.image_limits;
            let image = tokio::task::spawn_blocking(move || images::decode(&bytes, &limits))
                .await
                .map_err(|e| Outcome::Failed(e.to_string()))?
                .map_err(|e| Outcome::Failed(format!("{key}: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn reasons_drop_libtorchs_backtrace() {
        let message = "DefaultCPUAllocator: can't allocate memory\nframe #0: c10::alloc_cpu";
        assert_eq!(
            reason(message),
            "DefaultCPUAllocator: can't allocate memory"
        );
        let debug = format!("{:?}", message);
        assert_eq!(
            reason(&debug),
            "\"DefaultCPUAllocator: can't allocate memory"
        );
        assert_eq!(reason(&"x".repeat(900)).len(), 500);
    }
}
