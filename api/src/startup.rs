//! Start-up: [`Application::build`] wires settings to clients, services and routes and
//! binds its port (0 for a free one, as the tests do); `main.rs` only runs it. It waits
//! for no service: those not there yet are connected in the background
//! (`services::readiness`), and [`Application::ready`] resolves once all answer.

use crate::http::problem::ApiError;
use crate::http::{edge, request_metrics};
use crate::openapi;
use crate::routes::{health, jobs, keys, metrics, qualities, queue, styles, webhooks};
use crate::services::catalogue::Catalogue;
use crate::services::deliverer::Deliverer;
use crate::services::error::{parser_message, NotFound};
use crate::services::fetch::Fetcher;
use crate::services::live::{Hub, StreamSlots};
use crate::services::metrics::ApiMetrics;
use crate::services::queue_view::QueueView;
use crate::services::readiness::Startup;
use crate::services::signing::SigningKey;
use crate::services::state::{AppState, Backends};
use crate::services::uploads::{self, UploadRoom};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{guard, web, App, HttpResponse, HttpServer};
use ipnet::IpNet;
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use stylize_shared::config::Settings;
use stylize_shared::lazy_redis::Redis;
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::JobQueue;
use stylize_shared::rate_limit::RateLimiter;
use stylize_shared::storage::Storage;
use stylize_shared::workers::WorkerRegistry;
use stylize_shared::{db, exposure};
use tokio::sync::Semaphore;

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
    Err(NotFound("such route".into()).into())
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
        exposure::check(&settings, exposure::Process::Api).map_err(anyhow::Error::msg)?;
        // Nothing here waits for a service: they connect at their first call, and
        // `startup` prepares them (migrations, presets) once they answer.
        let pool = db::connect_lazy(&settings.database)?;
        let storage = Storage::new(&settings.s3);
        let (catalogue, preset_files) = Catalogue::read(&settings.presets.dir)?;
        let webhook_secret = match settings.webhooks.secret.expose() {
            "" => None,
            secret => Some(SigningKey::parse(secret)?),
        };
        // One Redis connection for every Redis user of the process (subscriptions open
        // their own).
        let redis = Redis::open(&settings.redis)?;
        let progress = ProgressStore::on(&redis, &settings.redis);
        let limits = &settings.limits;
        let state = Arc::new(AppState {
            live: Hub::start(progress.clone()),
            backends: Arc::new(Backends {
                pool,
                storage,
                queue: JobQueue::new(&settings.amqp),
                progress,
            }),
            streams: StreamSlots::new(limits.max_event_streams_per_owner, limits.max_event_streams),
            stream_lifetime: Duration::from_secs(limits.event_stream_seconds),
            queue_view: Arc::new(QueueView::new(WorkerRegistry::on(
                &redis,
                &settings.amqp.queue,
            ))),
            rate_limiter: RateLimiter::on(&redis, &settings.amqp.queue),
            catalogue,
            fetcher: Fetcher::new(&settings.fetch, settings.limits.max_image_bytes)?,
            image_limits: settings.image_limits(),
            max_body_bytes: settings.limits.max_body_bytes,
            device_memory_bytes: settings.worker.device_memory_bytes,
            submission_read: Duration::from_secs(settings.limits.submission_read_seconds),
            decodes: Semaphore::new(settings.limits.max_concurrent_decodes.max(1)),
            uploads: UploadRoom::new(limits.max_inflight_upload_bytes, uploads::WAIT),
            max_form_parts: limits.max_form_parts,
            metrics: Arc::new(ApiMetrics::new()),
            auth: settings.auth.clone(),
            allowed_origins: settings.http.allowed_origins.clone(),
            trusted_proxies: trusted_proxies(&settings.http.trusted_proxies)?,
            webhook_secret,
        });
        let document = web::Data::new(openapi::Document::new(&state.catalogue.ids()));
        let startup = web::Data::from(Startup::begin(state.backends.clone(), preset_files));
        // Webhooks go out once the services answer (the outbox is made by the migrations).
        let deliverer = Deliverer::new(&state, settings.webhooks.clone())?;
        let state = web::Data::from(state);
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
                .app_data(document.clone())
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::from(NotFound(format!("such resource ({error})"))).into()
                }))
                .app_data(web::JsonConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest(format!("JSON body: {}", parser_message(&error))).into()
                }))
                .wrap(from_fn(edge::refuse_cross_site))
                .wrap(from_fn(edge::finish_answers))
                .wrap(security_headers())
                .wrap(from_fn(request_metrics::record))
                // Each request in a span (a trace), continuing a caller's `traceparent`.
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(health::routes)
                .configure(keys::routes)
                .configure(|config| {
                    if metrics_on_main_port {
                        metrics::routes(config)
                    }
                })
                .configure(jobs::routes)
                .configure(styles::routes)
                .configure(qualities::routes)
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
        // A client that closes its side ends its request: an event stream's slot is freed
        // at once, not at the next keep-alive that fails to be written.
        .h1_allow_half_closed(false)
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

/// `http.trusted_proxies`: networks, or single addresses.
fn trusted_proxies(entries: &[String]) -> anyhow::Result<Vec<IpNet>> {
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("http.trusted_proxies: {entry:?} is no address or network")
                })
        })
        .collect()
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
