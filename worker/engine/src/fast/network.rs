//! The fast network's layers: the style predictor (MobileNetV2 ×1.0 and a bottleneck to
//! the style vector) and the transformer (convolutions with instance norms that the
//! style vector scales and shifts), each loaded from its converted tensors.

use super::STYLE_DIM;
use crate::weights::{channels_last, Weights};
use crate::EngineError;
use tch::Tensor;

/// MobileNetV2 ×1.0's inverted-residual blocks: (expansion, output channels, stride).
const BLOCKS: [(i64, i64, i64); 17] = [
    (1, 16, 1),
    (6, 24, 2),
    (6, 24, 1),
    (6, 32, 2),
    (6, 32, 1),
    (6, 32, 1),
    (6, 64, 2),
    (6, 64, 1),
    (6, 64, 1),
    (6, 64, 1),
    (6, 96, 1),
    (6, 96, 1),
    (6, 96, 1),
    (6, 160, 2),
    (6, 160, 1),
    (6, 160, 1),
    (6, 320, 1),
];

struct Conv {
    weight: Tensor,
    bias: Tensor,
}

impl Conv {
    fn load(weights: &mut Weights, name: &str, shape: [i64; 4]) -> Result<Self, EngineError> {
        Ok(Conv {
            weight: channels_last(&weights.take(&format!("{name}.weight"), &shape)?),
            bias: weights.take(&format!("{name}.bias"), &shape[..1])?,
        })
    }

    fn apply(&self, x: &Tensor, stride: i64, padding: i64, groups: i64) -> Tensor {
        x.conv2d(
            &self.weight,
            Some(&self.bias),
            [stride, stride],
            [padding, padding],
            [1, 1],
            groups,
        )
    }

    /// A 3×3 convolution padded as TensorFlow's "SAME": at stride 2, the zeros go
    /// bottom and right first.
    fn apply_same(&self, x: &Tensor, stride: i64, groups: i64) -> Tensor {
        if stride == 1 {
            return self.apply(x, 1, 1, groups);
        }
        let total = |size: i64| ((size + stride - 1) / stride - 1) * stride + 3 - size;
        let (_, _, height, width) = x.size4().expect("[N, C, H, W]");
        let (pad_h, pad_w) = (total(height).max(0), total(width).max(0));
        x.constant_pad_nd([pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2])
            .conv2d(
                &self.weight,
                Some(&self.bias),
                [stride, stride],
                [0, 0],
                [1, 1],
                groups,
            )
    }
}

struct Block {
    /// Absent when the expansion is 1.
    expand: Option<Conv>,
    depthwise: Conv,
    project: Conv,
    stride: i64,
    residual: bool,
}

/// MobileNetV2 to a style vector. ReLU6 throughout; the input is RGB in 0..1.
pub(super) struct Predictor {
    conv: Conv,
    blocks: Vec<Block>,
    conv_1: Conv,
    bottleneck: Conv,
}

impl Predictor {
    pub(super) fn load(weights: &mut Weights) -> Result<Self, EngineError> {
        let conv = Conv::load(weights, "predictor.conv", [32, 3, 3, 3])?;
        let mut blocks = Vec::with_capacity(BLOCKS.len());
        let mut in_channels = 32;
        for (index, (expansion, out_channels, stride)) in BLOCKS.into_iter().enumerate() {
            let name = format!("predictor.block{index}");
            let hidden = in_channels * expansion;
            let expand = match expansion {
                1 => None,
                _ => Some(Conv::load(
                    weights,
                    &format!("{name}.expand"),
                    [hidden, in_channels, 1, 1],
                )?),
            };
            blocks.push(Block {
                expand,
                depthwise: Conv::load(weights, &format!("{name}.depthwise"), [hidden, 1, 3, 3])?,
                project: Conv::load(
                    weights,
                    &format!("{name}.project"),
                    [out_channels, hidden, 1, 1],
                )?,
                stride,
                residual: stride == 1 && in_channels == out_channels,
            });
            in_channels = out_channels;
        }
        Ok(Predictor {
            conv,
            blocks,
            conv_1: Conv::load(weights, "predictor.conv_1", [1280, in_channels, 1, 1])?,
            bottleneck: Conv::load(weights, "predictor.bottleneck", [STYLE_DIM, 1280, 1, 1])?,
        })
    }

    /// [N, 3, H, W] → [N, 100].
    pub(super) fn forward(&self, image: &Tensor) -> Tensor {
        let mut x = self.conv.apply_same(image, 2, 1).clamp(0.0, 6.0);
        for block in &self.blocks {
            let hidden = match &block.expand {
                Some(expand) => expand.apply(&x, 1, 0, 1).clamp(0.0, 6.0),
                None => x.shallow_clone(),
            };
            let groups = hidden.size()[1];
            let hidden = block
                .depthwise
                .apply_same(&hidden, block.stride, groups)
                .clamp(0.0, 6.0);
            let out = block.project.apply(&hidden, 1, 0, 1);
            x = if block.residual { out + &x } else { out };
        }
        let pooled = self.conv_1.apply(&x, 1, 0, 1).clamp(0.0, 6.0).mean_dim(
            Some([2i64, 3].as_slice()),
            true,
            None,
        );
        self.bottleneck.apply(&pooled, 1, 0, 1).flatten(1, -1)
    }
}

/// A linear map of the style vector (a 1×1 convolution in the graph).
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(weights: &mut Weights, name: &str, channels: i64) -> Result<Self, EngineError> {
        let weight = weights.take(&format!("{name}.weight"), &[channels, STYLE_DIM, 1, 1])?;
        Ok(Linear {
            weight: weight.view([channels, STYLE_DIM]),
            bias: weights.take(&format!("{name}.bias"), &[channels])?,
        })
    }
}

/// Reflect-pad, convolve, then a conditional instance norm: each channel normalised over
/// the image and scaled by γ, shifted by β, both read from the style vector.
struct NormConv {
    conv: Conv,
    beta: Linear,
    gamma: Linear,
}

impl NormConv {
    fn load(weights: &mut Weights, name: &str, shape: [i64; 4]) -> Result<Self, EngineError> {
        Ok(NormConv {
            conv: Conv::load(weights, name, shape)?,
            beta: Linear::load(weights, &format!("{name}.beta"), shape[0])?,
            gamma: Linear::load(weights, &format!("{name}.gamma"), shape[0])?,
        })
    }

    fn forward(&self, x: &Tensor, vector: &Tensor, epsilon: f64) -> Tensor {
        let pad = self.conv.weight.size()[3] / 2;
        let y = self.conv.apply(&x.reflection_pad2d([pad; 4]), 1, 0, 1);
        let (n, c, h, w) = y.size4().expect("[N, C, H, W]");
        let per_channel = |linear: &Linear| {
            vector
                .linear(&linear.weight, Some(&linear.bias))
                .flatten(0, -1)
        };
        // Instance norm as a batch norm of one sample with N·C channels, each sample's
        // γ and β its own: libtorch's fused kernel, ten times the speed of the same
        // arithmetic spelled out (mean and biased variance over H×W).
        y.reshape([1, n * c, h, w])
            .batch_norm(
                Some(per_channel(&self.gamma)),
                Some(per_channel(&self.beta)),
                None::<Tensor>,
                None::<Tensor>,
                true,
                0.0,
                epsilon,
                true,
            )
            .reshape([n, c, h, w])
    }
}

/// The photo's painter: contract (×¼), five residual blocks, expand (×4), sigmoid.
pub(super) struct Transformer {
    contract: [Conv; 3],
    residual: Vec<[NormConv; 2]>,
    expand: [NormConv; 3],
    epsilon: f64,
}

impl Transformer {
    pub(super) fn load(weights: &mut Weights) -> Result<Self, EngineError> {
        let contract = [
            Conv::load(weights, "transformer.contract.conv1", [8, 3, 9, 9])?,
            Conv::load(weights, "transformer.contract.conv2", [16, 8, 3, 3])?,
            Conv::load(weights, "transformer.contract.conv3", [32, 16, 3, 3])?,
        ];
        let residual = (1..=5)
            .map(|r| {
                let mut conv = |c| {
                    NormConv::load(
                        weights,
                        &format!("transformer.residual{r}.conv{c}"),
                        [32, 32, 3, 3],
                    )
                };
                Ok([conv(1)?, conv(2)?])
            })
            .collect::<Result<_, EngineError>>()?;
        let expand = [
            NormConv::load(weights, "transformer.expand.conv1", [16, 32, 3, 3])?,
            NormConv::load(weights, "transformer.expand.conv2", [8, 16, 3, 3])?,
            NormConv::load(weights, "transformer.expand.conv3", [3, 8, 9, 9])?,
        ];
        let epsilon = weights
            .take("transformer.epsilon", &[1])?
            .double_value(&[0]);
        Ok(Transformer {
            contract,
            residual,
            expand,
            epsilon,
        })
    }

    /// [N, 3, H, W] with H and W multiples of [`super::STRIDE`], and [N, 100] → [N, 3, H, W].
    pub(super) fn forward(&self, content: &Tensor, vector: &Tensor) -> Tensor {
        let contract = |conv: &Conv, x: &Tensor, stride: i64| {
            let pad = conv.weight.size()[3] / 2;
            conv.apply(&x.reflection_pad2d([pad; 4]), stride, 0, 1)
                .relu()
        };
        let [conv1, conv2, conv3] = &self.contract;
        let mut x = contract(conv1, content, 1);
        x = contract(conv2, &x, 2);
        x = contract(conv3, &x, 2);
        for [first, second] in &self.residual {
            let inner = first.forward(&x, vector, self.epsilon).relu();
            x = second.forward(&inner, vector, self.epsilon) + x;
        }
        let [up1, up2, out] = &self.expand;
        for up in [up1, up2] {
            let (_, _, height, width) = x.size4().expect("[N, C, H, W]");
            let doubled = x.upsample_nearest2d([height * 2, width * 2], None, None);
            x = up.forward(&doubled, vector, self.epsilon).relu();
        }
        out.forward(&x, vector, self.epsilon).sigmoid()
    }
}
