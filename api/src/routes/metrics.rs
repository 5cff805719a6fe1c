//! `/metrics`, for Prometheus (on the main port, or alone on `http.metrics_address`).

use crate::http::routing::{get, resource};
use crate::services::metrics::Live;
use crate::services::state::AppState;
use actix_web::{web, HttpResponse};
use stylize_shared::metrics::CONTENT_TYPE;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/metrics").route(get().to(scrape)));
}

/// The gauges read from their sources, then every metric.
#[utoipa::path(get, path = "/metrics", tag = "service", summary = "Prometheus metrics",
    security(()), responses(
    (status = 200, description = "Prometheus metrics", content_type = "text/plain"),
))]
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let live = Live {
        streams_open: state.streams.open(),
        jobs_followed: state.live.followed(),
    };
    let body = state
        .metrics
        .scrape(&state.backends.pool, &state.backends.queue, live)
        .await;
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(body)
}
