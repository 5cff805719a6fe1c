//! What every request meets around its handler: requests that change state refused when
//! a browser sends them from another site, the answers actix gives on its own put in the
//! problem shape, and `HEAD` answered as `GET` is, without the body.

use crate::http::auth;
use crate::http::problem::{self, ApiError};
use crate::services::error::echo;
use crate::services::state::AppState;
use actix_web::body::{self, BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

/// Refuses a request that would change something (a submission, a cancel) when a browser
/// says another site's page sent it: with keys off, any page could otherwise post a form
/// to the api. A request with an API key passes: another site's page cannot add an
/// `Authorization` header without the api's CORS consent, which it never gives.
pub async fn refuse_cross_site<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refusal = if request.method().is_safe() || auth::bearer(request.request()).is_some() {
        None
    } else {
        let allowed = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.allowed_origins.as_slice())
            .unwrap_or_default();
        cross_site(request.headers(), request.connection_info().host(), allowed)
    };
    match refusal {
        Some(error) => Ok(request.error_response(error).map_into_right_body()),
        None => Ok(next.call(request).await?.map_into_left_body()),
    }
}

/// Why a browser's request counts as another site's: its `Origin` is neither this api's
/// (`host`, as the request reached it) nor one the operator allows; without an `Origin`,
/// its `Sec-Fetch-Site` says so. Requests from programs carry neither header.
fn cross_site(headers: &HeaderMap, host: &str, allowed: &[String]) -> Option<ApiError> {
    let value = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)"))
    };
    let sender = match (value("origin"), value("sec-fetch-site")) {
        (Some(origin), _) => {
            let own = origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
            let trusted = allowed
                .iter()
                .any(|entry| entry.trim_end_matches('/').eq_ignore_ascii_case(origin));
            if own || trusted {
                return None;
            }
            format!("a page at {:?}", echo(origin))
        }
        (None, Some("cross-site" | "same-site")) => "another site's page".to_owned(),
        (None, _) => return None,
    };
    Some(ApiError::CrossSite(format!(
        "{sender} may not change anything here: send the request from this api's own page, \
         or with an API key (Authorization: Bearer), or from an origin in http.allowed_origins"
    )))
}

/// Puts the errors actix answers on its own (a method a resource does not take, say) in
/// the problem shape every other error has, and ends a `HEAD`'s streamed answer at its
/// headers (an event stream would otherwise run on unseen until its job ends).
pub async fn finish_answers(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let method = request.method().clone();
    let response = next.call(request).await?;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind == problem::CONTENT_TYPE);
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let allowed = response
            .headers()
            .get(header::ALLOW)
            .and_then(|allow| allow.to_str().ok());
        let error = match (status, allowed) {
            (StatusCode::METHOD_NOT_ALLOWED, Some(allowed)) => ApiError::MethodNotAllowed {
                method: echo(method.as_str()).into_owned(),
                allowed: allowed.to_owned(),
            },
            _ => ApiError::Http(status),
        };
        // The problem replaces the body; other headers (a 416's `Content-Range`) stay.
        let mut answer = error.error_response();
        let set: Vec<_> = answer.headers().keys().cloned().collect();
        for (name, value) in response.headers() {
            if !set.contains(name) && name != header::CONTENT_LENGTH {
                answer.headers_mut().append(name.clone(), value.clone());
            }
        }
        return Ok(response.into_response(answer));
    }
    if method == Method::HEAD && response.response().body().size() == BodySize::Stream {
        return Ok(response.map_body(|_, _| BoxBody::new(body::None::new())));
    }
    Ok(response.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn only_other_sites_pages_are_refused() {
        let allowed = ["https://app.example.com/".to_owned()];
        let refused = |pairs: &[(&'static str, &'static str)]| {
            cross_site(&headers(pairs), "api.example.com", &allowed).is_some()
        };
        // Programs (curl, servers) send neither header.
        assert!(!refused(&[]));
        // The api's own page, and an origin the operator allows.
        assert!(!refused(&[
            ("origin", "https://api.example.com"),
            ("sec-fetch-site", "same-origin")
        ]));
        assert!(!refused(&[("origin", "http://API.example.com")]));
        assert!(!refused(&[
            ("origin", "https://app.example.com"),
            ("sec-fetch-site", "same-site")
        ]));
        assert!(!refused(&[("sec-fetch-site", "none")]));
        // Everyone else.
        assert!(refused(&[("origin", "https://evil.example")]));
        assert!(refused(&[(
            "origin",
            "https://api.example.com.evil.example"
        )]));
        assert!(refused(&[("origin", "null")]));
        assert!(refused(&[("sec-fetch-site", "cross-site")]));
        assert!(refused(&[("sec-fetch-site", "same-site")]));
    }
}
