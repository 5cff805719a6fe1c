//! The api's layers, as `lib.rs` states them, held: every `crate::` path in a module
//! points to its own layer or one below, no route reaches another route, and the
//! services know nothing of actix or of HTTP status codes. An upward arrow fails here, naming the file and path.

use std::path::{Path, PathBuf};

/// The layer of a top-level module, lowest first.
fn layer(module: &str) -> Option<u8> {
    match module {
        "view" => Some(1),
        "services" => Some(2),
        "http" => Some(3),
        "routes" => Some(4),
        "openapi" | "startup" => Some(5),
        _ => None,
    }
}

/// `source` without its comments.
fn code(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The path at the start of `text`: its segments up to the first that is not a whole
/// identifier (that one's identifier part ends it).
fn segments(text: &str) -> Vec<String> {
    let mut path = Vec::new();
    for segment in text.split("::") {
        let segment = segment.trim_start();
        let name: String = segment
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            break;
        }
        let whole = name.len() == segment.trim_end().len();
        path.push(name);
        if !whole {
            break;
        }
    }
    path
}

/// Every module path a source names after `crate::`, as its segments: `crate::a::b`,
/// and each item of `crate::{a, b::c}`. Comments are left out.
fn crate_paths(source: &str) -> Vec<Vec<String>> {
    let code = code(source);
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = group.split('}').next().unwrap_or_default();
                paths.extend(group.split(',').map(segments));
            }
            None => paths.push(segments(rest)),
        }
    }
    paths.retain(|path| !path.is_empty());
    paths
}

/// What is wrong with the imports of the module at `file` (relative to `src`).
fn violations(file: &str, source: &str) -> Vec<String> {
    let top = file
        .split('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".rs");
    let Some(own) = layer(top) else {
        return vec![format!("{file}: a module outside the layers lib.rs lists")];
    };
    let mut found = Vec::new();
    for path in crate_paths(source) {
        let shown = format!("crate::{}", path.join("::"));
        match layer(&path[0]) {
            Some(target) if target > own => found.push(format!(
                "{file}: {shown} points up (layer {own} to {target})"
            )),
            Some(_) if top == "routes" && path[0] == "routes" => {
                found.push(format!("{file}: {shown}: a route imports another route"))
            }
            Some(_) => {}
            None => found.push(format!("{file}: {shown} is in no layer")),
        }
    }
    if top == "services" {
        let code = code(source);
        if code.contains("actix") {
            found.push(format!("{file}: the services know nothing of actix"));
        }
        if code.contains("StatusCode") || code.contains("::http::") {
            found.push(format!("{file}: the services know nothing of HTTP"));
        }
    }
    found
}

fn sources(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn imports_point_only_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    let mut checked = 0;
    for path in &files {
        let file = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if file == "lib.rs" || file == "main.rs" {
            continue;
        }
        checked += 1;
        found.extend(violations(&file, &std::fs::read_to_string(path).unwrap()));
    }
    assert!(
        checked > 20,
        "only {checked} modules found under {}",
        src.display()
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_sees_each_kind_of_wrong_import() {
    let upward = "use crate::routes::jobs;\nuse crate::view::JobView;";
    assert_eq!(
        violations("services/submission.rs", upward),
        ["services/submission.rs: crate::routes::jobs points up (layer 2 to 4)"]
    );
    let grouped = "use crate::{view::JobView, http::auth::Caller};";
    assert_eq!(
        violations("services/x.rs", grouped),
        ["services/x.rs: crate::http::auth::Caller points up (layer 2 to 3)"]
    );
    assert_eq!(
        violations("routes/jobs.rs", "use crate::routes::keys::hash;"),
        ["routes/jobs.rs: crate::routes::keys::hash: a route imports another route"]
    );
    assert_eq!(
        violations("services/y.rs", "use actix_web::web;"),
        ["services/y.rs: the services know nothing of actix"]
    );
    assert_eq!(
        violations("services/y.rs", "fn f() -> ::http::StatusCode"),
        ["services/y.rs: the services know nothing of HTTP"]
    );
    // Downward, sideways within a layer, and commented-out paths are fine.
    let fine = "use crate::services::state::AppState;\n// use crate::startup::x;\nuse crate::services::error::echo;";
    assert!(violations("http/auth.rs", fine).is_empty());
}
