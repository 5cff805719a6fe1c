//! Deleting jobs: one job by its owner, all of a key's jobs by an operator, and the jobs
//! that ended longer ago than `retention.days` by the sweeper. A deleted job's images
//! leave S3 and its row stays as a tombstone (`deleted_at`, `deleted_by`), so that its
//! routes can say it was deleted, and when.
//!
//! Each deletion locks its rows (`FOR UPDATE`) in one transaction that cancels what is
//! still active, removes the objects and then tombstones the rows: an S3 failure rolls
//! it all back, to be tried again. The sweeper skips rows another deletion holds
//! (`SKIP LOCKED`), so sweepers on several replicas share the work and never do a job
//! twice. A worker may still store a preview or a result of a job deleted while it ran:
//! when its run ends it calls [`remove_if_deleted`], which waits for a deletion under
//! way and removes what the run stored after it.

use crate::db::JobRow;
use crate::storage::{Storage, StorageError};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};
use std::fmt;
use std::time::Duration;
use stylize_core::job::{keys, StyleSource};
use uuid::Uuid;

/// Object deletions under way at once within one batch.
const CONCURRENT_REMOVALS: usize = 8;

/// Why a job was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedBy {
    /// The key that submitted it (or anyone, with keys off).
    Owner,
    /// An operator deleting all of a key's jobs.
    Admin,
    /// The retention sweeper.
    Expired,
}

impl DeletedBy {
    const ALL: [DeletedBy; 3] = [DeletedBy::Owner, DeletedBy::Admin, DeletedBy::Expired];

    /// As the `deleted_by` column keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletedBy::Owner => "owner",
            DeletedBy::Admin => "admin",
            DeletedBy::Expired => "expired",
        }
    }
}

/// How an answer tells it: "deleted at … {self}".
impl fmt::Display for DeletedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeletedBy::Owner => "by its owner",
            DeletedBy::Admin => "by an administrator",
            DeletedBy::Expired => "when its retention period ended",
        })
    }
}

impl JobRow {
    /// When and why the job was deleted; `None` while it is not.
    pub fn deletion(&self) -> Option<(DateTime<Utc>, DeletedBy)> {
        let by = self.deleted_by.as_deref()?;
        let by = DeletedBy::ALL
            .into_iter()
            .find(|reason| reason.as_str() == by)
            .expect("the CHECK constraint admits only known reasons");
        Some((self.deleted_at?, by))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Every object a job may have in storage: its inputs, its preview and its result.
pub fn object_keys(row: &JobRow) -> Vec<String> {
    let id = row.id.to_string();
    let stored = [keys::preview(&id), keys::result(&id)];
    StyleSource::input_keys(&id, &row.styles)
        .chain(stored)
        .collect()
}

/// Removes every object of the jobs (deleting a key that is not there succeeds).
async fn remove_objects(storage: &Storage, rows: &[JobRow]) -> Result<(), StorageError> {
    futures_util::stream::iter(rows.iter().flat_map(object_keys))
        .map(|key| async move { storage.delete(&key).await })
        .buffer_unordered(CONCURRENT_REMOVALS)
        .try_collect()
        .await
}

/// The query that selects and locks (`FOR UPDATE`) the rows a deletion is to delete.
type Locking<'q> = QueryAs<'q, Postgres, JobRow, PgArguments>;

/// What every deletion does: in one transaction, locks the rows `locking` selects,
/// cancels those still queued or running, removes their objects, tombstones the rows as
/// deleted `by`, and commits. Returns the rows as they are now (a running job's shows
/// `cancel_requested`: its worker is to be told); none when `locking` found none.
async fn lock_and_delete(
    pool: &PgPool,
    storage: &Storage,
    locking: Locking<'_>,
    by: DeletedBy,
) -> Result<Vec<JobRow>, DeletionError> {
    let mut transaction = pool.begin().await?;
    let locked = locking.fetch_all(&mut *transaction).await?;
    if locked.is_empty() {
        return Ok(locked);
    }
    for row in locked.iter().filter(|row| !row.state().is_terminal()) {
        crate::db::request_cancel(&mut *transaction, row.id).await?;
    }
    remove_objects(storage, &locked).await?;
    let ids: Vec<Uuid> = locked.iter().map(|row| row.id).collect();
    let deleted = sqlx::query_as(
        "UPDATE jobs SET deleted_at = now(), deleted_by = $2 WHERE id = ANY($1) RETURNING *",
    )
    .bind(&ids)
    .bind(by.as_str())
    .fetch_all(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(deleted)
}

/// Deletes one job; `None` when it already was (a deletion under way is waited for).
pub async fn delete(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
    by: DeletedBy,
) -> Result<Option<JobRow>, DeletionError> {
    let locking =
        sqlx::query_as("SELECT * FROM jobs WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
            .bind(id);
    Ok(lock_and_delete(pool, storage, locking, by).await?.pop())
}

/// Deletes up to `batch` of `owner`'s jobs (the operator's "delete all of a key's
/// jobs", a batch at a time); an empty answer when none is left.
pub async fn delete_owned_by(
    pool: &PgPool,
    storage: &Storage,
    owner: Uuid,
    batch: u32,
) -> Result<Vec<JobRow>, DeletionError> {
    // A job another deletion holds is left to it.
    let locking = sqlx::query_as(
        "SELECT * FROM jobs WHERE owner = $1 AND deleted_at IS NULL
         ORDER BY created_at LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(owner)
    .bind(i64::from(batch));
    lock_and_delete(pool, storage, locking, DeletedBy::Admin).await
}

/// One step of the sweeper: deletes up to `batch` of the jobs that ended more than
/// `retention` ago, oldest first, skipping those another sweeper (or deletion) holds.
/// Returns the jobs it deleted: fewer than `batch` when no more are due.
pub async fn sweep_expired(
    pool: &PgPool,
    storage: &Storage,
    retention: Duration,
    batch: u32,
) -> Result<Vec<JobRow>, DeletionError> {
    let locking = sqlx::query_as(
        "SELECT * FROM jobs
         WHERE finished_at < now() - make_interval(secs => $1)
           AND finished_at IS NOT NULL AND deleted_at IS NULL
           AND state IN ('succeeded', 'failed', 'canceled')
         ORDER BY finished_at LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(retention.as_secs_f64())
    .bind(i64::from(batch));
    lock_and_delete(pool, storage, locking, DeletedBy::Expired).await
}

/// Called by a worker once its run of a job has ended and stored all it will: when the
/// job was deleted meanwhile, removes what the run stored since. The row is read with a
/// lock, so a deletion under way (which removes the objects before it commits) is
/// waited for: either this sees the tombstone, or the deletion's removal comes after
/// everything the run stored. Answers whether the job was deleted.
pub async fn remove_if_deleted(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
) -> Result<bool, DeletionError> {
    // The filter on `deleted_at` is applied after the lock, in Rust: in SQL it would be
    // judged on the row as it was before the deletion committed, and skip it.
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = $1 FOR SHARE")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    match row.filter(|row| row.deleted_at.is_some()) {
        Some(row) => {
            remove_objects(storage, std::slice::from_ref(&row)).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
