//! Keeping strangers out. Owners: each program's key, each page visitor (its own key in
//! a cookie) and the anonymous owner of an open deployment see only their own jobs; a
//! revoked key is refused; submissions are limited per key, per visitor and per address,
//! and the quota holds under a flood; the api will not serve the world with keys off. Image URLs: fetched, but never from an
//! internal address, directly or by a redirect. Metrics: on a port of their own when
//! configured, and then not on the public one.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stylize_e2e::{asset, binary, form, job_routes, Stack};

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

async fn submit(stack: &Stack, key: &str) -> reqwest::Response {
    stack
        .keyed(Method::POST, "/v1/jobs", key)
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
    stack
        .keyed(method, path, key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_key_sees_only_its_own_jobs_and_a_revoked_key_is_refused() {
    let stack = keyed_stack(60, 10).await;
    let (a_id, a) = stack.new_key(ADMIN, "a").await;
    let (_, b) = stack.new_key(ADMIN, "b").await;
    let response = submit(&stack, &a).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let job = format!("/v1/jobs/{id}");

    assert_eq!(status(&stack, Method::GET, &job, &a).await, StatusCode::OK);
    for (method, path) in job_routes(&id) {
        assert_eq!(
            status(&stack, method, &path, &b).await,
            StatusCode::NOT_FOUND,
            "key b reached {path}"
        );
    }
    let listed = |key: String| {
        let stack = &stack;
        async move {
            let body: Value = stack
                .keyed(Method::GET, "/v1/jobs", &key)
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
    let response = stack.keyed(Method::GET, &job, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    assert_eq!(
        status(&stack, Method::GET, &job, "sk_made_up").await,
        StatusCode::UNAUTHORIZED
    );
    // The queue's load is no more public than the jobs.
    assert_eq!(
        status(&stack, Method::GET, "/v1/queue", "").await,
        StatusCode::UNAUTHORIZED
    );
    let revoked = stack
        .keyed(Method::DELETE, &format!("/v1/admin/keys/{a_id}"), ADMIN)
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
    // A name PostgreSQL could not store (NUL) is the caller's mistake, said so.
    for name in ["a\u{0}b", "tab\there", " \u{85} "] {
        let response = stack
            .keyed(Method::POST, "/v1/admin/keys", ADMIN)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["field"], "name", "{name:?}: {problem}");
    }
}

#[tokio::test]
async fn submissions_are_limited_per_key_with_retry_after() {
    let stack = keyed_stack(3, 2).await;
    let (_, key) = stack.new_key(ADMIN, "busy").await;
    let (_, other) = stack.new_key(ADMIN, "other").await;
    // Rates are counted in whole minutes: start early in one, so that the four
    // submissions below share it. Aligned once the stack is ours, since waiting for
    // another test's turn may take minutes.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into_minute)).await;
    }
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
    let canceled = stack
        .keyed(Method::POST, &format!("/v1/jobs/{}/cancel", jobs[0]), &key)
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

/// A browser's visitor cookie (`name=value`) from `POST /v1/session`, sent with
/// `cookie` (its current one) if given.
async fn session(stack: &Stack, cookie: Option<&str>) -> reqwest::Response {
    let mut request = stack.client.post(stack.url("/v1/session"));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap()
}

fn cookie_pair(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// Whoever calls: a browser with its visitor cookie, a program with its key, or
/// nobody in particular (keys off).
enum Who {
    Visitor(String),
    Program(String),
    Anonymous,
}

impl Who {
    fn request(&self, stack: &Stack, method: Method, path: &str) -> reqwest::RequestBuilder {
        match self {
            Who::Visitor(cookie) => stack
                .client
                .request(method, stack.url(path))
                .header("Cookie", cookie),
            Who::Program(key) => stack.keyed(method, path, key),
            Who::Anonymous => stack.keyed(method, path, ""),
        }
    }

    async fn submit(&self, stack: &Stack) -> String {
        let response = self
            .request(stack, Method::POST, "/v1/jobs")
            .multipart(form::submission(
                asset("content/tubingen.jpg"),
                "udnie",
                json!({"size": 64, "iterations": 5}),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let job: Value = response.json().await.unwrap();
        job["id"].as_str().unwrap().to_owned()
    }

    async fn listed(&self, stack: &Stack) -> Vec<String> {
        let body: Value = self
            .request(stack, Method::GET, "/v1/jobs")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn each_visitor_key_and_the_anonymous_owner_reach_only_their_own_jobs() {
    let stack = Stack::start_with(|settings| {
        settings.auth.admin_token = ADMIN.into();
        settings.auth.secure_cookie = true;
        settings.auth.address_sessions_per_minute = 3;
    })
    .await;
    let response = session(&stack, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let attributes = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "stylize_key=sv_",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/v1",
        "Max-Age=",
    ] {
        assert!(
            attributes.contains(part),
            "{part} missing from {attributes}"
        );
    }
    let first = cookie_pair(&response);
    let second = cookie_pair(&session(&stack, None).await);
    assert_ne!(first, second, "two browsers share an identity");
    // A browser coming back keeps its identity (and mints none).
    assert_eq!(cookie_pair(&session(&stack, Some(&first)).await), first);

    let (_, a) = stack.new_key(ADMIN, "a").await;
    let (_, b) = stack.new_key(ADMIN, "b").await;
    let callers = [
        Who::Visitor(first.clone()),
        Who::Visitor(second),
        Who::Program(a),
        Who::Program(b),
        Who::Anonymous,
    ];
    let mut jobs = Vec::new();
    for caller in &callers {
        jobs.push(caller.submit(&stack).await);
    }
    for (owner, (caller, job)) in callers.iter().zip(&jobs).enumerate() {
        assert_eq!(
            caller.listed(&stack).await,
            std::slice::from_ref(job),
            "caller {owner} lists"
        );
        let own = caller.request(&stack, Method::GET, &format!("/v1/jobs/{job}"));
        assert_eq!(own.send().await.unwrap().status(), StatusCode::OK);
        for (other, stranger) in callers.iter().enumerate().filter(|(i, _)| *i != owner) {
            for (method, path) in job_routes(job) {
                let answer = stranger
                    .request(&stack, method, &path)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    answer.status(),
                    StatusCode::NOT_FOUND,
                    "caller {other} reached caller {owner}'s {path}"
                );
            }
        }
    }

    // A visitor has no webhook secret to read or rotate, no webhooks, and no admin path.
    let visitor = &callers[0];
    for (method, path) in [
        (Method::GET, "/v1/webhooks/secret"),
        (Method::POST, "/v1/webhooks/secret/rotate"),
    ] {
        let answer = visitor.request(&stack, method, path).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let with_webhook = visitor
        .request(&stack, Method::POST, "/v1/jobs")
        .multipart(
            form::submission(asset("content/tubingen.jpg"), "udnie", json!({"size": 64}))
                .text("webhook", "https://example.com/hook"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(with_webhook.status(), StatusCode::BAD_REQUEST);
    let problem: Value = with_webhook.json().await.unwrap();
    assert_eq!(problem["field"], "webhook", "{problem}");
    let keys = visitor.request(&stack, Method::GET, "/v1/admin/keys");
    assert_eq!(
        keys.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A cookie no visitor has is refused, not taken as the anonymous owner.
    let forged = Who::Visitor("stylize_key=sv_forged".into());
    let answer = forged.request(&stack, Method::GET, "/v1/jobs").send().await;
    assert_eq!(answer.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Identities minted from one address are limited (3 a minute here): with two made,
    // seven more in a row meet the limit whichever minute they fall in (at most two
    // windows, six identities).
    let mut refused = 0;
    for _ in 0..7 {
        let answer = session(&stack, None).await;
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
            refused += 1;
        } else {
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        }
    }
    assert!(refused >= 3, "{refused} of 7 refused");
    // The one coming back still keeps its own.
    assert_eq!(cookie_pair(&session(&stack, Some(&first)).await), first);
}

#[tokio::test]
async fn with_keys_on_a_visitor_gets_in_with_its_limits_and_nobody_else_does() {
    let stack = Stack::start_with(|settings| {
        settings.auth.required = true;
        settings.auth.visitor_max_active_jobs = 2;
        settings.auth.visitor_submissions_per_minute = 100;
    })
    .await;
    let visitor = Who::Visitor(cookie_pair(&session(&stack, None).await));
    visitor.submit(&stack).await;
    visitor.submit(&stack).await;
    let third = visitor
        .request(&stack, Method::POST, "/v1/jobs")
        .multipart(form::submission(
            asset("content/tubingen.jpg"),
            "udnie",
            json!({"size": 64}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let problem: Value = third.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("this visitor has 2 jobs"),
        "{problem}"
    );
    let nobody = Who::Anonymous.request(&stack, Method::GET, "/v1/jobs");
    assert_eq!(
        nobody.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sixty_parallel_submissions_against_a_quota_of_ten_take_exactly_ten() {
    let stack = keyed_stack(1000, 10).await;
    let (_, key) = stack.new_key(ADMIN, "flood").await;
    let answers = futures_util::future::join_all((0..60).map(|_| submit(&stack, &key))).await;
    let count = |status| answers.iter().filter(|a| a.status() == status).count();
    assert_eq!(count(StatusCode::ACCEPTED), 10);
    assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), 50);
    let body: Value = stack
        .keyed(Method::GET, "/v1/jobs?limit=100", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["jobs"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_api_refuses_to_serve_beyond_loopback_with_keys_off_unless_told() {
    let _turn = stylize_e2e::services_turn().await;
    let run = |variables: &[(&str, &str)]| {
        let mut command = std::process::Command::new(binary("stylize-api"));
        for (variable, _) in std::env::vars_os() {
            if variable.to_string_lossy().starts_with("STYLIZE__") {
                command.env_remove(variable);
            }
        }
        command
            .env("STYLIZE__HTTP__HOST", "0.0.0.0")
            .env("STYLIZE__HTTP__PORT", "0")
            .envs(variables.iter().copied())
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("refusing to serve on 0.0.0.0 with API keys off")
            && said.contains("STYLIZE__AUTH__OPEN=true"),
        "{said}"
    );
    // Opened on purpose, the development secrets are the next refusal.
    let refused = run(&[("STYLIZE__AUTH__OPEN", "true")]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("STYLIZE__S3__SECRET_KEY"), "{said}");
}

#[tokio::test]
async fn metrics_can_move_off_the_public_port() {
    let stack = Stack::start_with(|settings| {
        settings.http.metrics_address = "127.0.0.1:0".into();
    })
    .await;
    let (health, _) = stack.get_json("/healthz").await;
    assert_eq!(health, 200);

    let (public, problem) = stack.get_json("/metrics").await;
    assert_eq!(public, 404);
    assert_eq!(
        problem["type"], "urn:stylize:problem:not-found",
        "{problem}"
    );

    assert_ne!(stack.api_metrics, stack.url("/metrics"));
    let scraped = stack.client.get(&stack.api_metrics).send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    // The public port's requests are counted and shown on the metrics port.
    assert!(
        text.contains(
            r#"stylize_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("stylize_jobs{state=\"queued\"} 0"), "{text}");
}

/// An image host for the URL tests, on 127.0.0.2 (loopback, so internal: the stack is
/// told to trust exactly that address, as an operator would trust an internal store).
async fn image_origin() -> String {
    use actix_web::{web, App, HttpResponse, HttpServer};
    #[derive(serde::Deserialize)]
    struct Target {
        to: String,
    }
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/photo.jpg",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("image/jpeg")
                        .body(asset("content/tubingen.jpg"))
                }),
            )
            .route(
                "/notes.txt",
                web::get().to(|| async { HttpResponse::Ok().body("not an image") }),
            )
            .route(
                "/huge.jpg",
                web::get().to(|| async { HttpResponse::Ok().body(vec![0u8; 40 << 20]) }),
            )
            .route(
                "/slow.jpg",
                web::get().to(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    HttpResponse::Ok().body(asset("content/tubingen.jpg"))
                }),
            )
            .route(
                "/redirect",
                web::get().to(|target: web::Query<Target>| async move {
                    HttpResponse::Found()
                        .insert_header(("Location", target.to.clone()))
                        .finish()
                }),
            )
    })
    .workers(1)
    .bind(("127.0.0.2", 0))
    .unwrap();
    let address = server.addrs()[0];
    tokio::spawn(server.run());
    format!("http://{address}")
}

/// Submits the content image by URL; answers the status and the body.
async fn submit_url(stack: &Stack, url: &str) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("content_url", url.to_owned())
        .text("preset", "great-wave")
        .text("params", json!({"size": 64, "iterations": 5}).to_string());
    stack.post_form(form).await
}

#[tokio::test]
async fn image_urls_are_fetched_but_never_from_internal_addresses() {
    let origin = image_origin().await;
    let mut stack = Stack::start_with(|settings| {
        settings.fetch.allowed_networks = vec!["127.0.0.2/32".into()];
        settings.fetch.timeout_seconds = 2;
    })
    .await;
    let api_port = stack.base.rsplit(':').next().unwrap().to_owned();

    // Fetched and run, also through a redirect that stays on the trusted host.
    stack.start_worker("e2e-urls");
    let photo = format!("{origin}/photo.jpg");
    for url in [photo.clone(), format!("{origin}/redirect?to={photo}")] {
        let (status, job) = submit_url(&stack, &url).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{url}: {job}");
        assert_eq!(
            (job["width"].as_i64(), job["height"].as_i64()),
            (Some(64), Some(48))
        );
        let id = job["id"].as_str().unwrap().to_owned();
        stack
            .wait_for_end(&id, std::time::Duration::from_secs(60))
            .await;
        assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    }

    // Internal addresses, named directly, by DNS, or by a redirect from the trusted
    // host: refused before any connection is made to them.
    let internal = [
        format!("http://127.0.0.1:{api_port}/v1/jobs"),
        "http://10.0.0.1/photo.jpg".to_owned(),
        "http://172.16.5.4/photo.jpg".to_owned(),
        "http://192.168.1.1/photo.jpg".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{api_port}/photo.jpg"),
        "http://[::ffff:127.0.0.1]/photo.jpg".to_owned(),
        "http://[::ffff:0:7f00:1]/photo.jpg".to_owned(),
        "http://[2002:7f00:1::]/photo.jpg".to_owned(),
        "http://0x7f000001/photo.jpg".to_owned(),
        format!("http://localhost:{api_port}/photo.jpg"),
    ];
    let redirects = internal
        .iter()
        .map(|target| format!("{origin}/redirect?to={target}"));
    let others = [
        "file:///etc/passwd".to_owned(),
        "ftp://example.com/photo.jpg".to_owned(),
        "not a url".to_owned(),
    ];
    for url in internal.iter().cloned().chain(redirects).chain(others) {
        let (status, problem) = submit_url(&stack, &url).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
        assert_eq!(
            problem["type"], "urn:stylize:problem:url-refused",
            "{url}: {problem}"
        );
        assert_eq!(problem["field"], "content_url");
        if url.contains("/redirect?") {
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("redirect"), "{url}: {detail}");
        }
    }

    // What the trusted host serves is still checked like an upload, within limits.
    let failures = [
        (
            "/missing.jpg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "url-fetch-failed",
            "404",
        ),
        (
            "/slow.jpg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "url-fetch-failed",
            "within 2 s",
        ),
        (
            "/notes.txt",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-image-format",
            "",
        ),
        (
            "/huge.jpg",
            StatusCode::PAYLOAD_TOO_LARGE,
            "image-too-large",
            "limit",
        ),
    ];
    for (path, expected, kind, words) in failures {
        let (status, problem) = submit_url(&stack, &format!("{origin}{path}")).await;
        assert_eq!(status, expected, "{path}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:stylize:problem:{kind}"),
            "{problem}"
        );
        assert_eq!(problem["field"], "content_url");
        assert!(
            problem["detail"].as_str().unwrap().contains(words),
            "{problem}"
        );
    }
    // Only the two good submissions became jobs.
    assert_eq!(stack.count_jobs().await, 2);
}
