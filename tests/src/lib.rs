//! A test stack: its own PostgreSQL database and RabbitMQ queue on the shared services,
//! the api built in-process on a free port, and worker processes started on demand.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};
use stylize_api::Application;
use stylize_shared::config::Settings;
use stylize_shared::scratch::ScratchDatabase;
use uuid::Uuid;

/// Polls `found` every 20 ms until it gives a value, failing with `what` after `limit`:
/// the one wait the tests share, for what no event announces.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut found: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = found().await {
            return value;
        }
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_for`] a condition to hold.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let holds = || {
        let check = condition();
        async move { check.await.then_some(()) }
    };
    wait_for(limit, what, holds).await
}

/// One stack at a time: the tests start worker processes, and several stacks at once
/// would crowd two cores enough to make lease timings meaningless; and a test that
/// stops a service (`chaos`) must not pull it from under another.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The turn to use the shared services, for a test that uses them without a [`Stack`]
/// (which takes it itself).
pub async fn services_turn() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

pub struct Stack {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    pub settings: Settings,
    pub base: String,
    /// The api's `/metrics` (on its own port when `http.metrics_address` is set).
    pub api_metrics: String,
    pub client: reqwest::Client,
    _database: ScratchDatabase,
    /// The configuration files handed to the workers.
    config_dir: PathBuf,
    workers: Vec<Child>,
    /// Where each worker serves `/metrics`.
    metrics_ports: Vec<u16>,
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One of the workspace's binaries, built beside these tests.
pub fn binary(name: &str) -> PathBuf {
    binaries().join(name)
}

/// The release or debug binaries folder these tests were built into.
fn binaries() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Sends `request`; the status and the JSON body (every api answer has one). An error
/// answer is checked to be a problem (`application/problem+json`).
async fn answer(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let media_type = response.headers().get(reqwest::header::CONTENT_TYPE);
        assert_eq!(
            media_type.and_then(|value| value.to_str().ok()),
            Some("application/problem+json"),
            "{} answered {status}",
            response.url()
        );
    }
    (status.as_u16(), response.json().await.unwrap())
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::start_with(|_| {}).await
    }

    /// A stack whose settings `configure` adjusts before the api starts.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Stack {
        let turn = services_turn().await;
        let tag = Uuid::new_v4().simple().to_string();
        let database = ScratchDatabase::create("stylize_e2e").await;

        let mut settings = Settings::load().unwrap();
        settings.http.port = 0;
        settings.database.url = database.url().into();
        settings.amqp.queue = format!("stylize.e2e.{tag}");
        settings.presets.dir = assets_dir().join("styles").to_string_lossy().into_owned();
        settings.worker.weights = std::env::var("STYLIZE_WEIGHTS").unwrap_or_else(|_| {
            root()
                .join("var/vgg19.safetensors")
                .to_string_lossy()
                .into_owned()
        });
        settings.worker.fast_weights = std::env::var("STYLIZE_FAST_WEIGHTS").unwrap_or_else(|_| {
            root()
                .join("var/fast.safetensors")
                .to_string_lossy()
                .into_owned()
        });
        settings.worker.device = "cpu".into();
        settings.worker.lease_seconds = 6;
        settings.worker.heartbeat_seconds = 1;
        settings.worker.progress_interval_ms = 50;
        settings.worker.threads = 1;

        configure(&mut settings);
        let config_dir = std::env::temp_dir().join(format!("stylize-e2e-{tag}"));
        std::fs::create_dir_all(&config_dir).unwrap();
        let application = Application::build(settings.clone()).await.unwrap();
        // The api serves at once and prepares its services behind: its database
        // migrated and its presets stored before the tests use them.
        tokio::time::timeout(Duration::from_secs(60), application.ready())
            .await
            .expect("the api's services answered within a minute");
        let base = format!("http://127.0.0.1:{}", application.port());
        let api_metrics = format!("http://127.0.0.1:{}/metrics", application.metrics_port());
        tokio::spawn(application.run_until_stopped());
        Stack {
            _turn: turn,
            settings,
            base,
            api_metrics,
            // Idle connections are dropped well before the api's 5 s keep-alive ends
            // them, so no request races a closing connection.
            client: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
            _database: database,
            config_dir,
            workers: Vec::new(),
            metrics_ports: Vec::new(),
        }
    }

    /// Starts a worker process on this stack's database and queue.
    pub fn start_worker(&mut self, name: &str) {
        self.launch_worker(name, Command::new(binaries().join("stylize-worker")));
    }

    /// Starts a worker whose private memory (`RLIMIT_DATA`) is capped, so a job larger
    /// than the cap fails inside libtorch as it would on a full GPU.
    pub fn start_worker_with_memory_limit(&mut self, name: &str, bytes: u64) {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--data={bytes}"))
            .arg(binaries().join("stylize-worker"));
        self.launch_worker(name, command);
    }

    /// Starts `command` as a worker with this stack's whole configuration, as a file (the
    /// test process's own `STYLIZE__*` variables would override it, so they stay here).
    fn launch_worker(&mut self, name: &str, mut command: Command) {
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let mut settings = self.settings.clone();
        settings.worker.metrics_address = format!("127.0.0.1:{metrics_port}");
        let config = self
            .config_dir
            .join(format!("worker-{}.toml", self.workers.len()));
        std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
        for (variable, _) in std::env::vars_os() {
            if variable.to_string_lossy().starts_with("STYLIZE__") {
                command.env_remove(variable);
            }
        }
        let child = command
            .env("STYLIZE_CONFIG", &config)
            .env("STYLIZE_WORKER_NAME", name)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("the worker binary is built (cargo test builds the workspace's bins)");
        self.workers.push(child);
        self.metrics_ports.push(metrics_port);
    }

    /// Sends worker `index` SIGTERM and waits up to `limit` for it to exit.
    pub async fn terminate_worker(&mut self, index: usize, limit: Duration) -> ExitStatus {
        let worker = &mut self.workers[index];
        let sent = Command::new("kill")
            .args(["-TERM", &worker.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let exited = || std::future::ready(worker.try_wait().unwrap());
        wait_for(limit, "the worker's exit after SIGTERM", exited).await
    }

    /// Whether worker `index` is still running.
    pub fn worker_alive(&mut self, index: usize) -> bool {
        self.workers[index].try_wait().unwrap().is_none()
    }

    /// Worker `index`'s `/metrics` text, once it answers.
    pub async fn worker_metrics(&self, index: usize) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_ports[index]);
        let answered = || async {
            let response = self.client.get(&url).send().await.ok()?;
            Some(response.text().await.unwrap())
        };
        wait_for(
            Duration::from_secs(60),
            &format!("an answer from {url}"),
            answered,
        )
        .await
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
        let consuming =
            || async { queue.declared_counts().await.unwrap().consumer_count() >= count };
        wait_until(Duration::from_secs(60), "the workers consuming", consuming).await;
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

    /// Waits until the job's worker has renewed its lease since it claimed the job: it
    /// still holds the job, whatever it is waiting on.
    pub async fn wait_for_renewed_lease(&self, id: &str) {
        let pool = stylize_shared::db::connect(&self.settings.database)
            .await
            .unwrap();
        let renewed = || async {
            let row = stylize_shared::db::get_job(&pool, id.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
            let running = row.state() == stylize_core::job::JobState::Running;
            let claimed = row.started_at.filter(|_| running);
            claimed.is_some_and(|claimed| row.updated_at > claimed)
        };
        let what = format!("job {id} running, its lease renewed since its claim");
        wait_until(Duration::from_secs(60), &what, renewed).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to `path` with `key` as its bearer token (none when empty).
    pub fn keyed(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        if key.is_empty() {
            request
        } else {
            request.bearer_auth(key)
        }
    }

    /// A new API key named `name`, made with the admin token `admin`: its id and the key.
    pub async fn new_key(&self, admin: &str, name: &str) -> (String, String) {
        let response = self
            .keyed(reqwest::Method::POST, "/v1/admin/keys", admin)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        let field = |name: &str| body[name].as_str().unwrap().to_owned();
        (field("id"), field("key"))
    }

    /// `POST /v1/jobs` with the multipart `body`: the status and the JSON answer, the job
    /// or the problem a refusal answers.
    pub async fn post_form(&self, body: reqwest::multipart::Form) -> (u16, serde_json::Value) {
        answer(self.client.post(self.url("/v1/jobs")).multipart(body)).await
    }

    /// `POST /v1/jobs/{id}/cancel`: the status and the body.
    pub async fn cancel(&self, id: &str) -> (u16, serde_json::Value) {
        answer(self.client.post(self.url(&format!("/v1/jobs/{id}/cancel")))).await
    }

    /// The status `GET /v1/jobs/{id}/result` answers.
    pub async fn result_status(&self, id: &str) -> u16 {
        let result = self.client.get(self.url(&format!("/v1/jobs/{id}/result")));
        result.send().await.unwrap().status().as_u16()
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

    /// Submits tubingen × the Great Wave with `params`; returns the job's id.
    pub async fn submit(&self, params: serde_json::Value) -> String {
        let photo = asset("content/tubingen.jpg");
        let response = post_job(&self.client, &self.base, photo, "great-wave", params)
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let job: serde_json::Value = response.json().await.unwrap();
        job["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the job runs and has made a few iterations.
    pub async fn wait_until_running(&self, id: &str) {
        let running = || async {
            let (_, body) = self.get_json(&format!("/v1/jobs/{id}")).await;
            body["progress"]["iteration"].as_i64().unwrap_or(0) > 2
        };
        let what = format!("job {id} past its second iteration");
        wait_until(Duration::from_secs(60), &what, running).await;
    }

    /// Checks how a run of jobs settled: each is in a terminal state, each succeeded job
    /// has its result in storage (and the api serves it as a PNG), and no other job has
    /// one. Returns the jobs' final states.
    pub async fn assert_settled(&self, ids: &[impl AsRef<str>]) -> Vec<String> {
        let storage = stylize_shared::storage::Storage::new(&self.settings.s3);
        let mut states = Vec::new();
        for id in ids.iter().map(AsRef::as_ref) {
            let (status, body) = self.get_json(&format!("/v1/jobs/{id}")).await;
            assert_eq!(status, 200, "{body}");
            let state = body["state"].as_str().unwrap().to_owned();
            assert!(
                ["succeeded", "failed", "canceled"].contains(&state.as_str()),
                "job {id} is {state}: {body}"
            );
            let results: Vec<String> = storage
                .list(&format!("jobs/{id}/"))
                .await
                .unwrap()
                .into_iter()
                .filter(|key| key.ends_with("result.png"))
                .collect();
            let expected = usize::from(state == "succeeded");
            assert_eq!(results.len(), expected, "job {id} is {state}: {results:?}");
            if state == "succeeded" {
                let response = self
                    .client
                    .get(self.url(&format!("/v1/jobs/{id}/result")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let png = response.bytes().await.unwrap();
                assert!(png.starts_with(b"\x89PNG"), "job {id}'s result is no PNG");
            }
            states.push(state);
        }
        states
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
        // Best effort: leave no test queues behind (on a thread of its own: `drop`
        // cannot await, and may run inside the test's runtime).
        let amqp = self.settings.amqp.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                if let Ok(queue) = stylize_shared::queue::JobQueue::connect(&amqp).await {
                    let _ = queue.delete().await;
                }
            });
            std::io::Result::Ok(())
        })
        .join();
        let _ = std::fs::remove_dir_all(&self.config_dir);
        // The database goes with `_database`, dropped after this.
    }
}

/// The shared services, taken away and brought back under a test. An outage ends when
/// its guard drops, so a failing test leaves every service running for the next one.
pub mod outage {
    use std::process::Command;
    use std::time::{Duration, Instant};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Service {
        RabbitMq,
        Redis,
        S3,
    }

    impl Service {
        fn port(self) -> u16 {
            match self {
                Service::RabbitMq => 5672,
                Service::Redis => 6379,
                Service::S3 => 3900,
            }
        }

        /// The command that stops it the way an operator or a crash would: RabbitMQ's
        /// broker application stops (closing every connection), Redis shuts down
        /// (losing what it held: it keeps nothing on disk here), Garage's process is
        /// killed.
        fn stop(self) -> Command {
            match self {
                Service::RabbitMq => command("rabbitmqctl", &["-q", "stop_app"]),
                Service::Redis => command("redis-cli", &["-h", "127.0.0.1", "shutdown", "nosave"]),
                Service::S3 => command("scripts/lib/garage.sh", &["stop"]),
            }
        }

        /// The command that starts it again: the project's own set-up where it has one.
        fn start(self) -> Command {
            match self {
                Service::RabbitMq => command("rabbitmqctl", &["-q", "start_app"]),
                Service::Redis => command("scripts/services.sh", &[]),
                Service::S3 => command("scripts/lib/garage.sh", &[]),
            }
        }
    }

    fn command(program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.args(args).current_dir(super::root());
        command
    }

    fn answers(service: Service) -> bool {
        std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], service.port()).into(),
            Duration::from_millis(200),
        )
        .is_ok()
    }

    /// Runs `command` (Redis's shutdown reports the connection it drops as an error:
    /// the port going quiet is the check), then waits until the port is `up` or not.
    fn switch(service: Service, mut command: Command, up: bool) {
        let status = command
            .status()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(
            status.success() || service == Service::Redis,
            "{command:?}: {status}"
        );
        let started = Instant::now();
        while answers(service) != up {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{service:?} did not {}",
                if up { "come back" } else { "go away" }
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A service that is down until [`Outage::end`] (or, should the test fail first,
    /// until the guard drops, so the next test finds every service running).
    pub struct Outage {
        service: Service,
        over: bool,
    }

    impl Outage {
        /// Stops `service`; the calling test's runtime goes on meanwhile (the api under
        /// test runs on it).
        pub async fn begin(service: Service) -> Outage {
            tokio::task::spawn_blocking(move || switch(service, service.stop(), false))
                .await
                .unwrap();
            Outage {
                service,
                over: false,
            }
        }

        /// Starts the service again and waits until it accepts connections.
        pub async fn end(mut self) {
            self.over = true;
            let service = self.service;
            tokio::task::spawn_blocking(move || switch(service, service.start(), true))
                .await
                .unwrap();
        }
    }

    impl Drop for Outage {
        fn drop(&mut self) {
            if !self.over {
                switch(self.service, self.service.start(), true);
            }
        }
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

/// Every route of the job `id` with its method: what another key must not reach, and
/// what a deleted job answers `410` to.
pub fn job_routes(id: &str) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    let job = format!("/v1/jobs/{id}");
    vec![
        (Method::GET, job.clone()),
        (Method::GET, format!("{job}/result")),
        (Method::GET, format!("{job}/preview")),
        (Method::GET, format!("{job}/events")),
        (Method::POST, format!("{job}/cancel")),
        (Method::DELETE, job),
    ]
}

/// The preset paintings and the sample photo: the repository's `assets/` unless
/// `STYLIZE_ASSETS` says otherwise.
pub fn assets_dir() -> PathBuf {
    std::env::var("STYLIZE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("assets"))
}

pub fn asset(relative: &str) -> Vec<u8> {
    std::fs::read(assets_dir().join(relative)).unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed) in Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// A program of the project's virtualenv (`STYLIZE_VENV`, else `.venv` in the checkout).
pub fn venv_program(name: &str) -> PathBuf {
    std::env::var_os("STYLIZE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"))
        .join("bin")
        .join(name)
}

/// `POST /v1/jobs` at `base` with `photo`, one preset and `params`.
pub async fn post_job(
    client: &reqwest::Client,
    base: &str,
    photo: Vec<u8>,
    preset: &str,
    params: serde_json::Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{base}/v1/jobs"))
        .multipart(form::submission(photo, preset, params))
        .send()
        .await
}

/// The events of a server-sent event stream's text: each block's `event` and its `data`
/// as JSON. The `retry` the api's streams open with and keep-alive comments (`:`) are
/// no events.
pub fn sse_events(text: &str) -> Vec<(String, serde_json::Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| block.lines().find_map(|line| line.strip_prefix(name));
            let event = field("event: ")?.to_owned();
            Some((event, serde_json::from_str(field("data: ")?).unwrap()))
        })
        .collect()
}

/// The process's resident memory, in bytes (`VmRSS`).
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap();
    kib * 1024
}
