//! What the api does, below its routes and knowing nothing of actix: the state every
//! handler reaches, who may see what, taking, listing, canceling and deleting jobs,
//! where a job stands, the preset catalogue, webhook signing, secrets and delivery,
//! fetching URLs safely, waiting for a job, live events fanned out to those following a
//! job, readiness at start-up, and the metrics registry.

pub mod access;
pub mod cancel;
pub mod catalogue;
pub mod deletion;
pub mod deliverer;
pub mod error;
pub mod event_stream;
pub mod fetch;
pub mod job_images;
pub mod listing;
pub mod live;
pub mod metrics;
pub mod position;
pub mod queue_view;
pub mod readiness;
pub mod secrets;
pub mod signing;
pub mod state;
pub mod submission;
pub mod uploads;
pub mod waiting;

/// Text the api stores as sent (a key's name, a webhook's URL) holds no control
/// character: PostgreSQL's text cannot hold NUL, a URL parser would drop or escape the
/// others, and none belongs in a name.
pub fn refuse_control_characters(text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}
