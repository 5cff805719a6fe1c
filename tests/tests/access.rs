//! API keys: each key sees only its own jobs, a revoked key is refused, and submissions
//! are limited per key.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stylize_e2e::{asset, form, Stack};

const ADMIN: &str = "admin-token-for-tests";

async fn keyed_stack(per_minute: u64, max_active: i64) -> Stack {
    Stack::start_with(|settings| {
        settings.auth.required = true;
        settings.auth.admin_token = ADMIN.into();
        settings.auth.submissions_per_minute = per_minute;
        settings.auth.max_active_jobs = max_active;
    })
    .await
}

/// A request with `key` as its bearer token (none when empty).
fn request(stack: &Stack, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    let builder = stack.client.request(method, stack.url(path));
    if key.is_empty() {
        builder
    } else {
        builder.bearer_auth(key)
    }
}

async fn new_key(stack: &Stack, name: &str) -> (String, String) {
    let response = request(stack, Method::POST, "/v1/admin/keys", ADMIN)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["key"].as_str().unwrap().to_owned(),
    )
}

async fn submit(stack: &Stack, key: &str) -> reqwest::Response {
    request(stack, Method::POST, "/v1/jobs", key)
        .multipart(form::submission(
            asset("content/tubingen.jpg"),
            "udnie",
            json!({"size": 64, "iterations": 5}),
        ))
        .send()
        .await
        .unwrap()
}

async fn status(stack: &Stack, method: Method, path: &str, key: &str) -> StatusCode {
    request(stack, method, path, key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_key_sees_only_its_own_jobs_and_a_revoked_key_is_refused() {
    let stack = keyed_stack(60, 10).await;
    let (a_id, a) = new_key(&stack, "a").await;
    let (_, b) = new_key(&stack, "b").await;
    let response = submit(&stack, &a).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let job = format!("/v1/jobs/{}", job["id"].as_str().unwrap());

    assert_eq!(status(&stack, Method::GET, &job, &a).await, StatusCode::OK);
    for (method, path) in [
        (Method::GET, job.clone()),
        (Method::GET, format!("{job}/result")),
        (Method::GET, format!("{job}/preview")),
        (Method::GET, format!("{job}/events")),
        (Method::POST, format!("{job}/cancel")),
    ] {
        assert_eq!(
            status(&stack, method, &path, &b).await,
            StatusCode::NOT_FOUND,
            "key b reached {path}"
        );
    }
    let listed = |key: String| {
        let stack = &stack;
        async move {
            let body: Value = request(stack, Method::GET, "/v1/jobs", &key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["jobs"].as_array().unwrap().len()
        }
    };
    assert_eq!((listed(a.clone()).await, listed(b.clone()).await), (1, 0));

    // No key, a made-up key, and a revoked key are all refused, in the problem shape.
    let response = request(&stack, Method::GET, &job, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    assert_eq!(
        status(&stack, Method::GET, &job, "sk_made_up").await,
        StatusCode::UNAUTHORIZED
    );
    let revoked = request(
        &stack,
        Method::DELETE,
        &format!("/v1/admin/keys/{a_id}"),
        ADMIN,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        status(&stack, Method::GET, &job, &a).await,
        StatusCode::UNAUTHORIZED
    );
    // The admin path wants the admin token, not a key.
    assert_eq!(
        status(&stack, Method::GET, "/v1/admin/keys", &b).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn submissions_are_limited_per_key_with_retry_after() {
    // Rates are counted in whole minutes: start early in one, so that the four
    // submissions below share it.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into_minute)).await;
    }
    let stack = keyed_stack(3, 2).await;
    let (_, key) = new_key(&stack, "busy").await;
    let (_, other) = new_key(&stack, "other").await;
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let response = submit(&stack, &key).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        jobs.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Two jobs queued: the key's quota of active jobs is full.
    let response = submit(&stack, &key).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "30");
    let problem: Value = response.json().await.unwrap();
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("2 jobs queued or running"));

    // With one canceled there is room, but this is the minute's fourth submission.
    let canceled = request(
        &stack,
        Method::POST,
        &format!("/v1/jobs/{}/cancel", jobs[0]),
        &key,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(canceled.status(), StatusCode::ACCEPTED);
    let response = submit(&stack, &key).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let problem: Value = response.json().await.unwrap();
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("3 jobs a minute"));

    // Another key is not held back by this one's limits.
    assert_eq!(submit(&stack, &other).await.status(), StatusCode::ACCEPTED);
}
