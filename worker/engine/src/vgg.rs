//! VGG19's sixteen convolutions, frozen, run only as deep as a job needs.

use crate::weights::{channels_last, Weights};
use crate::EngineError;
use std::path::Path;
use stylize_core::params::Pooling;
use stylize_core::vgg::{CHANNELS, LAYERS, POOLED_AFTER as BLOCK_ENDS};
use tch::{Device, Kind, Tensor};

struct Conv {
    weight: Tensor,
    bias: Tensor,
}

pub struct Vgg19 {
    convs: Vec<Conv>,
    device: Device,
}

// SAFETY: a worker's concurrent jobs share one network. `tch::Tensor` is not `Sync`
// because some of its `&self` methods change the tensor in place; `Vgg19`'s weights are
// written only while loading, and its methods only read them (convolutions, copies),
// which libtorch allows from several threads at once (the weights `weights` lends out are
// for reading too). libtorch's reference counts are atomic.
unsafe impl Sync for Vgg19 {}

impl Vgg19 {
    /// Loads the converted weights (see `scripts/weights/convert_vgg19.py`) onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Self, EngineError> {
        let mut weights = Weights::read(path, device)?;
        let mut take = |name: String, shape: &[i64]| -> Result<Tensor, EngineError> {
            let tensor = weights.take(&name, shape)?;
            Ok(if tensor.dim() == 4 {
                channels_last(&tensor)
            } else {
                tensor
            })
        };
        let mut convs = Vec::with_capacity(LAYERS.len());
        let mut in_channels = 3;
        for (layer, out_channels) in LAYERS.iter().zip(CHANNELS) {
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
        LAYERS
            .iter()
            .zip(&self.convs)
            .map(|(name, conv)| (*name, &conv.weight, &conv.bias))
    }

    /// Runs `image` ([1, 3, H, W], preprocessed) up to the deepest of `layers` and returns
    /// the post-ReLU features of each of `layers` (indices into [`LAYERS`]), in order.
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
