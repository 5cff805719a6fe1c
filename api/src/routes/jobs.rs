//! `/v1/jobs`: submit, inspect, follow, cancel, and fetch results.

use crate::http::answers::{self, JobId, JobProblems, KeyedProblems};
use crate::http::auth::VisibleJob;
use crate::http::form::read_submission;
use crate::http::headers::{idempotency_key, preferred_wait};
use crate::http::problem::ApiError;
use crate::http::query;
use crate::http::routing::{get, resource};
use crate::services::access::{Caller, Gate};
use crate::services::error::Outage;
use crate::services::job_images::{self, JobImage};
use crate::services::state::AppState;
use crate::services::submission::{self, Submitted};
use crate::services::{cancel, deletion, event_stream, listing, position, waiting};
use crate::view::JobView;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use stylize_shared::storage::Object;
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
                .route(web::delete().to(delete)),
        )
        .service(resource("/v1/jobs/{id}/cancel").route(web::post().to(cancel)))
        .service(resource("/v1/jobs/{id}/events").route(get().to(events)))
        .service(resource("/v1/jobs/{id}/result").route(get().to(result)))
        .service(resource("/v1/jobs/{id}/preview").route(get().to(preview)));
}

/// `POST /v1/jobs`: the headers and the form read here, within their limits; the rest
/// is [`submission::submit`]'s.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", summary = "Submits a job",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,200}$",
            description = "1 to 200 visible ASCII characters: the same key and request again \
            answer the first job (200)"),
        ("Prefer" = Option<String>, Header, nullable = false, description = "`wait=N` (1 to 60): answer when \
            the job ends (201) or N seconds pass (202); other preferences are ignored \
            (RFC 7240)"),
    ),
    // The form's schema is `answers::submission_form`, put in by `openapi::Document`.
    request_body(content = Object, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Queued", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 201, description = "Ended within `Prefer: wait`", body = JobView),
        (status = 200, description = "The job this Idempotency-Key made", body = JobView),
        (status = 400, response = answers::BadRequest),
        (status = 403, response = answers::CrossSite),
        (status = 408, response = answers::BodyTimeout),
        (status = 410, response = answers::Gone),
        (status = 413, response = answers::PayloadTooLarge),
        (status = 415, response = answers::UnsupportedImage),
        (status = 422, response = answers::Unprocessable),
        (status = 429, response = answers::TooManyRequests),
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
    let wait = preferred_wait(&request)?;
    let declared_length = request
        .headers()
        .get("Content-Length")
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > state.max_body_bytes) {
        return Err(ApiError::PayloadTooLarge {
            limit: state.max_body_bytes,
        });
    }
    caller.admit_submission(&Gate::of(&state)).await?;
    // The body's room among all bodies held at once, taken before a byte is read and
    // held until the answer: a flood of uploads waits here, in the sockets' buffers.
    let room = state
        .uploads
        .reserve(declared_length.unwrap_or(state.max_body_bytes))
        .await
        .ok_or(Outage::Unavailable("room for another upload"))?;
    // However slowly the body comes, the request ends by this deadline.
    let submission = tokio::time::timeout(
        state.submission_read,
        read_submission(
            multipart,
            state.max_body_bytes,
            state.max_form_parts,
            state.image_limits.max_bytes,
        ),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout {
        seconds: state.submission_read.as_secs(),
    })??;
    let submitted =
        submission::submit(&state, &caller, idempotency_key.as_deref(), submission).await?;
    // The body is stored: its room goes to the next, whatever the answer waits for.
    drop(room);
    let (status, row) = match (submitted, wait) {
        (Submitted::Created(row), Some(wait)) => {
            let row =
                waiting::until_ended(&state.backends.pool, &state.live, row, arrived + wait).await;
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
    let queue = position::place(&state.backends.pool, &state.queue_view, &row).await;
    Ok(response.json(JobView::new(&row, None).in_queue(queue)))
}

/// A job shows its live progress while it runs, and its last once it has succeeded.
/// The job, with its live progress while it runs and its place while queued.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(JobId),
    responses((status = 200, description = "The job", body = JobView), JobProblems))]
async fn show(
    VisibleJob { row, .. }: VisibleJob,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Redis may be down or the snapshot expired: the row still answers.
    let progress = if listing::shows_progress(row.state()) {
        state.backends.progress.get(row.id).await.ok().flatten()
    } else {
        None
    };
    let queue = position::place(&state.backends.pool, &state.queue_view, &row).await;
    Ok(HttpResponse::Ok().json(JobView::new(&row, progress).in_queue(queue)))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", summary = "Cancels a job",
    params(JobId), responses(
    (status = 202, description = "Canceled, or (running) to be stopped", body = JobView),
    (status = 403, response = answers::CrossSite),
    (status = 409, response = answers::Conflict),
    JobProblems,
))]
async fn cancel(
    VisibleJob { row, .. }: VisibleJob,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let row =
        cancel::cancel_job(&state.backends.pool, &cancel::Announcer::of(&state), &row).await?;
    Ok(HttpResponse::Accepted().json(JobView::new(&row, None)))
}

/// The query of `GET /v1/jobs`, for the OpenAPI document: [`list`] reads it with
/// `http::query`, which names a parameter it does not take.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "only its parameters' schema is used")]
struct ListQuery {
    /// Jobs a page (1 to 100; 20 unless given).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The last job of the previous page (its `next` link says so).
    after: Option<Uuid>,
}

/// The caller's jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery), responses(
    (status = 200, description = "A page of jobs", body = crate::view::JobList),
    (status = 400, response = answers::BadRequest),
    KeyedProblems,
))]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut query = query::parameters(request.query_string(), &["limit", "after"])?;
    let limit = listing::page_limit(query.remove("limit").as_deref())?;
    let page = listing::page(
        &state.backends,
        &caller,
        limit,
        query.remove("after").as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /v1/jobs/{id}/events`: a `state` event with the job now, `progress` events as the
/// worker publishes them, a `state` event at each change of state; the stream ends after
/// a terminal state, or after `limits.event_stream_seconds` (the client reconnects, as
/// `retry` tells it). Events come from the api's one Redis subscription; the row is read
/// only when the job's state changes (or events were missed while Redis was away).
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", params(JobId),
    responses((status = 200, response = answers::EventStream),
        (status = 429, response = answers::TooManyRequests), JobProblems))]
async fn events(
    VisibleJob { caller, row }: VisibleJob,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let stream = event_stream::follow(event_stream::Sources::of(&state), &caller, row).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

/// `object` sent as it is read from the store.
fn picture(object: Object, content_type: &str) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, max-age=60"));
    let length = object.length;
    let chunks = object.chunks();
    match length {
        Some(length) => response.body(actix_web::body::SizedStream::new(length, chunks)),
        None => response.streaming(chunks),
    }
}

/// The finished picture.
#[utoipa::path(get, path = "/v1/jobs/{id}/result", tag = "jobs", params(JobId), responses(
    (status = 200, response = answers::PngImage),
    (status = 409, response = answers::Conflict),
    JobProblems,
))]
async fn result(
    VisibleJob { row, .. }: VisibleJob,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let object = job_images::open(&state.backends.storage, &row, JobImage::Result).await?;
    Ok(picture(object, "image/png"))
}

/// The latest preview, in whatever state the job is: a failed or canceled job's shows
/// how far it got.
#[utoipa::path(get, path = "/v1/jobs/{id}/preview", tag = "jobs", params(JobId), responses(
    (status = 200, response = answers::JpegImage),
    (status = 409, response = answers::Conflict),
    JobProblems,
))]
async fn preview(
    VisibleJob { row, .. }: VisibleJob,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let object = job_images::open(&state.backends.storage, &row, JobImage::Preview).await?;
    Ok(picture(object, "image/jpeg"))
}

/// `DELETE /v1/jobs/{id}`: `204` once the job is canceled (if it was queued or
/// running), its images are gone and its row is a tombstone; then every route of it is
/// `410`. Another key's job is `404`, as for every job route.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", params(JobId), responses(
    (status = 204, description = "Deleted"),
    (status = 403, response = answers::CrossSite),
    JobProblems,
))]
async fn delete(
    VisibleJob { row, .. }: VisibleJob,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    deletion::delete_job(&state.backends, &cancel::Announcer::of(&state), &row).await?;
    Ok(HttpResponse::NoContent().finish())
}
