//! The stylize HTTP API, in layers; imports point only down this list (the test
//! `tests/layers.rs` holds them to it):
//!
//! 1. `view` (a job's JSON): a leaf.
//! 2. `services`: what the api does, knowing nothing of actix or of HTTP (state, access,
//!    submission, deletion, queue position, catalogue, webhook signing and delivery, URL
//!    fetching, waiting, readiness, metrics), refusing in the domain's words (`error`).
//! 3. `http`: actix plumbing (every error as RFC 9457 problem details in one table,
//!    extractors, middleware, route builders, request metrics, headers, the submission
//!    form, the OpenAPI answer types).
//! 4. `routes`: a file per resource; no route imports another.
//! 5. `openapi` (the document, the one module that imports the routes' handlers) and
//!    `startup` (`Application::build`).
//!
//! This file only declares and re-exports.

mod http;
mod openapi;
mod routes;
mod services;
mod startup;
mod view;

pub use http::routing::registered_paths;
pub use openapi::document_text;
pub use startup::Application;
