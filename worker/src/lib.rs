pub mod engine;
pub mod service;
