//! `/healthz` (the process answers) and `/readyz` (the api can serve: PostgreSQL, the
//! truth about jobs, answers). Redis, RabbitMQ and S3 are reported beside it: without
//! them some calls answer 503, but status and lists still work, so a replica stays in
//! service through their outages. Until every one of them has answered once since the
//! process started, though, `/readyz` is a `503` naming those it still waits for.

use crate::http::problem::{ApiError, Problem};
use crate::http::routing::{get, resource};
use crate::services::readiness::{self, Readiness, Startup};
use crate::services::state::AppState;
use actix_web::{web, HttpResponse, ResponseError};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/healthz").route(get().to(healthz)))
        .service(resource("/readyz").route(get().to(ready)));
}

/// What `/healthz` answers: `ok`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Liveness {
    status: &'static str,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "`ok`", body = Liveness)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "ok" })
}

/// Whether the api can serve: PostgreSQL answers (the other services are reported).
#[utoipa::path(get, path = "/readyz", tag = "service", security(()), responses(
    (status = 200, description = "`ready`, or `degraded` without Redis, RabbitMQ or S3",
        body = Readiness),
    (status = 503, description = "Still starting (a problem), or the database is down",
        content((Readiness = "application/json"), (Problem = "application/problem+json"))),
))]
async fn ready(state: web::Data<AppState>, startup: web::Data<Startup>) -> HttpResponse {
    if let Some(waiting) = startup.waiting_for() {
        return ApiError::from(waiting).error_response();
    }
    let readiness = readiness::check(&state.backends).await;
    if readiness.database {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}
