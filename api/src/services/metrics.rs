//! The api's Prometheus registry: requests by route and status with latency histograms,
//! counted by `http::request_metrics`; webhook attempts, counted by the deliverer; jobs
//! by state, the queue's depth and the webhook messages still to deliver, read when
//! Prometheus scrapes (`routes::metrics`).

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};
use sqlx::PgPool;
use std::time::Duration;
use stylize_core::job::JobState;
use stylize_shared::metrics::{registered, render, REQUEST_SECONDS};
use stylize_shared::queue::JobQueue;

pub struct ApiMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    jobs: IntGaugeVec,
    oldest_queued: Gauge,
    queue_ready: IntGauge,
    queue_consumers: IntGauge,
    dead_letters: IntGauge,
    webhook_attempts: IntCounterVec,
    webhook_delivery: Histogram,
    webhook_pending: IntGauge,
    event_streams: IntGauge,
    jobs_followed: IntGauge,
    webhook_pruned: IntCounter,
}

/// From a receiver answering at once to one that was down for an hour.
const WEBHOOK_DELIVERY_SECONDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

impl ApiMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            registered(&registry, IntGauge::new(name, help).expect("valid metric"))
        };
        let metrics = ApiMetrics {
            requests: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new("stylize_http_requests_total", "HTTP requests answered"),
                    &["method", "route", "status"],
                )
                .expect("valid metric"),
            ),
            latency: registered(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "stylize_http_request_duration_seconds",
                        "Time to answer an HTTP request (to the first byte of a streamed body)",
                    )
                    .buckets(REQUEST_SECONDS.to_vec()),
                    &["method", "route"],
                )
                .expect("valid metric"),
            ),
            jobs: registered(
                &registry,
                IntGaugeVec::new(
                    Opts::new("stylize_jobs", "Jobs in PostgreSQL, by state"),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            oldest_queued: registered(
                &registry,
                Gauge::new(
                    "stylize_oldest_queued_job_age_seconds",
                    "Age of the oldest job still queued (0 when none is)",
                )
                .expect("valid metric"),
            ),
            queue_ready: gauge(
                "stylize_queue_ready_messages",
                "Messages waiting in the job queue",
            ),
            queue_consumers: gauge(
                "stylize_queue_consumers",
                "Workers waiting on the job queue",
            ),
            dead_letters: gauge(
                "stylize_queue_dead_letters",
                "Messages in the dead-letter queue",
            ),
            webhook_attempts: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "stylize_webhook_attempts_total",
                        "Webhook POSTs made, by outcome: delivered (a 2xx) or failed",
                    ),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            webhook_delivery: registered(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "stylize_webhook_delivery_seconds",
                        "From a webhook message's event to its receiver's 2xx, retries included",
                    )
                    .buckets(WEBHOOK_DELIVERY_SECONDS.to_vec()),
                )
                .expect("valid metric"),
            ),
            webhook_pending: gauge(
                "stylize_webhook_messages_pending",
                "Webhook messages neither delivered nor given up",
            ),
            event_streams: gauge(
                "stylize_event_streams_open",
                "Event streams this api holds open",
            ),
            jobs_followed: gauge(
                "stylize_jobs_followed",
                "Jobs this api's event streams and waits follow on its one Redis subscription",
            ),
            webhook_pruned: registered(
                &registry,
                IntCounter::new(
                    "stylize_webhook_messages_pruned_total",
                    "Webhook messages deleted once delivered or given up for \
                     webhooks.keep_finished_seconds",
                )
                .expect("valid metric"),
            ),
            registry,
        };
        // Both outcomes are series from the start, at 0, so dashboards need not wait.
        for outcome in ["delivered", "failed"] {
            metrics.webhook_attempts.with_label_values(&[outcome]);
        }
        metrics
    }
}

impl ApiMetrics {
    /// Counts a recorded webhook attempt; a delivered one also observes how long its
    /// message took from its event.
    pub fn webhook_attempt(&self, delivered: Option<Duration>) {
        let outcome = if delivered.is_some() {
            "delivered"
        } else {
            "failed"
        };
        self.webhook_attempts.with_label_values(&[outcome]).inc();
        if let Some(taken) = delivered {
            self.webhook_delivery.observe(taken.as_secs_f64());
        }
    }

    /// Counts finished webhook messages deleted.
    pub fn webhooks_pruned(&self, count: u64) {
        self.webhook_pruned.inc_by(count);
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What the api's live events hold now.
pub struct Live {
    pub streams_open: usize,
    pub jobs_followed: usize,
}

impl ApiMetrics {
    /// Counts one answered request under its labels.
    pub fn request(&self, method: &str, route: &str, status: &str, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Reads the gauges from their sources, then renders every metric. A source that
    /// does not answer keeps its last value; `/readyz` is the place that reports it down.
    pub async fn scrape(&self, pool: &PgPool, queue: &JobQueue, live: Live) -> Vec<u8> {
        self.event_streams.set(live.streams_open as i64);
        self.jobs_followed.set(live.jobs_followed as i64);
        if let Ok(counts) = stylize_shared::db::count_by_state(pool).await {
            for job_state in JobState::ALL {
                let (count, oldest) = counts
                    .iter()
                    .find(|(name, ..)| name == job_state.as_str())
                    .map_or((0, 0.0), |(_, count, oldest)| (*count, *oldest));
                self.jobs
                    .with_label_values(&[job_state.as_str()])
                    .set(count);
                if job_state == JobState::Queued {
                    self.oldest_queued.set(oldest);
                }
            }
        }
        if let Ok(counts) = queue.declared_counts().await {
            self.queue_ready.set(i64::from(counts.message_count()));
            self.queue_consumers.set(i64::from(counts.consumer_count()));
        }
        if let Ok(dead) = queue.dead_letter_depth().await {
            self.dead_letters.set(i64::from(dead));
        }
        if let Ok(pending) = stylize_shared::webhooks::count_pending(pool).await {
            self.webhook_pending.set(pending);
        }
        render(&self.registry)
    }
}
