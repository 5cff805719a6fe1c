//! The pure core that the api, the worker, the engine and its CLI share, free of
//! libtorch and of every service client: job parameters and their checked plan, VGG19's
//! layers, the untrusted-image gate, the job's states and storage keys, and memory
//! estimates. The clients and settings are `stylize-shared`'s.

pub mod images;
pub mod job;
pub mod memory;
pub mod params;
pub mod vgg;
