//! When a job's progress goes out, as pure rules over times given to them (no clock is
//! read here, so the rules are tested without waiting): an iteration is published once,
//! no more often than an interval unless it is the last or brings a new preview; a
//! `progress` webhook message is added at most once per its own interval.

use std::time::{Duration, Instant};
use stylize_shared::progress::LiveProgress;

/// At most once per `every`.
#[derive(Debug, Clone)]
pub(crate) struct Every {
    every: Duration,
    last: Option<Instant>,
}

impl Every {
    pub(crate) fn new(every: Duration) -> Self {
        Every { every, last: None }
    }

    /// Whether `now` is a turn (the first, or `every` after the last taken).
    fn ready(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every)
    }

    /// Takes the turn at `now` if it is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let ready = self.ready(now);
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

/// Which of a run's progress reports are published.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    iterations: Every,
    /// What was last published (iteration, preview): each iteration goes out once, and
    /// a new preview with the iteration after it.
    sent: (u32, Option<u32>),
}

impl Throttle {
    /// Iterations at most once per `interval`, but for the last and those with a new
    /// preview.
    pub(crate) fn new(interval: Duration) -> Self {
        Throttle {
            iterations: Every::new(interval),
            sent: (0, None),
        }
    }

    /// Whether the iteration `live` goes out at `now`; if so, the interval restarts.
    pub(crate) fn iteration_due(&mut self, now: Instant, live: &LiveProgress) -> bool {
        let due = self.iterations.ready(now)
            || live.iteration == live.total
            || live.preview_iteration != self.sent.1;
        if due {
            self.iterations.last = Some(now);
        }
        due
    }

    /// `live` went out.
    pub(crate) fn sent(&mut self, live: &LiveProgress) {
        self.sent = (live.iteration, live.preview_iteration);
    }

    /// Whether `latest` still has to go out (the run ended before it was published).
    pub(crate) fn unsent(&self, latest: &LiveProgress) -> bool {
        latest.iteration != self.sent.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_shared::progress::Phase;

    fn iteration(iteration: u32, preview: Option<u32>) -> LiveProgress {
        LiveProgress {
            phase: Phase::Optimising,
            iteration,
            total: 10,
            // What the rules read: the iteration against the total, and the preview.
            scale: 2,
            scales: 2,
            fraction: 0.5,
            loss: None,
            elapsed_seconds: 0.0,
            eta_seconds: None,
            preview_iteration: preview,
        }
    }

    /// Publishes what is due at each (milliseconds after the start, iteration,
    /// preview), and returns the iterations that went out.
    fn published(interval_ms: u64, steps: &[(u64, u32, Option<u32>)]) -> Vec<u32> {
        let start = Instant::now();
        let mut throttle = Throttle::new(Duration::from_millis(interval_ms));
        let mut out = Vec::new();
        for &(ms, number, preview) in steps {
            let live = iteration(number, preview);
            if throttle.iteration_due(start + Duration::from_millis(ms), &live) {
                throttle.sent(&live);
                out.push(number);
            }
        }
        out
    }

    #[test]
    fn iterations_go_out_once_an_interval_and_the_last_always() {
        let steps: Vec<(u64, u32, Option<u32>)> =
            (1..=10).map(|n| (u64::from(n) * 100, n, None)).collect();
        // Every 100 ms an iteration, at most one per 350 ms: 1, then 5 (at 500 ms), 9
        // (900 ms); 10 is the last.
        assert_eq!(published(350, &steps), [1, 5, 9, 10]);
        assert_eq!(published(0, &steps), (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn a_new_preview_goes_out_with_the_next_iteration_at_once() {
        let steps = [
            (0, 1, None),
            (10, 2, None),
            (20, 3, Some(2)),
            (30, 4, Some(2)),
        ];
        assert_eq!(published(1000, &steps), [1, 3]);
        // The interval restarts at a preview's iteration: 3 is too soon after it.
        let later = [(0, 1, None), (900, 2, Some(1)), (1100, 3, Some(1))];
        assert_eq!(published(1000, &later), [1, 2]);
    }

    #[test]
    fn the_last_iteration_seen_is_unsent_until_it_goes_out() {
        let mut throttle = Throttle::new(Duration::from_secs(60));
        let start = Instant::now();
        let first = iteration(1, None);
        assert!(throttle.iteration_due(start, &first));
        throttle.sent(&first);
        let second = iteration(2, None);
        assert!(!throttle.iteration_due(start, &second));
        assert!(throttle.unsent(&second) && !throttle.unsent(&first));
    }

    #[test]
    fn webhooks_come_at_most_once_an_interval() {
        let start = Instant::now();
        let mut every = Every::new(Duration::from_secs(5));
        let taken: Vec<u64> = [0, 1, 4, 5, 6, 9, 10, 30]
            .into_iter()
            .filter(|&s| every.take(start + Duration::from_secs(s)))
            .collect();
        assert_eq!(taken, [0, 5, 10, 30]);
    }
}
