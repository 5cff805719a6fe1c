//! Which device the engine runs on, and libtorch's settings for it.

use crate::EngineError;
use tch::Device;

/// Picks the device (`auto` prefers CUDA, else CPU) and tunes libtorch for it.
pub fn select_device(name: &str) -> Result<Device, EngineError> {
    let device = parse_device(name)?;
    if device.is_cuda() {
        tune_cuda();
    }
    Ok(device)
}

/// A job's sizes repeat, so cuDNN's autotuner pays for itself after the first iteration.
fn tune_cuda() {
    tch::Cuda::cudnn_set_benchmark(true);
}

/// Lets CUDA matrix products (the Gram matrices) use TF32 tensor cores, as libtorch
/// already lets convolutions, unless the operator set `TORCH_ALLOW_TF32_CUBLAS_OVERRIDE`
/// (libtorch reads it once, at its first product). Call it first thing in `main`:
/// changing the environment is sound only while the process has one thread.
pub fn allow_tf32_matmul() {
    const TF32: &str = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE";
    if std::env::var_os(TF32).is_none() {
        std::env::set_var(TF32, "1");
    }
}

fn parse_device(name: &str) -> Result<Device, EngineError> {
    let cuda_count = || {
        if tch::Cuda::is_available() {
            tch::Cuda::device_count()
        } else {
            0
        }
    };
    match name {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => match cuda_count() {
            0 => Err(EngineError::DeviceUnavailable(name.into())),
            _ => Ok(Device::Cuda(0)),
        },
        other => {
            let index: usize = other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| EngineError::UnknownDevice(other.into()))?;
            if (index as i64) < cuda_count() {
                Ok(Device::Cuda(index))
            } else {
                Err(EngineError::DeviceUnavailable(other.into()))
            }
        }
    }
}
