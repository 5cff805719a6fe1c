//! The quality benchmark: paints the photo with each painting under each setting, scores
//! every picture as jcjohnson/neural-style's published outputs are scored
//! (assets/reference, [`stylize_engine::quality`]) and prints, per painting, the
//! reference's scores and each run's, its seconds and its cost in full-size iterations.
//! scripts/quality/score.sh runs it.
//!
//! Usage: quality OUT_DIR [SETTING...] (default: every quality)
//! A SETTING is a quality preset's name (`stylize --help` lists them), optionally with
//! JSON parameters over it, and may be named: `fine`, `classic+{"iterations": 100}`,
//! `short=draft+{"size": 256}`. PAINTINGS (default the
//! reference's three), CONTENT, SIZE and DEVICE come from the environment; CHECKPOINT=N
//! also scores the picture every N iterations once the run is at its full size (the
//! seconds then leave out the scoring), for a curve of scores against time. A setting
//! with `"init": "fast"` starts from the fast network's picture (STYLIZE_FAST_WEIGHTS),
//! whose pass its seconds include. RESULTS=FILE also appends each run as a tab-separated
//! line: photo, painting, setting, full-size iterations, seconds, style error, content
//! error.
//! Prints a Markdown table, and writes each picture as OUT_DIR/SETTING-PAINTING.png.

use anyhow::Context;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use stylize_core::images::{self, ImageLimits};
use stylize_core::params::{Init, Plan, Quality, StyleParams};
use stylize_engine::fast::fast_stylize;
use stylize_engine::quality::{score, Scores};
use stylize_engine::{self as engine, Event, FastStylizer, Inputs, RunOptions, Vgg19};

/// The reference's pictures and the paintings they were made with.
const REFERENCE: [(&str, &str); 3] = [
    ("starry-night", "tubingen_starry"),
    ("the-scream", "tubingen_scream"),
    ("shipwreck-of-the-minotaur", "tubingen_shipwreck"),
];

fn read(path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(images::decode(&bytes, &ImageLimits::default())?)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `NAME` or `NAME+JSON`: the preset, with the JSON's fields over it; a `LABEL=` before
/// either names the setting in the rows instead.
fn setting(spec: &str) -> anyhow::Result<StyleParams> {
    let spec = spec.split_once('=').map_or(spec, |(_, spec)| spec);
    let (name, json) = spec.split_once('+').unwrap_or((spec, "{}"));
    let quality: Quality = name.parse().map_err(anyhow::Error::msg)?;
    Ok(StyleParams::from_json_over(
        &quality.params(),
        json.as_bytes(),
    )?)
}

/// Each level's seconds per iteration, and the GFLOP per second that makes.
struct LevelClock {
    /// Per level: side, pixels, GFLOP of one iteration (a forward pass to the level's
    /// deepest layer and the backward pass to the image, about twice the forward's).
    levels: Vec<(u32, f64)>,
    /// Per level: iterations timed and their seconds (the first of each level is left
    /// out: it carries the level's set-up).
    timed: Vec<(u32, f64)>,
    last: Option<(u32, f64)>,
}

impl LevelClock {
    fn new(plan: &Plan, content: (u32, u32)) -> Self {
        let levels: Vec<(u32, f64)> = plan
            .levels()
            .iter()
            .map(|level| {
                let (width, height) = images::fit_longest(content.0, content.1, level.side);
                let flops = stylize_core::vgg::pass_flops_per_pixel(level.deepest_layer());
                (level.side, 2.0 * flops * f64::from(width * height) / 1e9)
            })
            .collect();
        let timed = vec![(0, 0.0); levels.len()];
        LevelClock {
            levels,
            timed,
            last: None,
        }
    }

    /// Iteration of level `scale` (1-based) ended `elapsed` seconds into the run.
    fn tick(&mut self, scale: u32, elapsed: f64) {
        if let Some((last_scale, last_elapsed)) = self.last {
            if last_scale == scale {
                let entry = &mut self.timed[scale as usize - 1];
                entry.0 += 1;
                entry.1 += elapsed - last_elapsed;
            }
        }
        self.last = Some((scale, elapsed));
    }

    /// Prints one line per level to stderr.
    fn report(&self, label: &str) {
        for (&(side, gflop), &(count, seconds)) in self.levels.iter().zip(&self.timed) {
            if count == 0 {
                continue;
            }
            let per_iteration = seconds / f64::from(count);
            eprintln!(
                "{label}: {side} px, {gflop:.1} GFLOP an iteration, {per_iteration:.3} s an iteration, {:.0} GFLOP/s",
                gflop / per_iteration
            );
        }
    }
}

fn row(
    label: &str,
    painting: &str,
    seconds: Option<f64>,
    cost: Option<f64>,
    scores: Scores,
    reference: Option<Scores>,
) {
    let ratio = |ours: f64, theirs: Option<f64>| {
        theirs.map_or(String::new(), |theirs| {
            format!(" ({:+.0} %)", 100.0 * (ours / theirs - 1.0))
        })
    };
    let number = |value: Option<f64>, digits: usize| {
        value.map_or("—".to_owned(), |v| format!("{v:.digits$}"))
    };
    println!(
        "| {painting} | {label} | {} | {} | {:.3}{} | {:.3}{} |",
        number(cost, 0),
        number(seconds, 0),
        scores.style,
        ratio(scores.style, reference.map(|r| r.style)),
        scores.content,
        ratio(scores.content, reference.map(|r| r.content)),
    );
}

fn main() -> anyhow::Result<()> {
    engine::allow_tf32_matmul();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out_dir, specs @ ..] = args.as_slice() else {
        anyhow::bail!("usage: quality OUT_DIR [SETTING...]");
    };
    let every_quality: Vec<String> = Quality::ALL.iter().map(|q| q.name().to_owned()).collect();
    let specs = if specs.is_empty() {
        every_quality.as_slice()
    } else {
        specs
    };
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let assets = PathBuf::from(env_or("STYLIZE_ASSETS", "assets"));
    let device = engine::select_device(&env_or("DEVICE", "cpu"))?;
    let weights = env_or("STYLIZE_WEIGHTS", "var/vgg19.safetensors");
    let model = Vgg19::load(Path::new(&weights), device)?;
    let photo_path = env_or("CONTENT", "content/tubingen.jpg");
    let photo = read(&assets.join(&photo_path))?;
    let photo_name = Path::new(&photo_path)
        .file_stem()
        .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
    let mut results = match std::env::var_os("RESULTS") {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", Path::new(&path).display()))?,
        ),
        None => None,
    };
    let size: Option<u32> = std::env::var("SIZE").ok().map(|s| s.parse()).transpose()?;
    let checkpoint: u32 = env_or("CHECKPOINT", "0").parse()?;
    let paintings = env_or(
        "PAINTINGS",
        &REFERENCE.map(|(painting, _)| painting).join(" "),
    );
    let settings = specs
        .iter()
        .map(|spec| {
            let label = spec
                .split_once('=')
                .map_or(spec.as_str(), |(label, _)| label);
            Ok((label, setting(spec)?))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fast_model = settings
        .iter()
        .any(|(_, params)| params.init == Init::Fast)
        .then(|| {
            let weights = env_or("STYLIZE_FAST_WEIGHTS", "var/fast.safetensors");
            FastStylizer::load(Path::new(&weights), device)
        })
        .transpose()?;

    println!(
        "| painting | setting | full-size iterations | seconds | style error | content error |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for painting_name in paintings.split_whitespace() {
        let painting = read(&assets.join(format!("styles/{painting_name}.jpg")))?;
        // The reference's pictures are of tubingen.
        let published = REFERENCE
            .iter()
            .find(|(name, _)| *name == painting_name && photo_name == "tubingen");
        let reference = match published {
            Some((_, picture)) => {
                let picture = read(&assets.join(format!("reference/{picture}.png")))?;
                let scores = score(&model, &picture, &photo, &painting);
                row(
                    "neural-style (reference)",
                    painting_name,
                    None,
                    Some(1000.0),
                    scores,
                    None,
                );
                Some(scores)
            }
            None => None,
        };
        for (label, params) in &settings {
            let mut params = params.clone();
            if let Some(size) = size {
                params.size = size;
            }
            let plan = Plan::new(params, 1)?;
            let styles = [painting.clone()];
            let started = Instant::now();
            let fast_picture = match (&fast_model, plan.init) {
                (Some(fast), Init::Fast) => {
                    let vector = fast.style_vector(&painting);
                    Some(fast_stylize(fast, &photo, &[vector], &plan, 1.0)?.image)
                }
                _ => None,
            };
            let inputs = Inputs {
                content: &photo,
                styles: &styles,
                init_image: fast_picture.as_ref(),
            };
            let mut scoring = 0.0;
            let mut fraction = 0.0;
            let mut clock = LevelClock::new(&plan, photo.dimensions());
            let full_cost = plan.full_size_iterations();
            let options = RunOptions {
                preview_every: checkpoint,
            };
            let stylized = engine::stylize(&model, &inputs, &plan, options, &mut |event| {
                match event {
                    Event::Iteration(progress) => {
                        fraction = progress.fraction;
                        clock.tick(progress.scale, progress.elapsed.as_secs_f64() - scoring);
                    }
                    Event::Preview { iteration, image }
                        if image.width().max(image.height()) == plan.size =>
                    {
                        let scored = Instant::now();
                        let scores = score(&model, &image, &photo, &painting);
                        let seconds = started.elapsed().as_secs_f64() - scoring;
                        let cost = fraction * full_cost * (f64::from(plan.size) / 512.0).powi(2);
                        row(
                            &format!("{label} @{iteration}"),
                            painting_name,
                            Some(seconds),
                            Some(cost),
                            scores,
                            reference,
                        );
                        scoring += scored.elapsed().as_secs_f64();
                    }
                    Event::Preview { .. } => {}
                }
                ControlFlow::Continue(())
            })?;
            let seconds = started.elapsed().as_secs_f64() - scoring;
            clock.report(label);
            let scores = score(&model, &stylized.image, &photo, &painting);
            let file = out_dir.join(format!(
                "{}-{painting_name}.png",
                label.replace(['+', '{', '}', '"', ' ', ':', ','], "_")
            ));
            stylized
                .image
                .save(&file)
                .with_context(|| file.display().to_string())?;
            let cost = full_cost * (f64::from(plan.size) / 512.0).powi(2);
            row(
                label,
                painting_name,
                Some(seconds),
                Some(cost),
                scores,
                reference,
            );
            if let Some(results) = &mut results {
                use std::io::Write;
                writeln!(
                    results,
                    "{photo_name}\t{painting_name}\t{label}\t{cost:.1}\t{seconds:.1}\t{:.4}\t{:.4}",
                    scores.style, scores.content
                )?;
            }
        }
    }
    Ok(())
}
