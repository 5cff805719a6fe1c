//! A job's event stream (`GET /v1/jobs/{id}/events`) as server-sent events: a `state`
//! event with the job now, `progress` events as the worker publishes them, a `state`
//! event at each change of state; it ends after a terminal state, or after
//! `limits.event_stream_seconds` (the client reconnects, as `retry` tells it). Events
//! come from the api's one Redis subscription; the row is read only when the job's
//! state changes (or events were missed while Redis was away). Each caller, and the
//! api, holds a bounded number of streams.

use crate::services::access::Caller;
use crate::services::error::{database, Outage, OverLimit};
use crate::services::live::{Following, Full, Heard, Hub, StreamSlot, StreamSlots};
use crate::services::position;
use crate::services::queue_view::QueueView;
use crate::services::state::{AppState, Backends};
use crate::view::JobView;
use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use stylize_core::job::JobState;
use stylize_shared::db::{self, JobRow};
use stylize_shared::progress::{JobEvent, LiveProgress};
use uuid::Uuid;

/// One server-sent event.
fn sse(event: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).expect("views serialise");
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// How far a run has got: its iteration, then the preview it has stored (step 0 comes
/// twice, as the fast pass starts and once its picture is stored as the first preview).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Step(u32, Option<u32>);

impl Step {
    fn of(progress: &LiveProgress) -> Step {
        Step(progress.iteration, progress.preview_iteration)
    }
}

/// How often an idle event stream sends a comment, so that a client or proxy that went
/// away is noticed (the write fails) and its slot freed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a client whose stream ended waits before it reconnects (SSE `retry`).
const RECONNECT_MS: u32 = 2000;

/// A followed job's row that could not be read is read again after this.
const READ_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// What a job's event stream reads: the rows and live progress, the queue's order (a
/// queued job's place), the jobs' events, and the slots that bound the streams.
pub struct Sources {
    backends: Arc<Backends>,
    queue_view: Arc<QueueView>,
    live: Arc<Hub>,
    streams: Arc<StreamSlots>,
    lifetime: Duration,
}

impl Sources {
    pub fn of(state: &AppState) -> Self {
        Sources {
            backends: state.backends.clone(),
            queue_view: state.queue_view.clone(),
            live: state.live.clone(),
            streams: state.streams.clone(),
            lifetime: state.stream_lifetime,
        }
    }
}

/// The `state` event of `row` (with its progress, and its place while queued), and the
/// step it tells.
async fn state_event(
    backends: &Backends,
    queue_view: &QueueView,
    row: &JobRow,
) -> (Bytes, Option<Step>) {
    // Without Redis, the row still answers.
    let progress = backends.progress.get(row.id).await.ok().flatten();
    let told = progress
        .as_ref()
        .filter(|_| row.state() != JobState::Queued)
        .map(Step::of);
    let queue = position::place(&backends.pool, queue_view, row).await;
    let event = sse("state", &JobView::new(row, progress).in_queue(queue));
    (event, told)
}

/// What a client following a job has been told so far.
struct Follow {
    backends: Arc<Backends>,
    queue_view: Arc<QueueView>,
    id: Uuid,
    /// The job's state and attempt as last told: the job claimed again (its worker died,
    /// or it was retried) is a change too, and its new run starts over.
    last: (JobState, i32),
    /// The step the client last saw, in a `state` or `progress` event: what a run
    /// published before it (the snapshot read with a state is often published again
    /// just after) is not told again.
    told: Option<Step>,
    first: Option<Bytes>,
    heard: Following,
    keep_alive: tokio::time::Interval,
    /// When the stream ends, and the client reconnects (`limits.event_stream_seconds`).
    until: tokio::time::Instant,
    /// When to read the row again after PostgreSQL failed to answer.
    read_again_at: Option<tokio::time::Instant>,
    _slot: StreamSlot,
}

impl Follow {
    /// A `state` event when the job's row has changed since the client was last told.
    async fn read_again(&mut self) -> Option<Bytes> {
        self.read_again_at = None;
        let row = match db::get_job(&self.backends.pool, self.id).await {
            Ok(row) => row?,
            Err(error) => {
                tracing::warn!(%error, job = %self.id, "reading a followed job; again in a second");
                self.read_again_at = Some(tokio::time::Instant::now() + READ_AGAIN_AFTER);
                return None;
            }
        };
        let now = (row.state(), row.attempts);
        if now == self.last {
            return None;
        }
        self.last = now;
        let (event, told) = state_event(&self.backends, &self.queue_view, &row).await;
        self.told = told;
        Some(event)
    }

    /// The next event to send; `None` once the stream's time is up.
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            tokio::select! {
                heard = self.heard.next() => match heard {
                    Heard::Event(JobEvent::Progress(progress)) if self.last.0 == JobState::Running => {
                        if self.told >= Some(Step::of(&progress)) {
                            continue;
                        }
                        self.told = Some(Step::of(&progress));
                        return Some(sse("progress", &progress));
                    }
                    // A change of state, progress of a job not yet known to run, or events
                    // missed: the row says what changed.
                    _ => {
                        if let Some(event) = self.read_again().await {
                            return Some(event);
                        }
                    }
                },
                _ = self.keep_alive.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
                _ = tokio::time::sleep_until(self.until) => return None,
                _ = tokio::time::sleep_until(self.read_again_at.unwrap_or(self.until)),
                    if self.read_again_at.is_some() =>
                {
                    if let Some(event) = self.read_again().await {
                        return Some(event);
                    }
                }
            }
        }
    }
}

/// Why a job's events are not streamed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The caller, or the api, holds as many streams as it may.
    #[error(transparent)]
    Full(#[from] OverLimit),
    #[error(transparent)]
    Outage(#[from] Outage),
}

/// The events of `found` (a job `caller` may see), each an encoded server-sent event;
/// refused when the caller or the api holds as many streams as it may.
pub async fn follow(
    sources: Sources,
    caller: &Caller,
    found: JobRow,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>>, StreamError> {
    let slot = sources.streams.take(caller.owner()).map_err(|full| {
        let detail = match full {
            Full::Owner(open) => format!(
                "this caller has {open} event streams open, its limit; close one, or poll \
                 GET /v1/jobs/{{id}}"
            ),
            Full::Process(open) => format!("this api holds {open} event streams, its limit"),
        };
        OverLimit {
            detail,
            retry_after_seconds: 5,
        }
    })?;
    // Following first, then the row read again: a change after that read is heard.
    let heard = sources.live.follow(found.id);
    let row = db::get_job(&sources.backends.pool, found.id)
        .await
        .map_err(database)?
        .unwrap_or(found);
    let (first, told) = state_event(&sources.backends, &sources.queue_view, &row).await;
    let mut with_retry = format!("retry: {RECONNECT_MS}\n").into_bytes();
    with_retry.extend_from_slice(&first);
    let now = tokio::time::Instant::now();
    let follow = Follow {
        id: row.id,
        last: (row.state(), row.attempts),
        told,
        first: Some(with_retry.into()),
        heard,
        keep_alive: tokio::time::interval_at(now + KEEP_ALIVE, KEEP_ALIVE),
        until: now + sources.lifetime,
        read_again_at: None,
        _slot: slot,
        backends: sources.backends,
        queue_view: sources.queue_view,
    };
    Ok(futures_util::stream::unfold(
        Some(follow),
        |follow| async move {
            let mut follow = follow?;
            let event = match follow.first.take() {
                Some(first) => first,
                None => follow.next_event().await?,
            };
            let done = follow.last.0.is_terminal();
            Some((Ok::<_, Infallible>(event), (!done).then_some(follow)))
        },
    ))
}
