//! Who may reach what: the caller a request's key makes (a program's key, a page
//! visitor's, or the anonymous owner where keys are off), the jobs it may see (its own
//! only), what a deleted job answers, the limits on its submissions, the visitors'
//! identities minted, and programs' keys made.

use crate::services::error::{database, echo, Credential, ServiceError};
use crate::services::refuse_control_characters;
use crate::services::state::AppState;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::net::IpAddr;
use stylize_shared::config::AuthSettings;
use stylize_shared::db::{self, ApiKeyRow, JobRow, KeyKind};
use stylize_shared::rate_limit::RateLimiter;
use uuid::Uuid;

/// Keys are stored, and compared, only as this digest.
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// No key, where keys are off: the one shared owner of an open deployment.
    Anonymous,
    /// A page visitor's key, minted for one browser and sent in its cookie.
    Visitor(Uuid),
    /// A program's API key.
    Program(Uuid),
}

/// The caller of a request: its identity, and its address (for the visitors' limits).
pub struct Caller {
    pub identity: Identity,
    pub address: IpAddr,
}

/// A fresh key: 244 random bits after `prefix`; shown once, stored only as a hash.
pub fn new_key(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

/// The answer to a submission over an owner's limit of active jobs.
fn over_quota(who: &str, active: i64) -> ServiceError {
    ServiceError::OverLimit {
        detail: format!(
            "{who} has {active} jobs queued or running, its limit; \
             try again when one has finished"
        ),
        retry_after_seconds: 30,
    }
}

impl Caller {
    /// The caller that `presented` (a key, if the request had one) makes.
    pub async fn identify(
        state: &AppState,
        presented: Option<String>,
        address: IpAddr,
    ) -> Result<Self, ServiceError> {
        let admin = state.auth.admin_token.expose();
        // The admin token is no key: no jobs are the operator's (where keys are off, it
        // calls as the anonymous owner, as a request without one does).
        let presented = presented.filter(|key| admin.is_empty() || hash(key) != hash(admin));
        let identity = match presented {
            Some(key) => match db::find_key(&state.backends.pool, &hash(&key))
                .await
                .map_err(database)?
            {
                Some((id, KeyKind::Program)) => Identity::Program(id),
                Some((id, KeyKind::Visitor)) => Identity::Visitor(id),
                None => return Err(ServiceError::Unauthenticated(Credential::UnknownKey)),
            },
            None if state.auth.required => {
                return Err(ServiceError::Unauthenticated(Credential::KeyRequired))
            }
            None => Identity::Anonymous,
        };
        Ok(Caller { identity, address })
    }

    /// The owner of the jobs this caller submits, and the only jobs it may see.
    pub fn owner(&self) -> Option<Uuid> {
        match self.identity {
            Identity::Anonymous => None,
            Identity::Visitor(id) | Identity::Program(id) => Some(id),
        }
    }

    /// Whether this caller may see `owner`'s job: only its own, whoever it is.
    pub fn may_see(&self, owner: Option<Uuid>) -> bool {
        self.owner() == owner
    }

    /// How many jobs this caller may have queued or running at once; `None`: no limit.
    pub fn max_active_jobs(&self, auth: &AuthSettings) -> Option<i64> {
        match self.identity {
            Identity::Anonymous => None,
            Identity::Visitor(_) => Some(auth.visitor_max_active_jobs),
            Identity::Program(_) => Some(auth.max_active_jobs),
        }
    }

    /// Refuses a submission over the caller's rate (and a visitor's address's) or its
    /// quota of active jobs, with the seconds to wait. The quota is checked here to
    /// spare reading a body that could not be taken, and again, exactly, as the job is
    /// inserted (`db::insert_job`).
    pub async fn admit_submission(&self, state: &AppState) -> Result<(), ServiceError> {
        let auth = &state.auth;
        let (owner, per_minute, who) = match self.identity {
            Identity::Anonymous => return Ok(()),
            Identity::Program(id) => (id, auth.submissions_per_minute, "this key"),
            Identity::Visitor(id) => {
                let address = format!("address-submissions:{}", self.address);
                let limit = auth.address_submissions_per_minute;
                within_rate(&state.rate_limiter, &address, limit, "this address", "jobs").await?;
                (id, auth.visitor_submissions_per_minute, "this visitor")
            }
        };
        within_rate(
            &state.rate_limiter,
            &format!("submissions:{owner}"),
            per_minute,
            who,
            "jobs",
        )
        .await?;
        let active = db::count_active_jobs(&state.backends.pool, owner)
            .await
            .map_err(database)?;
        match self.max_active_jobs(auth) {
            Some(limit) if active >= limit => Err(over_quota(who, active)),
            _ => Ok(()),
        }
    }

    /// The answer when `db::insert_job` found the caller at its limit.
    pub fn over_quota(&self, active: i64) -> ServiceError {
        over_quota(
            match self.identity {
                Identity::Visitor(_) => "this visitor",
                _ => "this key",
            },
            active,
        )
    }

    /// The job, if this caller may see it (see [`Caller::find_row`]); a deleted job is
    /// `410 Gone`.
    pub async fn find(&self, pool: &PgPool, id: &str) -> Result<JobRow, ServiceError> {
        let row = self.find_row(pool, id).await?;
        match gone(&row) {
            Some(gone) => Err(gone),
            None => Ok(row),
        }
    }

    /// The job, deleted or not, if this caller may see it: another key's job is as
    /// absent as a job that never was.
    pub async fn find_row(&self, pool: &PgPool, id: &str) -> Result<JobRow, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("job {:?}", echo(id)));
        let id = parse_job_id(id).ok_or_else(not_found)?;
        db::get_job(pool, id)
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
pub fn gone(row: &JobRow) -> Option<ServiceError> {
    row.deletion().map(|(at, by)| ServiceError::JobDeleted {
        job: row.id,
        at,
        by,
    })
}

/// Counts one hit against `name`'s rate of `per_minute`; refuses one over it, saying
/// that `who` may make `per_minute` `what` a minute.
async fn within_rate(
    limiter: &RateLimiter,
    name: &str,
    per_minute: u64,
    who: &str,
    what: &str,
) -> Result<(), ServiceError> {
    let (hits, window_left) = limiter
        .count_hit(name, 60)
        .await
        .map_err(|_| ServiceError::Unavailable("the rate limiter"))?;
    if hits > per_minute {
        return Err(ServiceError::OverLimit {
            detail: format!(
                "{who} may make {per_minute} {what} a minute; try again in {window_left} s"
            ),
            retry_after_seconds: window_left,
        });
    }
    Ok(())
}

/// A new page visitor's key, for a browser at `address` (at most
/// `auth.address_sessions_per_minute` a minute from one address).
pub async fn mint_visitor(state: &AppState, address: IpAddr) -> Result<String, ServiceError> {
    within_rate(
        &state.rate_limiter,
        &format!("address-sessions:{address}"),
        state.auth.address_sessions_per_minute,
        "this address",
        "visitor identities",
    )
    .await?;
    let key = new_key("sv_");
    db::insert_key(
        &state.backends.pool,
        "visitor",
        KeyKind::Visitor,
        &hash(&key),
    )
    .await
    .map_err(database)?;
    Ok(key)
}

/// A program key's name, as the admin gives it: 1 to [`KeyName::MAX_CHARS`] characters
/// once trimmed, none a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(name: &str) -> Result<KeyName, ServiceError> {
        let invalid = |message: String| ServiceError::InvalidParameter {
            field: "name".into(),
            message,
        };
        let name = name.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must be 1 to {} characters",
                Self::MAX_CHARS
            )));
        }
        refuse_control_characters(name).map_err(invalid)?;
        Ok(KeyName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Makes a program's key named `name`: its row, and the key itself, shown this once
/// (only its digest is kept).
pub async fn create_program_key(
    state: &AppState,
    name: &KeyName,
) -> Result<(ApiKeyRow, String), ServiceError> {
    let key = new_key("sk_");
    let row = db::insert_key(
        &state.backends.pool,
        name.as_str(),
        KeyKind::Program,
        &hash(&key),
    )
    .await
    .map_err(database)?;
    Ok((row, key))
}

/// Whether `presented` is a live visitor's key.
pub async fn is_visitor(pool: &PgPool, presented: &str) -> Result<bool, ServiceError> {
    Ok(matches!(
        db::find_key(pool, &hash(presented))
            .await
            .map_err(database)?,
        Some((_, KeyKind::Visitor))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(name: &str) -> String {
        match KeyName::parse(name) {
            Err(ServiceError::InvalidParameter { field, message }) => format!("{field}: {message}"),
            other => panic!("{name:?} gave {other:?}"),
        }
    }

    #[test]
    fn a_key_name_is_trimmed_short_and_free_of_control_characters() {
        assert_eq!(
            KeyName::parse("  ci runner ").unwrap().as_str(),
            "ci runner"
        );
        assert_eq!(
            KeyName::parse(&"é".repeat(100)).unwrap().as_str().len(),
            200
        );
        for name in ["", "   ", &"x".repeat(101)] {
            assert_eq!(refusal(name), "name: must be 1 to 100 characters");
        }
        for name in ["a\0b", "tab\there", "bell\u{7}", "c1\u{85}x"] {
            assert_eq!(refusal(name), "name: must not contain control characters");
        }
    }
}
