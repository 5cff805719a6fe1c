//! The routes, a file per resource. No route imports another: what two routes share
//! lives in `services` or `http`.

pub mod health;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod qualities;
pub mod queue;
pub mod styles;
pub mod webhooks;
