//! Readiness. Starting without the services: the api binds its port and serves at once, while each
//! service it needs is connected, and prepared, in the background: PostgreSQL migrated,
//! the preset paintings stored in S3, RabbitMQ's queues
//! declared, Redis answering. Each is tried again with backoff until it answers, each
//! failure logged, so the api can start before its services (a whole deployment
//! starting at once, or one still down); `/readyz` answers `503` naming those it still
//! waits for. After that, [`check`] says which services answer now.

use crate::services::catalogue::PresetFiles;
use crate::services::state::Backends;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use stylize_shared::backoff;
use stylize_shared::db;
use tokio::sync::watch;

/// The api is up, and still waits at start-up for the services named.
#[derive(Debug, thiserror::Error)]
#[error("starting: waiting for {0}")]
pub struct Starting(pub String);

/// The services waited for, each with why its last try failed.
pub struct Startup {
    waiting: Mutex<BTreeMap<&'static str, String>>,
    /// Turns true once none is waited for.
    ready: watch::Sender<bool>,
}

const POSTGRESQL: &str = "PostgreSQL";
const S3: &str = "S3";
const RABBITMQ: &str = "RabbitMQ";
const REDIS: &str = "Redis";

impl Startup {
    /// Starts connecting to every service, in the background.
    pub fn begin(backends: Arc<Backends>, presets: PresetFiles) -> Arc<Self> {
        let waiting =
            [POSTGRESQL, S3, RABBITMQ, REDIS].map(|service| (service, "connecting".to_owned()));
        let startup = Arc::new(Startup {
            waiting: Mutex::new(BTreeMap::from(waiting)),
            ready: watch::Sender::new(false),
        });
        let on_database = backends.clone();
        startup.clone().connect(POSTGRESQL, move || {
            let backends = on_database.clone();
            async move { db::migrate(&backends.pool).await }
        });
        let presets = Arc::new(presets);
        let on_storage = backends.clone();
        startup.clone().connect(S3, move || {
            let (backends, presets) = (on_storage.clone(), presets.clone());
            async move { presets.store(&backends.storage).await }
        });
        let on_queue = backends.clone();
        startup.clone().connect(RABBITMQ, move || {
            let backends = on_queue.clone();
            async move { backends.queue.depth().await.map(drop) }
        });
        startup.clone().connect(REDIS, move || {
            let backends = backends.clone();
            async move { backends.progress.check().await }
        });
        startup
    }

    /// Tries `attempt` until it succeeds, on a task of its own; then `service` is no
    /// longer waited for.
    fn connect<E, Fut>(
        self: Arc<Self>,
        service: &'static str,
        mut attempt: impl FnMut() -> Fut + Send + 'static,
    ) where
        E: Display + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        tokio::spawn(async move {
            let what = format!("connecting to {service}");
            backoff::until_ok(&what, backoff::start_up(), || {
                let call = attempt();
                let startup = self.clone();
                async move {
                    let result = call.await;
                    if let Err(error) = &result {
                        startup.lock().insert(service, error.to_string());
                    }
                    result
                }
            })
            .await;
            tracing::info!("{service} answers");
            let mut waiting = self.lock();
            waiting.remove(service);
            if waiting.is_empty() {
                tracing::info!("every service answers: ready");
                self.ready.send_replace(true);
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, String>> {
        self.waiting
            .lock()
            .expect("no panic while holding the lock")
    }

    /// The services still waited for, with why each last failed; `None` once every one
    /// has answered.
    pub fn waiting_for(&self) -> Option<Starting> {
        let waiting = self.lock();
        (!waiting.is_empty()).then(|| {
            Starting(
                waiting
                    .iter()
                    .map(|(service, error)| format!("{service} ({error})"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
    }

    /// Resolves once every service has answered.
    pub async fn ready(&self) {
        let _ = self.ready.subscribe().wait_for(|ready| *ready).await;
    }
}

/// Whether each service answers now, and what that makes the api: `ready`, `degraded`
/// (without Redis, RabbitMQ or S3 some calls answer 503, but status and lists still work)
/// or `unavailable` (PostgreSQL, the truth about jobs, does not answer).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: bool,
    pub storage: bool,
    pub redis: bool,
    pub queue: bool,
}

/// Asks every service once.
pub async fn check(backends: &Backends) -> Readiness {
    let database = sqlx::query("SELECT 1")
        .execute(&backends.pool)
        .await
        .is_ok();
    let storage = backends.storage.check().await.is_ok();
    let redis = backends.progress.check().await.is_ok();
    let queue = backends.queue.depth().await.is_ok();
    let status = match (database, storage && redis && queue) {
        (true, true) => "ready",
        (true, false) => "degraded",
        (false, _) => "unavailable",
    };
    Readiness {
        status,
        database,
        storage,
        redis,
        queue,
    }
}
