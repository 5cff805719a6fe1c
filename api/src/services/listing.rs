//! A caller's jobs, a page at a time, newest first, each with its progress as its own
//! status shows it.

use crate::services::access::Caller;
use crate::services::error::{database, echo, InvalidParameter, Outage};
use crate::services::state::Backends;
use crate::view::{JobList, JobView};
use stylize_core::job::JobState;
use stylize_shared::db;
use uuid::Uuid;

pub const MAX_PAGE: u32 = 100;
const DEFAULT_PAGE: u32 = 20;

/// Whether a job in `state` is shown with its live progress: a queued job's snapshot is
/// an earlier run's, and an ended one's failed or canceled run is not progress.
pub fn shows_progress(state: JobState) -> bool {
    matches!(state, JobState::Running | JobState::Succeeded)
}

/// Why a page of jobs was not listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Parameter(#[from] InvalidParameter),
    #[error(transparent)]
    Outage(#[from] Outage),
}

/// The page size asked for (`limit`), or the default.
pub fn page_limit(text: Option<&str>) -> Result<u32, InvalidParameter> {
    let Some(text) = text else {
        return Ok(DEFAULT_PAGE);
    };
    text.parse()
        .ok()
        .filter(|limit| (1..=MAX_PAGE).contains(limit))
        .ok_or_else(|| {
            InvalidParameter::new(
                "limit",
                format!(
                    "must be a whole number from 1 to {MAX_PAGE}, got {:?}",
                    echo(text)
                ),
            )
        })
}

/// Up to `limit` of `caller`'s jobs after the job `after` (one it may see, deleted or
/// not), and the link to the next page.
pub async fn page(
    backends: &Backends,
    caller: &Caller,
    limit: u32,
    after: Option<&str>,
) -> Result<JobList, ListError> {
    // After a job the caller cannot see, a page would be empty, as if the list ended.
    // After a deleted job, paging goes on from where it was.
    let after = match after {
        None => None,
        Some(id) => match caller.find_row(&backends.pool, id).await? {
            Some(row) => Some(row.id),
            None => {
                let message = format!("no job {:?} to list after", echo(id));
                return Err(InvalidParameter::new("after", message).into());
            }
        },
    };
    let rows = db::list_jobs(&backends.pool, caller.owner(), limit, after)
        .await
        .map_err(database)?;
    let next = (rows.len() == limit as usize)
        .then(|| {
            rows.last()
                .map(|row| format!("/v1/jobs?limit={limit}&after={}", row.id))
        })
        .flatten();
    // Without Redis, the rows still answer.
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let progress = backends
        .progress
        .get_many(&ids)
        .await
        .unwrap_or_else(|_| vec![None; rows.len()]);
    let jobs = rows
        .iter()
        .zip(progress)
        .map(|(row, progress)| JobView::new(row, progress.filter(|_| shows_progress(row.state()))))
        .collect();
    Ok(JobList { jobs, next })
}
