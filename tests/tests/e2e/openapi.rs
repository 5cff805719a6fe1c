//! The OpenAPI document at `/openapi.json`: valid to an independent validator, and the
//! API the app really routes: its paths are those the app registered, each with the
//! methods the app takes there (as a `405`'s `Allow` names them), and each operation is
//! answered by its route.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use stylize_e2e::{assets_dir, root, venv_program, Stack};

/// The operations' keys in a path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[tokio::test]
async fn the_document_is_valid_and_describes_the_routes_the_app_has() {
    let stack = Stack::start().await;
    let response = stack
        .client
        .get(stack.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();

    let file = std::env::temp_dir().join(format!("stylize-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, &text).unwrap();
    let validator = venv_program("openapi-spec-validator");
    let checked = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("{}: {error}", validator.display()));
    std::fs::remove_file(&file).unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let document: Value = serde_json::from_str(&text).unwrap();
    let paths = document["paths"].as_object().expect("paths");
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    // The page's files at `/` are no API route.
    let registered = stylize_api::registered_paths();
    assert_eq!(
        documented,
        registered
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );

    // Ids no job, key or style has: every route of one answers, without a key, as that
    // route does, never as a path no route has.
    let made_up = uuid::Uuid::new_v4().to_string();
    for (path, item) in paths {
        let url = stack.url(&path.replace("{id}", &made_up));
        let operations: BTreeSet<String> = METHODS
            .iter()
            .filter(|method| item.get(**method).is_some())
            .map(|method| method.to_uppercase())
            .collect();
        // PATCH is no operation here: the 405 names those the path takes.
        assert!(!operations.contains("PATCH"), "{path}");
        let refused = stack.client.patch(&url).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allowed: BTreeSet<String> = refused.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|method| method.trim().to_owned())
            .collect();
        // Each GET route takes HEAD too, which the document leaves implied.
        let mut expected = operations.clone();
        if expected.contains("GET") {
            expected.insert("HEAD".into());
        }
        assert_eq!(allowed, expected, "{path}");

        for method in &operations {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = stack
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let documented = &item[method.as_str().to_lowercase()]["responses"];
            assert!(
                documented.get(status.as_str()).is_some(),
                "{method} {path} answered {status}, which its operation does not list"
            );
            if status == StatusCode::NOT_FOUND {
                let problem: Value = response.json().await.unwrap();
                assert_ne!(problem["detail"], "no such route here", "{method} {path}");
            }
        }
    }
}

/// What the schemathesis run is given: an operator's token and the key made with it.
const ADMIN: &str = "schemathesis-admin-token";

/// schemathesis (PyPI, in the project's virtualenv) against the running api, with keys
/// required and the admin token set, every phase (examples, coverage, fuzzing, and the
/// stateful one, which follows the document's links from a new job to its routes). It
/// fails on a server error, an answer that breaks the document (status, content type,
/// schema, headers) or a request the document says is valid refused. Left out: the
/// check that invalid requests are refused (the api ignores `Prefer` preferences it
/// does not know, as RFC 7240 asks), and `GET /v1/jobs/{id}/events`, a stream that stays
/// open until its job ends (no worker runs here; tests/tests/live.rs follows one).
/// `tests/schemathesis/hooks.py` gives the generator real images, a loopback server for
/// URLs, and the rules between fields that JSON Schema cannot write.
#[tokio::test]
async fn schemathesis_finds_no_server_error_broken_answer_or_refused_valid_request() {
    let stack = Stack::start_with(|settings| {
        settings.auth.required = true;
        settings.auth.admin_token = ADMIN.into();
        settings.auth.submissions_per_minute = 1_000_000;
        settings.auth.max_active_jobs = 1_000_000;
        settings.fetch.allowed_networks = vec!["127.0.0.0/8".into()];
    })
    .await;
    let (_, key) = stack.new_key(ADMIN, "schemathesis").await;
    let config = std::env::temp_dir().join(format!("stylize-st-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &config,
        format!(
            "[auth.openapi.api_key]\nbearer = \"{key}\"\n\
             [auth.openapi.admin_token]\nbearer = \"{ADMIN}\"\n\
             # A deleted job, or one that ended without its image, is gone (410): the\n\
             # state of the job, not the shape of the request.\n\
             [checks.positive_data_acceptance]\n\
             expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"410\", \"429\"]\n"
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let program = venv_program("st");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = std::process::Command::new(&program);
    command
        .current_dir(&root)
        .env("SCHEMATHESIS_HOOKS", "tests.schemathesis.hooks")
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config)
        .args(["run", &stack.url("/openapi.json")])
        .args(["--exclude-checks", "negative_data_rejection"])
        .args(["--exclude-path", "/v1/jobs/{id}/events"])
        .args(["--max-examples", "60", "--seed", "20261204"]);
    // Off the test's runtime, which serves the api's background tasks meanwhile.
    let run = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("{}: {error}", program.display()));
    std::fs::remove_file(&config).unwrap();
    let output = String::from_utf8_lossy(&run.stdout);
    println!("{output}");
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    println!(
        "schemathesis ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(run.status.success(), "schemathesis found failures (above)");
    assert!(
        output.contains(" passed") && !output.contains(" 0 generated"),
        "schemathesis ran no case"
    );
}

/// The Python client that scripts/setup.sh generates from this document, used as a
/// program would use it (tests/python/client_e2e.py): a photo with a preset submitted,
/// waited for with `Prefer: wait` and by polling, its picture downloaded, the key's jobs
/// listed, one canceled, all deleted. The client was made from the document this api
/// serves, so it is not a stale one.
#[tokio::test]
async fn the_generated_python_client_runs_jobs_end_to_end() {
    let mut stack = Stack::start_with(|settings| {
        settings.auth.required = true;
        settings.auth.admin_token = ADMIN.into();
    })
    .await;
    stack.start_worker("e2e-python-client");
    let (_, served) = stack.get_json("/openapi.json").await;
    let generated = std::fs::read(root().join("var/openapi.json"))
        .expect("var/openapi.json, which scripts/setup.sh writes");
    assert!(
        serde_json::from_slice::<Value>(&generated).unwrap() == served,
        "the client was generated from another document: run scripts/setup.sh"
    );
    let (_, key) = stack.new_key(ADMIN, "python-client").await;
    let mut command = std::process::Command::new(venv_program("python"));
    command
        .arg(root().join("tests/python/client_e2e.py"))
        .arg(stack.url(""))
        .arg(&key)
        .arg(assets_dir().join("content/tubingen.jpg"));
    // Off the test's runtime, which serves the api meanwhile.
    let run = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&run.stdout));
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        run.status.success(),
        "the Python client's program failed (above)"
    );

    // docs/api.md's example, as written: only the address, key and photo put in, and
    // 64 px for its 512 (three minutes on a test worker's one thread).
    let api_md = std::fs::read_to_string(root().join("docs/api.md")).unwrap();
    let example = api_md
        .split("```python\n")
        .nth(1)
        .and_then(|block| block.split("```").next())
        .expect("docs/api.md has a python example");
    let quick = "SubmissionFormParams(quality=Quality.QUICK)";
    assert!(example.contains(quick), "{example}");
    let example = example
        .replace(
            quick,
            "SubmissionFormParams(quality=Quality.QUICK, size=64)",
        )
        .replace("http://127.0.0.1:8080", &stack.base)
        .replace("sk_...", &key)
        .replace(
            "open(\"photo.jpg\"",
            &format!("open({:?}", assets_dir().join("content/tubingen.jpg")),
        );
    let dir = std::env::temp_dir().join(format!("stylize-client-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = std::process::Command::new(venv_program("python"));
    command.args(["-c", &example]).current_dir(&dir);
    let run = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(run.status.success(), "{example}\n{run:?}");
    let painting = std::fs::read(dir.join("painting.png")).unwrap();
    assert!(
        painting.starts_with(b"\x89PNG"),
        "docs/api.md's example saved no PNG"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
