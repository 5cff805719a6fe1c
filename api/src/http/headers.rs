//! The request headers of `POST /v1/jobs`, read and checked: `Idempotency-Key` and
//! `Prefer: wait`.

use crate::http::problem::ApiError;
use crate::services::error::echo;
use actix_web::HttpRequest;
use std::time::Duration;

/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key` header, if sent: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII
/// characters (no spaces, tabs or control characters).
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
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

/// The longest wait a client may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// The `wait` preference of the request's `Prefer` headers, if it has one: the first
/// counts (RFC 7240 §2), and every other preference is ignored.
pub(crate) fn preferred_wait(request: &HttpRequest) -> Result<Option<Duration>, ApiError> {
    for header in request.headers().get_all("Prefer") {
        let header = header.to_str().map_err(|_| {
            ApiError::BadRequest("the Prefer header must be visible ASCII text".into())
        })?;
        for preference in header.split(',') {
            // Parameters, after `;`, mean nothing to `wait`.
            let preference = preference.split(';').next().unwrap_or_default();
            let (name, value) = preference.split_once('=').unwrap_or((preference, ""));
            if name.trim().eq_ignore_ascii_case("wait") {
                return wait_seconds(value.trim()).map(Some);
            }
        }
    }
    Ok(None)
}

/// A `wait` value: 1 to [`MAX_WAIT_SECONDS`] seconds, as a token or a quoted string.
fn wait_seconds(value: &str) -> Result<Duration, ApiError> {
    let unquoted = value
        .strip_prefix('"')
        .and_then(|value| value.strip_suffix('"'))
        .unwrap_or(value);
    unquoted
        .bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| unquoted.parse::<u64>().ok())
        .flatten()
        .filter(|seconds| (1..=MAX_WAIT_SECONDS).contains(seconds))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Prefer: wait must be a whole number of seconds from 1 to \
                 {MAX_WAIT_SECONDS}, got {:?}",
                echo(value)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn wait(headers: &[&str]) -> Result<Option<u64>, String> {
        let mut request = TestRequest::default();
        for header in headers {
            request = request.append_header(("Prefer", *header));
        }
        preferred_wait(&request.to_http_request())
            .map(|wait| wait.map(|wait| wait.as_secs()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_wait_preference_is_read_as_rfc_7240_writes_it() {
        assert_eq!(wait(&[]), Ok(None));
        assert_eq!(wait(&["respond-async"]), Ok(None));
        assert_eq!(wait(&["wait=10"]), Ok(Some(10)));
        assert_eq!(wait(&["Wait = 1"]), Ok(Some(1)));
        assert_eq!(wait(&["wait=\"60\""]), Ok(Some(60)));
        assert_eq!(wait(&["respond-async, wait=5;x=y"]), Ok(Some(5)));
        assert_eq!(wait(&["handling=lenient", "wait=7"]), Ok(Some(7)));
        // Only the first counts.
        assert_eq!(wait(&["wait=3, wait=abc"]), Ok(Some(3)));
    }

    #[test]
    fn a_malformed_or_out_of_range_wait_is_refused() {
        for value in [
            "wait=0",
            "wait=61",
            "wait=-1",
            "wait=+5",
            "wait=abc",
            "wait=",
            "wait",
            "wait=1.5",
            "wait=99999999999999999999999",
        ] {
            let error = wait(&[value]).unwrap_err();
            assert!(
                error.starts_with("Prefer: wait must be a whole number of seconds from 1 to 60"),
                "{value}: {error}"
            );
        }
    }
}
