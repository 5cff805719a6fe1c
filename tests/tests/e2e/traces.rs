//! Traces across the services. The api (in this process) and its workers (processes)
//! send their spans over OTLP/HTTP to a receiver this module runs: a submission's
//! spans, from the HTTP request through RabbitMQ to the worker's levels, share one trace
//! with the right parents, and a job whose worker died keeps its trace.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use stylize_e2e::{asset, form, wait_for, Stack};
use stylize_shared::config::TelemetrySettings;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A span as the receiver heard it.
#[derive(Clone, Debug)]
struct Heard {
    service: String,
    trace: String,
    id: String,
    parent: String,
    name: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP receiver, on a thread of its own (it outlives each test's runtime),
/// keeping every span it is sent.
struct Receiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<Heard>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn attributes(pairs: &[KeyValue]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|pair| (pair.key.clone(), text(&pair.value)))
        .collect()
}

fn heard(request: ExportTraceServiceRequest) -> Vec<Heard> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| attributes(&resource.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            spans.push(Heard {
                service: service.clone(),
                trace: hex(&span.trace_id),
                id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                name: span.name,
                attributes: attributes(&span.attributes),
            });
        }
    }
    spans
}

/// The receiver, started once with this process's tracing: the api in this process
/// sends its spans to it, as `stylize-api`.
fn receiver() -> &'static Receiver {
    static RECEIVER: OnceLock<Receiver> = OnceLock::new();
    RECEIVER.get_or_init(|| {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let (port_sender, port) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    let kept = kept.clone();
                    actix_web::App::new().route(
                        "/v1/traces",
                        actix_web::web::post().to(move |body: actix_web::web::Bytes| {
                            let kept = kept.clone();
                            async move {
                                let request = ExportTraceServiceRequest::decode(body).unwrap();
                                kept.lock().unwrap().extend(heard(request));
                                actix_web::HttpResponse::Ok()
                                    .content_type("application/x-protobuf")
                                    .finish()
                            }
                        }),
                    )
                })
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
                port_sender.send(server.addrs()[0].port()).unwrap();
                server.run().await.unwrap();
            })
        });
        let endpoint = format!("http://127.0.0.1:{}", port.recv().unwrap());
        let settings = TelemetrySettings {
            otlp_endpoint: endpoint.clone(),
            sampling_ratio: 1.0,
            service_name: String::new(),
        };
        let (telemetry, traces) = stylize_shared::telemetry::traces(&settings, "stylize-api")
            .expect("the receiver's endpoint is a URL");
        tracing_subscriber::registry().with(traces).init();
        // Kept for the process's life: its spans are sent as long as it runs.
        std::mem::forget(telemetry);
        Receiver { endpoint, spans }
    })
}

impl Receiver {
    /// A stack whose api and workers trace to this receiver.
    async fn stack(&self) -> Stack {
        let endpoint = self.endpoint.clone();
        Stack::start_with(move |settings| settings.telemetry.otlp_endpoint = endpoint).await
    }

    /// Waits until the trace `trace` has a span that `matches`, and returns it.
    async fn span(&self, trace: &str, what: &str, matches: impl Fn(&Heard) -> bool) -> Heard {
        let found = || {
            let spans = self.spans.lock().unwrap();
            let span = spans
                .iter()
                .find(|span| span.trace == trace && matches(span))
                .cloned();
            async move { span }
        };
        // Each process sends its spans every few seconds.
        wait_for(Duration::from_secs(30), what, found).await
    }
}

/// `16` random bytes, or `8`, as lower-case hex: a trace or span id.
fn random_id(bytes: usize) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..bytes * 2].to_owned()
}

#[tokio::test]
async fn a_submission_and_its_run_share_one_trace_with_the_right_parents() {
    let receiver = receiver();
    let mut stack = receiver.stack().await;
    stack.start_worker("e2e-traced");
    // The caller's own trace, which the submission joins.
    let (trace, caller_span) = (random_id(16), random_id(8));
    let response = stack
        .client
        .post(stack.url("/v1/jobs"))
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .multipart(form::submission(
            asset("content/tubingen.jpg"),
            "great-wave",
            json!({"size": 64, "iterations": 4}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job: serde_json::Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(job["trace_id"], trace.as_str(), "{job}");
    let seen = stack.wait_for_end(id, Duration::from_secs(120)).await;
    let done = seen.last().unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["trace_id"], trace.as_str());

    let named = |service: &'static str, name: &'static str| {
        move |span: &Heard| span.service == service && span.name == name
    };
    let request = receiver
        .span(
            &trace,
            "the api's request span",
            named("stylize-api", "POST /v1/jobs"),
        )
        .await;
    assert_eq!(
        request.parent, caller_span,
        "the caller's span is its parent"
    );
    let queue = &stack.settings.amqp.queue;
    let send = format!("send {queue}");
    let publish = receiver
        .span(&trace, "the publish span", |span| {
            span.service == "stylize-api" && span.name == send
        })
        .await;
    assert_eq!(publish.parent, request.id);
    assert_eq!(publish.attributes["messaging.system"], "rabbitmq");
    for name in ["INSERT jobs", "S3 PutObject", "check images"] {
        let span = receiver
            .span(&trace, name, |span| {
                span.service == "stylize-api" && span.name == name
            })
            .await;
        assert_eq!(span.parent, request.id, "{name}");
    }

    let receive_name = format!("receive {queue}");
    let receive = receiver
        .span(&trace, "the worker's consumer span", |span| {
            span.service == "stylize-worker" && span.name == receive_name
        })
        .await;
    assert_eq!(
        receive.parent, publish.id,
        "the consumer's parent is the publish"
    );
    let claim = receiver
        .span(&trace, "the claim", named("stylize-worker", "claim"))
        .await;
    assert_eq!(claim.parent, receive.id);
    let run = receiver
        .span(&trace, "the run", named("stylize-worker", "process job"))
        .await;
    assert_eq!(run.parent, request.id, "the run continues the submission");
    assert_eq!(run.attributes["job"], id);
    for name in ["fetch inputs", "level", "store result"] {
        let span = receiver
            .span(&trace, name, |span| {
                span.service == "stylize-worker" && span.name == name
            })
            .await;
        assert_eq!(span.parent, run.id, "{name}");
    }
    let level = receiver
        .span(
            &trace,
            "the level's iterations",
            named("stylize-worker", "level"),
        )
        .await;
    assert_eq!(level.attributes["iterations"], "4", "{level:?}");
}

#[tokio::test]
async fn a_job_whose_worker_died_keeps_its_trace() {
    let receiver = receiver();
    let mut stack = receiver.stack().await;
    stack.start_worker("e2e-traced-doomed");
    let id = stack.submit(json!({"size": 64, "iterations": 300})).await;
    stack.wait_until_running(&id).await;
    stack.kill_worker(0);
    stack.start_worker("e2e-traced-rescuer");
    // The lease runs out, the rescuer's reaper queues the job again and runs it.
    let seen = stack.wait_for_end(&id, Duration::from_secs(120)).await;
    let done = seen.last().unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2);
    let trace = done["trace_id"]
        .as_str()
        .expect("a traced job shows its trace");

    let request = receiver
        .span(trace, "the submission", |span| span.name == "POST /v1/jobs")
        .await;
    let republished = receiver
        .span(trace, "the reaper's republish", |span| {
            span.service == "stylize-worker" && span.name == "republish"
        })
        .await;
    assert_eq!(republished.parent, request.id);
    let second_run = receiver
        .span(trace, "the second run", |span| {
            span.name == "process job"
                && span.attributes.get("attempt").map(String::as_str) == Some("2")
        })
        .await;
    assert_eq!(second_run.parent, request.id, "{second_run:?}");
    assert_eq!(second_run.service, "stylize-worker");
}
