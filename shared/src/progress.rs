//! Live progress in Redis: the latest snapshot of each running job under a key that
//! expires, and the same snapshot published on the job's channel for those who listen
//! (server-sent events). PostgreSQL stays the truth; losing Redis loses only liveness.

use crate::config::RedisSettings;
use crate::lazy_redis::{LazyConnection, Redis};
use futures_util::stream::{BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use stylize_core::job::JobState;
use uuid::Uuid;

/// One moment of a running job, as clients see it: the same JSON in a job's status
/// (`progress`) and in its event stream (`progress` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveProgress {
    pub phase: Phase,
    /// 0 until the first iteration ends.
    pub iteration: u32,
    pub total: u32,
    /// The coarse-to-fine level `iteration` ran at, 1-based (0 before the first
    /// iteration), of `scales`.
    pub scale: u32,
    pub scales: u32,
    /// The share of the work done: iterations weighed by their level's pixels, so an
    /// iteration at half the side counts a quarter.
    pub fraction: f64,
    /// The loss at `iteration`; `None` before the first.
    pub loss: Option<LossSnapshot>,
    pub elapsed_seconds: f64,
    pub eta_seconds: Option<f64>,
    /// The iteration the stored preview shows, once there is one.
    pub preview_iteration: Option<u32>,
}

/// What a running job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The fast network's pass: a `fast` job's only phase, a `full` job's first.
    Fast,
    /// The optimisation's iterations.
    Optimising,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LossSnapshot {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
}

#[derive(Clone)]
pub struct ProgressStore {
    client: redis::Client,
    connection: LazyConnection,
    ttl_seconds: u64,
}

fn key(job: Uuid) -> String {
    format!("stylize:progress:{job}")
}

/// Each job's progress is published on `EVENTS_PREFIX` + its id.
pub const EVENTS_PREFIX: &str = "stylize:events:";

/// Published on a job's channel once a change of its state is recorded (claimed, back
/// in the queue, ended), so that those following the job read its row then rather than
/// polling it. Whoever follows progress tells the two apart: it is no [`LiveProgress`].
#[derive(Serialize, Deserialize)]
struct StateChange {
    /// (`ended` from workers that announced ends only.)
    #[serde(alias = "ended")]
    state: JobState,
}

/// What a job's channel carries.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// A snapshot of the running job.
    Progress(LiveProgress),
    /// The job's row now records this state.
    State(JobState),
}

impl JobEvent {
    fn parse(json: &str) -> Option<JobEvent> {
        if let Ok(progress) = serde_json::from_str(json) {
            return Some(JobEvent::Progress(progress));
        }
        let change: StateChange = serde_json::from_str(json).ok()?;
        Some(JobEvent::State(change.state))
    }
}

fn channel(job: Uuid) -> String {
    format!("{EVENTS_PREFIX}{job}")
}

/// A cancel accepted for a running job is announced on its own channel, so its worker
/// stops at once rather than at its next heartbeat.
fn cancel_channel(job: Uuid) -> String {
    format!("stylize:cancel:{job}")
}

impl ProgressStore {
    /// A store on a connection of its own.
    pub async fn connect(settings: &RedisSettings) -> redis::RedisResult<Self> {
        Ok(Self::on(&Redis::open(settings)?, settings))
    }

    /// A store on the process's shared connection.
    pub fn on(redis: &Redis, settings: &RedisSettings) -> Self {
        ProgressStore {
            client: redis.client.clone(),
            connection: redis.connection.clone(),
            ttl_seconds: settings.progress_ttl_seconds,
        }
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

    /// [`Self::get`] of many jobs in one round trip, in their order.
    pub async fn get_many(&self, jobs: &[Uuid]) -> redis::RedisResult<Vec<Option<LiveProgress>>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = jobs.iter().map(|job| key(*job)).collect();
        let jsons: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(jsons
            .into_iter()
            .map(|json| json.and_then(|json| serde_json::from_str(&json).ok()))
            .collect())
    }

    /// Every job's events from now on, on one connection: what one api process fans out
    /// to all who follow a job (`services::live` in the api).
    pub async fn all_events(&self) -> redis::RedisResult<BoxStream<'static, (Uuid, JobEvent)>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.psubscribe(format!("{EVENTS_PREFIX}*")).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|message| async move {
                let job = message
                    .get_channel_name()
                    .strip_prefix(EVENTS_PREFIX)?
                    .parse()
                    .ok()?;
                let json: String = message.get_payload().ok()?;
                Some((job, JobEvent::parse(&json)?))
            })
            .boxed())
    }

    /// Tells those following `job` that its row now records `state` (PostgreSQL, already
    /// written, holds it: one who misses this reads it there).
    pub async fn announce_state(&self, job: Uuid, state: JobState) -> redis::RedisResult<()> {
        let json = serde_json::to_string(&StateChange { state }).expect("a state serialises");
        redis::cmd("PUBLISH")
            .arg(channel(job))
            .arg(json)
            .query_async::<()>(&mut self.connection.clone())
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_change_is_no_snapshot_and_a_snapshot_no_state_change() {
        let change = serde_json::to_string(&StateChange {
            state: JobState::Succeeded,
        })
        .unwrap();
        assert_eq!(change, r#"{"state":"succeeded"}"#);
        assert_eq!(
            JobEvent::parse(&change),
            Some(JobEvent::State(JobState::Succeeded))
        );
        // As workers before state changes announced their ends.
        assert_eq!(
            JobEvent::parse(r#"{"ended":"failed"}"#),
            Some(JobEvent::State(JobState::Failed))
        );
        let snapshot = LiveProgress {
            phase: Phase::Fast,
            iteration: 1,
            total: 1,
            scale: 0,
            scales: 1,
            fraction: 1.0,
            loss: None,
            elapsed_seconds: 0.1,
            eta_seconds: None,
            preview_iteration: Some(0),
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(JobEvent::parse(&json), Some(JobEvent::Progress(snapshot)));
        assert_eq!(JobEvent::parse("cancel"), None);
    }
}
