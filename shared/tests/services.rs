//! The shared clients against the real services of `scripts/services.sh`: PostgreSQL,
//! Redis, RabbitMQ and Garage (S3), over real connections.

use futures_util::StreamExt;
use std::time::Duration;
use stylize_core::job::{JobState, StyleSource};
use stylize_core::params::StyleParams;
use stylize_shared::config::Settings;
use stylize_shared::db::{self, NewJob};
use stylize_shared::progress::{JobEvent, LiveProgress, LossSnapshot, Phase, ProgressStore};
use stylize_shared::queue::{JobMessage, JobQueue};
use stylize_shared::storage::Storage;
use uuid::Uuid;

fn settings() -> Settings {
    let mut settings = Settings::load().unwrap();
    settings.database.url = "postgres://postgres@127.0.0.1:5432/stylize_test".into();
    settings
}

#[tokio::test]
async fn storage_round_trips() {
    let storage = Storage::new(&settings().s3);
    storage.check().await.unwrap();
    let prefix = format!("test/{}/", Uuid::new_v4());
    let key = format!("{prefix}hello.txt");
    assert_eq!(storage.get(&key).await.unwrap(), None);
    storage
        .put(&key, b"hello".to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        storage.get(&key).await.unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(storage.list(&prefix).await.unwrap(), vec![key.clone()]);

    storage.delete(&key).await.unwrap();
    assert!(storage.list(&prefix).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_queue_confirms_delivers_and_dead_letters() {
    let mut amqp = settings().amqp;
    amqp.queue = format!("stylize.test.{}", Uuid::new_v4());
    let queue = JobQueue::connect(&amqp).await.unwrap();
    let first = JobMessage::new(Uuid::new_v4());
    let second = JobMessage::new(Uuid::new_v4());
    queue.publish(&first).await.unwrap();
    queue.publish(&second).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 2);

    let taken = queue.take("test").await.unwrap();
    assert_eq!(JobMessage::decode(&taken.delivery.data).unwrap(), first);
    taken.ack().await.unwrap();
    // The second message, sent ahead to the first channel, went back to the queue.
    let taken = queue.take("test").await.unwrap();
    assert_eq!(JobMessage::decode(&taken.delivery.data).unwrap(), second);
    taken.reject(false).await.unwrap();

    // A rejected message lands in the dead-letter queue, not back in the queue.
    for _ in 0..50 {
        if queue.dead_letter_depth().await.unwrap() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(queue.dead_letter_depth().await.unwrap(), 1);
    assert_eq!(queue.depth().await.unwrap(), 0);
    queue.delete().await.unwrap();
}

#[tokio::test]
async fn progress_is_stored_and_published() {
    let store = ProgressStore::connect(&settings().redis).await.unwrap();
    store.check().await.unwrap();
    let job = Uuid::new_v4();
    assert_eq!(store.get(job).await.unwrap(), None);
    // Every job's events on one subscription; this test's job picked out (other tests
    // publish meanwhile).
    let events = store.all_events().await.unwrap();
    let mut events = events
        .filter_map(|(of, event)| async move { (of == job).then_some(event) })
        .boxed();
    let progress = LiveProgress {
        phase: Phase::Optimising,
        iteration: 3,
        total: 10,
        scale: 2,
        scales: 3,
        fraction: 0.3,
        loss: Some(LossSnapshot {
            content: 1.0,
            style: 2.0,
            tv: 0.5,
            total: 3.5,
        }),
        elapsed_seconds: 1.5,
        eta_seconds: Some(3.5),
        preview_iteration: None,
    };
    store.publish(job, &progress).await.unwrap();
    assert_eq!(store.get(job).await.unwrap(), Some(progress.clone()));
    let received = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap();
    assert_eq!(received, Some(JobEvent::Progress(progress)));
    store.announce_state(job, JobState::Running).await.unwrap();
    let received = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap();
    assert_eq!(received, Some(JobEvent::State(JobState::Running)));

    // Cancels have a channel of their own.
    let mut cancels = store.cancels(job).await.unwrap();
    store.announce_cancel(job).await.unwrap();
    let received = tokio::time::timeout(Duration::from_secs(5), cancels.next())
        .await
        .unwrap();
    assert_eq!(received, Some(()));
}

#[tokio::test]
async fn jobs_move_only_along_the_lifecycle() {
    let pool = db::connect(&settings().database).await.unwrap();
    db::migrate(&pool).await.unwrap();
    let params = StyleParams::default();
    let key = Uuid::new_v4().to_string();
    let new = |id| NewJob {
        id,
        params: &params,
        styles: &[StyleSource::Upload],
        width: 512,
        height: 384,
        idempotency_key: Some(&key),
        request_hash: b"the first request",
        owner: None,
        webhook: None,
        webhook_events: &[],
        trace_context: None,
    };
    let id = Uuid::new_v4();
    let db::Insertion::Created(row) = db::insert_job(&pool, &new(id), None).await.unwrap() else {
        panic!("the first job is inserted");
    };
    assert_eq!(row.state(), JobState::Queued);
    assert_eq!(row.params.0, params);

    // The same idempotency key answers with the first job, and what it asked for.
    let again = db::insert_job(&pool, &new(Uuid::new_v4()), None)
        .await
        .unwrap();
    let db::Insertion::Existing(again) = again else {
        panic!("the key's first job answers, got {again:?}");
    };
    assert_eq!(again.id, id);
    let found = db::find_by_idempotency_key(&pool, None, &key)
        .await
        .unwrap();
    let hash = found.and_then(|row| row.request_hash);
    assert_eq!(hash.as_deref(), Some(&b"the first request"[..]));
    let other_owner = db::find_by_idempotency_key(&pool, Some(Uuid::new_v4()), &key);
    assert!(other_owner.await.unwrap().is_none());

    let running = db::claim(&pool, id, "w").await.unwrap().unwrap();
    assert_eq!(running.state(), JobState::Running);
    assert!(running.started_at.is_some());
    // A second claim loses.
    assert!(db::claim(&pool, id, "v").await.unwrap().is_none());
    let failed = db::finish_run(&pool, id, "w", JobState::Failed, Some("boom"), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state(), JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("boom"));
    assert!(failed.finished_at.is_some());
    assert!(db::get_job(&pool, Uuid::new_v4()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_run_canceled_while_it_ends_never_succeeds() {
    let pool = db::connect(&settings().database).await.unwrap();
    db::migrate(&pool).await.unwrap();
    let params = StyleParams::default();
    let new = |id| NewJob {
        id,
        params: &params,
        styles: &[StyleSource::Upload],
        width: 512,
        height: 384,
        idempotency_key: None,
        request_hash: &[],
        owner: None,
        webhook: None,
        webhook_events: &[],
        trace_context: None,
    };
    // Claimed, canceled, then finished by its worker as it would be: the cancel wins,
    // whatever the run reports, unless it failed.
    for (reported, ended) in [
        (JobState::Succeeded, JobState::Canceled),
        (JobState::Queued, JobState::Canceled),
        (JobState::Failed, JobState::Failed),
    ] {
        let id = Uuid::new_v4();
        db::insert_job(&pool, &new(id), None).await.unwrap();
        db::claim(&pool, id, "w").await.unwrap().unwrap();
        let canceling = db::request_cancel(&pool, id).await.unwrap().unwrap();
        assert_eq!(canceling.state(), JobState::Running);
        assert!(canceling.cancel_requested);
        let row = db::finish_run(&pool, id, "w", reported, Some("why"), true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state(), ended, "reported {reported}");
        assert!(row.finished_at.is_some(), "reported {reported}");
        assert!(db::request_cancel(&pool, id).await.unwrap().is_none());
    }
    // Without a cancel, the run's word stands.
    let id = Uuid::new_v4();
    db::insert_job(&pool, &new(id), None).await.unwrap();
    db::claim(&pool, id, "w").await.unwrap().unwrap();
    let row = db::finish_run(&pool, id, "w", JobState::Succeeded, None, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state(), JobState::Succeeded);
}
