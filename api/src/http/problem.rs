//! Every error the api answers, in one place, as RFC 9457 problem details:
//! `{"type", "title", "status", "detail", "field"?}` with `application/problem+json`.
//! Each service's own error, the refusals they share, and HTTP's own (a form that is not
//! one, a body too large or too slow, a method a resource does not take) are each told
//! as one [`Kind`] of problem, and one table answers each kind.

use crate::services::access::AccessError;
use crate::services::cancel::CancelError;
use crate::services::deletion::DeleteError;
use crate::services::error::{
    BadImage, Credential, InvalidParameter, JobDeleted, NotFound, Outage, OverLimit, UrlRefused,
};
use crate::services::event_stream::StreamError;
use crate::services::fetch::FetchError;
use crate::services::job_images::{JobImage, NoPicture};
use crate::services::listing::ListError;
use crate::services::readiness::Starting;
use crate::services::secrets::SecretError;
use crate::services::signing::WebhookError;
use crate::services::submission::SubmitError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use stylize_core::images::ImageError;

/// The media type of every error answer.
pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Cancel(#[from] CancelError),
    #[error(transparent)]
    Delete(#[from] DeleteError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Picture(#[from] NoPicture),
    #[error(transparent)]
    Starting(#[from] Starting),
    /// The shared refusals, where a route or the reading of a request meets them.
    #[error(transparent)]
    Parameter(#[from] InvalidParameter),
    #[error(transparent)]
    Unauthenticated(#[from] Credential),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Outage(#[from] Outage),
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

/// What kind of problem an error is, with what its answer needs beyond the detail.
#[derive(Debug, PartialEq)]
enum Kind<'a> {
    BadRequest,
    InvalidParameter {
        field: &'a str,
    },
    InvalidImage {
        field: &'a str,
        error: &'a ImageError,
    },
    UrlRefused {
        field: &'a str,
    },
    UrlFailed {
        field: &'a str,
    },
    IdempotencyKeyReused,
    Unauthorized,
    TooManyRequests {
        retry_after_seconds: u64,
    },
    Forbidden,
    NotFound,
    NotReady,
    NoImage(JobImage),
    AlreadyFinished,
    Conflict,
    JobDeleted,
    Unavailable,
    Starting,
    Internal,
    PayloadTooLarge {
        field: Option<&'a str>,
    },
    RequestTimeout,
    CrossSite,
    MethodNotAllowed {
        allowed: &'a str,
    },
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

impl Kind<'_> {
    /// The one table of answers.
    fn answer(&self) -> Answer {
        use Kind as K;
        use StatusCode as S;
        match self {
            K::BadRequest => answer(S::BAD_REQUEST, "bad-request", "Bad request"),
            K::InvalidParameter { .. } => {
                answer(S::BAD_REQUEST, "invalid-parameter", "Invalid parameter")
            }
            K::InvalidImage { error, .. } => match error {
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
            K::UrlRefused { .. } => answer(S::UNPROCESSABLE_ENTITY, "url-refused", "URL refused"),
            K::UrlFailed { .. } => answer(
                S::UNPROCESSABLE_ENTITY,
                "url-fetch-failed",
                "URL fetch failed",
            ),
            K::IdempotencyKeyReused => answer(
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            ),
            K::Unauthorized => answer(S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            K::TooManyRequests { .. } => answer(
                S::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            K::Forbidden => answer(S::FORBIDDEN, "forbidden", "Forbidden"),
            K::NotFound => answer(S::NOT_FOUND, "not-found", "Not found"),
            K::NotReady => answer(S::CONFLICT, "not-ready", "Not ready"),
            K::NoImage(JobImage::Result) => answer(S::GONE, "no-result", "No result"),
            K::NoImage(JobImage::Preview) => answer(S::GONE, "no-preview", "No preview"),
            K::AlreadyFinished => answer(S::CONFLICT, "already-finished", "Job already finished"),
            K::Conflict => answer(S::CONFLICT, "conflict", "Conflict"),
            K::JobDeleted => answer(S::GONE, "job-deleted", "Job deleted"),
            K::Unavailable => answer(S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            K::Starting => answer(S::SERVICE_UNAVAILABLE, "starting", "Not ready"),
            K::Internal => answer(S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            K::PayloadTooLarge { .. } => answer(
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            K::RequestTimeout => answer(S::REQUEST_TIMEOUT, "request-timeout", "Request timeout"),
            K::CrossSite => answer(
                S::FORBIDDEN,
                "cross-site-refused",
                "Cross-site request refused",
            ),
            K::MethodNotAllowed { .. } => answer(
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            K::Http(status) => {
                let title = status.canonical_reason().unwrap_or("HTTP error");
                answer(*status, "http", title)
            }
        }
    }

    /// The header an answer carries beside its body.
    fn header(&self) -> Option<(header::HeaderName, String)> {
        match self {
            Kind::Unavailable | Kind::Starting => Some((header::RETRY_AFTER, "5".into())),
            Kind::TooManyRequests {
                retry_after_seconds,
            } => Some((header::RETRY_AFTER, retry_after_seconds.to_string())),
            Kind::Unauthorized => Some((header::WWW_AUTHENTICATE, "Bearer".into())),
            Kind::MethodNotAllowed { allowed } => Some((header::ALLOW, allowed.to_string())),
            _ => None,
        }
    }

    /// The form field or parameter the problem is in.
    fn field(&self) -> Option<&str> {
        match *self {
            Kind::InvalidParameter { field }
            | Kind::InvalidImage { field, .. }
            | Kind::UrlRefused { field }
            | Kind::UrlFailed { field } => Some(field),
            Kind::PayloadTooLarge { field } => field,
            _ => None,
        }
    }
}

impl<'a> From<&'a Outage> for Kind<'a> {
    fn from(outage: &'a Outage) -> Self {
        match outage {
            Outage::Unavailable(_) => Kind::Unavailable,
            Outage::Internal(_) => Kind::Internal,
        }
    }
}

impl<'a> From<&'a InvalidParameter> for Kind<'a> {
    fn from(invalid: &'a InvalidParameter) -> Self {
        Kind::InvalidParameter {
            field: &invalid.field,
        }
    }
}

impl<'a> From<&'a BadImage> for Kind<'a> {
    fn from(bad: &'a BadImage) -> Self {
        Kind::InvalidImage {
            field: &bad.field,
            error: &bad.error,
        }
    }
}

impl<'a> From<&'a UrlRefused> for Kind<'a> {
    fn from(refused: &'a UrlRefused) -> Self {
        Kind::UrlRefused {
            field: &refused.field,
        }
    }
}

impl<'a> From<&'a OverLimit> for Kind<'a> {
    fn from(over: &'a OverLimit) -> Self {
        Kind::TooManyRequests {
            retry_after_seconds: over.retry_after_seconds,
        }
    }
}

impl From<&JobDeleted> for Kind<'_> {
    fn from(_: &JobDeleted) -> Self {
        Kind::JobDeleted
    }
}

impl<'a> From<&'a FetchError> for Kind<'a> {
    fn from(error: &'a FetchError) -> Self {
        match error {
            FetchError::Refused(refused) => refused.into(),
            FetchError::Failed { field, .. } => Kind::UrlFailed { field },
            FetchError::Image(bad) => bad.into(),
        }
    }
}

impl<'a> From<&'a WebhookError> for Kind<'a> {
    fn from(error: &'a WebhookError) -> Self {
        match error {
            WebhookError::EventsWithoutUrl => Kind::BadRequest,
            WebhookError::Invalid(invalid) => invalid.into(),
            WebhookError::Refused(refused) => refused.into(),
        }
    }
}

impl<'a> From<&'a SubmitError> for Kind<'a> {
    fn from(error: &'a SubmitError) -> Self {
        match error {
            SubmitError::Malformed(_) => Kind::BadRequest,
            SubmitError::Parameter(invalid) => invalid.into(),
            SubmitError::Image(bad) => bad.into(),
            SubmitError::Fetch(error) => error.into(),
            SubmitError::Webhook(error) => error.into(),
            SubmitError::IdempotencyKeyReused { .. } => Kind::IdempotencyKeyReused,
            SubmitError::Deleted(deleted) => deleted.into(),
            SubmitError::OverQuota(over) => over.into(),
            SubmitError::Outage(outage) => outage.into(),
        }
    }
}

impl<'a> From<&'a AccessError> for Kind<'a> {
    fn from(error: &'a AccessError) -> Self {
        match error {
            AccessError::Unauthenticated(_) => Kind::Unauthorized,
            AccessError::OverLimit(over) => over.into(),
            AccessError::NotFound(_) => Kind::NotFound,
            AccessError::Deleted(deleted) => deleted.into(),
            AccessError::Outage(outage) => outage.into(),
        }
    }
}

impl ApiError {
    /// What kind of problem this is.
    fn kind(&self) -> Kind<'_> {
        match self {
            ApiError::Submit(error) => error.into(),
            ApiError::Access(error) => error.into(),
            ApiError::Cancel(error) => match error {
                CancelError::AlreadyFinished(_) => Kind::AlreadyFinished,
                CancelError::Deleted(deleted) => deleted.into(),
                CancelError::Outage(outage) => outage.into(),
            },
            ApiError::Delete(error) => match error {
                DeleteError::NotFound(_) => Kind::NotFound,
                DeleteError::Deleted(deleted) => deleted.into(),
                DeleteError::Outage(outage) => outage.into(),
            },
            ApiError::Secret(error) => match error {
                SecretError::Unauthenticated(_) => Kind::Unauthorized,
                SecretError::Visitor => Kind::Forbidden,
                SecretError::NoOperatorSecret => Kind::NotFound,
                SecretError::OperatorRotatesInSettings => Kind::Conflict,
                SecretError::Outage(outage) => outage.into(),
            },
            ApiError::List(error) => match error {
                ListError::Parameter(invalid) => invalid.into(),
                ListError::Outage(outage) => outage.into(),
            },
            ApiError::Stream(error) => match error {
                StreamError::Full(over) => over.into(),
                StreamError::Outage(outage) => outage.into(),
            },
            ApiError::Picture(error) => match error {
                NoPicture::NotReady(_) => Kind::NotReady,
                NoPicture::Never { image, .. } => Kind::NoImage(*image),
                NoPicture::Outage(outage) => outage.into(),
            },
            ApiError::Starting(_) => Kind::Starting,
            ApiError::Parameter(invalid) => invalid.into(),
            ApiError::Unauthenticated(_) => Kind::Unauthorized,
            ApiError::NotFound(_) => Kind::NotFound,
            ApiError::Outage(outage) => outage.into(),
            ApiError::BadRequest(_) => Kind::BadRequest,
            ApiError::PayloadTooLarge { .. } => Kind::PayloadTooLarge { field: None },
            ApiError::PartTooLarge { field, .. } => Kind::PayloadTooLarge { field: Some(field) },
            ApiError::BodyTimeout { .. } => Kind::RequestTimeout,
            ApiError::CrossSite(_) => Kind::CrossSite,
            ApiError::MethodNotAllowed { allowed, .. } => Kind::MethodNotAllowed { allowed },
            ApiError::Http(status) => Kind::Http(*status),
        }
    }

    /// The detail, with how to present a key where one is missing.
    fn detail(&self) -> String {
        match self {
            ApiError::Access(AccessError::Unauthenticated(Credential::KeyRequired))
            | ApiError::Unauthenticated(Credential::KeyRequired) => {
                format!("{self}: Authorization: Bearer KEY")
            }
            _ => self.to_string(),
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
        self.kind().answer().status
    }

    fn error_response(&self) -> HttpResponse {
        let kind = self.kind();
        let Answer {
            status,
            slug,
            title,
        } = kind.answer();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        if let Some(header) = kind.header() {
            response.insert_header(header);
        }
        response.content_type(CONTENT_TYPE).json(Problem {
            kind: format!("urn:stylize:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            field: kind.field(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_core::job::JobState;

    #[test]
    fn each_error_answers_its_status_slug_and_title_together() {
        let cases: [(ApiError, _, _, _); 6] = [
            (
                ApiError::BadRequest("x".into()),
                400,
                "bad-request",
                "Bad request",
            ),
            (
                SubmitError::Image(BadImage {
                    field: "content".into(),
                    error: ImageError::UnsupportedFormat(Some("Gif".into())),
                })
                .into(),
                415,
                "unsupported-image-format",
                "Invalid image",
            ),
            (
                SubmitError::Fetch(FetchError::Failed {
                    field: "style_url[0]".into(),
                    reason: "no answer".into(),
                })
                .into(),
                422,
                "url-fetch-failed",
                "URL fetch failed",
            ),
            (
                NoPicture::Never {
                    image: JobImage::Preview,
                    state: JobState::Failed,
                }
                .into(),
                410,
                "no-preview",
                "No preview",
            ),
            (
                Starting("Redis".into()).into(),
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
            let answer = error.kind().answer();
            assert_eq!(
                (answer.status.as_u16(), answer.slug, answer.title),
                (status, slug, title),
                "{error}"
            );
            assert_eq!(error.status_code().as_u16(), status);
        }
    }

    #[test]
    fn each_service_tells_the_shared_refusals_alike() {
        let deleted = || JobDeleted {
            job: uuid::Uuid::nil(),
            at: chrono::Utc::now(),
            by: stylize_shared::retention::DeletedBy::Owner,
        };
        let down = || Outage::Unavailable("the database");
        let errors: [ApiError; 4] = [
            SubmitError::Deleted(deleted()).into(),
            AccessError::Deleted(deleted()).into(),
            CancelError::Deleted(deleted()).into(),
            DeleteError::Deleted(deleted()).into(),
        ];
        for error in &errors {
            assert_eq!(error.kind(), Kind::JobDeleted, "{error:?}");
        }
        let errors: [ApiError; 4] = [
            ListError::Outage(down()).into(),
            StreamError::Outage(down()).into(),
            SecretError::Outage(down()).into(),
            NoPicture::Outage(down()).into(),
        ];
        for error in &errors {
            assert_eq!(error.kind(), Kind::Unavailable, "{error:?}");
            assert_eq!(
                error.kind().header(),
                Some((header::RETRY_AFTER, "5".to_string()))
            );
        }
    }

    #[test]
    fn a_missing_key_is_answered_with_how_to_send_one() {
        let missing = ApiError::from(AccessError::from(Credential::KeyRequired));
        assert_eq!(
            missing.detail(),
            "an API key is required: Authorization: Bearer KEY"
        );
        assert_eq!(
            missing.kind().header(),
            Some((header::WWW_AUTHENTICATE, "Bearer".to_string()))
        );
    }
}
