//! Every error the api answers, in one place, as RFC 9457 problem details:
//! `{"type", "title", "status", "detail", "field"?}` with `application/problem+json`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use stylize_shared::images::ImageError;
use stylize_shared::job::JobState;
use stylize_shared::params::ParamError;

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
    #[error("{field}: fetching the URL failed: {reason}")]
    UrlFailed { field: String, reason: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    #[error("no {0} here")]
    NotFound(String),
    #[error("the job is {0}; the image is not ready")]
    NotReady(JobState),
    #[error("the job is already {0}")]
    AlreadyFinished(JobState),
    #[error("{0} is unavailable; try again shortly")]
    Unavailable(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A database error, logged, as the client sees it.
pub fn database(error: sqlx::Error) -> ApiError {
    tracing::error!(%error, "database");
    ApiError::Unavailable("the database")
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        ApiError::InvalidParameter {
            field: error.field,
            message: error.message,
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
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::NotFound(_) => "not-found",
            ApiError::NotReady(_) => "not-ready",
            ApiError::AlreadyFinished(_) => "already-finished",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::InvalidParameter { .. } => "Invalid parameter",
            ApiError::InvalidImage { .. } => "Invalid image",
            ApiError::UrlRefused { .. } => "URL refused",
            ApiError::UrlFailed { .. } => "URL fetch failed",
            ApiError::PayloadTooLarge { .. } => "Payload too large",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::NotFound(_) => "Not found",
            ApiError::NotReady(_) => "Not ready",
            ApiError::AlreadyFinished(_) => "Job already finished",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidParameter { field, .. }
            | ApiError::InvalidImage { field, .. }
            | ApiError::UrlRefused { field, .. }
            | ApiError::UrlFailed { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
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
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotReady(_) | ApiError::AlreadyFinished(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::Unavailable(_) => {
                response.insert_header(("Retry-After", "5"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                response.insert_header(("Retry-After", retry_after.to_string()));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            _ => {}
        }
        response
            .content_type("application/problem+json")
            .json(Problem {
                kind: format!("urn:stylize:problem:{}", self.slug()),
                title: self.title(),
                status: status.as_u16(),
                detail: self.to_string(),
                field: self.field(),
            })
    }
}
