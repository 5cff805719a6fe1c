//! A job's life: `queued → running → succeeded | failed | canceled`, where its style
//! images come from, and the names of everything a job leaves in storage, all derived
//! from its id so a retried job overwrites rather than duplicates.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Canceled
        )
    }

    /// Whether a job may move from `self` to `next`. A running job may go back to
    /// `queued` when its worker hands it back (shutdown, lost worker).
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Queued, Running)
                | (Queued, Canceled)
                | (Queued, Failed)
                | (Running, Queued)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Canceled)
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for JobState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// Where one of a job's style images comes from. A job keeps them as one list in the
/// order its parameters blend them (`style_blend_weights`), and the list alone says
/// where each image is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum StyleSource {
    /// An image the submission brought (a file, or a URL's image fetched at
    /// submission), stored with the job.
    Upload,
    /// A painting of the catalogue, by its id.
    Preset { id: String },
}

impl StyleSource {
    /// The object holding this style's image when it is at `position` in `job`'s list.
    pub fn key(&self, job: &str, position: usize) -> String {
        match self {
            StyleSource::Upload => keys::style(job, position),
            StyleSource::Preset { id } => keys::preset_image(id),
        }
    }

    pub fn is_upload(&self) -> bool {
        *self == StyleSource::Upload
    }

    /// The keys of the images a submission stores for `job`: the content, then each
    /// upload among `styles`, in order. They are its own and deleted with it (a preset's
    /// image belongs to the catalogue).
    pub fn input_keys<'a>(
        job: &'a str,
        styles: &'a [StyleSource],
    ) -> impl Iterator<Item = String> + 'a {
        let uploads = styles
            .iter()
            .enumerate()
            .filter(|(_, style)| style.is_upload())
            .map(move |(position, style)| style.key(job, position));
        std::iter::once(keys::content(job)).chain(uploads)
    }
}

/// Object keys of one job, derived from its id alone.
pub mod keys {
    pub fn content(job: &str) -> String {
        format!("jobs/{job}/content")
    }

    pub fn style(job: &str, index: usize) -> String {
        format!("jobs/{job}/style-{index}")
    }

    pub fn preview(job: &str) -> String {
        format!("jobs/{job}/preview.jpg")
    }

    pub fn result(job: &str) -> String {
        format!("jobs/{job}/result.png")
    }

    pub fn preset_image(preset: &str) -> String {
        format!("presets/{preset}/image")
    }

    pub fn preset_thumbnail(preset: &str) -> String {
        format!("presets/{preset}/thumbnail.jpg")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_go_nowhere() {
        for from in JobState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in JobState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_lifecycle_moves_forward_or_hands_back() {
        assert!(JobState::Queued.can_become(JobState::Running));
        assert!(JobState::Running.can_become(JobState::Succeeded));
        assert!(JobState::Running.can_become(JobState::Queued));
        assert!(!JobState::Queued.can_become(JobState::Succeeded));
        assert!(!JobState::Queued.can_become(JobState::Queued));
    }

    #[test]
    fn states_round_trip_through_text() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        assert!("done".parse::<JobState>().is_err());
    }

    #[test]
    fn keys_are_derived_from_the_id() {
        assert_eq!(keys::result("abc"), "jobs/abc/result.png");
        assert_eq!(keys::style("abc", 1), "jobs/abc/style-1");
    }

    #[test]
    fn style_sources_name_their_images_by_position() {
        let styles = [
            StyleSource::Preset {
                id: "starry-night".into(),
            },
            StyleSource::Upload,
        ];
        assert_eq!(styles[0].key("abc", 0), "presets/starry-night/image");
        assert_eq!(styles[1].key("abc", 1), "jobs/abc/style-1");
        assert_eq!(
            StyleSource::input_keys("abc", &styles).collect::<Vec<_>>(),
            ["jobs/abc/content", "jobs/abc/style-1"]
        );
    }

    #[test]
    fn style_sources_are_stored_as_tagged_objects() {
        let styles = vec![
            StyleSource::Upload,
            StyleSource::Preset {
                id: "the-scream".into(),
            },
        ];
        let json = serde_json::json!([
            {"source": "upload"},
            {"source": "preset", "id": "the-scream"}
        ]);
        assert_eq!(serde_json::to_value(&styles).unwrap(), json);
        assert_eq!(
            serde_json::from_value::<Vec<StyleSource>>(json).unwrap(),
            styles
        );
    }
}
