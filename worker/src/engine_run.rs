//! The engine's optimisation of one job, on a blocking thread: its events come back over
//! a channel, and a stop asked for here ends it at its next iteration.

use crate::run_end::{crash, engine_failure, RunEnd};
use image::RgbImage;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use stylize_engine::{self as engine, EngineError, Event};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

pub struct EngineRun {
    task: JoinHandle<Result<engine::Stylized, EngineError>>,
    events: mpsc::UnboundedReceiver<Event>,
    stop: Arc<AtomicBool>,
    /// Why the run was asked to stop: the first reason given.
    stop_reason: Option<RunEnd>,
}

/// What a running engine does next.
pub enum Next {
    Event(Event),
    /// The run ended: its picture, or how the job's run ends without one.
    Ended(Result<RgbImage, RunEnd>),
}

impl EngineRun {
    /// Starts `run` on a blocking thread with the callback it passes to the engine (its
    /// `on_event`).
    pub fn start<F>(run: F) -> Self
    where
        F: FnOnce(
                &mut dyn FnMut(Event) -> ControlFlow<()>,
            ) -> Result<engine::Stylized, EngineError>
            + Send
            + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, events) = mpsc::unbounded_channel();
        let stopped = stop.clone();
        // The engine's spans (one per level) are the job's, on the engine's thread too.
        let job_span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _job = job_span.enter();
            run(&mut |event| {
                let _ = sender.send(event);
                if stopped.load(Ordering::Relaxed) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
        });
        EngineRun {
            task,
            events,
            stop,
            stop_reason: None,
        }
    }

    /// Asks the run to stop; the job's run ends as `why` says, unless an earlier stop
    /// gave its reason.
    pub fn stop(&mut self, why: RunEnd) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop_reason.get_or_insert(why);
    }

    pub fn stopping(&self) -> bool {
        self.stop_reason.is_some()
    }

    /// The next event, or the run's end (after which there is no next). Cancel-safe:
    /// nothing is lost when another branch of a `select!` wins.
    pub async fn next(&mut self) -> Next {
        tokio::select! {
            ended = &mut self.task => Next::Ended(self.end(ended)),
            Some(event) = self.events.recv() => Next::Event(event),
        }
    }

    /// The events the engine sent before it ended that `next` did not hand out.
    pub fn unseen_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.events.try_recv().ok())
    }

    fn end(
        &mut self,
        ended: Result<Result<engine::Stylized, EngineError>, JoinError>,
    ) -> Result<RgbImage, RunEnd> {
        match ended {
            Err(panic) => Err(crash("the engine", panic)),
            Ok(Err(EngineError::Canceled { .. })) => {
                Err(self.stop_reason.take().unwrap_or(RunEnd::Canceled))
            }
            Ok(Err(error)) => Err(engine_failure(error)),
            Ok(Ok(painted)) => Ok(painted.image),
        }
    }
}
