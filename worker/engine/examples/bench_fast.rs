//! Times the fast network's two passes (scripts/bench/fast.sh runs it beside
//! onnxruntime): the predictor on a 256×256 painting and the transformer on the photo at
//! SIZE, each on tensors already on the device, after one warm-up run.
//!
//! Usage: bench_fast CONTENT STYLE [SIZE=512] [RUNS=7] [DEVICE=cpu]
//! Prints one line per run and, last, `median predictor P s transformer T s`.

use anyhow::Context;
use std::time::Instant;
use stylize_core::images::{self, resize_longest, ImageLimits};
use stylize_engine::{self as engine, pixels, FastStylizer};

fn read(path: &str) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    Ok(images::decode(&bytes, &ImageLimits::default())?)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What `run` returns, and the seconds it took until its result reached the CPU (a CUDA
/// run is asynchronous).
fn timed(run: impl FnOnce() -> tch::Tensor) -> (tch::Tensor, f64) {
    let started = Instant::now();
    let result = run();
    let _ = result.to_device(tch::Device::Cpu);
    (result, started.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    engine::allow_tf32_matmul();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [content, style, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: bench_fast CONTENT STYLE [SIZE=512] [RUNS=7] [DEVICE=cpu]");
    };
    let size: u32 = rest.first().map_or(Ok(512), |s| s.parse())?;
    let runs: usize = rest.get(1).map_or(Ok(7), |s| s.parse())?;
    let device = engine::select_device(rest.get(2).map_or("cpu", String::as_str))?;
    let weights = std::env::var("STYLIZE_FAST_WEIGHTS")
        .context("STYLIZE_FAST_WEIGHTS is not set (source scripts/env.sh)")?;
    let model = FastStylizer::load(weights.as_ref(), device)?;

    let photo = resize_longest(&read(content)?, size);
    let painting = image::imageops::resize(
        &read(style)?,
        engine::fast::STYLE_SIDE,
        engine::fast::STYLE_SIDE,
        image::imageops::FilterType::Triangle,
    );
    let photo_tensor = pixels::to_unit_tensor(&photo, device);
    let painting_tensor = pixels::to_unit_tensor(&painting, device);
    println!(
        "device {device:?}, photo {}x{}, torch threads {}",
        photo.width(),
        photo.height(),
        tch::get_num_threads()
    );

    let (mut predictor, mut transformer) = (Vec::new(), Vec::new());
    for run in 0..=runs {
        let (vector, p) = timed(|| model.predict(&painting_tensor));
        let (_, t) = timed(|| model.transform(&photo_tensor, &vector));
        if run == 0 {
            println!("warm-up predictor {p:.4} s transformer {t:.4} s");
            continue;
        }
        println!("run {run} predictor {p:.4} s transformer {t:.4} s");
        predictor.push(p);
        transformer.push(t);
    }
    println!(
        "median predictor {:.4} s transformer {:.4} s",
        median(predictor),
        median(transformer)
    );
    Ok(())
}
