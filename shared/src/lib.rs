//! What the api and the worker share, free of libtorch so the api stays small: job
//! parameters and their validation, the untrusted-image gate, the job model, settings,
//! and the clients for PostgreSQL, S3, RabbitMQ and Redis.

pub mod config;
pub mod db;
pub mod images;
pub mod job;
pub mod metrics;
pub mod params;
pub mod progress;
pub mod queue;
pub mod storage;
pub mod telemetry;
