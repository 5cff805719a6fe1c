//! Who may reach what: the caller a request's key makes (a program's key, a page
//! visitor's, or the anonymous owner where keys are off), the jobs it may see (its own
//! only), what a deleted job answers, the limits on its submissions, the visitors'
//! identities minted, and programs' keys made.

use crate::services::error::{
    database, echo, Credential, InvalidParameter, JobDeleted, NotFound, Outage, OverLimit,
};
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

/// Why a caller is not let in, or not let reach a job.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Unauthenticated(#[from] Credential),
    #[error(transparent)]
    OverLimit(#[from] OverLimit),
    /// No such job, or another caller's.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Deleted(#[from] JobDeleted),
    #[error(transparent)]
    Outage(#[from] Outage),
}

/// What admitting a caller reads: the keys, the settings of who may call, and the rates.
pub struct Gate<'a> {
    pool: &'a PgPool,
    auth: &'a AuthSettings,
    limiter: &'a RateLimiter,
}

impl<'a> Gate<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Gate {
            pool: &state.backends.pool,
            auth: &state.auth,
            limiter: &state.rate_limiter,
        }
    }
}

/// The answer to a submission over an owner's limit of active jobs.
fn over_quota(who: &str, active: i64) -> OverLimit {
    OverLimit {
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
        gate: &Gate<'_>,
        presented: Option<String>,
        address: IpAddr,
    ) -> Result<Self, AccessError> {
        let admin = gate.auth.admin_token.expose();
        // The admin token is no key: no jobs are the operator's (where keys are off, it
        // calls as the anonymous owner, as a request without one does).
        let presented = presented.filter(|key| admin.is_empty() || hash(key) != hash(admin));
        let identity = match presented {
            Some(key) => match db::find_key(gate.pool, &hash(&key))
                .await
                .map_err(database)?
            {
                Some((id, KeyKind::Program)) => Identity::Program(id),
                Some((id, KeyKind::Visitor)) => Identity::Visitor(id),
                None => return Err(Credential::UnknownKey.into()),
            },
            None if gate.auth.required => return Err(Credential::KeyRequired.into()),
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
    pub async fn admit_submission(&self, gate: &Gate<'_>) -> Result<(), AccessError> {
        let auth = gate.auth;
        let (owner, per_minute, who) = match self.identity {
            Identity::Anonymous => return Ok(()),
            Identity::Program(id) => (id, auth.submissions_per_minute, "this key"),
            Identity::Visitor(id) => {
                let address = format!("address-submissions:{}", self.address);
                let limit = auth.address_submissions_per_minute;
                within_rate(gate.limiter, &address, limit, "this address", "jobs").await?;
                (id, auth.visitor_submissions_per_minute, "this visitor")
            }
        };
        within_rate(
            gate.limiter,
            &format!("submissions:{owner}"),
            per_minute,
            who,
            "jobs",
        )
        .await?;
        let active = db::count_active_jobs(gate.pool, owner)
            .await
            .map_err(database)?;
        match self.max_active_jobs(auth) {
            Some(limit) if active >= limit => Err(over_quota(who, active).into()),
            _ => Ok(()),
        }
    }

    /// The answer when `db::insert_job` found the caller at its limit.
    pub fn over_quota(&self, active: i64) -> OverLimit {
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
    pub async fn find(&self, pool: &PgPool, id: &str) -> Result<JobRow, AccessError> {
        let row = self
            .find_row(pool, id)
            .await?
            .ok_or_else(|| NotFound(format!("job {:?}", echo(id))))?;
        match gone(&row) {
            Some(gone) => Err(gone.into()),
            None => Ok(row),
        }
    }

    /// The job, deleted or not, if this caller may see it: another key's job is as
    /// absent as a job that never was.
    pub async fn find_row(&self, pool: &PgPool, id: &str) -> Result<Option<JobRow>, Outage> {
        let Some(id) = parse_job_id(id) else {
            return Ok(None);
        };
        let row = db::get_job(pool, id).await.map_err(database)?;
        Ok(row.filter(|row| self.may_see(row.owner)))
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
pub fn gone(row: &JobRow) -> Option<JobDeleted> {
    row.deletion().map(|(at, by)| JobDeleted {
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
) -> Result<(), AccessError> {
    let (hits, window_left) = limiter
        .count_hit(name, 60)
        .await
        .map_err(|_| Outage::Unavailable("the rate limiter"))?;
    if hits > per_minute {
        return Err(AccessError::OverLimit(OverLimit {
            detail: format!(
                "{who} may make {per_minute} {what} a minute; try again in {window_left} s"
            ),
            retry_after_seconds: window_left,
        }));
    }
    Ok(())
}

/// A new page visitor's key, for a browser at `address` (at most
/// `auth.address_sessions_per_minute` a minute from one address).
pub async fn mint_visitor(gate: &Gate<'_>, address: IpAddr) -> Result<String, AccessError> {
    within_rate(
        gate.limiter,
        &format!("address-sessions:{address}"),
        gate.auth.address_sessions_per_minute,
        "this address",
        "visitor identities",
    )
    .await?;
    let key = new_key("sv_");
    db::insert_key(gate.pool, "visitor", KeyKind::Visitor, &hash(&key))
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

    pub fn parse(name: &str) -> Result<KeyName, InvalidParameter> {
        let invalid = |message: String| InvalidParameter::new("name", message);
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
    pool: &PgPool,
    name: &KeyName,
) -> Result<(ApiKeyRow, String), Outage> {
    let key = new_key("sk_");
    let row = db::insert_key(pool, name.as_str(), KeyKind::Program, &hash(&key))
        .await
        .map_err(database)?;
    Ok((row, key))
}

/// Every program's key, revoked ones too.
pub async fn program_keys(pool: &PgPool) -> Result<Vec<ApiKeyRow>, Outage> {
    db::list_keys(pool).await.map_err(database)
}

/// Revokes the program's key `id`: its jobs stay, and it calls no more.
pub async fn revoke_program_key(pool: &PgPool, id: &str) -> Result<ApiKeyRow, AccessError> {
    let row = db::revoke_key(pool, key_id(id)?).await.map_err(database)?;
    Ok(row.ok_or_else(|| no_key(id))?)
}

/// The key the admin path names as `id`.
pub fn key_id(id: &str) -> Result<Uuid, NotFound> {
    id.parse().map_err(|_| no_key(id))
}

/// No key `id`, on the admin path.
pub fn no_key(id: &str) -> NotFound {
    NotFound(format!("key {:?}", echo(id)))
}

/// Whether `presented` is a live visitor's key.
pub async fn is_visitor(pool: &PgPool, presented: &str) -> Result<bool, Outage> {
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
            Err(invalid) => invalid.to_string(),
            Ok(name) => panic!("{name:?} was taken"),
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
