//! How fast the worker has recently been, measured as its jobs run: seconds per
//! iteration and per fast pass, each per megapixel, as moving averages, and the clock
//! that times a job's iterations level by level. The registry reports them.

use std::sync::Mutex;
use std::time::Duration;
use stylize_core::images::fit_longest;
use stylize_core::params::Plan;
use stylize_shared::workers::Rates;

/// Weight of each new sample. Iterations come by the hundred per job, so a tenth makes
/// the rate that of the last few dozen; fast passes come once per job, so each counts
/// for more.
const ITERATION_WEIGHT: f64 = 0.1;
const FAST_PASS_WEIGHT: f64 = 0.3;

const PIXELS_PER_MEGAPIXEL: f64 = 1e6;

/// An exponentially weighted moving average; `None` before its first sample, which it
/// takes whole.
#[derive(Debug, Clone, Copy)]
struct Ewma {
    weight: f64,
    value: Option<f64>,
}

impl Ewma {
    const fn new(weight: f64) -> Self {
        Ewma {
            weight,
            value: None,
        }
    }

    fn add(&mut self, sample: f64) {
        self.value = Some(match self.value {
            None => sample,
            Some(value) => value + self.weight * (sample - value),
        });
    }
}

/// The worker's recent speed, per megapixel of output; shared by its running jobs, which
/// record into it, and its reporter, which reads it.
#[derive(Debug)]
pub struct Throughput {
    rates: Mutex<(Ewma, Ewma)>,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput {
            rates: Mutex::new((Ewma::new(ITERATION_WEIGHT), Ewma::new(FAST_PASS_WEIGHT))),
        }
    }
}

/// Megapixels of `pixels`, or `None` for an empty image (nothing to learn from).
fn megapixels(pixels: u64) -> Option<f64> {
    (pixels > 0).then(|| pixels as f64 / PIXELS_PER_MEGAPIXEL)
}

/// Pixels of a job's output (or of one coarse-to-fine level) at `size`, its longest side,
/// for a photo of `content` (width, height).
pub fn output_pixels(size: u32, content: (u32, u32)) -> u64 {
    let (width, height) = fit_longest(content.0, content.1, size);
    u64::from(width) * u64::from(height)
}

impl Throughput {
    fn update(&self, change: impl FnOnce(&mut (Ewma, Ewma))) {
        change(&mut self.rates.lock().expect("no panic while holding the lock"));
    }

    /// One optimisation iteration on an image of `pixels` took `took`.
    pub fn record_iteration(&self, pixels: u64, took: Duration) {
        if let Some(megapixels) = megapixels(pixels) {
            self.update(|(iterations, _)| iterations.add(took.as_secs_f64() / megapixels));
        }
    }

    /// One pass of the fast network for an output of `pixels` took `took`.
    pub fn record_fast_pass(&self, pixels: u64, took: Duration) {
        if let Some(megapixels) = megapixels(pixels) {
            self.update(|(_, fast_passes)| fast_passes.add(took.as_secs_f64() / megapixels));
        }
    }

    pub fn rates(&self) -> Rates {
        let (iterations, fast_passes) =
            *self.rates.lock().expect("no panic while holding the lock");
        Rates {
            seconds_per_iteration_per_megapixel: iterations.value,
            fast_pass_seconds_per_megapixel: fast_passes.value,
        }
    }

    /// Times a job's iterations from the engine's progress: the `plan`'s levels and the
    /// photo's `content` size give each level's pixels.
    pub fn clock(&self, plan: &Plan, content: (u32, u32)) -> IterationClock<'_> {
        let mut last_iteration = 0;
        let levels = plan
            .levels()
            .iter()
            .map(|level| {
                last_iteration += level.iterations;
                // A detail level's pass stops early: count the pixels of a full one.
                let pixels = output_pixels(level.side, content) as f64 * level.depth_share;
                (last_iteration, pixels as u64)
            })
            .collect();
        IterationClock {
            throughput: self,
            levels,
            last: None,
        }
    }
}

/// Turns a job's progress (iteration, time since the run began) into iteration times.
/// The first iteration of each level is not counted: it carries the level's set-up (the
/// style targets), which is no iteration's.
pub struct IterationClock<'a> {
    throughput: &'a Throughput,
    /// Each level's last iteration (1-based, counted across levels) and its pixels.
    levels: Vec<(u32, u64)>,
    /// The level, iteration and elapsed time of the previous tick.
    last: Option<(usize, u32, Duration)>,
}

impl IterationClock<'_> {
    /// Iteration `iteration` ended `elapsed` after the run began.
    pub fn tick(&mut self, iteration: u32, elapsed: Duration) {
        let level = self
            .levels
            .iter()
            .position(|(last, _)| iteration <= *last)
            .unwrap_or(self.levels.len().saturating_sub(1));
        if let Some((last_level, last_iteration, last_elapsed)) = self.last {
            if last_level == level && iteration > last_iteration {
                let took = elapsed.saturating_sub(last_elapsed) / (iteration - last_iteration);
                self.throughput.record_iteration(self.levels[level].1, took);
            }
        }
        self.last = Some((level, iteration, elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_core::params::StyleParams;

    const MEGAPIXEL: u64 = 1_000_000;

    #[test]
    fn rates_are_unknown_until_measured_then_follow_the_samples() {
        let throughput = Throughput::default();
        assert_eq!(throughput.rates(), Rates::default());

        throughput.record_iteration(MEGAPIXEL / 2, Duration::from_secs(1));
        let first = throughput.rates().seconds_per_iteration_per_megapixel;
        assert_eq!(first, Some(2.0), "the first sample is taken whole");
        assert_eq!(throughput.rates().fast_pass_seconds_per_megapixel, None);

        throughput.record_iteration(MEGAPIXEL, Duration::from_secs(12));
        let second = throughput
            .rates()
            .seconds_per_iteration_per_megapixel
            .unwrap();
        assert!(
            (second - (2.0 + ITERATION_WEIGHT * 10.0)).abs() < 1e-12,
            "{second}"
        );

        // Steady samples pull the average to them.
        for _ in 0..200 {
            throughput.record_iteration(MEGAPIXEL, Duration::from_secs(5));
        }
        let settled = throughput
            .rates()
            .seconds_per_iteration_per_megapixel
            .unwrap();
        assert!((settled - 5.0).abs() < 1e-6, "{settled}");

        throughput.record_fast_pass(MEGAPIXEL / 4, Duration::from_millis(100));
        throughput.record_fast_pass(MEGAPIXEL / 4, Duration::from_millis(200));
        let fast = throughput.rates().fast_pass_seconds_per_megapixel.unwrap();
        assert!(
            (fast - (0.4 + FAST_PASS_WEIGHT * 0.4)).abs() < 1e-12,
            "{fast}"
        );
    }

    #[test]
    fn an_empty_image_teaches_nothing() {
        let throughput = Throughput::default();
        throughput.record_iteration(0, Duration::from_secs(1));
        throughput.record_fast_pass(0, Duration::from_secs(1));
        assert_eq!(throughput.rates(), Rates::default());
    }

    #[test]
    fn the_clock_times_iterations_but_not_each_levels_set_up() {
        let throughput = Throughput::default();
        // Two levels of 2 iterations: 32 px then 64 px, for a 4:3 photo.
        let params = StyleParams {
            size: 64,
            iterations: 4,
            scales: 2,
            start_size: None,
            scale_factor: 2.0,
            ..StyleParams::default()
        };
        let plan = Plan::new(params, 1).unwrap();
        let mut clock = throughput.clock(&plan, (400, 300));
        let seconds = |s: f64| Duration::from_secs_f64(s);
        // Level one's set-up and first iteration: 5 s; its second: 1 s for 32×24 px.
        clock.tick(1, seconds(5.0));
        assert_eq!(throughput.rates(), Rates::default());
        clock.tick(2, seconds(6.0));
        let coarse = throughput
            .rates()
            .seconds_per_iteration_per_megapixel
            .unwrap();
        assert!(
            (coarse - 1.0 / (32.0 * 24.0 / 1e6)).abs() < 1e-6,
            "{coarse}"
        );
        // Level two's first iteration carries its set-up: not counted.
        clock.tick(3, seconds(60.0));
        assert_eq!(
            throughput.rates().seconds_per_iteration_per_megapixel,
            Some(coarse)
        );
        // Its second: 8 s for 64×48 px.
        clock.tick(4, seconds(68.0));
        let fine = throughput
            .rates()
            .seconds_per_iteration_per_megapixel
            .unwrap();
        let sample = 8.0 / (64.0 * 48.0 / 1e6);
        assert!(
            (fine - (coarse + ITERATION_WEIGHT * (sample - coarse))).abs() < 1e-6,
            "{fine}"
        );
    }

    #[test]
    fn output_pixels_keep_the_photos_shape() {
        assert_eq!(output_pixels(512, (1024, 768)), 512 * 384);
        assert_eq!(output_pixels(64, (300, 900)), 21 * 64);
    }
}
