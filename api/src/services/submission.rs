//! Taking a submission: its parameters and images checked, a retry of an earlier one
//! answered, then its inputs stored, its job recorded and queued. `http::form` reads the
//! form into a [`Submission`], and `routes::jobs` answers with what [`submit`] made of
//! it; nothing here knows of HTTP.

use crate::services::access::{gone, Caller, Identity};
use crate::services::error::{
    database, echo, BadImage, InvalidParameter, JobDeleted, Outage, OverLimit,
};
use crate::services::fetch::FetchError;
use crate::services::signing::{self, WebhookError, WebhookFields};
use crate::services::state::AppState;
use sha2::{Digest, Sha256};
use stylize_core::images::{self, fit_longest, ImageLimits};
use stylize_core::job::StyleSource;
use stylize_core::memory;
use stylize_core::params::{Plan, StyleParams};
use stylize_shared::db::{self, Insertion, JobRow, NewJob};
use stylize_shared::queue::JobMessage;
use stylize_shared::storage::{Storage, StorageError};
use stylize_shared::telemetry;
use tracing::Instrument;
use uuid::Uuid;

/// The fields of a submission, as read from its form.
#[derive(Default)]
pub(crate) struct Submission {
    pub content: Option<Part>,
    pub content_url: Option<String>,
    pub styles: Vec<Part>,
    pub style_urls: Vec<String>,
    pub presets: Vec<String>,
    pub params: Option<StyleParams>,
    pub webhook: WebhookFields,
}

/// One form part's bytes and their SHA-256.
pub(crate) struct Part {
    pub bytes: Vec<u8>,
    pub digest: [u8; 32],
}

impl Submission {
    /// Style images asked for, from every field that gives one.
    pub fn style_count(&self) -> usize {
        self.styles.len() + self.style_urls.len() + self.presets.len()
    }

    /// A SHA-256 of what the submission asks for, which tells a retry (same hash) from
    /// another request under the same idempotency key: `params` as stored (so the
    /// JSON's spelling does not count), then each input in order (a file by its
    /// digest, a URL or preset by its text).
    fn request_hash(&self, params: &StyleParams) -> Vec<u8> {
        let mut hash = Sha256::new();
        let mut item = |field: &str, value: &[u8]| {
            for bytes in [field.as_bytes(), value] {
                hash.update((bytes.len() as u64).to_be_bytes());
                hash.update(bytes);
            }
        };
        item(
            "params",
            &serde_json::to_vec(params).expect("params serialise"),
        );
        if let Some(content) = &self.content {
            item("content", &content.digest);
        }
        if let Some(url) = &self.content_url {
            item("content_url", url.as_bytes());
        }
        for style in &self.styles {
            item("style", &style.digest);
        }
        for url in &self.style_urls {
            item("style_url", url.as_bytes());
        }
        for preset in &self.presets {
            item("preset", preset.as_bytes());
        }
        if let Some(url) = &self.webhook.url {
            item("webhook", url.as_bytes());
        }
        for events in &self.webhook.events {
            item("webhook_events", events.as_bytes());
        }
        hash.finalize().to_vec()
    }
}

/// Why a submission was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The request, taken as a whole, does not make sense (two sources of one image, or
    /// none).
    #[error("{0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Parameter(#[from] InvalidParameter),
    #[error(transparent)]
    Image(#[from] BadImage),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("this Idempotency-Key already made job {job} from a different request; use a new key")]
    IdempotencyKeyReused { job: Uuid },
    /// The job this idempotency key made was deleted.
    #[error(transparent)]
    Deleted(#[from] JobDeleted),
    /// Parallel submissions took the owner's last places.
    #[error(transparent)]
    OverQuota(#[from] OverLimit),
    #[error(transparent)]
    Outage(#[from] Outage),
}

/// What became of a submission.
pub(crate) enum Submitted {
    /// A new job, queued.
    Created(JobRow),
    /// The job the idempotency key already made, for this same request.
    Replayed(JobRow),
}

/// Takes `submission` for `caller`: checks it, answers a retry under `idempotency_key`
/// before anything is fetched or stored, then stores the inputs, records the job and
/// queues it. Checks run cheapest first, so the first problem a request has is the one
/// reported.
pub(crate) async fn submit(
    state: &AppState,
    caller: &Caller,
    idempotency_key: Option<&str>,
    mut submission: Submission,
) -> Result<Submitted, SubmitError> {
    let owner = caller.owner();
    if submission.content.is_some() && submission.content_url.is_some() {
        return Err(SubmitError::Malformed(
            "send the content image as a file (content) or a URL (content_url), not both",
        ));
    }
    if submission.content.is_none() && submission.content_url.is_none() {
        return Err(SubmitError::Malformed(
            "the content image (form field \"content\" or \"content_url\") is missing",
        ));
    }
    let params = submission.params.take().unwrap_or_default();
    let request_hash = submission.request_hash(&params);
    if let Some(key) = idempotency_key {
        if let Some(first) = db::find_by_idempotency_key(&state.backends.pool, owner, key)
            .await
            .map_err(database)?
        {
            return replay(first, &request_hash);
        }
    }
    let plan = plan(state, params, &submission)?;
    if submission.webhook.url.is_some() && matches!(caller.identity, Identity::Visitor(_)) {
        return Err(InvalidParameter::new(
            "webhook",
            "a page visitor's jobs send no webhooks; use an API key",
        )
        .into());
    }
    // Whether this api can sign at all is told before the URL's name is resolved.
    if submission.webhook.url.is_some() {
        check_signing_key(state, owner).await?;
    }
    let webhook = std::mem::take(&mut submission.webhook)
        .check(&state.fetcher.guard)
        .await?;
    let presets = std::mem::take(&mut submission.presets);
    let measured = receive(state, submission).await?;
    check_sizes(state, &plan, &measured, &presets)?;

    let id = Uuid::new_v4();
    let job = id.to_string();
    let (width, height) = fit_longest(measured.content.0, measured.content.1, plan.size);
    // Uploads (files, then URLs) first, then presets: the order the blend weights follow.
    let styles: Vec<StyleSource> = measured
        .uploads
        .styles
        .iter()
        .map(|_| StyleSource::Upload)
        .chain(presets.into_iter().map(|id| StyleSource::Preset { id }))
        .collect();
    store_inputs(&state.backends.storage, &job, measured.uploads, &styles).await?;
    // The request's trace, which the job's runs and webhooks join.
    let trace_context = telemetry::traceparent(&tracing::Span::current());

    let insertion = db::insert_job(
        &state.backends.pool,
        &NewJob {
            id,
            params: plan.params(),
            styles: &styles,
            width,
            height,
            idempotency_key,
            request_hash: &request_hash,
            owner,
            webhook: webhook.as_ref().map(|webhook| webhook.url.as_str()),
            webhook_events: webhook.as_ref().map_or(&[][..], |webhook| &webhook.events),
            trace_context: trace_context.as_deref(),
        },
        caller.max_active_jobs(&state.auth),
    )
    .await
    .map_err(database)?;
    let row = match insertion {
        Insertion::Created(row) => row,
        // The same key's first submission won a race with this one: keep none of it.
        Insertion::Existing(first) => {
            delete_inputs(&state.backends.storage, &job, &styles).await;
            return replay(first, &request_hash);
        }
        // Parallel submissions took the owner's last places meanwhile.
        Insertion::OverQuota { active } => {
            delete_inputs(&state.backends.storage, &job, &styles).await;
            return Err(caller.over_quota(active).into());
        }
    };
    if let Err(error) = state.backends.queue.publish(&JobMessage::new(id)).await {
        // Not accepted: the caller hears 503 and may retry with the same idempotency
        // key, so nothing of this submission stays behind.
        tracing::error!(%error, job = %id, "publishing; withdrawing the submission");
        match db::delete_job(&state.backends.pool, id).await {
            Ok(_) => delete_inputs(&state.backends.storage, &job, &styles).await,
            // The row stays, so its inputs do: the reaper queues the job, and a retry
            // with the same key finds it.
            Err(error) => {
                tracing::error!(%error, job = %id, "withdrawing; the reaper will queue it")
            }
        }
        return Err(Outage::Unavailable("the job queue").into());
    }
    // Unmarked, a worker's reaper publishes the job again later: harmless, since a
    // second message for a job that is no longer queued is dropped at claim.
    if let Err(error) = db::mark_published(&state.backends.pool, id).await {
        tracing::warn!(%error, job = %id, "marking the job published");
    }
    tracing::info!(job = %id, "queued");
    Ok(Submitted::Created(row))
}

/// The answer to a submission whose idempotency key already made `first`: the first
/// job again for the same request, `422` for a different one, `410` once it was deleted.
fn replay(first: JobRow, request_hash: &[u8]) -> Result<Submitted, SubmitError> {
    if let Some(gone) = gone(&first) {
        return Err(gone.into());
    }
    // Jobs from before request hashes were kept have none: taken as the same.
    if first
        .request_hash
        .as_deref()
        .is_some_and(|hash| hash != request_hash)
    {
        return Err(SubmitError::IdempotencyKeyReused { job: first.id });
    }
    Ok(Submitted::Replayed(first))
}

/// A job with a webhook needs a key to sign its messages: its API key's (made now if it
/// has none yet), or without keys the operator's.
async fn check_signing_key(state: &AppState, owner: Option<Uuid>) -> Result<(), SubmitError> {
    match signing::signing_key(&state.backends.pool, state.webhook_secret.as_ref(), owner).await? {
        Some(_) => Ok(()),
        None => Err(InvalidParameter::new(
            "webhook",
            "this api signs no webhooks: without API keys, the operator sets webhooks.secret",
        )
        .into()),
    }
}

/// The checks that need no image: the parameters, for this many styles (into their
/// plan) and for the workers' memory, and each preset's id.
fn plan(
    state: &AppState,
    params: StyleParams,
    submission: &Submission,
) -> Result<Plan, InvalidParameter> {
    let plan = Plan::new(params, submission.style_count())?;
    if state.device_memory_bytes > 0 {
        memory::fit(&plan, state.device_memory_bytes).map_err(|too_large| {
            InvalidParameter::new(
                "params.size",
                format!("{too_large}: no worker of this deployment can take it"),
            )
        })?;
    }
    for (i, preset) in submission.presets.iter().enumerate() {
        if state.catalogue.get(preset).is_none() {
            return Err(InvalidParameter::new(
                format!("preset[{i}]"),
                format!(
                    "unknown preset {:?}; GET /v1/styles lists them",
                    echo(preset)
                ),
            ));
        }
    }
    Ok(plan)
}

/// An image's bytes, as received, and the form field that brought them.
struct Received {
    field: String,
    bytes: Vec<u8>,
}

/// The submitted images' bytes, uploaded or fetched.
struct Uploads {
    content: Received,
    styles: Vec<Received>,
}

/// The uploads back, with the size of each image they hold.
struct Measured {
    uploads: Uploads,
    content: (u32, u32),
    styles: Vec<(u32, u32)>,
}

/// The submission's images, each URL's fetched (after every cheaper check has
/// passed), and each decoded in full: a truncated file fails here, not in the worker.
/// Only their sizes are kept (`images::measure`): the worker decodes them again.
async fn receive(state: &AppState, submission: Submission) -> Result<Measured, SubmitError> {
    let content = match (submission.content, &submission.content_url) {
        (Some(part), _) => Received {
            field: "content".into(),
            bytes: part.bytes,
        },
        (None, Some(url)) => Received {
            field: "content_url".into(),
            bytes: state.fetcher.fetch("content_url", url).await?,
        },
        (None, None) => unreachable!("submit checks there is a content image"),
    };
    let mut styles: Vec<Received> = submission
        .styles
        .into_iter()
        .enumerate()
        .map(|(i, part)| Received {
            field: format!("style[{i}]"),
            bytes: part.bytes,
        })
        .collect();
    for (i, url) in submission.style_urls.iter().enumerate() {
        let field = format!("style_url[{i}]");
        let bytes = state.fetcher.fetch(&field, url).await?;
        styles.push(Received { field, bytes });
    }
    let _turn = state
        .decodes
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let limits = state.image_limits;
    let uploads = Uploads { content, styles };
    // CPU work, off the async threads.
    tokio::task::spawn_blocking(move || measure(&limits, uploads))
        .instrument(tracing::info_span!("check images"))
        .await
        .map_err(|e| Outage::Internal(e.to_string()))?
        .map_err(SubmitError::from)
}

/// The image's size, once it has passed every check a worker's decode makes.
fn measure_one(image: &Received, limits: &ImageLimits) -> Result<(u32, u32), BadImage> {
    images::measure(&image.bytes, limits).map_err(|error| BadImage {
        field: image.field.clone(),
        error,
    })
}

fn measure(limits: &ImageLimits, uploads: Uploads) -> Result<Measured, BadImage> {
    let content = measure_one(&uploads.content, limits)?;
    let styles = uploads
        .styles
        .iter()
        .map(|style| measure_one(style, limits))
        .collect::<Result<_, _>>()?;
    Ok(Measured {
        uploads,
        content,
        styles,
    })
}

/// Each image's size against the parameters: too small for them is a 422 like every
/// other size an image has wrong.
fn check_sizes(
    state: &AppState,
    plan: &Plan,
    measured: &Measured,
    presets: &[String],
) -> Result<(), BadImage> {
    let misfit = |field: &str| {
        let field = field.to_owned();
        move |error| BadImage { field, error }
    };
    plan.check_content_size(measured.content)
        .map_err(misfit(&measured.uploads.content.field))?;
    for (style, size) in measured.uploads.styles.iter().zip(&measured.styles) {
        plan.check_style_size(*size).map_err(misfit(&style.field))?;
    }
    for (i, preset) in presets.iter().enumerate() {
        let size = state
            .catalogue
            .get(preset)
            .expect("planning checked every preset")
            .size;
        plan.check_style_size(size)
            .map_err(misfit(&format!("preset[{i}]")))?;
    }
    Ok(())
}

/// Stores the content and each uploaded style under the keys `styles` gives them.
async fn store_inputs(
    storage: &Storage,
    job: &str,
    uploads: Uploads,
    styles: &[StyleSource],
) -> Result<(), Outage> {
    let unavailable = |e: StorageError| {
        tracing::error!(error = %e, "storing inputs");
        Outage::Unavailable("storage")
    };
    let images = std::iter::once(uploads.content).chain(uploads.styles);
    let inputs = StyleSource::input_keys(job, styles).zip(images);
    for (key, image) in inputs {
        storage
            .put(&key, image.bytes, "application/octet-stream")
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Deletes the inputs stored for `job`, whose submission is not kept (best effort: an
/// input left behind costs storage, not correctness).
async fn delete_inputs(storage: &Storage, job: &str, styles: &[StyleSource]) {
    for key in StyleSource::input_keys(job, styles) {
        if let Err(error) = storage.delete(&key).await {
            tracing::warn!(%error, "deleting an input of a submission not kept");
        }
    }
}
