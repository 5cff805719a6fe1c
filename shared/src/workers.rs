//! The worker registry in Redis: each worker reports what it is (name, device, capacity),
//! how busy it is and how fast it has recently been, every [`REPORT_EVERY`]; the api
//! reads the reports to show the queue and to estimate how long a job will take.
//!
//! A report lives under a key of its own that expires after [`REPORT_TTL_SECONDS`], so a
//! worker that dies drops out within that time; a sorted set of the worker names, scored
//! by the time of their latest report, lists them without a scan and is trimmed of stale
//! names on each read. Both are kept per job queue: the workers that serve an api are
//! those taking jobs from its queue.

use crate::config::RedisSettings;
use crate::lazy_redis::{LazyConnection, Redis};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a worker reports.
pub const REPORT_EVERY: Duration = Duration::from_secs(3);
/// How long a report stands without the next one: a little over three reports.
pub const REPORT_TTL_SECONDS: u64 = 10;
/// The most workers one read returns (the most recently reported first), so reading the
/// registry stays one bounded round trip whatever the fleet's size.
pub const MAX_LISTED: usize = 100;

/// What a worker is, for its whole life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerIdentity {
    pub name: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Jobs it runs at once (`worker.concurrency`).
    pub capacity: u32,
}

/// How fast a worker has recently been, per megapixel of output (iterations scale with
/// the image's pixels); `None` until it has measured one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rates {
    /// Seconds one optimisation iteration takes per megapixel.
    pub seconds_per_iteration_per_megapixel: Option<f64>,
    /// Seconds one pass of the fast network takes per megapixel (style vectors included).
    pub fast_pass_seconds_per_megapixel: Option<f64>,
}

/// One worker's report, as stored and as `GET /v1/queue` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerReport {
    #[serde(flatten)]
    pub identity: WorkerIdentity,
    /// Jobs running on it now.
    pub running: u32,
    #[serde(flatten)]
    pub rates: Rates,
    pub reported_at: DateTime<Utc>,
}

impl WorkerReport {
    /// A report made now.
    pub fn now(identity: WorkerIdentity, running: u32, rates: Rates) -> Self {
        WorkerReport {
            identity,
            running,
            rates,
            reported_at: Utc::now(),
        }
    }
}

#[derive(Clone)]
pub struct WorkerRegistry {
    connection: LazyConnection,
    /// The sorted set of worker names.
    index: String,
    /// Each report's key is this followed by the worker's name.
    report_prefix: String,
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl WorkerRegistry {
    /// The registry of the workers taking jobs from `queue` (`amqp.queue`).
    pub async fn connect(settings: &RedisSettings, queue: &str) -> redis::RedisResult<Self> {
        Ok(Self::on(&Redis::open(settings)?, queue))
    }

    /// The registry of `queue`'s workers, on the process's shared connection.
    pub fn on(redis: &Redis, queue: &str) -> Self {
        WorkerRegistry {
            connection: redis.connection.clone(),
            index: format!("stylize:workers:{queue}"),
            report_prefix: format!("stylize:worker:{queue}:"),
        }
    }

    fn report_key(&self, name: &str) -> String {
        format!("{}{name}", self.report_prefix)
    }

    /// Stores `report` (with expiry) and lists its worker, in one round trip. The index
    /// expires too, so a queue no worker serves any more leaves nothing behind.
    pub async fn publish(&self, report: &WorkerReport) -> redis::RedisResult<()> {
        let name = &report.identity.name;
        let json = serde_json::to_string(report).expect("a report serialises");
        redis::pipe()
            .atomic()
            .set_ex(self.report_key(name), json, REPORT_TTL_SECONDS)
            .ignore()
            .zadd(&self.index, name, unix_seconds())
            .ignore()
            .expire(&self.index, REPORT_TTL_SECONDS as i64)
            .ignore()
            .query_async::<()>(&mut self.connection.clone())
            .await
    }

    /// Takes `name` off the registry at once (a worker shutting down).
    pub async fn withdraw(&self, name: &str) -> redis::RedisResult<()> {
        redis::pipe()
            .atomic()
            .del(self.report_key(name))
            .ignore()
            .zrem(&self.index, name)
            .ignore()
            .query_async::<()>(&mut self.connection.clone())
            .await
    }

    /// The current reports, most recent first, at most [`MAX_LISTED`]: two round trips
    /// (trim and list the names, then read their reports), whatever the fleet's size.
    pub async fn list(&self) -> redis::RedisResult<Vec<WorkerReport>> {
        let stale_before = unix_seconds() - REPORT_TTL_SECONDS as f64;
        let (names,): (Vec<String>,) = redis::pipe()
            .atomic()
            .zrembyscore(&self.index, "-inf", stale_before)
            .ignore()
            .zrevrange(&self.index, 0, MAX_LISTED as isize - 1)
            .query_async(&mut self.connection.clone())
            .await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = names.iter().map(|name| self.report_key(name)).collect();
        let reports: Vec<Option<String>> = redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.connection.clone())
            .await?;
        // A name whose report expired between the two calls is skipped.
        Ok(reports
            .into_iter()
            .flatten()
            .filter_map(|json| serde_json::from_str(&json).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_one_flat_object() {
        let report = WorkerReport::now(
            WorkerIdentity {
                name: "w1".into(),
                device: "cpu".into(),
                capacity: 2,
            },
            1,
            Rates {
                seconds_per_iteration_per_megapixel: Some(12.5),
                fast_pass_seconds_per_megapixel: None,
            },
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["name"], "w1");
        assert_eq!(json["device"], "cpu");
        assert_eq!(json["capacity"], 2);
        assert_eq!(json["running"], 1);
        assert_eq!(json["seconds_per_iteration_per_megapixel"], 12.5);
        assert!(json["fast_pass_seconds_per_megapixel"].is_null());
        assert_eq!(
            serde_json::from_value::<WorkerReport>(json).unwrap(),
            report
        );
    }
}
