//! What the api and the worker share, free of libtorch so the api stays small: job
//! parameters and their validation, the untrusted-image gate, the job model, settings,
//! and the clients for PostgreSQL, S3, RabbitMQ and Redis.
//!
//! The settings, the clients, metrics and logging sit behind the default `service`
//! feature; without it only the pure modules are built ([`params`], [`images`], [`job`]),
//! as the fuzz targets in `fuzz/` use them.

#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod db;
pub mod images;
pub mod job;
pub mod memory;
#[cfg(feature = "service")]
pub mod metrics;
pub mod params;
#[cfg(feature = "service")]
pub mod progress;
#[cfg(feature = "service")]
pub mod queue;
#[cfg(feature = "service")]
pub mod storage;
#[cfg(feature = "service")]
pub mod telemetry;

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
