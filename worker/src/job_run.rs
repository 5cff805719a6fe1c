//! One claimed job's run, from its claim to its record: while holding the job's lease,
//! its device memory reserved, its inputs loaded, the fast network's picture painted,
//! then the engine's optimisation followed (its progress and previews published, a
//! cancel, a lost lease or shutdown stopping it) and the result stored; then how the run
//! ended recorded in the job's row, with what a deletion meanwhile left behind removed.
//! Each claim counts an attempt, and a job past its attempts ends `failed`.

use crate::background::stopped;
use crate::clients::Clients;
use crate::engine_run::{EngineRun, Next};
use crate::fast_pass::FastPass;
use crate::inputs::{self, JobImages};
use crate::lease::Lease;
use crate::metrics::WorkerMetrics;
use crate::progress_bridge::{Outputs, ProgressBridge};
use crate::reaper;
use crate::run_end::{engine_failure, RunEnd};
use crate::throughput::Throughput;
use futures_util::stream::{BoxStream, StreamExt};
use image::RgbImage;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stylize_core::images::{self, ImageLimits, OutputFormat};
use stylize_core::job::{keys, JobState};
use stylize_core::memory::{self, model_bytes, MIB};
use stylize_core::params::{Init, Mode, Plan};
use stylize_engine::{self as engine, FastStylizer, Inputs, RunOptions, Vgg19};
use stylize_shared::config::{Settings, WorkerSettings};
use stylize_shared::db::{self, JobRow};
use stylize_shared::retention;
use stylize_shared::telemetry;
use tokio::sync::{watch, Semaphore, SemaphorePermit};
use tracing::Instrument;
use uuid::Uuid;

/// The next item of `stream`; pending for good when there is no stream.
async fn next_or_pending<T>(stream: &mut Option<BoxStream<'static, T>>) -> Option<T> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// What running a claimed job takes, and nothing of consuming the queue: the worker's
/// name (which holds the leases), the run's settings, the service clients, the models,
/// the device's memory budget, and where its times are counted.
pub(crate) struct JobRunner {
    name: String,
    settings: WorkerSettings,
    clients: Clients,
    /// Shared by the jobs running at once: forward passes only read it.
    vgg: Arc<Vgg19>,
    /// A `fast` job's picture, and each `full` job's first preview.
    fast: FastPass,
    image_limits: ImageLimits,
    metrics: WorkerMetrics,
    throughput: Arc<Throughput>,
    /// The device's memory (as set, or the guard's conservative figure).
    device_memory: u64,
    /// The device's memory beside the weights, in MiB, that running jobs reserve by
    /// their estimates.
    memory: Semaphore,
    /// At most one `progress` webhook message per job this often.
    progress_webhooks_every: Duration,
}

/// The networks a worker loads once and its jobs share.
pub(crate) struct Models {
    pub(crate) vgg: Vgg19,
    pub(crate) fast: FastStylizer,
}

impl JobRunner {
    pub(crate) fn new(
        name: &str,
        settings: &Settings,
        clients: Clients,
        models: Models,
        metrics: WorkerMetrics,
        throughput: Arc<Throughput>,
        device_memory: u64,
    ) -> Self {
        JobRunner {
            name: name.to_owned(),
            settings: settings.worker.clone(),
            clients,
            vgg: Arc::new(models.vgg),
            fast: FastPass::new(models.fast),
            image_limits: settings.image_limits(),
            metrics,
            throughput,
            device_memory,
            memory: Semaphore::new((device_memory.saturating_sub(model_bytes()) / MIB) as usize),
            progress_webhooks_every: Duration::from_secs(
                settings.webhooks.progress_interval_seconds,
            ),
        }
    }

    /// Runs a claimed job (or fails one past its attempts), records how its run ended,
    /// and counts it; in a span of the trace its submission began, whichever run this is.
    pub(crate) async fn process(
        &self,
        job: JobRow,
        claimed: Instant,
        shutdown: watch::Receiver<bool>,
    ) {
        let span = tracing::info_span!(
            "process",
            otel.name = "process job",
            job = %job.id,
            attempt = job.attempts,
            trace_id = tracing::field::Empty,
        );
        telemetry::continue_trace(&span, job.trace_context.as_deref());
        self.run_and_record(job, claimed, shutdown)
            .instrument(span)
            .await
    }

    async fn run_and_record(&self, job: JobRow, claimed: Instant, shutdown: watch::Receiver<bool>) {
        self.metrics.busy.inc();
        self.announce_state(job.id, JobState::Running).await;
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
        let recorded = match db::finish_run(
            &self.clients.pool,
            id,
            &self.name,
            to,
            reason,
            charge_attempt,
        )
        .await
        {
            Ok(Some(row)) if row.state() != to => {
                // A cancel accepted while the run ended: the job is canceled, and a
                // result stored meanwhile goes.
                tracing::info!(state = %row.state(), "job canceled as its run ended");
                if to == JobState::Succeeded {
                    self.discard_result(id).await;
                }
                self.announce_state(id, row.state()).await;
                return RunEnd::Canceled;
            }
            Ok(Some(_)) => {
                tracing::info!(state = %to, reason, "job finished its run");
                self.announce_state(id, to).await;
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
            reaper::publish(&self.clients.pool, &self.clients.queue, id).await;
        }
        end
    }

    /// Tells those following the job that its row now records `state` (claimed, back in
    /// the queue, ended). Unheard, they read the row when Redis is back, or at their
    /// deadline.
    async fn announce_state(&self, id: Uuid, state: JobState) {
        if let Err(error) = self.clients.progress.announce_state(id, state).await {
            tracing::warn!(%error, %state, "announcing the job's state");
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
        let lease = Lease::new(&self.clients.pool, &self.name, job.id, heartbeat);
        // The api checked these parameters; the row is read back as untrusted all the same.
        let plan = match Plan::new(job.params.0.clone(), job.styles.len()) {
            Ok(plan) => plan,
            Err(error) => return engine_failure(error.into()),
        };
        let _reserved = match self.reserve_memory(&lease, &plan).await {
            Ok(reserved) => reserved,
            Err(end) => return end,
        };
        let fetch = inputs::fetch(
            &self.clients.storage,
            self.image_limits,
            self.storage_patience(),
            job,
        );
        let images = match lease.hold(fetch).await {
            Ok(images) => Arc::new(images),
            Err(end) => return end,
        };
        let interval = Duration::from_millis(self.settings.progress_interval_ms);
        let mut progress = ProgressBridge::new(
            job,
            &plan,
            claimed,
            interval,
            Outputs {
                store: &self.clients.progress,
                storage: &self.clients.storage,
                metrics: &self.metrics,
            },
            self.throughput.clock(&plan, images.content.dimensions()),
        )
        .with_progress_webhooks(job, &self.clients.pool, self.progress_webhooks_every);
        progress.fast_pass_started().await;
        let painted = self
            .fast
            .paint(&lease, &images, &plan, &self.metrics, &self.throughput);
        let fast_image = match painted.await {
            Ok(image) => image,
            Err(end) => return end,
        };
        if plan.mode == Mode::Fast {
            let image = fast_image.expect("a fast job's pass paints or ends its run");
            progress.fast_job_painted().await;
            return self.store_result(&lease, image).await;
        }
        if let Some(image) = &fast_image {
            progress.store_preview(0, image.clone()).await;
        }
        progress.optimisation_started().await;
        let init_image = fast_image.filter(|_| plan.init == Init::Fast);
        let run = self.start_optimisation(images, init_image, plan);
        let limit = Duration::from_secs(self.settings.max_run_seconds);
        // (A limit past any instant a clock can tell is no limit.)
        let deadline = tokio::time::Instant::from_std(claimed)
            .checked_add(limit)
            .unwrap_or_else(|| {
                tokio::time::Instant::now() + Duration::from_secs(86_400 * 365 * 30)
            });
        self.follow(run, &lease, &mut progress, shutdown, deadline)
            .await
    }

    /// Starts the engine's optimisation of the job on a blocking thread.
    fn start_optimisation(
        &self,
        images: Arc<JobImages>,
        init_image: Option<RgbImage>,
        plan: Plan,
    ) -> EngineRun {
        let model = self.vgg.clone();
        let options = RunOptions {
            preview_every: (plan.iterations / self.settings.previews.max(1)).max(1),
        };
        EngineRun::start(move |on_event| {
            let inputs = Inputs {
                content: &images.content,
                styles: &images.styles,
                init_image: init_image.as_ref(),
            };
            engine::stylize(&model, &inputs, &plan, options, on_event)
        })
    }

    /// Follows the optimisation to its end: its events become the job's progress and
    /// previews, and it stops when the job is canceled (announced through Redis, or found
    /// by a renewal of the lease), the lease is lost, the worker shuts down, or the run
    /// passes `deadline` (`worker.max_run_seconds` from its claim).
    async fn follow(
        &self,
        mut run: EngineRun,
        lease: &Lease<'_>,
        progress: &mut ProgressBridge<'_>,
        mut shutdown: watch::Receiver<bool>,
        deadline: tokio::time::Instant,
    ) -> RunEnd {
        let past_deadline = tokio::time::sleep_until(deadline);
        tokio::pin!(past_deadline);
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
                _ = &mut past_deadline, if !run.stopping() => {
                    let limit = self.settings.max_run_seconds;
                    tracing::warn!(limit, "the run took too long; stopping");
                    run.stop(RunEnd::Failed(format!(
                        "the run took longer than this service allows \
                         (worker.max_run_seconds: {limit} s)"
                    )));
                }
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

    /// Stores the job's result: the run succeeded once it is.
    #[tracing::instrument(name = "store result", skip_all)]
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
            let storage = &self.clients.storage;
            let put = || storage.put(&key, bytes.clone(), "image/png");
            inputs::with_storage_retries(self.storage_patience(), put)
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
        plan: &Plan,
    ) -> Result<SemaphorePermit<'_>, RunEnd> {
        let mib = memory::fit(plan, self.device_memory)
            .map_err(|too_large| RunEnd::Failed(too_large.to_string()))?;
        // Fits in u32: no more than the device's MiB.
        let acquire = async {
            Ok(self
                .memory
                .acquire_many(mib as u32)
                .await
                .expect("the memory budget is never closed"))
        };
        lease.hold(acquire).await
    }

    /// Cancel notices for `job`; `None` while Redis does not answer (within a second).
    async fn cancel_notices(&self, job: Uuid) -> Option<BoxStream<'static, ()>> {
        let listening = self.clients.progress.cancels(job);
        match tokio::time::timeout(Duration::from_secs(1), listening).await {
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
        match retention::remove_if_deleted(&self.clients.pool, &self.clients.storage, job).await {
            Ok(true) => tracing::info!("the job was deleted while it ran; its objects are gone"),
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "removing the objects of a deleted job"),
        }
    }

    /// How long a storage call is tried again before the run gives up its attempt.
    fn storage_patience(&self) -> Duration {
        Duration::from_secs(self.settings.storage_retry_seconds)
    }

    /// Deletes a canceled job's result, stored before the cancel was seen.
    async fn discard_result(&self, job: Uuid) {
        let key = keys::result(&job.to_string());
        if let Err(error) = self.clients.storage.delete(&key).await {
            tracing::warn!(%error, "deleting the result of a canceled job");
        }
    }
}
