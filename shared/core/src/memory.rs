//! How much device memory a job needs, estimated from its parameters before it runs, so a
//! job that cannot fit fails at once instead of after out-of-memory retries.
//!
//! The estimate is high on purpose: it takes the content as a square of `size` pixels
//! (its longest side), counts the finest coarse-to-fine level only (coarser levels are
//! freed before it), and adds a margin for the allocator's fragmentation and cuDNN's
//! workspaces.

use crate::params::{LayerTerm, Mode, Optimizer, Plan, LBFGS_HISTORY};
use crate::vgg::{CHANNELS, POOLED_AFTER as BLOCK_ENDS};

const FLOAT: u64 = 4;
/// Max pooling keeps an int64 index for each output element, for the backward pass.
const INDEX: u64 = 8;
/// Fragmentation, cuDNN workspaces and temporaries the terms below do not name.
const MARGIN: f64 = 1.25;

/// Bytes of the network's weights (float32), held once per worker and shared by its jobs.
pub fn model_bytes() -> u64 {
    let mut in_channels = 3;
    let mut total = 0;
    for out_channels in CHANNELS {
        total += (out_channels * in_channels * 9 + out_channels) as u64 * FLOAT;
        in_channels = out_channels;
    }
    total
}

/// Elements of each convolution's output for an input of `pixels`, up to `deepest`.
fn feature_elements(pixels: u64, deepest: usize) -> impl Iterator<Item = u64> {
    let mut area = pixels;
    (0..=deepest).map(move |index| {
        let elements = CHANNELS[index] as u64 * area;
        if BLOCK_ENDS.contains(&index) {
            area /= 4;
        }
        elements
    })
}

/// Bytes one job needs on its device, beyond the shared weights.
pub fn job_bytes(plan: &Plan) -> u64 {
    if plan.mode == Mode::Fast {
        return fast_pass_bytes(plan.size);
    }
    let indices = |terms: &[LayerTerm]| -> Vec<usize> { terms.iter().map(|t| t.index).collect() };
    let content_layers = indices(plan.content_layers());
    let style_layers = indices(plan.style_layers());
    let deepest = plan.deepest_layer();
    let pixels = u64::from(plan.size).pow(2);
    let image = 3 * pixels * FLOAT;

    // Forward for backward: each convolution's (ReLU'd) output is kept, and each pooling
    // its indices; the backward pass holds about two of the largest maps' gradients.
    let maps: Vec<u64> = feature_elements(pixels, deepest).collect();
    let kept = maps.iter().sum::<u64>() * FLOAT;
    let pooled: u64 = (0..=deepest)
        .filter(|index| BLOCK_ENDS.contains(index) && *index < deepest)
        .map(|index| maps[index] / 4 * INDEX)
        .sum();
    let gradients = 2 * maps.iter().max().copied().unwrap_or(0) * FLOAT;

    // Targets: content feature maps, one Gram matrix per style layer (blended), and the
    // objective's Gram matrices of the image being optimised.
    let content_targets: u64 = content_layers.iter().map(|&l| maps[l] * FLOAT).sum();
    let grams: u64 = style_layers
        .iter()
        .map(|&l| 2 * (CHANNELS[l] as u64).pow(2) * FLOAT)
        .sum();

    // The image, its leaf copy and gradient, the content, the average of the iterates
    // when averaging, and the optimiser's state at the last (largest) level: L-BFGS keeps
    // up to `LBFGS_HISTORY` pairs of image-sized steps and gradient changes, and no more
    // than the level has iterations; Adam two moments. Coarser levels end before it starts.
    let last_level = plan.levels().last().expect("a plan has a level");
    let optimizer = match plan.optimizer {
        Optimizer::Lbfgs => 2 * (LBFGS_HISTORY as u64).min(last_level.iterations.into()) * image,
        Optimizer::Adam => 2 * image,
    };
    let average = if plan.average > 0.0 { image } else { 0 };
    let training =
        kept + pooled + gradients + content_targets + grams + 4 * image + average + optimizer;

    // Before training, the style targets are computed without gradients at the style's
    // own size: about two of its largest maps at once.
    let style_side = u64::from(last_level.style_side);
    let style_pass = 2
        * feature_elements(style_side.pow(2), deepest)
            .max()
            .unwrap_or(0)
        * FLOAT;

    (training.max(style_pass) as f64 * MARGIN) as u64
}

pub const MIB: u64 = 1 << 20;

/// A `fast` job runs only the feed-forward network, without gradients: its largest
/// moment is the last upsampling, about 48 float channels at the full size (16 upsampled,
/// their padded copy, the 8-channel output, the photo), plus the style predictor's few
/// MiB on a 256×256 painting.
fn fast_pass_bytes(size: u32) -> u64 {
    let pixels = u64::from(size).pow(2);
    ((48 * pixels * FLOAT + 16 * MIB) as f64 * MARGIN) as u64
}

/// A job larger than the device it would run on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "a {size} px job needs about {needed:.1} GiB of device memory; the device has {device:.1} GiB"
)]
pub struct TooLarge {
    pub size: u32,
    /// GiB, the network's weights included.
    pub needed: f64,
    pub device: f64,
}

/// The MiB a job needs beside the network's weights on a device of `device_bytes`, or
/// why it cannot run there at all. The api asks it at submission and the worker before
/// a run, with the same `worker.device_memory_bytes`.
pub fn fit(plan: &Plan, device_bytes: u64) -> Result<u64, TooLarge> {
    let needed = job_bytes(plan);
    let mib = needed.div_ceil(MIB);
    if mib > device_bytes.saturating_sub(model_bytes()) / MIB {
        return Err(TooLarge {
            size: plan.size,
            needed: gib(needed + model_bytes()),
            device: gib(device_bytes),
        });
    }
    Ok(mib)
}

/// `bytes` in GiB, for messages.
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{LayerWeight, StyleParams};

    fn at(size: u32) -> StyleParams {
        StyleParams {
            size,
            ..StyleParams::default()
        }
    }

    fn bytes(params: StyleParams) -> u64 {
        job_bytes(&Plan::new(params, 1).unwrap())
    }

    #[test]
    fn the_weights_are_vgg19s_twenty_million_floats() {
        assert_eq!(model_bytes(), 20_024_384 * 4);
    }

    /// The defaults (L-BFGS, content conv4_2, style conv1_1..conv5_1, so convolutions up to
    /// conv5_1; averaged iterates; a last level of 100 iterations or more) per pixel P of
    /// the square image, in bytes:
    /// kept maps 4·(64+64 + (128+128)/4 + 4·256/16 + 4·512/64 + 512/256) = 4·290 = 1160,
    /// pooling indices 8·(64/4 + 128/16 + 256/64 + 512/256) = 240, gradients 2·4·64 = 512,
    /// content target 4·512/64 = 32, image-sized tensors 4·15 = 60 (the image, its leaf
    /// and gradient, the content, the average), L-BFGS 200·12 = 2400: 4404 per pixel,
    /// plus 2·4·(64²+128²+256²+512²+512²) = 4_882_432 for the Gram matrices, all × 1.25.
    #[test]
    fn the_defaults_need_about_1_4_gib_at_512_px_and_21_5_gib_at_2048() {
        let expected = |size: u64| ((4404 * size * size + 4_882_432) as f64 * 1.25) as u64;
        assert_eq!(bytes(at(512)), expected(512));
        assert_eq!(bytes(at(2048)), expected(2048));
        assert!((1.3..1.4).contains(&gib(bytes(at(512)))));
        assert!((21.0..22.0).contains(&gib(bytes(at(2048)))));
    }

    #[test]
    fn adam_and_shallow_layers_need_less_and_a_large_style_scale_more() {
        let lbfgs = bytes(at(1024));
        let adam = bytes(StyleParams {
            optimizer: Optimizer::Adam,
            ..at(1024)
        });
        assert!(adam < lbfgs / 2, "{adam} vs {lbfgs}");
        let shallow = bytes(StyleParams {
            content_layers: vec![LayerWeight::new("conv1_1", 1.0)],
            style_layers: vec![LayerWeight::new("conv1_1", 1.0)],
            ..at(1024)
        });
        assert!(shallow < lbfgs);
        let big_style = bytes(StyleParams {
            style_scale: 4.0,
            ..at(1024)
        });
        assert!(big_style > lbfgs, "{big_style} vs {lbfgs}");
    }

    #[test]
    fn averaging_adds_an_image_and_a_short_last_level_keeps_a_short_history() {
        let plain = StyleParams {
            average: 0.0,
            start_size: None,
            ..at(1024)
        };
        let single = bytes(plain.clone());
        let averaged = bytes(StyleParams {
            average: 0.9,
            ..plain.clone()
        });
        let image = 3 * 1024 * 1024 * FLOAT;
        let close =
            |bytes: u64, expected: u64| (bytes as f64 - expected as f64 * MARGIN).abs() <= 1.0;
        assert!(close(averaged - single, image), "{averaged} vs {single}");
        // Five levels of 20 iterations: the last keeps 20 pairs, not 100.
        let levels = bytes(StyleParams {
            iterations: 100,
            start_size: Some(256),
            scale_factor: 2f64.sqrt(),
            ..plain
        });
        let saved = 2 * (LBFGS_HISTORY as u64 - 20) * image;
        assert!(close(single - levels, saved), "{levels} vs {single}");
    }

    #[test]
    fn a_fast_job_needs_a_fraction_of_a_full_one() {
        let fast = bytes(StyleParams {
            mode: Mode::Fast,
            ..at(2048)
        });
        assert!(fast < 1 << 30, "{fast}");
        assert!(fast > 48 * 2048 * 2048 * 4, "{fast}");
        assert!(fast * 20 < bytes(at(2048)));
    }
}
