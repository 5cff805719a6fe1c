//! The stylize HTTP API. [`Application::build`] wires settings to clients and routes and
//! binds its port (0 for a free one, as the tests do); `main.rs` only runs it. It waits
//! for no service: those not there yet are connected in the background (`startup`),
//! and [`Application::ready`] resolves once all answer.

mod auth;
mod deletion;
mod deliverer;
mod edge;
mod fetch;
mod health;
mod jobs;
mod metrics;
mod openapi;
mod position;
mod presets;
mod problem;
mod queue;
mod startup;
mod submission;
mod view;
mod waiting;
mod webhooks;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{guard, web, App, HttpResponse, HttpServer};
use problem::ApiError;
use sqlx::PgPool;
use startup::Startup;
use std::net::TcpListener;
use stylize_shared::config::{AuthSettings, Settings};
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::JobQueue;
use stylize_shared::rate_limit::RateLimiter;
use stylize_shared::storage::Storage;
use stylize_shared::{db, images::ImageLimits};

pub use edge::registered_paths;
pub use metrics::ApiMetrics;
pub use presets::Catalogue;

/// What every request handler may reach.
pub struct AppState {
    pub pool: PgPool,
    pub storage: Storage,
    pub queue: JobQueue,
    pub progress: ProgressStore,
    /// The answer of `GET /v1/queue`, kept a second.
    pub queue_view: queue::QueueView,
    /// Per-key submission rates (`auth.submissions_per_minute`).
    pub rate_limiter: RateLimiter,
    pub catalogue: Catalogue,
    pub fetcher: fetch::Fetcher,
    pub image_limits: ImageLimits,
    pub max_body_bytes: usize,
    /// The workers' device memory (`worker.device_memory_bytes`; 0 unknown): a job that
    /// cannot fit is refused at submission rather than failed by a worker.
    pub device_memory_bytes: u64,
    /// How long a submission's body may take to arrive (`limits.submission_read_seconds`).
    pub submission_read: std::time::Duration,
    /// Turns at decoding uploads (`limits.max_concurrent_decodes`), so a burst of large
    /// images cannot take all the memory.
    pub decodes: tokio::sync::Semaphore,
    pub metrics: ApiMetrics,
    pub auth: AuthSettings,
    /// Other sites whose pages may change state without a key (`http.allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// Signs the webhooks of jobs without an API key (`webhooks.secret`).
    pub webhook_secret: Option<webhooks::SigningKey>,
}

/// Headers on every answer: the page loads only its own script, styles and images
/// (plus the photo preview's `blob:` URL), and is framed by no one.
fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
}

async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("such route".into()))
}

pub struct Application {
    server: Server,
    port: u16,
    /// The `/metrics` server and its port, when `http.metrics_address` moves it off the
    /// main port.
    metrics: Option<(Server, u16)>,
    startup: web::Data<Startup>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Nothing here waits for a service: they connect at their first call, and
        // `startup` prepares them (migrations, presets, the page's key) once they answer.
        let pool = db::connect_lazy(&settings.database)?;
        let storage = Storage::new(&settings.s3);
        let (catalogue, preset_files) = Catalogue::read(&settings.presets.dir)?;
        let page_key_hash = (!settings.auth.page_key.is_empty())
            .then(|| auth::hash(settings.auth.page_key.expose()));
        let webhook_secret = match settings.webhooks.secret.expose() {
            "" => None,
            secret => Some(webhooks::SigningKey::parse(secret)?),
        };
        let state = web::Data::new(AppState {
            pool,
            storage,
            queue: JobQueue::new(&settings.amqp),
            progress: ProgressStore::connect(&settings.redis).await?,
            queue_view: queue::QueueView::connect(&settings).await?,
            rate_limiter: RateLimiter::connect(&settings.redis).await?,
            catalogue,
            fetcher: fetch::Fetcher::new(&settings.fetch, settings.limits.max_image_bytes)?,
            image_limits: settings.image_limits(),
            max_body_bytes: settings.limits.max_body_bytes,
            device_memory_bytes: settings.worker.device_memory_bytes,
            submission_read: std::time::Duration::from_secs(
                settings.limits.submission_read_seconds,
            ),
            decodes: tokio::sync::Semaphore::new(settings.limits.max_concurrent_decodes.max(1)),
            metrics: ApiMetrics::new(),
            auth: settings.auth.clone(),
            allowed_origins: settings.http.allowed_origins.clone(),
            webhook_secret,
        });
        let startup = web::Data::from(Startup::begin(state.clone(), preset_files, page_key_hash));
        // Webhooks go out once the services answer (the outbox is made by the migrations).
        let deliverer = deliverer::Deliverer::new(state.clone(), settings.webhooks.clone())?;
        let services = startup.clone();
        tokio::spawn(async move {
            services.ready().await;
            deliverer.run().await
        });

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let metrics = match settings.http.metrics_address.as_str() {
            "" => None,
            address => Some(metrics_server(TcpListener::bind(address)?, state.clone())?),
        };
        let metrics_on_main_port = metrics.is_none();
        let web_dir = settings.web.dir.clone();
        let app_startup = startup.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(app_startup.clone())
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::NotFound(format!("such resource ({error})")).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest(format!(
                        "query string: {}",
                        problem::parser_message(&error)
                    ))
                    .into()
                }))
                .app_data(web::JsonConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest(format!("JSON body: {}", problem::parser_message(&error)))
                        .into()
                }))
                .wrap(from_fn(edge::refuse_cross_site))
                .wrap(from_fn(edge::finish_answers))
                .wrap(security_headers())
                .wrap(from_fn(metrics::record))
                .wrap(actix_web::middleware::Logger::new("%r %s %Dms"))
                .configure(health::routes)
                .configure(auth::routes)
                .configure(deletion::routes)
                .configure(|config| {
                    if metrics_on_main_port {
                        metrics::routes(config)
                    }
                })
                .configure(jobs::routes)
                .configure(presets::routes)
                .configure(queue::routes)
                .configure(webhooks::routes)
                .configure(openapi::routes)
                .service(
                    // Routed for GET and HEAD only, so that any other method on a path
                    // no API route has is a 404, not the files' 405.
                    actix_files::Files::new("/", &web_dir)
                        .guard(guard::Any(guard::Get()).or(guard::Head()))
                        .index_file("index.html")
                        .default_handler(web::to(no_route)),
                )
                .default_service(web::to(no_route))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Application {
            server,
            port,
            metrics,
            startup,
        })
    }

    /// Resolves once every service the api needs has answered (and `/readyz` says so).
    pub async fn ready(&self) {
        self.startup.ready().await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port serving `/metrics` (the main port unless `http.metrics_address` is set).
    pub fn metrics_port(&self) -> u16 {
        self.metrics.as_ref().map_or(self.port, |(_, port)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            None => self.server.await,
            Some((metrics, _)) => tokio::try_join!(self.server, metrics).map(|_| ()),
        }
    }
}

/// `/metrics` alone on its own listener.
fn metrics_server(
    listener: TcpListener,
    state: web::Data<AppState>,
) -> std::io::Result<(Server, u16)> {
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(edge::finish_answers))
            .configure(metrics::routes)
            .default_service(web::to(no_route))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok((server, port))
}
