//! Deleting jobs: one job by its owner, or every job of one key by an operator. What a
//! deletion does (cancel, objects out of S3, a tombstone) is `stylize_shared::retention`'s;
//! here, telling those who follow the jobs, and what a lost race answers.

use crate::services::access::{gone, key_id, no_key};
use crate::services::cancel::Announcer;
use crate::services::error::{database, JobDeleted, NotFound, Outage};
use crate::services::state::Backends;
use stylize_shared::db::{self, JobRow};
use stylize_shared::retention::{self, DeletedBy, DeletionError};

/// Jobs an operator's deletion takes per transaction.
const ADMIN_BATCH: u32 = 100;

/// Why jobs were not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// No such key, for an operator's deletion.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// Deleted already, by another request meanwhile.
    #[error(transparent)]
    Deleted(#[from] JobDeleted),
    #[error(transparent)]
    Outage(#[from] Outage),
}

fn failed(error: DeletionError) -> Outage {
    match error {
        DeletionError::Database(error) => database(error),
        DeletionError::Storage(error) => {
            tracing::error!(%error, "deleting a job's objects");
            Outage::Unavailable("storage")
        }
    }
}

/// Deletes `row` for its owner: canceled (if it was queued or running), its images gone,
/// its row a tombstone.
pub async fn delete_job(
    backends: &Backends,
    announcer: &Announcer<'_>,
    row: &JobRow,
) -> Result<(), DeleteError> {
    match retention::delete(&backends.pool, &backends.storage, row.id, DeletedBy::Owner)
        .await
        .map_err(failed)?
    {
        Some(deleted) => {
            announcer.ended(std::slice::from_ref(&deleted)).await;
            tracing::info!(job = %deleted.id, "deleted by its owner");
            Ok(())
        }
        // Another request deleted it meanwhile: answered as any later request is.
        None => {
            let now = db::get_job(&backends.pool, row.id)
                .await
                .map_err(database)?;
            Err(match now.as_ref().and_then(gone) {
                Some(deleted) => deleted.into(),
                None => {
                    Outage::Internal(format!("job {} was neither deleted nor deletable", row.id))
                        .into()
                }
            })
        }
    }
}

/// Deletes every job of the key `id` (revoked or not), as its owner's deletion does
/// each; how many.
pub async fn delete_key_jobs(
    backends: &Backends,
    announcer: &Announcer<'_>,
    id: &str,
) -> Result<usize, DeleteError> {
    let key = key_id(id)?;
    db::get_key(&backends.pool, key)
        .await
        .map_err(database)?
        .ok_or_else(|| no_key(id))?;
    let mut deleted = 0;
    loop {
        let batch = retention::delete_owned_by(&backends.pool, &backends.storage, key, ADMIN_BATCH)
            .await
            .map_err(failed)?;
        if batch.is_empty() {
            break;
        }
        deleted += batch.len();
        announcer.ended(&batch).await;
    }
    tracing::info!(%key, deleted, "deleted a key's jobs");
    Ok(deleted)
}
