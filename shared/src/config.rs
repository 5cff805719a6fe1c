//! Settings, layered: the defaults below (a development machine: services on loopback,
//! Garage from `scripts/lib/garage.sh`), then an optional TOML file named by
//! `STYLIZE_CONFIG`, then environment variables such as `STYLIZE__DATABASE__URL` (two
//! underscores between levels).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    pub s3: S3Settings,
    pub limits: LimitSettings,
    pub fetch: FetchSettings,
    pub presets: PresetSettings,
    pub web: WebSettings,
    pub auth: AuthSettings,
    pub worker: WorkerSettings,
    pub retention: RetentionSettings,
    pub webhooks: WebhookSettings,
    pub telemetry: TelemetrySettings,
}

/// Traces, sent to an OpenTelemetry collector (`telemetry::init`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelemetrySettings {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`); spans go to
    /// `{otlp_endpoint}/v1/traces`. Empty: no traces.
    pub otlp_endpoint: String,
    /// The share of traces kept, from 0 to 1, decided where each begins.
    pub sampling_ratio: f64,
    /// The `service.name` the spans carry; empty: the binary's own (`stylize-api`,
    /// `stylize-worker`).
    pub service_name: String,
}

/// Webhooks: jobs' events POSTed to the URL a job names, from an outbox in PostgreSQL
/// that each api replica's deliverer sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// The signing secret (`whsec_` and base64 of the key) of jobs submitted without an
    /// API key (`auth.required` off); empty: such jobs may not ask for webhooks.
    pub secret: Secret,
    /// One attempt's limit, connection and answer included.
    pub timeout_seconds: u64,
    /// A failed attempt is tried again after this, doubling each time up to
    /// `max_retry_interval_seconds`, until `give_up_after_seconds` past the event.
    pub first_retry_ms: u64,
    pub max_retry_interval_seconds: u64,
    pub give_up_after_seconds: u64,
    /// How often a deliverer looks for due messages when no notice woke it.
    pub poll_ms: u64,
    /// At most one `progress` message per job this often.
    pub progress_interval_seconds: u64,
    /// How long a message is kept once delivered or given up, with its attempts (what an
    /// operator reads to answer "did my webhook arrive?"); then the deliverers delete it.
    pub keep_finished_seconds: u64,
}

/// How long a finished job's images and row are kept; the workers' sweeper deletes
/// them after that (the row stays as a tombstone that answers `410 Gone`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionSettings {
    /// Days after a job ended; 0 keeps jobs forever (no sweeper runs).
    pub days: u32,
    /// How often each worker's sweeper looks for expired jobs.
    pub sweep_interval_seconds: u64,
    /// Jobs deleted per sweeper step (one transaction each).
    pub batch: u32,
}

impl RetentionSettings {
    /// How long a finished job is kept; `None` for ever.
    pub fn keep_for(&self) -> Option<std::time::Duration> {
        (self.days > 0).then(|| std::time::Duration::from_secs(u64::from(self.days) * 86_400))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSettings {
    /// Off (a development machine): a request without a key is the one anonymous owner
    /// of an open deployment. On: every job request carries a key (a program's
    /// `Authorization: Bearer KEY`, or a page visitor's cookie). Either way each key sees
    /// only its own jobs.
    pub required: bool,
    /// Keys off on a non-loopback address is refused at start-up unless this says the
    /// deployment is open to everyone on purpose.
    pub open: bool,
    /// Bearer token for `/v1/admin/keys` (create, list, revoke keys); empty turns the
    /// admin path off.
    pub admin_token: Secret,
    /// Page visitors get an identity of their own from `POST /v1/session` (a key in a
    /// cookie); off: the page works only where keys are off.
    pub visitors: bool,
    /// Mark that cookie `Secure` (sent over HTTPS only): on wherever the page is served
    /// through TLS, as in deploy/k8s; off by default for plain-HTTP development.
    pub secure_cookie: bool,
    /// Per program key: submissions a minute, and jobs queued or running at once.
    pub submissions_per_minute: u64,
    pub max_active_jobs: i64,
    /// Per visitor: the same two limits, lower.
    pub visitor_submissions_per_minute: u64,
    pub visitor_max_active_jobs: i64,
    /// Per client address, over all its visitors: identities minted and submissions,
    /// a minute.
    pub address_sessions_per_minute: u64,
    pub address_submissions_per_minute: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebSettings {
    /// The built page (`web/static` after `npm run build`), served at `/`.
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSettings {
    /// auto, cpu, cuda or cuda:N.
    pub device: String,
    /// CPU threads for libtorch; 0 keeps its default (one per core). Set it when several
    /// workers share a machine's CPU.
    pub threads: i32,
    /// Converted VGG19 weights.
    pub weights: String,
    /// The fast network's converted weights (`scripts/weights/convert_fast.py`): `fast`
    /// jobs, and each `full` job's first preview.
    pub fast_weights: String,
    /// A running job whose worker has not renewed its lease for this long is handed to
    /// another worker.
    pub lease_seconds: u64,
    pub heartbeat_seconds: u64,
    /// Deliveries a job may take before it ends failed (a job that kills workers).
    pub max_attempts: u32,
    /// Live progress is published at most this often.
    pub progress_interval_ms: u64,
    /// Previews per job (one every 1/N of the iterations).
    pub previews: u32,
    /// SIGTERM: hand the current job back within this many seconds.
    pub shutdown_deadline_seconds: u64,
    /// How long one storage call is retried before the run counts as failed (and the
    /// job goes back on the queue, spending an attempt).
    pub storage_retry_seconds: u64,
    /// Where the worker serves `/metrics` and `/healthz` (port 0: any free port).
    pub metrics_address: String,
    /// Jobs one worker runs at once on its device, each with its own lease, progress
    /// and cancel; the model is shared. Capacity is workers × concurrency.
    pub concurrency: usize,
    /// The device's memory for the memory guard: a job whose estimated need exceeds it
    /// fails at once, and jobs running at once share it by their estimates. 0: unknown,
    /// and the guard assumes a conservative figure (three quarters of the machine's
    /// memory for a CPU, 8 GiB for a GPU, whose memory libtorch does not report).
    pub device_memory_bytes: u64,
    /// A run that goes on longer than this from its claim ends `failed`, saying so.
    pub max_run_seconds: u64,
    /// Jobs one owner (a key, a visitor, or the anonymous owner) may have running at
    /// once across all workers; the others wait their turn even with workers idle.
    /// 0: no cap (turns still go round the owners fairly).
    pub max_running_per_owner: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresetSettings {
    /// Paintings imported into storage at start-up; an ATTRIBUTION.md table beside
    /// them (file | work | artist | year) names them.
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Serves `/metrics` on this address ("host:port") instead of the main port, so the
    /// scrape endpoint stays off the public listener; empty: on the main port.
    pub metrics_address: String,
    /// Other sites' origins (`https://app.example.com`) whose pages may send requests
    /// that change state (submit, cancel) without an API key; the api's own origin
    /// always may.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_origins: Vec<String>,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the
    /// client; from any other peer the header is ignored and the peer is the client.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseSettings {
    /// Holds the password.
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedisSettings {
    /// May hold the password.
    pub url: Secret,
    /// Live progress outlives its job by this long, then PostgreSQL alone answers.
    pub progress_ttl_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AmqpSettings {
    /// Holds the password.
    pub url: Secret,
    pub queue: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: Secret,
    /// A store that does not accept a connection within this long counts as down.
    pub connect_timeout_seconds: u64,
    /// One request, retries by the SDK included, gives up after this long.
    pub operation_timeout_seconds: u64,
}

/// A setting that must stay out of logs (a password, a token, a URL that holds one):
/// `Debug` prints `[redacted]`, and [`Secret::expose`] is the one way to read it.
/// Serialising writes the value itself, so settings written out for another process
/// (the end-to-end tests' workers) keep it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Images given by URL, which the api fetches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchSettings {
    /// The whole fetch, redirects and body included.
    pub timeout_seconds: u64,
    pub max_redirects: usize,
    /// Internal networks (CIDR) that may be fetched from all the same; by default none:
    /// private, loopback, link-local and other internal addresses are refused.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_networks: Vec<String>,
}

/// A list from a file, or one comma-separated string, as an environment variable gives
/// it (`STYLIZE__FETCH__ALLOWED_NETWORKS=10.1.0.0/16,10.2.0.0/16`), or that string
/// written as a JSON list (`["10.1.0.0/16"]`).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Given::deserialize(deserializer)? {
        Given::List(list) => list,
        Given::Text(text) if text.trim_start().starts_with('[') => {
            serde_json::from_str(&text).map_err(serde::de::Error::custom)?
        }
        Given::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(String::from)
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitSettings {
    /// Largest request body the api reads.
    pub max_body_bytes: usize,
    pub max_image_bytes: usize,
    pub max_image_pixels: u64,
    pub max_image_side: u32,
    /// A submission's whole body must arrive within this long (a body dripped in a
    /// byte at a time would otherwise hold its connection and buffers for good).
    pub submission_read_seconds: u64,
    /// Images the api decodes at once (each may take a second and a few hundred MiB);
    /// further submissions wait their turn.
    pub max_concurrent_decodes: usize,
    /// Submission bodies the api holds at once, in bytes, over all requests: each takes
    /// its declared length (`max_body_bytes` when chunked) before its body is read, and
    /// waits its turn while the budget is spent.
    pub max_inflight_upload_bytes: usize,
    /// Parts a submission's form may have.
    pub max_form_parts: usize,
    /// Event streams (`GET /v1/jobs/{id}/events`) one api holds open, per owner and in
    /// all, and how long each lasts before the client reconnects.
    pub max_event_streams_per_owner: usize,
    pub max_event_streams: usize,
    pub event_stream_seconds: u64,
}

const DEFAULTS: &str = r#"
[http]
host = "127.0.0.1"
port = 8080
metrics_address = ""
allowed_origins = []
trusted_proxies = []

[database]
url = "postgres://postgres@127.0.0.1:5432/stylize"
max_connections = 10

[redis]
url = "redis://127.0.0.1:6379"
progress_ttl_seconds = 86400

[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
queue = "stylize.jobs"

[s3]
endpoint = "http://127.0.0.1:3900"
region = "garage"
bucket = "stylize"
access_key = "GK5759f04b5b8b6bb4ba3fbdb8"
secret_key = "2f8a0b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
connect_timeout_seconds = 3
operation_timeout_seconds = 60

[presets]
dir = "assets/styles"

[web]
dir = "web/static"

[auth]
required = false
open = false
admin_token = ""
visitors = true
secure_cookie = false
submissions_per_minute = 60
max_active_jobs = 10
visitor_submissions_per_minute = 10
visitor_max_active_jobs = 3
address_sessions_per_minute = 20
address_submissions_per_minute = 30

[worker]
device = "auto"
threads = 0
weights = "var/vgg19.safetensors"
fast_weights = "var/fast.safetensors"
lease_seconds = 30
heartbeat_seconds = 5
max_attempts = 3
progress_interval_ms = 250
previews = 20
shutdown_deadline_seconds = 20
storage_retry_seconds = 15
metrics_address = "127.0.0.1:9101"
concurrency = 1
device_memory_bytes = 0
max_run_seconds = 14400
max_running_per_owner = 0

[webhooks]
secret = ""
timeout_seconds = 10
first_retry_ms = 5000
max_retry_interval_seconds = 3600
give_up_after_seconds = 86400
poll_ms = 1000
progress_interval_seconds = 5
keep_finished_seconds = 604800

[telemetry]
otlp_endpoint = ""
sampling_ratio = 1.0
service_name = ""

[retention]
days = 7
sweep_interval_seconds = 300
batch = 100

[fetch]
timeout_seconds = 10
max_redirects = 5
allowed_networks = []

[limits]
max_body_bytes = 52428800
max_image_bytes = 31457280
max_image_pixels = 50000000
max_image_side = 12000
submission_read_seconds = 60
max_concurrent_decodes = 2
max_inflight_upload_bytes = 268435456
max_form_parts = 16
max_event_streams_per_owner = 16
max_event_streams = 4096
event_stream_seconds = 600
"#;

impl Settings {
    /// The built-in defaults alone: a development machine's.
    pub fn defaults() -> Result<Self, config::ConfigError> {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()?
            .try_deserialize()
    }

    /// Defaults, then the `STYLIZE_CONFIG` file if set, then `STYLIZE__*` variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Ok(path) = std::env::var("STYLIZE_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path));
        }
        builder
            .add_source(
                config::Environment::with_prefix("STYLIZE")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?
            .try_deserialize()
    }

    pub fn image_limits(&self) -> stylize_core::images::ImageLimits {
        stylize_core::images::ImageLimits {
            max_bytes: self.limits.max_image_bytes,
            max_pixels: self.limits.max_image_pixels,
            max_side: self.limits.max_image_side,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests that change the process's environment take turns.
    static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn environment_turn() -> std::sync::MutexGuard<'static, ()> {
        ENVIRONMENT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[test]
    fn defaults_load_and_environment_overrides() {
        let _turn = environment_turn();
        let settings = Settings::load().unwrap();
        assert_eq!(settings.amqp.queue, "stylize.jobs");
        assert!(settings.fetch.allowed_networks.is_empty());
        std::env::set_var("STYLIZE__HTTP__PORT", "9999");
        std::env::set_var(
            "STYLIZE__FETCH__ALLOWED_NETWORKS",
            "10.1.0.0/16, 10.2.0.0/16",
        );
        std::env::set_var("STYLIZE__AUTH__ADMIN_TOKEN", "12345");
        let settings = Settings::load().unwrap();
        std::env::remove_var("STYLIZE__HTTP__PORT");
        std::env::remove_var("STYLIZE__FETCH__ALLOWED_NETWORKS");
        std::env::remove_var("STYLIZE__AUTH__ADMIN_TOKEN");
        assert_eq!(settings.http.port, 9999);
        assert_eq!(settings.auth.admin_token.expose(), "12345");
        assert_eq!(
            settings.fetch.allowed_networks,
            ["10.1.0.0/16", "10.2.0.0/16"]
        );
        // The same list written as JSON, as a compose file might.
        std::env::set_var(
            "STYLIZE__FETCH__ALLOWED_NETWORKS",
            r#"["10.1.0.0/16", "10.2.0.0/16"]"#,
        );
        let settings = Settings::load();
        std::env::remove_var("STYLIZE__FETCH__ALLOWED_NETWORKS");
        assert_eq!(
            settings.unwrap().fetch.allowed_networks,
            ["10.1.0.0/16", "10.2.0.0/16"]
        );
    }

    #[test]
    fn a_stylize_config_file_overrides_defaults_and_the_environment_overrides_it() {
        let _turn = environment_turn();
        let mut written = Settings::load().unwrap();
        written.worker.threads = 3;
        written.worker.device = "cuda:1".into();
        written.fetch.allowed_networks = vec!["10.1.0.0/16".into()];
        written.auth.admin_token = "an admin token".into();
        let path = std::env::temp_dir().join(format!("stylize-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, toml::to_string(&written).unwrap()).unwrap();
        std::env::set_var("STYLIZE_CONFIG", &path);
        std::env::set_var("STYLIZE__WORKER__DEVICE", "cpu");
        let loaded = Settings::load();
        std::env::remove_var("STYLIZE_CONFIG");
        std::env::remove_var("STYLIZE__WORKER__DEVICE");
        std::fs::remove_file(&path).unwrap();

        let loaded = loaded.unwrap();
        assert_eq!(loaded.worker.threads, 3);
        assert_eq!(loaded.worker.device, "cpu");
        // The file carries the secret itself, not its redaction.
        assert_eq!(loaded.auth.admin_token.expose(), "an admin token");
        // Everything else comes back as it was written.
        written.worker.device = "cpu".into();
        assert_eq!(
            serde_json::to_value(&loaded).unwrap(),
            serde_json::to_value(&written).unwrap()
        );
    }

    #[test]
    fn debug_output_redacts_every_secret() {
        let _turn = environment_turn();
        let mut settings = Settings::load().unwrap();
        settings.auth.admin_token = "the-admin-token".into();
        let printed = format!("{settings:?}");
        for secret in [
            &settings.database.url,
            &settings.amqp.url,
            &settings.redis.url,
            &settings.s3.secret_key,
            &settings.auth.admin_token,
        ] {
            assert!(!printed.contains(secret.expose()), "{printed}");
        }
        assert!(printed.contains("[redacted]"));
    }
}
