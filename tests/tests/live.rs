//! A running job, live: cancels reach its worker at once and always win, and its progress
//! has one shape in the status and in the event stream.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::Stack;

#[tokio::test]
async fn a_cancel_stops_a_running_job_at_once_and_shows_while_it_does() {
    // The heartbeat alone would take up to 5 s to see the request.
    let mut stack = Stack::start_with(|settings| {
        settings.worker.heartbeat_seconds = 5;
        settings.worker.lease_seconds = 15;
    })
    .await;
    stack.start_worker("e2e-cancel-notice");
    let id = stack.submit(json!({"size": 64, "iterations": 3000})).await;
    stack.wait_until_running(&id).await;

    let (status, view) = stack.cancel(&id).await;
    let asked = Instant::now();
    assert_eq!(status, 202, "{view}");
    assert_eq!(
        (view["state"].as_str(), view["cancel_requested"].as_bool()),
        (Some("running"), Some(true)),
        "{view}"
    );
    let seen = stack.wait_for_end(&id, Duration::from_secs(30)).await;
    let took = asked.elapsed();
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "canceled", "{last}");
    assert_eq!(last["cancel_requested"], true);
    assert!(
        took < Duration::from_millis(1500),
        "canceled after {took:?}"
    );
    assert!(seen
        .iter()
        .filter(|view| view["state"] == "running")
        .all(|view| view["cancel_requested"] == true));
    assert_ne!(stack.result_status(&id).await, 200);
    stack.assert_settled(&[&id]).await;
}

#[tokio::test]
async fn a_cancel_the_worker_was_not_told_of_is_found_at_its_heartbeat() {
    // As when Redis is away: the request is only in PostgreSQL.
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-cancel-heartbeat");
    let id = stack.submit(json!({"size": 64, "iterations": 3000})).await;
    stack.wait_until_running(&id).await;
    let pool = stylize_shared::db::connect(&stack.settings.database)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let (_, view) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(view["cancel_requested"], true, "{view}");
    // heartbeat_seconds is 1 in the test stack.
    let seen = stack.wait_for_end(&id, Duration::from_secs(5)).await;
    assert_eq!(seen.last().unwrap()["state"], "canceled");
    stack.assert_settled(&[&id]).await;
}

#[tokio::test]
async fn a_cancel_accepted_as_a_job_ends_is_never_followed_by_a_result() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-cancel-race");
    let total = 12;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(stack.submit(json!({"size": 64, "iterations": total})).await);
    }
    let mut accepted = 0;
    for id in &ids {
        // Cancel in the last iterations, when the run is as good as done.
        let started = Instant::now();
        loop {
            let (_, view) = stack.get_json(&format!("/v1/jobs/{id}")).await;
            let iteration = view["progress"]["iteration"].as_u64().unwrap_or(0);
            if iteration + 2 >= total || view["state"] == "succeeded" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{view}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, view) = stack.cancel(id).await;
        let seen = stack.wait_for_end(id, Duration::from_secs(30)).await;
        let state = seen.last().unwrap()["state"].clone();
        match status {
            202 => {
                accepted += 1;
                assert_eq!(state, "canceled", "a 202 ({view}) and then {state}");
                assert_ne!(stack.result_status(id).await, 200);
            }
            409 => assert_eq!(state, "succeeded"),
            other => panic!("cancel answered {other}: {view}"),
        }
    }
    assert!(accepted > 0, "every job ended before its cancel");
    stack.assert_settled(&ids).await;
}

/// Reads `/events` until the stream ends; returns each event's name and data.
async fn follow(stack: &Stack, id: &str) -> Vec<(String, Value)> {
    use futures_util::StreamExt;
    let response = stack
        .client
        .get(stack.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut body = response.bytes_stream();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await
    .expect("the stream ends with the job");
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let (event, data) = block.split_once('\n').unwrap();
            (
                event.strip_prefix("event: ").unwrap().to_owned(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn status_and_events_give_progress_one_shape_and_each_iteration_once() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-progress");
    let id = stack.submit(json!({"size": 64, "iterations": 60})).await;
    let (events, polled) = tokio::join!(
        follow(&stack, &id),
        stack.wait_for_end(&id, Duration::from_secs(120))
    );
    assert_eq!(polled.last().unwrap()["state"], "succeeded");

    let fields = |progress: &Value| {
        let mut names: Vec<String> = progress.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    let expected = [
        "elapsed_seconds",
        "eta_seconds",
        "fraction",
        "iteration",
        "loss",
        "phase",
        "preview_iteration",
        "scale",
        "scales",
        "total",
    ];
    let streamed: Vec<&Value> = events
        .iter()
        .filter(|(event, _)| event == "progress")
        .map(|(_, data)| data)
        .collect();
    let statuses: Vec<&Value> = polled
        .iter()
        .map(|view| &view["progress"])
        .filter(|progress| progress.is_object())
        .collect();
    assert!(!streamed.is_empty() && !statuses.is_empty());
    for progress in streamed.iter().chain(&statuses) {
        assert_eq!(fields(progress), expected, "{progress}");
        let fraction = progress["iteration"].as_f64().unwrap() / 60.0;
        assert!((progress["fraction"].as_f64().unwrap() - fraction).abs() < 1e-9);
    }
    // Previews are announced in both, and polling alone sees one.
    assert!(streamed.iter().any(|p| p["preview_iteration"].is_u64()));
    assert!(statuses.iter().any(|p| p["preview_iteration"].is_u64()));

    // A `progress` event never tells an iteration already told, by a `progress` event
    // or by the progress a `state` event carries.
    let mut told = 0;
    for (event, data) in &events {
        if event == "state" {
            told = told.max(data["progress"]["iteration"].as_u64().unwrap_or(0));
        } else {
            let iteration = data["iteration"].as_u64().unwrap();
            // Before the first iteration, iteration 0 tells the fast pass and its preview.
            assert!(
                iteration > told || iteration == 0 && told == 0,
                "{iteration} after {told}: {events:?}"
            );
            told = iteration;
        }
    }
    assert_eq!(told, 60);
}
