//! Converted weights: the tensors of one safetensors file, taken out by name with their
//! shapes checked, so a wrong or stale file fails at load with the tensor it lacks; and
//! the memory layout the convolutions run fastest in.

use crate::EngineError;
use std::path::Path;
use tch::{Device, Kind, Tensor};

pub(crate) struct Weights {
    path: String,
    named: Vec<(String, Tensor)>,
    device: Device,
}

impl Weights {
    pub fn read(path: &Path, device: Device) -> Result<Self, EngineError> {
        let mut weights = Weights {
            path: path.display().to_string(),
            named: Vec::new(),
            device,
        };
        weights.named = Tensor::read_safetensors(path).map_err(|e| weights.error(e.to_string()))?;
        Ok(weights)
    }

    pub fn error(&self, message: String) -> EngineError {
        EngineError::Weights {
            path: self.path.clone(),
            message,
        }
    }

    /// The tensor `name`, which must have `shape`, as float32 on the device, frozen.
    pub fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor, EngineError> {
        let position = self
            .named
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| self.error(format!("tensor {name} is missing")))?;
        let (_, tensor) = self.named.swap_remove(position);
        if tensor.size() != shape {
            return Err(self.error(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                tensor.size()
            )));
        }
        Ok(tensor
            .to_kind(Kind::Float)
            .to_device(self.device)
            .set_requires_grad(false))
    }

    /// Fails when the file holds tensors nobody took: a file for another network.
    pub fn finish(self) -> Result<(), EngineError> {
        match self.named.first() {
            Some((name, _)) => Err(self.error(format!(
                "unexpected tensor {name} (and {} more)",
                self.named.len() - 1
            ))),
            None => Ok(()),
        }
    }
}

/// The same values laid out channels-last (NHWC strides), which oneDNN's and cuDNN's
/// convolutions take without reordering; the logical shape stays [N, C, H, W].
pub(crate) fn channels_last(tensor: &Tensor) -> Tensor {
    tensor
        .permute([0, 2, 3, 1])
        .contiguous()
        .permute([0, 3, 1, 2])
}
