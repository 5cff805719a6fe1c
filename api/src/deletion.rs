//! Deleting jobs: `DELETE /v1/jobs/{id}` by the job's owner, and
//! `DELETE /v1/admin/keys/{id}/jobs` (every job of one key) by an operator. What a
//! deletion does (cancel, objects out of S3, a tombstone) is `stylize_shared::retention`'s;
//! here, who may, and what a deleted job answers.

use crate::auth::{Admin, Caller};
use crate::jobs;
use crate::openapi::{self, JobId, JobProblems, KeyId, KeyedProblems};
use crate::problem::{database, echo, ApiError};
use crate::AppState;
use actix_web::{web, HttpResponse};
use stylize_shared::db::{self, JobRow};
use stylize_shared::job::JobState;
use stylize_shared::retention::{self, DeletedBy, DeletionError};
use uuid::Uuid;

/// Jobs an operator's deletion takes per transaction.
const ADMIN_BATCH: u32 = 100;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        crate::edge::resource("/v1/admin/keys/{id}/jobs").route(web::delete().to(delete_key_jobs)),
    );
}

/// The `410 Gone` a deleted job answers, saying when and why; `None` for a live job.
pub fn gone(row: &JobRow) -> Option<ApiError> {
    row.deletion().map(|(at, by)| ApiError::JobDeleted {
        job: row.id,
        at,
        by,
    })
}

fn failed(error: DeletionError) -> ApiError {
    match error {
        DeletionError::Database(error) => database(error),
        DeletionError::Storage(error) => {
            tracing::error!(%error, "deleting a job's objects");
            ApiError::Unavailable("storage")
        }
    }
}

/// Tells those following `rows` that they are gone: the worker running one stops (as at
/// a cancel; without Redis it finds the cancel at its next heartbeat), and a request
/// waiting on a queued one (`Prefer: wait`) answers at once.
async fn announce(state: &AppState, rows: &[JobRow]) {
    for row in rows {
        let told = match row.state() {
            JobState::Running => state.progress.announce_cancel(row.id).await,
            ended => state.progress.announce_end(row.id, ended).await,
        };
        if let Err(error) = told {
            tracing::warn!(%error, job = %row.id, "announcing a deleted job's end");
        }
    }
}

/// `DELETE /v1/jobs/{id}`: `204` once the job is canceled (if it was queued or
/// running), its images are gone and its row is a tombstone; then every route of it is
/// `410`. Another key's job is `404`, as for every job route.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", params(JobId), responses(
    (status = 204, description = "Deleted"),
    (status = 403, response = openapi::CrossSite),
    JobProblems,
))]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = jobs::find(&state, &caller, &id).await?;
    match retention::delete(&state.pool, &state.storage, row.id, DeletedBy::Owner)
        .await
        .map_err(failed)?
    {
        Some(deleted) => {
            announce(&state, std::slice::from_ref(&deleted)).await;
            tracing::info!(job = %deleted.id, "deleted by its owner");
            Ok(HttpResponse::NoContent().finish())
        }
        // Another request deleted it meanwhile: answered as any later request is.
        None => {
            let now = db::get_job(&state.pool, row.id).await.map_err(database)?;
            Err(now.as_ref().and_then(gone).unwrap_or_else(|| {
                ApiError::Internal(format!("job {} was neither deleted nor deletable", row.id))
            }))
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct DeletedJobs {
    deleted: usize,
}

/// `DELETE /v1/admin/keys/{id}/jobs`: deletes every job of the key (revoked or not), as
/// its owner's deletion does each; answers `{"deleted": N}`.
#[utoipa::path(delete, path = "/v1/admin/keys/{id}/jobs", tag = "keys", params(KeyId),
    security(("admin_token" = [])), responses(
        (status = 200, description = "How many jobs were deleted", body = DeletedJobs),
        (status = 404, response = openapi::NotFound),
        KeyedProblems,
    ))]
async fn delete_key_jobs(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("key {:?}", echo(&id)));
    let key: Uuid = id.parse().map_err(|_| not_found())?;
    db::get_key(&state.pool, key)
        .await
        .map_err(database)?
        .ok_or_else(not_found)?;
    let mut deleted = 0;
    loop {
        let batch = retention::delete_owned_by(&state.pool, &state.storage, key, ADMIN_BATCH)
            .await
            .map_err(failed)?;
        if batch.is_empty() {
            break;
        }
        deleted += batch.len();
        announce(&state, &batch).await;
    }
    tracing::info!(%key, deleted, "deleted a key's jobs");
    Ok(HttpResponse::Ok().json(DeletedJobs { deleted }))
}
