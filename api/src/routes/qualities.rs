//! `/v1/qualities`: the named settings a submission's `params.quality` may start from.

use crate::http::routing::{get, resource};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use stylize_core::params::{Quality, StyleParams};

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/v1/qualities").route(get().to(list)));
}

#[derive(Serialize, utoipa::ToSchema)]
struct QualityInfo {
    name: Quality,
    /// Every parameter the quality sets; a request's own go over them.
    params: StyleParams,
    /// Its cost in iterations at its own size (an iteration at half the side counts a
    /// quarter): times a worker's seconds per iteration, about how long it runs.
    full_size_iterations: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct QualityList {
    qualities: Vec<QualityInfo>,
    /// The quality a submission without one gets.
    default: Quality,
}

/// The quality presets, with their parameters and cost.
#[utoipa::path(get, path = "/v1/qualities", tag = "styles", operation_id = "list_qualities",
    security(()),
    responses((status = 200, description = "The qualities", body = QualityList)))]
async fn list() -> HttpResponse {
    let qualities = Quality::ALL
        .into_iter()
        .map(|name| {
            let plan = name.plan();
            QualityInfo {
                name,
                full_size_iterations: plan.full_size_iterations(),
                params: plan.params().clone(),
            }
        })
        .collect();
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .json(QualityList {
            qualities,
            default: StyleParams::default().quality.unwrap_or(Quality::Fine),
        })
}
