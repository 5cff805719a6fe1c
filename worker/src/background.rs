//! Background tasks beside the jobs (the reaper): each is a step taken again and
//! again, and a runner that stops it at shutdown, giving a step under way a deadline to
//! finish rather than dropping it mid-way.

use std::time::Duration;
use tokio::sync::watch;

/// What a background task has before it after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// More work, at once.
    Busy,
    /// Nothing until [`BackgroundTask::wait_for_work`] says so.
    Idle,
    /// Nothing, ever again.
    Done,
}

pub trait BackgroundTask {
    /// For the log.
    fn name(&self) -> &'static str;

    /// One piece of work.
    async fn step(&mut self) -> TaskState;

    /// While idle: resolves when there may be work again.
    async fn wait_for_work(&mut self) -> TaskState;
}

/// Runs `worker` from a first step at once until it is done, or shutdown finds it idle.
/// A step under way at shutdown, and the busy steps after it, have `deadline` to finish;
/// then the worker is dropped where it stands.
pub async fn run(
    mut worker: impl BackgroundTask,
    shutdown: watch::Receiver<bool>,
    deadline: Duration,
) {
    let name = worker.name();
    let mut idle_shutdown = shutdown.clone();
    let work = async {
        let mut state = TaskState::Busy;
        loop {
            state = match state {
                TaskState::Busy => worker.step().await,
                TaskState::Idle => tokio::select! {
                    biased;
                    _ = stopped(&mut idle_shutdown) => TaskState::Done,
                    state = worker.wait_for_work() => state,
                },
                TaskState::Done => return,
            };
        }
    };
    let mut stop = shutdown;
    let past_deadline = async {
        stopped(&mut stop).await;
        tokio::time::sleep(deadline).await;
    };
    tokio::select! {
        () = work => tracing::debug!(worker = name, "stopped"),
        () = past_deadline => {
            tracing::warn!(worker = name, ?deadline, "stopped mid-step at the shutdown deadline");
        }
    }
}

/// Resolves once shutdown is asked for. (The guard `wait_for` returns must not live
/// across an await of a spawned task: it is not `Send`.)
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Steps of `step_time` each; idle after `busy_steps` of them, for `idle_time`.
    struct Sleeper {
        busy_steps: u32,
        step_time: Duration,
        idle_time: Duration,
        steps: u32,
    }

    impl BackgroundTask for &mut Sleeper {
        fn name(&self) -> &'static str {
            "sleeper"
        }

        async fn step(&mut self) -> TaskState {
            tokio::time::sleep(self.step_time).await;
            self.steps += 1;
            if self.steps < self.busy_steps {
                TaskState::Busy
            } else {
                TaskState::Idle
            }
        }

        async fn wait_for_work(&mut self) -> TaskState {
            tokio::time::sleep(self.idle_time).await;
            TaskState::Busy
        }
    }

    /// Runs `worker`, asks for shutdown after `after`; the steps it took, and how long
    /// it took to stop from then.
    async fn stop_after(
        mut worker: Sleeper,
        after: Duration,
        deadline: Duration,
    ) -> (u32, Duration) {
        let (stop, shutdown) = watch::channel(false);
        let mut running = Box::pin(run(&mut worker, shutdown, deadline));
        let asked = tokio::select! {
            () = &mut running => panic!("stopped before shutdown"),
            () = tokio::time::sleep(after) => {
                stop.send_replace(true);
                Instant::now()
            }
        };
        running.await;
        (worker.steps, asked.elapsed())
    }

    fn sleeper(busy_steps: u32, step_millis: u64) -> Sleeper {
        Sleeper {
            busy_steps,
            step_time: Duration::from_millis(step_millis),
            idle_time: Duration::from_secs(60),
            steps: 0,
        }
    }

    #[tokio::test]
    async fn an_idle_worker_stops_at_once() {
        let (steps, stopping) = stop_after(
            sleeper(1, 0),
            Duration::from_millis(50),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(steps, 1);
        assert!(stopping < Duration::from_millis(100), "{stopping:?}");
    }

    #[tokio::test]
    async fn a_busy_worker_finishes_its_steps_within_the_deadline() {
        let (steps, stopping) = stop_after(
            sleeper(3, 100),
            Duration::from_millis(50),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(steps, 3);
        assert!(stopping < Duration::from_secs(1), "{stopping:?}");
    }

    #[tokio::test]
    async fn a_step_past_the_deadline_is_dropped() {
        let (steps, stopping) = stop_after(
            sleeper(1, 10_000),
            Duration::from_millis(50),
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(steps, 0);
        assert!(stopping < Duration::from_secs(1), "{stopping:?}");
    }
}
