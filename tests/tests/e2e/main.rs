//! The end-to-end tests, one binary with a module per area: the api in-process, workers
//! as processes, on the real PostgreSQL, Redis, RabbitMQ and Garage. One binary links the
//! api and its dependencies once, not once per area; [`stylize_e2e::Stack`] gives the
//! tests their turns on the shared services.

mod access;
mod chaos;
mod concurrency;
mod deletion;
mod docs;
mod edge;
mod fast;
mod images;
mod jobs;
mod live;
mod openapi;
mod queue;
mod recovery;
mod submissions;
mod traces;
mod waiting;
mod webhooks;
