//! The job queries of `db`, each against PostgreSQL on a database of the test's own
//! (`scripts/services.sh` runs the server), created here and dropped afterwards.

use sqlx::PgPool;
use std::time::Duration;
use stylize_core::job::{JobState, StyleSource};
use stylize_core::params::StyleParams;
use stylize_shared::db::{self, JobRow, NewJob};
use stylize_shared::scratch::ScratchDatabase;
use stylize_shared::webhooks;
use uuid::Uuid;

/// A migrated database that lives as long as the value, a failing test's included.
struct Scratch {
    pool: PgPool,
    database: ScratchDatabase,
}

impl Scratch {
    async fn new() -> Scratch {
        let scratch = Scratch::empty().await;
        db::migrate(&scratch.pool).await.unwrap();
        scratch
    }

    /// A database without a table yet.
    async fn empty() -> Scratch {
        let database = ScratchDatabase::create("stylize_db").await;
        let pool = db::connect(&database.settings(2)).await.unwrap();
        Scratch { pool, database }
    }
}

async fn submit(pool: &PgPool) -> Uuid {
    submit_for(pool, None).await
}

/// Queues a job of `owner`'s.
async fn submit_for(pool: &PgPool, owner: Option<Uuid>) -> Uuid {
    let id = Uuid::new_v4();
    let params = StyleParams::default();
    let job = NewJob {
        id,
        params: &params,
        styles: &[StyleSource::Upload],
        width: 64,
        height: 48,
        idempotency_key: None,
        request_hash: &[],
        owner,
        webhook: None,
        webhook_events: &[],
        trace_context: None,
    };
    db::insert_job(pool, &job, None).await.unwrap();
    id
}

async fn row(pool: &PgPool, id: Uuid) -> JobRow {
    db::get_job(pool, id).await.unwrap().unwrap()
}

/// Moves the job's last change `seconds` into the past, as if that long had gone by.
async fn age(pool: &PgPool, id: Uuid, seconds: f64) {
    sqlx::query("UPDATE jobs SET updated_at = now() - make_interval(secs => $2) WHERE id = $1")
        .bind(id)
        .bind(seconds)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn claim_takes_a_queued_job_once_and_counts_the_attempt() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let id = submit(pool).await;
    let queued = row(pool, id).await;
    assert_eq!(queued.state(), JobState::Queued);
    assert_eq!(
        (queued.attempts, queued.worker, queued.started_at),
        (0, None, None)
    );

    let claimed = db::claim(pool, id, "w1").await.unwrap().unwrap();
    assert_eq!(claimed.state(), JobState::Running);
    assert_eq!(claimed.worker.as_deref(), Some("w1"));
    assert_eq!(claimed.attempts, 1);
    assert!(claimed.started_at.is_some());
    assert!(claimed.finished_at.is_none());

    // A redelivered message's worker loses, and changes nothing.
    assert!(db::claim(pool, id, "w2").await.unwrap().is_none());
    let after = row(pool, id).await;
    assert_eq!(after.worker.as_deref(), Some("w1"));
    assert_eq!((after.attempts, after.updated_at), (1, claimed.updated_at));

    // Neither a canceled job nor an unknown one can be claimed.
    let canceled = submit(pool).await;
    db::request_cancel(pool, canceled).await.unwrap().unwrap();
    assert!(db::claim(pool, canceled, "w1").await.unwrap().is_none());
    let canceled = row(pool, canceled).await;
    assert_eq!(
        (canceled.state(), canceled.attempts),
        (JobState::Canceled, 0)
    );
    assert!(db::claim(pool, Uuid::new_v4(), "w1")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_run_handed_back_with_a_charged_attempt_keeps_its_count_and_reason() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let id = submit(pool).await;
    db::mark_published(pool, id).await.unwrap();
    db::claim(pool, id, "w1").await.unwrap().unwrap();

    let released = db::finish_run(
        pool,
        id,
        "w1",
        JobState::Queued,
        Some("S3: timed out"),
        true,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(released.state(), JobState::Queued);
    assert_eq!(released.worker, None);
    assert_eq!(released.attempts, 1);
    assert!(!released.published, "the job needs a new message");
    assert_eq!(released.error.as_deref(), Some("S3: timed out"));
    assert!(released.finished_at.is_none());

    // The next claim is the second attempt; a failure ends the job with its worker.
    let second = db::claim(pool, id, "w2").await.unwrap().unwrap();
    assert_eq!(second.attempts, 2);
    let failed = db::finish_run(
        pool,
        id,
        "w2",
        JobState::Failed,
        Some("out of memory"),
        true,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(failed.state(), JobState::Failed);
    assert_eq!((failed.attempts, failed.worker.as_deref()), (2, Some("w2")));
    assert_eq!(failed.error.as_deref(), Some("out of memory"));
    assert!(failed.finished_at.is_some());

    // A finished run cannot be finished again.
    let again = db::finish_run(pool, id, "w2", JobState::Succeeded, None, true);
    assert!(again.await.unwrap().is_none());
    assert_eq!(row(pool, id).await.state(), JobState::Failed);
}

#[tokio::test]
async fn a_job_that_succeeds_at_a_later_attempt_shows_no_earlier_error() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let id = submit(pool).await;
    db::claim(pool, id, "w1").await.unwrap().unwrap();
    let retry = db::finish_run(
        pool,
        id,
        "w1",
        JobState::Queued,
        Some("S3: timed out"),
        true,
    );
    assert!(retry.await.unwrap().is_some());
    db::claim(pool, id, "w2").await.unwrap().unwrap();
    let done = db::finish_run(pool, id, "w2", JobState::Succeeded, None, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state(), JobState::Succeeded);
    assert_eq!(done.error, None, "a succeeded job carries no error");
}

#[tokio::test]
async fn a_run_handed_back_without_charge_returns_its_attempt() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let id = submit(pool).await;
    db::claim(pool, id, "w1").await.unwrap().unwrap();

    let released = db::finish_run(
        pool,
        id,
        "w1",
        JobState::Queued,
        Some("the worker shut down"),
        false,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(released.state(), JobState::Queued);
    assert_eq!((released.attempts, released.worker), (0, None));
    assert!(!released.published);

    // The next claim counts as the first attempt, and its result stands.
    assert_eq!(
        db::claim(pool, id, "w2").await.unwrap().unwrap().attempts,
        1
    );
    let done = db::finish_run(pool, id, "w2", JobState::Succeeded, None, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state(), JobState::Succeeded);
    assert_eq!((done.attempts, done.worker.as_deref()), (1, Some("w2")));
    assert!(done.finished_at.is_some());
}

#[tokio::test]
async fn only_the_worker_holding_a_run_may_finish_it() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let id = submit(pool).await;
    // Not running yet: nothing to finish.
    let early = db::finish_run(pool, id, "w1", JobState::Succeeded, None, true);
    assert!(early.await.unwrap().is_none());
    assert_eq!(row(pool, id).await.state(), JobState::Queued);

    // w1's lease ran out and w2 took the job over; w1's late word changes nothing.
    db::claim(pool, id, "w1").await.unwrap().unwrap();
    age(pool, id, 60.0).await;
    assert_eq!(
        db::requeue_expired(pool, std::time::Duration::from_secs(30))
            .await
            .unwrap(),
        [(id, JobState::Queued)]
    );
    db::claim(pool, id, "w2").await.unwrap().unwrap();
    for to in [JobState::Succeeded, JobState::Failed, JobState::Queued] {
        let late = db::finish_run(pool, id, "w1", to, Some("late"), true);
        assert!(late.await.unwrap().is_none(), "w1 reported {to}");
    }
    let held = row(pool, id).await;
    assert_eq!(held.state(), JobState::Running);
    assert_eq!((held.worker.as_deref(), held.attempts), (Some("w2"), 2));
    assert_eq!(held.error, None);
}

#[tokio::test]
async fn heartbeat_renews_only_its_own_lease_and_reports_a_cancel() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let id = submit(pool).await;
    assert_eq!(
        db::heartbeat(pool, id, "w1").await.unwrap(),
        None,
        "not running"
    );

    db::claim(pool, id, "w1").await.unwrap().unwrap();
    age(pool, id, 20.0).await;
    let stale = row(pool, id).await.updated_at;
    // Another worker's heartbeat is no renewal.
    assert_eq!(db::heartbeat(pool, id, "w2").await.unwrap(), None);
    assert_eq!(row(pool, id).await.updated_at, stale);

    assert_eq!(db::heartbeat(pool, id, "w1").await.unwrap(), Some(false));
    let renewed = row(pool, id).await;
    assert!(renewed.updated_at > stale + chrono::Duration::seconds(15));
    assert_eq!(renewed.state(), JobState::Running);
    // A renewed lease has not run out.
    let lease = std::time::Duration::from_secs(10);
    assert!(db::requeue_expired(pool, lease).await.unwrap().is_empty());

    db::request_cancel(pool, id).await.unwrap().unwrap();
    assert_eq!(db::heartbeat(pool, id, "w1").await.unwrap(), Some(true));
    db::finish_run(pool, id, "w1", JobState::Canceled, None, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db::heartbeat(pool, id, "w1").await.unwrap(), None, "ended");
}

#[tokio::test]
async fn requeue_expired_takes_back_only_runs_whose_lease_ran_out() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let lease = std::time::Duration::from_secs(30);
    let expired = submit(pool).await;
    let live = submit(pool).await;
    let waiting = submit(pool).await;
    let done = submit(pool).await;
    for id in [expired, live, waiting, done] {
        db::mark_published(pool, id).await.unwrap();
    }
    for id in [expired, live, done] {
        db::claim(pool, id, "w1").await.unwrap().unwrap();
    }
    db::finish_run(pool, done, "w1", JobState::Succeeded, None, true)
        .await
        .unwrap()
        .unwrap();
    for id in [expired, waiting, done] {
        age(pool, id, 60.0).await;
    }
    age(pool, live, 20.0).await;

    assert_eq!(
        db::requeue_expired(pool, lease).await.unwrap(),
        [(expired, JobState::Queued)]
    );
    let requeued = row(pool, expired).await;
    assert_eq!(requeued.state(), JobState::Queued);
    assert_eq!(requeued.worker, None);
    assert_eq!(requeued.attempts, 1, "the lost run counts");
    assert!(!requeued.published, "the job needs a new message");
    assert_eq!(row(pool, live).await.state(), JobState::Running);
    assert_eq!(row(pool, waiting).await.state(), JobState::Queued);
    assert_eq!(row(pool, done).await.state(), JobState::Succeeded);
    // Requeued, the job's lease clock starts again.
    assert!(db::requeue_expired(pool, lease).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_expired_run_with_a_cancel_asked_for_ends_canceled_not_queued() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let lease = std::time::Duration::from_secs(30);
    let canceled = submit(pool).await;
    let requeued = submit(pool).await;
    for id in [canceled, requeued] {
        db::mark_published(pool, id).await.unwrap();
        db::claim(pool, id, "w1").await.unwrap().unwrap();
    }
    db::request_cancel(pool, canceled).await.unwrap().unwrap();
    for id in [canceled, requeued] {
        age(pool, id, 60.0).await;
    }

    let mut reaped = db::requeue_expired(pool, lease).await.unwrap();
    reaped.sort_by_key(|(id, _)| *id == canceled);
    assert_eq!(
        reaped,
        [(requeued, JobState::Queued), (canceled, JobState::Canceled)]
    );
    let ended = row(pool, canceled).await;
    assert_eq!(ended.state(), JobState::Canceled);
    assert!(ended.finished_at.is_some());
    assert_eq!(ended.worker.as_deref(), Some("w1"));
    assert_eq!(row(pool, requeued).await.state(), JobState::Queued);
    // Ended, it is not reaped again nor claimable.
    assert!(db::requeue_expired(pool, lease).await.unwrap().is_empty());
    assert!(db::claim(pool, canceled, "w2").await.unwrap().is_none());
}

#[tokio::test]
async fn unpublished_lists_queued_jobs_left_without_a_message_oldest_first() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let grace = std::time::Duration::from_secs(10);
    let older = submit(pool).await;
    let newer = submit(pool).await;
    let in_grace = submit(pool).await;
    let published = submit(pool).await;
    let running = submit(pool).await;
    let canceled = submit(pool).await;
    db::mark_published(pool, published).await.unwrap();
    db::claim(pool, running, "w1").await.unwrap().unwrap();
    db::request_cancel(pool, canceled).await.unwrap().unwrap();
    age(pool, older, 120.0).await;
    for id in [newer, published, running, canceled] {
        age(pool, id, 60.0).await;
    }
    age(pool, in_grace, 5.0).await;

    assert_eq!(db::unpublished(pool, grace).await.unwrap(), [older, newer]);
    db::mark_published(pool, older).await.unwrap();
    assert_eq!(db::unpublished(pool, grace).await.unwrap(), [newer]);
    // Published marks only a queued job.
    db::mark_published(pool, running).await.unwrap();
    assert!(!row(pool, running).await.published);
}

#[tokio::test]
async fn a_jobs_styles_are_stored_as_one_list_in_blend_order() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let styles = [
        StyleSource::Upload,
        StyleSource::Preset {
            id: "starry-night".into(),
        },
    ];
    let params = StyleParams::default();
    let job = NewJob {
        id: Uuid::new_v4(),
        params: &params,
        styles: &styles,
        width: 64,
        height: 48,
        idempotency_key: None,
        request_hash: &[],
        owner: None,
        webhook: None,
        webhook_events: &[],
        trace_context: None,
    };
    let db::Insertion::Created(inserted) = db::insert_job(pool, &job, None).await.unwrap() else {
        panic!("a job with styles is inserted");
    };
    assert_eq!(inserted.styles.0, styles);
    assert_eq!(row(pool, job.id).await.styles.0, styles);
    // A job blends at least one style.
    let none = NewJob {
        id: Uuid::new_v4(),
        styles: &[],
        ..job
    };
    assert!(db::insert_job(pool, &none, None).await.is_err());
}

/// The migration that made `styles` of `presets` (an upload an empty string) and
/// `style_count`.
const STYLES_MIGRATION: i64 = 20261201000001;

#[tokio::test]
async fn jobs_from_before_the_styles_list_keep_their_styles() {
    let scratch = Scratch::empty().await;
    let pool = &scratch.pool;
    let mut before = sqlx::migrate!("../migrations");
    before.migrations = before
        .migrations
        .iter()
        .filter(|migration| migration.version < STYLES_MIGRATION)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(pool).await.unwrap();
    let (uploads_first, preset_only) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, style_count, presets) in [
        (uploads_first, 3, vec!["", "", "the-scream"]),
        (preset_only, 1, vec!["starry-night"]),
    ] {
        sqlx::query(
            "INSERT INTO jobs (id, state, params, style_count, presets, width, height)
             VALUES ($1, 'queued', $2, $3, $4, 64, 48)",
        )
        .bind(id)
        .bind(sqlx::types::Json(StyleParams::default()))
        .bind(style_count)
        .bind(presets)
        .execute(pool)
        .await
        .unwrap();
    }

    db::migrate(pool).await.unwrap();
    let styles = |id| async move { row(pool, id).await.styles.0 };
    let preset = |id: &str| StyleSource::Preset { id: id.into() };
    assert_eq!(
        styles(uploads_first).await,
        [
            StyleSource::Upload,
            StyleSource::Upload,
            preset("the-scream")
        ]
    );
    assert_eq!(styles(preset_only).await, [preset("starry-night")]);
}

/// A program's key, as an owner of jobs.
async fn owner(pool: &PgPool) -> Uuid {
    let hash = Uuid::new_v4().as_bytes().to_vec();
    db::insert_key(pool, "owner", db::KeyKind::Program, &hash)
        .await
        .unwrap()
        .id
}

async fn position(pool: &PgPool, id: Uuid) -> i64 {
    let ahead = stylize_shared::stats::queued_ahead(pool, id).await.unwrap();
    // The order the claims follow, the same.
    let order = stylize_shared::stats::queue_order(pool).await.unwrap();
    assert_eq!(
        order.iter().position(|queued| *queued == id),
        Some(ahead as usize)
    );
    ahead + 1
}

#[tokio::test]
async fn owners_take_turns_and_positions_follow_the_turns() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let (busy, other) = (owner(pool).await, owner(pool).await);
    let mut backlog = Vec::new();
    for _ in 0..5 {
        backlog.push(submit_for(pool, Some(busy)).await);
    }
    let newcomer = submit_for(pool, Some(other)).await;
    let anonymous = submit_for(pool, None).await;
    // Before anything runs: each owner's first job, oldest first, then the backlog.
    assert_eq!(position(pool, backlog[0]).await, 1);
    assert_eq!(position(pool, newcomer).await, 2);
    assert_eq!(position(pool, anonymous).await, 3);
    assert_eq!(position(pool, backlog[1]).await, 4);
    assert_eq!(position(pool, backlog[4]).await, 7);

    let first = db::claim_next(pool, "w1", 0).await.unwrap().unwrap();
    assert_eq!(first.id, backlog[0]);
    // The busy owner has a job running: the others' first jobs come before its next.
    assert_eq!(position(pool, newcomer).await, 1);
    assert_eq!(position(pool, backlog[1]).await, 3);
    let second = db::claim_next(pool, "w2", 0).await.unwrap().unwrap();
    assert_eq!(second.id, newcomer);
    let third = db::claim_next(pool, "w3", 0).await.unwrap().unwrap();
    assert_eq!(third.id, anonymous);

    // Both others' jobs end; the busy owner's first too: with as many running, the
    // owner served longest ago goes first, and only the busy owner has jobs left.
    for (job, worker) in [(&first, "w1"), (&second, "w2"), (&third, "w3")] {
        db::finish_run(pool, job.id, worker, JobState::Succeeded, None, true)
            .await
            .unwrap()
            .unwrap();
    }
    let other_again = submit_for(pool, Some(other)).await;
    // Equal turns (nothing running for either): the newcomer was served after the
    // busy owner, so the busy owner's next job goes first.
    assert_eq!(position(pool, backlog[1]).await, 1);
    assert_eq!(position(pool, other_again).await, 2);
    assert_eq!(
        db::claim_next(pool, "w1", 0).await.unwrap().unwrap().id,
        backlog[1]
    );
    assert_eq!(
        db::claim_next(pool, "w2", 0).await.unwrap().unwrap().id,
        other_again
    );
}

#[tokio::test]
async fn a_cap_on_running_jobs_holds_an_owner_back() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let busy = owner(pool).await;
    let jobs = [
        submit_for(pool, Some(busy)).await,
        submit_for(pool, Some(busy)).await,
    ];
    assert_eq!(
        db::claim_next(pool, "w1", 1).await.unwrap().unwrap().id,
        jobs[0]
    );
    assert!(db::claim_next(pool, "w2", 1).await.unwrap().is_none());
    // Another owner's job is not held back by the first's cap.
    let other = submit_for(pool, None).await;
    assert_eq!(
        db::claim_next(pool, "w2", 1).await.unwrap().unwrap().id,
        other
    );
    // Without a cap the owner's second job runs too.
    assert_eq!(
        db::claim_next(pool, "w3", 0).await.unwrap().unwrap().id,
        jobs[1]
    );
}

#[tokio::test]
async fn parallel_inserts_take_exactly_the_quota() {
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let owner = owner(pool).await;
    let params = StyleParams::default();
    let inserts = (0..30).map(|_| {
        let params = &params;
        async move {
            let job = NewJob {
                id: Uuid::new_v4(),
                params,
                styles: &[StyleSource::Upload],
                width: 64,
                height: 48,
                idempotency_key: None,
                request_hash: &[],
                owner: Some(owner),
                webhook: None,
                webhook_events: &[],
                trace_context: None,
            };
            db::insert_job(pool, &job, Some(7)).await.unwrap()
        }
    });
    let insertions = futures_util::future::join_all(inserts).await;
    let created = insertions
        .iter()
        .filter(|insertion| matches!(insertion, db::Insertion::Created(_)))
        .count();
    assert_eq!(created, 7);
    assert!(insertions.iter().all(|insertion| matches!(
        insertion,
        db::Insertion::Created(_) | db::Insertion::OverQuota { active: 7 }
    )));
    assert_eq!(db::count_active_jobs(pool, owner).await.unwrap(), 7);
}

#[tokio::test]
async fn progress_messages_coalesce_to_the_latest() {
    use stylize_shared::progress::{LiveProgress, Phase};
    let scratch = Scratch::new().await;
    let pool = &scratch.pool;
    let params = StyleParams::default();
    let events = ["progress".to_owned()];
    let job = NewJob {
        id: Uuid::new_v4(),
        params: &params,
        styles: &[StyleSource::Upload],
        width: 64,
        height: 48,
        idempotency_key: None,
        request_hash: &[],
        owner: None,
        webhook: Some("https://example.com/hook"),
        webhook_events: &events,
        trace_context: None,
    };
    db::insert_job(pool, &job, None).await.unwrap();
    db::claim(pool, job.id, "w1").await.unwrap().unwrap();
    let at = |iteration| LiveProgress {
        phase: Phase::Optimising,
        iteration,
        total: 10,
        scale: 1,
        scales: 1,
        fraction: f64::from(iteration) / 10.0,
        loss: None,
        elapsed_seconds: 1.0,
        eta_seconds: None,
        preview_iteration: None,
    };
    for iteration in 1..=4 {
        assert!(
            stylize_shared::webhooks::add_progress(pool, job.id, &at(iteration))
                .await
                .unwrap()
        );
    }
    let pending: Vec<sqlx::types::Json<LiveProgress>> = sqlx::query_scalar(
        "SELECT progress FROM webhook_messages
         WHERE job_id = $1 AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(job.id)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(pending.len(), 1, "one message owed, the latest");
    assert_eq!(pending[0].0.iteration, 4);
}

/// Deliverers claiming at once never share a message: a claim that read the message as
/// due before another's claim committed finds it claimed when it locks it, and skips it.
#[tokio::test]
async fn a_due_webhook_message_is_claimed_by_one_deliverer_only() {
    let scratch = Scratch::new().await;
    let pool = db::connect(&scratch.database.settings(8)).await.unwrap();
    let job = submit(&pool).await;
    sqlx::query(
        "INSERT INTO webhook_messages (id, job_id, event, url, job)
         VALUES (gen_random_uuid(), $1, 'completed', 'http://127.0.0.1:9/hook', '{}')",
    )
    .bind(job)
    .execute(&pool)
    .await
    .unwrap();
    for round in 0..40 {
        sqlx::query("UPDATE webhook_messages SET lease = NULL, next_attempt_at = now()")
            .execute(&pool)
            .await
            .unwrap();
        let claims = (0..8).map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                webhooks::claim_due(&pool, Duration::from_secs(30), 1)
                    .await
                    .unwrap()
                    .len()
            })
        });
        let mut claimed = 0;
        for claim in claims.collect::<Vec<_>>() {
            claimed += claim.await.unwrap();
        }
        assert_eq!(
            claimed, 1,
            "round {round}: the message was claimed {claimed} times"
        );
    }
}
