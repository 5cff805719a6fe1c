//! What the api, the worker and the engine share, free of libtorch so the api stays
//! small: job parameters and their validation, VGG19's layers, the untrusted-image gate,
//! the job's inputs and storage keys, memory estimates, settings, and the clients for
//! PostgreSQL, S3, RabbitMQ and Redis (live progress, rate limits, the worker registry).
//!
//! The settings, the clients, metrics and logging sit behind the `service` feature
//! (default here; the api and the worker ask for it). Without it only the pure modules
//! are built ([`params`], [`vgg`], [`images`], [`job`], [`memory`]), which is what the
//! engine and its CLI, and the fuzz targets in `fuzz/`, use.

#[cfg(feature = "service")]
pub mod backoff;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod db;
#[cfg(feature = "service")]
pub mod exposure;
pub mod images;
pub mod job;
#[cfg(feature = "service")]
pub mod lazy_redis;
pub mod memory;
#[cfg(feature = "service")]
pub mod metrics;
pub mod params;
#[cfg(feature = "service")]
pub mod progress;
#[cfg(feature = "service")]
pub mod queue;
#[cfg(feature = "service")]
pub mod rate_limit;
#[cfg(feature = "service")]
pub mod retention;
#[cfg(feature = "service")]
pub mod stats;
#[cfg(feature = "service")]
pub mod storage;
#[cfg(feature = "service")]
pub mod telemetry;
pub mod vgg;
#[cfg(feature = "service")]
pub mod webhooks;
#[cfg(feature = "service")]
pub mod workers;

/// An error's message followed by each of its causes: client libraries (the S3 SDK,
/// reqwest) put the useful part in the causes and little in the message itself.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}
