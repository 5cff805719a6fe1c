//! What every request handler, and every background task of the api, may reach.

use crate::services::catalogue::Catalogue;
use crate::services::fetch::Fetcher;
use crate::services::live::{Hub, StreamSlots};
use crate::services::metrics::ApiMetrics;
use crate::services::queue_view::QueueView;
use crate::services::signing::SigningKey;
use crate::services::uploads::UploadRoom;
use ipnet::IpNet;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use stylize_core::images::ImageLimits;
use stylize_shared::config::AuthSettings;
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::JobQueue;
use stylize_shared::rate_limit::RateLimiter;
use stylize_shared::storage::Storage;
use tokio::sync::Semaphore;

/// The services the api talks to: the jobs' rows, their images, the queue and the jobs'
/// live progress.
pub struct Backends {
    pub pool: PgPool,
    pub storage: Storage,
    pub queue: JobQueue,
    pub progress: ProgressStore,
}

pub struct AppState {
    pub backends: Arc<Backends>,
    /// Jobs' events from the process's one Redis subscription, to those following them.
    pub live: Arc<Hub>,
    /// Open event streams, bounded per owner and in all (`limits.max_event_streams*`).
    pub streams: Arc<StreamSlots>,
    /// How long one event stream lasts before the client reconnects
    /// (`limits.event_stream_seconds`).
    pub stream_lifetime: Duration,
    /// The answer of `GET /v1/queue`, kept a second.
    pub queue_view: Arc<QueueView>,
    /// Per-key submission rates (`auth.submissions_per_minute`).
    pub rate_limiter: RateLimiter,
    pub catalogue: Catalogue,
    pub fetcher: Fetcher,
    pub image_limits: ImageLimits,
    pub max_body_bytes: usize,
    /// The workers' device memory (`worker.device_memory_bytes`; 0 unknown): a job that
    /// cannot fit is refused at submission rather than failed by a worker.
    pub device_memory_bytes: u64,
    /// How long a submission's body may take to arrive (`limits.submission_read_seconds`).
    pub submission_read: Duration,
    /// Turns at decoding uploads (`limits.max_concurrent_decodes`), so a burst of large
    /// images cannot take all the memory.
    pub decodes: Semaphore,
    /// Room for the submission bodies held at once (`limits.max_inflight_upload_bytes`).
    pub uploads: UploadRoom,
    /// Parts a submission's form may have (`limits.max_form_parts`).
    pub max_form_parts: usize,
    pub metrics: Arc<ApiMetrics>,
    pub auth: AuthSettings,
    /// Other sites whose pages may change state without a key (`http.allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub trusted_proxies: Vec<IpNet>,
    /// Signs the webhooks of jobs without an API key (`webhooks.secret`).
    pub webhook_secret: Option<SigningKey>,
}
