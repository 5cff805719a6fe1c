//! HTTP plumbing shared by the routes: who is calling (extractors), what every request
//! meets around its handler (middleware), how routes are made, the request metrics, the
//! headers and the form of a submission, query strings, and the answers the OpenAPI document shares.

pub mod answers;
pub mod auth;
pub mod edge;
pub mod form;
pub mod headers;
pub mod problem;
pub mod query;
pub mod request_metrics;
pub mod routing;
