//! One worker's device: several jobs at once (`worker.concurrency`), and the memory guard
//! (`worker.device_memory_bytes`).

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::{asset, metric, post_job, Stack};

async fn job(stack: &Stack, id: &str) -> Value {
    let (status, body) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn running(body: &Value) -> bool {
    body["state"] == "running" && body["progress"]["iteration"].as_i64().unwrap_or(0) > 0
}

/// Waits until every job in `ids` runs and has made progress, seen in one round of polls.
async fn wait_until_all_running(stack: &Stack, ids: &[&str]) {
    let started = Instant::now();
    loop {
        let mut bodies = Vec::new();
        for id in ids {
            bodies.push(job(stack, id).await);
        }
        if bodies.iter().all(running) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not all running at once: {bodies:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_worker_runs_two_jobs_at_once_and_cancels_one_alone() {
    let mut stack = Stack::start_with(|s| s.worker.concurrency = 2).await;
    stack.start_worker("e2e-concurrent");
    // Each slot consumes on its own channel.
    stack.wait_for_workers(2).await;

    let first = stack.submit(json!({"size": 64, "iterations": 150})).await;
    let second = stack.submit(json!({"size": 64, "iterations": 150})).await;
    wait_until_all_running(&stack, &[&first, &second]).await;
    let metrics = stack.worker_metrics(0).await;
    assert_eq!(metric(&metrics, "stylize_worker_busy"), Some(2.0));
    for id in [&first, &second] {
        let seen = stack.wait_for_end(id, Duration::from_secs(120)).await;
        assert_eq!(seen.last().unwrap()["state"], "succeeded");
        let (attempts, worker) = stack.attempts_and_worker(id).await;
        assert_eq!((attempts, worker.as_deref()), (1, Some("e2e-concurrent")));
    }

    let canceled = stack.submit(json!({"size": 64, "iterations": 5000})).await;
    let kept = stack.submit(json!({"size": 64, "iterations": 300})).await;
    wait_until_all_running(&stack, &[&canceled, &kept]).await;
    assert_eq!(stack.cancel(&canceled).await.0, 202);
    let seen = stack.wait_for_end(&canceled, Duration::from_secs(30)).await;
    assert_eq!(seen.last().unwrap()["state"], "canceled");
    let before = job(&stack, &kept).await;
    assert!(running(&before), "{before}");
    let seen = stack.wait_for_end(&kept, Duration::from_secs(120)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "succeeded", "{last}");
    assert_eq!(last["progress"]["iteration"], 300);
    assert_eq!(stack.attempts_and_worker(&kept).await.0, 1);

    let states = stack
        .assert_settled(&[&first, &second, &canceled, &kept])
        .await;
    assert_eq!(states, ["succeeded", "succeeded", "canceled", "succeeded"]);
}

#[tokio::test]
async fn a_job_too_large_for_the_device_fails_at_once_with_its_need() {
    // Only the worker knows its device's memory (an api told of it refuses such a job
    // itself: the next test), so the job reaches the worker's own guard.
    let mut stack = Stack::start().await;
    stack.settings.worker.device_memory_bytes = 512 << 20;
    stack.start_worker("e2e-small-device");
    let large = stack
        .submit(json!({"size": 512, "iterations": 500, "scales": 1}))
        .await;
    let seen = stack.wait_for_end(&large, Duration::from_secs(60)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "failed", "{last}");
    assert_eq!(
        last["error"],
        "a 512 px job needs about 1.4 GiB of device memory; the device has 0.5 GiB"
    );
    assert!(
        seen.iter().all(|body| body["progress"].is_null()),
        "{seen:?}"
    );
    assert_eq!(stack.attempts_and_worker(&large).await.0, 1);

    let small = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let seen = stack.wait_for_end(&small, Duration::from_secs(60)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
}

#[tokio::test]
async fn the_api_refuses_a_size_no_worker_of_the_deployment_can_take() {
    let stack = Stack::start_with(|s| s.worker.device_memory_bytes = 512 << 20).await;
    let photo = asset("content/tubingen.jpg");
    let params = json!({"size": 512, "iterations": 500, "scales": 1});
    let response = post_job(&stack.client, &stack.base, photo, "great-wave", params)
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "params.size", "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail
            .contains("a 512 px job needs about 1.4 GiB of device memory; the device has 0.5 GiB"),
        "{detail}"
    );
    // Nothing was kept, and a size that fits is taken.
    let (_, page) = stack.get_json("/v1/jobs").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 0, "{page}");
    stack.submit(json!({"size": 64, "iterations": 5})).await;
}
