//! Who is calling, as extractors: [`Caller`] (every job route takes one; keys are
//! checked by `services::access`) and [`Admin`] (the operator's token), from the
//! `Authorization: Bearer` header or the page's cookie.

use crate::problem::ApiError;
use crate::services::access::{hash, Caller};
use crate::services::state::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

/// The cookie that carries the page's key (images and server-sent events cannot send
/// an `Authorization` header).
pub const COOKIE: &str = "stylize_key";

pub fn bearer(request: &HttpRequest) -> Option<String> {
    let header = request.headers().get("Authorization")?.to_str().ok()?;
    header
        .strip_prefix("Bearer ")
        .map(|token| token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let presented =
            bearer(request).or_else(|| request.cookie(COOKIE).map(|c| c.value().to_owned()));
        Box::pin(async move {
            let state = state.expect("the app state is registered");
            Caller::identify(&state, presented).await
        })
    }
}

/// The admin token was presented (and the admin path is on).
pub struct Admin;

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
