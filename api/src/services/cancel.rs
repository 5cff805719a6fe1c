//! Canceling a job, and telling those who follow jobs that theirs ended (canceled or
//! deleted): the worker running one stops at once (without Redis, at its next
//! heartbeat), and a request waiting on a queued one (`Prefer: wait`) answers.

use crate::services::access::gone;
use crate::services::error::{database, JobDeleted, Outage};
use crate::services::queue_view::QueueView;
use crate::services::state::AppState;
use sqlx::PgPool;
use stylize_core::job::JobState;
use stylize_shared::db::{self, JobRow};
use stylize_shared::progress::ProgressStore;

/// Tells those following jobs that theirs ended: the queue's kept answer, and through
/// Redis the job's worker and followers.
pub struct Announcer<'a> {
    queue_view: &'a QueueView,
    progress: &'a ProgressStore,
}

impl<'a> Announcer<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Announcer {
            queue_view: &state.queue_view,
            progress: &state.backends.progress,
        }
    }

    /// Tells those following `rows` (each just canceled or deleted) that they ended.
    pub async fn ended(&self, rows: &[JobRow]) {
        self.queue_view.forget().await;
        for row in rows {
            let told = match row.state() {
                JobState::Running => self.progress.announce_cancel(row.id).await,
                ended => self.progress.announce_state(row.id, ended).await,
            };
            if let Err(error) = told {
                tracing::warn!(%error, job = %row.id, "announcing a job's end");
            }
        }
    }
}

/// Why a job was not canceled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("the job is already {0}")]
    AlreadyFinished(JobState),
    #[error(transparent)]
    Deleted(#[from] JobDeleted),
    #[error(transparent)]
    Outage(#[from] Outage),
}

/// Cancels `job`, one its caller may see: a queued job is canceled now, a running one
/// asked to stop. Answers the job as it now stands; one that had already ended is a
/// conflict naming its state (or gone, if it was deleted meanwhile).
pub async fn cancel_job(
    pool: &PgPool,
    announcer: &Announcer<'_>,
    job: &JobRow,
) -> Result<JobRow, CancelError> {
    if let Some(row) = db::request_cancel(pool, job.id).await.map_err(database)? {
        announcer.ended(std::slice::from_ref(&row)).await;
        return Ok(row);
    }
    let now = db::get_job(pool, job.id)
        .await
        .map_err(database)?
        .ok_or_else(|| Outage::Internal(format!("job {} has no row", job.id)))?;
    Err(gone(&now).map_or(
        CancelError::AlreadyFinished(now.state()),
        CancelError::Deleted,
    ))
}
