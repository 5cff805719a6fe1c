//! Live progress in Redis: the latest snapshot of each running job under a key that
//! expires, and the same snapshot published on the job's channel for those who listen
//! (server-sent events). PostgreSQL stays the truth; losing Redis loses only liveness.

use crate::config::RedisSettings;
use futures_util::stream::{BoxStream, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// One moment of a running job, as clients see it: the same JSON in a job's status
/// (`progress`) and in its event stream (`progress` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveProgress {
    pub phase: Phase,
    /// 0 until the first iteration ends.
    pub iteration: u32,
    pub total: u32,
    /// `iteration / total`.
    pub fraction: f64,
    /// The loss at `iteration`; `None` before the first.
    pub loss: Option<LossSnapshot>,
    pub elapsed_seconds: f64,
    pub eta_seconds: Option<f64>,
    /// The iteration the stored preview shows, once there is one.
    pub preview_iteration: Option<u32>,
}

/// What a running job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The fast network's pass: a `fast` job's only phase, a `full` job's first.
    Fast,
    /// The optimisation's iterations.
    Optimising,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossSnapshot {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
}

#[derive(Clone)]
pub struct ProgressStore {
    client: redis::Client,
    connection: ConnectionManager,
    ttl_seconds: u64,
}

fn key(job: Uuid) -> String {
    format!("stylize:progress:{job}")
}

/// Each job's progress is published on `EVENTS_PREFIX` + its id.
pub const EVENTS_PREFIX: &str = "stylize:events:";

fn channel(job: Uuid) -> String {
    format!("{EVENTS_PREFIX}{job}")
}

/// A cancel accepted for a running job is announced on its own channel, so its worker
/// stops at once rather than at its next heartbeat.
fn cancel_channel(job: Uuid) -> String {
    format!("stylize:cancel:{job}")
}

/// A connection whose calls wait boundedly: with Redis away, a call fails in about a
/// second (and the manager reconnects behind it) instead of holding a status request,
/// a submission or a worker's progress loop. Every Redis user in this crate (progress, rate limits, the worker registry) connects
/// here; the client is for what a shared connection cannot do (subscriptions).
pub(crate) async fn bounded_connection(
    settings: &RedisSettings,
) -> redis::RedisResult<(redis::Client, ConnectionManager)> {
    let client = redis::Client::open(settings.url.as_str())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1)
        .set_max_delay(500);
    let connection = client.get_connection_manager_with_config(config).await?;
    Ok((client, connection))
}

impl ProgressStore {
    pub async fn connect(settings: &RedisSettings) -> redis::RedisResult<Self> {
        let (client, connection) = bounded_connection(settings).await?;
        Ok(ProgressStore {
            client,
            connection,
            ttl_seconds: settings.progress_ttl_seconds,
        })
    }

    /// Stores the snapshot (with expiry) and publishes it, in one round trip.
    pub async fn publish(&self, job: Uuid, progress: &LiveProgress) -> redis::RedisResult<()> {
        let json = serde_json::to_string(progress).expect("progress serialises");
        redis::pipe()
            .set_ex(key(job), &json, self.ttl_seconds)
            .ignore()
            .publish(channel(job), &json)
            .ignore()
            .query_async::<()>(&mut self.connection.clone())
            .await
    }

    pub async fn get(&self, job: Uuid) -> redis::RedisResult<Option<LiveProgress>> {
        let json: Option<String> = redis::cmd("GET")
            .arg(key(job))
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// Snapshots as the worker publishes them, from now on.
    pub async fn subscribe(
        &self,
        job: Uuid,
    ) -> redis::RedisResult<BoxStream<'static, LiveProgress>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(channel(job)).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|message| async move {
                let json: String = message.get_payload().ok()?;
                serde_json::from_str(&json).ok()
            })
            .boxed())
    }

    /// Tells the worker running `job` that a cancel was accepted (PostgreSQL holds the
    /// request too: a worker that misses this sees it at its next heartbeat).
    pub async fn announce_cancel(&self, job: Uuid) -> redis::RedisResult<()> {
        redis::cmd("PUBLISH")
            .arg(cancel_channel(job))
            .arg("cancel")
            .query_async::<()>(&mut self.connection.clone())
            .await
    }

    /// Yields once for each cancel announced for `job` from now on.
    pub async fn cancels(&self, job: Uuid) -> redis::RedisResult<BoxStream<'static, ()>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(cancel_channel(job)).await?;
        Ok(pubsub.into_on_message().map(drop).boxed())
    }

    /// Whether Redis answers (readiness).
    pub async fn check(&self) -> redis::RedisResult<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.connection.clone())
            .await
            .map(drop)
    }
}
