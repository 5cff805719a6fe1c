//! Gatys et al.'s optimisation, one job's run: for each coarse-to-fine level of its plan,
//! the objective's targets, the start (the coarser level's picture, or the photo, noise or
//! a given picture), then the optimiser's iterations, each reported as an [`Event`].

use crate::average::IterateAverage;
use crate::loss::{self, LossTerms};
use crate::optim::{self, Adam, Lbfgs};
use crate::{color, pixels, EngineError, Vgg19};
use image::RgbImage;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use stylize_core::images::resize_longest;
use stylize_core::params::{Init, Optimizer, Plan, LBFGS_HISTORY};
use tch::Tensor;

/// The seed's Adam schedule: ×0.8 every 50 steps.
const ADAM_DECAY: f64 = 0.8;
const ADAM_DECAY_EVERY: u32 = 50;

/// The images of one job, already decoded.
pub struct Inputs<'a> {
    pub content: &'a RgbImage,
    pub styles: &'a [RgbImage],
    /// The start image when the plan's `init` is [`Init::Image`] (the caller's picture) or
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
    /// (see [`Plan::full_size_iterations`]): what an ETA should extrapolate.
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

/// Runs one stylisation of `plan`. `on_event` sees every iteration and preview, and
/// stops the run by returning `ControlFlow::Break` (checked between iterations).
pub fn stylize(
    model: &Vgg19,
    inputs: &Inputs,
    plan: &Plan,
    options: RunOptions,
    on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
) -> Result<Stylized, EngineError> {
    plan.check_style_count(inputs.styles.len())?;
    let style_sizes: Vec<(u32, u32)> = inputs.styles.iter().map(RgbImage::dimensions).collect();
    plan.check_image_sizes(inputs.content.dimensions(), &style_sizes)?;
    if matches!(plan.init, Init::Image | Init::Fast) && inputs.init_image.is_none() {
        return Err(EngineError::MissingInitImage);
    }
    let device = model.device();
    let started = Instant::now();
    let mut iteration = 0;
    let mut image: Option<Tensor> = None;
    let mut coarser_content: Option<Tensor> = None;
    let mut content = RgbImage::default();
    let mut loss = LossTerms::default();
    let levels = plan.levels();
    let total_cost = plan.full_size_iterations();
    let mut cost_done = 0.0;

    for (index, level) in levels.iter().enumerate() {
        let _level = tracing::info_span!(
            "level",
            level = index + 1,
            levels = levels.len(),
            side = level.side,
            iterations = level.iterations,
        )
        .entered();
        content = resize_longest(inputs.content, level.side);
        let content_tensor = pixels::to_tensor(&content, device);
        let styles: Vec<(Tensor, f64)> = inputs
            .styles
            .iter()
            .zip(plan.blend())
            .map(|(style, weight)| {
                let style = pixels::to_tensor(&resize_longest(style, level.style_side), device);
                (style, *weight)
            })
            .collect();
        let objective = loss::Objective::new(model, &content_tensor, &styles, plan, level);
        drop(styles);

        let (height, width) = (content.height() as i64, content.width() as i64);
        let upsample = |t: &Tensor| t.upsample_bilinear2d([height, width], false, None, None);
        let mut x = match (image.take(), coarser_content.take()) {
            (Some(coarser), Some(coarser_photo)) if plan.photo_detail => {
                upsample(&coarser) + (&content_tensor - upsample(&coarser_photo))
            }
            (Some(coarser), _) => upsample(&coarser),
            (None, _) => initial_image(plan, inputs, &content, &content_tensor)?,
        };
        coarser_content = Some(content_tensor.shallow_clone());
        let mut optimizer: Box<dyn optim::Optimizer> = match plan.optimizer {
            // A level of n iterations keeps at most n − 1 pairs: no larger buffers.
            Optimizer::Lbfgs => Box::new(Lbfgs::new(
                plan.learning_rate(),
                LBFGS_HISTORY.min(level.iterations as usize).max(1),
            )),
            Optimizer::Adam => Box::new(Adam::new(
                plan.learning_rate(),
                ADAM_DECAY,
                ADAM_DECAY_EVERY,
            )),
        };

        let mut average = IterateAverage::new(plan.average);
        for _ in 0..level.iterations {
            iteration += 1;
            cost_done += level.cost;
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
                total: plan.iterations,
                scale: index as u32 + 1,
                scales: levels.len() as u32,
                fraction: (cost_done / total_cost).min(1.0),
                loss,
                elapsed: started.elapsed(),
            };
            let mut flow = on_event(Event::Iteration(progress));
            let preview_due = options.preview_every > 0
                && iteration % options.preview_every == 0
                && iteration < plan.iterations;
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
    if plan.preserve_colors {
        result = color::preserve_colors(&result, &content);
    }
    Ok(Stylized {
        image: result,
        loss,
        elapsed: started.elapsed(),
    })
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
    plan: &Plan,
    inputs: &Inputs,
    content: &RgbImage,
    content_tensor: &Tensor,
) -> Result<Tensor, EngineError> {
    Ok(match plan.init {
        Init::Content => content_tensor.copy(),
        Init::Noise => noise(plan.seed, content_tensor),
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
