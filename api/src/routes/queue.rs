//! `/v1/queue`: the queue, its workers and recent throughput.

use crate::http::answers::KeyedProblems;
use crate::http::problem::ApiError;
use crate::http::routing::{get, resource};
use crate::services::access::Caller;
use crate::services::queue_view::Snapshot;
use crate::services::state::AppState;
use actix_web::{web, HttpResponse};

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/v1/queue").route(get().to(show)));
}

/// Readable with any valid key (the page's too), as the job routes are: the queue is
/// everyone's, so every key sees the same answer.
#[utoipa::path(get, path = "/v1/queue", tag = "jobs", operation_id = "show_queue",
    summary = "The queue, its workers and recent throughput", responses(
    (status = 200, description = "The queue, its workers and recent throughput", body = Snapshot),
    KeyedProblems,
))]
async fn show(_: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.queue_view.snapshot(&state.backends.pool).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(&*snapshot))
}
