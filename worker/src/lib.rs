//! The stylize queue worker, which the `stylize-worker` binary runs. Where things are:
//!
//! - `service`: the worker's start-up and its consuming: models loaded, services waited
//!   for, jobs taken off the queue and claimed, `concurrency` at a time;
//! - `clients`: the service clients (PostgreSQL, S3, RabbitMQ, Redis) the consuming and
//!   the runs share;
//! - `job_run`: the `JobRunner`, which holds what a run takes, and one claimed job's run
//!   (memory reserved, inputs, the fast pass, the optimisation, the result stored) and
//!   how it ended, recorded;
//! - `inputs`: a job's images fetched from storage and decoded, and the retries that
//!   carry storage calls over S3's blips;
//! - `fast_pass`: the fast network's picture of a job (`FastPass`, with the style
//!   vectors it keeps);
//! - `style_vectors`: the presets' style vectors for the fast network, kept between jobs;
//! - `lease`: how a claimed job is held while it runs (renewed, lost, found canceled);
//! - `engine_run`: the engine's optimisation on a blocking thread, and stopping it;
//! - `progress_bridge`: a job's progress and previews, as its clients see them, sent
//!   to Redis, S3 and the webhook outbox when `throttle`'s pure rules say;
//! - `run_end`: how a run ends, and which failures another attempt may get past;
//! - `reaper`: jobs whose worker died, and messages never sent, back on the queue; it
//!   runs as a `background` worker, stopped at shutdown with a deadline;
//! - `sweeper`: jobs past `retention.days` deleted, also as a `background` worker;
//! - `throughput`: the worker's speed as its jobs measure it (moving averages, and the
//!   clock that times a job's iterations level by level);
//! - `registry`: that speed reported with the worker's load to the registry the api
//!   reads (`GET /v1/queue`);
//! - `metrics`: the worker's `/metrics` (and `/healthz`, `/readyz`).

mod background;
mod clients;
mod engine_run;
mod fast_pass;
mod inputs;
mod job_run;
mod lease;
pub mod metrics;
mod progress_bridge;
mod reaper;
pub mod registry;
mod run_end;
pub mod service;
mod style_vectors;
mod sweeper;
mod throttle;
pub mod throughput;
