//! The stylize HTTP API. [`Application::build`] wires settings to clients and routes and
//! binds its port (0 for a free one, as the tests do); `main.rs` only runs it.

mod health;
mod jobs;
mod presets;
mod problem;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use problem::ApiError;
use sqlx::PgPool;
use std::net::TcpListener;
use stylize_shared::config::Settings;
use stylize_shared::progress::ProgressStore;
use stylize_shared::queue::JobQueue;
use stylize_shared::storage::Storage;
use stylize_shared::{db, images::ImageLimits};

pub use presets::Catalogue;

/// What every request handler may reach.
pub struct AppState {
    pub pool: PgPool,
    pub storage: Storage,
    pub queue: JobQueue,
    pub progress: ProgressStore,
    pub catalogue: Catalogue,
    pub image_limits: ImageLimits,
    pub max_body_bytes: usize,
}

pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        let storage = Storage::new(&settings.s3);
        let catalogue = Catalogue::import(&settings.presets.dir, &storage).await?;
        let state = web::Data::new(AppState {
            pool,
            storage,
            queue: JobQueue::connect(&settings.amqp).await?,
            progress: ProgressStore::connect(&settings.redis).await?,
            catalogue,
            image_limits: settings.image_limits(),
            max_body_bytes: settings.limits.max_body_bytes,
        });

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::NotFound(format!("such resource ({error})")).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest(format!("query string: {error}")).into()
                }))
                .wrap(actix_web::middleware::Logger::new("%r %s %Dms"))
                .configure(health::routes)
                .configure(jobs::routes)
                .configure(presets::routes)
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::NotFound("such route".into()))
                }))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Application { server, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
