//! A job's inputs: its content and style images fetched from storage and decoded (each
//! preset painting with a hash of its bytes), and the retries that carry a storage call
//! over S3's blips, which storing the result uses too.

use crate::run_end::RunEnd;
use image::RgbImage;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use stylize_core::images::{self, ImageLimits};
use stylize_core::job::keys;
use stylize_shared::backoff::Backoff;
use stylize_shared::db::JobRow;
use stylize_shared::storage::{Storage, StorageError};

/// A job's decoded images. Each preset style carries a hash of its bytes, under which
/// its style vector is cached.
pub(crate) struct JobImages {
    pub(crate) content: RgbImage,
    pub(crate) styles: Vec<RgbImage>,
    pub(crate) preset_hashes: Vec<Option<String>>,
}

/// Runs a storage call until it succeeds or `patience` has passed: S3 has its blips,
/// and a job should not spend an attempt on each (`worker.storage_retry_seconds`).
/// (Callers hold the job's lease meanwhile, renewing it.)
pub(crate) async fn with_storage_retries<T, F, Fut>(
    patience: Duration,
    mut call: F,
) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    let deadline = Instant::now() + patience;
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

/// The decoded content and style images of `job`, or why it cannot run.
#[tracing::instrument(name = "fetch inputs", skip_all)]
pub(crate) async fn fetch(
    storage: &Storage,
    limits: ImageLimits,
    patience: Duration,
    job: &JobRow,
) -> Result<JobImages, RunEnd> {
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
        let bytes = match with_storage_retries(patience, || storage.get(&key)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(RunEnd::Failed(format!("input {key} is missing"))),
            Err(error) => return Err(RunEnd::Retry(error.to_string())),
        };
        // Hashed rather than named: a preset imported again under its name may be
        // another picture.
        preset_hashes.push(preset.then(|| format!("{:x}", Sha256::digest(&bytes))));
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
