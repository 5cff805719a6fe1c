//! Logs and traces for the binaries.
//!
//! Logs: `tracing` to standard error, filtered by `RUST_LOG` (default `info`). A line
//! inside a request or a job carries its span's fields, the trace id among them.
//!
//! Traces: off unless `telemetry.otlp_endpoint` names a collector. Then every `tracing`
//! span at `info` or above (whatever `RUST_LOG` lets the logs show) is also an
//! OpenTelemetry span, sent over
//! OTLP/HTTP (protobuf) to `{otlp_endpoint}/v1/traces`, a share of traces kept
//! (`telemetry.sampling_ratio`, decided where a trace begins and followed downstream).
//! A trace crosses the processes as a W3C `traceparent`: in an HTTP request's headers
//! (honoured on the api's routes), in a RabbitMQ message's headers, and on the job's
//! row, so that a job's every run and webhook joins the trace of its submission.

use crate::config::TelemetrySettings;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::collections::HashMap;
use std::time::Duration;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The header, message header and column that carry a trace across processes.
pub const TRACEPARENT: &str = "traceparent";

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The traces' exporter while the process runs: dropping it sends what is still
/// buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("sending the last traces: {error}");
            }
        }
    }
}

/// A `tracing` layer, as `traces` gives it.
pub type TraceLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The `tracing` layer that makes spans OpenTelemetry spans of `service`, exported as
/// `settings` say; `None` when export is off.
pub fn traces<S>(
    settings: &TelemetrySettings,
    service: &str,
) -> anyhow::Result<(Telemetry, Option<TraceLayer<S>>)>
where
    S: Subscriber + Send + Sync + for<'span> LookupSpan<'span>,
{
    anyhow::ensure!(
        (0.0..=1.0).contains(&settings.sampling_ratio),
        "telemetry.sampling_ratio is {}: a share of traces, from 0 to 1",
        settings.sampling_ratio
    );
    let base = settings.otlp_endpoint.trim_end_matches('/');
    if base.is_empty() {
        return Ok((Telemetry { provider: None }, None));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{base}/v1/traces"))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| {
            anyhow::anyhow!("telemetry.otlp_endpoint {base:?} is not an http(s) URL: {error}")
        })?;
    let name = match settings.service_name.as_str() {
        "" => service.to_owned(),
        name => name.to_owned(),
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sampling_ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(name).build())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("stylize"))
        .with_threads(false)
        .with_filter(LevelFilter::INFO)
        .boxed();
    Ok((
        Telemetry {
            provider: Some(provider),
        },
        Some(layer),
    ))
}

/// Logs to standard error and, when `settings` say so, traces to a collector, as
/// `service`. Keep what it returns until the process ends.
pub fn init(settings: &TelemetrySettings, service: &str) -> anyhow::Result<Telemetry> {
    let (telemetry, traces) = traces(settings, service)?;
    let logs =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(logs))
        .with(traces)
        .try_init()?;
    Ok(telemetry)
}

/// The W3C `traceparent` of `span`: what a message or a row keeps to continue its
/// trace elsewhere. `None` when traces are off.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span`, not yet entered, a child of the span `traceparent` names (another
/// process's), and records its trace id in the span's `trace_id` field for the logs.
/// Nothing when there is none, or traces are off.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let remote = parent.span().span_context().clone();
    if remote.is_valid() && span.set_parent(parent).is_ok() {
        span.record("trace_id", remote.trace_id().to_string());
    }
}

/// The trace id (32 hexadecimal digits) in a `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_its_trace() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(traceparent),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("00-short-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn traces_are_off_without_an_endpoint_and_a_bad_setting_names_itself() {
        let settings = |endpoint: &str, ratio: f64| TelemetrySettings {
            otlp_endpoint: endpoint.into(),
            sampling_ratio: ratio,
            service_name: String::new(),
        };
        let off = traces::<tracing_subscriber::Registry>(&settings("", 1.0), "test").unwrap();
        assert!(off.1.is_none());
        let refused = |endpoint: &str, ratio: f64| {
            traces::<tracing_subscriber::Registry>(&settings(endpoint, ratio), "test")
                .err()
                .expect("refused")
                .to_string()
        };
        assert!(refused("", 1.5).starts_with("telemetry.sampling_ratio is 1.5"));
        assert!(refused("", f64::NAN).starts_with("telemetry.sampling_ratio"));
        assert!(refused("not a url", 1.0).starts_with("telemetry.otlp_endpoint \"not a url\""));
    }
}
