//! The refusals and failures the services share, in the domain's words: no status
//! codes and no headers here. Each service's own error (`SubmitError`, `AccessError`,
//! …) is made of these and of its own cases; `http::problem` answers every one, in one
//! table.

use std::borrow::Cow;
use stylize_core::images::ImageError;
use stylize_core::params::ParamError;
use stylize_shared::retention::DeletedBy;

/// A service the api depends on failed: nothing the caller did.
#[derive(Debug, thiserror::Error)]
pub enum Outage {
    /// Down: worth trying again shortly.
    #[error("{0} is unavailable; try again shortly")]
    Unavailable(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

/// One field of a request has a value the api does not take.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidParameter {
    pub field: String,
    pub message: String,
}

impl InvalidParameter {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidParameter {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An image, uploaded or fetched, that is not taken.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {error}")]
pub struct BadImage {
    pub field: String,
    pub error: ImageError,
}

/// A URL, an image's or a webhook's, that the api will not fetch.
#[derive(Debug, thiserror::Error)]
#[error("{field}: the URL is not fetched: {reason}")]
pub struct UrlRefused {
    pub field: String,
    pub reason: String,
}

/// Over a rate or a quota: worth trying again after `retry_after_seconds`.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct OverLimit {
    pub detail: String,
    pub retry_after_seconds: u64,
}

/// Nothing of this name, or nothing the caller may see.
#[derive(Debug, thiserror::Error)]
#[error("no {0} here")]
pub struct NotFound(pub String);

/// A job that was deleted: its tombstone, answered wherever the job is asked for.
#[derive(Debug, thiserror::Error)]
#[error(
    "job {job} was deleted at {} {by}; nothing of it is kept",
    .at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
)]
pub struct JobDeleted {
    pub job: uuid::Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    pub by: DeletedBy,
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
pub fn database(error: sqlx::Error) -> Outage {
    tracing::error!(%error, "database");
    Outage::Unavailable("the database")
}

impl From<ParamError> for InvalidParameter {
    /// Both parts may quote the request (an unknown key, a layer's name): cut short, with
    /// room left in the message for the valid values it lists.
    fn from(error: ParamError) -> Self {
        InvalidParameter {
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
