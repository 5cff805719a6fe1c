//! The one check of a job's parameters, for its number of style images, and what it
//! yields: a [`Plan`] that holds the parameters with their layers resolved, the styles'
//! blend, and every coarse-to-fine [`Level`] the run takes. A plan exists only for
//! parameters that passed, so whoever holds one checks nothing again.

use super::bounds::{self, MAX_STYLES, MIN_SIZE};
use super::error::{invalid, invalid_param, ParamError};
use super::schedule;
use super::types::{Init, LayerWeight, StyleParams};
use crate::images::{fit_longest, ImageError};
use crate::vgg::{self, layer_index};

/// One loss layer, by its index in [`vgg::LAYERS`], and its weight within its term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerTerm {
    pub index: usize,
    pub weight: f64,
}

/// One coarse-to-fine level: the sides of its pictures, its iterations, and the terms
/// its objective weighs.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The content's (and the picture's) longest side.
    pub side: u32,
    /// The style images' longest side.
    pub style_side: u32,
    pub iterations: u32,
    /// The content term's weight here (see `content_level_ratio`).
    pub content_weight: f64,
    /// On a detail level, only the layers no deeper than `detail.deepest`.
    pub content_layers: Vec<LayerTerm>,
    pub style_layers: Vec<LayerTerm>,
    /// The share of a full pass (to the job's deepest layer) that a pass here costs a
    /// pixel: less than 1 on a detail level, whose pass stops early.
    pub depth_share: f64,
    /// What one iteration here costs, in iterations at full size: (side / size)² times
    /// the depth share.
    pub cost: f64,
}

impl Level {
    /// The deepest layer this level reads (0 when none): its passes stop there.
    pub fn deepest_layer(&self) -> usize {
        deepest(&self.content_layers, &self.style_layers)
    }
}

fn deepest(content: &[LayerTerm], style: &[LayerTerm]) -> usize {
    content
        .iter()
        .chain(style)
        .map(|term| term.index)
        .max()
        .unwrap_or(0)
}

/// Parameters that passed the check, for a job of a known number of style images, with
/// their schedule. Reads as the [`StyleParams`] it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    params: StyleParams,
    style_count: usize,
    content_layers: Vec<LayerTerm>,
    style_layers: Vec<LayerTerm>,
    blend: Vec<f64>,
    levels: Vec<Level>,
}

impl std::ops::Deref for Plan {
    type Target = StyleParams;

    fn deref(&self) -> &StyleParams {
        &self.params
    }
}

impl Plan {
    /// Checks every field of `params` for a job with `style_count` style images, and
    /// plans its run. An error names the field as a submission names it.
    pub fn new(params: StyleParams, style_count: usize) -> Result<Plan, ParamError> {
        let (content_layers, style_layers) = check(&params, style_count)?;
        let blend = if params.style_blend_weights.is_empty() {
            vec![1.0 / style_count as f64; style_count]
        } else {
            let sum: f64 = params.style_blend_weights.iter().sum();
            params.style_blend_weights.iter().map(|w| w / sum).collect()
        };
        let full_pass = vgg::pass_flops_per_pixel(deepest(&content_layers, &style_layers));
        let detail_deepest = params
            .detail
            .as_ref()
            .map(|detail| (detail.above, layer_index(&detail.deepest)));
        let levels = schedule::sides(&params)
            .into_iter()
            .zip(schedule::iterations(&params))
            .map(|(side, iterations)| {
                let deepest_here = detail_deepest
                    .filter(|&(above, _)| side > above)
                    .and_then(|(_, deepest)| deepest);
                let keep = |terms: &[LayerTerm]| -> Vec<LayerTerm> {
                    terms
                        .iter()
                        .filter(|term| deepest_here.is_none_or(|limit| term.index <= limit))
                        .copied()
                        .collect()
                };
                let (content, style) = (keep(&content_layers), keep(&style_layers));
                let depth_share = vgg::pass_flops_per_pixel(deepest(&content, &style)) / full_pass;
                Level {
                    side,
                    style_side: schedule::style_side(&params, side),
                    iterations,
                    content_weight: schedule::content_weight(&params, side),
                    content_layers: content,
                    style_layers: style,
                    depth_share,
                    cost: (f64::from(side) / f64::from(params.size)).powi(2) * depth_share,
                }
            })
            .collect();
        Ok(Plan {
            params,
            style_count,
            content_layers,
            style_layers,
            blend,
            levels,
        })
    }

    /// The parameters as given (what a job stores and its answers show).
    pub fn params(&self) -> &StyleParams {
        &self.params
    }

    pub fn style_count(&self) -> usize {
        self.style_count
    }

    /// A plan is for a number of style images: a caller that brings another number has
    /// a mismatched plan, named as a submission names the styles.
    pub fn check_style_count(&self, given: usize) -> Result<(), ParamError> {
        if given == self.style_count {
            return Ok(());
        }
        Err(invalid(
            "style",
            format!(
                "the parameters were checked for {} style images, but {given} were given",
                self.style_count
            ),
        ))
    }

    /// Every coarse-to-fine level, coarsest first; the last is at `size`.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Each style image's share of the style targets, summing to 1.
    pub fn blend(&self) -> &[f64] {
        &self.blend
    }

    /// The content layers across all levels.
    pub fn content_layers(&self) -> &[LayerTerm] {
        &self.content_layers
    }

    /// The style layers across all levels.
    pub fn style_layers(&self) -> &[LayerTerm] {
        &self.style_layers
    }

    /// The deepest content or style layer (0 when there are none).
    pub fn deepest_layer(&self) -> usize {
        deepest(&self.content_layers, &self.style_layers)
    }

    /// The run's cost in iterations at full size: each level's iterations weighed by its
    /// [`Level::cost`]. Progress and its ETA weigh iterations by it.
    pub fn full_size_iterations(&self) -> f64 {
        self.levels
            .iter()
            .map(|level| f64::from(level.iterations) * level.cost)
            .sum()
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
        self.check_side(content, self.levels[0].side)
    }

    /// One style image's part of [`Self::check_image_sizes`].
    pub fn check_style_size(&self, style: (u32, u32)) -> Result<(), ImageError> {
        self.check_side(style, self.levels[0].style_side)
    }

    fn check_side(&self, (width, height): (u32, u32), side: u32) -> Result<(), ImageError> {
        let min = self.min_side();
        let (w, h) = fit_longest(width, height, side);
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
}

/// Each layer of a list resolved, or the first that is unknown, listed twice or weighed
/// out of bounds.
fn check_layers(path: &str, layers: &[LayerWeight]) -> Result<Vec<LayerTerm>, ParamError> {
    let mut terms = Vec::with_capacity(layers.len());
    for (i, entry) in layers.iter().enumerate() {
        let index = check_layer_name(&format!("{path}[{i}].layer"), &entry.layer)?;
        if layers[..i].iter().any(|other| other.layer == entry.layer) {
            return Err(invalid_param(
                &format!("{path}[{i}].layer"),
                format!("layer {:?} is listed twice", entry.layer),
            ));
        }
        bounds::WEIGHT.check(&format!("{path}[{i}].weight"), entry.weight)?;
        terms.push(LayerTerm {
            index,
            weight: entry.weight,
        });
    }
    Ok(terms)
}

fn check_layer_name(path: &str, name: &str) -> Result<usize, ParamError> {
    layer_index(name).ok_or_else(|| {
        invalid_param(
            path,
            format!(
                "unknown layer {name:?}; expected one of {}",
                vgg::LAYERS.join(", ")
            ),
        )
    })
}

/// The check behind [`Plan::new`], in the order a request's fields are read; yields the
/// content and style layers resolved.
fn check(
    params: &StyleParams,
    style_count: usize,
) -> Result<(Vec<LayerTerm>, Vec<LayerTerm>), ParamError> {
    bounds::SIDE.check("size", f64::from(params.size))?;
    bounds::ITERATIONS.check("iterations", f64::from(params.iterations))?;
    if let Some(rate) = params.learning_rate {
        bounds::LEARNING_RATE.check("learning_rate", rate)?;
    }
    bounds::WEIGHT.check("content_weight", params.content_weight)?;
    bounds::WEIGHT.check("style_weight", params.style_weight)?;
    bounds::WEIGHT.check("tv_weight", params.tv_weight)?;
    let content_layers = check_layers("content_layers", &params.content_layers)?;
    let style_layers = check_layers("style_layers", &params.style_layers)?;
    if content_layers.is_empty() && style_layers.is_empty() {
        return Err(invalid_param(
            "style_layers",
            "at least one content or style layer is needed",
        ));
    }
    // Without content layers the photo enters the picture only as its start; from
    // noise it would not enter at all.
    if content_layers.is_empty() && params.init == Init::Noise {
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
    let blend = &params.style_blend_weights;
    if !blend.is_empty() && blend.len() != style_count {
        return Err(invalid_param(
            "style_blend_weights",
            format!("has {} weights for {style_count} style images", blend.len()),
        ));
    }
    for (i, weight) in blend.iter().enumerate() {
        bounds::BLEND_WEIGHT.check(&format!("style_blend_weights[{i}]"), *weight)?;
    }
    bounds::STYLE_SCALE.check("style_scale", params.style_scale)?;
    match params.start_size {
        // Its count of levels is checked after the factor, which the count depends on.
        Some(start) => bounds::SIDE.check("start_size", f64::from(start))?,
        None => bounds::SCALES.check("scales", f64::from(params.scales))?,
    }
    bounds::SCALE_FACTOR.check("scale_factor", params.scale_factor)?;
    bounds::AVERAGE.check("average", params.average)?;
    bounds::LEVEL_RATIO.check("level_ratio", params.level_ratio)?;
    bounds::LEVEL_RATIO.check("content_level_ratio", params.content_level_ratio)?;
    if let Some(detail) = &params.detail {
        bounds::SIDE.check("detail.above", f64::from(detail.above))?;
        let deepest = check_layer_name("detail.deepest", &detail.deepest)?;
        let shallowest_style = style_layers.iter().map(|term| term.index).min();
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
    let count = schedule::scale_count(params);
    if !bounds::SCALES.contains(f64::from(count)) {
        return Err(invalid_param(
            "start_size",
            format!(
                "from {} to {} px by {} takes {count} levels; at most {}",
                params.start_size.unwrap_or_default(),
                params.size,
                params.scale_factor,
                bounds::MAX_SCALES
            ),
        ));
    }
    if schedule::sides(params)[0] < MIN_SIZE {
        return Err(invalid_param(
            "scales",
            format!(
                "{count} levels would shrink a {} px image below {MIN_SIZE} px",
                params.size
            ),
        ));
    }
    if params.iterations < count {
        return Err(invalid_param(
            "iterations",
            "must be at least one per scale",
        ));
    }
    Ok((content_layers, style_layers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{DetailLevels, Mode, Optimizer, Quality, MAX_LEARNING_RATE, MAX_WEIGHT};

    fn refused(params: StyleParams, styles: usize) -> String {
        Plan::new(params, styles).unwrap_err().field
    }

    fn plan(params: StyleParams) -> Plan {
        Plan::new(params, 1).unwrap()
    }

    fn levels(plan: &Plan) -> Vec<(u32, u32)> {
        plan.levels()
            .iter()
            .map(|level| (level.side, level.iterations))
            .collect()
    }

    #[test]
    fn defaults_and_presets_are_valid() {
        plan(StyleParams::default());
        for quality in Quality::ALL {
            plan(quality.params());
        }
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
            assert_eq!(refused(params, 1), field);
        }
    }

    #[test]
    fn every_schema_bound_is_the_one_the_check_applies() {
        // A request giving the parameter at `path` the value `v`, otherwise fine, and the
        // field a refusal names.
        let request = |schema: &str, path: &[&str], v: f64| -> (String, String) {
            match (schema, path) {
                ("StyleParams", ["size" | "iterations", ..]) => (
                    format!(r#"{{"{}": {v}, "scales": 1}}"#, path[0]),
                    format!("params.{}", path[0]),
                ),
                ("StyleParams", ["start_size"]) => (
                    format!(r#"{{"start_size": {v}, "size": 64}}"#),
                    "params.start_size".into(),
                ),
                ("StyleParams", ["scale_factor"]) => (
                    format!(r#"{{"scale_factor": {v}, "scales": 2}}"#),
                    "params.scale_factor".into(),
                ),
                ("StyleParams", ["style_blend_weights", "items"]) => (
                    format!(r#"{{"style_blend_weights": [{v}]}}"#),
                    "params.style_blend_weights[0]".into(),
                ),
                ("StyleParams", [name]) => {
                    (format!(r#"{{"{name}": {v}}}"#), format!("params.{name}"))
                }
                ("LayerWeight", ["weight"]) => (
                    format!(r#"{{"style_layers": [{{"layer": "conv1_1", "weight": {v}}}]}}"#),
                    "params.style_layers[0].weight".into(),
                ),
                ("DetailLevels", ["above"]) => (
                    format!(r#"{{"detail": {{"above": {v}, "deepest": "conv2_1"}}}}"#),
                    "params.detail.above".into(),
                ),
                _ => panic!("no request sets {schema}.{path:?}: add one"),
            }
        };
        for entry in bounds::SCHEMA {
            let bounds::Constraint::Range(bound) = entry.constraint else {
                continue;
            };
            let outcome = |value: f64| -> (Result<(), String>, String) {
                let (json, field) = request(entry.schema, entry.path, value);
                let checked = StyleParams::from_json(json.as_bytes())
                    .and_then(|params| Plan::new(params, 1))
                    .map(drop)
                    .map_err(|error| error.field);
                (checked, field)
            };
            let ends = [
                (bound.min - 1.0, false),
                (bound.min, !bound.min_excluded),
                (bound.max, !bound.max_excluded),
                (bound.max + 1.0, false),
            ];
            for (value, passes) in ends {
                let (checked, field) = outcome(value);
                let expected = if passes { Ok(()) } else { Err(field.clone()) };
                assert_eq!(checked, expected, "{field} = {value}");
            }
        }
    }

    #[test]
    fn blend_weights_are_positive_one_per_style_with_a_finite_sum() {
        let with = |weights: Vec<f64>| StyleParams {
            style_blend_weights: weights,
            ..StyleParams::default()
        };
        assert_eq!(
            refused(with(vec![1.0, 0.0]), 2),
            "params.style_blend_weights[1]"
        );
        assert_eq!(
            refused(with(vec![-1.0, 2.0]), 2),
            "params.style_blend_weights[0]"
        );
        assert_eq!(
            refused(with(vec![1.0, f64::NAN]), 2),
            "params.style_blend_weights[1]"
        );
        assert_eq!(
            refused(with(vec![1e308, 1.0]), 2),
            "params.style_blend_weights[0]"
        );
        assert_eq!(
            refused(with(vec![1.0, 2.0]), 3),
            "params.style_blend_weights"
        );
        Plan::new(with(vec![0.5, 1e-9]), 2).unwrap();
    }

    #[test]
    fn weights_are_bounded_so_every_one_round_trips_through_postgresql() {
        let with = |weight: f64| StyleParams {
            style_weight: weight,
            ..StyleParams::default()
        };
        for weight in [f64::MAX, 1e10] {
            assert_eq!(refused(with(weight), 1), "params.style_weight");
        }
        plan(with(MAX_WEIGHT));
    }

    #[test]
    fn a_learning_rate_is_above_0_and_at_most_255_for_either_optimizer() {
        for optimizer in [Optimizer::Lbfgs, Optimizer::Adam] {
            let with = |rate: f64| StyleParams {
                optimizer,
                learning_rate: Some(rate),
                ..StyleParams::default()
            };
            plan(with(0.5));
            plan(with(MAX_LEARNING_RATE));
            for rate in [0.0, -1.0, 255.5, f64::INFINITY] {
                assert_eq!(refused(with(rate), 1), "params.learning_rate");
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
        plan(without(Init::Content));
        plan(without(Init::Fast));
        let error = Plan::new(without(Init::Noise), 1).unwrap_err();
        assert_eq!(error.field, "params.content_layers");
        assert!(error.message.contains("from noise"), "{error}");
    }

    #[test]
    fn a_parameter_has_one_name_whether_it_fails_to_parse_or_to_check() {
        let name = |json: &str| match StyleParams::from_json(json.as_bytes()) {
            Err(error) => error.field,
            Ok(params) => refused(params, 1),
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
    fn either_mode_refuses_alike() {
        for mode in [Mode::Full, Mode::Fast] {
            let params = StyleParams {
                mode,
                size: 5,
                ..StyleParams::default()
            };
            assert_eq!(refused(params, 1), "params.size");
        }
    }

    #[test]
    fn style_counts_are_named_by_the_style_field() {
        assert_eq!(refused(StyleParams::default(), 0), "style");
        Plan::new(StyleParams::default(), MAX_STYLES).unwrap();
        assert_eq!(refused(StyleParams::default(), MAX_STYLES + 1), "style");
    }

    #[test]
    fn levels_weigh_their_cost_in_full_size_iterations() {
        let two_levels = plan(StyleParams {
            size: 400,
            iterations: 30,
            scales: 2,
            start_size: None,
            scale_factor: 2.0,
            ..StyleParams::default()
        });
        assert_eq!(levels(&two_levels), vec![(200, 15), (400, 15)]);
        // 15/4 + 15
        assert_eq!(two_levels.full_size_iterations(), 3.75 + 15.0);
    }

    #[test]
    fn a_level_ratio_is_from_1_to_4() {
        let with = |ratio: f64| StyleParams {
            level_ratio: ratio,
            start_size: Some(128),
            ..StyleParams::default()
        };
        assert_eq!(refused(with(0.5), 1), "params.level_ratio");
        assert_eq!(refused(with(f64::NAN), 1), "params.level_ratio");
        plan(with(4.0));
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
        let detailed = plan(params.clone());
        let indices =
            |terms: &[LayerTerm]| -> Vec<usize> { terms.iter().map(|term| term.index).collect() };
        let at_256 = &detailed.levels()[2];
        assert_eq!(at_256.side, 256);
        assert_eq!(indices(&at_256.content_layers), [9]); // conv4_2
        assert_eq!(at_256.style_layers.len(), 5);
        let at_362 = &detailed.levels()[3];
        assert!(at_362.content_layers.is_empty());
        assert_eq!(indices(&at_362.style_layers), [0, 2]); // conv1_1, conv2_1
        let share = vgg::pass_flops_per_pixel(2) / vgg::pass_flops_per_pixel(12);
        assert_eq!((at_256.depth_share, at_256.cost), (1.0, 0.25));
        assert_eq!(detailed.levels()[4].cost, share);
        let expected = 1.0 / 16.0
            + (181.0f64 / 512.0).powi(2)
            + 0.25
            + (362.0f64 / 512.0).powi(2) * share
            + share;
        assert!((detailed.full_size_iterations() - expected).abs() < 1e-12);

        let with = |above: u32, deepest: &str| StyleParams {
            detail: Some(DetailLevels {
                above,
                deepest: deepest.to_owned(),
            }),
            ..params.clone()
        };
        assert_eq!(refused(with(8, "conv2_1"), 1), "params.detail.above");
        assert_eq!(refused(with(256, "fc7"), 1), "params.detail.deepest");
        let deep_only = StyleParams {
            style_layers: vec![LayerWeight::new("conv5_1", 1.0)],
            ..params
        };
        assert_eq!(refused(deep_only, 1), "params.detail.deepest");
    }

    #[test]
    fn too_many_levels_are_refused_by_start_size() {
        let at = |size: u32, start: u32| StyleParams {
            size,
            start_size: Some(start),
            iterations: 100,
            ..StyleParams::default()
        };
        let too_fine = StyleParams {
            scale_factor: 1.1,
            ..at(2048, 16)
        };
        assert_eq!(refused(too_fine, 1), "params.start_size");
        for start in [15, 4096] {
            assert_eq!(refused(at(512, start), 1), "params.start_size");
        }
    }

    #[test]
    fn every_preset_plans() {
        for quality in Quality::ALL {
            assert_eq!(plan(quality.params()).quality, Some(quality));
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
        let two_levels = plan(params.clone());
        // conv5_1 sits behind four poolings.
        assert_eq!(two_levels.min_side(), 16);
        two_levels
            .check_image_sizes((400, 300), &[(500, 400)])
            .unwrap();
        let error = two_levels
            .check_image_sizes((400, 100), &[(500, 400)])
            .unwrap_err();
        assert_eq!(error.field, "content");
        assert!(
            matches!(
                two_levels.check_content_size((12_000, 1)),
                Err(ImageError::BadDimensions {
                    width: 12_000,
                    height: 1,
                    ..
                })
            ),
            "a size the layers cannot take is a dimension error"
        );
        let shallow = plan(StyleParams {
            content_layers: vec![],
            style_layers: vec![LayerWeight::new("conv2_1", 1.0)],
            ..params.clone()
        });
        assert_eq!(shallow.min_side(), 2);
        let small_style = plan(StyleParams {
            style_scale: 0.25,
            ..params
        });
        let error = small_style
            .check_image_sizes((400, 300), &[(500, 400)])
            .unwrap_err();
        assert_eq!(error.field, "style[0]");
    }

    #[test]
    fn blend_weights_are_normalised() {
        let weighted = StyleParams {
            style_blend_weights: vec![3.0, 1.0],
            ..StyleParams::default()
        };
        assert_eq!(Plan::new(weighted, 2).unwrap().blend(), [0.75, 0.25]);
        let equal = Plan::new(StyleParams::default(), 4).unwrap();
        assert_eq!(equal.blend(), [0.25; 4]);
    }
}
