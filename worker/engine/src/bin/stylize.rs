//! `stylize`: repaint a photo in the style of one or more paintings, from the shell.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use stylize_core::images::{self, ImageLimits, OutputFormat};
use stylize_core::params::{Init, LayerWeight, Optimizer, Plan, Pooling, Quality, StyleParams};
use stylize_engine::fast::{self, fast_stylize};
use stylize_engine::{self as engine, Event, FastStylizer, Inputs, RunOptions, Vgg19};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Neural style transfer (Gatys et al.) on VGG19, or in one pass with a feed-forward network (--fast)"
)]
struct Args {
    /// The photo to repaint (JPEG, PNG or WebP).
    #[arg(short, long)]
    content: PathBuf,
    /// A style image; repeat to blend several.
    #[arg(short, long = "style", required = true)]
    styles: Vec<PathBuf>,
    /// Relative weight of each style image, comma-separated (default: equal).
    #[arg(long, value_delimiter = ',')]
    style_blend: Vec<f64>,
    /// Where to write the result; .png or .jpg.
    #[arg(short, long)]
    output: PathBuf,
    /// Longest side of the output in pixels.
    #[arg(long)]
    size: Option<u32>,
    #[arg(short = 'n', long)]
    iterations: Option<u32>,
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerArg>,
    #[arg(long)]
    learning_rate: Option<f64>,
    #[arg(long)]
    content_weight: Option<f64>,
    #[arg(long)]
    style_weight: Option<f64>,
    #[arg(long)]
    tv_weight: Option<f64>,
    /// Content layers as LAYER[:WEIGHT], comma-separated (default conv4_2).
    #[arg(long, value_delimiter = ',')]
    content_layers: Vec<String>,
    /// Weigh each layer's error relative to its target (true: the qualities draft and
    /// fine) or absolutely (false: classic, the seed's).
    #[arg(long)]
    relative_loss: Option<bool>,
    /// Style layers as LAYER[:WEIGHT], comma-separated (default conv1_1…conv5_1).
    #[arg(long, value_delimiter = ',')]
    style_layers: Vec<String>,
    /// Resize style images to this multiple of the output size.
    #[arg(long)]
    style_scale: Option<f64>,
    /// Keep the photo's colours; only luminance takes the style.
    #[arg(long)]
    preserve_colors: bool,
    /// `content`, `noise`, `fast` (the fast network's picture, see --fast-weights), or
    /// the path of an image to start from.
    #[arg(long)]
    init: Option<String>,
    #[arg(long, value_enum)]
    pooling: Option<PoolingArg>,
    /// Named settings to start from: quick (tens of seconds on a CPU), draft, fine (the
    /// default) or classic (the seed's); the options below go over them.
    #[arg(long)]
    quality: Option<Quality>,
    /// Coarse-to-fine levels (1 = full size only); replaces the quality's --start-size.
    #[arg(long)]
    scales: Option<u32>,
    /// The coarsest level's side: levels grow from it to --size by --scale-factor.
    #[arg(long, conflicts_with = "scales")]
    start_size: Option<u32>,
    /// The ratio between one level's side and the next (default √2).
    #[arg(long)]
    scale_factor: Option<f64>,
    /// Average the iterates with this decay (0 = off, 0.9 ≈ the last ten).
    #[arg(long)]
    average: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Converted VGG19 weights (see scripts/setup.sh).
    #[arg(long, env = "STYLIZE_WEIGHTS")]
    weights: Option<PathBuf>,
    /// Paint in one pass with the fast network (Ghiasi et al. 2017) instead of
    /// optimising: no iterations; the optimiser's settings do not apply.
    #[arg(long)]
    fast: bool,
    /// With --fast: 0 keeps the photo's own style, 1 (default) takes the paintings'.
    #[arg(long, requires = "fast")]
    strength: Option<f64>,
    /// The fast network's converted weights (see scripts/setup.sh).
    #[arg(long, env = "STYLIZE_FAST_WEIGHTS")]
    fast_weights: Option<PathBuf>,
    /// Save a preview PNG here every --preview-every iterations.
    #[arg(long)]
    preview_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 50)]
    preview_every: u32,
    /// Print a loss line every N iterations (0: only the summary).
    #[arg(long, default_value_t = 0)]
    log_every: u32,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerArg {
    Lbfgs,
    Adam,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PoolingArg {
    Max,
    Avg,
}

fn parse_layers(specs: &[String]) -> anyhow::Result<Vec<LayerWeight>> {
    specs
        .iter()
        .map(|spec| {
            let (layer, weight) = match spec.split_once(':') {
                Some((layer, weight)) => (
                    layer,
                    weight
                        .parse()
                        .with_context(|| format!("layer weight in {spec:?} is not a number"))?,
                ),
                None => (spec.as_str(), 1.0),
            };
            Ok(LayerWeight::new(layer, weight))
        })
        .collect()
}

fn read_image(path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    images::decode(&bytes, &ImageLimits::default()).with_context(|| path.display().to_string())
}

impl Args {
    /// Defaults overlaid with whatever the command line set, checked into a plan.
    fn plan(&self) -> anyhow::Result<Plan> {
        let mut params = self
            .quality
            .map_or_else(StyleParams::default, Quality::params);
        if self.scales.is_some() {
            params.start_size = None;
        }
        if self.start_size.is_some() {
            params.start_size = self.start_size;
        }
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field { params.$field = v; })* };
        }
        set!(
            size,
            iterations,
            content_weight,
            style_weight,
            tv_weight,
            style_scale,
            scales,
            scale_factor,
            average,
            relative_loss,
            seed
        );
        if self.learning_rate.is_some() {
            params.learning_rate = self.learning_rate;
        }
        if let Some(optimizer) = self.optimizer {
            params.optimizer = match optimizer {
                OptimizerArg::Lbfgs => Optimizer::Lbfgs,
                OptimizerArg::Adam => Optimizer::Adam,
            };
        }
        if let Some(pooling) = self.pooling {
            params.pooling = match pooling {
                PoolingArg::Max => Pooling::Max,
                PoolingArg::Avg => Pooling::Avg,
            };
        }
        if !self.content_layers.is_empty() {
            params.content_layers = parse_layers(&self.content_layers)?;
        }
        if !self.style_layers.is_empty() {
            params.style_layers = parse_layers(&self.style_layers)?;
        }
        params.style_blend_weights = self.style_blend.clone();
        params.preserve_colors |= self.preserve_colors;
        params.init = match self.init.as_deref() {
            None => params.init,
            Some("content") => Init::Content,
            Some("noise") => Init::Noise,
            Some("fast") => Init::Fast,
            Some(_) => Init::Image,
        };
        Ok(Plan::new(params, self.styles.len())?)
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let format = OutputFormat::from_path(&args.output).with_context(|| {
        format!(
            "{}: the output must end in .png or .jpg",
            args.output.display()
        )
    })?;
    let content = read_image(&args.content)?;
    let styles = args
        .styles
        .iter()
        .map(|path| read_image(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(dir) = &args.preview_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let device = engine::select_device(&args.device)?;
    eprintln!("device: {device:?}");
    if args.fast {
        return run_fast(&args, &plan, format, &content, &styles, device);
    }
    let init_image = match plan.init {
        Init::Image => Some(read_image(Path::new(
            args.init.as_deref().unwrap_or_default(),
        ))?),
        Init::Fast => {
            let pass = fast_pass(&args, &plan, &content, &styles, device)?;
            eprintln!("start image: {}", pass.describe());
            Some(pass.image)
        }
        Init::Content | Init::Noise => None,
    };
    let weights = args.weights.as_ref().context(
        "no VGG19 weights: pass --weights or set STYLIZE_WEIGHTS (scripts/setup.sh makes them)",
    )?;
    let model = Vgg19::load(weights, device)?;

    let bar = ProgressBar::new(u64::from(plan.iterations));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {per_sec} ETA {eta} ")
            .expect("valid template"),
    );
    let inputs = Inputs {
        content: &content,
        styles: &styles,
        init_image: init_image.as_ref(),
    };
    let options = RunOptions {
        preview_every: if args.preview_dir.is_some() {
            args.preview_every
        } else {
            0
        },
    };
    let mut on_event = |event: Event| {
        match event {
            Event::Iteration(progress) => {
                bar.set_position(u64::from(progress.iteration));
                bar.set_message(format!(
                    "scale {}/{} loss {:.4e}",
                    progress.scale, progress.scales, progress.loss.total
                ));
                if args.log_every > 0 && progress.iteration % args.log_every == 0 {
                    bar.suspend(|| {
                        eprintln!(
                            "iteration {} elapsed {:.2}s loss {:.6e} content {:.4e} style {:.4e} tv {:.4e} scale {}/{}",
                            progress.iteration,
                            progress.elapsed.as_secs_f64(),
                            progress.loss.total,
                            progress.loss.content,
                            progress.loss.style,
                            progress.loss.tv,
                            progress.scale,
                            progress.scales
                        )
                    });
                }
            }
            Event::Preview { iteration, image } => {
                let dir = args.preview_dir.as_ref().expect("previews only when asked");
                let path = dir.join(format!("{iteration:05}.png"));
                if let Err(error) = image.save(&path) {
                    bar.suspend(|| eprintln!("warning: cannot save {}: {error}", path.display()));
                }
            }
        }
        ControlFlow::Continue(())
    };
    let outcome = engine::stylize(&model, &inputs, &plan, options, &mut on_event)?;
    bar.finish_and_clear();

    let bytes = images::encode(&outcome.image, format)?;
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let seconds = outcome.elapsed.as_secs_f64();
    eprintln!(
        "done: {} iterations in {seconds:.2}s ({:.4} s/iteration), loss {:.6e} (content {:.4e} style {:.4e} tv {:.4e}), wrote {} ({}x{})",
        plan.iterations,
        seconds / f64::from(plan.iterations),
        outcome.loss.total,
        outcome.loss.content,
        outcome.loss.style,
        outcome.loss.tv,
        args.output.display(),
        outcome.image.width(),
        outcome.image.height(),
    );
    Ok(())
}

/// The fast network's picture, and how long each phase took.
struct FastPass {
    image: image::RgbImage,
    load: Duration,
    prediction: Duration,
    transform: Duration,
}

impl FastPass {
    fn describe(&self) -> String {
        format!(
            "fast pass, weights loaded in {:.3}s, style prediction {:.3}s, transform {:.3}s",
            self.load.as_secs_f64(),
            self.prediction.as_secs_f64(),
            self.transform.as_secs_f64(),
        )
    }
}

/// One pass of the fast network, written to the output.
fn run_fast(
    args: &Args,
    plan: &Plan,
    format: OutputFormat,
    content: &image::RgbImage,
    styles: &[image::RgbImage],
    device: tch::Device,
) -> anyhow::Result<()> {
    let pass = fast_pass(args, plan, content, styles, device)?;
    let bytes = images::encode(&pass.image, format)?;
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "done: {}, wrote {} ({}x{})",
        pass.describe(),
        args.output.display(),
        pass.image.width(),
        pass.image.height(),
    );
    Ok(())
}

/// One pass of the fast network, each phase timed.
fn fast_pass(
    args: &Args,
    plan: &Plan,
    content: &image::RgbImage,
    styles: &[image::RgbImage],
    device: tch::Device,
) -> anyhow::Result<FastPass> {
    let weights = args.fast_weights.as_ref().context(
        "no fast-network weights: pass --fast-weights or set STYLIZE_FAST_WEIGHTS (scripts/setup.sh makes them)",
    )?;
    let started = Instant::now();
    let model = FastStylizer::load(weights, device)?;
    let load = started.elapsed();
    let started = Instant::now();
    let vectors: Vec<_> = styles
        .iter()
        .map(|style| model.style_vector(style))
        .collect();
    fast::synchronize(device);
    let prediction = started.elapsed();
    let outcome = fast_stylize(
        &model,
        content,
        &vectors,
        plan,
        args.strength.unwrap_or(1.0),
    )?;
    Ok(FastPass {
        image: outcome.image,
        load,
        prediction: prediction + outcome.photo_style,
        transform: outcome.transform,
    })
}

fn main() -> ExitCode {
    engine::allow_tf32_matmul();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
