//! The quality benchmark: paints the photo with each painting under each setting, scores
//! every picture as jcjohnson/neural-style's published outputs are scored
//! (assets/reference, [`stylize_engine::quality`]) and prints, per painting, the
//! reference's scores and each run's, its seconds and its cost in full-size iterations.
//! scripts/bench_quality.sh runs it.
//!
//! Usage: quality OUT_DIR SETTING...
//! A SETTING is a quality preset's name (`stylize --help` lists them), optionally with
//! JSON parameters over it: `fine`, `classic+{"iterations": 100}`. PAINTINGS (default the
//! reference's three), CONTENT, SIZE and DEVICE come from the environment; CHECKPOINT=N
//! also scores the picture every N iterations once the run is at its full size (the
//! seconds then leave out the scoring), for a curve of scores against time.
//! Prints a Markdown table, and writes each picture as OUT_DIR/SETTING-PAINTING.png.

use anyhow::Context;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use stylize_engine::quality::{score, Scores};
use stylize_engine::{self as engine, Event, Inputs, RunOptions, Vgg19};
use stylize_shared::images::{self, ImageLimits};
use stylize_shared::params::{Quality, StyleParams};

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

/// `NAME` or `NAME+JSON`: the preset, with the JSON's fields over it.
fn setting(spec: &str) -> anyhow::Result<StyleParams> {
    let (name, json) = spec.split_once('+').unwrap_or((spec, "{}"));
    let quality: Quality = name.parse().map_err(anyhow::Error::msg)?;
    Ok(StyleParams::from_json_over(
        &quality.params(),
        json.as_bytes(),
    )?)
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
        anyhow::bail!("usage: quality OUT_DIR SETTING...");
    };
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let assets = PathBuf::from(env_or("STYLIZE_ASSETS", "assets"));
    let device = engine::select_device(&env_or("DEVICE", "cpu"))?;
    let weights = env_or("STYLIZE_WEIGHTS", "var/vgg19.safetensors");
    let model = Vgg19::load(Path::new(&weights), device)?;
    let photo = read(&assets.join(env_or("CONTENT", "content/tubingen.jpg")))?;
    let size: Option<u32> = std::env::var("SIZE").ok().map(|s| s.parse()).transpose()?;
    let checkpoint: u32 = env_or("CHECKPOINT", "0").parse()?;
    let paintings = env_or(
        "PAINTINGS",
        &REFERENCE.map(|(painting, _)| painting).join(" "),
    );
    let settings = specs
        .iter()
        .map(|spec| Ok((spec.as_str(), setting(spec)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;

    println!(
        "| painting | setting | full-size iterations | seconds | style error | content error |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for painting_name in paintings.split_whitespace() {
        let painting = read(&assets.join(format!("styles/{painting_name}.jpg")))?;
        let reference = match REFERENCE.iter().find(|(name, _)| *name == painting_name) {
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
            let styles = [painting.clone()];
            let inputs = Inputs {
                content: &photo,
                styles: &styles,
                init_image: None,
            };
            let started = Instant::now();
            let mut scoring = 0.0;
            let mut fraction = 0.0;
            let full_cost = params.full_size_iterations();
            let options = RunOptions {
                preview_every: checkpoint,
            };
            let stylized = engine::stylize(&model, &inputs, &params, options, &mut |event| {
                match event {
                    Event::Iteration(progress) => fraction = progress.fraction,
                    Event::Preview { iteration, image }
                        if image.width().max(image.height()) == params.size =>
                    {
                        let scored = Instant::now();
                        let scores = score(&model, &image, &photo, &painting);
                        let seconds = started.elapsed().as_secs_f64() - scoring;
                        let cost = fraction * full_cost * (f64::from(params.size) / 512.0).powi(2);
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
            let scores = score(&model, &stylized.image, &photo, &painting);
            let file = out_dir.join(format!(
                "{}-{painting_name}.png",
                label.replace(['+', '{', '}', '"', ' ', ':', ','], "_")
            ));
            stylized
                .image
                .save(&file)
                .with_context(|| file.display().to_string())?;
            row(
                label,
                painting_name,
                Some(seconds),
                Some(params.full_size_iterations() * (f64::from(params.size) / 512.0).powi(2)),
                scores,
                reference,
            );
        }
    }
    Ok(())
}
