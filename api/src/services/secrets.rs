//! Whose webhook secret a caller is shown, and may rotate: a program's own; without API
//! keys, the operator's (`webhooks.secret`), shown to the admin token alone and rotated
//! in the settings; a page visitor has none.

use crate::services::access::Identity;
use crate::services::error::{Credential, Outage};
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

/// Why a caller is not shown, or may not rotate, a webhook secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Unauthenticated(#[from] Credential),
    /// A page visitor's key signs nothing: webhooks are for programs.
    #[error("a page visitor has no webhook secret; webhooks need an API key")]
    Visitor,
    #[error("no webhook secret here (webhooks.secret is not set)")]
    NoOperatorSecret,
    #[error(
        "without API keys, webhooks are signed with the operator's secret \
         (webhooks.secret): rotate it in the settings"
    )]
    OperatorRotatesInSettings,
    #[error(transparent)]
    Outage(#[from] Outage),
}

/// The secret that signs `identity`'s webhooks: a program's own; without API keys, the
/// operator's, to the admin token alone (anyone could otherwise forge the api's
/// messages).
pub async fn caller_secret(
    pool: &PgPool,
    operator: Option<&SigningKey>,
    identity: &Identity,
    admin: bool,
) -> Result<(SigningKey, SecretScope), SecretError> {
    let (owner, scope) = match *identity {
        Identity::Program(key) => (Some(key), SecretScope::Key),
        Identity::Visitor(_) => return Err(SecretError::Visitor),
        Identity::Anonymous if admin => (None, SecretScope::Operator),
        Identity::Anonymous => return Err(Credential::AdminTokenForOperatorSecret.into()),
    };
    let key = signing_key(pool, operator, owner)
        .await?
        .ok_or(SecretError::NoOperatorSecret)?;
    Ok((key, scope))
}

/// A new secret for the calling key; the operator's is rotated in the settings.
pub async fn rotate_caller_secret(
    pool: &PgPool,
    identity: &Identity,
) -> Result<SigningKey, SecretError> {
    let key = match *identity {
        Identity::Program(key) => key,
        Identity::Visitor(_) => return Err(SecretError::Visitor),
        Identity::Anonymous => return Err(SecretError::OperatorRotatesInSettings),
    };
    rotate(pool, key)
        .await?
        .ok_or(SecretError::Unauthenticated(Credential::UnknownKey))
}
