//! `/v1/jobs`: submit, inspect, follow, cancel, and fetch results.

use crate::auth::Caller;
use crate::problem::{database, ApiError};
use crate::AppState;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use stylize_shared::db::{self, JobRow, NewJob};
use stylize_shared::images::{self, fit_longest};
use stylize_shared::job::{keys, JobState};
use stylize_shared::params::{Init, StyleParams};
use stylize_shared::progress::LiveProgress;
use stylize_shared::queue::JobMessage;
use uuid::Uuid;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/v1/jobs", web::post().to(create))
        .route("/v1/jobs", web::get().to(list))
        .route("/v1/jobs/{id}", web::get().to(show))
        .route("/v1/jobs/{id}/cancel", web::post().to(cancel))
        .route("/v1/jobs/{id}/events", web::get().to(events))
        .route("/v1/jobs/{id}/result", web::get().to(result))
        .route("/v1/jobs/{id}/preview", web::get().to(preview));
}

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The parts of a submission, read and checked before anything is stored.
#[derive(Default)]
struct Submission {
    content: Option<Vec<u8>>,
    content_url: Option<String>,
    styles: Vec<Vec<u8>>,
    style_urls: Vec<String>,
    presets: Vec<String>,
    params: Option<StyleParams>,
}

async fn read_part(
    field: &mut actix_multipart::Field,
    budget: &mut usize,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
        if chunk.len() > *budget {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        *budget -= chunk.len();
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A text field's value, trimmed.
fn text(field: &str, bytes: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(bytes)
        .map(|text| text.trim().to_owned())
        .map_err(|_| ApiError::BadRequest(format!("the form field {field:?} is text")))
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
        let bytes = read_part(&mut field, &mut budget, limit).await?;
        match name.as_str() {
            "content" if submission.content.is_some() => {
                return Err(ApiError::BadRequest("send one content image".into()))
            }
            "content" => submission.content = Some(bytes),
            "content_url" if submission.content_url.is_some() => {
                return Err(ApiError::BadRequest("send one content_url".into()))
            }
            "content_url" => submission.content_url = Some(text(&name, bytes)?),
            "style" => submission.styles.push(bytes),
            "style_url" => submission.style_urls.push(text(&name, bytes)?),
            "preset" => submission.presets.push(text(&name, bytes)?),
            "params" => {
                let mut json = serde_json::Deserializer::from_slice(&bytes);
                let params = serde_path_to_error::deserialize(&mut json).map_err(|e| {
                    let path = e.path().to_string();
                    ApiError::InvalidParameter {
                        field: if path == "." {
                            "params".into()
                        } else {
                            format!("params.{path}")
                        },
                        message: e.into_inner().to_string(),
                    }
                })?;
                // One JSON object and nothing after it.
                json.end().map_err(|e| ApiError::InvalidParameter {
                    field: "params".into(),
                    message: e.to_string(),
                })?;
                submission.params = Some(params);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown form field {other:?}; expected content, content_url, style, \
                     style_url, preset or params"
                )))
            }
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
    let idempotency_key = match request.headers().get("Idempotency-Key") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Some(key.to_owned()),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                )))
            }
        },
    };
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
    let submission = read_submission(multipart, state.max_body_bytes).await?;
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
    let params = submission.params.unwrap_or_default();
    if params.init == Init::Image {
        return Err(ApiError::InvalidParameter {
            field: "params.init".into(),
            message: "\"image\" needs an initial image, which the API does not take; use \"content\" or \"noise\"".into(),
        });
    }
    for preset in &submission.presets {
        if state.catalogue.get(preset).is_none() {
            return Err(ApiError::InvalidParameter {
                field: "preset".into(),
                message: format!("unknown preset {preset:?}; GET /v1/styles lists them"),
            });
        }
    }

    // Images by URL join the uploads, after every cheaper check has passed.
    let content = match (submission.content, &submission.content_url) {
        (Some(bytes), _) => Received {
            field: "content".into(),
            bytes,
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
        .map(|(i, bytes)| Received {
            field: format!("style[{i}]"),
            bytes,
        })
        .collect();
    for (i, url) in submission.style_urls.iter().enumerate() {
        let field = format!("style_url[{i}]");
        let bytes = state.fetcher.fetch(&field, url).await?;
        styles.push(Received { field, bytes });
    }
    let sizes = {
        let state = state.clone();
        let uploads = Uploads { content, styles };
        web::block(move || measure(&state, uploads))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??
    };
    let (uploads, content_size) = (sizes.uploads, sizes.content);
    let mut style_sizes = sizes.styles;
    for preset in &submission.presets {
        style_sizes.push(state.catalogue.get(preset).expect("checked above").size);
    }
    params.validate(style_sizes.len())?;
    params.check_image_sizes(content_size, &style_sizes)?;

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
            owner: caller.0,
        },
    )
    .await
    .map_err(database)?;
    if !created {
        // A retried submission: answer with the first job, queue nothing new.
        return Ok(HttpResponse::Ok().json(JobView::new(&row, None)));
    }
    if let Err(error) = state.queue.publish(&JobMessage::new(id)).await {
        // Not accepted: the caller hears 503 and may retry with the same idempotency
        // key, so nothing of this submission stays behind.
        tracing::error!(%error, job = %id, "publishing; withdrawing the submission");
        if let Err(error) = db::delete_job(&state.pool, id).await {
            tracing::error!(%error, job = %id, "withdrawing; the reaper will queue it");
        }
        for key in std::iter::once(keys::content(&job))
            .chain((0..style_count).map(|i| keys::style(&job, i)))
        {
            let _ = storage.delete(&key).await;
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
        .insert_header(("Location", format!("/v1/jobs/{id}")))
        .json(JobView::new(&row, None)))
}

/// The job, if `caller` may see it: another key's job is as absent as a job that never
/// was.
async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<JobRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("job {id:?}"));
    let id: Uuid = id.parse().map_err(|_| not_found())?;
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
        Some(row) => Ok(HttpResponse::Accepted().json(JobView::new(&row, None))),
        None => Err(ApiError::AlreadyFinished(
            find(&state, &caller, &id).await?.state(),
        )),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<Uuid>,
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
    let rows = db::list_jobs(&state.pool, caller.0, limit, query.after)
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

/// What a client following a job has been told so far.
struct Follow {
    state: web::Data<AppState>,
    id: Uuid,
    last: JobState,
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
                    Some(progress) => return Some((Ok(sse("progress", &progress)), Some(follow))),
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

async fn image(state: &AppState, key: &str, content_type: &str) -> Result<HttpResponse, ApiError> {
    match state.storage.get(key).await {
        Ok(Some(bytes)) => Ok(HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Cache-Control", "private, max-age=60"))
            .body(bytes)),
        Ok(None) => Err(ApiError::Internal(format!("{key} is missing from storage"))),
        Err(error) => {
            tracing::error!(%error, "reading an image");
            Err(ApiError::Unavailable("storage"))
        }
    }
}

async fn result(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    if row.state() != JobState::Succeeded {
        return Err(ApiError::NotReady(row.state()));
    }
    image(&state, &keys::result(&row.id.to_string()), "image/png").await
}

async fn preview(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    let has_preview = state
        .progress
        .get(row.id)
        .await
        .ok()
        .flatten()
        .is_some_and(|p| p.preview_iteration.is_some());
    if !has_preview {
        return Err(ApiError::NotReady(row.state()));
    }
    image(&state, &keys::preview(&row.id.to_string()), "image/jpeg").await
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    result: String,
    preview: String,
}

#[derive(Serialize)]
struct ProgressView {
    iteration: u32,
    total: u32,
    fraction: f64,
    loss: stylize_shared::progress::LossSnapshot,
    elapsed_seconds: f64,
    eta_seconds: Option<f64>,
}

#[derive(Serialize)]
pub(crate) struct JobView {
    id: Uuid,
    state: JobState,
    params: StyleParams,
    width: i32,
    height: i32,
    presets: Vec<String>,
    progress: Option<ProgressView>,
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
            progress: progress.map(|p| ProgressView {
                fraction: p.fraction(),
                iteration: p.iteration,
                total: p.total,
                loss: p.loss,
                elapsed_seconds: p.elapsed_seconds,
                eta_seconds: p.eta_seconds,
            }),
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
