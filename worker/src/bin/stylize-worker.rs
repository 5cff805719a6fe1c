//! `stylize-worker`: one GPU (or CPU), `worker.concurrency` jobs at a time, from the
//! shared queue.

use std::sync::Arc;
use std::time::Duration;
use stylize_shared::config::Settings;
use stylize_worker::service::Worker;
use tokio::sync::watch;

fn main() -> anyhow::Result<()> {
    stylize_engine::allow_tf32_matmul();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

/// The host's name and a random suffix: unique across containers (where every worker is
/// process 1 on a host named after its container) and across restarts of one container.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = match host.trim() {
        "" => "worker",
        host => host,
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = stylize_shared::telemetry::init(&settings.telemetry, "stylize-worker")?;
    stylize_shared::exposure::check(&settings, stylize_shared::exposure::Process::Worker)
        .map_err(anyhow::Error::msg)?;
    let name = std::env::var("STYLIZE_WORKER_NAME").unwrap_or_else(|_| default_name());
    let deadline = Duration::from_secs(settings.worker.shutdown_deadline_seconds);
    let worker = Arc::new(Worker::connect(&settings, name).await?);
    let metrics_at = worker.metrics().serve(&settings.worker.metrics_address)?;
    tracing::info!(%metrics_at, "serving /metrics");

    let (stop, stopping) = watch::channel(false);
    let mut run = tokio::spawn(worker.run(stopping));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = &mut run => return result?,
        _ = terminate.recv() => tracing::info!("SIGTERM: taking no new jobs, handing back the running ones"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: handing back the running jobs"),
    }
    stop.send_replace(true);
    match tokio::time::timeout(deadline, run).await {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("the running jobs were not handed back within {deadline:?}"),
    }
}
