//! Types and helpers that both the api and the worker need, free of libtorch so the api
//! stays small: the stylisation parameters a job carries and the untrusted-image gate.

pub mod images;
pub mod params;
