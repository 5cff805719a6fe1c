//! `/v1/jobs`: submit, inspect, follow, cancel, and fetch results.

use crate::auth::Caller;
use crate::deletion;
use crate::edge::{get, resource};
use crate::openapi::{self, JobId, JobProblems, KeyedProblems};
use crate::position;
use crate::problem::{database, echo, ApiError, JobImage};
use crate::submission::{self, Part, Submission, Submitted};
use crate::view::{JobList, JobView};
use crate::waiting;
use crate::AppState;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use stylize_shared::db::{self, JobRow};
use stylize_shared::job::{keys, JobState};
use stylize_shared::params::{StyleParams, MAX_STYLES};
use stylize_shared::progress::LiveProgress;
use uuid::Uuid;

/// One resource per path, so that a method a path does not take is a 405 naming those
/// it does.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/v1/jobs")
                .route(web::post().to(create))
                .route(get().to(list)),
        )
        .service(
            resource("/v1/jobs/{id}")
                .route(get().to(show))
                .route(web::delete().to(deletion::delete)),
        )
        .service(resource("/v1/jobs/{id}/cancel").route(web::post().to(cancel)))
        .service(resource("/v1/jobs/{id}/events").route(get().to(events)))
        .service(resource("/v1/jobs/{id}/result").route(get().to(result)))
        .service(resource("/v1/jobs/{id}/preview").route(get().to(preview)));
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

/// Reads one form part within what is left of the body's `budget`, hashing its bytes
/// as they arrive.
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
        "webhook" => once(submission.webhook.url.is_some()),
        "webhook_events" => Ok(()),
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
             preset, params, webhook or webhook_events",
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
            "webhook" => submission.webhook.url = Some(text(&name, part.bytes)?),
            "webhook_events" => submission.webhook.events.push(text(&name, part.bytes)?),
            _ => unreachable!("admit_part lets only these through"),
        }
    }
    Ok(submission)
}

/// `POST /v1/jobs`: the headers and the form read here, within their limits; the rest
/// is [`submission::submit`]'s.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", summary = "Submits a job",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 200 visible ASCII \
            characters: the same key and request again answer the first job (200)"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (1 to 60): answer when \
            the job ends (201) or N seconds pass (202)"),
    ),
    request_body(content = openapi::SubmissionForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Queued", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 201, description = "Ended within `Prefer: wait`", body = JobView),
        (status = 200, description = "The job this Idempotency-Key made", body = JobView),
        (status = 400, response = openapi::BadRequest),
        (status = 403, response = openapi::CrossSite),
        (status = 408, response = openapi::BodyTimeout),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedImage),
        (status = 422, response = openapi::Unprocessable),
        (status = 429, response = openapi::TooManyRequests),
        KeyedProblems,
    ))]
async fn create(
    request: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    let arrived = tokio::time::Instant::now();
    let idempotency_key = idempotency_key(&request)?;
    let wait = waiting::preferred_wait(&request)?;
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
    let submission = tokio::time::timeout(
        state.submission_read,
        read_submission(multipart, state.max_body_bytes),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout {
        seconds: state.submission_read.as_secs(),
    })??;
    let submitted =
        submission::submit(&state, caller.0, idempotency_key.as_deref(), submission).await?;
    let (status, row) = match (submitted, wait) {
        (Submitted::Created(row), Some(wait)) => {
            let row = waiting::until_ended(&state, row, arrived + wait).await;
            if row.state().is_terminal() {
                (StatusCode::CREATED, row)
            } else {
                (StatusCode::ACCEPTED, row)
            }
        }
        (Submitted::Created(row), None) => (StatusCode::ACCEPTED, row),
        (Submitted::Replayed(first), _) => (StatusCode::OK, first),
    };
    let mut response = HttpResponse::build(status);
    response.insert_header(("Location", format!("/v1/jobs/{}", row.id)));
    // A replay answers at once: the wait was not applied.
    if let Some(wait) = wait.filter(|_| status != StatusCode::OK) {
        response.insert_header(("Preference-Applied", format!("wait={}", wait.as_secs())));
    }
    let queue = position::place(&state, &row).await;
    Ok(response.json(JobView::new(&row, None).in_queue(queue)))
}

/// A job id as the api writes it, hyphenated and lower-case: the one spelling that
/// addresses a job, so each job has one URL (`Uuid` also reads upper-case, simple,
/// braced and URN forms).
fn parse_job_id(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

/// The job, if `caller` may see it (see [`find_row`]); a deleted job is `410 Gone`.
pub(crate) async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<JobRow, ApiError> {
    let row = find_row(state, caller, id).await?;
    match deletion::gone(&row) {
        Some(gone) => Err(gone),
        None => Ok(row),
    }
}

/// The job, deleted or not, if `caller` may see it: another key's job is as absent as a
/// job that never was.
async fn find_row(state: &AppState, caller: &Caller, id: &str) -> Result<JobRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("job {:?}", echo(id)));
    let id = parse_job_id(id).ok_or_else(not_found)?;
    db::get_job(&state.pool, id)
        .await
        .map_err(database)?
        .filter(|row| caller.may_see(row.owner))
        .ok_or_else(not_found)
}

/// The job, with its live progress while it runs and its place while queued.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(JobId),
    responses((status = 200, description = "The job", body = JobView), JobProblems))]
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
    let queue = position::place(&state, &row).await;
    Ok(HttpResponse::Ok().json(JobView::new(&row, progress).in_queue(queue)))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", summary = "Cancels a job",
    params(JobId), responses(
    (status = 202, description = "Canceled, or (running) to be stopped", body = JobView),
    (status = 403, response = openapi::CrossSite),
    (status = 409, response = openapi::Conflict),
    JobProblems,
))]
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
            } else if let Err(error) = state.progress.announce_end(row.id, row.state()).await {
                // Canceled while queued: one waiting for it hears so at once.
                tracing::warn!(%error, job = %row.id, "announcing a cancel's end");
            }
            Ok(HttpResponse::Accepted().json(JobView::new(&row, None)))
        }
        None => Err(ApiError::AlreadyFinished(
            find(&state, &caller, &id).await?.state(),
        )),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Jobs a page (1 to 100; 20 unless given).
    limit: Option<u32>,
    /// The last job of the previous page (its `next` link says so).
    after: Option<String>,
}

const MAX_PAGE: u32 = 100;

/// The caller's jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery), responses(
    (status = 200, description = "A page of jobs", body = JobList),
    (status = 400, response = openapi::BadRequest),
    KeyedProblems,
))]
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
    // After a deleted job, paging goes on from where it was.
    let after = match &query.after {
        None => None,
        Some(id) => match find_row(&state, &caller, id).await {
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
    let jobs = rows.iter().map(|row| JobView::new(row, None)).collect();
    Ok(HttpResponse::Ok().json(JobList { jobs, next }))
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
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", params(JobId),
    responses((status = 200, response = openapi::EventStream), JobProblems))]
async fn events(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &caller, &id).await?;
    let live = state.progress.subscribe(row.id).await.ok();
    let progress = state.progress.get(row.id).await.ok().flatten();
    let queue = position::place(&state, &row).await;
    let follow = Follow {
        id: row.id,
        last: row.state(),
        told: progress
            .as_ref()
            .filter(|_| row.state() != JobState::Queued)
            .map(Step::of),
        first: Some(sse("state", &JobView::new(&row, progress).in_queue(queue))),
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
                        let queue = position::place(&follow.state, &row).await;
                        let event = sse("state", &JobView::new(&row, progress).in_queue(queue));
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

/// The finished picture.
#[utoipa::path(get, path = "/v1/jobs/{id}/result", tag = "jobs", params(JobId), responses(
    (status = 200, response = openapi::PngImage),
    (status = 409, response = openapi::Conflict),
    JobProblems,
))]
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
#[utoipa::path(get, path = "/v1/jobs/{id}/preview", tag = "jobs", params(JobId), responses(
    (status = 200, response = openapi::JpegImage),
    (status = 409, response = openapi::Conflict),
    JobProblems,
))]
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
