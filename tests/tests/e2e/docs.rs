//! The `curl` examples of the README and docs/api.md, run as written against the real
//! api (only the address, the photo's path, an API key and a job's id put in), so that
//! what the docs show and what the api answers cannot drift apart unseen.

use std::path::Path;
use std::process::Command;
use stylize_e2e::{assets_dir, root, Stack};

const ADMIN: &str = "admin-token-for-the-docs";
/// An operator's webhook secret (24 bytes, base64), so that keyless jobs may ask for one.
const OPERATOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The `curl` commands of a Markdown file's `sh` blocks, each joined onto one line.
fn curl_commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut command = String::new();
    for line in markdown.lines().map(str::trim) {
        match line {
            "```sh" => in_block = true,
            "```" => in_block = false,
            line if in_block => match line.strip_suffix('\\') {
                Some(start) => command.push_str(start),
                None => {
                    command.push_str(line);
                    let command = std::mem::take(&mut command);
                    if command.starts_with("curl ") {
                        commands.push(command);
                    }
                }
            },
            _ => {}
        }
    }
    commands
}

/// Runs one documented command against `stack` in `dir`: its status and body.
async fn run(stack: &Stack, command: &str, job: Option<&str>, dir: &Path) -> (u16, String) {
    let assets = assets_dir();
    let command = command
        .replacen("curl ", "curl -sS -w '\\n%{http_code}' ", 1)
        .replace("http://127.0.0.1:8080", &stack.base)
        .replace(
            "@photo.jpg",
            &format!("@{}/content/tubingen.jpg", assets.display()),
        )
        .replace("@assets/", &format!("@{}/", assets.display()))
        // A receiver's address the test stack lets through its SSRF guard.
        .replace(
            "https://example.com/hooks/stylize",
            "http://127.0.0.1:9/hook",
        )
        .replace("/ID", &format!("/{}", job.unwrap_or("ID")));
    let mut shell = Command::new("bash");
    shell
        .args(["-c", &command])
        .env("KEY", ADMIN)
        .current_dir(dir);
    // Off the test's runtime, which serves the api.
    let output = tokio::task::spawn_blocking(move || shell.output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{command}: {output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    (status.trim().parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn the_readme_and_api_examples_answer_as_documented() {
    let stack = Stack::start_with(|settings| {
        settings.fetch.allowed_networks = vec!["127.0.0.0/8".into()];
        settings.auth.admin_token = ADMIN.into();
        settings.webhooks.secret = OPERATOR_SECRET.into();
    })
    .await;
    let dir = std::env::temp_dir().join(format!("stylize-docs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ran = 0;
    for file in ["README.md", "docs/api.md"] {
        let markdown = std::fs::read_to_string(root().join(file)).unwrap();
        let mut job: Option<String> = None;
        for command in curl_commands(&markdown) {
            let (status, body) = run(&stack, &command, job.as_deref(), &dir).await;
            // No worker runs: a result is documented as 409 until the job has succeeded.
            let expected = if command.contains("/result") {
                409
            } else {
                200
            };
            assert!(
                status == expected || (expected == 200 && (200..300).contains(&status)),
                "{file}: `{command}` answered {status}: {body}"
            );
            if let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body) {
                if let Some(id) = answer["id"].as_str() {
                    job = Some(id.to_owned());
                }
            }
            ran += 1;
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // README: submit, status, result; api.md: two submissions, a webhook's, its secret.
    assert!(ran >= 7, "only {ran} documented commands found");
}
