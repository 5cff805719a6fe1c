//! API keys: the admin path that creates, lists and revokes programs' keys and deletes a
//! key's jobs, and each page visitor's own key, minted and handed over in a cookie.

use crate::http::answers::{self, KeyId, KeyedProblems};
use crate::http::auth::{client_address, Admin, COOKIE};
use crate::http::problem::ApiError;
use crate::http::routing::{get, resource};
use crate::services::access::{self, KeyName};
use crate::services::cancel::Announcer;
use crate::services::deletion;
use crate::services::state::AppState;
use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use stylize_shared::db;
use uuid::Uuid;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/v1/session").route(web::post().to(session)))
        .service(
            resource("/v1/admin/keys")
                .route(web::post().to(create_key))
                .route(get().to(list_keys)),
        )
        .service(resource("/v1/admin/keys/{id}").route(web::delete().to(revoke_key)))
        .service(resource("/v1/admin/keys/{id}/jobs").route(web::delete().to(delete_key_jobs)));
}

/// How long a visitor's cookie lasts; each visit to the page renews it.
const VISITOR_COOKIE_DAYS: i64 = 90;

/// Gives the page's visitor an identity of its own: a key minted for this browser, in an
/// HTTP-only, same-site cookie. A browser whose cookie holds a live visitor's key keeps
/// it (renewed). Nothing when `auth.visitors` is off.
#[utoipa::path(post, path = "/v1/session", tag = "keys", security(()), responses(
    (status = 204, description = "The visitor's key in the `stylize_key` cookie"),
    (status = 403, response = answers::CrossSite),
    (status = 429, response = answers::TooManyRequests),
    (status = 503, response = answers::Unavailable),
))]
async fn session(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::NoContent();
    if !state.auth.visitors {
        return Ok(response.finish());
    }
    let kept = match request.cookie(COOKIE) {
        Some(cookie) if access::is_visitor(&state.backends.pool, cookie.value()).await? => {
            Some(cookie.value().to_owned())
        }
        _ => None,
    };
    let key = match kept {
        Some(key) => key,
        None => {
            let address = client_address(&request, &state.trusted_proxies);
            access::mint_visitor(&access::Gate::of(&state), address).await?
        }
    };
    response.cookie(
        Cookie::build(COOKIE, key)
            .path("/v1")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(state.auth.secure_cookie)
            .max_age(Duration::days(VISITOR_COOKIE_DAYS))
            .finish(),
    );
    Ok(response.finish())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// 1 to 100 characters, not all spaces, without control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    name: String,
}

/// A key as made: the key itself is shown this once, and stored only as a hash.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct CreatedKey {
    id: Uuid,
    name: String,
    created_at: chrono::DateTime<chrono::Utc>,
    key: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct KeyList {
    keys: Vec<db::ApiKeyRow>,
}

/// Makes an API key.
#[utoipa::path(post, path = "/v1/admin/keys", tag = "keys", security(("admin_token" = [])),
    request_body = NewKey, responses(
        (status = 201, description = "The new key", body = CreatedKey),
        (status = 400, response = answers::BadRequest),
        KeyedProblems,
    ))]
async fn create_key(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, ApiError> {
    let name = KeyName::parse(&body.name)?;
    let (row, key) = access::create_program_key(&state.backends.pool, &name).await?;
    Ok(HttpResponse::Created().json(CreatedKey {
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        key,
    }))
}

#[utoipa::path(get, path = "/v1/admin/keys", tag = "keys", summary = "Lists the API keys",
    security(("admin_token" = [])),
    responses((status = 200, description = "Every program's key, revoked ones too (visitors' \
        keys are not listed)", body = KeyList),
        KeyedProblems))]
async fn list_keys(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = access::program_keys(&state.backends.pool).await?;
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

#[utoipa::path(delete, path = "/v1/admin/keys/{id}", tag = "keys", summary = "Revokes an API key",
    params(KeyId),
    security(("admin_token" = [])), responses(
        (status = 200, description = "The key, revoked", body = db::ApiKeyRow),
        (status = 404, response = answers::NotFound),
        KeyedProblems,
    ))]
async fn revoke_key(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = access::revoke_program_key(&state.backends.pool, &id).await?;
    Ok(HttpResponse::Ok().json(row))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct DeletedJobs {
    deleted: usize,
}

/// `DELETE /v1/admin/keys/{id}/jobs`: deletes every job of the key (revoked or not), as
/// its owner's deletion does each; answers `{"deleted": N}`.
#[utoipa::path(delete, path = "/v1/admin/keys/{id}/jobs", tag = "keys", params(KeyId),
    security(("admin_token" = [])), responses(
        (status = 200, description = "How many jobs were deleted", body = DeletedJobs),
        (status = 404, response = answers::NotFound),
        KeyedProblems,
    ))]
async fn delete_key_jobs(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let deleted = deletion::delete_key_jobs(&state.backends, &Announcer::of(&state), &id).await?;
    Ok(HttpResponse::Ok().json(DeletedJobs { deleted }))
}
