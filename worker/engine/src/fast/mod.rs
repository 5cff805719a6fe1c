//! The fast network: Ghiasi et al.'s arbitrary style transfer (2017), in Magenta's small
//! version. A MobileNetV2 style predictor turns a painting into a 100-number style
//! vector; a transformer paints a photo in one pass, its instance norms scaled and
//! shifted by that vector. Weights from `scripts/weights/convert_fast.py`, whose
//! tensor names the layers in [`network`] read.

mod network;

use crate::weights::{channels_last, Weights};
use crate::{color, pixels, EngineError};
use image::RgbImage;
use network::{Predictor, Transformer};
use std::path::Path;
use std::time::{Duration, Instant};
use stylize_core::images::resize_longest;
use stylize_core::params::{ParamError, Plan};
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
    /// Loads the converted weights (see `scripts/weights/convert_fast.py`) onto `device`.
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

/// One fast-mode stylisation, as a job's plan asks for it: the photo at the plan's
/// size, painted in the blend of `style_vectors` (one per painting, mixed by the plan's
/// blend), at `strength` (0: the photo's own style, 1: the paintings'), colours
/// preserved if asked. The refusals are those of the full mode.
pub fn fast_stylize(
    model: &FastStylizer,
    content: &RgbImage,
    style_vectors: &[Tensor],
    plan: &Plan,
    strength: f64,
) -> Result<FastPicture, EngineError> {
    plan.check_style_count(style_vectors.len())?;
    plan.check_image_sizes(content.dimensions(), &[])?;
    if !(0.0..=1.0).contains(&strength) {
        return Err(ParamError {
            field: "params.strength".into(),
            message: format!("must be between 0 and 1, got {strength}"),
        }
        .into());
    }
    let content = resize_longest(content, plan.size);
    let started = Instant::now();
    let mut vector = blend_vectors(style_vectors, plan.blend());
    if strength < 1.0 {
        vector = vector * strength + model.style_vector(&content) * (1.0 - strength);
    }
    synchronize(model.device());
    let photo_style = started.elapsed();

    let started = Instant::now();
    let mut image = pixels::from_unit_tensor(&model.stylize(&content, &vector));
    let transform = started.elapsed();
    if plan.preserve_colors {
        image = color::preserve_colors(&image, &content);
    }
    Ok(FastPicture {
        image,
        photo_style,
        transform,
    })
}
