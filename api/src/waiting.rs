//! `Prefer: wait=N` on `POST /v1/jobs` (RFC 7240): the answer is held until the new job
//! ends or N seconds from the request's arrival pass. The wait listens on the job's
//! progress channel for the end its worker announces once the row records it, reading
//! the row once after subscribing (the job may have ended before) and again at each end
//! announced, never polling PostgreSQL. Without Redis it reads the row once, at the
//! deadline: a Redis outage costs the early answer, never the request.

use crate::problem::{echo, ApiError};
use crate::AppState;
use actix_web::HttpRequest;
use futures_util::StreamExt;
use std::time::Duration;
use stylize_shared::db::{self, JobRow};
use tokio::time::Instant;
use uuid::Uuid;

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

/// The new job `row` once it has ended, or as it stands at `deadline`.
pub(crate) async fn until_ended(state: &AppState, row: JobRow, deadline: Instant) -> JobRow {
    if let Ok(ended) = tokio::time::timeout_at(deadline, ended(state, row.id)).await {
        return ended;
    }
    match db::get_job(&state.pool, row.id).await {
        Ok(Some(now)) => now,
        // The job was accepted: it is answered as accepted, whatever PostgreSQL says now.
        Ok(None) => row,
        Err(error) => {
            tracing::warn!(%error, job = %row.id, "reading the job at the end of its wait");
            row
        }
    }
}

/// The job, once ended. Pending for good when Redis cannot be heard (the caller's
/// deadline then ends the wait).
async fn ended(state: &AppState, id: Uuid) -> JobRow {
    let mut endings = match state.progress.endings(id).await {
        Ok(endings) => endings,
        Err(error) => {
            tracing::warn!(%error, job = %id, "subscribing to the job's end; waiting it out");
            return std::future::pending().await;
        }
    };
    // Once subscribed, an end announced before is in the row, and any later one is heard.
    loop {
        match db::get_job(&state.pool, id).await {
            Ok(Some(row)) if row.state().is_terminal() => return row,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, job = %id, "reading the job while waiting"),
        }
        if endings.next().await.is_none() {
            tracing::warn!(job = %id, "Redis went away; waiting it out");
            return std::future::pending().await;
        }
    }
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
