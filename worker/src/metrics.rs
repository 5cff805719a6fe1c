//! The worker's own `/metrics` (and `/healthz`, and `/readyz`: `503` until PostgreSQL
//! and RabbitMQ have answered at start-up), served on a small HTTP server of its own:
//! jobs by outcome, job durations, iterations (a rate in Prometheus gives iterations per
//! second), the wait from claim to first iteration, the fast network's passes, jobs
//! published again for a lost message, readiness, and the device.

use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};
use std::net::{SocketAddr, TcpListener};
use stylize_shared::metrics::{registered, render, CONTENT_TYPE};

#[derive(Clone)]
pub struct WorkerMetrics {
    registry: Registry,
    /// Runs by how they ended: succeeded, failed, canceled, handed_back.
    pub runs: IntCounterVec,
    pub run_seconds: HistogramVec,
    pub iterations: IntCounter,
    /// From claiming a job to its first finished iteration (inputs fetched and decoded,
    /// style targets computed).
    pub first_iteration_seconds: Histogram,
    /// One pass of the fast network: a `fast` job's picture, a `full` job's first preview.
    pub fast_pass_seconds: Histogram,
    pub busy: IntGauge,
    /// Queued jobs published again because RabbitMQ had lost their message.
    pub republished: IntCounter,
    /// 1 once the worker's start-up found PostgreSQL (migrated) and RabbitMQ.
    pub ready: IntGauge,
}

impl WorkerMetrics {
    pub fn new(worker: &str, device: &str) -> Self {
        let registry = Registry::new();
        let info = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new("stylize_worker_info", "The worker's name and device"),
                &["worker", "device"],
            )
            .expect("valid metric"),
        );
        info.with_label_values(&[worker, device]).set(1);
        WorkerMetrics {
            runs: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new("stylize_worker_runs_total", "Job runs, by outcome"),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            run_seconds: registered(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "stylize_worker_run_duration_seconds",
                        "Wall time of a job run, from claim to recorded outcome",
                    )
                    .buckets(exponential_buckets(0.5, 2.0, 12).expect("valid buckets")),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            iterations: registered(
                &registry,
                IntCounter::new(
                    "stylize_worker_iterations_total",
                    "Optimisation iterations finished",
                )
                .expect("valid metric"),
            ),
            first_iteration_seconds: registered(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "stylize_worker_first_iteration_seconds",
                        "From claiming a job to its first iteration",
                    )
                    .buckets(exponential_buckets(0.01, 2.0, 12).expect("valid buckets")),
                )
                .expect("valid metric"),
            ),
            fast_pass_seconds: registered(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "stylize_worker_fast_pass_seconds",
                        "One pass of the fast network (style vectors and transform)",
                    )
                    .buckets(exponential_buckets(0.01, 2.0, 12).expect("valid buckets")),
                )
                .expect("valid metric"),
            ),
            busy: registered(
                &registry,
                IntGauge::new("stylize_worker_busy", "Jobs running now").expect("valid metric"),
            ),
            republished: registered(
                &registry,
                IntCounter::new(
                    "stylize_worker_republished_total",
                    "Queued jobs published again because RabbitMQ had lost their message",
                )
                .expect("valid metric"),
            ),
            ready: registered(
                &registry,
                IntGauge::new(
                    "stylize_worker_ready",
                    "1 once PostgreSQL and RabbitMQ answered at start-up",
                )
                .expect("valid metric"),
            ),
            registry,
        }
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` on `address` from a thread of its own
    /// (the worker's runtime stays free for jobs); returns the bound address.
    pub fn serve(&self, address: &str) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(address)?;
        let bound = listener.local_addr()?;
        let registry = web::Data::new(self.registry.clone());
        let ready = web::Data::new(self.ready.clone());
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(registry.clone())
                            .app_data(ready.clone())
                            .route("/metrics", web::get().to(scrape))
                            .route("/healthz", web::get().to(healthy))
                            .route("/readyz", web::get().to(readiness))
                    })
                    .workers(1)
                    .disable_signals()
                    .listen(listener)?;
                    server.run().await
                })
            })?;
        Ok(bound)
    }
}

async fn scrape(registry: web::Data<Registry>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(render(&registry))
}

async fn healthy() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Whether the worker takes jobs yet: not while its start-up waits for PostgreSQL or
/// RabbitMQ.
async fn readiness(ready: web::Data<IntGauge>) -> HttpResponse {
    if ready.get() == 1 {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "starting",
            "detail": "waiting for PostgreSQL and RabbitMQ",
        }))
    }
}
