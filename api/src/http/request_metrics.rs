//! The middleware that counts every request in the api's metrics, by method, route
//! pattern and status, with its latency, and logs it: inside the request's span, so the
//! line carries the span's fields, its trace id among them.

use crate::services::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Instant;

/// The labels a request is counted under, from a fixed set whatever the client sends:
/// its route pattern (`/v1/jobs/{id}`, not the id itself), `unmatched` for a path no
/// API route has (the page's files and any made-up path), and its method, `other` for
/// a method outside HTTP's own.
fn labels(method: &Method, pattern: Option<String>) -> (&'static str, String) {
    let method = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    };
    let route = pattern
        .filter(|pattern| !pattern.is_empty())
        .unwrap_or_else(|| "unmatched".to_owned());
    (method, route)
}

/// Counts and logs every request, under [`labels`].
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let (method, route) = labels(request.method(), request.match_pattern());
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await;
    if let Some(state) = state {
        let status = match &response {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        let seconds = started.elapsed().as_secs_f64();
        state
            .metrics
            .request(method, &route, status.as_str(), seconds);
        tracing::info!(
            status = status.as_u16(),
            ms = format_args!("{:.1}", seconds * 1e3),
            "answered"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_a_fixed_set() {
        let made_up = Method::from_bytes(b"PROBEX1").unwrap();
        assert_eq!(labels(&made_up, None), ("other", "unmatched".to_owned()));
        assert_eq!(
            labels(&Method::GET, Some("/v1/jobs/{id}".into())),
            ("GET", "/v1/jobs/{id}".to_owned())
        );
        // The page's files are served under the root prefix, whose pattern is empty.
        assert_eq!(labels(&Method::GET, Some(String::new())).1, "unmatched");
    }
}
