//! `Prefer: wait=N` on `POST /v1/jobs`: a job that ends within N seconds is answered
//! `201` with its result at once, a longer one `202` at the deadline, and a malformed
//! wait `400`. And a queued job's place: its position among the queued jobs and an
//! estimated start, in its status and its first `state` event.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::{asset, form, Stack};

/// `POST /v1/jobs` of tubingen × the Great Wave with `params` and a `Prefer` header: the
/// status, the `Preference-Applied` header and the body.
async fn submit_preferring(
    stack: &Stack,
    prefer: &str,
    params: Value,
) -> (u16, Option<String>, Value) {
    let response = stack
        .client
        .post(stack.url("/v1/jobs"))
        .header("Prefer", prefer)
        .multipart(form::submission(
            asset("content/tubingen.jpg"),
            "great-wave",
            params,
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let applied = response
        .headers()
        .get("Preference-Applied")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, applied, response.json().await.unwrap())
}

async fn job(stack: &Stack, id: &str) -> Value {
    let (status, body) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_fast_job_is_answered_finished_and_a_long_one_at_the_deadline() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-waiting");
    stack.wait_for_workers(1).await;

    let sent = Instant::now();
    let (status, applied, done) =
        submit_preferring(&stack, "wait=10", json!({"mode": "fast", "size": 64})).await;
    let answered = sent.elapsed();
    assert_eq!(status, 201, "{done}");
    assert_eq!(applied.as_deref(), Some("wait=10"));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done["finished_at"].is_string(), "{done}");
    // Heard from the worker, before the 10 s deadline where the row is read again. (How
    // much sooner depends on the machine's load: a bound tighter than the deadline's
    // would race it.)
    assert!(answered < Duration::from_secs(9), "{answered:?}");
    println!("a fast job at 64 px, answered finished in {answered:?}");
    let result = done["links"]["result"].as_str().unwrap();
    let response = stack.client.get(stack.url(result)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().starts_with(b"\x89PNG"));

    let sent = Instant::now();
    let (status, applied, long) = submit_preferring(
        &stack,
        "respond-async, wait=1",
        json!({"size": 64, "iterations": 5000}),
    )
    .await;
    let answered = sent.elapsed();
    assert_eq!(status, 202, "{long}");
    assert_eq!(applied.as_deref(), Some("wait=1"));
    assert!(
        ["queued", "running"].contains(&long["state"].as_str().unwrap()),
        "{long}"
    );
    assert!(
        answered >= Duration::from_millis(900) && answered < Duration::from_secs(4),
        "a wait of 1 s answered after {answered:?}"
    );
    let id = long["id"].as_str().unwrap();
    assert_eq!(stack.cancel(id).await.0, 202);
    stack.wait_for_end(id, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_malformed_or_out_of_range_wait_is_refused_before_the_body_is_read() {
    let stack = Stack::start().await;
    for prefer in ["wait=0", "wait=61", "wait=-1", "wait=abc", "wait= ", "wait"] {
        let (status, applied, problem) =
            submit_preferring(&stack, prefer, json!({"mode": "fast", "size": 64})).await;
        assert_eq!(status, 400, "{prefer}: {problem}");
        assert_eq!(applied, None);
        assert_eq!(
            problem["type"], "urn:stylize:problem:bad-request",
            "{problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("Prefer: wait must be a whole number of seconds from 1 to 60"),
            "{prefer}: {detail}"
        );
    }
    assert_eq!(stack.count_jobs().await, 0);
}

#[tokio::test]
async fn queued_jobs_show_their_position_and_move_up() {
    // No worker: every job stays queued, and nothing tells when one would start.
    let stack = Stack::start().await;
    let params = json!({"size": 64, "iterations": 10});
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(stack.submit(params.clone()).await);
    }
    for (id, position) in ids.iter().zip(1..) {
        let view = job(&stack, id).await;
        assert_eq!(view["state"], "queued", "{view}");
        assert_eq!(view["queue_position"], position, "{view}");
        assert!(view["estimated_start_at"].is_null(), "{view}");
    }

    assert_eq!(stack.cancel(&ids[0]).await.0, 202);
    let canceled = job(&stack, &ids[0]).await;
    assert!(canceled["queue_position"].is_null(), "{canceled}");
    assert_eq!(job(&stack, &ids[1]).await["queue_position"], 1);
    assert_eq!(job(&stack, &ids[2]).await["queue_position"], 2);

    // The first `state` event shows it too.
    let mut events = stack
        .client
        .get(stack.url(&format!("/v1/jobs/{}/events", ids[2])))
        .send()
        .await
        .unwrap();
    let first = String::from_utf8(events.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.starts_with("retry: 2000\nevent: state\n"), "{first}");
    assert!(first.contains(r#""queue_position":2"#), "{first}");
}

#[tokio::test]
async fn a_running_job_has_no_position_and_the_one_behind_it_an_estimated_start() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-position");
    stack.wait_for_workers(1).await;
    // A job finished, so the last hour has a mean run time.
    let (status, _, done) =
        submit_preferring(&stack, "wait=10", json!({"mode": "fast", "size": 64})).await;
    assert_eq!(status, 201, "{done}");

    let long = stack.submit(json!({"size": 64, "iterations": 5000})).await;
    stack.wait_until_running(&long).await;
    let waiting = stack.submit(json!({"size": 64, "iterations": 10})).await;
    let running = job(&stack, &long).await;
    assert_eq!(running["state"], "running", "{running}");
    assert!(running["queue_position"].is_null(), "{running}");
    assert!(running["estimated_start_at"].is_null(), "{running}");

    // The queue's figures are kept a second, and the worker reports every few.
    let started = Instant::now();
    let queued = loop {
        let view = job(&stack, &waiting).await;
        assert_eq!(view["state"], "queued", "{view}");
        assert_eq!(view["queue_position"], 1, "{view}");
        if view["estimated_start_at"].is_string() {
            break view;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no estimate: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Behind one running job on a worker of capacity 1: at most one mean run (the fast
    // job's, well under a minute) from now.
    let (_, queue) = stack.get_json("/v1/queue").await;
    assert_eq!(queue["throughput"]["succeeded"], 1, "{queue}");
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(queued[field].as_str().unwrap()).unwrap()
    };
    let estimated = time("estimated_start_at");
    assert!(estimated >= time("created_at"), "{queued}");
    assert!(
        estimated < chrono::Utc::now() + chrono::Duration::seconds(60),
        "{queued}"
    );

    for id in [&waiting, &long] {
        assert_eq!(stack.cancel(id).await.0, 202);
        stack.wait_for_end(id, Duration::from_secs(30)).await;
    }
}
