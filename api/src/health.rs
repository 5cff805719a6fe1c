//! `/healthz` (the process answers) and `/readyz` (the api can serve: PostgreSQL, the
//! truth about jobs, answers). Redis, RabbitMQ and S3 are reported beside it: without
//! them some calls answer 503, but status and lists still work, so a replica stays in
//! service through their outages. Until every one of them has answered once since the
//! process started, though, `/readyz` is a `503` naming those it still waits for.

use crate::edge::{get, resource};
use crate::problem::{ApiError, Problem};
use crate::startup::Startup;
use crate::AppState;
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

/// What `/readyz` answers: `ready`, `degraded` or `unavailable`, and whether each service
/// answered.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Readiness {
    status: &'static str,
    database: bool,
    storage: bool,
    redis: bool,
    queue: bool,
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
        return ApiError::Starting(waiting).error_response();
    }
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let storage = state.storage.check().await.is_ok();
    let redis = state.progress.check().await.is_ok();
    let queue = state.queue.depth().await.is_ok();
    let status = match (database, storage && redis && queue) {
        (true, true) => "ready",
        (true, false) => "degraded",
        (false, _) => "unavailable",
    };
    let body = Readiness {
        status,
        database,
        storage,
        redis,
        queue,
    };
    if database {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
