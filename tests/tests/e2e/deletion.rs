//! Deleting jobs and keeping them no longer than `retention.days`: a deleted job's images
//! leave S3 and its routes answer `410 Gone`; only its own key may delete it; an operator
//! deletes all of a key's jobs; a worker still running a deleted job leaves nothing of it
//! behind; the workers' sweeper deletes expired jobs, and sweepers at once delete each
//! once, none twice, none missed (how they split it is up to the database's row locks).

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use stylize_core::job::{keys, StyleSource};
use stylize_core::params::StyleParams;
use stylize_e2e::{asset, form, job_routes, metric, wait_for, wait_until, Stack};
use stylize_shared::db;
use stylize_shared::retention::{self, DeletedBy};
use stylize_shared::storage::Storage;
use uuid::Uuid;

const ADMIN: &str = "admin-token-for-deletion-tests";

/// Sends `method path` with `key` as bearer token (none when empty): the status and
/// the JSON body (`Null` for none).
async fn send(stack: &Stack, method: Method, path: &str, key: &str) -> (u16, Value) {
    let response = stack.keyed(method, path, key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A submission of tubingen × Udnie with `params` as `key` (none when empty).
fn submission(stack: &Stack, key: &str, params: Value) -> reqwest::RequestBuilder {
    stack
        .keyed(Method::POST, "/v1/jobs", key)
        .multipart(form::submission(
            asset("content/tubingen.jpg"),
            "udnie",
            params,
        ))
}

/// Submits tubingen × Udnie with `params` as `key`; the job's id.
async fn submit(stack: &Stack, key: &str, params: Value) -> String {
    let response = submission(stack, key, params).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    job["id"].as_str().unwrap().to_owned()
}

async fn objects(storage: &Storage, id: &str) -> Vec<String> {
    storage.list(&format!("jobs/{id}/")).await.unwrap()
}

async fn pool(stack: &Stack) -> PgPool {
    db::connect(&stack.settings.database).await.unwrap()
}

/// Every route of the deleted job answers `410` `job-deleted`, saying `why`.
async fn assert_gone(stack: &Stack, id: &str, key: &str, why: &str) {
    for (method, path) in job_routes(id) {
        let (status, problem) = send(stack, method.clone(), &path, key).await;
        assert_eq!(status, 410, "{method} {path}: {problem}");
        assert_eq!(problem["type"], "urn:stylize:problem:job-deleted", "{path}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("job {id} was deleted at 20")) && detail.contains(why),
            "{path}: {detail}"
        );
    }
}

async fn listed(stack: &Stack, key: &str) -> Vec<String> {
    let (status, body) = send(stack, Method::GET, "/v1/jobs?limit=100", key).await;
    assert_eq!(status, 200, "{body}");
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_deleted_job_leaves_storage_and_answers_gone() {
    let mut stack = Stack::start().await;
    stack.start_worker("e2e-deletion");
    stack.wait_for_workers(1).await;
    let storage = Storage::new(&stack.settings.s3);
    let params = json!({"size": 64, "iterations": 5});
    let first = submission(&stack, "", params.clone())
        .header("Idempotency-Key", "deleted-later")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let id = first.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = submit(&stack, "", json!({"mode": "fast", "size": 64})).await;
    for job in [&id, &kept] {
        let seen = stack.wait_for_end(job, Duration::from_secs(60)).await;
        assert_eq!(seen.last().unwrap()["state"], "succeeded");
    }
    let stored = objects(&storage, &id).await;
    for key in [keys::content(&id), keys::preview(&id), keys::result(&id)] {
        assert!(stored.contains(&key), "{key} not in {stored:?}");
    }

    let (status, body) = send(&stack, Method::DELETE, &format!("/v1/jobs/{id}"), "").await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(objects(&storage, &id).await, Vec::<String>::new());
    assert_gone(&stack, &id, "", "by its owner").await;
    assert_eq!(listed(&stack, "").await, [kept.as_str()]);
    // Paging after the deleted job goes on from where it was.
    let (status, page) = send(&stack, Method::GET, &format!("/v1/jobs?after={id}"), "").await;
    assert_eq!(status, 200, "{page}");
    // A retry of its submission hears it was deleted.
    let retry = submission(&stack, "", params)
        .header("Idempotency-Key", "deleted-later")
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 410);
    let problem: Value = retry.json().await.unwrap();
    assert_eq!(problem["type"], "urn:stylize:problem:job-deleted");
    // The other job is untouched.
    assert!(!objects(&storage, &kept).await.is_empty());
    assert_eq!(stack.get_json(&format!("/v1/jobs/{kept}")).await.0, 200);

    // Unknown and misspelt ids are 404, as on every job route.
    let unknown = Uuid::new_v4();
    let upper = kept.to_uppercase();
    for path in [format!("/v1/jobs/{unknown}"), format!("/v1/jobs/{upper}")] {
        let (status, problem) = send(&stack, Method::DELETE, &path, "").await;
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["type"], "urn:stylize:problem:not-found");
    }
}

#[tokio::test]
async fn only_a_jobs_own_key_deletes_it_and_an_operator_deletes_a_keys_jobs() {
    let stack = Stack::start_with(|settings| {
        settings.auth.required = true;
        settings.auth.admin_token = ADMIN.into();
    })
    .await;
    let storage = Storage::new(&stack.settings.s3);
    let (a_id, a) = stack.new_key(ADMIN, "a").await;
    let (_, b) = stack.new_key(ADMIN, "b").await;
    // No worker: the jobs stay queued, their photos stored.
    let params = json!({"mode": "fast", "size": 64});
    let a_jobs = [
        submit(&stack, &a, params.clone()).await,
        submit(&stack, &a, params.clone()).await,
    ];
    let b_job = submit(&stack, &b, params).await;

    // Another key's job is as absent as ever, and stays.
    let path = format!("/v1/jobs/{}", a_jobs[0]);
    let (status, problem) = send(&stack, Method::DELETE, &path, &b).await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(send(&stack, Method::GET, &path, &a).await.0, 200);
    assert_eq!(
        objects(&storage, &a_jobs[0]).await,
        [keys::content(&a_jobs[0])]
    );

    // The admin path wants the admin token; an unknown key is 404.
    let key_jobs = format!("/v1/admin/keys/{a_id}/jobs");
    assert_eq!(send(&stack, Method::DELETE, &key_jobs, &a).await.0, 401);
    for unknown in [Uuid::new_v4().to_string(), "not-a-key".into()] {
        let path = format!("/v1/admin/keys/{unknown}/jobs");
        let (status, problem) = send(&stack, Method::DELETE, &path, ADMIN).await;
        assert_eq!(status, 404, "{problem}");
    }

    let (status, body) = send(&stack, Method::DELETE, &key_jobs, ADMIN).await;
    assert_eq!((status, body), (200, json!({"deleted": 2})));
    let pool = pool(&stack).await;
    for job in &a_jobs {
        assert_eq!(objects(&storage, job).await, Vec::<String>::new());
        assert_gone(&stack, job, &a, "by an administrator").await;
        // Queued when deleted: canceled too.
        let row = db::get_job(&pool, job.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state, "canceled");
    }
    assert_eq!(listed(&stack, &a).await, Vec::<String>::new());
    assert_eq!(listed(&stack, &b).await, [b_job.as_str()]);
    assert_eq!(objects(&storage, &b_job).await, [keys::content(&b_job)]);
    // Nothing left to delete.
    let (status, body) = send(&stack, Method::DELETE, &key_jobs, ADMIN).await;
    assert_eq!((status, body), (200, json!({"deleted": 0})));
}

/// Waits until the worker has ended `runs` runs as canceled (its metric counts a run once
/// it has recorded it and removed what a deleted job's run stored).
async fn wait_for_canceled_runs(stack: &Stack, runs: f64) {
    let counted = || async {
        let metrics = stack.worker_metrics(0).await;
        metric(&metrics, "stylize_worker_runs_total{outcome=\"canceled\"}") == Some(runs)
    };
    wait_until(
        Duration::from_secs(60),
        &format!("{runs} canceled runs"),
        counted,
    )
    .await;
}

#[tokio::test]
async fn a_job_deleted_while_it_runs_is_canceled_and_leaves_nothing() {
    // A preview every iteration: the worker stores one often while it runs. Heartbeats
    // far apart leave it running a while after a cancel it is not told of.
    let mut stack = Stack::start_with(|settings| {
        settings.worker.previews = 10_000;
        settings.worker.heartbeat_seconds = 5;
        settings.worker.lease_seconds = 15;
    })
    .await;
    stack.start_worker("e2e-deletion-running");
    stack.wait_for_workers(1).await;
    let storage = Storage::new(&stack.settings.s3);
    let pool = pool(&stack).await;
    let params = json!({"size": 64, "iterations": 5000});

    // Through the api: the worker is told at once and stops.
    let id = submit(&stack, "", params.clone()).await;
    stack.wait_until_running(&id).await;
    let (status, _) = send(&stack, Method::DELETE, &format!("/v1/jobs/{id}"), "").await;
    assert_eq!(status, 204);
    assert_gone(&stack, &id, "", "by its owner").await;
    wait_for_canceled_runs(&stack, 1.0).await;
    let row = db::get_job(&pool, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.state.as_str(), row.worker.is_some()),
        ("canceled", true)
    );
    assert_eq!(objects(&storage, &id).await, Vec::<String>::new());

    // Deleted without telling the worker (as with Redis away): it stores previews after
    // the deletion removed the job's objects, until its next heartbeat finds the cancel;
    // then its run's end removes them.
    let id = submit(&stack, "", params).await;
    stack.wait_until_running(&id).await;
    let uuid: Uuid = id.parse().unwrap();
    let deleted = retention::delete(&pool, &storage, uuid, DeletedBy::Owner)
        .await
        .unwrap()
        .unwrap();
    assert!(deleted.cancel_requested);
    let started = Instant::now();
    while !objects(&storage, &id).await.contains(&keys::preview(&id)) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the worker stored no preview after the deletion"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_for_canceled_runs(&stack, 2.0).await;
    assert_eq!(objects(&storage, &id).await, Vec::<String>::new());
}

/// A job of the stack's database that ended `days_ago`, with a photo, a preview and a
/// result in storage; its id.
async fn ended_job(pool: &PgPool, storage: &Storage, days_ago: f64) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO jobs (id, state, params, styles, width, height, started_at, finished_at)
         VALUES ($1, 'succeeded', $2, $3, 64, 48, now() - make_interval(secs => $4 * 86400),
                 now() - make_interval(secs => $4 * 86400))",
    )
    .bind(id)
    .bind(sqlx::types::Json(StyleParams::default()))
    .bind(sqlx::types::Json([StyleSource::Upload]))
    .bind(days_ago)
    .execute(pool)
    .await
    .unwrap();
    let name = id.to_string();
    for key in [
        keys::content(&name),
        keys::style(&name, 0),
        keys::preview(&name),
        keys::result(&name),
    ] {
        storage.put(&key, b"x".to_vec(), "image/png").await.unwrap();
    }
    id
}

#[tokio::test]
async fn the_workers_sweeper_deletes_jobs_past_their_retention() {
    let mut stack = Stack::start_with(|settings| {
        settings.retention.days = 7;
        settings.retention.sweep_interval_seconds = 1;
        settings.retention.batch = 1;
    })
    .await;
    let storage = Storage::new(&stack.settings.s3);
    let pool = pool(&stack).await;
    let expired = [
        ended_job(&pool, &storage, 8.0).await,
        ended_job(&pool, &storage, 30.0).await,
    ];
    let recent = ended_job(&pool, &storage, 6.0).await;
    stack.start_worker("e2e-sweeper");

    // Batches of one: the sweeper goes on while its batches come full.
    for id in expired {
        let deleted = || async { db::get_job(&pool, id).await.unwrap().unwrap().deleted_by };
        let by = wait_for(Duration::from_secs(60), &format!("{id} deleted"), deleted).await;
        assert_eq!(by, "expired");
        let id = id.to_string();
        assert_eq!(objects(&storage, &id).await, Vec::<String>::new());
        assert_gone(&stack, &id, "", "when its retention period ended").await;
    }
    let row = db::get_job(&pool, recent).await.unwrap().unwrap();
    assert_eq!(row.deleted_at, None);
    assert_eq!(objects(&storage, &recent.to_string()).await.len(), 4);
    assert_eq!(listed(&stack, "").await, [recent.to_string()]);
}

#[tokio::test]
async fn sweepers_at_once_delete_every_expired_job_once() {
    let stack = Stack::start().await;
    let storage = Storage::new(&stack.settings.s3);
    let pool = pool(&stack).await;
    let mut expired = HashSet::new();
    for _ in 0..10 {
        expired.insert(ended_job(&pool, &storage, 8.0).await);
    }
    let retention = Duration::from_secs(7 * 86_400);
    let sweeper = || async {
        let mut swept = Vec::new();
        loop {
            let batch = retention::sweep_expired(&pool, &storage, retention, 2)
                .await
                .unwrap();
            if batch.is_empty() {
                return swept;
            }
            swept.extend(batch.into_iter().map(|row| row.id));
        }
    };
    let (first, second) = tokio::join!(sweeper(), sweeper());
    println!("sweepers deleted {} and {} jobs", first.len(), second.len());
    let mut deleted: Vec<Uuid> = first.into_iter().chain(second).collect();
    assert_eq!(
        deleted.len(),
        expired.len(),
        "a job deleted twice or missed"
    );
    deleted.sort();
    deleted.dedup();
    assert_eq!(deleted.into_iter().collect::<HashSet<_>>(), expired);
    for id in &expired {
        assert_eq!(
            objects(&storage, &id.to_string()).await,
            Vec::<String>::new()
        );
        let row = db::get_job(&pool, *id).await.unwrap().unwrap();
        assert_eq!(row.deleted_by.as_deref(), Some("expired"));
    }
}
