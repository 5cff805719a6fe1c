//! `/v1/webhooks/secret`: the secret that signs the caller's webhooks, shown and rotated.

use crate::http::answers::{self, KeyedProblems};
use crate::http::auth::Admin;
use crate::http::problem::ApiError;
use crate::http::routing::{get, resource};
use crate::services::access::Caller;
use crate::services::secrets::{self, SecretScope};
use crate::services::signing::SigningKey;
use crate::services::state::AppState;
use actix_web::{web, HttpResponse};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/v1/webhooks/secret").route(get().to(show_secret)))
        .service(resource("/v1/webhooks/secret/rotate").route(web::post().to(rotate)));
}

/// A webhook signing secret, and whose it is: `key` (the calling key's) or `operator`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Secret<'a> {
    secret: String,
    scope: &'a str,
}

fn secret_answer(key: &SigningKey, scope: SecretScope) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(Secret {
            secret: key.shown(),
            scope: scope.as_str(),
        })
}

/// `GET /v1/webhooks/secret`: the calling key's secret; without API keys, the operator's,
/// to the admin token alone (anyone could otherwise forge the api's messages).
#[utoipa::path(get, path = "/v1/webhooks/secret", tag = "webhooks",
    security(("api_key" = []), ("page_cookie" = []), ("admin_token" = [])), responses(
        (status = 200, description = "The secret that signs the caller's webhooks", body = Secret),
        (status = 403, response = answers::Forbidden),
        (status = 404, response = answers::NotFound),
        KeyedProblems,
    ))]
async fn show_secret(
    caller: Caller,
    admin: Option<Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, scope) = secrets::caller_secret(
        &state.backends.pool,
        state.webhook_secret.as_ref(),
        &caller.identity,
        admin.is_some(),
    )
    .await?;
    Ok(secret_answer(&key, scope))
}

/// `POST /v1/webhooks/secret/rotate`: a new secret for the calling key, which signs every
/// message sent from now on, retries included. The operator's is rotated in settings.
#[utoipa::path(post, path = "/v1/webhooks/secret/rotate", tag = "webhooks", responses(
    (status = 200, description = "The new secret", body = Secret),
    (status = 403, response = answers::Forbidden),
    (status = 409, response = answers::Conflict),
    KeyedProblems,
))]
async fn rotate(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let fresh = secrets::rotate_caller_secret(&state.backends.pool, &caller.identity).await?;
    Ok(secret_answer(&fresh, SecretScope::Key))
}
