//! Submissions a hostile or careless client sends: bodies cut off or dripped in, params
//! that are no object, too many styles, idempotency keys reused, job ids spelt another
//! way. Every answer is a prompt problem+json, and nothing is stored for a refusal. And
//! what an accepted one keeps: its styles in blend order, each where a worker finds it.

use reqwest::multipart::Form;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stylize_e2e::{asset, form, Stack};
use stylize_shared::storage::Storage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer read off a raw connection.
struct RawAnswer {
    status: u16,
    content_type: String,
    body: Value,
}

/// Reads one HTTP/1.1 answer (with a Content-Length, as problem+json answers have) from
/// `stream`, giving up after `limit`.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> RawAnswer {
    let read = async {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                        .map(str::to_owned)
                };
                let length: usize = header("content-length").unwrap().parse().unwrap();
                if bytes.len() >= end + 4 + length {
                    let status = head[9..12].parse().unwrap();
                    let body = serde_json::from_slice(&bytes[end + 4..end + 4 + length]).unwrap();
                    let content_type = header("content-type").unwrap_or_default();
                    return RawAnswer {
                        status,
                        content_type,
                        body,
                    };
                }
            }
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the api closed the connection without an answer");
            bytes.extend_from_slice(&buffer[..read]);
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
}

/// Opens a connection and sends a `POST /v1/jobs` head declaring `length` body bytes
/// (multipart with the boundary `XYZ`) and the first `body` bytes.
async fn post_raw(stack: &Stack, length: usize, body: &[u8]) -> TcpStream {
    let address = stack.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream
}

fn part(name: &str, value: &[u8]) -> Vec<u8> {
    let mut part = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    part.extend_from_slice(value);
    part.extend_from_slice(b"\r\n");
    part
}

fn assert_problem(answer: &RawAnswer, status: u16, kind: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["type"], format!("urn:stylize:problem:{kind}"));
}

#[tokio::test]
async fn a_body_cut_off_inside_a_boundary_is_answered_at_once() {
    // The default read deadline (a minute) is far off: the answer must not wait for it.
    // actix-multipart 0.7 never answered a body ending in part of a boundary.
    let stack = Stack::start().await;
    for ending in ["--XYZ", "--XY"] {
        let mut body = part("content", &vec![b'x'; 1 << 20]);
        body.extend_from_slice(ending.as_bytes());
        // The whole body, as declared, and the connection left open.
        let mut stream = post_raw(&stack, body.len(), &body).await;
        let answer = read_answer(&mut stream, Duration::from_secs(10)).await;
        assert_problem(&answer, 400, "bad-request");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("was cut off"), "{ending}: {detail}");
    }
    assert_eq!(stack.count_jobs().await, 0);
}

#[tokio::test]
async fn a_body_dripped_in_ends_at_the_read_deadline() {
    let stack = Stack::start_with(|settings| settings.limits.submission_read_seconds = 1).await;
    let started = Instant::now();
    let mut body = part("preset", b"great-wave");
    let head = part("content", b"");
    body.extend_from_slice(&head[..head.len() - 2]);
    let stream = post_raw(&stack, 100_000, &body).await;
    let (mut reader, mut writer) = stream.into_split();
    // The photo, a byte every 100 ms: never idle long, never done.
    let drip = tokio::spawn(async move {
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("request-timeout") {
            match reader.read(&mut buffer).await.unwrap() {
                0 => break,
                n => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    drip.abort();
    assert!(read.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{answer}");
}

#[tokio::test]
async fn params_are_an_object_and_errors_name_the_form_fields() {
    let stack = Stack::start().await;
    let photo = asset("content/tubingen.jpg");
    let with_params = |params: &str| {
        Form::new()
            .part("content", form::file("photo.jpg", photo.clone()))
            .text("preset", "great-wave")
            .text("params", params.to_owned())
    };
    // What was sent, the status, and the field the problem names.
    let cases = [
        (with_params("[]"), 400, "params"),
        (with_params("[64, 0]"), 400, "params"),
        (with_params(r#"{"size": "big"}"#), 400, "params.size"),
        (with_params(r#"{"size": 1}"#), 400, "params.size"),
        (
            Form::new().part("content", form::file("photo.jpg", photo.clone())),
            400,
            "style",
        ),
        (
            with_params(r#"{"size": 64, "style_scale": 0.1}"#),
            422,
            "preset[0]",
        ),
    ];
    for (body, status, field) in cases {
        let (got, problem) = stack.post_form(body).await;
        assert_eq!(got, status, "{field}: {problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let twice = with_params(r#"{"size": 64}"#).text("params", r#"{"size": 64}"#);
    let (status, problem) = stack.post_form(twice).await;
    assert_eq!(status, 400, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(r#"send one "params" field"#), "{problem}");
    assert_eq!(stack.count_jobs().await, 0);
}

#[tokio::test]
async fn at_most_eight_styles_and_the_ninth_is_refused_before_the_rest_is_read() {
    let stack = Stack::start().await;
    let photo = asset("content/tubingen.jpg");
    let with_presets = |count: usize| {
        (0..count).fold(
            form::submission(photo.clone(), "great-wave", json!({"size": 64})),
            |form, _| form.text("preset", "udnie"),
        )
    };
    let (status, job) = stack.post_form(with_presets(7)).await;
    assert_eq!(status, 202, "{job}");
    let (status, problem) = stack.post_form(with_presets(8)).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "preset");
    assert!(
        problem["detail"].as_str().unwrap().contains("at most 8"),
        "{problem}"
    );

    // Nine presets, then a body that goes on: the answer comes without the rest.
    let body: Vec<u8> = (0..9).flat_map(|_| part("preset", b"udnie")).collect();
    let mut stream = post_raw(&stack, body.len() + 50_000_000, &body).await;
    let answer = read_answer(&mut stream, Duration::from_secs(10)).await;
    assert_problem(&answer, 400, "invalid-parameter");
    assert_eq!(answer.body["field"], "preset");
    assert_eq!(stack.count_jobs().await, 1);
}

#[tokio::test]
async fn a_job_lists_its_styles_in_blend_order_and_a_worker_finds_each() {
    let mut stack = Stack::start().await;
    let storage = Storage::new(&stack.settings.s3);
    // A preset sent before an upload: uploads come first all the same.
    let body = Form::new()
        .part(
            "content",
            form::file("photo.jpg", asset("content/tubingen.jpg")),
        )
        .text("preset", "udnie")
        .part(
            "style",
            form::file("painting.jpg", asset("styles/the-scream.jpg")),
        )
        .text("params", json!({"size": 64, "iterations": 5}).to_string());
    let (status, job) = stack.post_form(body).await;
    assert_eq!(status, 202, "{job}");
    let styles = json!([{"source": "upload"}, {"source": "preset", "id": "udnie"}]);
    assert_eq!(job["styles"], styles);
    let id = job["id"].as_str().unwrap();
    let stored = storage.list(&format!("jobs/{id}/")).await.unwrap();
    assert_eq!(
        stored,
        [format!("jobs/{id}/content"), format!("jobs/{id}/style-0")]
    );

    stack.start_worker("e2e-styles");
    let seen = stack.wait_for_end(id, Duration::from_secs(120)).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "succeeded", "{last}");
    assert_eq!(last["styles"], styles);
}

/// A PNG no other test sends, so that its bytes in storage can only be this test's.
fn unique_png() -> Vec<u8> {
    let seed = uuid::Uuid::new_v4().as_u128();
    let image = image::RgbImage::from_fn(96, 64, |x, y| {
        let bytes = (seed >> ((x + y) % 16 * 8)).to_le_bytes();
        image::Rgb([bytes[0], (x * 2) as u8, (y * 3) as u8])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_request_and_refuses_another() {
    let stack = Stack::start().await;
    let storage = Storage::new(&stack.settings.s3);
    let (photo, other_photo) = (unique_png(), unique_png());
    let submit = |key: &str, photo: &[u8], params: &str| {
        let body = Form::new()
            .part("content", form::file("photo.png", photo.to_vec()))
            .text("preset", "the-scream")
            .text("params", params.to_owned());
        stack
            .client
            .post(stack.url("/v1/jobs"))
            .header("Idempotency-Key", key)
            .multipart(body)
            .send()
    };
    let params = r#"{"size": 64, "iterations": 5}"#;

    for key in ["order 42", "order\t42"] {
        let response = submit(key, &photo, params).await.unwrap();
        assert_eq!(response.status(), 400, "{key:?}");
    }

    let first = submit("order-42", &photo, params).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let id = first["id"].as_str().unwrap();
    let stored_before = storage.list("jobs/").await.unwrap();

    // The same request, the params spelt differently: the first job, and where it is.
    let replay = submit("order-42", &photo, "{\"iterations\":5,\n \"size\": 64 }")
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["location"], format!("/v1/jobs/{id}"));
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["id"], id);

    // Another photo, or other params, under the same key.
    for (photo, params) in [
        (&other_photo, params),
        (&photo, r#"{"size": 64, "iterations": 6}"#),
    ] {
        let response = submit("order-42", photo, params).await.unwrap();
        assert_eq!(response.status(), 422);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:stylize:problem:idempotency-key-reused"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(id),
            "{problem}"
        );
    }
    assert_eq!(stack.count_jobs().await, 1);

    // The job holds its one upload, and no retry stored either photo anywhere (other
    // tests may store their own meanwhile).
    let job_objects = storage.list(&format!("jobs/{id}/")).await.unwrap();
    assert_eq!(job_objects, [format!("jobs/{id}/content")]);
    for key in storage.list("jobs/").await.unwrap() {
        if stored_before.contains(&key) {
            continue;
        }
        let bytes = storage.get(&key).await.unwrap().unwrap_or_default();
        assert!(
            bytes != photo && bytes != other_photo,
            "a retry stored {key}"
        );
    }
}

#[tokio::test]
async fn a_job_has_one_id_spelling_and_pages_start_after_a_known_job() {
    let stack = Stack::start().await;
    let id = stack.submit(json!({"size": 64, "iterations": 5})).await;
    assert_eq!(stack.get_json(&format!("/v1/jobs/{id}")).await.0, 200);
    let simple = id.replace('-', "");
    for other in [
        id.to_uppercase(),
        simple.clone(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
    ] {
        let (status, problem) = stack.get_json(&format!("/v1/jobs/{other}")).await;
        assert_eq!(
            (status, problem["status"].as_i64()),
            (404, Some(404)),
            "{other}"
        );
    }

    let (status, page) = stack.get_json(&format!("/v1/jobs?after={id}")).await;
    assert_eq!(
        (status, page["jobs"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    for after in [
        "00000000-0000-0000-0000-000000000000".to_owned(),
        id.to_uppercase(),
        simple,
        "not-an-id".to_owned(),
    ] {
        let (status, problem) = stack.get_json(&format!("/v1/jobs?after={after}")).await;
        assert_eq!(status, 400, "{after}: {problem}");
        assert_eq!(problem["field"], "after", "{problem}");
    }
}

#[tokio::test]
async fn the_qualities_are_listed_and_one_fills_what_params_leave_out() {
    let stack = Stack::start().await;
    let (status, list) = stack.get_json("/v1/qualities").await;
    assert_eq!(status, 200, "{list}");
    let qualities = list["qualities"].as_array().unwrap();
    let names: Vec<&str> = qualities
        .iter()
        .map(|quality| quality["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["quick", "draft", "fine", "classic"]);
    assert!(names.contains(&list["default"].as_str().unwrap()), "{list}");
    for quality in qualities {
        assert_eq!(quality["params"]["quality"], quality["name"], "{quality}");
        assert!(quality["full_size_iterations"].as_f64().unwrap() > 0.0);
    }

    let id = stack
        .submit(json!({"quality": "classic", "size": 64, "iterations": 2}))
        .await;
    let (_, job) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    let params = &job["params"];
    assert_eq!(params["quality"], "classic", "{job}");
    assert_eq!(
        (&params["optimizer"], &params["size"]),
        (&json!("adam"), &json!(64))
    );

    let unknown = Form::new()
        .part(
            "content",
            form::file("photo.jpg", asset("content/tubingen.jpg")),
        )
        .text("preset", "great-wave")
        .text("params", r#"{"quality": "best"}"#);
    let (status, problem) = stack.post_form(unknown).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "params.quality", "{problem}");
    assert_eq!(stack.count_jobs().await, 1);
}

/// A body of `bytes` made as it is sent: the client holds none of it, so the test
/// process's memory is the api's.
fn generated(bytes: usize) -> reqwest::Body {
    const CHUNK: usize = 64 * 1024;
    let chunks = (0..bytes.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(bytes - i * CHUNK);
        Ok::<_, std::io::Error>(vec![0xFF; len])
    });
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// 30 uploads of 40 MB at once, half chunked and half with a length: each is answered
/// (over the image limit, 413, as soon as the part passes it), and the api holds no
/// more of them at once than its upload room. Prints the peak memory
/// (docs/benchmarks/service.md, "Uploads").
#[tokio::test]
async fn thirty_parallel_40_mb_uploads_are_all_answered_within_the_upload_room() {
    const ROOM: usize = 128 << 20;
    const BODY: usize = 40 << 20;
    let stack = Stack::start_with(|settings| {
        settings.limits.max_inflight_upload_bytes = ROOM;
    })
    .await;
    let before = stylize_e2e::resident_bytes();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(
                    stylize_e2e::resident_bytes(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let started = Instant::now();
    let uploads = (0..30).map(|i| {
        let stack = &stack;
        async move {
            let part = if i % 2 == 0 {
                reqwest::multipart::Part::stream(generated(BODY))
            } else {
                reqwest::multipart::Part::stream_with_length(generated(BODY), BODY as u64)
            };
            let form = Form::new().part("content", part.file_name("huge.jpg"));
            let response = stack
                .client
                .post(stack.url("/v1/jobs"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let problem: Value = response.json().await.unwrap();
            (status, problem)
        }
    });
    let answers = futures_util::future::join_all(uploads).await;
    let took = started.elapsed();
    sampling.abort();
    let grown = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "uploads: 30 x 40 MB at once (15 chunked) answered in {took:.1?}; the test \
         process's peak grew {} MiB with {} MiB of upload room",
        grown >> 20,
        ROOM >> 20
    );
    for (status, problem) in &answers {
        assert_eq!(*status, 413, "{problem}");
        assert_eq!(problem["field"], "content", "{problem}");
    }
    // Each body held up to the image limit (and its buffer's doubling) at most, and no
    // more bodies at once than the room takes.
    assert!(grown < (ROOM as u64) * 2 + (96 << 20), "grew {grown} bytes");
    assert_eq!(stack.count_jobs().await, 0);
}
