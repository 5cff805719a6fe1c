//! The services a worker talks to, one client each, shared by its consuming and its
//! jobs' runs (each client is a handle: cloning it shares its connections).

use sqlx::PgPool;
use std::sync::Arc;
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::JobQueue;
use stylize_shared::storage::Storage;

#[derive(Clone)]
pub(crate) struct Clients {
    pub(crate) pool: PgPool,
    pub(crate) storage: Storage,
    /// Shared with the reaper.
    pub(crate) queue: Arc<JobQueue>,
    pub(crate) progress: ProgressStore,
}
