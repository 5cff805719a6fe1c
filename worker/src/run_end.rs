//! How a job's run on this worker ended, and what the job's row records of it.
//!
//! A run that fails in a way another attempt could get past (storage unreachable, a
//! libtorch error such as running out of device memory, a crash inside the engine) goes
//! back on the queue with its reason; one that cannot (undecodable input, invalid
//! parameters, a diverged optimisation) ends `failed` at once.

use stylize_core::job::JobState;
use stylize_engine::EngineError;

pub enum RunEnd {
    Succeeded,
    Failed(String),
    Canceled,
    /// Another attempt may succeed: back to the queue, counting this attempt.
    Retry(String),
    /// The worker is stopping: back to the queue, and the attempt does not count.
    HandBack,
}

impl RunEnd {
    /// The `outcome` label of the worker's run metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RunEnd::Succeeded => "succeeded",
            RunEnd::Failed(_) => "failed",
            RunEnd::Canceled => "canceled",
            RunEnd::Retry(_) => "retried",
            RunEnd::HandBack => "handed_back",
        }
    }

    /// The state the job's row moves to, and the reason it keeps.
    pub fn recorded_as(&self) -> (JobState, Option<&str>) {
        match self {
            RunEnd::Succeeded => (JobState::Succeeded, None),
            RunEnd::Failed(reason) => (JobState::Failed, Some(reason.as_str())),
            RunEnd::Canceled => (JobState::Canceled, None),
            RunEnd::Retry(reason) => (JobState::Queued, Some(reason.as_str())),
            RunEnd::HandBack => (JobState::Queued, None),
        }
    }

    /// A hand-back was the worker's doing, not the job's.
    pub fn charges_attempt(&self) -> bool {
        !matches!(self, RunEnd::HandBack)
    }

    /// The job goes back on the queue, and its message is sent again.
    pub fn requeues(&self) -> bool {
        matches!(self, RunEnd::Retry(_) | RunEnd::HandBack)
    }
}

/// How an engine error ends a run: a libtorch error may pass on another attempt (a
/// worker in trouble), except running out of memory, which the same settings would
/// only do again.
pub fn engine_failure(error: EngineError) -> RunEnd {
    match error {
        EngineError::Torch(_) => retried_unless_out_of_memory(reason(&error.to_string())),
        error => RunEnd::Failed(error.to_string()),
    }
}

/// How a crash of `what` (a panic on its thread, as libtorch's errors inside tch's
/// infallible calls are) ends a run: as a libtorch error does.
pub fn crash(what: &str, panic: impl std::fmt::Display) -> RunEnd {
    retried_unless_out_of_memory(reason(&format!("{what} crashed: {panic}")))
}

fn retried_unless_out_of_memory(reason: String) -> RunEnd {
    if is_out_of_memory(&reason) {
        RunEnd::Failed(format!(
            "out of memory at these settings (a smaller size fits): {reason}"
        ))
    } else {
        RunEnd::Retry(reason)
    }
}

/// Whether libtorch's message says memory ran out (CPU: "can't allocate memory";
/// CUDA: "CUDA out of memory").
fn is_out_of_memory(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "out of memory",
        "can't allocate memory",
        "cannot allocate memory",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// A failure as a job shows it: libtorch appends a C++ backtrace to its messages (which
/// the worker's log keeps), and that helps no one reading the job.
pub fn reason(message: &str) -> String {
    let end = ["\nframe #", "\\nframe #"]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    message[..end].chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::{is_out_of_memory, reason};

    #[test]
    fn running_out_of_memory_is_told_from_other_libtorch_errors() {
        assert!(is_out_of_memory(
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1073741824 bytes"
        ));
        assert!(is_out_of_memory(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.11 GiB total capacity)"
        ));
        assert!(!is_out_of_memory(
            "CUDA error: an illegal memory access was encountered"
        ));
    }

    #[test]
    fn reasons_drop_libtorchs_backtrace() {
        let message = "DefaultCPUAllocator: can't allocate memory\nframe #0: c10::alloc_cpu";
        assert_eq!(
            reason(message),
            "DefaultCPUAllocator: can't allocate memory"
        );
        let debug = format!("{:?}", message);
        assert_eq!(
            reason(&debug),
            "\"DefaultCPUAllocator: can't allocate memory"
        );
        assert_eq!(reason(&"x".repeat(900)).len(), 500);
    }
}
