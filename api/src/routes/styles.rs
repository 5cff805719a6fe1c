//! `/v1/styles`: the preset paintings a submission may name, and their thumbnails.

use crate::http::answers::{self, StyleId};
use crate::http::problem::ApiError;
use crate::http::routing::{get, resource};
use crate::services::catalogue::Preset;
use crate::services::error::{echo, NotFound, Outage};
use crate::services::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use stylize_core::job::keys;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/v1/styles").route(get().to(list)))
        .service(resource("/v1/styles/{id}/thumbnail").route(get().to(thumbnail)));
}

#[derive(Serialize, utoipa::ToSchema)]
struct StyleList<'a> {
    styles: &'a [Preset],
}

/// The preset paintings a submission may name.
#[utoipa::path(get, path = "/v1/styles", tag = "styles", operation_id = "list_styles",
    security(()),
    responses((status = 200, description = "The presets", body = StyleList)))]
async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(StyleList {
        styles: state.catalogue.all(),
    })
}

#[utoipa::path(get, path = "/v1/styles/{id}/thumbnail", tag = "styles",
    summary = "A preset's thumbnail", params(StyleId),
    security(()), responses(
        (status = 200, response = answers::JpegImage),
        (status = 404, response = answers::NotFound),
        (status = 503, response = answers::Unavailable),
    ))]
async fn thumbnail(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if state.catalogue.get(&id).is_none() {
        return Err(NotFound(format!("style {:?}", echo(&id))).into());
    }
    match state
        .backends
        .storage
        .get(&keys::preset_thumbnail(&id))
        .await
    {
        Ok(Some(bytes)) => Ok(HttpResponse::Ok()
            .content_type("image/jpeg")
            .insert_header(("Cache-Control", "public, max-age=86400"))
            .body(bytes)),
        Ok(None) => Err(NotFound(format!("thumbnail of {:?}", echo(&id))).into()),
        Err(_) => Err(Outage::Unavailable("storage").into()),
    }
}
