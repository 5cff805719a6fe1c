use stylize_api::Application;
use stylize_shared::config::Settings;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    stylize_shared::telemetry::init();
    let settings = Settings::load()?;
    let application = Application::build(settings).await?;
    tracing::info!(
        port = application.port(),
        metrics_port = application.metrics_port(),
        "stylize api listening"
    );
    application.run_until_stopped().await?;
    Ok(())
}
