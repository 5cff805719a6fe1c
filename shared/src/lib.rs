//! The infrastructure the api and the worker share: settings, and the clients for
//! PostgreSQL, S3, RabbitMQ and Redis (jobs, the queue, storage, live progress, rate
//! limits, the worker registry, webhooks), metrics and logging. The pure core they
//! exchange (parameters, images, the job contract, memory estimates) is `stylize-core`,
//! which the engine and its CLI use without any of this.

pub mod backoff;
pub mod config;
pub mod db;
pub mod exposure;
pub mod lazy_redis;
pub mod metrics;
pub mod progress;
pub mod queue;
pub mod rate_limit;
pub mod retention;
#[cfg(feature = "test-support")]
pub mod scratch;
pub mod stats;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
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
