//! The fields of one stylisation as a request gives them and a job stores them: every
//! one untrusted until [`super::Plan::new`] has checked it. Their bounds are
//! [`super::bounds`]'s; their defaults are the `fine` quality's.

use super::quality::Quality;
use serde::{Deserialize, Serialize};

/// The ratio between one level's side and the next, by default.
pub const DEFAULT_SCALE_FACTOR: f64 = std::f64::consts::SQRT_2;

/// Curvature pairs L-BFGS keeps (each two image-sized tensors).
pub const LBFGS_HISTORY: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    Lbfgs,
    Adam,
}

impl Optimizer {
    /// L-BFGS takes whole steps along its quasi-Newton direction; Adam's step is in pixel
    /// units on the 0–255 scale of these weights.
    pub fn default_learning_rate(self) -> f64 {
        match self {
            Optimizer::Lbfgs => 1.0,
            Optimizer::Adam => 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Start from the content photo (the seed's choice).
    Content,
    /// Start from seeded Gaussian noise.
    Noise,
    /// Start from an image the caller supplies: the CLI's `--init FILE`. Not read from
    /// JSON (nor in the api's schema): the api takes no start image.
    #[serde(skip_deserializing)]
    Image,
    /// Start from the fast network's picture, which the caller computes.
    Fast,
}

/// How a job paints: by optimisation (with the fast picture as its first preview), or
/// in one pass of the fast network alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Full,
    Fast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Max,
    Avg,
}

/// One loss layer and its weight within its loss term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerWeight {
    pub layer: String,
    pub weight: f64,
}

impl LayerWeight {
    pub fn new(layer: &str, weight: f64) -> Self {
        LayerWeight {
            layer: layer.to_owned(),
            weight,
        }
    }
}

/// Which coarse-to-fine levels only refine the texture, and how deep they look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailLevels {
    /// Levels whose side is above this many pixels are detail levels.
    pub above: u32,
    /// The deepest layer a detail level evaluates; the content and style layers below it
    /// are left out there. At least one style layer must be this shallow.
    pub deepest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StyleParams {
    /// The named settings this job's parameters start from (`draft`, `fine`, `classic`): the
    /// preset's value fills every parameter the request does not give. Without it, the
    /// defaults are those of `fine`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// `fast` runs the fast network only; the optimiser's settings are checked all the
    /// same, so a request either mode refuses is refused the same way.
    pub mode: Mode,
    /// Longest side of the output, in pixels.
    pub size: u32,
    /// Total iterations (one loss and gradient evaluation each), across all scales.
    pub iterations: u32,
    pub optimizer: Optimizer,
    /// Step size; `None` takes the optimiser's default.
    /// L-BFGS scales each quasi-Newton step by it (1 takes whole steps); Adam moves
    /// pixels (0–255) by about this much a step.
    pub learning_rate: Option<f64>,
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    pub content_layers: Vec<LayerWeight>,
    pub style_layers: Vec<LayerWeight>,
    /// Weigh each layer's error relative to its target: a layer's squared error is
    /// divided by its target's squared size (the photo's features, the painting's Gram
    /// matrix), so that every layer and every painting counts on one scale and the
    /// weights are shares of relative error. Off, the errors are absolute, as in the seed.
    pub relative_loss: bool,
    /// Relative weight of each style image, one per style, each above 0 (a style
    /// weighted 0 would be one the job should not send); empty means equal weights.
    pub style_blend_weights: Vec<f64>,
    /// Style images are resized to `size × style_scale` on their longest side.
    pub style_scale: f64,
    /// Keep the photo's colours: only the luminance takes the style.
    pub preserve_colors: bool,
    pub init: Init,
    pub pooling: Pooling,
    pub seed: u64,
    /// Coarse-to-fine levels: 1 runs at full size only; each extra level first runs at
    /// the next one's size divided by `scale_factor` and upsamples its result as the next
    /// level's start. The iterations are shared equally between levels.
    pub scales: u32,
    /// The coarsest level's side: when given, the levels grow from it (or from `size`,
    /// if smaller) by `scale_factor` up to `size`, as many as that takes, and `scales`
    /// is not read. Giving `scales` over a quality preset drops the preset's.
    pub start_size: Option<u32>,
    /// The ratio between one level's side and the next (√2 by default).
    pub scale_factor: f64,
    /// Each finer level starts from the coarser level's picture plus the photo's detail
    /// that the coarser level was too small to hold (the photo less its own upsampled
    /// coarser copy), instead of the coarser picture alone, whose upsampling blurs it.
    pub photo_detail: bool,
    /// How the iterations are shared between levels: each coarser level runs this many
    /// times the iterations of the next finer one. 1 shares them equally; with the √2
    /// scale factor, 2 gives every level about the same time.
    pub level_ratio: f64,
    /// How the content weight grows towards the coarse levels, where whole objects form:
    /// each coarser level weighs the content term this many times the next finer one
    /// (1: alike at every level), so that the painting's own subjects do not form there.
    pub content_level_ratio: f64,
    /// Levels that only refine the texture: above a side, they leave out every content
    /// and style layer deeper than a given one, so a pass stops there. The whole
    /// picture's structure is settled at the coarser levels.
    pub detail: Option<DetailLevels>,
    /// Iterate averaging: each level's picture is an exponential moving average of its
    /// iterates with this decay (0 shows the last iterate, 0.9 averages about the last
    /// ten), bias-corrected; previews, the next level's start and the result show it.
    pub average: f64,
}

impl StyleParams {
    /// The step size: the given one, or the optimiser's default.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
            .unwrap_or_else(|| self.optimizer.default_learning_rate())
    }
}

/// The defaults are the `fine` quality's.
impl Default for StyleParams {
    fn default() -> Self {
        Quality::Fine.params()
    }
}
