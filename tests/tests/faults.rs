//! Runs that fail, and workers that leave: nothing loops, nothing is lost.

use serde_json::json;
use std::time::Duration;
use stylize_e2e::{metric, Stack};
use stylize_shared::queue::JobQueue;

/// Private memory for a worker: room for the model (an idle worker holds about 0.7 GB)
/// and a small job, not for a 2048 px one, whose first two activations need 1.5 GB.
const SMALL_WORKER_MEMORY: u64 = 7 << 28;

#[tokio::test]
async fn an_engine_run_that_keeps_failing_ends_failed_after_the_retry_limit() {
    let mut stack = Stack::start().await;
    stack.start_worker_with_memory_limit("e2e-small", SMALL_WORKER_MEMORY);
    let big = stack.submit(json!({"size": 2048, "iterations": 5})).await;
    let seen = stack.wait_for_end(&big, Duration::from_secs(120)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "failed", "{last}");
    let error = last["error"].as_str().unwrap();
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    assert!(
        error.contains("allocate"),
        "libtorch's reason is kept: {error}"
    );
    assert_eq!(last["attempts"], 3);

    // Nothing is left to loop on, and the worker lived through it.
    let queue = JobQueue::connect(&stack.settings.amqp).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
    assert_eq!(queue.dead_letter_depth().await.unwrap(), 0);
    assert!(stack.worker_alive(0));
    let metrics = stack.worker_metrics(0).await;
    let runs = |outcome: &str| {
        metric(
            &metrics,
            &format!("stylize_worker_runs_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!((runs("retried"), runs("failed")), (Some(2.0), Some(1.0)));

    let small = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let seen = stack.wait_for_end(&small, Duration::from_secs(60)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
}

#[tokio::test]
async fn sigterm_hands_the_running_job_back_and_another_worker_finishes_it() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-leaving");
    let id = stack.submit(json!({"size": 64, "iterations": 300})).await;
    stack.wait_until_running(&id).await;

    let deadline = Duration::from_secs(stack.settings.worker.shutdown_deadline_seconds);
    let status = stack.terminate_worker(0, deadline).await;
    assert!(status.success(), "{status}");
    // Handed back at once, not left for its lease to run out.
    let (_, body) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(body["state"], "queued", "{body}");

    stack.start_worker("e2e-staying");
    let seen = stack.wait_for_end(&id, Duration::from_secs(120)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
    // The shutdown did not count against the job's attempts.
    assert_eq!(
        stack.attempts_and_worker(&id).await,
        (1, Some("e2e-staying".into()))
    );
}
