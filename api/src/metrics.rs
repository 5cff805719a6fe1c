//! `/metrics`: requests by route and status with latency histograms, counted by a
//! middleware; webhook attempts, counted by the deliverer; jobs by state, the queue's
//! depth and the webhook messages still to deliver, read when Prometheus scrapes.

use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use std::time::{Duration, Instant};
use stylize_shared::job::JobState;
use stylize_shared::metrics::{registered, render, CONTENT_TYPE, REQUEST_SECONDS};

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
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The labels a request is counted under, from a fixed set whatever the client sends:
/// its route pattern (`/v1/jobs/{id}`, not the id itself), `unmatched` for a path no
/// API route has (the page's files and any made-up path), and its method, `other` for
/// a method outside HTTP's own.
fn labels(method: &Method, pattern: Option<String>) -> (&'static str, String) {
    let method = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    };
    let route = pattern
        .filter(|pattern| !pattern.is_empty())
        .unwrap_or_else(|| "unmatched".to_owned());
    (method, route)
}

/// Counts every request, under [`labels`].
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let (method, route) = labels(request.method(), request.match_pattern());
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await;
    if let Some(state) = state {
        let status = match &response {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        let metrics = &state.metrics;
        metrics
            .requests
            .with_label_values(&[method, route.as_str(), status.as_str()])
            .inc();
        metrics
            .latency
            .with_label_values(&[method, route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(crate::edge::resource("/metrics").route(crate::edge::get().to(scrape)));
}

/// Reads the gauges from their sources. A source that does not answer keeps its last
/// value; `/readyz` is the place that reports it down.
#[utoipa::path(get, path = "/metrics", tag = "service", summary = "Prometheus metrics",
    security(()), responses(
    (status = 200, description = "Prometheus metrics", content_type = "text/plain"),
))]
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let metrics = &state.metrics;
    if let Ok(counts) = stylize_shared::db::count_by_state(&state.pool).await {
        for job_state in JobState::ALL {
            let (count, oldest) = counts
                .iter()
                .find(|(name, ..)| name == job_state.as_str())
                .map_or((0, 0.0), |(_, count, oldest)| (*count, *oldest));
            metrics
                .jobs
                .with_label_values(&[job_state.as_str()])
                .set(count);
            if job_state == JobState::Queued {
                metrics.oldest_queued.set(oldest);
            }
        }
    }
    if let Ok(queue) = state.queue.declared_counts().await {
        metrics.queue_ready.set(i64::from(queue.message_count()));
        metrics
            .queue_consumers
            .set(i64::from(queue.consumer_count()));
    }
    if let Ok(dead) = state.queue.dead_letter_depth().await {
        metrics.dead_letters.set(i64::from(dead));
    }
    if let Ok(pending) = stylize_shared::webhooks::count_pending(&state.pool).await {
        metrics.webhook_pending.set(pending);
    }
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(render(&metrics.registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_a_fixed_set() {
        let made_up = Method::from_bytes(b"PROBEX1").unwrap();
        assert_eq!(labels(&made_up, None), ("other", "unmatched".to_owned()));
        assert_eq!(
            labels(&Method::GET, Some("/v1/jobs/{id}".into())),
            ("GET", "/v1/jobs/{id}".to_owned())
        );
        // The page's files are served under the root prefix, whose pattern is empty.
        assert_eq!(labels(&Method::GET, Some(String::new())).1, "unmatched");
    }
}
