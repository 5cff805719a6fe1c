//! From a running job to what its clients see: live progress published to Redis (the
//! fast pass, then the engine's iterations, each at most once and no more often than
//! `progress_interval_ms` unless it is the last or brings a new preview) and previews
//! stored in S3; and, for a job that asked for them, `progress` webhook messages in the
//! outbox, at most one per `webhooks.progress_interval_seconds`.

use crate::metrics::WorkerMetrics;
use crate::throttle::{Every, Throttle};
use crate::throughput::IterationClock;
use image::RgbImage;
use std::time::{Duration, Instant};
use stylize_core::images::{self, OutputFormat};
use stylize_core::job::keys;
use stylize_core::params::{Mode, Plan};
use stylize_engine::{self as engine, Event};
use stylize_shared::db::JobRow;
use stylize_shared::progress::{LiveProgress, LossSnapshot, Phase, ProgressStore};
use stylize_shared::storage::Storage;
use stylize_shared::webhooks;
use uuid::Uuid;

/// Where a job's `progress` webhook messages go, and how often.
struct ProgressWebhooks<'a> {
    pool: &'a sqlx::PgPool,
    every: Every,
}

/// Where a job's progress goes: live progress to Redis, previews to S3, counts to the
/// worker's metrics.
pub struct Outputs<'a> {
    pub store: &'a ProgressStore,
    pub storage: &'a Storage,
    pub metrics: &'a WorkerMetrics,
}

pub struct ProgressBridge<'a> {
    job: Uuid,
    outputs: Outputs<'a>,
    /// The job's steps: a fast job's one step is its pass.
    total: u32,
    /// Its coarse-to-fine levels.
    scales: u32,
    claimed: Instant,
    started: Instant,
    /// Which iterations are published.
    throttle: Throttle,
    /// The latest iteration, published or not.
    latest: Option<LiveProgress>,
    /// The iteration the stored preview shows.
    preview_iteration: Option<u32>,
    /// Times the iterations for the worker's reported speed.
    clock: IterationClock<'a>,
    /// `None` unless the job asked for `progress` webhooks.
    webhooks: Option<ProgressWebhooks<'a>>,
}

impl<'a> ProgressBridge<'a> {
    /// The bridge for `job` run by `plan`, claimed at `claimed`, its inputs loaded now.
    pub fn new(
        job: &JobRow,
        plan: &Plan,
        claimed: Instant,
        interval: Duration,
        outputs: Outputs<'a>,
        clock: IterationClock<'a>,
    ) -> Self {
        ProgressBridge {
            job: job.id,
            outputs,
            total: match plan.mode {
                Mode::Fast => 1,
                Mode::Full => plan.iterations,
            },
            scales: plan.levels().len() as u32,
            claimed,
            started: Instant::now(),
            throttle: Throttle::new(interval),
            latest: None,
            preview_iteration: None,
            clock,
            webhooks: None,
        }
    }

    /// Adds `progress` webhook messages, at most one per `every`, when `job` asked.
    pub fn with_progress_webhooks(
        mut self,
        job: &JobRow,
        pool: &'a sqlx::PgPool,
        every: Duration,
    ) -> Self {
        if job.webhook_events.iter().any(|event| event == "progress") {
            self.webhooks = Some(ProgressWebhooks {
                pool,
                every: Every::new(every),
            });
        }
        self
    }

    pub async fn fast_pass_started(&mut self) {
        self.send(&self.before_iterations(Phase::Fast)).await;
    }

    /// A `fast` job's pass, its one step, is done.
    pub async fn fast_job_painted(&mut self) {
        let done = LiveProgress {
            iteration: 1,
            fraction: 1.0,
            ..self.before_iterations(Phase::Fast)
        };
        self.send(&done).await;
    }

    /// The optimisation begins, from preview 0 (the fast picture) when it was stored.
    pub async fn optimisation_started(&mut self) {
        self.send(&self.before_iterations(Phase::Optimising)).await;
    }

    /// Stores `image` as the job's preview, showing `iteration` (a preview that could not
    /// be stored is only missed).
    pub async fn store_preview(&mut self, iteration: u32, image: RgbImage) {
        let encoded =
            tokio::task::spawn_blocking(move || images::encode(&image, OutputFormat::Jpeg)).await;
        if let Ok(Ok(bytes)) = encoded {
            let key = keys::preview(&self.job.to_string());
            match self.outputs.storage.put(&key, bytes, "image/jpeg").await {
                Ok(()) => self.preview_iteration = Some(iteration),
                Err(error) => tracing::warn!(%error, "storing a preview"),
            }
        }
    }

    pub async fn on_event(&mut self, event: Event) {
        match event {
            Event::Iteration(progress) => self.on_iteration(&progress).await,
            Event::Preview { iteration, image } => self.store_preview(iteration, image).await,
        }
    }

    /// Counts the iterations the engine sent before it finished that were not seen;
    /// they are published with the run's end (by [`Self::send_last`] on success).
    pub fn count_unseen(&mut self, events: impl Iterator<Item = Event>) {
        for event in events {
            if let Event::Iteration(progress) = event {
                self.outputs.metrics.iterations.inc();
                self.latest = Some(live_progress(&progress, self.preview_iteration));
            }
        }
    }

    /// The last iterations, if the engine finished before they were published.
    pub async fn send_last(&mut self) {
        if let Some(live) = self.latest.take().filter(|live| self.throttle.unsent(live)) {
            self.send(&live).await;
        }
    }

    async fn on_iteration(&mut self, progress: &engine::Progress) {
        self.outputs.metrics.iterations.inc();
        self.clock.tick(progress.iteration, progress.elapsed);
        if self.latest.is_none() {
            self.outputs
                .metrics
                .first_iteration_seconds
                .observe(self.claimed.elapsed().as_secs_f64());
        }
        let live = live_progress(progress, self.preview_iteration);
        if self.throttle.iteration_due(Instant::now(), &live) {
            self.send(&live).await;
        }
        self.latest = Some(live);
    }

    /// What clients see before the first iteration: the fast pass running, or done with
    /// its picture stored as preview 0.
    fn before_iterations(&self, phase: Phase) -> LiveProgress {
        LiveProgress {
            phase,
            iteration: 0,
            total: self.total,
            scale: 0,
            scales: self.scales,
            fraction: 0.0,
            loss: None,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            eta_seconds: None,
            preview_iteration: self.preview_iteration,
        }
    }

    async fn send(&mut self, live: &LiveProgress) {
        if let Err(error) = self.outputs.store.publish(self.job, live).await {
            tracing::warn!(%error, "publishing progress");
        }
        self.throttle.sent(live);
        let Some(hooks) = self.webhooks.as_mut() else {
            return;
        };
        if hooks.every.take(Instant::now()) {
            if let Err(error) = webhooks::add_progress(hooks.pool, self.job, live).await {
                tracing::warn!(%error, "adding a progress webhook message");
            }
        }
    }
}

/// What clients see of an iteration.
fn live_progress(progress: &engine::Progress, preview_iteration: Option<u32>) -> LiveProgress {
    let elapsed = progress.elapsed.as_secs_f64();
    LiveProgress {
        phase: Phase::Optimising,
        iteration: progress.iteration,
        total: progress.total,
        scale: progress.scale,
        scales: progress.scales,
        fraction: progress.fraction,
        loss: Some(LossSnapshot {
            content: progress.loss.content,
            style: progress.loss.style,
            tv: progress.loss.tv,
            total: progress.loss.total,
        }),
        elapsed_seconds: elapsed,
        eta_seconds: Some(elapsed / progress.fraction * (1.0 - progress.fraction)),
        preview_iteration,
    }
}
