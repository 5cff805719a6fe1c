//! Webhooks, as a job asks for them and as they are signed: a submission's `webhook` and
//! `webhook_events` fields, checked by the guard image URLs pass; the Standard Webhooks
//! signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`); and each API key's
//! signing secret, or the operator's for jobs without a key. `deliverer` sends the
//! messages; `routes::webhooks` shows and rotates the secret.

use crate::services::error::{database, echo, InvalidParameter, Outage, UrlRefused};
use crate::services::fetch::Guard;
use crate::services::refuse_control_characters;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use stylize_shared::webhooks::{self as outbox, EVENTS};
use uuid::Uuid;

/// Longest webhook URL taken.
pub const MAX_URL_LENGTH: usize = 2048;

/// The events a job is told of when it names none.
const DEFAULT_EVENT: &str = "completed";

/// How the secret is written: this prefix, then the key's bytes in base64.
const SECRET_PREFIX: &str = "whsec_";

/// A submission's webhook fields, as read from its form.
#[derive(Default)]
pub(crate) struct WebhookFields {
    pub url: Option<String>,
    /// Each `webhook_events` field, which may list several events, comma-separated.
    pub events: Vec<String>,
}

/// Why a submission's webhook fields are not taken.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook_events without a webhook: send the URL in the form field \"webhook\"")]
    EventsWithoutUrl,
    #[error(transparent)]
    Invalid(#[from] InvalidParameter),
    #[error(transparent)]
    Refused(#[from] UrlRefused),
}

/// A webhook as a job keeps it.
pub(crate) struct Webhook {
    pub url: String,
    /// In the order of [`EVENTS`], each once.
    pub events: Vec<String>,
}

impl WebhookFields {
    /// The fields checked: the URL's length and form first, then its events, then the
    /// guard (which resolves the URL's name).
    pub async fn check(self, guard: &Guard) -> Result<Option<Webhook>, WebhookError> {
        let Some(url) = self.url else {
            if self.events.is_empty() {
                return Ok(None);
            }
            return Err(WebhookError::EventsWithoutUrl);
        };
        let invalid = |message: String| InvalidParameter::new("webhook", message);
        if url.len() > MAX_URL_LENGTH {
            return Err(invalid(format!(
                "at most {MAX_URL_LENGTH} characters, got {}",
                url.len()
            ))
            .into());
        }
        refuse_control_characters(&url).map_err(invalid)?;
        let parsed = reqwest::Url::parse(&url)
            .map_err(|error| invalid(format!("not a URL ({error}): {:?}", echo(&url))))?;
        let asked: Vec<&str> = self
            .events
            .iter()
            .flat_map(|field| field.split(','))
            .map(str::trim)
            .filter(|event| !event.is_empty())
            .collect();
        if let Some(unknown) = asked.iter().find(|event| !EVENTS.contains(event)) {
            return Err(InvalidParameter::new(
                "webhook_events",
                format!(
                    "unknown event {:?}; expected any of {}",
                    echo(unknown),
                    EVENTS.join(", ")
                ),
            )
            .into());
        }
        let events = match asked.is_empty() {
            true => vec![DEFAULT_EVENT.to_owned()],
            false => EVENTS
                .iter()
                .filter(|event| asked.contains(event))
                .map(|event| event.to_string())
                .collect(),
        };
        guard.check(&parsed).await.map_err(|refused| UrlRefused {
            field: "webhook".into(),
            reason: refused.0,
        })?;
        Ok(Some(Webhook { url, events }))
    }
}

/// A webhook signing key.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// 32 random bytes.
    fn generate() -> Result<Self, Outage> {
        let mut key = vec![0; 32];
        getrandom::getrandom(&mut key)
            .map_err(|error| Outage::Internal(format!("no random bytes: {error}")))?;
        Ok(SigningKey(key))
    }

    /// A key as [`SigningKey::shown`] writes it (`webhooks.secret`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| anyhow::anyhow!("a webhook secret starts with {SECRET_PREFIX}"))?;
        let key = BASE64.decode(encoded)?;
        anyhow::ensure!(key.len() >= 24, "a webhook secret holds at least 24 bytes");
        Ok(SigningKey(key))
    }

    /// `whsec_` and the key in base64, as receivers' Standard Webhooks libraries take it.
    pub fn shown(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The `webhook-signature` of `body` sent as message `id` at `timestamp` (Unix
    /// seconds): `v1,` and the HMAC-SHA256 of `{id}.{timestamp}.{body}` in base64.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The key that signs the webhooks of `owner`'s jobs (made at first use), or of jobs
/// without a key: the operator's. `None` when there is none.
pub async fn signing_key(
    pool: &PgPool,
    operator: Option<&SigningKey>,
    owner: Option<Uuid>,
) -> Result<Option<SigningKey>, Outage> {
    let Some(owner) = owner else {
        return Ok(operator.cloned());
    };
    let fresh = SigningKey::generate()?;
    let key = outbox::key_secret(pool, owner, &fresh.0)
        .await
        .map_err(database)?;
    Ok(key.map(SigningKey))
}

/// A new secret for `key`, which signs every message sent from now on, retries
/// included; `None` when the key is unknown.
pub async fn rotate(pool: &PgPool, key: Uuid) -> Result<Option<SigningKey>, Outage> {
    let fresh = SigningKey::generate()?;
    let rotated = outbox::rotate_key_secret(pool, key, &fresh.0)
        .await
        .map_err(database)?;
    Ok(rotated.then_some(fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(key.shown(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningKey::parse("whsec_c2hvcnQ=").is_err());
    }
}
