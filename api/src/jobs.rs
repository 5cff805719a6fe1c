//! `/v1/jobs`: submit, inspect, follow, cancel, and fetch results.

use crate::auth::Caller;
use crate::edge::get;
use crate::problem::{database, echo, ApiError, JobImage};
use crate::AppState;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use stylize_shared::db::{self, JobRow, NewJob};
use stylize_shared::images::{self, fit_longest};
use stylize_shared::job::{keys, JobState};
use stylize_shared::memory;
use stylize_shared::params::{Init, StyleParams, MAX_STYLES};
use stylize_shared::progress::LiveProgress;
use stylize_shared::queue::JobMessage;
use stylize_shared::storage::Storage;
use uuid::Uuid;

/// One resource per path, so that a method a path does not take is a 405 naming those
/// it does.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/v1/jobs")
                .route(web::post().to(create))
                .route(get().to(list)),
        )
        .service(web::resource("/v1/jobs/{id}").route(get().to(show)))
        .service(web::resource("/v1/jobs/{id}/cancel").route(web::post().to(cancel)))
        .service(web::resource("/v1/jobs/{id}/events").route(get().to(events)))
        .service(web::resource("/v1/jobs/{id}/result").route(get().to(result)))
        .service(web::resource("/v1/jobs/{id}/preview").route(get().to(preview)));
}

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key` header, if sent: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII
/// characters (no spaces, tabs or control characters).
fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len())
                && key.bytes().all(|byte| byte.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters, \
             without spaces"
        ))),
    }
}

/// The parts of a submission, read and checked before anything is stored.
#[derive(Default)]
struct Submission {
    content: Option<Part>,
    content_url: Option<String>,
    styles: Vec<Part>,
    style_urls: Vec<String>,
    presets: Vec<String>,
    params: Option<StyleParams>,
}

impl Submission {
    /// Style images asked for, from every field that gives one.
    fn style_count(&self) -> usize {
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
        hash.finalize().to_vec()
    }
}

/// One form part's bytes and their SHA-256, hashed as they arrive.
struct Part {
    bytes: Vec<u8>,
    digest: [u8; 32],
}

async fn read_part(
    field: &mut actix_multipart::Field,
    budget: &mut usize,
    limit: usize,
) -> Result<Part, ApiError> {
    let mut bytes = Vec::new();
    let mut digest = Sha256::new();
    while let Some(chunk) = field.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
        if chunk.len() > *budget {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        *budget -= chunk.len();
        digest.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    Ok(Part {
        bytes,
        digest: digest.finalize().into(),
    })
}

/// A text field's value, trimmed.
fn text(field: &str, bytes: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(bytes)
        .map(|text| text.trim().to_owned())
        .map_err(|_| ApiError::BadRequest(format!("the form field {field:?} is text")))
}

/// Refuses a part by its name alone, before any of its bytes are read: an unknown
/// field, a second `content`, `content_url` or `params`, a style past [`MAX_STYLES`].
fn admit_part(submission: &Submission, name: &str) -> Result<(), ApiError> {
    let once = |present: bool| {
        if present {
            Err(ApiError::BadRequest(format!("send one {name:?} field")))
        } else {
            Ok(())
        }
    };
    match name {
        "content" => once(submission.content.is_some()),
        "content_url" => once(submission.content_url.is_some()),
        "params" => once(submission.params.is_some()),
        "style" | "style_url" | "preset" if submission.style_count() == MAX_STYLES => {
            Err(ApiError::InvalidParameter {
                field: name.into(),
                message: format!(
                    "at most {MAX_STYLES} style images (style, style_url and preset fields \
                     together)"
                ),
            })
        }
        "style" | "style_url" | "preset" => Ok(()),
        other => Err(ApiError::BadRequest(format!(
            "unknown form field {:?}; expected content, content_url, style, style_url, \
             preset or params",
            echo(other)
        ))),
    }
}

async fn read_submission(mut multipart: Multipart, limit: usize) -> Result<Submission, ApiError> {
    let mut submission = Submission::default();
    let mut budget = limit;
    while let Some(mut field) = multipart
        .try_next()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        admit_part(&submission, &name)?;
        let part = read_part(&mut field, &mut budget, limit).await?;
        match name.as_str() {
            "content" => submission.content = Some(part),
            "content_url" => submission.content_url = Some(text(&name, part.bytes)?),
            "style" => submission.styles.push(part),
            "style_url" => submission.style_urls.push(text(&name, part.bytes)?),
            "preset" => submission.presets.push(text(&name, part.bytes)?),
            "params" => submission.params = Some(StyleParams::from_json(&part.bytes)?),
            _ => unreachable!("admit_part lets only these through"),
        }
    }
    Ok(submission)
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

fn decode(image: &Received, state: &AppState) -> Result<(u32, u32), ApiError> {
    images::decode(&image.bytes, &state.image_limits)
        .map(|decoded| decoded.dimensions())
        .map_err(|error| ApiError::InvalidImage {
            field: image.field.clone(),
            error,
        })
}

/// Decodes every upload fully (a truncated file fails here, not in the worker). CPU
/// work: callers run it off the async threads.
fn measure(state: &AppState, uploads: Uploads) -> Result<Measured, ApiError> {
    let content = decode(&uploads.content, state)?;
    let styles = uploads
        .styles
        .iter()
        .map(|style| decode(style, state))
        .collect::<Result<_, _>>()?;
    Ok(Measured {
        uploads,
        content,
        styles,
    })
}

async fn create(
    request: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    let idempotency_key = idempotency_key(&request)?;
    let declared_length = request
        .headers()
        .get("Content-Length")
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > state.max_body_bytes) {
        return Err(ApiError::PayloadTooLarge {
            limit: state.max_body_bytes,
        });
    }
    caller.admit_submission(&state).await?;
    // However slowly the body comes, the request ends by this deadline.
    let mut submission = tokio::time::timeout(
        state.submission_read,
        read_submission(multipart, state.max_body_bytes),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout {
        seconds: state.submission_read.as_secs(),
    })??;
    if submission.content.is_some() && submission.content_url.is_some() {
        return Err(ApiError::BadRequest(
            "send the content image as a file (content) or a URL (content_url), not both".into(),
        ));
    }
    if submission.content.is_none() && submission.content_url.is_none() {
        return Err(ApiError::BadRequest(
            "the content image (form field \"content\" or \"content_url\") is missing".into(),
        ));
    }
    let params = submission.params.take().unwrap_or_default();
    let request_hash = submission.request_hash(&params);
    // A retry is answered before anything is fetched or stored.
    if let Some(key) = &idempotency_key {
        if let Some(first) = db::find_by_idempotency_key(&state.pool, caller.0, key)
            .await
            .map_err(database)?
        {
            return replay(&first, &request_hash);
        }
    }
    if params.init == Init::Image {
        return Err(ApiError::InvalidParameter {
            field: "params.init".into(),
            message: "\"image\" needs an initial image, which the API does not take; use \"content\" or \"noise\"".into(),
        });
    }
    params.validate(submission.style_count())?;
    if state.device_memory_bytes > 0 {
        memory::fit(&params, state.device_memory_bytes).map_err(|too_large| {
            ApiError::InvalidParameter {
                field: "params.size".into(),
                message: format!("{too_large}: no worker of this deployment can take it"),
            }
        })?;
    }
    for (i, preset) in submission.presets.iter().enumerate() {
        if state.catalogue.get(preset).is_none() {
            return Err(ApiError::InvalidParameter {
                field: format!("preset[{i}]"),
                message: format!(
                    "unknown preset {:?}; GET /v1/styles lists them",
                    echo(preset)
                ),
            });
        }
    }

    // Images by URL join the uploads, after every cheaper check has passed.
    let content = match (submission.content, &submission.content_url) {
        (Some(part), _) => Received {
            field: "content".into(),
            bytes: part.bytes,
        },
        (None, Some(url)) => Received {
            field: "content_url".into(),
            bytes: state.fetcher.fetch("content_url", url).await?,
        },
        (None, None) => unreachable!("checked above"),
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
    let sizes = {
        let _turn = state
            .decodes
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let state = state.clone();
        let uploads = Uploads { content, styles };
        web::block(move || measure(&state, uploads))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??
    };
    let (uploads, content_size) = (sizes.uploads, sizes.content);
    // Too small for these parameters is a 422 like every other size an image has wrong.
    let misfit = |field: &str| {
        let field = field.to_owned();
        move |error| ApiError::InvalidImage { field, error }
    };
    params
        .check_content_size(content_size)
        .map_err(misfit(&uploads.content.field))?;
    for (style, size) in uploads.styles.iter().zip(sizes.styles) {
        params
            .check_style_size(size)
            .map_err(misfit(&style.field))?;
    }
    for (i, preset) in submission.presets.iter().enumerate() {
        let size = state.catalogue.get(preset).expect("checked above").size;
        params
            .check_style_size(size)
            .map_err(misfit(&format!("preset[{i}]")))?;
    }

    let id = Uuid::new_v4();
    let job = id.to_string();
    let (width, height) = fit_longest(content_size.0, content_size.1, params.size);
    // Uploaded styles first, then presets: the worker reads them in this order.
    let mut style_names: Vec<String> = vec![String::new(); uploads.styles.len()];
    style_names.extend(submission.presets.iter().cloned());

    let storage = &state.storage;
    let unavailable = |e: stylize_shared::storage::StorageError| {
        tracing::error!(error = %e, "storing inputs");
        ApiError::Unavailable("storage")
    };
    storage
        .put(
            &keys::content(&job),
            uploads.content.bytes,
            "application/octet-stream",
        )
        .await
        .map_err(unavailable)?;
    let style_count = uploads.styles.len();
    for (i, style) in uploads.styles.into_iter().enumerate() {
        storage
            .put(
                &keys::style(&job, i),
                style.bytes,
                "application/octet-stream",
            )
            .await
            .map_err(unavailable)?;
    }

    let (row, created) = db::insert_job(
        &state.pool,
        &NewJob {
            id,
            params: &params,
            style_count: style_names.len(),
            presets: &style_names,
            width,
            height,
            idempotency_key: idempotency_key.as_deref(),
            request_hash: &request_hash,
            owner: caller.0,
        },
    )
    .await
    .map_err(database)?;
    if !created {
        // The same key's first submission won a race with this one: keep none of it.
        delete_inputs(storage, &job, style_count).await;
        return replay(&row, &request_hash);
    }
    if let Err(error) = state.queue.publish(&JobMessage::new(id)).await {
        // Not accepted: the caller hears 503 and may retry with the same idempotency
        // key, so nothing of this submission stays behind.
        tracing::error!(%error, job = %id, "publishing; withdrawing the submission");
        match db::delete_job(&state.pool, id).await {
            Ok(_) => delete_inputs(storage, &job, style_count).await,
            // The row stays, so its inputs do: the reaper queues the job, and a retry
            // with the same key finds it.
            Err(error) => {
                tracing::error!(%error, job = %id, "withdrawing; the reaper will queue it")
            }
        }
        return Err(ApiError::Unavailable("the job queue"));
    }
    // Unmarked, a worker's reaper publishes the job again later: harmless, since a
    // second message for a job that is no longer queued is dropped at claim.
    if let Err(error) = db::mark_published(&state.pool, id).await {
        tracing::warn!(%error, job = %id, "marking the job published");
    }
    tracing::info!(job = %id, "queued");
    Ok(HttpResponse::Accepted()
        .insert_header(location(id))
        .json(JobView::new(&row, None)))
}

fn location(id: Uuid) -> (&'static str, String) {
    ("Location", format!("/v1/jobs/{id}"))
}

/// The answer to a submission whose idempotency key already made `first`: the first
/// job again for the same request, `422` for a different one.
fn replay(first: &JobRow, request_hash: &[u8]) -> Result<HttpResponse, ApiError> {
    // Jobs from before request hashes were kept have none: taken as the same.
    if first
        .request_hash
        .as_deref()
        .is_some_and(|hash| hash != request_hash)
    {
        return Err(ApiError::IdempotencyKeyReused { job: first.id });
    }
    Ok(HttpResponse::Ok()
        .insert_header(location(first.id))
        .json(JobView::new(first, None)))
}

/// Deletes the inputs stored for `job`, whose submission is not kept (best effort: an
/// input left behind costs storage, not correctness).
async fn delete_inputs(storage: &Storage, job: &str, uploaded_styles: usize) {
    let stored = (0..uploaded_styles).map(|i| keys::style(job, i));
    for key in std::iter::once(keys::content(job)).chain(stored) {
        if let Err(error) = storage.delete(&key).await {
            tracing::warn!(%error, "deleting an input of a submission not kept");
        }
    }
}

/// A job id as the api writes it, hyphenated and lower-case: the one spelling that
/// addresses a job, so each job has one URL (`Uuid` also reads upper-case, simple,
/// braced and URN forms).
fn parse_job_id(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

/// The job, if `caller` may see it: another key's job is as absent as a job that never
/// was.
async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<JobRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("job {:?}", echo(id)));
    let id = parse_job_id(id).ok_or_else(not_found)?;
    db::get_job(&state.pool, id)
        .await
        .map_err(database)?
        .filter(|row| caller.may_see(row.owner))
        .ok_or_else(not_found)
}

async fn show(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    // Redis may be down or the snapshot expired: the row still answers.
    let progress = match row.state() {
        JobState::Running | JobState::Succeeded => state.progress.get(row.id).await.ok().flatten(),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(JobView::new(&row, progress)))
}

async fn cancel(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    match db::request_cancel(&state.pool, row.id)
        .await
        .map_err(database)?
    {
        Some(row) => {
            if row.state() == JobState::Running {
                // The worker stops at once when told; else at its next heartbeat.
                if let Err(error) = state.progress.announce_cancel(row.id).await {
                    tracing::warn!(%error, job = %row.id, "announcing a cancel");
                }
            }
            Ok(HttpResponse::Accepted().json(JobView::new(&row, None)))
        }
        None => Err(ApiError::AlreadyFinished(
            find(&state, &caller, &id).await?.state(),
        )),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

const MAX_PAGE: u32 = 100;

async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidParameter {
            field: "limit".into(),
            message: format!("must be between 1 and {MAX_PAGE}, got {limit}"),
        });
    }
    // After a job the caller cannot see, a page would be empty, as if the list ended.
    let after = match &query.after {
        None => None,
        Some(id) => match find(&state, &caller, id).await {
            Ok(row) => Some(row.id),
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::InvalidParameter {
                    field: "after".into(),
                    message: format!("no job {:?} to list after", echo(id)),
                })
            }
            Err(error) => return Err(error),
        },
    };
    let rows = db::list_jobs(&state.pool, caller.0, limit, after)
        .await
        .map_err(database)?;
    let next = (rows.len() == limit as usize)
        .then(|| {
            rows.last()
                .map(|row| format!("/v1/jobs?limit={limit}&after={}", row.id))
        })
        .flatten();
    let jobs: Vec<JobView> = rows.iter().map(|row| JobView::new(row, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "jobs": jobs, "next": next })))
}

/// One server-sent event.
fn sse(event: &str, data: &impl Serialize) -> web::Bytes {
    let json = serde_json::to_string(data).expect("views serialise");
    web::Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// How far a run has got: its iteration, then the preview it has stored (step 0 comes
/// twice, as the fast pass starts and once its picture is stored as the first preview).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Step(u32, Option<u32>);

impl Step {
    fn of(progress: &LiveProgress) -> Step {
        Step(progress.iteration, progress.preview_iteration)
    }
}

/// What a client following a job has been told so far.
struct Follow {
    state: web::Data<AppState>,
    id: Uuid,
    last: JobState,
    /// The step the client last saw, in a `state` or `progress` event: what a run
    /// published before it (the snapshot read with a state is often published again
    /// just after) is not told again. A job back in the queue starts over.
    told: Option<Step>,
    first: Option<web::Bytes>,
    /// The job's progress channel; `None` while Redis is away (subscribed again at the
    /// next tick, so progress resumes when it is back).
    live: Option<futures_util::stream::BoxStream<'static, LiveProgress>>,
    tick: tokio::time::Interval,
}

/// The next snapshot from `live`; pending forever when there is no subscription.
async fn next_progress(
    live: &mut Option<futures_util::stream::BoxStream<'static, LiveProgress>>,
) -> Option<LiveProgress> {
    match live {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// `GET /v1/jobs/{id}/events`: a `state` event with the job now, `progress` events as the
/// worker publishes them, a `state` event at each change of state; the stream ends after
/// a terminal state. States come from PostgreSQL, so the stream outlives a Redis outage.
async fn events(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    let live = state.progress.subscribe(row.id).await.ok();
    let progress = state.progress.get(row.id).await.ok().flatten();
    let follow = Follow {
        id: row.id,
        last: row.state(),
        told: progress
            .as_ref()
            .filter(|_| row.state() != JobState::Queued)
            .map(Step::of),
        first: Some(sse("state", &JobView::new(&row, progress))),
        live,
        tick: tokio::time::interval(std::time::Duration::from_millis(500)),
        state: state.clone(),
    };
    let stream = futures_util::stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        if let Some(first) = follow.first.take() {
            let done = follow.last.is_terminal();
            return Some((Ok::<_, ApiError>(first), (!done).then_some(follow)));
        }
        loop {
            tokio::select! {
                progress = next_progress(&mut follow.live) => match progress {
                    Some(progress) if follow.told >= Some(Step::of(&progress)) => {}
                    Some(progress) => {
                        follow.told = Some(Step::of(&progress));
                        return Some((Ok(sse("progress", &progress)), Some(follow)));
                    }
                    None => follow.live = None,
                },
                _ = follow.tick.tick() => {
                    if follow.live.is_none() {
                        follow.live = follow.state.progress.subscribe(follow.id).await.ok();
                    }
                    let Ok(Some(row)) = db::get_job(&follow.state.pool, follow.id).await else {
                        continue;
                    };
                    if row.state() != follow.last {
                        follow.last = row.state();
                        let progress = follow.state.progress.get(follow.id).await.ok().flatten();
                        follow.told = progress
                            .as_ref()
                            .filter(|_| follow.last != JobState::Queued)
                            .map(Step::of);
                        let event = sse("state", &JobView::new(&row, progress));
                        let done = follow.last.is_terminal();
                        return Some((Ok(event), (!done).then_some(follow)));
                    }
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

/// The job's stored image, if it has one.
async fn stored_image(state: &AppState, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
    state.storage.get(key).await.map_err(|error| {
        tracing::error!(%error, "reading an image");
        ApiError::Unavailable("storage")
    })
}

fn image(bytes: Vec<u8>, content_type: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, max-age=60"))
        .body(bytes)
}

/// `409` while the job may still make one; `410` once it has ended without.
fn no_image(image: JobImage, state: JobState) -> ApiError {
    if state.is_terminal() {
        ApiError::NoImage { image, state }
    } else {
        ApiError::NotReady(state)
    }
}

async fn result(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    if row.state() != JobState::Succeeded {
        return Err(no_image(JobImage::Result, row.state()));
    }
    let key = keys::result(&row.id.to_string());
    match stored_image(&state, &key).await? {
        Some(bytes) => Ok(image(bytes, "image/png")),
        None => Err(ApiError::Internal(format!("{key} is missing from storage"))),
    }
}

/// The latest preview, in whatever state the job is: a failed or canceled job's shows
/// how far it got.
async fn preview(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    match stored_image(&state, &keys::preview(&row.id.to_string())).await? {
        Some(bytes) => Ok(image(bytes, "image/jpeg")),
        None => Err(no_image(JobImage::Preview, row.state())),
    }
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    result: String,
    preview: String,
}

#[derive(Serialize)]
pub(crate) struct JobView {
    id: Uuid,
    state: JobState,
    params: StyleParams,
    width: i32,
    height: i32,
    presets: Vec<String>,
    /// As the worker publishes it, and as `progress` events carry it.
    progress: Option<LiveProgress>,
    /// A cancel was accepted; a running job shows it until its worker has stopped it.
    cancel_requested: bool,
    error: Option<String>,
    attempts: i32,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    links: Links,
}

impl JobView {
    fn new(row: &JobRow, progress: Option<LiveProgress>) -> Self {
        let base = format!("/v1/jobs/{}", row.id);
        JobView {
            id: row.id,
            state: row.state(),
            params: row.params.0.clone(),
            width: row.width,
            height: row.height,
            presets: row
                .presets
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect(),
            progress,
            cancel_requested: row.cancel_requested,
            error: row.error.clone(),
            attempts: row.attempts,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            links: Links {
                result: format!("{base}/result"),
                preview: format!("{base}/preview"),
                this: base,
            },
        }
    }
}
