//! `Prefer: wait=N` on `POST /v1/jobs` (RFC 7240; `http::headers` reads it): the answer
//! is held until the new job ends or N seconds from the request's arrival pass. The wait listens on the job's
//! progress channel for the end its worker announces once the row records it, reading
//! the row once after subscribing (the job may have ended before) and again at each end
//! announced, never polling PostgreSQL. Without Redis it reads the row once, at the
//! deadline: a Redis outage costs the early answer, never the request.

use crate::services::state::AppState;
use futures_util::StreamExt;
use stylize_shared::db::{self, JobRow};
use tokio::time::Instant;
use uuid::Uuid;

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
