//! VGG19's sixteen convolutions, frozen, run only as deep as a job needs.

use super::EngineError;
use std::path::Path;
use stylize_shared::params::{Pooling, VGG19_LAYERS};
use tch::{Device, Kind, Tensor};

/// Output channels of each convolution, in network order.
const CHANNELS: [i64; 16] = [
    64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512,
];
/// A block ends (and is pooled) after these convolutions.
const BLOCK_ENDS: [usize; 5] = [1, 3, 7, 11, 15];

/// The same values laid out channels-last (NHWC strides), which oneDNN's and cuDNN's
/// convolutions take without reordering; the logical shape stays [N, C, H, W].
fn channels_last(tensor: &Tensor) -> Tensor {
    tensor
        .permute([0, 2, 3, 1])
        .contiguous()
        .permute([0, 3, 1, 2])
}

struct Conv {
    weight: Tensor,
    bias: Tensor,
}

pub struct Vgg19 {
    convs: Vec<Conv>,
    device: Device,
}

impl Vgg19 {
    /// Loads the converted weights (see `scripts/convert_weights.py`) onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Self, EngineError> {
        let weights_error = |message: String| EngineError::Weights {
            path: path.display().to_string(),
            message,
        };
        let mut named = Tensor::read_safetensors(path).map_err(|e| weights_error(e.to_string()))?;
        let mut take = |name: String, shape: &[i64]| -> Result<Tensor, EngineError> {
            let position = named
                .iter()
                .position(|(n, _)| *n == name)
                .ok_or_else(|| weights_error(format!("tensor {name} is missing")))?;
            let (_, tensor) = named.swap_remove(position);
            if tensor.size() != shape {
                return Err(weights_error(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    tensor.size()
                )));
            }
            let tensor = tensor.to_kind(Kind::Float).to_device(device);
            let tensor = if tensor.dim() == 4 {
                channels_last(&tensor)
            } else {
                tensor
            };
            Ok(tensor.set_requires_grad(false))
        };
        let mut convs = Vec::with_capacity(VGG19_LAYERS.len());
        let mut in_channels = 3;
        for (layer, out_channels) in VGG19_LAYERS.iter().zip(CHANNELS) {
            convs.push(Conv {
                weight: take(
                    format!("{layer}.weight"),
                    &[out_channels, in_channels, 3, 3],
                )?,
                bias: take(format!("{layer}.bias"), &[out_channels])?,
            });
            in_channels = out_channels;
        }
        Ok(Vgg19 { convs, device })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The same network in another floating-point kind (tests use double precision).
    pub fn to_kind(&self, kind: Kind) -> Self {
        let convs = self
            .convs
            .iter()
            .map(|conv| Conv {
                weight: conv.weight.to_kind(kind),
                bias: conv.bias.to_kind(kind),
            })
            .collect();
        Vgg19 {
            convs,
            device: self.device,
        }
    }

    /// The named conv weights, in network order, for inspection.
    pub fn weights(&self) -> impl Iterator<Item = (&'static str, &Tensor, &Tensor)> {
        VGG19_LAYERS
            .iter()
            .zip(&self.convs)
            .map(|(name, conv)| (*name, &conv.weight, &conv.bias))
    }

    /// Runs `image` ([1, 3, H, W], preprocessed) up to the deepest of `layers` and returns
    /// the post-ReLU features of each of `layers` (indices into `VGG19_LAYERS`), in order.
    pub fn features(&self, image: &Tensor, layers: &[usize], pooling: Pooling) -> Vec<Tensor> {
        let Some(&deepest) = layers.iter().max() else {
            return Vec::new();
        };
        let mut taken: Vec<Option<Tensor>> = (0..=deepest).map(|_| None).collect();
        let mut x = channels_last(image);
        for (index, conv) in self.convs[..=deepest].iter().enumerate() {
            x = x
                .conv2d(&conv.weight, Some(&conv.bias), [1, 1], [1, 1], [1, 1], 1)
                .relu_();
            if layers.contains(&index) {
                taken[index] = Some(x.shallow_clone());
            }
            if index < deepest && BLOCK_ENDS.contains(&index) {
                x = match pooling {
                    Pooling::Max => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                    Pooling::Avg => x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None),
                };
            }
        }
        layers
            .iter()
            .map(|&index| {
                taken[index]
                    .as_ref()
                    .expect("layer computed")
                    .shallow_clone()
            })
            .collect()
    }
}
