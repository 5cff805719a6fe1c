//! What a service refuses or fails with, in the domain's words: no status codes and no
//! headers here. `http::problem` answers each, in one table.

use std::borrow::Cow;
use stylize_core::images::ImageError;
use stylize_core::job::JobState;
use stylize_core::params::ParamError;
use stylize_shared::retention::DeletedBy;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request, taken as a whole, does not make sense (two sources of one image).
    #[error("{0}")]
    Malformed(String),
    #[error("{field}: {message}")]
    InvalidParameter { field: String, message: String },
    #[error("{field}: {error}")]
    InvalidImage { field: String, error: ImageError },
    #[error("{field}: the URL is not fetched: {reason}")]
    UrlRefused { field: String, reason: String },
    #[error("{field}: could not fetch the URL: {reason}")]
    UrlFailed { field: String, reason: String },
    #[error("this Idempotency-Key already made job {job} from a different request; use a new key")]
    IdempotencyKeyReused { job: uuid::Uuid },
    #[error("{0}")]
    Unauthenticated(Credential),
    /// Over a rate or a quota: worth trying again after `retry_after_seconds`.
    #[error("{detail}")]
    OverLimit {
        detail: String,
        retry_after_seconds: u64,
    },
    /// Known, but not allowed this.
    #[error("{0}")]
    Forbidden(String),
    #[error("no {0} here")]
    NotFound(String),
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
    /// A service the api depends on is down: worth trying again shortly.
    #[error("{0} is unavailable; try again shortly")]
    Unavailable(&'static str),
    /// The api is up, and still waits at start-up for the services named.
    #[error("starting: waiting for {0}")]
    Starting(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a caller is not recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Credential {
    #[error("an API key is required")]
    KeyRequired,
    #[error("this API key is unknown or revoked")]
    UnknownKey,
    #[error("the admin token is required")]
    AdminTokenRequired,
    #[error("without API keys, the operator-wide webhook secret is shown to the admin token only")]
    AdminTokenForOperatorSecret,
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
pub fn database(error: sqlx::Error) -> ServiceError {
    tracing::error!(%error, "database");
    ServiceError::Unavailable("the database")
}

impl From<ParamError> for ServiceError {
    /// Both parts may quote the request (an unknown key, a layer's name): cut short, with
    /// room left in the message for the valid values it lists.
    fn from(error: ParamError) -> Self {
        ServiceError::InvalidParameter {
            field: echo(&error.field).into_owned(),
            message: cut(&error.message, MAX_PARAM_MESSAGE).into_owned(),
        }
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
