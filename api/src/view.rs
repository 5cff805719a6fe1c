//! A job as the api shows it, in answers and in `state` events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use stylize_core::job::{JobState, StyleSource};
use stylize_core::params::{Mode, StyleParams};
use stylize_shared::db::JobRow;
use stylize_shared::progress::LiveProgress;
use stylize_shared::stats::QueuePlace;
use stylize_shared::telemetry;
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    result: String,
    /// `null` for a fast job, which paints no previews.
    preview: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct JobView {
    id: Uuid,
    state: JobState,
    params: StyleParams,
    width: i32,
    height: i32,
    /// The style images in blend order, as the job keeps them.
    styles: Vec<StyleSource>,
    /// As the worker publishes it, and as `progress` events carry it.
    progress: Option<LiveProgress>,
    /// A cancel was accepted; a running job shows it until its worker has stopped it.
    cancel_requested: bool,
    error: Option<String>,
    attempts: i32,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    /// Where the job's events are POSTed (`null`: nowhere), and which.
    webhook: Option<String>,
    webhook_events: Vec<String>,
    /// The OpenTelemetry trace the job's submission began, where the service exports
    /// traces (`null` otherwise): its every run and webhook attempt is in it.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    trace_id: Option<String>,
    /// `queue_position` and `estimated_start_at`, for a queued job.
    #[serde(flatten)]
    queue: QueuePlace,
    links: Links,
}

/// A page of jobs, and the link to the next (`null` after the last).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct JobList {
    pub jobs: Vec<JobView>,
    pub next: Option<String>,
}

impl JobView {
    pub fn new(row: &JobRow, progress: Option<LiveProgress>) -> Self {
        let base = format!("/v1/jobs/{}", row.id);
        JobView {
            id: row.id,
            state: row.state(),
            params: row.params.0.clone(),
            width: row.width,
            height: row.height,
            styles: row.styles.0.clone(),
            progress,
            cancel_requested: row.cancel_requested,
            error: row.error.clone(),
            attempts: row.attempts,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            webhook: row.webhook.clone(),
            webhook_events: row.webhook_events.clone(),
            trace_id: row
                .trace_context
                .as_deref()
                .and_then(telemetry::trace_id)
                .map(str::to_owned),
            queue: QueuePlace::default(),
            links: Links {
                result: format!("{base}/result"),
                preview: (row.params.0.mode == Mode::Full).then(|| format!("{base}/preview")),
                this: base,
            },
        }
    }

    /// The view with a queued job's place in the queue.
    pub fn in_queue(self, queue: QueuePlace) -> Self {
        JobView { queue, ..self }
    }
}
