//! Chaos: runs that fail (or run out of memory), workers that die or leave, and each backing service going
//! away under a running system. Each test ends with every job it submitted in a
//! terminal state, a result for each that succeeded and for no other, and its workers
//! alive; nothing loops and nothing is lost.

use serde_json::json;
use std::time::{Duration, Instant};
use stylize_e2e::outage::{Outage, Service};
use stylize_e2e::{asset, metric, post_job, wait_until, Stack};
use stylize_shared::queue::JobQueue;

/// Private memory for a worker: room for the model (an idle worker holds about 0.7 GB)
/// and a small job, not for a 2048 px one, whose first two activations need 1.5 GB.
const SMALL_WORKER_MEMORY: u64 = 7 << 28;

#[tokio::test]
async fn a_run_out_of_memory_ends_failed_at_once_and_the_worker_lives() {
    let mut stack = Stack::start().await;
    stack.start_worker_with_memory_limit("e2e-small", SMALL_WORKER_MEMORY);
    let big = stack
        .submit(json!({"size": 2048, "iterations": 5, "scales": 1}))
        .await;
    let seen = stack.wait_for_end(&big, Duration::from_secs(120)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "failed", "{last}");
    let error = last["error"].as_str().unwrap();
    assert!(error.contains("out of memory"), "{error}");
    assert!(
        error.contains("allocate"),
        "libtorch's reason is kept: {error}"
    );
    // The same settings would run out again: not retried.
    assert_eq!(last["attempts"], 1);

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
    assert_eq!(
        (runs("retried").unwrap_or(0.0), runs("failed")),
        (0.0, Some(1.0))
    );

    let small = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let seen = stack.wait_for_end(&small, Duration::from_secs(60)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
}

#[tokio::test]
async fn a_run_past_its_time_limit_ends_failed_saying_so() {
    let mut stack = Stack::start_with(|settings| settings.worker.max_run_seconds = 3).await;
    stack.start_worker("e2e-slow");
    let slow = stack.submit(json!({"size": 64, "iterations": 10000})).await;
    let seen = stack.wait_for_end(&slow, Duration::from_secs(60)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "failed", "{last}");
    let error = last["error"].as_str().unwrap();
    assert!(error.contains("worker.max_run_seconds: 3 s"), "{error}");
    assert_eq!(last["attempts"], 1, "not retried: {last}");
    assert!(stack.worker_alive(0));
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

#[tokio::test]
async fn a_job_survives_its_worker_being_killed() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-doomed");
    let id = stack.submit(json!({"size": 64, "iterations": 300})).await;
    stack.wait_until_running(&id).await;
    stack.kill_worker(0);
    stack.start_worker("e2e-rescuer");
    // The lease (6 s in tests) runs out, the rescuer's reaper queues the job again.
    stack.wait_for_end(&id, Duration::from_secs(120)).await;
    assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    assert_eq!(
        stack.attempts_and_worker(&id).await,
        (2, Some("e2e-rescuer".into()))
    );
}

/// Posts a small job, answering the status code and the body.
async fn try_submit(stack: &Stack) -> (u16, serde_json::Value) {
    let response = post_job(
        &stack.client,
        &stack.base,
        asset("content/tubingen.jpg"),
        "great-wave",
        json!({"size": 64, "iterations": 20}),
    )
    .await
    .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("Retry-After");
    let body: serde_json::Value = response.json().await.unwrap();
    if status == 503 {
        assert!(retry_after, "a 503 says when to retry");
        assert_eq!(body["type"], "urn:stylize:problem:unavailable", "{body}");
    }
    (status, body)
}

#[tokio::test]
async fn a_rabbitmq_restart_loses_no_job_and_everything_reconnects_by_itself() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-steady");
    stack.wait_for_workers(1).await;
    let running = stack.submit(json!({"size": 64, "iterations": 400})).await;
    stack.wait_until_running(&running).await;
    // Waits in the queue (the only worker is busy) through the restart.
    let waiting = stack.submit(json!({"size": 64, "iterations": 20})).await;

    let outage = Outage::begin(Service::RabbitMq).await;
    let (status, body) = try_submit(&stack).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("job queue"),
        "{body}"
    );
    // Status answers from PostgreSQL, and the api stays in service.
    let (status, body) = stack.get_json(&format!("/v1/jobs/{running}")).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("running")));
    let (status, ready) = stack.get_json("/readyz").await;
    assert_eq!(
        (status, &ready["status"], &ready["queue"]),
        (200, &json!("degraded"), &json!(false))
    );
    outage.end().await;

    // No restart of the api or the worker: the next calls reconnect.
    let started = Instant::now();
    let after = loop {
        match try_submit(&stack).await {
            (202, body) => break body["id"].as_str().unwrap().to_owned(),
            (503, _) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            (status, body) => panic!("{status} {body} after RabbitMQ came back"),
        }
    };
    let ids = [running, waiting, after];
    for id in &ids {
        stack.wait_for_end(id, Duration::from_secs(120)).await;
    }
    assert_eq!(
        stack.assert_settled(&ids).await,
        ["succeeded", "succeeded", "succeeded"]
    );
    assert!(stack.worker_alive(0));
    let queue = JobQueue::connect(&stack.settings.amqp).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
    assert_eq!(queue.dead_letter_depth().await.unwrap(), 0);
}

#[tokio::test]
async fn a_redis_restart_keeps_status_answering_and_progress_resumes() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-steady");
    let id = stack.submit(json!({"size": 64, "iterations": 1500})).await;
    stack.wait_until_running(&id).await;

    let outage = Outage::begin(Service::Redis).await;
    let (status, body) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "running", "the row answers: {body}");
    assert_eq!(body["progress"], serde_json::Value::Null, "{body}");
    outage.end().await;

    // Redis came back empty: any progress now is the worker publishing again.
    let started = Instant::now();
    let resumed = loop {
        let (_, body) = stack.get_json(&format!("/v1/jobs/{id}")).await;
        if let Some(iteration) = body["progress"]["iteration"].as_u64() {
            break iteration;
        }
        assert_eq!(body["state"], "running", "progress never resumed: {body}");
        assert!(started.elapsed() < Duration::from_secs(30), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(resumed < 1500, "resumed mid-run, at {resumed}");
    stack.wait_for_end(&id, Duration::from_secs(300)).await;
    assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    assert!(stack.worker_alive(0));
}

#[tokio::test]
async fn a_short_s3_outage_is_ridden_out_without_spending_an_attempt() {
    let mut stack = Stack::start().await;
    let id = stack.submit(json!({"size": 64, "iterations": 20})).await;

    let outage = Outage::begin(Service::S3).await;
    let (status, body) = try_submit(&stack).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("storage"),
        "{body}"
    );
    // The worker takes the job and cannot read its inputs until S3 is back.
    stack.start_worker("e2e-patient");
    wait_until(Duration::from_secs(60), "claimed", || async {
        stack.attempts_and_worker(&id).await.0 > 0
    })
    .await;
    stack.wait_for_renewed_lease(&id).await;
    outage.end().await;

    stack.wait_for_end(&id, Duration::from_secs(120)).await;
    assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    assert_eq!(
        stack.attempts_and_worker(&id).await,
        (1, Some("e2e-patient".into()))
    );
}

#[tokio::test]
async fn an_s3_outage_that_lasts_fails_the_job_clearly_after_its_attempts() {
    let mut stack = Stack::start_with(|settings| {
        settings.worker.max_attempts = 2;
        settings.worker.storage_retry_seconds = 2;
    })
    .await;
    let id = stack.submit(json!({"size": 64, "iterations": 20})).await;

    let outage = Outage::begin(Service::S3).await;
    stack.start_worker("e2e-stranded");
    let seen = stack.wait_for_end(&id, Duration::from_secs(120)).await;
    outage.end().await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "failed", "{last}");
    let error = last["error"].as_str().unwrap();
    assert!(
        error.starts_with("gave up after 2 attempts; the last: S3 get"),
        "{error}"
    );
    assert_eq!(last["attempts"], 2);
    assert_eq!(stack.assert_settled(&[&id]).await, ["failed"]);
    assert!(stack.worker_alive(0));
    // The worker is none the worse: the next job runs.
    let next = stack.submit(json!({"size": 64, "iterations": 5})).await;
    stack.wait_for_end(&next, Duration::from_secs(60)).await;
    assert_eq!(stack.assert_settled(&[&next]).await, ["succeeded"]);
}

#[tokio::test]
async fn a_queued_job_whose_message_never_reached_rabbitmq_is_published_again() {
    let mut stack = Stack::start().await;
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    // What a publish lost with the broker leaves behind: the row queued and marked
    // unpublished, and no message.
    JobQueue::connect(&stack.settings.amqp)
        .await
        .unwrap()
        .delete()
        .await
        .unwrap();
    let pool = stylize_shared::db::connect(&stack.settings.database)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET published = FALSE WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();

    // A worker's reaper finds it and publishes it; the worker then runs it.
    stack.start_worker("e2e-reaper");
    stack.wait_for_end(&id, Duration::from_secs(60)).await;
    assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    // One message, one run.
    assert_eq!(
        stack.attempts_and_worker(&id).await,
        (1, Some("e2e-reaper".into()))
    );
}
