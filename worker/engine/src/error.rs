//! What can go wrong in the engine, for its callers to tell apart.

use stylize_core::params::ParamError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid parameter {0}")]
    Params(#[from] ParamError),
    #[error("init is \"image\" or \"fast\" but no initial image was given")]
    MissingInitImage,
    #[error("cannot load weights from {path}: {message}")]
    Weights { path: String, message: String },
    #[error("unknown device {0:?}; use auto, cpu, cuda or cuda:N")]
    UnknownDevice(String),
    #[error("device {0} is not available")]
    DeviceUnavailable(String),
    #[error("the optimisation diverged at iteration {iteration} (loss is not finite)")]
    Diverged { iteration: u32 },
    #[error("canceled at iteration {iteration}")]
    Canceled { iteration: u32 },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}
