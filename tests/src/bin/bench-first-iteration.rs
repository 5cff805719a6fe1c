//! Time from a submission's `202` to its first preview (the fast network's picture,
//! stored before any iteration) and to the worker's first iteration, with an idle worker
//! already running (its models loaded): submits one job at a time and listens on Redis
//! for each job's progress events; the first iteration's `elapsed_seconds` (counted from the
//! engine's start) splits the wait into what comes before the engine (queue, claim,
//! fetching and decoding the inputs) and the engine's own work (resizing, style
//! targets, the first iteration). Run by `scripts/bench/service.sh`.
//!
//! Usage: bench-first-iteration API_URL REDIS_URL PHOTO SIZE RUNS

use futures_util::StreamExt;
use std::time::{Duration, Instant};
use stylize_shared::progress::{LiveProgress, EVENTS_PREFIX};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api, redis_url, photo, size, runs] = args.as_slice() else {
        anyhow::bail!("usage: bench-first-iteration API_URL REDIS_URL PHOTO SIZE RUNS");
    };
    let (size, runs): (u32, usize) = (size.parse()?, runs.parse()?);
    let photo = std::fs::read(photo)?;
    let mut pubsub = redis::Client::open(redis_url.as_str())?
        .get_async_pubsub()
        .await?;
    pubsub.psubscribe(format!("{EVENTS_PREFIX}*")).await?;
    let mut events = pubsub.into_on_message();
    let client = reqwest::Client::new();

    let mut accepted_ms = Vec::new();
    let mut first_preview_ms = Vec::new();
    let mut first_iteration_ms = Vec::new();
    let mut engine_ms = Vec::new();
    for run in 0..runs {
        // One level: the first iteration is at the full size (and two iterations are
        // fewer than one a level of the default quality's schedule).
        let params = serde_json::json!({"size": size, "iterations": 2, "scales": 1, "seed": run});
        let sent = Instant::now();
        let response =
            stylize_e2e::post_job(&client, api, photo.clone(), "starry-night", params).await?;
        if response.status() != 202 {
            anyhow::bail!(
                "submission answered {}: {}",
                response.status(),
                response.text().await?
            );
        }
        let accepted = Instant::now();
        let job: serde_json::Value = response.json().await?;
        let channel = format!("{EVENTS_PREFIX}{}", job["id"].as_str().unwrap_or_default());
        let mut preview: Option<Instant> = None;
        let mut first: Option<(Instant, f64)> = None;
        // This job's first iteration, then its last.
        loop {
            let message = tokio::time::timeout(Duration::from_secs(120), events.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("Redis closed the subscription"))?;
            if message.get_channel_name() != channel {
                continue;
            }
            // The channel also carries the job's changes of state, which are no progress.
            let payload = message.get_payload::<String>()?;
            let Ok(progress) = serde_json::from_str::<LiveProgress>(&payload) else {
                continue;
            };
            // Iteration 0 announces the fast pass's preview, before any iteration.
            if progress.preview_iteration.is_some() {
                preview.get_or_insert_with(Instant::now);
            }
            if progress.iteration > 0 {
                first.get_or_insert_with(|| (Instant::now(), progress.elapsed_seconds));
            }
            if progress.iteration == progress.total {
                break;
            }
        }
        // Idle means finished: the result stored and the outcome recorded.
        let status = format!("{api}/v1/jobs/{}", job["id"].as_str().unwrap_or_default());
        while client
            .get(&status)
            .send()
            .await?
            .json::<serde_json::Value>()
            .await?["state"]
            != "succeeded"
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (first, engine_seconds) = first.expect("seen");
        let preview = preview.expect("a full job stores the fast picture first");
        accepted_ms.push((accepted - sent).as_secs_f64() * 1e3);
        first_preview_ms.push((preview - accepted).as_secs_f64() * 1e3);
        first_iteration_ms.push((first - accepted).as_secs_f64() * 1e3);
        engine_ms.push(engine_seconds * 1e3);
    }
    let mut before_engine: Vec<f64> = first_iteration_ms
        .iter()
        .zip(&engine_ms)
        .map(|(total, engine)| total - engine)
        .collect();
    report("POST → 202", &mut accepted_ms);
    report("202 → first preview", &mut first_preview_ms);
    report("202 → first iteration", &mut first_iteration_ms);
    report("  202 → engine start", &mut before_engine);
    report("  engine → 1st iteration", &mut engine_ms);
    Ok(())
}

fn report(what: &str, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    println!(
        "{what:>24}: median {median:7.1} ms, min {:7.1} ms, max {:7.1} ms ({} runs)",
        samples[0],
        samples[samples.len() - 1],
        samples.len()
    );
}
