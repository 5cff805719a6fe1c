//! Every error the api answers, in one place, as RFC 9457 problem details:
//! `{"type", "title", "status", "detail", "field"?}` with `application/problem+json`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::borrow::Cow;
use stylize_core::images::ImageError;
use stylize_core::job::JobState;
use stylize_core::params::ParamError;
use stylize_shared::retention::DeletedBy;

/// The media type of every error answer.
pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    InvalidParameter { field: String, message: String },
    #[error("{field}: {error}")]
    InvalidImage { field: String, error: ImageError },
    #[error("{field}: the URL is not fetched: {reason}")]
    UrlRefused { field: String, reason: String },
    #[error("{field}: could not fetch the URL: {reason}")]
    UrlFailed { field: String, reason: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the form field {field:?} is larger than {limit} bytes")]
    PartTooLarge { field: String, limit: usize },
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout { seconds: u64 },
    #[error("this Idempotency-Key already made job {job} from a different request; use a new key")]
    IdempotencyKeyReused { job: uuid::Uuid },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    #[error("{0}")]
    CrossSite(String),
    /// Known, but not allowed this.
    #[error("{0}")]
    Forbidden(String),
    #[error("no {0} here")]
    NotFound(String),
    #[error("{method} is not a method this resource takes; it takes {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("the job is {0}; the image is not ready")]
    NotReady(JobState),
    #[error("the job is {state} and has no {image}; it never will")]
    NoImage { image: JobImage, state: JobState },
    #[error("the job is already {0}")]
    AlreadyFinished(JobState),
    /// The request does not fit how the api is set up.
    #[error("{0}")]
    Conflict(String),
    #[error(
        "job {job} was deleted at {} {by}; nothing of it is kept",
        .at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )]
    JobDeleted {
        job: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
        by: DeletedBy,
    },
    #[error("{0} is unavailable; try again shortly")]
    Unavailable(&'static str),
    /// The api is up, and still waits at start-up for the services named.
    #[error("starting: waiting for {0}")]
    Starting(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// An error actix answered on its own, put in the problem shape.
    #[error("{}", .0.canonical_reason().unwrap_or("the request failed"))]
    Http(StatusCode),
}

/// The images a job may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobImage {
    Result,
    Preview,
}

impl std::fmt::Display for JobImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobImage::Result => "result",
            JobImage::Preview => "preview",
        })
    }
}

/// The longest piece of a client's input repeated in an error, and the longest message
/// of a parser (which may quote the input) passed on.
const MAX_ECHO: usize = 64;
const MAX_PARSER_MESSAGE: usize = 160;
const MAX_PARAM_MESSAGE: usize = 400;

/// `input` as errors repeat it: at most [`MAX_ECHO`] characters, then an ellipsis, so a
/// huge field name or id does not come back whole.
pub fn echo(input: &str) -> Cow<'_, str> {
    cut(input, MAX_ECHO)
}

/// A parser's message, which may quote the input, cut like [`echo`] but longer.
pub fn parser_message(error: &impl std::fmt::Display) -> String {
    cut(&error.to_string(), MAX_PARSER_MESSAGE).into_owned()
}

fn cut(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// A database error, logged, as the client sees it.
pub fn database(error: sqlx::Error) -> ApiError {
    tracing::error!(%error, "database");
    ApiError::Unavailable("the database")
}

impl From<ParamError> for ApiError {
    /// Both parts may quote the request (an unknown key, a layer's name): cut short, with
    /// room left in the message for the valid values it lists.
    fn from(error: ParamError) -> Self {
        ApiError::InvalidParameter {
            field: echo(&error.field).into_owned(),
            message: cut(&error.message, MAX_PARAM_MESSAGE).into_owned(),
        }
    }
}

impl ApiError {
    /// The problem type's short name, the last part of its `type` URI.
    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::InvalidParameter { .. } => "invalid-parameter",
            ApiError::InvalidImage { error, .. } => match error {
                ImageError::UnsupportedFormat(_) => "unsupported-image-format",
                ImageError::TooManyBytes { .. } => "image-too-large",
                ImageError::BadDimensions { .. } => "bad-image-dimensions",
                _ => "invalid-image",
            },
            ApiError::UrlRefused { .. } => "url-refused",
            ApiError::UrlFailed { .. } => "url-fetch-failed",
            ApiError::PayloadTooLarge { .. } | ApiError::PartTooLarge { .. } => "payload-too-large",
            ApiError::BodyTimeout { .. } => "request-timeout",
            ApiError::IdempotencyKeyReused { .. } => "idempotency-key-reused",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::CrossSite(_) => "cross-site-refused",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::NotReady(_) => "not-ready",
            ApiError::NoImage { image, .. } => match image {
                JobImage::Result => "no-result",
                JobImage::Preview => "no-preview",
            },
            ApiError::AlreadyFinished(_) => "already-finished",
            ApiError::Conflict(_) => "conflict",
            ApiError::JobDeleted { .. } => "job-deleted",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Starting(_) => "starting",
            ApiError::Internal(_) => "internal",
            ApiError::Http(_) => "http",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::InvalidParameter { .. } => "Invalid parameter",
            ApiError::InvalidImage { .. } => "Invalid image",
            ApiError::UrlRefused { .. } => "URL refused",
            ApiError::UrlFailed { .. } => "URL fetch failed",
            ApiError::PayloadTooLarge { .. } | ApiError::PartTooLarge { .. } => "Payload too large",
            ApiError::BodyTimeout { .. } => "Request timeout",
            ApiError::IdempotencyKeyReused { .. } => "Idempotency key reused",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::CrossSite(_) => "Cross-site request refused",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::NotReady(_) => "Not ready",
            ApiError::NoImage { image, .. } => match image {
                JobImage::Result => "No result",
                JobImage::Preview => "No preview",
            },
            ApiError::AlreadyFinished(_) => "Job already finished",
            ApiError::Conflict(_) => "Conflict",
            ApiError::JobDeleted { .. } => "Job deleted",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Starting(_) => "Not ready",
            ApiError::Internal(_) => "Internal error",
            ApiError::Http(status) => status.canonical_reason().unwrap_or("HTTP error"),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidParameter { field, .. }
            | ApiError::InvalidImage { field, .. }
            | ApiError::UrlRefused { field, .. }
            | ApiError::UrlFailed { field, .. }
            | ApiError::PartTooLarge { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// An error, as RFC 9457 problem details.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidImage { error, .. } => match error {
                ImageError::UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ImageError::TooManyBytes { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            ApiError::UrlRefused { .. } | ApiError::UrlFailed { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PayloadTooLarge { .. } | ApiError::PartTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::IdempotencyKeyReused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::CrossSite(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotReady(_) | ApiError::AlreadyFinished(_) | ApiError::Conflict(_) => {
                StatusCode::CONFLICT
            }
            ApiError::NoImage { .. } | ApiError::JobDeleted { .. } => StatusCode::GONE,
            ApiError::Unavailable(_) | ApiError::Starting(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Http(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::Unavailable(_) | ApiError::Starting(_) => {
                response.insert_header(("Retry-After", "5"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                response.insert_header(("Retry-After", retry_after.to_string()));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                response.insert_header((header::ALLOW, allowed.as_str()));
            }
            _ => {}
        }
        response.content_type(CONTENT_TYPE).json(Problem {
            kind: format!("urn:stylize:problem:{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            field: self.field(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_echoed_cut_short() {
        assert_eq!(echo("starry-night"), "starry-night");
        let long = "é".repeat(1000);
        let echoed = echo(&long);
        assert_eq!(echoed.chars().count(), MAX_ECHO + 1);
        assert!(echoed.ends_with("é…"));
    }
}
