use stylize_api::Application;
use stylize_shared::config::Settings;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let settings = Settings::load()?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "stylize api listening");
    application.run_until_stopped().await?;
    Ok(())
}
