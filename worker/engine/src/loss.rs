//! The Gatys et al. objective: content, style (Gram matrices) and total variation.

use crate::vgg::Vgg19;
use stylize_core::params::{LayerTerm, Level, Plan, Pooling};
use tch::{Kind, Tensor};

/// Gram matrix of [1, C, H, W] features, normalised by C·H·W.
pub fn gram(features: &Tensor) -> Tensor {
    let (_, channels, height, width) = features.size4().expect("features are [1, C, H, W]");
    // [H·W, C]: a free view of the channels-last features the network produces.
    let flat = features
        .permute([0, 2, 3, 1])
        .reshape([height * width, channels]);
    flat.tr().matmul(&flat) / (channels * height * width) as f64
}

/// Mean squared difference.
pub fn mse(a: &Tensor, b: &Tensor) -> Tensor {
    (a - b).square().mean(a.kind())
}

/// Total variation as the seed had it: half the mean absolute difference between
/// vertical neighbours plus that between horizontal neighbours.
pub fn total_variation(image: &Tensor) -> Tensor {
    let height = image.size()[2];
    let width = image.size()[3];
    let vertical = (image.narrow(2, 1, height - 1) - image.narrow(2, 0, height - 1))
        .abs()
        .mean(image.kind());
    let horizontal = (image.narrow(3, 1, width - 1) - image.narrow(3, 0, width - 1))
        .abs()
        .mean(image.kind());
    (vertical + horizontal) * 0.5
}

/// The loss terms of one evaluation, already multiplied by their weights.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossTerms {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
}

struct Target {
    layer: usize,
    weight: f64,
    value: Tensor,
}

impl Target {
    /// With `relative_loss`, the weight also divides by the target's mean square, so the
    /// layer's mean squared error becomes its squared relative error.
    fn new(term: LayerTerm, value: Tensor, relative_loss: bool) -> Self {
        let LayerTerm { index, weight } = term;
        let weight = if relative_loss {
            let mean_square = value.square().mean(Kind::Double).double_value(&[]);
            // A target of zeros (a black photo's deep features) has no size to be
            // relative to: its error stays absolute.
            if mean_square > 0.0 {
                weight / mean_square
            } else {
                weight
            }
        } else {
            weight
        };
        Target {
            layer: index,
            weight,
            value,
        }
    }
}

/// Targets for one resolution, computed once without gradients.
pub struct Objective {
    content: Vec<Target>,
    style: Vec<Target>,
    content_weight: f64,
    style_weight: f64,
    tv_weight: f64,
    pooling: Pooling,
    /// Every layer the objective reads, so one forward pass serves all terms.
    layers: Vec<usize>,
}

impl Objective {
    /// The objective of `plan`'s `level`. `styles` pairs each preprocessed style image
    /// with its blend weight (summing to 1). Blending the Gram targets gives the same
    /// gradient as blending the losses, for one target per layer instead of one per style.
    pub fn new(
        model: &Vgg19,
        content: &Tensor,
        styles: &[(Tensor, f64)],
        plan: &Plan,
        level: &Level,
    ) -> Self {
        let indices =
            |terms: &[LayerTerm]| -> Vec<usize> { terms.iter().map(|t| t.index).collect() };
        let _guard = tch::no_grad_guard();

        let content_indices = indices(&level.content_layers);
        let content_features = model.features(content, &content_indices, plan.pooling);
        let content = level
            .content_layers
            .iter()
            .zip(content_features)
            .map(|(&term, value)| Target::new(term, value, plan.relative_loss))
            .collect();

        let style_indices = indices(&level.style_layers);
        let mut blended: Vec<Option<Tensor>> = style_indices.iter().map(|_| None).collect();
        for (image, blend) in styles {
            let features = model.features(image, &style_indices, plan.pooling);
            for (sum, feature) in blended.iter_mut().zip(&features) {
                let part = gram(feature) * *blend;
                *sum = Some(match sum.take() {
                    Some(total) => total + part,
                    None => part,
                });
            }
        }
        let style = level
            .style_layers
            .iter()
            .zip(blended)
            .map(|(&term, value)| {
                let value = value.expect("at least one style image");
                Target::new(term, value, plan.relative_loss)
            })
            .collect();

        let mut layers: Vec<usize> = content_indices.into_iter().chain(style_indices).collect();
        layers.sort_unstable();
        layers.dedup();
        Objective {
            content,
            style,
            content_weight: level.content_weight,
            style_weight: plan.style_weight,
            tv_weight: plan.tv_weight,
            pooling: plan.pooling,
            layers,
        }
    }

    /// The total loss (a scalar to differentiate) and its terms as a [content, style,
    /// tv, total] tensor, read back with a single device sync by [`Objective::terms`].
    pub fn evaluate(&self, model: &Vgg19, image: &Tensor) -> (Tensor, Tensor) {
        let features = model.features(image, &self.layers, self.pooling);
        let feature = |layer: usize| &features[self.layers.binary_search(&layer).unwrap()];
        let zero = || Tensor::zeros([], (image.kind(), image.device()));

        let mut content = zero();
        for target in &self.content {
            content += mse(feature(target.layer), &target.value) * target.weight;
        }
        let mut style = zero();
        for target in &self.style {
            style += mse(&gram(feature(target.layer)), &target.value) * target.weight;
        }
        let content = content * self.content_weight;
        let style = style * self.style_weight;
        let tv = total_variation(image) * self.tv_weight;
        let total = &content + &style + &tv;
        let terms = Tensor::stack(&[content, style, tv, total.shallow_clone()], 0).detach();
        (total, terms)
    }

    pub fn terms(terms: &Tensor) -> LossTerms {
        let values: Vec<f64> = terms
            .to_kind(Kind::Double)
            .to_device(tch::Device::Cpu)
            .try_into()
            .expect("four loss terms");
        LossTerms {
            content: values[0],
            style: values[1],
            tv: values[2],
            total: values[3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(tensor: &Tensor, expected: f64) {
        let value = tensor.double_value(&[]);
        assert!((value - expected).abs() < 1e-9, "{value} != {expected}");
    }

    #[test]
    fn gram_by_hand() {
        // Two channels over a 1×2 image: f0 = [1, 2], f1 = [3, 4].
        let features = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).view([1, 2, 1, 2]);
        let g = gram(&features);
        // f·fᵀ = [[5, 11], [11, 25]], divided by C·H·W = 4.
        let expected = Tensor::from_slice(&[1.25f64, 2.75, 2.75, 6.25]).view([2, 2]);
        assert!(g.allclose(&expected, 1e-12, 1e-12, false), "{g}");
    }

    #[test]
    fn mse_by_hand() {
        let a = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]);
        let b = Tensor::from_slice(&[1.0f64, 0.0, 3.0, 1.0]);
        // (0 + 4 + 0 + 9) / 4
        close(&mse(&a, &b), 3.25);
    }

    #[test]
    fn total_variation_by_hand() {
        // One channel, 2×3:
        // 1 3 6
        // 2 2 2
        let image = Tensor::from_slice(&[1.0f64, 3.0, 6.0, 2.0, 2.0, 2.0]).view([1, 1, 2, 3]);
        // vertical |diffs| 1, 1, 4 -> mean 2; horizontal 2, 3, 0, 0 -> mean 1.25
        close(&total_variation(&image), 0.5 * (2.0 + 1.25));
    }
}
