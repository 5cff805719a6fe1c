//! Webhooks: a job's events POSTed to a receiver on loopback (which the test stack lets
//! through the SSRF guard), signed per Standard Webhooks and checked here by a separate
//! implementation (Python's `hmac`); retried until a 2xx and never after it; delivered
//! from the outbox even when a deliverer dies holding a message; internal, non-http and
//! overlong URLs refused at submission; the events filter; the signing secret's routes.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stylize_e2e::{asset, form, metric, wait_until, Stack};
use stylize_shared::webhooks;

const ADMIN: &str = "admin-token-for-webhook-tests";

/// The operator's secret of the keyless stacks (24 bytes, base64).
const OPERATOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A stack whose webhooks may go to loopback, retried quickly.
async fn webhook_stack(configure: impl FnOnce(&mut stylize_shared::config::Settings)) -> Stack {
    Stack::start_with(|settings| {
        settings.fetch.allowed_networks = vec!["127.0.0.0/8".into()];
        settings.auth.admin_token = ADMIN.into();
        settings.webhooks.secret = OPERATOR_SECRET.into();
        settings.webhooks.first_retry_ms = 100;
        settings.webhooks.max_retry_interval_seconds = 1;
        settings.webhooks.poll_ms = 100;
        settings.webhooks.timeout_seconds = 2;
        configure(settings);
    })
    .await
}

/// One request as the receiver got it.
#[derive(Clone, Debug)]
struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    /// The status the receiver answered.
    answered: u16,
    arrived: chrono::DateTime<chrono::Utc>,
}

/// A receiver on 127.0.0.1 that records every request, answering each with the next of
/// its scripted statuses, then 204.
struct Receiver {
    port: u16,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    server: actix_web::dev::ServerHandle,
}

struct Script {
    statuses: Mutex<VecDeque<u16>>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

async fn record(request: HttpRequest, body: web::Bytes, script: web::Data<Script>) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let answered = script.statuses.lock().unwrap().pop_front().unwrap_or(204);
    script.deliveries.lock().unwrap().push(Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8(body.to_vec()).unwrap(),
        answered,
        arrived: chrono::Utc::now(),
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap()).finish()
}

impl Receiver {
    /// Listens on `port` (0: any), answering the first requests with `statuses`.
    fn start(port: u16, statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let script = web::Data::new(Script {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            deliveries: deliveries.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(script.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            port,
            deliveries,
            server: handle,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/stylize", self.port)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Waits until `count` requests have arrived.
    async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Delivery> {
        let started = Instant::now();
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            assert!(
                started.elapsed() < limit,
                "{} of {count} deliveries after {limit:?}",
                deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// A free port on loopback, with nothing listening on it (yet).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A fast job's form with a webhook, and each of `events` as a `webhook_events` field.
fn job_form(webhook: &str, events: &[&str]) -> Form {
    let mut form = form::submission(
        asset("content/tubingen.jpg"),
        "great-wave",
        json!({"mode": "fast", "size": 64}),
    )
    .text("webhook", webhook.to_owned());
    for events in events {
        form = form.text("webhook_events", events.to_string());
    }
    form
}

async fn submit(stack: &Stack, webhook: &str, events: &[&str]) -> String {
    let (status, body) = stack.post_form(job_form(webhook, events)).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Whether Python's own HMAC finds `delivery` signed with `secret`: the Standard Webhooks
/// check, written apart from the api's signer.
fn python_verifies(secret: &str, delivery: &Delivery) -> bool {
    const VERIFY: &str = r#"
import base64, hashlib, hmac, sys
secret, msg_id, timestamp, signatures = sys.argv[1:5]
body = sys.stdin.buffer.read()
key = base64.b64decode(secret[len("whsec_"):])
signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
sys.exit(0 if any(hmac.compare_digest(expected, s) for s in signatures.split(" ")) else 1)
"#;
    use std::io::Write;
    let mut python = std::process::Command::new("python3")
        .args(["-c", VERIFY, secret, &delivery.id])
        .args([&delivery.timestamp, &delivery.signature])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(delivery.body.as_bytes())
        .unwrap();
    python.wait().unwrap().success()
}

async fn pool(stack: &Stack) -> PgPool {
    stylize_shared::db::connect(&stack.settings.database)
        .await
        .unwrap()
}

/// Each message of the job: its event, attempts, and whether it was delivered.
async fn messages(pool: &PgPool, job: &str) -> Vec<(String, i32, bool)> {
    sqlx::query_as(
        "SELECT event, attempts, delivered_at IS NOT NULL FROM webhook_messages
         WHERE job_id = $1::uuid ORDER BY created_at",
    )
    .bind(job)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The statuses of the job's attempts, in order (0 where there was no answer).
async fn attempt_statuses(pool: &PgPool, job: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT COALESCE(a.status, 0) FROM webhook_attempts a
         JOIN webhook_messages m ON m.id = a.message_id
         WHERE m.job_id = $1::uuid ORDER BY a.attempt",
    )
    .bind(job)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_completed_job_is_posted_once_as_its_view_and_signed() {
    let mut stack = webhook_stack(|_| {}).await;
    stack.start_worker("e2e-webhooks");
    let receiver = Receiver::start(0, &[]);
    stack.wait_for_workers(1).await;

    let id = submit(&stack, &receiver.url(), &[]).await;
    let (_, queued) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(queued["webhook"], receiver.url().as_str(), "{queued}");
    assert_eq!(queued["webhook_events"], json!(["completed"]), "{queued}");
    stack.wait_for_end(&id, Duration::from_secs(60)).await;
    let delivery = receiver.wait_for(1, Duration::from_secs(30)).await[0].clone();

    // The body is the job's view, as GET /v1/jobs/{id} answers it.
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    let (_, view) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(body["state"], "succeeded", "{body}");
    assert_eq!(body, view);

    let secret = secret(&stack, ADMIN, "operator").await;
    assert_eq!(secret, OPERATOR_SECRET);
    assert!(delivery.id.starts_with("msg_"), "{delivery:?}");
    let sent_at: i64 = delivery.timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    assert!(python_verifies(&secret, &delivery), "{delivery:?}");
    // The check can fail: a changed body, or another secret, does not verify.
    let tampered = Delivery {
        body: delivery.body.replace("succeeded", "failed"),
        ..delivery.clone()
    };
    assert!(!python_verifies(&secret, &tampered));
    assert!(!python_verifies(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &delivery
    ));

    let pool = pool(&stack).await;
    assert_eq!(
        messages(&pool, &id).await,
        [("completed".to_owned(), 1, true)]
    );
    assert_eq!(attempt_statuses(&pool, &id).await, [204]);
    assert_eq!(receiver.deliveries().len(), 1);
}

#[tokio::test]
async fn a_failing_receiver_gets_one_successful_delivery_after_retries() {
    let mut stack = webhook_stack(|_| {}).await;
    stack.start_worker("e2e-webhooks-retry");
    let receiver = Receiver::start(0, &[500, 500, 500]);
    stack.wait_for_workers(1).await;

    let id = submit(&stack, &receiver.url(), &["completed"]).await;
    let deliveries = receiver.wait_for(4, Duration::from_secs(30)).await;
    let pool = pool(&stack).await;
    wait_until(Duration::from_secs(10), "recorded", || async {
        messages(&pool, &id).await[0].2
    })
    .await;
    let answered: Vec<u16> = deliveries.iter().map(|d| d.answered).collect();
    assert_eq!(answered, [500, 500, 500, 204]);
    // One message: the same id and body each time, signed each time.
    for delivery in &deliveries {
        assert_eq!(delivery.id, deliveries[0].id);
        assert_eq!(delivery.body, deliveries[0].body);
        assert!(python_verifies(OPERATOR_SECRET, delivery));
    }
    assert_eq!(
        messages(&pool, &id).await,
        [("completed".to_owned(), 4, true)]
    );
    assert_eq!(attempt_statuses(&pool, &id).await, [500, 500, 500, 204]);
    // Acknowledged: never sent again (retries come every 100 ms to 1 s here).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.deliveries().len(), 4);

    // What Prometheus sees: each attempt by outcome, and nothing left to deliver.
    let scrape = stack.client.get(&stack.api_metrics).send().await.unwrap();
    let metrics = scrape.text().await.unwrap();
    let series = [
        r#"stylize_webhook_attempts_total{outcome="failed"}"#,
        r#"stylize_webhook_attempts_total{outcome="delivered"}"#,
        "stylize_webhook_delivery_seconds_count",
        "stylize_webhook_messages_pending",
    ];
    let values: Vec<Option<f64>> = series.iter().map(|s| metric(&metrics, s)).collect();
    assert_eq!(
        values,
        [Some(3.0), Some(1.0), Some(1.0), Some(0.0)],
        "{metrics}"
    );
    // Three failed tries, waiting at least 100, 200 and 400 ms, came first.
    let waited = metric(&metrics, "stylize_webhook_delivery_seconds_sum").unwrap();
    assert!(waited >= 0.7, "{waited} s from the event to the 2xx");
}

#[tokio::test]
async fn a_message_claimed_by_a_deliverer_that_died_is_sent_after_its_lease() {
    let mut stack = webhook_stack(|_| {}).await;
    stack.start_worker("e2e-webhooks-first");
    stack.wait_for_workers(1).await;
    // Nothing listens on the webhook's port yet: the first attempts fail.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hooks/stylize");
    let id = submit(&stack, &url, &[]).await;
    let seen = stack.wait_for_end(&id, Duration::from_secs(60)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
    let pool = pool(&stack).await;
    wait_until(Duration::from_secs(10), "an attempt", || async {
        !attempt_statuses(&pool, &id).await.is_empty()
    })
    .await;
    assert_eq!(attempt_statuses(&pool, &id).await[0], 0, "no answer");

    // A deliverer (this test) takes the message and dies before its attempt: the message
    // waits for its lease to end, then another deliverer (the api's) sends it.
    let lease = Duration::from_secs(2);
    let started = Instant::now();
    // The lease runs from the database's clock at the claim, which is no earlier than
    // the moment the claim was asked for: measured from there, however long the query
    // took.
    let asked = loop {
        let asked = Instant::now();
        let claimed = webhooks::claim_due(&pool, lease, 1).await.unwrap();
        if !claimed.is_empty() {
            break asked;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never due");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let receiver = Receiver::start(port, &[]);
    let delivery = receiver.wait_for(1, Duration::from_secs(30)).await[0].clone();
    let waited = asked.elapsed();
    assert!(
        waited >= lease,
        "sent {waited:?} after the claim, inside the dead deliverer's lease of {lease:?}"
    );
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(
        (&body["id"], &body["state"]),
        (&json!(id), &json!("succeeded"))
    );
    assert!(python_verifies(OPERATOR_SECRET, &delivery));
    wait_until(Duration::from_secs(10), "recorded", || async {
        messages(&pool, &id).await[0].2
    })
    .await;
    let statuses = attempt_statuses(&pool, &id).await;
    assert_eq!(statuses.last(), Some(&204), "{statuses:?}");
    assert!(statuses[..statuses.len() - 1].iter().all(|&s| s == 0));
    assert_eq!(receiver.deliveries().len(), 1);
}

#[tokio::test]
async fn the_events_filter_is_honoured() {
    let mut stack = webhook_stack(|_| {}).await;
    stack.start_worker("e2e-webhooks-events");
    let receiver = Receiver::start(0, &[]);
    stack.wait_for_workers(1).await;

    let id = submit(&stack, &receiver.url(), &["start", "completed"]).await;
    let (_, view) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(view["webhook_events"], json!(["start", "completed"]));
    let deliveries = receiver.wait_for(2, Duration::from_secs(60)).await;
    let pool = pool(&stack).await;
    wait_until(Duration::from_secs(10), "recorded", || async {
        messages(&pool, &id).await.iter().all(|m| m.2)
    })
    .await;
    let events: Vec<String> = messages(&pool, &id)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(events, ["start", "completed"]);
    let mut states: Vec<String> = deliveries
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(&d.body).unwrap()["state"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    states.sort();
    assert_eq!(states, ["running", "succeeded"]);
    assert_ne!(deliveries[0].id, deliveries[1].id);
    assert!(deliveries
        .iter()
        .all(|d| python_verifies(OPERATOR_SECRET, d)));
    assert_eq!(receiver.deliveries().len(), 2);
}

#[tokio::test]
async fn bad_webhook_urls_are_refused_at_submission() {
    let stack = webhook_stack(|_| {}).await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:192.168.1.1]/",
    ] {
        let (status, body) = stack.post_form(job_form(url, &[])).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (422, "urn:stylize:problem:url-refused"),
            "{url}: {body}"
        );
        assert_eq!(body["field"], "webhook");
    }
    let (status, body) = stack.post_form(job_form("ftp://127.0.0.1/hook", &[])).await;
    assert_eq!(
        (status, body["type"].as_str().unwrap()),
        (422, "urn:stylize:problem:url-refused"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("http or https"),
        "{body}"
    );
    let long = format!("http://127.0.0.1/{}", "a".repeat(2048));
    // A NUL would be taken (escaped) by the URL parser, and refused by PostgreSQL.
    for url in ["not a url", long.as_str(), "http://127.0.0.1/\0hook"] {
        let (status, body) = stack.post_form(job_form(url, &[])).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (400, "urn:stylize:problem:invalid-parameter")
        );
        assert_eq!(body["field"], "webhook", "{body}");
    }
    let (status, body) = stack
        .post_form(job_form("http://127.0.0.1/", &["finished"]))
        .await;
    assert_eq!(
        (status, &body["field"]),
        (400, &json!("webhook_events")),
        "{body}"
    );
    let events_alone = form::submission(
        asset("content/tubingen.jpg"),
        "great-wave",
        json!({"mode": "fast"}),
    )
    .text("webhook_events", "completed");
    let (status, body) = stack.post_form(events_alone).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(stack.count_jobs().await, 0);
}

/// The webhook secret `key` reads (an API key's own, or with the admin token the
/// operator's), checking that it is of `scope`.
async fn secret(stack: &Stack, key: &str, scope: &str) -> String {
    let response = stack
        .keyed(Method::GET, "/v1/webhooks/secret", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], scope, "{body}");
    body["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_key_has_a_secret_it_may_rotate() {
    let mut stack = webhook_stack(|settings| settings.auth.required = true).await;
    let mut keys = Vec::new();
    for name in ["first", "second"] {
        keys.push(stack.new_key(ADMIN, name).await.1);
    }
    let first = secret(&stack, &keys[0], "key").await;
    assert!(first.starts_with("whsec_"), "{first}");
    assert_eq!(
        secret(&stack, &keys[0], "key").await,
        first,
        "kept once made"
    );
    assert_ne!(secret(&stack, &keys[1], "key").await, first, "one per key");
    let rotated: Value = stack
        .keyed(Method::POST, "/v1/webhooks/secret/rotate", &keys[0])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, first);
    assert_eq!(secret(&stack, &keys[0], "key").await, rotated);
    let anonymous = stack.client.get(stack.url("/v1/webhooks/secret")).send();
    assert_eq!(anonymous.await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // A job of the first key is signed with its rotated secret.
    stack.start_worker("e2e-webhooks-keys");
    let receiver = Receiver::start(0, &[]);
    stack.wait_for_workers(1).await;
    let response = stack
        .keyed(Method::POST, "/v1/jobs", &keys[0])
        .multipart(job_form(&receiver.url(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let delivery = receiver.wait_for(1, Duration::from_secs(60)).await[0].clone();
    assert!(python_verifies(&rotated, &delivery));
    assert!(!python_verifies(&first, &delivery));
}

#[tokio::test]
async fn without_keys_the_operator_secret_is_the_admins_and_set_in_settings() {
    let stack = webhook_stack(|_| {}).await;
    let anonymous = stack.client.get(stack.url("/v1/webhooks/secret")).send();
    assert_eq!(anonymous.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(secret(&stack, ADMIN, "operator").await, OPERATOR_SECRET);
    let rotate = stack
        .client
        .post(stack.url("/v1/webhooks/secret/rotate"))
        .send();
    let response = rotate.await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("webhooks.secret"),
        "{body}"
    );
}

#[tokio::test]
async fn progress_messages_are_rate_limited_per_job() {
    let mut stack = webhook_stack(|settings| settings.webhooks.progress_interval_seconds = 1).await;
    stack.start_worker("e2e-webhooks-progress");
    let receiver = Receiver::start(0, &[]);
    stack.wait_for_workers(1).await;

    // Progress is published every 50 ms here: without the limit, dozens of messages.
    let form = form::submission(
        asset("content/tubingen.jpg"),
        "great-wave",
        json!({"size": 64, "iterations": 40}),
    )
    .text("webhook", receiver.url())
    .text("webhook_events", "progress,completed");
    let (status, job) = stack.post_form(form).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let seen = stack.wait_for_end(id, Duration::from_secs(120)).await;
    let view = seen.last().unwrap();
    assert_eq!(view["state"], "succeeded", "{view}");
    let pool = pool(&stack).await;
    let started = Instant::now();
    let messages = loop {
        let messages = messages(&pool, id).await;
        if messages.last().is_some_and(|m| m.0 == "completed" && m.2)
            && messages.iter().all(|m| m.2)
        {
            break messages;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{messages:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let progress = messages.len() - 1;
    let ran = chrono::DateTime::parse_from_rfc3339(view["finished_at"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(view["started_at"].as_str().unwrap()).unwrap();
    let most = ran.num_seconds() as usize + 1;
    assert!(
        (1..=most).contains(&progress),
        "{progress} progress messages in {ran}"
    );
    let deliveries = receiver
        .wait_for(messages.len(), Duration::from_secs(10))
        .await;
    for delivery in &deliveries {
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        if body["state"] == "running" {
            assert!(body["progress"]["total"] == 40, "{body}");
        }
        assert!(python_verifies(OPERATOR_SECRET, delivery));
    }
}

/// Webhook latency, from a job's `finished_at` (PostgreSQL's clock, on this machine) to
/// the receiver's arrival, over 50 fast jobs: run with
/// `cargo test --release -p stylize-e2e --test webhooks -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a benchmark"]
async fn bench_webhook_latency() {
    let mut stack = webhook_stack(|_| {}).await;
    stack.start_worker("e2e-webhooks-bench");
    let receiver = Receiver::start(0, &[]);
    stack.wait_for_workers(1).await;
    const JOBS: usize = 50;
    for _ in 0..JOBS {
        submit(&stack, &receiver.url(), &[]).await;
    }
    let deliveries = receiver.wait_for(JOBS, Duration::from_secs(300)).await;
    let mut latencies: Vec<f64> = deliveries
        .iter()
        .map(|delivery| {
            let body: Value = serde_json::from_str(&delivery.body).unwrap();
            let finished = body["finished_at"].as_str().unwrap();
            let finished = chrono::DateTime::parse_from_rfc3339(finished).unwrap();
            (delivery.arrived - finished.with_timezone(&chrono::Utc))
                .num_microseconds()
                .unwrap() as f64
                / 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at =
        |fraction: f64| latencies[((latencies.len() as f64 * fraction).ceil() as usize).max(1) - 1];
    println!(
        "webhook latency over {JOBS} fast jobs, finished_at to arrival: median {:.1} ms, \
         p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        latencies[0],
        latencies[latencies.len() - 1]
    );
}

#[tokio::test]
async fn a_job_canceled_in_the_queue_is_told_and_a_failing_receiver_is_given_up() {
    // No worker: the jobs stay queued until canceled.
    let stack = webhook_stack(|settings| settings.webhooks.give_up_after_seconds = 1).await;
    let receiver = Receiver::start(0, &[]);
    let failing = Receiver::start(0, &[500; 100]);
    let told = submit(&stack, &receiver.url(), &[]).await;
    let given_up = submit(&stack, &failing.url(), &[]).await;
    for id in [&told, &given_up] {
        assert_eq!(stack.cancel(id).await.0, 202);
    }
    let delivery = receiver.wait_for(1, Duration::from_secs(30)).await[0].clone();
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(
        (&body["id"], &body["state"]),
        (&json!(told), &json!("canceled"))
    );
    assert!(python_verifies(OPERATOR_SECRET, &delivery));

    let pool = pool(&stack).await;
    let started = Instant::now();
    let gave_up_after = loop {
        let gave_up: Option<i32> = sqlx::query_scalar(
            "SELECT attempts FROM webhook_messages
             WHERE job_id = $1::uuid AND gave_up_at IS NOT NULL AND delivered_at IS NULL",
        )
        .bind(&given_up)
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some(attempts) = gave_up {
            break attempts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never given up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Retries at 100, 200, 400 ms… within the second: a few attempts, all recorded.
    assert!((2..10).contains(&gave_up_after), "{gave_up_after} attempts");
    assert_eq!(failing.deliveries().len(), gave_up_after as usize);
    assert_eq!(
        attempt_statuses(&pool, &given_up).await,
        vec![500; gave_up_after as usize]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        failing.deliveries().len(),
        gave_up_after as usize,
        "sent after giving up"
    );
}

#[tokio::test]
async fn without_keys_or_an_operator_secret_no_job_asks_for_webhooks() {
    let stack = webhook_stack(|settings| settings.webhooks.secret = "".into()).await;
    // A name that does not resolve is told the same: the secret is checked first.
    for url in [
        "http://127.0.0.1:9/hook",
        "http://no-such-host.invalid/hook",
    ] {
        let (status, body) = stack.post_form(job_form(url, &[])).await;
        assert_eq!(
            (status, &body["field"]),
            (400, &json!("webhook")),
            "{url}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("webhooks.secret"),
            "{url}: {body}"
        );
    }
    let secret = stack
        .client
        .get(stack.url("/v1/webhooks/secret"))
        .bearer_auth(ADMIN);
    assert_eq!(secret.send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn finished_messages_are_pruned_after_their_keep_and_counted() {
    // No worker: the jobs stay queued until canceled, which tells their webhooks.
    let stack = webhook_stack(|settings| settings.webhooks.keep_finished_seconds = 2).await;
    let receiver = Receiver::start(0, &[]);
    let kept = submit(&stack, &receiver.url(), &[]).await;
    assert_eq!(stack.cancel(&kept).await.0, 202);
    receiver.wait_for(1, Duration::from_secs(30)).await;
    let pool = pool(&stack).await;
    wait_until(Duration::from_secs(10), "recorded", || async {
        messages(&pool, &kept).await.first().is_some_and(|m| m.2)
    })
    .await;
    // Delivered, and kept for its two seconds with its attempt.
    assert_eq!(attempt_statuses(&pool, &kept).await, [204]);
    let delivered_at = Instant::now();
    while !messages(&pool, &kept).await.is_empty() {
        assert!(
            delivered_at.elapsed() < Duration::from_secs(10),
            "never pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered_at.elapsed() >= Duration::from_millis(1500),
        "pruned before its keep"
    );
    assert!(attempt_statuses(&pool, &kept).await.is_empty());
    // The job itself stays: only its delivered message went.
    assert_eq!(stack.get_json(&format!("/v1/jobs/{kept}")).await.0, 200);
    let scrape = stack.client.get(&stack.api_metrics).send().await.unwrap();
    let metrics = scrape.text().await.unwrap();
    assert_eq!(
        metric(&metrics, "stylize_webhook_messages_pruned_total"),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_delays_no_other_receiver() {
    // Each attempt on the silent receiver hangs until this limit.
    let stack = webhook_stack(|settings| settings.webhooks.timeout_seconds = 30).await;
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/hooks", silent.local_addr().unwrap());
    // Accepts every connection and holds it, answering nothing.
    let held = std::thread::spawn(move || silent.incoming().take(64).collect::<Vec<_>>());
    let receiver = Receiver::start(0, &[]);
    // More messages for the silent receiver than it may have attempts under way.
    for _ in 0..6 {
        let id = submit(&stack, &silent_url, &[]).await;
        assert_eq!(stack.cancel(&id).await.0, 202);
    }
    // Its attempts are under way (hanging) when another receiver's message comes due.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let told = submit(&stack, &receiver.url(), &[]).await;
    assert_eq!(stack.cancel(&told).await.0, 202);
    let sent = Instant::now();
    let delivery = receiver.wait_for(1, Duration::from_secs(25)).await[0].clone();
    let waited = sent.elapsed();
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(body["id"], json!(told));
    assert!(
        waited < Duration::from_secs(5),
        "the other receiver's message took {waited:?} behind the silent one"
    );
    // At most four attempts hang on the silent receiver at once; the rest wait.
    let pool = pool(&stack).await;
    let under_way: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_messages WHERE url = $1 AND lease IS NOT NULL
           AND next_attempt_at > now() AND delivered_at IS NULL",
    )
    .bind(&silent_url)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        (1..=4).contains(&under_way),
        "{under_way} attempts under way"
    );
    drop(stack);
    drop(held);
}
