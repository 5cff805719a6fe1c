//! A test stack: its own PostgreSQL database and RabbitMQ queue on the shared services,
//! the api built in-process on a free port, and worker processes started on demand.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use stylize_api::Application;
use stylize_shared::config::Settings;
use uuid::Uuid;

/// One stack at a time: the tests start worker processes, and several stacks at once
/// would crowd two cores enough to make lease timings meaningless.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Stack {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    pub settings: Settings,
    pub base: String,
    pub client: reqwest::Client,
    database: String,
    workers: Vec<Child>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The release or debug binaries folder these tests were built into.
fn binaries() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

impl Stack {
    pub async fn start() -> Stack {
        let turn = ONE_AT_A_TIME.lock().await;
        let tag = Uuid::new_v4().simple().to_string();
        let database = format!("stylize_e2e_{tag}");
        let admin = "postgres://postgres@127.0.0.1:5432/postgres";
        let mut connection: sqlx::PgConnection = sqlx::Connection::connect(admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut connection)
            .await
            .unwrap();

        let mut settings = Settings::load().unwrap();
        settings.http.port = 0;
        settings.database.url = format!("postgres://postgres@127.0.0.1:5432/{database}");
        settings.amqp.queue = format!("stylize.e2e.{tag}");
        let assets = std::env::var("STYLIZE_ASSETS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("../shared/assets"));
        settings.presets.dir = assets.join("styles").to_string_lossy().into_owned();
        settings.worker.weights = std::env::var("STYLIZE_WEIGHTS").unwrap_or_else(|_| {
            root()
                .join("var/vgg19.safetensors")
                .to_string_lossy()
                .into_owned()
        });
        settings.worker.device = "cpu".into();
        settings.worker.lease_seconds = 6;
        settings.worker.heartbeat_seconds = 1;
        settings.worker.progress_interval_ms = 50;
        settings.worker.threads = 1;

        let application = Application::build(settings.clone()).await.unwrap();
        let base = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until_stopped());
        Stack {
            _turn: turn,
            settings,
            base,
            client: reqwest::Client::new(),
            database,
            workers: Vec::new(),
        }
    }

    /// Starts a worker process on this stack's database and queue.
    pub fn start_worker(&mut self, name: &str) {
        let s = &self.settings;
        let child = Command::new(binaries().join("stylize-worker"))
            .env("STYLIZE_WORKER_NAME", name)
            .env("STYLIZE__DATABASE__URL", &s.database.url)
            .env("STYLIZE__AMQP__QUEUE", &s.amqp.queue)
            .env("STYLIZE__WORKER__WEIGHTS", &s.worker.weights)
            .env("STYLIZE__WORKER__DEVICE", &s.worker.device)
            .env(
                "STYLIZE__WORKER__LEASE_SECONDS",
                s.worker.lease_seconds.to_string(),
            )
            .env(
                "STYLIZE__WORKER__HEARTBEAT_SECONDS",
                s.worker.heartbeat_seconds.to_string(),
            )
            .env(
                "STYLIZE__WORKER__PROGRESS_INTERVAL_MS",
                s.worker.progress_interval_ms.to_string(),
            )
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("the worker binary is built (cargo test builds the workspace's bins)");
        self.workers.push(child);
    }

    /// Kills worker `index` at once (SIGKILL): no hand-back, no clean-up.
    pub fn kill_worker(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        worker.kill().unwrap();
        worker.wait().unwrap();
    }

    /// Waits until `count` workers are consuming from this stack's queue.
    pub async fn wait_for_workers(&self, count: u32) {
        let queue = stylize_shared::queue::JobQueue::connect(&self.settings.amqp)
            .await
            .unwrap();
        let started = Instant::now();
        while queue.consumers().await.unwrap() < count {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "workers did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The job's row: (attempts, last worker).
    pub async fn attempts_and_worker(&self, id: &str) -> (i32, Option<String>) {
        let pool = stylize_shared::db::connect(&self.settings.database)
            .await
            .unwrap();
        let row = stylize_shared::db::get_job(&pool, id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        (row.attempts, row.worker)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Polls the job until it reaches a terminal state; returns every body seen.
    pub async fn wait_for_end(&self, id: &str, limit: Duration) -> Vec<serde_json::Value> {
        let started = Instant::now();
        let mut seen = Vec::new();
        loop {
            let (status, body) = self.get_json(&format!("/v1/jobs/{id}")).await;
            assert_eq!(status, 200, "{body}");
            let state = body["state"].as_str().unwrap().to_owned();
            seen.push(body);
            if ["succeeded", "failed", "canceled"].contains(&state.as_str()) {
                return seen;
            }
            assert!(
                started.elapsed() < limit,
                "job {id} still {state} after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn count_jobs(&self) -> i64 {
        let pool = stylize_shared::db::connect(&self.settings.database)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM jobs")
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.kill();
            let _ = worker.wait();
        }
        // Best effort: leave no test database behind.
        let _ = Command::new("dropdb")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "--force",
                "--if-exists",
                &self.database,
            ])
            .status();
    }
}

/// Multipart bodies for submissions.
pub mod form {
    use reqwest::multipart::{Form, Part};

    pub fn file(name: &str, bytes: Vec<u8>) -> Part {
        Part::bytes(bytes).file_name(name.to_owned())
    }

    pub fn submission(content: Vec<u8>, preset: &str, params: serde_json::Value) -> Form {
        Form::new()
            .part("content", file("content.jpg", content))
            .text("preset", preset.to_owned())
            .text("params", params.to_string())
    }
}

pub fn asset(relative: &str) -> Vec<u8> {
    let assets = std::env::var("STYLIZE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("../shared/assets"));
    std::fs::read(assets.join(relative)).unwrap()
}
