//! Recovery from services that lose their data or are not there yet: a broker that
//! comes back empty has its jobs' messages sent again by the workers' reapers, a job
//! never running twice for it; and the api and the worker start without their services,
//! waiting (not ready) until they answer. No shared service is stopped here: the loss is
//! the test queue's deletion, and a service "down" is a closed port where a forwarder to
//! the real one opens later.

use serde_json::json;
use std::time::{Duration, Instant};
use stylize_api::Application;
use stylize_e2e::{metric, wait_until, Stack};
use stylize_shared::queue::{JobMessage, JobQueue};
use tokio::net::{TcpListener, TcpStream};

/// A job that takes well under a second.
fn fast() -> serde_json::Value {
    json!({"mode": "fast", "size": 64})
}

/// The worker's `stylize_worker_republished_total`.
async fn republished(stack: &Stack) -> Option<f64> {
    metric(
        &stack.worker_metrics(0).await,
        "stylize_worker_republished_total",
    )
}

#[tokio::test]
async fn jobs_whose_messages_the_broker_lost_are_published_again_and_run_once() {
    let mut stack = Stack::start().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(stack.submit(fast()).await);
    }
    let queue = JobQueue::connect(&stack.settings.amqp).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 3);
    // The broker's data is lost: the queue and its messages are gone, while PostgreSQL
    // still marks the three jobs published.
    queue.delete().await.unwrap();

    stack.start_worker("e2e-recovery");
    for id in &ids {
        stack.wait_for_end(id, Duration::from_secs(60)).await;
    }
    assert_eq!(
        stack.assert_settled(&ids).await,
        ["succeeded", "succeeded", "succeeded"]
    );
    for id in &ids {
        assert_eq!(
            stack.attempts_and_worker(id).await.0,
            1,
            "job {id} ran again"
        );
    }
    // Exactly the lost messages were sent again: no duplicate of any.
    assert_eq!(republished(&stack).await, Some(3.0));
    let metrics = stack.worker_metrics(0).await;
    assert_eq!(
        metric(
            &metrics,
            r#"stylize_worker_runs_total{outcome="succeeded"}"#
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(queue.depth().await.unwrap(), 0);
    assert_eq!(queue.dead_letter_depth().await.unwrap(), 0);
}

#[tokio::test]
async fn a_duplicate_message_runs_its_job_once_and_sends_nothing_more() {
    let mut stack = Stack::start().await;
    let id = stack.submit(fast()).await;
    let queue = JobQueue::connect(&stack.settings.amqp).await.unwrap();
    queue
        .publish(&JobMessage::new(id.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(queue.depth().await.unwrap(), 2);

    stack.start_worker("e2e-duplicate");
    stack.wait_for_end(&id, Duration::from_secs(60)).await;
    assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    // The second message finds the job taken: acknowledged and dropped, not run, not
    // dead-lettered.
    wait_until(
        Duration::from_secs(30),
        "the duplicate consumed",
        || async { queue.depth().await.unwrap() == 0 },
    )
    .await;
    assert_eq!(queue.dead_letter_depth().await.unwrap(), 0);
    assert_eq!(stack.attempts_and_worker(&id).await.0, 1);
    let metrics = stack.worker_metrics(0).await;
    assert_eq!(
        metric(&metrics, "stylize_worker_runs_total{outcome=\"succeeded\"}"),
        Some(1.0),
        "{metrics}"
    );
    // A queue holding more messages than jobs is no loss: nothing is sent again.
    assert_eq!(republished(&stack).await, Some(0.0));
}

/// A port nothing listens on (yet).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

/// `url` with its port moved to `port`; and the port it had.
fn moved_to(url: &str, port: u16) -> (String, u16) {
    let mut moved = reqwest::Url::parse(url).unwrap();
    let was = moved.port().unwrap();
    moved.set_port(Some(port)).unwrap();
    (moved.to_string(), was)
}

/// Forwards every connection on `port` to `to` on the loopback address: a service
/// that comes up at `port`.
async fn forward(port: u16, to: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(("127.0.0.1", to)).await?;
                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await
            });
        }
    });
}

#[tokio::test]
async fn the_api_starts_without_its_services_and_is_ready_once_they_answer() {
    let stack = Stack::start().await;
    let mut settings = stack.settings.clone();
    let ports = [closed_port(), closed_port(), closed_port()];
    let (database, database_port) = moved_to(settings.database.url.expose(), ports[0]);
    let (amqp, amqp_port) = moved_to(settings.amqp.url.expose(), ports[1]);
    let (redis, redis_port) = moved_to(settings.redis.url.expose(), ports[2]);
    settings.database.url = database.into();
    settings.amqp.url = amqp.into();
    settings.redis.url = redis.into();

    let application = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    let get = |path: &'static str| {
        let request = stack.client.get(format!("{base}{path}"));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (
                status,
                kind,
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    // S3 answers; the three others are named, each with its failure, for as long as
    // they stay away.
    wait_until(
        Duration::from_secs(30),
        "S3 connected, the others tried",
        || async {
            let detail = get("/readyz").await.2["detail"].to_string();
            !detail.contains("S3") && !detail.contains("connecting")
        },
    )
    .await;
    let (status, kind, body) = get("/readyz").await;
    assert_eq!(
        (status, kind.as_str()),
        (503, "application/problem+json"),
        "{body}"
    );
    assert_eq!(body["type"], "urn:stylize:problem:starting", "{body}");
    let detail = body["detail"].as_str().unwrap();
    for service in ["PostgreSQL (", "RabbitMQ (", "Redis ("] {
        assert!(detail.contains(service), "{service} missing: {body}");
    }

    // They come up, one after another; the api, never restarted, gets ready.
    forward(ports[0], database_port).await;
    wait_until(Duration::from_secs(30), "PostgreSQL connected", || async {
        !get("/readyz").await.2["detail"]
            .to_string()
            .contains("PostgreSQL")
    })
    .await;
    assert_eq!(get("/readyz").await.0, 503);
    forward(ports[1], amqp_port).await;
    forward(ports[2], redis_port).await;
    wait_until(Duration::from_secs(30), "ready", || async {
        get("/readyz").await.0 == 200
    })
    .await;
    let (_, _, body) = get("/readyz").await;
    assert_eq!(body["status"], "ready", "{body}");
}

#[tokio::test]
async fn a_worker_started_without_its_database_waits_for_it() {
    let mut stack = Stack::start().await;
    let port = closed_port();
    let real = stack.settings.database.url.clone();
    let (unreachable, database_port) = moved_to(real.expose(), port);
    stack.settings.database.url = unreachable.into();
    stack.start_worker("e2e-patient");
    stack.settings.database.url = real;

    let id = stack.submit(fast()).await;
    // Alive, not ready, and its job waits, across several failed tries.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let metrics = stack.worker_metrics(0).await;
        assert_eq!(metric(&metrics, "stylize_worker_ready"), Some(0.0));
        assert!(stack.worker_alive(0));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, job) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "queued", "{job}");

    forward(port, database_port).await;
    stack.wait_for_end(&id, Duration::from_secs(60)).await;
    assert_eq!(stack.assert_settled(&[&id]).await, ["succeeded"]);
    let metrics = stack.worker_metrics(0).await;
    assert_eq!(metric(&metrics, "stylize_worker_ready"), Some(1.0));
}
