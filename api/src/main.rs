use stylize_api::Application;
use stylize_shared::config::Settings;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    // `stylize-api openapi`: the document `GET /openapi.json` serves, on stdout.
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", stylize_api::document_text(&settings.presets.dir)?);
        return Ok(());
    }
    let _telemetry = stylize_shared::telemetry::init(&settings.telemetry, "stylize-api")?;
    let application = Application::build(settings).await?;
    tracing::info!(
        port = application.port(),
        metrics_port = application.metrics_port(),
        "stylize api listening"
    );
    application.run_until_stopped().await?;
    Ok(())
}
