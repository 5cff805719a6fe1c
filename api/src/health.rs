//! `/healthz` (the process answers) and `/readyz` (every dependency answers).

use crate::AppState;
use actix_web::{web, HttpResponse};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/healthz",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", web::get().to(ready));
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let storage = state.storage.check().await.is_ok();
    let redis = state.progress.check().await.is_ok();
    let queue = state.queue.depth().await.is_ok();
    let body = serde_json::json!({
        "database": database, "storage": storage, "redis": redis, "queue": queue,
    });
    if database && storage && redis && queue {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
