//! `GET /v1/queue`: the jobs waiting and running, the workers serving the stack's queue
//! (from the registry they report to in Redis) and the jobs finished in the last hour.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::{wait_for, wait_until, Stack};
use stylize_shared::config::Settings;
use stylize_shared::workers::{Rates, WorkerIdentity, WorkerRegistry, WorkerReport};

/// Polls `GET /v1/queue` until `wanted` holds (the answer is kept a second, and workers
/// report every few seconds); returns the answer that satisfied it.
async fn queue_until(stack: &Stack, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let answer = || async {
        let (status, body) = stack.get_json("/v1/queue").await;
        assert_eq!(status, 200, "{body}");
        Some(body).filter(|body| wanted(body))
    };
    wait_for(Duration::from_secs(30), what, answer).await
}

fn worker<'a>(queue: &'a Value, name: &str) -> Option<&'a Value> {
    queue["workers"]
        .as_array()?
        .iter()
        .find(|worker| worker["name"] == name)
}

#[tokio::test]
async fn the_queue_shows_jobs_workers_and_their_speed() {
    let mut stack = Stack::start().await;
    let (_, empty) = stack.get_json("/v1/queue").await;
    assert_eq!(
        (&empty["queued"], &empty["running"], &empty["workers"]),
        (&json!(0), &json!(0), &json!([])),
        "{empty}"
    );

    stack.start_worker("e2e-queue");
    let listed = queue_until(&stack, "the worker", |queue| {
        worker(queue, "e2e-queue").is_some()
    })
    .await;
    let listed = worker(&listed, "e2e-queue").unwrap();
    assert_eq!(listed["device"], "cpu", "{listed}");
    assert_eq!(listed["capacity"], 1, "{listed}");
    assert_eq!(listed["running"], 0, "{listed}");

    // One job running, one waiting behind it.
    let long = stack.submit(json!({"size": 64, "iterations": 5000})).await;
    stack.wait_until_running(&long).await;
    let waiting = stack.submit(json!({"size": 64, "iterations": 10})).await;
    queue_until(&stack, "one running, one queued", |queue| {
        queue["running"] == 1
            && queue["queued"] == 1
            && worker(queue, "e2e-queue").is_some_and(|worker| worker["running"] == 1)
    })
    .await;
    assert_eq!(stack.cancel(&waiting).await.0, 202);
    assert_eq!(stack.cancel(&long).await.0, 202);
    stack.wait_for_end(&long, Duration::from_secs(30)).await;

    // A full job at 64 px: the worker reports its speed once it has run.
    let id = stack.submit(json!({"size": 64, "iterations": 10})).await;
    let seen = stack.wait_for_end(&id, Duration::from_secs(60)).await;
    assert_eq!(seen.last().unwrap()["state"], "succeeded");
    let after = queue_until(&stack, "the worker's speed", |queue| {
        worker(queue, "e2e-queue").is_some_and(|worker| {
            worker["seconds_per_iteration_per_megapixel"].is_number()
                && worker["fast_pass_seconds_per_megapixel"].is_number()
                && worker["running"] == 0
        })
    })
    .await;
    let measured = worker(&after, "e2e-queue").unwrap();
    for rate in [
        "seconds_per_iteration_per_megapixel",
        "fast_pass_seconds_per_megapixel",
    ] {
        assert!(measured[rate].as_f64().unwrap() > 0.0, "{measured}");
    }
    assert_eq!(
        (&after["queued"], &after["running"]),
        (&json!(0), &json!(0))
    );
    let throughput = &after["throughput"];
    assert_eq!(throughput["window_seconds"], 3600, "{after}");
    assert_eq!(
        (
            &throughput["succeeded"],
            &throughput["canceled"],
            &throughput["failed"]
        ),
        (&json!(1), &json!(2), &json!(0)),
        "{after}"
    );
    assert!(
        throughput["mean_run_seconds"].as_f64().unwrap() > 0.0,
        "{after}"
    );

    // A worker that stops leaves the registry at once.
    stack.terminate_worker(0, Duration::from_secs(30)).await;
    queue_until(&stack, "no worker", |queue| queue["workers"] == json!([])).await;
}

#[tokio::test]
async fn the_registry_lists_the_latest_reports_per_queue() {
    let _turn = stylize_e2e::services_turn().await;
    let settings = Settings::load().unwrap();
    let queue = format!("stylize.e2e.registry.{}", uuid::Uuid::new_v4().simple());
    let registry = WorkerRegistry::connect(&settings.redis, &queue)
        .await
        .unwrap();
    let other_queue = WorkerRegistry::connect(&settings.redis, &format!("{queue}.other"))
        .await
        .unwrap();
    let report = |name: &str, running| {
        let identity = WorkerIdentity {
            name: name.into(),
            device: "cpu".into(),
            capacity: 2,
        };
        WorkerReport::now(identity, running, Rates::default())
    };
    assert_eq!(registry.list().await.unwrap(), vec![]);

    registry.publish(&report("first", 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    registry.publish(&report("second", 1)).await.unwrap();
    let newer = report("first", 2);
    tokio::time::sleep(Duration::from_millis(10)).await;
    registry.publish(&newer).await.unwrap();
    other_queue.publish(&report("elsewhere", 0)).await.unwrap();

    let listed = registry.list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r.identity.name.as_str()).collect();
    assert_eq!(names, ["first", "second"], "most recent first, once each");
    assert_eq!(listed[0], newer);

    registry.withdraw("first").await.unwrap();
    let names: Vec<String> = registry
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.identity.name)
        .collect();
    assert_eq!(names, ["second"]);
    registry.withdraw("second").await.unwrap();
    other_queue.withdraw("elsewhere").await.unwrap();
}

/// Submits a small job with `key`; the job as the submission answered it.
async fn submit_keyed(stack: &Stack, key: &str) -> Value {
    let response = stack
        .keyed(reqwest::Method::POST, "/v1/jobs", key)
        .multipart(stylize_e2e::form::submission(
            stylize_e2e::asset("content/tubingen.jpg"),
            "udnie",
            json!({"size": 64, "iterations": 5, "scales": 1}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

/// One owner with 200 jobs queued and another with one: the second's job starts after at
/// most the job running when it came (one worker), not after the 200 (as it did in
/// arrival order). Prints the wait against the backlog's job cycle
/// (docs/benchmarks/service.md, "Fair turns").
#[tokio::test]
async fn a_one_job_owner_starts_next_whatever_the_backlog_before_it() {
    const ADMIN: &str = "admin-token-for-tests";
    const BACKLOG: usize = 200;
    let mut stack = Stack::start_with(|settings| {
        settings.auth.required = true;
        settings.auth.admin_token = ADMIN.into();
        settings.auth.max_active_jobs = 1000;
        settings.auth.submissions_per_minute = 10_000;
    })
    .await;
    let (busy_id, busy) = stack.new_key(ADMIN, "busy").await;
    let (_, newcomer) = stack.new_key(ADMIN, "newcomer").await;
    for _ in 0..BACKLOG {
        submit_keyed(&stack, &busy).await;
    }
    stack.start_worker("e2e-fair");
    let pool = sqlx::PgPool::connect(stack.settings.database.url.expose())
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    // The backlog is being worked through: a few of its jobs have run.
    let ran = || async { count("SELECT count(*) FROM jobs WHERE state = 'succeeded'").await >= 3 };
    wait_until(
        Duration::from_secs(120),
        "three jobs of the backlog run",
        ran,
    )
    .await;

    let arrived = Instant::now();
    let job = submit_keyed(&stack, &newcomer).await;
    // Next in line, with nearly 200 of the other owner's jobs queued.
    assert_eq!(job["queue_position"], 1, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let waited = loop {
        let now: Value = stack
            .keyed(reqwest::Method::GET, &format!("/v1/jobs/{id}"), &newcomer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if now["state"] != "queued" {
            break arrived.elapsed();
        }
        assert!(
            arrived.elapsed() < Duration::from_secs(60),
            "never started: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // One job cycle of the backlog (claim to the next claim), measured on its own runs.
    let (runs, span): (i64, f64) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM max(started_at) - min(started_at))::float8
         FROM jobs WHERE owner = $1::uuid AND started_at IS NOT NULL",
    )
    .bind(&busy_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let cycle = Duration::from_secs_f64(span / (runs - 1).max(1) as f64);
    let queued_behind = count("SELECT count(*) FROM jobs WHERE state = 'queued'").await;
    println!(
        "fair turns: the one-job owner waited {waited:.2?} behind {queued_behind} queued jobs; \
         one job cycle {cycle:.2?} (one worker, 1 thread); in arrival order it would wait \
         about {:.0?}",
        cycle * queued_behind as u32
    );
    assert!(
        waited <= cycle * 2 + Duration::from_secs(3),
        "waited {waited:?}, one job cycle being {cycle:?}"
    );
    // The backlog goes, so the worker stops.
    let deleted = stack
        .keyed(
            reqwest::Method::DELETE,
            &format!("/v1/admin/keys/{busy_id}/jobs"),
            ADMIN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
}
