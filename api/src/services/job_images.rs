//! A job's pictures as its owner reads them: the result once the job succeeded, the
//! latest preview in whatever state it is (a failed or canceled job's shows how far it
//! got), or why there is none.

use crate::services::error::Outage;
use stylize_core::job::keys;
use stylize_core::job::JobState;
use stylize_shared::db::JobRow;
use stylize_shared::storage::{Object, Storage};

/// The images a job may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobImage {
    Result,
    Preview,
}

impl std::fmt::Display for JobImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobImage::Result => "result",
            JobImage::Preview => "preview",
        })
    }
}

/// Why a job has no picture to show.
#[derive(Debug, thiserror::Error)]
pub enum NoPicture {
    /// The job may still make one.
    #[error("the job is {0}; the image is not ready")]
    NotReady(JobState),
    /// The job has ended without one.
    #[error("the job is {state} and has no {image}; it never will")]
    Never { image: JobImage, state: JobState },
    #[error(transparent)]
    Outage(#[from] Outage),
}

impl NoPicture {
    fn of(image: JobImage, state: JobState) -> Self {
        if state.is_terminal() {
            NoPicture::Never { image, state }
        } else {
            NoPicture::NotReady(state)
        }
    }
}

/// `row`'s `image`, opened to be sent as it is read from the store: an api serving many
/// results holds a chunk of each, not each whole.
pub async fn open(storage: &Storage, row: &JobRow, image: JobImage) -> Result<Object, NoPicture> {
    let id = row.id.to_string();
    let key = match image {
        JobImage::Result if row.state() != JobState::Succeeded => {
            return Err(NoPicture::of(image, row.state()))
        }
        JobImage::Result => keys::result(&id),
        JobImage::Preview => keys::preview(&id),
    };
    let object = storage.open(&key).await.map_err(|error| {
        tracing::error!(%error, "reading an image");
        Outage::Unavailable("storage")
    })?;
    match (object, image) {
        (Some(object), _) => Ok(object),
        // A succeeded job's result is written before its row says so.
        (None, JobImage::Result) => {
            Err(Outage::Internal(format!("{key} is missing from storage")).into())
        }
        (None, JobImage::Preview) => Err(NoPicture::of(image, row.state())),
    }
}
