//! Who is calling, as extractors: [`Caller`] (every job route takes one; keys are
//! checked by `services::access`), [`VisibleJob`] (the route's job, as its caller may
//! see it) and [`Admin`] (the operator's token), from the `Authorization: Bearer` header
//! or the page visitor's cookie; and from which address.

use crate::http::problem::ApiError;
use crate::services::access::{hash, Caller, Gate};
use crate::services::error::Credential;
use crate::services::state::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use stylize_shared::db::JobRow;

/// The cookie that carries a page visitor's key (images and server-sent events cannot
/// send an `Authorization` header).
pub const COOKIE: &str = "stylize_key";

/// The client's address: the peer's, or where the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that no trusted proxy added (each proxy appends the
/// address it heard from; anything to the left of the first untrusted hop is the
/// client's own claim).
pub fn client_address(request: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.ip());
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("X-Forwarded-For")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) => client = address,
            Err(_) => break,
        }
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

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
        let state = request
            .app_data::<web::Data<AppState>>()
            .cloned()
            .expect("the app state is registered");
        let presented =
            bearer(request).or_else(|| request.cookie(COOKIE).map(|c| c.value().to_owned()));
        let address = client_address(request, &state.trusted_proxies);
        Box::pin(async move { Ok(Caller::identify(&Gate::of(&state), presented, address).await?) })
    }
}

/// The job named by the route's `{id}`, as its caller may see it: another key's job is
/// as absent (404) as one that never was, and a deleted one is gone (410).
pub struct VisibleJob {
    pub caller: Caller,
    pub row: JobRow,
}

impl FromRequest for VisibleJob {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(request, payload);
        let state = request
            .app_data::<web::Data<AppState>>()
            .cloned()
            .expect("the app state is registered");
        let id = request
            .match_info()
            .get("id")
            .unwrap_or_default()
            .to_owned();
        Box::pin(async move {
            let caller = caller.await?;
            let row = caller.find(&state.backends.pool, &id).await?;
            Ok(VisibleJob { caller, row })
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
            Err(Credential::AdminTokenRequired.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> IpAddr {
        let mut request = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for header in forwarded {
            request = request.append_header(("X-Forwarded-For", *header));
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
        client_address(&request.to_http_request(), &trusted)
    }

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        // No proxy trusted: a client cannot name itself someone else.
        assert_eq!(
            from("203.0.113.9", &["198.51.100.1"], &[]),
            ip("203.0.113.9")
        );
        // Through a trusted proxy, the address it heard from.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // A forged entry to the left of what the proxy added is not believed.
        assert_eq!(
            from("10.0.0.2", &["1.2.3.4, 198.51.100.1"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // Two trusted proxies in a row, the headers split across lines.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1", "10.0.0.3"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // A trusted proxy with nothing forwarded is the client itself.
        assert_eq!(from("10.0.0.2", &[], &["10.0.0.0/8"]), ip("10.0.0.2"));
    }
}
