//! The fast network: Ghiasi et al.'s arbitrary style transfer (2017), in Magenta's small
//! version. A MobileNetV2 style predictor turns a painting into a 100-number style
//! vector; a transformer paints a photo in one pass, its instance norms scaled and
//! shifted by that vector. Weights from `scripts/convert_fast_weights.py`; the layer
//! table is in `../shared/FAST.md`.

use crate::weights::{channels_last, Weights};
use crate::{color, pixels, EngineError};
use image::RgbImage;
use std::path::Path;
use std::time::{Duration, Instant};
use stylize_shared::images::resize_longest;
use stylize_shared::params::{ParamError, StyleParams};
use tch::{Device, Tensor};

/// Side of the square the predictor sees.
pub const STYLE_SIDE: u32 = 256;
/// Length of a style vector.
pub const STYLE_DIM: i64 = 100;
/// The transformer halves the photo twice and doubles it back: its sides must be
/// multiples of this.
const STRIDE: i64 = 4;
/// Its 9×9 convolutions reflect 4 pixels, which needs at least 5 on a side.
const MIN_SIDE: i64 = 8;

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
struct Predictor {
    conv: Conv,
    blocks: Vec<Block>,
    conv_1: Conv,
    bottleneck: Conv,
}

impl Predictor {
    fn load(weights: &mut Weights) -> Result<Self, EngineError> {
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
    fn forward(&self, image: &Tensor) -> Tensor {
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
struct Transformer {
    contract: [Conv; 3],
    residual: Vec<[NormConv; 2]>,
    expand: [NormConv; 3],
    epsilon: f64,
}

impl Transformer {
    fn load(weights: &mut Weights) -> Result<Self, EngineError> {
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

    /// [N, 3, H, W] with H and W multiples of [`STRIDE`], and [N, 100] → [N, 3, H, W].
    fn forward(&self, content: &Tensor, vector: &Tensor) -> Tensor {
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

/// Both networks, frozen, on one device.
pub struct FastStylizer {
    predictor: Predictor,
    transformer: Transformer,
    device: Device,
}

// SAFETY: as for `Vgg19`: a worker's concurrent jobs share one network. Its tensors are
// written only while loading; `predict`, `transform` and `style_vector` only read them
// (convolutions, norms, linear maps, under `no_grad`), which libtorch allows from several
// threads at once, and libtorch's reference counts are atomic.
unsafe impl Sync for FastStylizer {}

impl FastStylizer {
    /// Loads the converted weights (see `scripts/convert_fast_weights.py`) onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Self, EngineError> {
        let mut weights = Weights::read(path, device)?;
        let predictor = Predictor::load(&mut weights)?;
        let transformer = Transformer::load(&mut weights)?;
        weights.finish()?;
        Ok(FastStylizer {
            predictor,
            transformer,
            device,
        })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// A painting's style vector, [1, 100]: its centred square at 256×256.
    pub fn style_vector(&self, painting: &RgbImage) -> Tensor {
        let (width, height) = painting.dimensions();
        let side = width.min(height);
        let square = image::imageops::crop_imm(
            painting,
            (width - side) / 2,
            (height - side) / 2,
            side,
            side,
        )
        .to_image();
        let input = pixels::to_unit_tensor(&resize_longest(&square, STYLE_SIDE), self.device);
        self.predict(&input)
    }

    /// The predictor on prepared images: [N, 3, H, W], RGB in 0..1 → [N, 100].
    pub fn predict(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| self.predictor.forward(&channels_last(images)))
    }

    /// `content` ([N, 3, H, W], RGB in 0..1, any size) painted in the style of `vector`
    /// ([N, 100]): the same shape, in 0..1. Sides are padded up to what the network takes
    /// and the result cropped back.
    pub fn transform(&self, content: &Tensor, vector: &Tensor) -> Tensor {
        let (_, _, height, width) = content.size4().expect("[N, 3, H, W]");
        let round = |side: i64| ((side + STRIDE - 1) / STRIDE * STRIDE).max(MIN_SIDE);
        let (bottom, right) = (round(height) - height, round(width) - width);
        // Reflection repeats the edge's neighbourhood, as the network's own padding does;
        // a side too short to reflect that far repeats its last pixel instead.
        let padded = if bottom == 0 && right == 0 {
            content.shallow_clone()
        } else if bottom < height && right < width {
            content.reflection_pad2d([0, right, 0, bottom])
        } else {
            content.replication_pad2d([0, right, 0, bottom])
        };
        tch::no_grad(|| {
            self.transformer
                .forward(&channels_last(&padded), vector)
                .narrow(2, 0, height)
                .narrow(3, 0, width)
        })
    }

    /// `content` painted in the style of `vector`, at its own size: [1, 3, H, W] in 0..1.
    pub fn stylize(&self, content: &RgbImage, vector: &Tensor) -> Tensor {
        self.transform(&pixels::to_unit_tensor(content, self.device), vector)
    }
}

/// The style vectors of several paintings mixed with `weights` (summing to 1).
pub fn blend_vectors(vectors: &[Tensor], weights: &[f64]) -> Tensor {
    assert_eq!(vectors.len(), weights.len(), "one weight per style vector");
    vectors
        .iter()
        .zip(weights)
        .map(|(vector, weight)| vector * *weight)
        .reduce(|sum, term| sum + term)
        .expect("at least one style vector")
}

/// Waits for the work queued on `device`, so a phase's time is its own (CUDA runs
/// asynchronously).
pub fn synchronize(device: Device) {
    if let Device::Cuda(index) = device {
        tch::Cuda::synchronize(index as i64);
    }
}

/// What one fast pass made, and how long its phases took.
pub struct FastPicture {
    pub image: RgbImage,
    /// The photo's own style vector, when `strength` below 1 needs it.
    pub photo_style: Duration,
    pub transform: Duration,
}

/// One fast-mode stylisation, as a job asks for it: the photo at `params.size`, painted
/// in the blend of `style_vectors` (one per painting, mixed by the job's blend weights),
/// at `strength` (0: the photo's own style, 1: the paintings'), colours preserved if
/// asked. The refusals are those of the full mode.
pub fn fast_stylize(
    model: &FastStylizer,
    content: &RgbImage,
    style_vectors: &[Tensor],
    params: &StyleParams,
    strength: f64,
) -> Result<FastPicture, EngineError> {
    params.validate(style_vectors.len())?;
    params.check_image_sizes(content.dimensions(), &[])?;
    if !(0.0..=1.0).contains(&strength) {
        return Err(ParamError {
            field: "params.strength".into(),
            message: format!("must be between 0 and 1, got {strength}"),
        }
        .into());
    }
    let content = resize_longest(content, params.size);
    let started = Instant::now();
    let mut vector = blend_vectors(style_vectors, &params.normalized_blend(style_vectors.len()));
    if strength < 1.0 {
        vector = vector * strength + model.style_vector(&content) * (1.0 - strength);
    }
    synchronize(model.device());
    let photo_style = started.elapsed();

    let started = Instant::now();
    let mut image = pixels::from_unit_tensor(&model.stylize(&content, &vector));
    let transform = started.elapsed();
    if params.preserve_colors {
        image = color::preserve_colors(&image, &content);
    }
    Ok(FastPicture {
        image,
        photo_style,
        transform,
    })
}
