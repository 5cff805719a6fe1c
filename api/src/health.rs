//! `/healthz` (the process answers) and `/readyz` (the api can serve: PostgreSQL, the
//! truth about jobs, answers). Redis, RabbitMQ and S3 are reported beside it: without
//! them some calls answer 503, but status and lists still work, so a replica stays in
//! service through their outages.

use crate::edge::get;
use crate::AppState;
use actix_web::{web, HttpResponse};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/healthz").route(
            get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        ))
        .service(web::resource("/readyz").route(get().to(ready)));
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let storage = state.storage.check().await.is_ok();
    let redis = state.progress.check().await.is_ok();
    let queue = state.queue.depth().await.is_ok();
    let status = match (database, storage && redis && queue) {
        (true, true) => "ready",
        (true, false) => "degraded",
        (false, _) => "unavailable",
    };
    let body = serde_json::json!({
        "status": status, "database": database, "storage": storage, "redis": redis, "queue": queue,
    });
    if database {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
