//! The style engine: Gatys et al.'s optimisation of an image's pixels against VGG19
//! features, in libtorch. [`stylize`] runs one job; callers watch and steer it through
//! [`Event`]s. [`fast`] paints in one pass with a feed-forward network instead.

mod average;
mod color;
mod device;
mod error;
pub mod fast;
mod gatys;
pub mod loss;
pub mod optim;
pub mod pixels;
pub mod quality;
mod vgg;
mod weights;

pub use device::{allow_tf32_matmul, select_device};
pub use error::EngineError;
pub use fast::FastStylizer;
pub use gatys::{stylize, Event, Inputs, Progress, RunOptions, Stylized};
pub use loss::LossTerms;
pub use vgg::Vgg19;
