//! A soak run: submits a small job every INTERVAL_MS for MINUTES while polling each job
//! until it ends, then waits for the stragglers and reports jobs submitted, succeeded,
//! failed, canceled and lost (still not finished a grace period after the last
//! submission; must be 0), with submission and end-to-end latencies. Run by
//! `scripts/bench/soak.sh`, which starts the stack and the workers.
//!
//! Usage: soak API_URL PHOTO MINUTES INTERVAL_MS GRACE_SECONDS

use std::time::{Duration, Instant};

struct Ended {
    state: String,
    submit_ms: f64,
    total_s: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api, photo, minutes, interval, grace] = args.as_slice() else {
        anyhow::bail!("usage: soak API_URL PHOTO MINUTES INTERVAL_MS GRACE_SECONDS");
    };
    let photo = std::fs::read(photo)?;
    let run_for = Duration::from_secs_f64(minutes.parse::<f64>()? * 60.0);
    let interval = Duration::from_millis(interval.parse()?);
    let grace = Duration::from_secs(grace.parse()?);
    let client = reqwest::Client::new();

    let started = Instant::now();
    let mut followers = Vec::new();
    let mut refused = 0;
    while started.elapsed() < run_for {
        let params = serde_json::json!({"size": 64, "iterations": 20});
        let sent = Instant::now();
        let response =
            stylize_e2e::post_job(&client, api, photo.clone(), "the-scream", params).await?;
        let submit_ms = sent.elapsed().as_secs_f64() * 1e3;
        if response.status() != 202 {
            refused += 1;
            eprintln!("submission refused: {}", response.status());
        } else {
            let job: serde_json::Value = response.json().await?;
            let url = format!("{api}/v1/jobs/{}", job["id"].as_str().unwrap_or_default());
            let client = client.clone();
            let deadline = started + run_for + grace;
            followers.push(tokio::spawn(async move {
                loop {
                    let state = match client.get(&url).send().await {
                        Ok(response) => response
                            .json::<serde_json::Value>()
                            .await
                            .ok()
                            .and_then(|body| body["state"].as_str().map(str::to_owned)),
                        Err(_) => None,
                    };
                    if let Some(state) =
                        state.filter(|s| ["succeeded", "failed", "canceled"].contains(&s.as_str()))
                    {
                        return Ended {
                            state,
                            submit_ms,
                            total_s: sent.elapsed().as_secs_f64(),
                        };
                    }
                    if Instant::now() > deadline {
                        return Ended {
                            state: "lost".into(),
                            submit_ms,
                            total_s: f64::NAN,
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }));
        }
        tokio::time::sleep(interval.saturating_sub(sent.elapsed())).await;
    }

    let mut ended = Vec::new();
    for follower in followers {
        ended.push(follower.await?);
    }
    let count = |state: &str| ended.iter().filter(|e| e.state == state).count();
    println!(
        "submitted {}, refused {refused}, succeeded {}, failed {}, canceled {}, lost {}",
        ended.len(),
        count("succeeded"),
        count("failed"),
        count("canceled"),
        count("lost")
    );
    let mut submit: Vec<f64> = ended.iter().map(|e| e.submit_ms).collect();
    let mut total: Vec<f64> = ended
        .iter()
        .filter(|e| e.state == "succeeded")
        .map(|e| e.total_s)
        .collect();
    for (what, unit, samples) in [
        ("POST → 202", "ms", &mut submit),
        ("submission → succeeded", "s", &mut total),
    ] {
        if samples.is_empty() {
            continue;
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        println!(
            "{what}: p50 {:.1} {unit}, p99 {:.1} {unit}, max {:.1} {unit}",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    anyhow::ensure!(count("lost") == 0, "jobs were lost");
    Ok(())
}
