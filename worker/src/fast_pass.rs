//! The fast network's pass over a job: its picture at the job's size, in its blend of
//! paintings, painted on a blocking thread. It is a `fast` job's result, and a `full`
//! job's first preview (and its start with init `fast`). The preset paintings' style
//! vectors are kept in `StyleVectors` between jobs.

use crate::inputs::JobImages;
use crate::lease::Lease;
use crate::metrics::WorkerMetrics;
use crate::run_end::{crash, engine_failure, RunEnd};
use crate::style_vectors::StyleVectors;
use crate::throughput::{output_pixels, Throughput};
use image::RgbImage;
use std::sync::Arc;
use std::time::Instant;
use stylize_core::params::{Init, Mode, Plan};
use stylize_engine::fast::fast_stylize;
use stylize_engine::{EngineError, FastStylizer};
use tracing::Instrument;

/// A job's picture from the fast network, at its size, in its blend of paintings.
fn fast_picture(
    fast: &FastStylizer,
    style_vectors: &StyleVectors,
    images: &JobImages,
    plan: &Plan,
) -> Result<RgbImage, EngineError> {
    let vectors: Vec<tch::Tensor> = images
        .styles
        .iter()
        .zip(&images.preset_hashes)
        .map(|(style, hash)| style_vectors.get(fast, style, hash.as_deref()))
        .collect();
    Ok(fast_stylize(fast, &images.content, &vectors, plan, 1.0)?.image)
}

/// The fast network and the preset paintings' style vectors it keeps between jobs:
/// shared by the jobs running at once.
pub(crate) struct FastPass {
    network: Arc<FastStylizer>,
    style_vectors: Arc<StyleVectors>,
}

impl FastPass {
    pub(crate) fn new(network: FastStylizer) -> Self {
        FastPass {
            network: Arc::new(network),
            style_vectors: Arc::default(),
        }
    }

    /// The fast network's picture of the job, painted while holding its lease; a `full`
    /// job that wanted it only as a preview goes on without it. Its time is counted in
    /// `metrics` and `throughput`.
    pub(crate) async fn paint(
        &self,
        lease: &Lease<'_>,
        images: &Arc<JobImages>,
        plan: &Plan,
        metrics: &WorkerMetrics,
        throughput: &Throughput,
    ) -> Result<Option<RgbImage>, RunEnd> {
        let pass = async { Ok(self.run(images, plan, metrics, throughput).await) };
        match lease.hold(pass).await {
            Err(end) | Ok(Err(end @ RunEnd::Failed(_))) => Err(end),
            Ok(Ok(image)) => Ok(Some(image)),
            // A picture only a preview depends on is not worth an attempt of the job.
            Ok(Err(end)) if plan.mode == Mode::Full && plan.init != Init::Fast => {
                tracing::warn!(job = %lease.job(), outcome = end.label(), "no fast preview");
                Ok(None)
            }
            Ok(Err(end)) => Err(end),
        }
    }

    /// The fast network's picture for the job, on a blocking thread.
    async fn run(
        &self,
        images: &Arc<JobImages>,
        plan: &Plan,
        metrics: &WorkerMetrics,
        throughput: &Throughput,
    ) -> Result<RgbImage, RunEnd> {
        let (fast, vectors) = (self.network.clone(), self.style_vectors.clone());
        let pixels = output_pixels(plan.size, images.content.dimensions());
        let (images, plan, plan_size) = (images.clone(), plan.clone(), plan.size);
        let started = Instant::now();
        let painted =
            tokio::task::spawn_blocking(move || fast_picture(&fast, &vectors, &images, &plan))
                .instrument(tracing::info_span!("fast pass", size = plan_size))
                .await;
        match painted {
            Ok(Ok(image)) => {
                metrics
                    .fast_pass_seconds
                    .observe(started.elapsed().as_secs_f64());
                throughput.record_fast_pass(pixels, started.elapsed());
                Ok(image)
            }
            Ok(Err(error)) => Err(engine_failure(error)),
            Err(panic) => Err(crash("the fast network", panic)),
        }
    }
}
