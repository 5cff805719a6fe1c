//! The OpenAPI document at `/openapi.json`: valid to an independent validator, and the
//! API the app really routes: its paths are those the app registered, each with the
//! methods the app takes there (as a `405`'s `Allow` names them), and each operation is
//! answered by its route.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use stylize_e2e::{venv_program, Stack};

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
