//! API keys: who is calling (`Caller`, an extractor every job route takes), the admin
//! path that creates, lists and revokes keys, the page's key handed over in a cookie,
//! and the per-key limits on submissions.

use crate::edge::{get, resource};
use crate::openapi::{self, KeyId, KeyedProblems};
use crate::problem::{database, echo, ApiError};
use crate::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};
use stylize_shared::db;
use uuid::Uuid;

/// The cookie that carries the page's key (images and server-sent events cannot send
/// an `Authorization` header).
pub(crate) const COOKIE: &str = "stylize_key";

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/v1/session").route(web::post().to(session)))
        .service(
            resource("/v1/admin/keys")
                .route(web::post().to(create_key))
                .route(get().to(list_keys)),
        )
        .service(resource("/v1/admin/keys/{id}").route(web::delete().to(revoke_key)));
}

pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

pub(crate) fn bearer(request: &HttpRequest) -> Option<String> {
    let header = request.headers().get("Authorization")?.to_str().ok()?;
    header
        .strip_prefix("Bearer ")
        .map(|token| token.trim().to_owned())
}

/// The key a request came with: `Some(id)` when keys are required, `None` (everyone)
/// when they are not.
pub struct Caller(pub Option<Uuid>);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let presented =
            bearer(request).or_else(|| request.cookie(COOKIE).map(|c| c.value().to_owned()));
        Box::pin(async move {
            let state = state.expect("the app state is registered");
            if !state.auth.required {
                return Ok(Caller(None));
            }
            let key = presented.ok_or_else(|| {
                ApiError::Unauthorized("an API key is required: Authorization: Bearer KEY".into())
            })?;
            match db::find_key(&state.pool, &hash(&key))
                .await
                .map_err(database)?
            {
                Some(row) => Ok(Caller(Some(row.id))),
                None => Err(ApiError::Unauthorized(
                    "this API key is unknown or revoked".into(),
                )),
            }
        })
    }
}

impl Caller {
    /// Whether this caller may see `owner`'s job.
    pub fn may_see(&self, owner: Option<Uuid>) -> bool {
        self.0.is_none() || self.0 == owner
    }

    /// Refuses a submission over the caller's rate or its quota of active jobs, with
    /// the seconds to wait.
    pub async fn admit_submission(&self, state: &AppState) -> Result<(), ApiError> {
        let Some(key) = self.0 else {
            return Ok(());
        };
        let limits = &state.auth;
        let (hits, window_left) = state
            .rate_limiter
            .count_hit(&format!("submissions:{key}"), 60)
            .await
            .map_err(|_| ApiError::Unavailable("the rate limiter"))?;
        if hits > limits.submissions_per_minute {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "this key may submit {} jobs a minute; try again in {window_left} s",
                    limits.submissions_per_minute
                ),
                retry_after: window_left,
            });
        }
        let active = db::count_active_jobs(&state.pool, key)
            .await
            .map_err(database)?;
        if active >= limits.max_active_jobs {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "this key has {active} jobs queued or running, its limit; \
                     try again when one has finished"
                ),
                retry_after: 30,
            });
        }
        Ok(())
    }
}

/// Hands the page its key in an HTTP-only cookie (when the operator configured one).
#[utoipa::path(post, path = "/v1/session", tag = "keys", security(()), responses(
    (status = 204, description = "The page's key in the `stylize_key` cookie, when one is set"),
    (status = 403, response = openapi::CrossSite),
))]
async fn session(state: web::Data<AppState>) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    if !state.auth.page_key.is_empty() {
        response.cookie(
            Cookie::build(COOKIE, state.auth.page_key.expose().to_owned())
                .path("/v1")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.auth.secure_cookie)
                .finish(),
        );
    }
    response.finish()
}

/// The admin token was presented (and the admin path is on).
pub(crate) struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>();
        let expected = state.map(|s| s.auth.admin_token.expose()).unwrap_or("");
        let presented = bearer(request).unwrap_or_default();
        // Comparing digests keeps the comparison's time independent of the token.
        let allowed = !expected.is_empty() && hash(&presented) == hash(expected);
        std::future::ready(if allowed {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("the admin token is required".into()))
        })
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// 1 to 100 characters.
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
        (status = 400, response = openapi::BadRequest),
        KeyedProblems,
    ))]
async fn create_key(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::InvalidParameter {
            field: "name".into(),
            message: "must be 1 to 100 characters".into(),
        });
    }
    // 244 random bits; shown once, stored only as a hash.
    let key = format!("sk_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let row = db::insert_key(&state.pool, name, &hash(&key))
        .await
        .map_err(database)?
        .ok_or_else(|| ApiError::Internal("a fresh key collided".into()))?;
    Ok(HttpResponse::Created().json(CreatedKey {
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        key,
    }))
}

#[utoipa::path(get, path = "/v1/admin/keys", tag = "keys", summary = "Lists the API keys",
    security(("admin_token" = [])),
    responses((status = 200, description = "Every key, revoked ones too", body = KeyList),
        KeyedProblems))]
async fn list_keys(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = db::list_keys(&state.pool).await.map_err(database)?;
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

#[utoipa::path(delete, path = "/v1/admin/keys/{id}", tag = "keys", summary = "Revokes an API key",
    params(KeyId),
    security(("admin_token" = [])), responses(
        (status = 200, description = "The key, revoked", body = db::ApiKeyRow),
        (status = 404, response = openapi::NotFound),
        KeyedProblems,
    ))]
async fn revoke_key(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("key {:?}", echo(&id)));
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let row = db::revoke_key(&state.pool, id)
        .await
        .map_err(database)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(row))
}
