//! Whose webhook secret a caller is shown, and may rotate: a program's own; without API
//! keys, the operator's (`webhooks.secret`), shown to the admin token alone and rotated
//! in the settings; a page visitor has none.

use crate::services::access::Identity;
use crate::services::error::{Credential, ServiceError};
use crate::services::signing::{rotate, signing_key, SigningKey};
use sqlx::PgPool;

/// Whose secret signs a caller's webhooks.
#[derive(Clone, Copy)]
pub enum SecretScope {
    /// The calling API key's own.
    Key,
    /// The operator's (`webhooks.secret`), for jobs without a key.
    Operator,
}

impl SecretScope {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretScope::Key => "key",
            SecretScope::Operator => "operator",
        }
    }
}

/// A page visitor's key signs nothing: webhooks are for programs.
fn no_visitor_secret() -> ServiceError {
    ServiceError::Forbidden("a page visitor has no webhook secret; webhooks need an API key".into())
}

/// The secret that signs `identity`'s webhooks: a program's own; without API keys, the
/// operator's, to the admin token alone (anyone could otherwise forge the api's
/// messages).
pub async fn caller_secret(
    pool: &PgPool,
    operator: Option<&SigningKey>,
    identity: &Identity,
    admin: bool,
) -> Result<(SigningKey, SecretScope), ServiceError> {
    let (owner, scope) = match *identity {
        Identity::Program(key) => (Some(key), SecretScope::Key),
        Identity::Visitor(_) => return Err(no_visitor_secret()),
        Identity::Anonymous if admin => (None, SecretScope::Operator),
        Identity::Anonymous => {
            return Err(ServiceError::Unauthenticated(
                Credential::AdminTokenForOperatorSecret,
            ))
        }
    };
    let key = signing_key(pool, operator, owner).await?.ok_or_else(|| {
        ServiceError::NotFound("webhook secret (webhooks.secret is not set)".into())
    })?;
    Ok((key, scope))
}

/// A new secret for the calling key; the operator's is rotated in the settings.
pub async fn rotate_caller_secret(
    pool: &PgPool,
    identity: &Identity,
) -> Result<SigningKey, ServiceError> {
    let key = match *identity {
        Identity::Program(key) => key,
        Identity::Visitor(_) => return Err(no_visitor_secret()),
        Identity::Anonymous => {
            return Err(ServiceError::Conflict(
                "without API keys, webhooks are signed with the operator's secret \
                 (webhooks.secret): rotate it in the settings"
                    .into(),
            ))
        }
    };
    rotate(pool, key)
        .await?
        .ok_or(ServiceError::Unauthenticated(Credential::UnknownKey))
}
