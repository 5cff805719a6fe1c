//! Jobs per minute with JOBS optimisations sharing one device and one network in one
//! process, as a worker with `worker.concurrency = JOBS` runs them (scripts/gpu_check.sh
//! runs it for 1, 2, 4 and 8). Every job starts at once; the figure is JOBS over the
//! time until the last one ends.
//!
//! Usage: bench_concurrency CONTENT STYLE SIZE ITERATIONS JOBS [DEVICE=cuda]
//! Prints, last, `JOBS jobs: W s, J jobs/min, slowest job S s`.

use anyhow::Context;
use std::ops::ControlFlow;
use std::time::Instant;
use stylize_core::images::{self, ImageLimits};
use stylize_core::params::{Plan, StyleParams};
use stylize_engine::{self as engine, Inputs, RunOptions, Vgg19};

fn read(path: &str) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    Ok(images::decode(&bytes, &ImageLimits::default())?)
}

fn main() -> anyhow::Result<()> {
    engine::allow_tf32_matmul();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [content, style, size, iterations, jobs, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: bench_concurrency CONTENT STYLE SIZE ITERATIONS JOBS [DEVICE=cuda]");
    };
    let jobs: usize = jobs.parse()?;
    let params = StyleParams {
        size: size.parse()?,
        iterations: iterations.parse()?,
        ..StyleParams::default()
    };
    let plan = Plan::new(params, 1)?;
    let device = engine::select_device(rest.first().map_or("cuda", String::as_str))?;
    let weights = std::env::var("STYLIZE_WEIGHTS").context("STYLIZE_WEIGHTS is not set")?;
    let model = Vgg19::load(weights.as_ref(), device)?;
    let (content, styles) = (read(content)?, vec![read(style)?]);
    let inputs = Inputs {
        content: &content,
        styles: &styles,
        init_image: None,
    };

    let started = Instant::now();
    let durations = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    engine::stylize(&model, &inputs, &plan, RunOptions::default(), &mut |_| {
                        ControlFlow::Continue(())
                    })
                    .map(|outcome| outcome.elapsed.as_secs_f64())
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a job panicked"))
            .collect::<Result<Vec<f64>, _>>()
    })?;
    let wall = started.elapsed().as_secs_f64();
    let slowest = durations.iter().copied().fold(0.0, f64::max);
    println!(
        "{jobs} jobs: {wall:.2} s, {:.1} jobs/min, slowest job {slowest:.2} s",
        jobs as f64 * 60.0 / wall
    );
    Ok(())
}
