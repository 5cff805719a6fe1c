//! The style engine: Gatys et al.'s optimisation of an image's pixels against VGG19
//! features, in libtorch. [`stylize`] runs one job; callers watch and steer it through
//! [`Event`]s. [`fast`] paints in one pass with a feed-forward network instead.

mod color;
pub mod fast;
pub mod loss;
pub mod optim;
pub mod pixels;
pub mod quality;
mod vgg;
mod weights;

pub use fast::FastStylizer;
pub use loss::LossTerms;
pub use vgg::Vgg19;

use image::RgbImage;
use optim::{Adam, Lbfgs};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use stylize_shared::images::resize_longest;
use stylize_shared::params::{Init, Optimizer, ParamError, StyleParams, LBFGS_HISTORY};
use tch::{Device, Tensor};

/// The seed's Adam schedule: ×0.8 every 50 steps.
const ADAM_DECAY: f64 = 0.8;
const ADAM_DECAY_EVERY: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid parameter {0}")]
    Params(#[from] ParamError),
    #[error("init is \"image\" or \"fast\" but no initial image was given")]
    MissingInitImage,
    #[error("cannot load weights from {path}: {message}")]
    Weights { path: String, message: String },
    #[error("unknown device {0:?}; use auto, cpu, cuda or cuda:N")]
    UnknownDevice(String),
    #[error("device {0} is not available")]
    DeviceUnavailable(String),
    #[error("the optimisation diverged at iteration {iteration} (loss is not finite)")]
    Diverged { iteration: u32 },
    #[error("canceled at iteration {iteration}")]
    Canceled { iteration: u32 },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Picks the device (`auto` prefers CUDA, else CPU) and tunes libtorch for it.
pub fn select_device(name: &str) -> Result<Device, EngineError> {
    let device = parse_device(name)?;
    if device.is_cuda() {
        tune_cuda();
    }
    Ok(device)
}

/// A job's sizes repeat, so cuDNN's autotuner pays for itself after the first iteration.
fn tune_cuda() {
    tch::Cuda::cudnn_set_benchmark(true);
}

/// Lets CUDA matrix products (the Gram matrices) use TF32 tensor cores, as libtorch
/// already lets convolutions, unless the operator set `TORCH_ALLOW_TF32_CUBLAS_OVERRIDE`
/// (libtorch reads it once, at its first product). Call it first thing in `main`:
/// changing the environment is sound only while the process has one thread.
pub fn allow_tf32_matmul() {
    const TF32: &str = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE";
    if std::env::var_os(TF32).is_none() {
        std::env::set_var(TF32, "1");
    }
}

fn parse_device(name: &str) -> Result<Device, EngineError> {
    let cuda_count = || {
        if tch::Cuda::is_available() {
            tch::Cuda::device_count()
        } else {
            0
        }
    };
    match name {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => match cuda_count() {
            0 => Err(EngineError::DeviceUnavailable(name.into())),
            _ => Ok(Device::Cuda(0)),
        },
        other => {
            let index: usize = other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| EngineError::UnknownDevice(other.into()))?;
            if (index as i64) < cuda_count() {
                Ok(Device::Cuda(index))
            } else {
                Err(EngineError::DeviceUnavailable(other.into()))
            }
        }
    }
}

/// The images of one job, already decoded.
pub struct Inputs<'a> {
    pub content: &'a RgbImage,
    pub styles: &'a [RgbImage],
    /// The start image when `params.init` is [`Init::Image`] (the caller's picture) or
    /// [`Init::Fast`] (the fast network's, which the caller paints: see
    /// [`fast::fast_stylize`]); resized to each job's size.
    pub init_image: Option<&'a RgbImage>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// 1-based, counted across all coarse-to-fine levels.
    pub iteration: u32,
    pub total: u32,
    /// The coarse-to-fine level this iteration ran at, 1-based, of `scales`.
    pub scale: u32,
    pub scales: u32,
    /// The share of the run's cost done, each iteration weighed by its level's pixels
    /// (see [`StyleParams::full_size_iterations`]): what an ETA should extrapolate.
    pub fraction: f64,
    pub loss: LossTerms,
    pub elapsed: Duration,
}

pub enum Event {
    Iteration(Progress),
    /// The picture as it stands after `iteration` (the average of the iterates when
    /// averaging), at the current level's size.
    Preview {
        iteration: u32,
        image: RgbImage,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Emit a preview every this many iterations; 0 for none.
    pub preview_every: u32,
}

/// What a finished run hands back.
pub struct Stylized {
    pub image: RgbImage,
    /// The loss at the last evaluation.
    pub loss: LossTerms,
    pub elapsed: Duration,
}

/// Runs one stylisation. `on_event` sees every iteration and preview, and stops the run
/// by returning `ControlFlow::Break` (checked between iterations).
pub fn stylize(
    model: &Vgg19,
    inputs: &Inputs,
    params: &StyleParams,
    options: RunOptions,
    on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
) -> Result<Stylized, EngineError> {
    params.validate(inputs.styles.len())?;
    let style_sizes: Vec<(u32, u32)> = inputs.styles.iter().map(RgbImage::dimensions).collect();
    params.check_image_sizes(inputs.content.dimensions(), &style_sizes)?;
    if matches!(params.init, Init::Image | Init::Fast) && inputs.init_image.is_none() {
        return Err(EngineError::MissingInitImage);
    }
    let device = model.device();
    let started = Instant::now();
    let blend = params.normalized_blend(inputs.styles.len());
    let mut iteration = 0;
    let mut image: Option<Tensor> = None;
    let mut coarser_content: Option<Tensor> = None;
    let mut content = RgbImage::default();
    let mut loss = LossTerms::default();
    let levels = params.levels();
    let total_cost = params.full_size_iterations();
    let mut cost_done = 0.0;

    for (level, &(size, level_iterations)) in levels.iter().enumerate() {
        content = resize_longest(inputs.content, size);
        let content_tensor = pixels::to_tensor(&content, device);
        let style_side = params.style_side(size);
        let styles: Vec<(Tensor, f64)> = inputs
            .styles
            .iter()
            .zip(&blend)
            .map(|(style, weight)| {
                let style = pixels::to_tensor(&resize_longest(style, style_side), device);
                (style, *weight)
            })
            .collect();
        let objective =
            loss::Objective::new(model, &content_tensor, &styles, &params.at_level(size));
        drop(styles);

        let (height, width) = (content.height() as i64, content.width() as i64);
        let upsample = |t: &Tensor| t.upsample_bilinear2d([height, width], false, None, None);
        let mut x = match (image.take(), coarser_content.take()) {
            (Some(coarser), Some(coarser_photo)) if params.photo_detail => {
                upsample(&coarser) + (&content_tensor - upsample(&coarser_photo))
            }
            (Some(coarser), _) => upsample(&coarser),
            (None, _) => initial_image(params, inputs, &content, &content_tensor)?,
        };
        coarser_content = Some(content_tensor.shallow_clone());
        let mut optimizer: Box<dyn optim::Optimizer> = match params.optimizer {
            // A level of n iterations keeps at most n − 1 pairs: no larger buffers.
            Optimizer::Lbfgs => Box::new(Lbfgs::new(
                params.learning_rate(),
                LBFGS_HISTORY.min(level_iterations as usize).max(1),
            )),
            Optimizer::Adam => Box::new(Adam::new(
                params.learning_rate(),
                ADAM_DECAY,
                ADAM_DECAY_EVERY,
            )),
        };

        let mut average = IterateAverage::new(params.average);
        let iteration_cost = params.level_cost(size);
        for _ in 0..level_iterations {
            iteration += 1;
            cost_done += iteration_cost;
            let leaf = x.detach().set_requires_grad(true);
            let (total, terms) = objective.evaluate(model, &leaf);
            total.backward();
            loss = loss::Objective::terms(&terms);
            if !loss.total.is_finite() {
                return Err(EngineError::Diverged { iteration });
            }
            if optimizer.step(&mut x, &leaf.grad(), loss.total) == optim::Step::Backtracked {
                // The point just evaluated went uphill: it leaves the average.
                average.retract();
            }
            average.add(&x);

            let progress = Progress {
                iteration,
                total: params.iterations,
                scale: level as u32 + 1,
                scales: levels.len() as u32,
                fraction: (cost_done / total_cost).min(1.0),
                loss,
                elapsed: started.elapsed(),
            };
            let mut flow = on_event(Event::Iteration(progress));
            let preview_due = options.preview_every > 0
                && iteration % options.preview_every == 0
                && iteration < params.iterations;
            if flow.is_continue() && preview_due {
                let image = pixels::to_image(&average.picture(&x));
                flow = on_event(Event::Preview { iteration, image });
            }
            if flow.is_break() {
                return Err(EngineError::Canceled { iteration });
            }
        }
        image = Some(average.picture(&x));
    }

    let mut result = pixels::to_image(&image.expect("at least one level"));
    if params.preserve_colors {
        result = color::preserve_colors(&result, &content);
    }
    Ok(Stylized {
        image: result,
        loss,
        elapsed: started.elapsed(),
    })
}

/// An exponential moving average of one level's iterates, bias-corrected as Adam's
/// moments are, so that its first value is the first iterate. A decay of 0 keeps none:
/// the picture is the last iterate.
struct IterateAverage {
    decay: f64,
    sum: Option<Tensor>,
    /// The weight the sum's terms add up to, 1 − decayᵗ.
    weight: f64,
    /// The sum and weight before the last iterate was added, for [`Self::retract`].
    before_last: Option<(Option<Tensor>, f64)>,
}

impl IterateAverage {
    fn new(decay: f64) -> Self {
        IterateAverage {
            decay,
            sum: None,
            weight: 0.0,
            before_last: None,
        }
    }

    fn add(&mut self, x: &Tensor) {
        if self.decay == 0.0 {
            return;
        }
        let _guard = tch::no_grad_guard();
        let before = self.sum.as_ref().map(Tensor::copy);
        self.before_last = Some((before, self.weight));
        let part = x * (1.0 - self.decay);
        match &mut self.sum {
            Some(sum) => {
                *sum *= self.decay;
                *sum += part;
            }
            None => self.sum = Some(part),
        }
        self.weight = self.weight * self.decay + (1.0 - self.decay);
    }

    /// Takes the last iterate added back out.
    fn retract(&mut self) {
        if let Some((sum, weight)) = self.before_last.take() {
            self.sum = sum;
            self.weight = weight;
        }
    }

    /// The picture to show for the iterate `x`.
    fn picture(&self, x: &Tensor) -> Tensor {
        match &self.sum {
            Some(sum) => sum / self.weight,
            None => x.shallow_clone(),
        }
    }
}

/// Standard normal noise shaped like `like`, from a generator of the job's own seeded by
/// `seed`: libtorch's generator is global to the process, which a worker's concurrent
/// jobs share, so a seed alone would not reproduce a run.
fn noise(seed: u64, like: &Tensor) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut generator = rand::rngs::StdRng::seed_from_u64(seed);
    let values: Vec<f32> = (0..like.numel())
        .map(|_| {
            // Box–Muller: two uniforms in (0, 1] make one normal.
            let (u, v): (f64, f64) = (1.0 - generator.gen::<f64>(), generator.gen());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect();
    Tensor::from_slice(&values)
        .view(like.size().as_slice())
        .to_device(like.device())
}

fn initial_image(
    params: &StyleParams,
    inputs: &Inputs,
    content: &RgbImage,
    content_tensor: &Tensor,
) -> Result<Tensor, EngineError> {
    Ok(match params.init {
        Init::Content => content_tensor.copy(),
        Init::Noise => noise(params.seed, content_tensor),
        Init::Image | Init::Fast => {
            let given = inputs.init_image.ok_or(EngineError::MissingInitImage)?;
            let (width, height) = content.dimensions();
            let resized = image::imageops::resize(
                given,
                width,
                height,
                image::imageops::FilterType::Triangle,
            );
            pixels::to_tensor(&resized, content_tensor.device())
        }
    })
}
