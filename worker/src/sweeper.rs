//! The sweeper, a background task every worker runs unless `retention.days` is 0: every
//! `retention.sweep_interval_seconds`, the jobs that ended longer ago than the retention
//! period are deleted, a batch per step (`stylize_shared::retention::sweep_expired`,
//! which lets sweepers on several workers share the work without doing a job twice).

use crate::background::{BackgroundTask, TaskState};
use sqlx::PgPool;
use std::time::Duration;
use stylize_shared::config::RetentionSettings;
use stylize_shared::retention;
use stylize_shared::storage::Storage;
use tokio::time::{interval_at, Instant, Interval};

pub struct Sweeper {
    pool: PgPool,
    storage: Storage,
    keep_for: Duration,
    batch: u32,
    schedule: Interval,
}

impl Sweeper {
    /// The sweeper for `settings`; `None` when jobs are kept for ever.
    pub fn new(pool: PgPool, storage: Storage, settings: &RetentionSettings) -> Option<Self> {
        let every = Duration::from_secs(settings.sweep_interval_seconds.max(1));
        Some(Sweeper {
            pool,
            storage,
            keep_for: settings.keep_for()?,
            batch: settings.batch.max(1),
            schedule: interval_at(Instant::now() + every, every),
        })
    }
}

impl BackgroundTask for Sweeper {
    fn name(&self) -> &'static str {
        "sweeper"
    }

    /// One batch; another at once while batches come full.
    async fn step(&mut self) -> TaskState {
        match retention::sweep_expired(&self.pool, &self.storage, self.keep_for, self.batch).await {
            Ok(deleted) => {
                if !deleted.is_empty() {
                    tracing::info!(jobs = deleted.len(), "deleted jobs past their retention");
                }
                if deleted.len() == self.batch as usize {
                    TaskState::Busy
                } else {
                    TaskState::Idle
                }
            }
            Err(error) => {
                tracing::warn!(%error, "sweeping expired jobs; trying again at the next sweep");
                TaskState::Idle
            }
        }
    }

    async fn wait_for_work(&mut self) -> TaskState {
        self.schedule.tick().await;
        TaskState::Busy
    }
}
