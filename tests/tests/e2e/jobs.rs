//! Jobs end to end: the api, a worker process, PostgreSQL, RabbitMQ, Redis and Garage.

use serde_json::json;
use std::time::Duration;
use stylize_e2e::{asset, form, metric, Stack};

#[tokio::test]
async fn a_job_goes_from_submission_to_a_result() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-happy");
    let response = stack
        .client
        .post(stack.url("/v1/jobs"))
        .multipart(form::submission(
            asset("content/tubingen.jpg"),
            "starry-night",
            json!({"size": 64, "iterations": 30}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job: serde_json::Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/jobs/{id}"));
    assert_eq!(job["state"], "queued");
    assert_eq!(
        (job["width"].as_i64(), job["height"].as_i64()),
        (Some(64), Some(48))
    );

    let seen = stack.wait_for_end(&id, Duration::from_secs(120)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "succeeded", "{last}");
    assert!(last["finished_at"].is_string());

    // Progress seen while polling only ever rose.
    let iterations: Vec<i64> = seen
        .iter()
        .filter_map(|body| body["progress"]["iteration"].as_i64())
        .collect();
    assert!(
        iterations.windows(2).all(|w| w[0] <= w[1]),
        "{iterations:?}"
    );
    assert_eq!(last["progress"]["iteration"], 30);

    let result = stack
        .client
        .get(stack.url(&format!("/v1/jobs/{id}/result")))
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), 200);
    assert_eq!(result.headers()["content-type"], "image/png");
    let image = image::load_from_memory(&result.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (64, 48));
    let preview = stack
        .client
        .get(stack.url(&format!("/v1/jobs/{id}/preview")))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);

    // What Prometheus would scrape, from the api and from the worker.
    let metrics = stack
        .client
        .get(stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = [
        r#"stylize_http_requests_total{method="POST",route="/v1/jobs",status="202"}"#,
        r#"stylize_jobs{state="succeeded"}"#,
        r#"stylize_queue_ready_messages"#,
        r#"stylize_oldest_queued_job_age_seconds"#,
    ];
    let values: Vec<Option<f64>> = series.iter().map(|s| metric(&metrics, s)).collect();
    assert_eq!(
        values,
        [Some(1.0), Some(1.0), Some(0.0), Some(0.0)],
        "{metrics}"
    );
    let polls = metric(
        &metrics,
        r#"stylize_http_requests_total{method="GET",route="/v1/jobs/{id}",status="200"}"#,
    );
    assert_eq!(polls, Some(seen.len() as f64));
    assert!(metrics.contains(r#"stylize_http_request_duration_seconds_bucket{method="GET",route="/v1/jobs/{id}",le="0.005"}"#));

    let metrics = stack.worker_metrics(0).await;
    let series = [
        r#"stylize_worker_runs_total{outcome="succeeded"}"#,
        "stylize_worker_iterations_total",
        "stylize_worker_first_iteration_seconds_count",
        r#"stylize_worker_info{device="cpu",worker="e2e-happy"}"#,
        "stylize_worker_busy",
    ];
    let values: Vec<Option<f64>> = series.iter().map(|s| metric(&metrics, s)).collect();
    assert_eq!(
        values,
        [Some(1.0), Some(30.0), Some(1.0), Some(1.0), Some(0.0)],
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_requests_get_precise_problems_and_store_nothing() {
    let stack = Stack::start().await;
    let post = |body: reqwest::multipart::Form| {
        stack
            .client
            .post(stack.url("/v1/jobs"))
            .multipart(body)
            .send()
    };
    let photo = asset("content/tubingen.jpg");
    let params = json!({"size": 64, "iterations": 5});
    let mut huge_png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    huge_png.extend_from_slice(&100_000u32.to_be_bytes());
    huge_png.extend_from_slice(&100_000u32.to_be_bytes());
    huge_png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);

    use reqwest::multipart::Form;
    let cases: Vec<(Form, u16, &str)> = vec![
        (
            Form::new().text("preset", "starry-night"),
            400,
            "content image",
        ),
        (
            form::submission(b"hello, I am text".to_vec(), "starry-night", params.clone()),
            415,
            "unsupported image format",
        ),
        (
            form::submission(huge_png, "starry-night", params.clone()),
            422,
            "100000×100000",
        ),
        (
            form::submission(photo.clone(), "mona-lisa", params.clone()),
            400,
            "unknown preset",
        ),
        (
            form::submission(photo.clone(), "starry-night", json!({"iterations": -3})),
            400,
            "iterations",
        ),
        (
            form::submission(photo.clone(), "starry-night", json!({"iterations": 0})),
            400,
            "iterations",
        ),
        (
            form::submission(photo.clone(), "starry-night", json!({"colour": true})),
            400,
            "is not a parameter",
        ),
        (
            form::submission(photo.clone(), "starry-night", json!({"init": "image"})),
            400,
            "\"fast\"",
        ),
        (
            form::submission(photo.clone(), "starry-night", params.clone()).text("extra", "x"),
            400,
            "unknown form field",
        ),
        (
            Form::new().part(
                "content",
                form::file("big.jpg", vec![0xFF; 60 * 1024 * 1024]),
            ),
            413,
            "larger than",
        ),
    ];
    for (body, status, needle) in cases {
        let response = post(body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "expected {needle:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status);
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{needle:?} not in {problem}");
    }
    // Not a form at all (as `curl -d x=1` sends): said in this api's words.
    let response = stack
        .client
        .post(stack.url("/v1/jobs"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("multipart/form-data body (as curl -F sends it)"),
        "{problem}"
    );
    assert_eq!(stack.count_jobs().await, 0);

    let (status, problem) = stack
        .get_json("/v1/jobs/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!((status, problem["status"].as_i64()), (404, Some(404)));
    let (status, _) = stack.get_json("/v1/jobs/not-a-uuid").await;
    assert_eq!(status, 404);
    let (status, problem) = stack.get_json("/v1/nothing-here").await;
    assert_eq!(
        (status, problem["title"].as_str()),
        (404, Some("Not found"))
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_job() {
    let stack = Stack::start().await;
    let submit = || {
        stack
            .client
            .post(stack.url("/v1/jobs"))
            .header("Idempotency-Key", "order-42")
            .multipart(form::submission(
                asset("content/tubingen.jpg"),
                "the-scream",
                json!({"size": 64, "iterations": 5}),
            ))
            .send()
    };
    let first = submit().await.unwrap();
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let second = submit().await.unwrap();
    assert_eq!(second.status(), 200);
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(stack.count_jobs().await, 1);
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_the_worker_takes_the_next() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-cancel");
    let long = stack.submit(json!({"size": 64, "iterations": 5000})).await;
    stack.wait_until_running(&long).await;
    assert_eq!(stack.cancel(&long).await.0, 202);
    let seen = stack.wait_for_end(&long, Duration::from_secs(30)).await;
    assert_eq!(seen.last().unwrap()["state"], "canceled");
    assert_eq!(stack.cancel(&long).await.0, 409);
    assert_eq!(stack.result_status(&long).await, 410);

    let next = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let seen = stack.wait_for_end(&next, Duration::from_secs(60)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
}

#[tokio::test]
async fn a_queued_job_cancels_at_once_and_jobs_list_in_pages() {
    let stack = Stack::start().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(stack.submit(json!({"size": 64, "iterations": 5})).await);
    }
    let (status, body) = stack.cancel(&ids[0]).await;
    assert_eq!(status, 202);
    assert_eq!(body["state"], "canceled");

    let (status, page) = stack.get_json("/v1/jobs?limit=2").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[2].as_str(), ids[1].as_str()]);
    let (_, rest) = stack.get_json(page["next"].as_str().unwrap()).await;
    assert_eq!(rest["jobs"][0]["id"], ids[0]);
    // Query errors name their field and say what is expected, in plain words.
    for limit in ["0", "101", "-1", "abc", "", "1.5"] {
        let (status, problem) = stack.get_json(&format!("/v1/jobs?limit={limit}")).await;
        assert_eq!(status, 400, "limit={limit}");
        assert_eq!(problem["field"], "limit", "limit={limit}");
        assert_eq!(
            problem["detail"],
            format!("limit: must be a whole number from 1 to 100, got {limit:?}")
        );
    }
    let (status, problem) = stack.get_json("/v1/jobs?color=red").await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "color");
    assert_eq!(
        problem["detail"],
        "color: not a query parameter of this route; it takes limit and after"
    );
}

#[tokio::test]
async fn three_workers_share_nine_jobs_each_processed_once() {
    let mut stack = Stack::start().await;
    for name in ["e2e-a", "e2e-b", "e2e-c"] {
        stack.start_worker(name);
    }
    stack.wait_for_workers(3).await;
    let mut ids = Vec::new();
    for _ in 0..9 {
        ids.push(stack.submit(json!({"size": 64, "iterations": 40})).await);
    }
    let mut workers = std::collections::BTreeSet::new();
    for id in &ids {
        let seen = stack.wait_for_end(id, Duration::from_secs(240)).await;
        assert_eq!(seen.last().unwrap()["state"], "succeeded");
        let (attempts, worker) = stack.attempts_and_worker(id).await;
        assert_eq!(attempts, 1, "job {id} was processed more than once");
        workers.insert(worker.unwrap());
    }
    assert_eq!(workers.len(), 3, "only {workers:?} did work");
}

#[tokio::test]
async fn server_sent_events_follow_a_job_to_its_end() {
    use futures_util::StreamExt;
    let mut stack = Stack::start().await;
    let id = stack.submit(json!({"size": 64, "iterations": 200})).await;
    let response = stack
        .client
        .get(stack.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    stack.start_worker("e2e-events");

    let mut text = String::new();
    let mut body = response.bytes_stream();
    let read = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    });
    read.await.expect("the stream ends with the job");

    assert!(
        text.starts_with("retry: "),
        "the stream says when to come back"
    );
    let events = stylize_e2e::sse_events(&text);
    assert_eq!(events[0].0, "state");
    assert_eq!(events[0].1["state"], "queued");
    let (last_event, last) = events.last().unwrap();
    assert_eq!(
        (last_event.as_str(), last["state"].as_str()),
        ("state", Some("succeeded"))
    );
    let iterations: Vec<i64> = events
        .iter()
        .filter(|(event, _)| event == "progress")
        .map(|(_, data)| data["iteration"].as_i64().unwrap())
        .collect();
    assert!(iterations.len() > 3, "{iterations:?}");
    assert!(
        iterations.windows(2).all(|w| w[0] <= w[1]),
        "{iterations:?}"
    );
    assert_eq!(*iterations.last().unwrap(), 200);
    // The fast picture, stored as preview 0, is told before the first iteration.
    let progress = |(event, data): &(String, serde_json::Value)| match event.as_str() {
        "progress" => data.clone(),
        _ => data["progress"].clone(),
    };
    let first_iteration = events
        .iter()
        .position(|event| progress(event)["iteration"].as_i64().unwrap_or(0) >= 1)
        .unwrap();
    assert!(
        events[..first_iteration]
            .iter()
            .any(|event| progress(event)["preview_iteration"] == 0),
        "{:?}",
        &events[..first_iteration]
    );
}

#[tokio::test]
async fn workers_run_with_the_whole_configuration_of_their_stack() {
    // A setting only the worker applies (it writes the progress; the api reads it).
    let mut stack = Stack::start_with(|settings| settings.redis.progress_ttl_seconds = 300).await;
    stack.start_worker("e2e-configured");
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let seen = stack.wait_for_end(&id, Duration::from_secs(120)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
    let redis = redis::Client::open(stack.settings.redis.url.expose()).unwrap();
    let mut redis = redis.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("stylize:progress:{id}"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=300).contains(&ttl), "progress kept for {ttl} s");
}
