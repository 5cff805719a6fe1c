mod backoff;
pub mod engine;
pub mod metrics;
pub mod service;
