//! Every error the api answers, in one place, as RFC 9457 problem details:
//! `{"type", "title", "status", "detail", "field"?}` with `application/problem+json`.
//! The services' refusals ([`ServiceError`]) and HTTP's own (a form that is not one, a
//! body too large or too slow, a method a resource does not take) share one table.

use crate::services::error::{Credential, JobImage, ServiceError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use stylize_core::images::ImageError;

/// The media type of every error answer.
pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The request is not well-formed HTTP for its route: a form that is not one, a
    /// header or a JSON body that does not parse.
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the form field {field:?} is larger than {limit} bytes")]
    PartTooLarge { field: String, limit: usize },
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout { seconds: u64 },
    #[error("{0}")]
    CrossSite(String),
    #[error("{method} is not a method this resource takes; it takes {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    /// An error actix answered on its own, put in the problem shape.
    #[error("{}", .0.canonical_reason().unwrap_or("the request failed"))]
    Http(StatusCode),
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

/// The one table of answers to the services' refusals.
fn service_answer(error: &ServiceError) -> Answer {
    use ServiceError as E;
    use StatusCode as S;
    match error {
        E::Malformed(_) => answer(S::BAD_REQUEST, "bad-request", "Bad request"),
        E::InvalidParameter { .. } => {
            answer(S::BAD_REQUEST, "invalid-parameter", "Invalid parameter")
        }
        E::InvalidImage { error, .. } => match error {
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
        E::UrlRefused { .. } => answer(S::UNPROCESSABLE_ENTITY, "url-refused", "URL refused"),
        E::UrlFailed { .. } => answer(
            S::UNPROCESSABLE_ENTITY,
            "url-fetch-failed",
            "URL fetch failed",
        ),
        E::IdempotencyKeyReused { .. } => answer(
            S::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
        ),
        E::Unauthenticated(_) => answer(S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
        E::OverLimit { .. } => answer(
            S::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
        ),
        E::Forbidden(_) => answer(S::FORBIDDEN, "forbidden", "Forbidden"),
        E::NotFound(_) => answer(S::NOT_FOUND, "not-found", "Not found"),
        E::NotReady(_) => answer(S::CONFLICT, "not-ready", "Not ready"),
        E::NoImage { image, .. } => match image {
            JobImage::Result => answer(S::GONE, "no-result", "No result"),
            JobImage::Preview => answer(S::GONE, "no-preview", "No preview"),
        },
        E::AlreadyFinished(_) => answer(S::CONFLICT, "already-finished", "Job already finished"),
        E::Conflict(_) => answer(S::CONFLICT, "conflict", "Conflict"),
        E::JobDeleted { .. } => answer(S::GONE, "job-deleted", "Job deleted"),
        E::Unavailable(_) => answer(S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
        E::Starting(_) => answer(S::SERVICE_UNAVAILABLE, "starting", "Not ready"),
        E::Internal(_) => answer(S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
    }
}

impl ApiError {
    /// The one table of answers, HTTP's own beside the services'.
    fn answer(&self) -> Answer {
        use StatusCode as S;
        match self {
            ApiError::Service(error) => service_answer(error),
            ApiError::BadRequest(_) => answer(S::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::PayloadTooLarge { .. } | ApiError::PartTooLarge { .. } => answer(
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::BodyTimeout { .. } => {
                answer(S::REQUEST_TIMEOUT, "request-timeout", "Request timeout")
            }
            ApiError::CrossSite(_) => answer(
                S::FORBIDDEN,
                "cross-site-refused",
                "Cross-site request refused",
            ),
            ApiError::MethodNotAllowed { .. } => answer(
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Http(status) => {
                let title = status.canonical_reason().unwrap_or("HTTP error");
                answer(*status, "http", title)
            }
        }
    }

    /// The headers an answer carries beside its body.
    fn headers(&self) -> Option<(header::HeaderName, String)> {
        match self {
            ApiError::Service(ServiceError::Unavailable(_) | ServiceError::Starting(_)) => {
                Some((header::RETRY_AFTER, "5".into()))
            }
            ApiError::Service(ServiceError::OverLimit {
                retry_after_seconds,
                ..
            }) => Some((header::RETRY_AFTER, retry_after_seconds.to_string())),
            ApiError::Service(ServiceError::Unauthenticated(_)) => {
                Some((header::WWW_AUTHENTICATE, "Bearer".into()))
            }
            ApiError::MethodNotAllowed { allowed, .. } => Some((header::ALLOW, allowed.clone())),
            _ => None,
        }
    }

    /// The detail, with how to present a key where one is missing.
    fn detail(&self) -> String {
        match self {
            ApiError::Service(ServiceError::Unauthenticated(Credential::KeyRequired)) => {
                format!("{self}: Authorization: Bearer KEY")
            }
            _ => self.to_string(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Service(
                ServiceError::InvalidParameter { field, .. }
                | ServiceError::InvalidImage { field, .. }
                | ServiceError::UrlRefused { field, .. }
                | ServiceError::UrlFailed { field, .. },
            )
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
        if let Some(header) = self.headers() {
            response.insert_header(header);
        }
        response.content_type(CONTENT_TYPE).json(Problem {
            kind: format!("urn:stylize:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            field: self.field(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_core::job::JobState;

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
                ServiceError::InvalidImage {
                    field: "content".into(),
                    error: ImageError::UnsupportedFormat(Some("Gif".into())),
                }
                .into(),
                415,
                "unsupported-image-format",
                "Invalid image",
            ),
            (
                ServiceError::NoImage {
                    image: JobImage::Preview,
                    state: JobState::Failed,
                }
                .into(),
                410,
                "no-preview",
                "No preview",
            ),
            (
                ServiceError::Starting("Redis".into()).into(),
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

    #[test]
    fn a_missing_key_is_answered_with_how_to_send_one() {
        let missing = ApiError::from(ServiceError::Unauthenticated(Credential::KeyRequired));
        assert_eq!(
            missing.detail(),
            "an API key is required: Authorization: Bearer KEY"
        );
        assert_eq!(
            missing.headers(),
            Some((header::WWW_AUTHENTICATE, "Bearer".to_string()))
        );
    }
}
