//! `Prefer: wait=N` on `POST /v1/jobs` (RFC 7240; `http::headers` reads it): the answer
//! is held until the new job ends or N seconds from the request's arrival pass. The wait
//! follows the job on the api's one subscription (`services::live`), reading the row
//! once when it starts (the job may have ended before) and again at each change of state
//! announced, never polling PostgreSQL. Without Redis it reads the row at the deadline:
//! a Redis outage costs the early answer, never the request.

use crate::services::live::{Heard, Hub};
use sqlx::PgPool;
use std::sync::Arc;
use stylize_shared::db::{self, JobRow};
use stylize_shared::progress::JobEvent;
use tokio::time::Instant;
use uuid::Uuid;

/// The new job `row` once it has ended, or as it stands at `deadline`.
pub(crate) async fn until_ended(
    pool: &PgPool,
    live: &Arc<Hub>,
    row: JobRow,
    deadline: Instant,
) -> JobRow {
    if let Ok(ended) = tokio::time::timeout_at(deadline, ended(pool, live, row.id)).await {
        return ended;
    }
    match db::get_job(pool, row.id).await {
        Ok(Some(now)) => now,
        // The job was accepted: it is answered as accepted, whatever PostgreSQL says now.
        Ok(None) => row,
        Err(error) => {
            tracing::warn!(%error, job = %row.id, "reading the job at the end of its wait");
            row
        }
    }
}

/// The job, once ended.
async fn ended(pool: &PgPool, live: &Arc<Hub>, id: Uuid) -> JobRow {
    let mut following = live.follow(id);
    // Once following, an end recorded before is in the row, and any later one is heard.
    loop {
        match db::get_job(pool, id).await {
            Ok(Some(row)) if row.state().is_terminal() => return row,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, job = %id, "reading the job while waiting"),
        }
        // Progress is no news here: only a change of state, or events missed, may be
        // the end.
        while let Heard::Event(JobEvent::Progress(_)) = following.next().await {}
    }
}
