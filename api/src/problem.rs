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

/// How an error is answered: its status, its problem type's short name (the last part
/// of its `type` URI) and its title, together.
struct Answer {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
}

const fn answer(status: StatusCode, slug: &'static str, title: &'static str) -> Answer {
    Answer {
        status,
        slug,
        title,
    }
}

impl ApiError {
    /// The one table of answers.
    fn answer(&self) -> Answer {
        use StatusCode as S;
        match self {
            ApiError::BadRequest(_) => answer(S::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::InvalidParameter { .. } => {
                answer(S::BAD_REQUEST, "invalid-parameter", "Invalid parameter")
            }
            ApiError::InvalidImage { error, .. } => match error {
                ImageError::UnsupportedFormat(_) => answer(
                    S::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-image-format",
                    "Invalid image",
                ),
                ImageError::TooManyBytes { .. } => {
                    answer(S::PAYLOAD_TOO_LARGE, "image-too-large", "Invalid image")
                }
                ImageError::BadDimensions { .. } => answer(
                    S::UNPROCESSABLE_ENTITY,
                    "bad-image-dimensions",
                    "Invalid image",
                ),
                _ => answer(S::UNPROCESSABLE_ENTITY, "invalid-image", "Invalid image"),
            },
            ApiError::UrlRefused { .. } => {
                answer(S::UNPROCESSABLE_ENTITY, "url-refused", "URL refused")
            }
            ApiError::UrlFailed { .. } => answer(
                S::UNPROCESSABLE_ENTITY,
                "url-fetch-failed",
                "URL fetch failed",
            ),
            ApiError::PayloadTooLarge { .. } | ApiError::PartTooLarge { .. } => answer(
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::BodyTimeout { .. } => {
                answer(S::REQUEST_TIMEOUT, "request-timeout", "Request timeout")
            }
            ApiError::IdempotencyKeyReused { .. } => answer(
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            ),
            ApiError::Unauthorized(_) => answer(S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::TooManyRequests { .. } => answer(
                S::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            ApiError::CrossSite(_) => answer(
                S::FORBIDDEN,
                "cross-site-refused",
                "Cross-site request refused",
            ),
            ApiError::Forbidden(_) => answer(S::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => answer(S::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => answer(
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::NotReady(_) => answer(S::CONFLICT, "not-ready", "Not ready"),
            ApiError::NoImage { image, .. } => match image {
                JobImage::Result => answer(S::GONE, "no-result", "No result"),
                JobImage::Preview => answer(S::GONE, "no-preview", "No preview"),
            },
            ApiError::AlreadyFinished(_) => {
                answer(S::CONFLICT, "already-finished", "Job already finished")
            }
            ApiError::Conflict(_) => answer(S::CONFLICT, "conflict", "Conflict"),
            ApiError::JobDeleted { .. } => answer(S::GONE, "job-deleted", "Job deleted"),
            ApiError::Unavailable(_) => {
                answer(S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable")
            }
            ApiError::Starting(_) => answer(S::SERVICE_UNAVAILABLE, "starting", "Not ready"),
            ApiError::Internal(_) => answer(S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            ApiError::Http(status) => {
                let title = status.canonical_reason().unwrap_or("HTTP error");
                answer(*status, "http", title)
            }
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
        self.answer().status
    }

    fn error_response(&self) -> HttpResponse {
        let Answer {
            status,
            slug,
            title,
        } = self.answer();
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
            kind: format!("urn:stylize:problem:{slug}"),
            title,
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

    #[test]
    fn each_error_answers_its_status_slug_and_title_together() {
        let cases = [
            (
                ApiError::BadRequest("x".into()),
                400,
                "bad-request",
                "Bad request",
            ),
            (
                ApiError::InvalidImage {
                    field: "content".into(),
                    error: ImageError::UnsupportedFormat(Some("Gif".into())),
                },
                415,
                "unsupported-image-format",
                "Invalid image",
            ),
            (
                ApiError::NoImage {
                    image: JobImage::Preview,
                    state: JobState::Failed,
                },
                410,
                "no-preview",
                "No preview",
            ),
            (
                ApiError::Starting("Redis".into()),
                503,
                "starting",
                "Not ready",
            ),
            (
                ApiError::Http(StatusCode::URI_TOO_LONG),
                414,
                "http",
                "URI Too Long",
            ),
        ];
        for (error, status, slug, title) in cases {
            let answer = error.answer();
            assert_eq!(
                (answer.status.as_u16(), answer.slug, answer.title),
                (status, slug, title),
                "{error}"
            );
            assert_eq!(error.status_code().as_u16(), status);
        }
    }
}
