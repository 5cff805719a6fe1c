//! Prometheus text exposition for the api's and the worker's `/metrics`.

use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric in `registry`, in the text format.
pub fn render(registry: &Registry) -> Vec<u8> {
    let mut body = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut body)
        .expect("metrics encode into memory");
    body
}

/// Histogram buckets, in seconds, for HTTP requests (sub-millisecond to seconds).
pub const REQUEST_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Registers `metric` in `registry` and hands it back for updating.
pub fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}
