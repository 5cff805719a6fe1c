//! The stylize queue worker, which the `stylize-worker` binary runs. Where things are:
//!
//! - `service`: the worker: takes jobs off the queue, claims them, runs each (inputs,
//!   the fast network's pass, the optimisation) and records how its run ended;
//! - `lease`: how a claimed job is held while it runs (renewed, lost, found canceled);
//! - `engine_run`: the engine's optimisation on a blocking thread, and stopping it;
//! - `progress_bridge`: a job's progress and previews, as its clients see them;
//! - `run_end`: how a run ends, and which failures another attempt may get past;
//! - `reaper`: jobs whose worker died, and messages never sent, back on the queue; it
//!   runs as a `background` worker, stopped at shutdown with a deadline;
//! - `sweeper`: jobs past `retention.days` deleted, also as a `background` worker;
//! - `registry`: the worker's speed as its jobs measure it, reported with its load to
//!   the registry the api reads (`GET /v1/queue`);
//! - `metrics`: the worker's `/metrics` (and `/healthz`, `/readyz`).

mod background;
mod engine_run;
mod lease;
pub mod metrics;
mod progress_bridge;
mod reaper;
pub mod registry;
mod run_end;
pub mod service;
mod sweeper;
