//! The webhook deliverer every api replica runs beside its routes: it claims due
//! messages of the outbox (at most a few at once per receiver, over all replicas) (`FOR UPDATE SKIP LOCKED`, under a lease, so replicas share
//! the work and a message whose deliverer died is taken by another when its lease ends),
//! POSTs each, signed, to its URL through the SSRF guard (the name resolved again at
//! every attempt), and records every attempt; a message that got a 2xx is never sent
//! again, one that did not is tried again with exponential backoff until it is given up
//! (its receiver's other messages waiting as long). Attempts run side by side, so a
//! receiver that never answers costs its own messages their time and nobody else's.
//! It wakes on PostgreSQL's notice of a new message, and polls besides. Messages
//! delivered or given up are deleted, with their attempts, once `webhooks.keep_finished_seconds`
//! has passed.
//!
//! It lives in the api, whose job view the messages carry (the worker restarting does
//! not touch it; an api replica dying mid-attempt leaves the message to the others
//! once its lease ends).

use crate::services::fetch::{refusal, Guard};
use crate::services::metrics::ApiMetrics;
use crate::services::signing::{signing_key, SigningKey};
use crate::services::state::{AppState, Backends};
use crate::view::JobView;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use stylize_core::job::JobState;
use stylize_shared::config::WebhookSettings;
use stylize_shared::error_chain;
use stylize_shared::telemetry;
use stylize_shared::webhooks::{self as outbox, Attempt, Message, CHANNEL};
use tracing::Instrument;

/// Attempts under way at once in one deliverer.
const IN_FLIGHT: i64 = 32;

/// Finished messages deleted per statement.
const PRUNE_BATCH: i64 = 1000;

/// The longest answer body read (and then dropped): receivers need say nothing.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What delivering reads and writes: the outbox and jobs (and a succeeded job's last
/// progress), the signing secrets, the guard every URL passes, and the metrics.
pub struct Deliverer {
    backends: Arc<Backends>,
    /// Signs the webhooks of jobs without an API key (`webhooks.secret`).
    operator_secret: Option<SigningKey>,
    guard: Arc<Guard>,
    metrics: Arc<ApiMetrics>,
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl Deliverer {
    pub fn new(state: &AppState, settings: WebhookSettings) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(settings.timeout_seconds);
        let guard = state.fetcher.guard.clone();
        let client = guard.client(timeout).timeout(timeout).build()?;
        Ok(Deliverer {
            backends: state.backends.clone(),
            operator_secret: state.webhook_secret.clone(),
            guard,
            metrics: state.metrics.clone(),
            client,
            settings,
        })
    }

    /// Delivers for as long as the process lives: a message cut off mid-attempt is due
    /// again when its lease ends. Each attempt runs on its own, up to [`IN_FLIGHT`] at
    /// once, so a receiver that answers slowly (or never) delays nobody else's messages.
    pub async fn run(self) {
        let deliverer = Arc::new(self);
        let poll = Duration::from_millis(deliverer.settings.poll_ms.max(10));
        let mut listener: Option<PgListener> = None;
        let mut pruned_at = tokio::time::Instant::now();
        let mut attempts = tokio::task::JoinSet::new();
        loop {
            if pruned_at.elapsed() >= deliverer.prune_every() {
                deliverer.prune().await;
                pruned_at = tokio::time::Instant::now();
            }
            // Subscribed before claiming, so no message added meanwhile is missed.
            if listener.is_none() {
                listener = deliverer.listen().await;
            }
            let room = IN_FLIGHT - attempts.len() as i64;
            let claimed = if room > 0 {
                match outbox::claim_due(&deliverer.backends.pool, deliverer.lease(), room).await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "claiming webhook messages");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let more_due = room > 0 && claimed.len() as i64 == room;
            for message in claimed {
                let deliverer = deliverer.clone();
                attempts.spawn(async move { deliverer.deliver(message).await });
            }
            if more_due {
                // Claim more once an attempt makes room.
                attempts.join_next().await;
                continue;
            }
            tokio::select! {
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                notice = next_notice(&mut listener, poll) => if let Err(error) = notice {
                    tracing::warn!(%error, "listening for webhook messages");
                    listener = None;
                },
            }
        }
    }

    /// How often finished messages are looked for: a tenth of how long they are kept,
    /// within a second and ten minutes.
    fn prune_every(&self) -> Duration {
        let kept = Duration::from_secs(self.settings.keep_finished_seconds);
        (kept / 10).clamp(Duration::from_secs(1), Duration::from_secs(600))
    }

    /// Deletes the messages delivered or given up longer ago than they are kept. Every
    /// replica does: a message deleted twice is deleted once.
    async fn prune(&self) {
        let kept = Duration::from_secs(self.settings.keep_finished_seconds);
        loop {
            match outbox::prune_finished(&self.backends.pool, kept, PRUNE_BATCH).await {
                Ok(pruned) => {
                    self.metrics.webhooks_pruned(pruned);
                    if pruned < PRUNE_BATCH as u64 {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "pruning finished webhook messages");
                    return;
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.backends.pool).await.ok()?;
        listener.listen(CHANNEL).await.ok()?;
        Some(listener)
    }

    /// How long a claimed message is this deliverer's: well past an attempt's limit.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds * 2 + 5)
    }

    /// The wait after `attempts` failed attempts: the first retry's, doubled after each.
    fn retry_in(&self, attempts: i32) -> Duration {
        let first = Duration::from_millis(self.settings.first_retry_ms);
        let ceiling = Duration::from_secs(self.settings.max_retry_interval_seconds);
        let doublings = attempts.clamp(1, 32) as u32 - 1;
        first
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(ceiling)
    }

    /// One attempt at `message`, in a client span of its job's trace.
    async fn deliver(&self, message: Message) {
        let span = tracing::info_span!(
            "webhook attempt",
            otel.name = %format!("POST webhook {}", message.event),
            otel.kind = "client",
            http.request.method = "POST",
            message = %message.id,
            job = %message.job_id,
            attempt = message.attempts + 1,
            trace_id = tracing::field::Empty,
        );
        telemetry::continue_trace(&span, message.trace_context.as_deref());
        self.attempt(message).instrument(span).await
    }

    async fn attempt(&self, message: Message) {
        let body = match &message.body {
            Some(body) => Ok(body.clone()),
            None => self.body(&message).await,
        };
        let (body, status, error) = match body {
            Ok(body) => {
                let (status, error) = self.post(&message, &body).await;
                (Some(body), status, error)
            }
            // Recorded as a failed attempt: the next builds it again.
            Err(error) => (None, None, Some(error)),
        };
        let delivered = status.is_some_and(|status| (200..300).contains(&status));
        let attempt = Attempt {
            body: body.as_deref(),
            status,
            error: error.as_deref(),
            retry_in: (!delivered).then(|| self.retry_in(message.attempts + 1)),
            give_up_after: Duration::from_secs(self.settings.give_up_after_seconds),
        };
        let recorded = outbox::record_attempt(&self.backends.pool, &message, &attempt).await;
        if let Ok(true) = recorded {
            let since_event = || (chrono::Utc::now() - message.created_at).to_std();
            let taken = delivered.then(|| since_event().unwrap_or_default());
            self.metrics.webhook_attempt(taken);
        }
        match recorded {
            Ok(true) if delivered => tracing::debug!("webhook delivered"),
            Ok(true) => tracing::info!(?status, ?error, "webhook attempt failed"),
            Ok(false) => tracing::warn!("the webhook message's lease ran out before its attempt"),
            Err(error) => tracing::error!(%error, "recording a webhook attempt"),
        }
    }

    /// The message's body: the job's view as its event left it.
    async fn body(&self, message: &Message) -> Result<String, String> {
        let row = outbox::job_then(&self.backends.pool, message.id)
            .await
            .map_err(|error| format!("reading the job: {error}"))?;
        let progress = match (&message.progress, row.state()) {
            (Some(progress), _) => Some(progress.0.clone()),
            // A succeeded job's last progress, as its view shows it.
            (None, JobState::Succeeded) => self.backends.progress.get(row.id).await.ok().flatten(),
            _ => None,
        };
        Ok(serde_json::to_string(&JobView::new(&row, progress)).expect("views serialise"))
    }

    /// POSTs the message once: the receiver's status, or why there was none.
    async fn post(&self, message: &Message, body: &str) -> (Option<u16>, Option<String>) {
        let key = signing_key(
            &self.backends.pool,
            self.operator_secret.as_ref(),
            message.owner,
        )
        .await;
        let key = match key {
            Ok(Some(key)) => key,
            Ok(None) => return (None, Some("no signing secret (webhooks.secret)".into())),
            Err(error) => return (None, Some(format!("reading the signing secret: {error}"))),
        };
        let url = match reqwest::Url::parse(&message.url) {
            Ok(url) => url,
            Err(error) => return (None, Some(format!("not a URL: {error}"))),
        };
        if let Err(refused) = self.guard.check_url(&url) {
            return (None, Some(format!("refused: {refused}")));
        }
        let id = format!("msg_{}", message.id.simple());
        let timestamp = chrono::Utc::now().timestamp();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", key.sign(&id, timestamp, body))
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                // Read a little of the answer so the connection can be used again.
                let mut read = 0;
                while let Ok(Some(chunk)) = response.chunk().await {
                    read += chunk.len();
                    if read > MAX_ANSWER_BYTES {
                        break;
                    }
                }
                (Some(status), None)
            }
            Err(error) => match refusal(&error) {
                Some(reason) => (None, Some(format!("refused: {reason}"))),
                None => (None, Some(error_chain(&error))),
            },
        }
    }
}

/// The next notice of a new message, or `poll` passing (without a listener, only
/// that).
async fn next_notice(listener: &mut Option<PgListener>, poll: Duration) -> Result<(), sqlx::Error> {
    match listener.as_mut() {
        Some(notices) => match tokio::time::timeout(poll, notices.recv()).await {
            Ok(notice) => notice.map(drop),
            Err(_) => Ok(()),
        },
        None => {
            tokio::time::sleep(poll).await;
            Ok(())
        }
    }
}
