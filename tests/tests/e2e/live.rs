//! A running job, live: cancels reach its worker at once and always win, and its progress
//! has one shape in the status and in the event stream.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::Stack;

#[tokio::test]
async fn a_cancel_stops_a_running_job_at_once_and_shows_while_it_does() {
    // The heartbeat alone would take up to 20 s to see the request: well apart from
    // the bound below, however busy the machine.
    let mut stack = Stack::start_with(|settings| {
        settings.worker.heartbeat_seconds = 20;
        settings.worker.lease_seconds = 60;
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
    assert!(took < Duration::from_secs(5), "canceled after {took:?}");
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
    stylize_e2e::sse_events(&text)
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

/// Redis's count of connected clients.
async fn redis_clients(stack: &Stack) -> i64 {
    let client = redis::Client::open(stack.settings.redis.url.expose()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(&mut connection)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Opens one event stream of `path` with `cookie` (if any), returning its status and,
/// when it opened, the response to read on.
async fn open_stream(stack: &Stack, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = stack.client.get(stack.url(path));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap()
}

/// 2,000 streams on one job, held open against one api: Redis sees one subscription, not
/// 2,000; `/healthz` and a submission answer meanwhile; the caps per owner and in all
/// hold; a change of state reaches every stream, which then ends. Prints the memory per
/// stream and `/healthz`'s latencies (docs/benchmarks/service.md, "Event streams").
#[tokio::test]
async fn two_thousand_event_streams_cost_one_redis_connection_and_stay_bounded() {
    const STREAMS: usize = 2000;
    let stack = Stack::start_with(|settings| {
        settings.limits.max_event_streams_per_owner = STREAMS;
        settings.limits.max_event_streams = STREAMS + 50;
    })
    .await;
    // No worker: the job waits in the queue while it is followed.
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let path = format!("/v1/jobs/{id}/events");
    // Warm: one stream opened and closed, so the api's one subscription exists.
    drop(open_stream(&stack, &path, None).await);
    let redis_before = redis_clients(&stack).await;
    let memory_before = stylize_e2e::resident_bytes();
    let mut streams = Vec::with_capacity(STREAMS);
    for batch in 0..STREAMS / 100 {
        let opened =
            futures_util::future::join_all((0..100).map(|_| open_stream(&stack, &path, None)))
                .await;
        for response in opened {
            assert_eq!(response.status(), 200, "batch {batch}");
            streams.push(response);
        }
    }
    let per_stream = stylize_e2e::resident_bytes().saturating_sub(memory_before) / STREAMS as u64;
    let redis_after = redis_clients(&stack).await;

    // The owner's cap: one more of its streams is refused, and says why.
    let refused = open_stream(&stack, &path, None).await;
    assert_eq!(refused.status(), 429);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("its limit"),
        "{problem}"
    );
    // Another owner (a visitor) has room, up to the api's cap.
    let session = stack
        .client
        .post(stack.url("/v1/session"))
        .send()
        .await
        .unwrap();
    let cookie = session.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let visitors_job = {
        let response = stack
            .client
            .post(stack.url("/v1/jobs"))
            .header("Cookie", &cookie)
            .multipart(stylize_e2e::form::submission(
                stylize_e2e::asset("content/tubingen.jpg"),
                "udnie",
                json!({"size": 64}),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let visitors_path = format!("/v1/jobs/{visitors_job}/events");
    let mut visitor_streams = Vec::new();
    for _ in 0..50 {
        let response = open_stream(&stack, &visitors_path, Some(&cookie)).await;
        assert_eq!(response.status(), 200);
        visitor_streams.push(response);
    }
    let full = open_stream(&stack, &visitors_path, Some(&cookie)).await;
    assert_eq!(
        full.status(),
        429,
        "the api's cap of {} streams",
        STREAMS + 50
    );

    // Meanwhile the api answers.
    let mut health = Vec::new();
    for _ in 0..200 {
        let asked = Instant::now();
        let (status, _) = stack.get_json("/healthz").await;
        assert_eq!(status, 200);
        health.push(asked.elapsed());
    }
    health.sort();
    let submitted = Instant::now();
    let another = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let submission = submitted.elapsed();
    println!(
        "event streams: {STREAMS} open: {} KiB of the test process (client and api) each; \
         Redis clients {redis_before} -> {redis_after}; /healthz p50 {:?}, p99 {:?}; \
         a submission {submission:?}",
        per_stream / 1024,
        health[health.len() / 2],
        health[health.len() * 99 / 100],
    );
    assert!(
        redis_after <= redis_before + 2,
        "Redis clients {redis_before} -> {redis_after}"
    );
    assert!(per_stream < 256 * 1024, "{per_stream} bytes a stream");
    assert!(health[health.len() * 99 / 100] < Duration::from_secs(1));
    assert!(!another.is_empty());

    // A change of state reaches every stream, and each ends after it.
    assert_eq!(stack.cancel(&id).await.0, 202);
    let ended = futures_util::future::join_all(streams.into_iter().map(|response| async move {
        let body = tokio::time::timeout(Duration::from_secs(60), response.text())
            .await
            .expect("the stream ended after the terminal state")
            .unwrap();
        body.contains("\"state\":\"canceled\"")
    }))
    .await;
    assert!(ended.iter().all(|told| *told), "a stream missed the end");
    drop(visitor_streams);
    // Their slots are free again.
    let reopened = open_stream(&stack, &format!("/v1/jobs/{another}/events"), None).await;
    assert_eq!(reopened.status(), 200);
}

#[tokio::test]
async fn an_event_stream_ends_after_its_lifetime_and_tells_the_client_to_come_back() {
    let stack = Stack::start_with(|settings| settings.limits.event_stream_seconds = 2).await;
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let opened = Instant::now();
    let response = open_stream(&stack, &format!("/v1/jobs/{id}/events"), None).await;
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .expect("the stream ended")
        .unwrap();
    let lasted = opened.elapsed();
    assert!(body.starts_with("retry: 2000\nevent: state\n"), "{body}");
    assert!(body.contains("\"state\":\"queued\""), "{body}");
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(10)).contains(&lasted),
        "lasted {lasted:?}"
    );
}
