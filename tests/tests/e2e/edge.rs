//! The HTTP edge: methods and paths answered in the problem shape (`405` with `Allow`,
//! `404`, `HEAD`), made-up methods counted under one label, state changes refused from
//! other sites' pages, errors without internals or long echoes, and the image routes of
//! jobs that ended without an image.

use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use stylize_e2e::{asset, form, Stack};

/// The problem an error answer carries, once its media type is checked.
async fn problem(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{} {}",
        response.url(),
        response.status()
    );
    response.json().await.unwrap()
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// A small job's submission.
fn submission() -> Form {
    form::submission(
        asset("content/tubingen.jpg"),
        "udnie",
        json!({"size": 64, "iterations": 5}),
    )
}

#[tokio::test]
async fn methods_and_paths_answer_in_the_problem_shape() {
    let stack = Stack::start().await;
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let send = |name: &str, path: &str| stack.client.request(method(name), stack.url(path)).send();

    // A path the api has, with a method it does not take: 405, naming those it does.
    let cancel = format!("/v1/jobs/{id}/cancel");
    for (name, path, allowed) in [
        ("PUT", "/v1/jobs", "GET, HEAD, POST"),
        ("DELETE", "/v1/styles", "GET, HEAD"),
        ("POST", "/v1/queue", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("GET", cancel.as_str(), "POST"),
    ] {
        let response = send(name, path).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{name} {path}"
        );
        let mut allow: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(String::from)
            .collect();
        allow.sort();
        assert_eq!(allow.join(", "), allowed, "{name} {path}");
        let problem = problem(response).await;
        assert_eq!(problem["type"], "urn:stylize:problem:method-not-allowed");
        assert_eq!(problem["status"], 405);
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "{problem}"
        );
    }

    // A path it does not have is a 404 whatever the method; the page's files are read
    // only.
    for (name, path) in [
        ("PUT", "/nope"),
        ("DELETE", "/v1/nothing"),
        ("PATCH", "/index.html"),
        ("GET", "/nope"),
    ] {
        let response = send(name, path).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name} {path}");
        assert_eq!(
            problem(response).await["type"],
            "urn:stylize:problem:not-found"
        );
    }

    // What the static files refuse on their own (a hidden file) is in the same shape.
    let response = send("GET", "/.env").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["type"], "urn:stylize:problem:http");
}

#[tokio::test]
async fn head_answers_as_get_does_without_the_body() {
    let stack = Stack::start().await;
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    let get = stack
        .client
        .get(stack.url("/v1/styles"))
        .send()
        .await
        .unwrap();
    let listed = get.bytes().await.unwrap();
    let head = stack
        .client
        .head(stack.url("/v1/styles"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "application/json");
    assert_eq!(
        head.headers()["content-length"],
        listed.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());

    for (path, status) in [
        ("/healthz".to_owned(), StatusCode::OK),
        (format!("/v1/jobs/{id}"), StatusCode::OK),
        ("/v1/jobs".to_owned(), StatusCode::OK),
        (format!("/v1/jobs/{id}/result"), StatusCode::CONFLICT),
        (
            "/v1/jobs/00000000-0000-0000-0000-000000000000".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        ("/nope".to_owned(), StatusCode::NOT_FOUND),
    ] {
        let response = stack.client.head(stack.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), status, "HEAD {path}");
        assert!(response.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }

    // The event stream of a queued job never ends by itself: a HEAD gets its headers and
    // the connection is free for the next request.
    let events = stack
        .client
        .head(stack.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        stack.client.get(stack.url("/healthz")).send(),
    )
    .await
    .expect("the connection is free after a HEAD of the event stream")
    .unwrap();
    assert_eq!(next.status(), StatusCode::OK);
}

/// The `/metrics` series of HTTP requests: how many, and the text.
async fn http_series(stack: &Stack) -> (usize, String) {
    let text = stack
        .client
        .get(&stack.api_metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = text
        .lines()
        .filter(|line| line.starts_with("stylize_http_"))
        .count();
    (count, text)
}

#[tokio::test]
async fn made_up_methods_add_no_metric_series() {
    let stack = Stack::start().await;
    let probe = |numbers: std::ops::RangeInclusive<u32>| {
        let stack = &stack;
        async move {
            for n in numbers {
                for path in ["/x", "/v1/jobs"] {
                    let response = stack
                        .client
                        .request(method(&format!("PROBEX{n}")), stack.url(path))
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_client_error());
                }
            }
        }
    };
    http_series(&stack).await;
    probe(1..=3).await;
    let (before, _) = http_series(&stack).await;
    probe(4..=12).await;
    let (after, text) = http_series(&stack).await;
    assert_eq!(before, after, "{text}");
    assert!(!text.contains("PROBEX"), "{text}");
    for series in [
        r#"stylize_http_requests_total{method="other",route="/v1/jobs",status="405"} 12"#,
        r#"stylize_http_requests_total{method="other",route="unmatched",status="404"} 12"#,
    ] {
        assert!(text.contains(series), "{series} missing from {text}");
    }
}

#[tokio::test]
async fn other_sites_pages_may_not_change_anything_without_a_key() {
    let stack = Stack::start_with(|settings| {
        settings.http.allowed_origins = vec!["https://app.example".into()];
    })
    .await;
    let own = stack.base.clone();
    let post = |path: &str, body: Form, headers: &[(&str, &str)]| {
        let mut request = stack.client.post(stack.url(path)).multipart(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    // A browser says where the page that sent it is; refused before the body is read.
    let tiny = || Form::new().text("preset", "udnie");
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let response = post("/v1/jobs", tiny(), &headers).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        let problem = problem(response).await;
        assert_eq!(problem["type"], "urn:stylize:problem:cross-site-refused");
    }
    assert_eq!(stack.count_jobs().await, 0);

    // Programs send neither header; the api's own page, an allowed origin and any
    // request with a key pass.
    for headers in [
        vec![],
        vec![("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
        vec![
            ("origin", "https://app.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    ] {
        let response = post("/v1/jobs", submission(), &headers).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{headers:?}");
    }
    assert_eq!(stack.count_jobs().await, 3);
    // A request with a key passes the guard, to be judged by its key (made up: 401).
    let keyed = [
        ("origin", "https://evil.example"),
        ("authorization", "Bearer sk_made_up"),
    ];
    let response = post("/v1/jobs", submission(), &keyed).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Cancel and the session too; reading is not refused.
    let (_, page) = stack.get_json("/v1/jobs").await;
    let id = page["jobs"][0]["id"].as_str().unwrap().to_owned();
    let evil = [("origin", "https://evil.example")];
    for path in [format!("/v1/jobs/{id}/cancel"), "/v1/session".into()] {
        let response = post(&path, Form::new(), &evil).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let read = stack
        .client
        .get(stack.url(&format!("/v1/jobs/{id}")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    let job: Value = read.json().await.unwrap();
    assert_eq!(job["state"], "queued");
    let cancel = post(
        &format!("/v1/jobs/{id}/cancel"),
        Form::new(),
        &[("origin", own.as_str())],
    );
    assert_eq!(cancel.await.unwrap().status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn errors_tell_no_internals_and_cut_long_inputs_short() {
    let stack = Stack::start_with(|settings| {
        settings.fetch.allowed_networks = vec!["127.0.0.2/32".into()];
    })
    .await;
    let post = |body: Form| {
        stack
            .client
            .post(stack.url("/v1/jobs"))
            .multipart(body)
            .send()
    };
    let params = json!({"size": 64, "iterations": 5});

    // A PNG whose header chunk fails its checksum: the decoder's own words name its
    // internals.
    let mut broken_png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    broken_png.extend_from_slice(&64u32.to_be_bytes());
    broken_png.extend_from_slice(&48u32.to_be_bytes());
    broken_png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    broken_png.extend_from_slice(b"\0\0\0\0IEND\xae\x42\x60\x82");
    let response = post(form::submission(broken_png, "udnie", params.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = problem(response).await["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !detail.contains('{') && !detail.contains("Chunk"),
        "{detail}"
    );

    // A URL on a trusted host whose port is closed: which socket error it was stays in
    // the log.
    let closed = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let form = Form::new()
        .text("content_url", format!("http://127.0.0.2:{port}/photo.jpg"))
        .text("preset", "udnie")
        .text("params", params.to_string());
    let response = post(form).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem_body = problem(response).await;
    assert_eq!(problem_body["type"], "urn:stylize:problem:url-fetch-failed");
    let detail = problem_body["detail"].as_str().unwrap();
    assert!(detail.contains("could not fetch"), "{detail}");
    for internal in ["error", "refused", "tcp"] {
        assert!(!detail.contains(internal), "{detail}");
    }

    // An unknown id comes back as given, not as the extractor's debug form.
    let (status, body) = stack.get_json("/v1/styles/nope/thumbnail").await;
    assert_eq!(status, 404);
    assert_eq!(body["detail"], r#"no style "nope" here"#);

    // Huge inputs are echoed cut short.
    let huge = "x".repeat(5000);
    let cases = [
        post(form::submission(
            asset("content/tubingen.jpg"),
            &huge,
            params.clone(),
        ))
        .await
        .unwrap(),
        post(Form::new().text(huge.clone(), "1")).await.unwrap(),
        stack
            .client
            .get(stack.url(&format!("/v1/jobs/{huge}")))
            .send()
            .await
            .unwrap(),
        stack
            .client
            .get(stack.url(&format!("/v1/jobs?{huge}=1")))
            .send()
            .await
            .unwrap(),
    ];
    for response in cases {
        let url = response.url().path().chars().take(20).collect::<String>();
        let problem = problem(response).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.chars().count() < 300, "{url}: {detail}");
        assert!(detail.contains("xxx…"), "{url}: {detail}");
    }
    // Parameters quoted in their errors: an unknown key, an unknown layer.
    for params in [
        json!({ huge.clone(): 1 }),
        json!({"style_layers": [huge.clone()]}),
    ] {
        let response = post(form::submission(
            asset("content/tubingen.jpg"),
            "udnie",
            params,
        ))
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let problem = problem(response).await;
        let (field, detail) = (
            problem["field"].as_str().unwrap(),
            problem["detail"].as_str().unwrap(),
        );
        assert!(field.chars().count() <= 65, "{field}");
        assert!(detail.chars().count() < 500, "{detail}");
        assert!(detail.contains("xxx…"), "{detail}");
    }
    assert_eq!(stack.count_jobs().await, 0);
}

#[tokio::test]
async fn ended_jobs_say_they_have_no_image_and_show_the_preview_they_have() {
    let stack = Stack::start().await;
    let params = json!({"size": 64, "iterations": 5});
    let queued = stack.submit(params.clone()).await;
    let canceled = stack.submit(params.clone()).await;
    let failed = stack.submit(params).await;
    assert_eq!(stack.cancel(&canceled).await.0, 202);
    let pool = stylize_shared::db::connect(&stack.settings.database)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE jobs SET state = 'failed', error = 'failed by the test', finished_at = now() \
         WHERE id = $1",
    )
    .bind(failed.parse::<uuid::Uuid>().unwrap())
    .execute(&pool)
    .await
    .unwrap();

    let image = |id: &str, which: &str| {
        stack
            .client
            .get(stack.url(&format!("/v1/jobs/{id}/{which}")))
            .send()
    };
    for which in ["result", "preview"] {
        let response = image(&queued, which).await.unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT, "{which}");
        assert_eq!(
            problem(response).await["type"],
            "urn:stylize:problem:not-ready"
        );
        for (id, state) in [(&canceled, "canceled"), (&failed, "failed")] {
            let response = image(id, which).await.unwrap();
            assert_eq!(response.status(), StatusCode::GONE, "{state} {which}");
            let problem = problem(response).await;
            assert_eq!(problem["type"], format!("urn:stylize:problem:no-{which}"));
            assert!(
                problem["detail"].as_str().unwrap().contains(state),
                "{problem}"
            );
        }
    }

    // A preview that was stored is served whatever the state; a result never is.
    let storage = stylize_shared::storage::Storage::new(&stack.settings.s3);
    let jpeg = asset("content/tubingen.jpg");
    for id in [&queued, &canceled, &failed] {
        storage
            .put(
                &stylize_core::job::keys::preview(id),
                jpeg.clone(),
                "image/jpeg",
            )
            .await
            .unwrap();
        let response = image(id, "preview").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
    }
    assert_eq!(
        image(&failed, "result").await.unwrap().status(),
        StatusCode::GONE
    );
}

/// Sends `request` as raw bytes and reads the answer until the server closes.
async fn raw_exchange(port: u16, request: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

/// Too many headers and an unreadable `Content-Length` are answered by actix-http itself,
/// before the api sees the request, so their answers are bare (no problem body): what
/// is checked here is that they are refused at once.
#[tokio::test]
async fn malformed_heads_are_refused_by_the_http_layer() {
    let stack = Stack::start().await;
    let port: u16 = stack.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut crowded = String::from("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..200 {
        crowded.push_str(&format!("X-Probe-{i}: 1\r\n"));
    }
    crowded.push_str("\r\n");
    let answer = raw_exchange(port, crowded.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let bad_length =
        "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12abc\r\n\r\nhello";
    let answer = raw_exchange(port, bad_length.as_bytes().to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}
