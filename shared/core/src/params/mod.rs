//! The parameters of one stylisation: what a request or a job carries ([`StyleParams`],
//! untrusted), the named qualities it may start from, and the [`Plan`] it is parsed into
//! once, checked, with its coarse-to-fine schedule. The engine, the fast pass, the CLI
//! and the api take the plan, so nothing checks the same value twice.
//!
//! - [`types`]: the fields, as JSON and the database hold them;
//! - [`quality`]: the named presets;
//! - [`json`]: reading the `params` form field over a preset;
//! - [`bounds`]: every bound in one place, which the checks and the api's schema quote;
//! - [`plan`]: the one check, and the plan with its levels;
//! - [`schedule`]: the levels' sides and their share of the iterations.

pub mod bounds;
mod error;
mod json;
mod plan;
mod quality;
mod schedule;
mod types;

pub use bounds::{
    MAX_ITERATIONS, MAX_LEARNING_RATE, MAX_SCALES, MAX_SIZE, MAX_STYLES, MAX_WEIGHT, MIN_SIZE,
};
pub use error::ParamError;
pub use plan::{LayerTerm, Level, Plan};
pub use quality::Quality;
pub use types::{
    DetailLevels, Init, LayerWeight, Mode, Optimizer, Pooling, StyleParams, DEFAULT_SCALE_FACTOR,
    LBFGS_HISTORY,
};
