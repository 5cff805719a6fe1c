//! Who may reach what: the caller a request's key makes (everyone, when keys are off),
//! the jobs it may see, what a deleted job answers, and the limits on its submissions.

use crate::problem::{database, echo, ApiError};
use crate::services::state::AppState;
use sha2::{Digest, Sha256};
use stylize_shared::db::{self, JobRow};
use uuid::Uuid;

/// Keys are stored, and compared, only as this digest.
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The key a request came with: `Some(id)` when keys are required, `None` (everyone)
/// when they are not.
pub struct Caller(pub Option<Uuid>);

impl Caller {
    /// The caller that `presented` (a key, if the request had one) makes.
    pub async fn identify(state: &AppState, presented: Option<String>) -> Result<Self, ApiError> {
        if !state.auth.required {
            return Ok(Caller(None));
        }
        let key = presented.ok_or_else(|| {
            ApiError::Unauthorized("an API key is required: Authorization: Bearer KEY".into())
        })?;
        match db::find_key(&state.pool, &hash(&key))
            .await
            .map_err(database)?
        {
            Some(row) => Ok(Caller(Some(row.id))),
            None => Err(ApiError::Unauthorized(
                "this API key is unknown or revoked".into(),
            )),
        }
    }

    /// Whether this caller may see `owner`'s job.
    pub fn may_see(&self, owner: Option<Uuid>) -> bool {
        self.0.is_none() || self.0 == owner
    }

    /// Refuses a submission over the caller's rate or its quota of active jobs, with
    /// the seconds to wait.
    pub async fn admit_submission(&self, state: &AppState) -> Result<(), ApiError> {
        let Some(key) = self.0 else {
            return Ok(());
        };
        let limits = &state.auth;
        let (hits, window_left) = state
            .rate_limiter
            .count_hit(&format!("submissions:{key}"), 60)
            .await
            .map_err(|_| ApiError::Unavailable("the rate limiter"))?;
        if hits > limits.submissions_per_minute {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "this key may submit {} jobs a minute; try again in {window_left} s",
                    limits.submissions_per_minute
                ),
                retry_after: window_left,
            });
        }
        let active = db::count_active_jobs(&state.pool, key)
            .await
            .map_err(database)?;
        if active >= limits.max_active_jobs {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "this key has {active} jobs queued or running, its limit; \
                     try again when one has finished"
                ),
                retry_after: 30,
            });
        }
        Ok(())
    }

    /// The job, if this caller may see it (see [`Caller::find_row`]); a deleted job is
    /// `410 Gone`.
    pub async fn find(&self, state: &AppState, id: &str) -> Result<JobRow, ApiError> {
        let row = self.find_row(state, id).await?;
        match gone(&row) {
            Some(gone) => Err(gone),
            None => Ok(row),
        }
    }

    /// The job, deleted or not, if this caller may see it: another key's job is as
    /// absent as a job that never was.
    pub async fn find_row(&self, state: &AppState, id: &str) -> Result<JobRow, ApiError> {
        let not_found = || ApiError::NotFound(format!("job {:?}", echo(id)));
        let id = parse_job_id(id).ok_or_else(not_found)?;
        db::get_job(&state.pool, id)
            .await
            .map_err(database)?
            .filter(|row| self.may_see(row.owner))
            .ok_or_else(not_found)
    }
}

/// A job id as the api writes it, hyphenated and lower-case: the one spelling that
/// addresses a job, so each job has one URL (`Uuid` also reads upper-case, simple,
/// braced and URN forms).
fn parse_job_id(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

/// The `410 Gone` a deleted job answers, saying when and why; `None` for a live job.
pub fn gone(row: &JobRow) -> Option<ApiError> {
    row.deletion().map(|(at, by)| ApiError::JobDeleted {
        job: row.id,
        at,
        by,
    })
}
