//! Logs and traces. Log lines go to stderr (text or JSON); spans are also
//! exported over OTLP/HTTP when a collector is named (`--otlp`, or the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
//! and the rest of the standard `OTEL_*` variables apply: the protocol
//! (`http/protobuf` or `http/json`), headers, timeout, the sampler, the batch
//! processor's sizes and delays, the service name and resource attributes.
//!
//! Every delivery runs in a `deliver` span whose parent is the span that
//! published the event (read from its `traceparent`), and every event
//! published gets a `publish` span whose context becomes the event's
//! `traceparent`: one customer message is one trace across the agents,
//! whichever broker carries the events between them.

use std::collections::HashMap;
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Metadata, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Whether spans are exported: decided once, at start.
static EXPORTING: OnceLock<bool> = OnceLock::new();

pub fn exporting() -> bool {
    EXPORTING.get().copied().unwrap_or(false)
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flushes the spans still queued when the command ends.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing the last spans to the OTLP collector: {e}");
        }
    }
}

/// Installs the log writer and, when a collector is named, the span exporter.
/// `otlp` is a base URL like `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is
/// appended).
pub fn init(format: Option<LogFormat>, otlp: Option<&str>) -> Result<Telemetry> {
    use std::io::IsTerminal;

    let filter = EnvFilter::try_from_env("AGENT_STORE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift_codegen=warn,lapin=warn"));
    let json = match format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => !std::io::stderr().is_terminal(),
    };
    // In JSON every line names the spans it was written in, so a line about
    // an event carries the delivery's event id, type, brand, conversation
    // and trace id without each call site repeating them.
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter).boxed()
    };

    let provider = tracer_provider(otlp)?;
    let _ = EXPORTING.set(provider.is_some());
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("agent-store"))
            .with_location(false)
            .with_threads(false)
            // A span's parent is the tracing span it was created in. The
            // thread-local OpenTelemetry context that activation keeps does
            // not follow a guest suspended on a fiber while another runs on
            // the thread, and costs an attach per poll besides.
            .with_context_activation(false)
            .with_filter(SpansOnly)
    });
    tracing_subscriber::registry().with(logs).with(spans).try_init().context("installing the log writer")?;
    Ok(Telemetry { provider })
}

fn tracer_provider(otlp: Option<&str>) -> Result<Option<SdkTracerProvider>> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let named = otlp.is_some()
        || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
    if !named {
        return Ok(None);
    }
    if env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or(env("OTEL_EXPORTER_OTLP_PROTOCOL")).is_some_and(|p| p == "grpc") {
        bail!("OTLP over gRPC is not built in: set OTEL_EXPORTER_OTLP_PROTOCOL to http/protobuf or http/json");
    }
    let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_http_client(OtlpClient::new()?);
    if let Some(base) = otlp {
        exporter = exporter.with_endpoint(traces_endpoint(base));
    }
    let exporter = exporter.build().context("setting up the OTLP span exporter")?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name()).build();
    Ok(Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build()))
}

/// `OTEL_SERVICE_NAME` wins inside the resource builder; this is the default.
fn service_name() -> String {
    std::env::var("K_SERVICE").unwrap_or_else(|_| "agent-store".to_string())
}

/// A base URL as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it, made the traces
/// endpoint the way the standard variable is.
fn traces_endpoint(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// Exports on the SDK's own batch thread with the host's reqwest, blocking:
/// the batch processor drives its exporter outside any async runtime.
#[derive(Debug)]
struct OtlpClient(reqwest::blocking::Client);

impl OtlpClient {
    /// Called before the async runtime starts: the blocking client refuses
    /// to be built inside one.
    fn new() -> Result<Self> {
        Ok(Self(reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?))
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::blocking::Request::try_from(request.map(reqwest::blocking::Body::from))?;
        let response = self.0.execute(request)?;
        let mut builder = http::Response::builder().status(response.status().as_u16());
        for (name, value) in response.headers() {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        Ok(builder.body(bytes::Bytes::from(response.bytes()?.to_vec()))?)
    }
}

/// Exports spans of the store's own crates, not log lines (they go to
/// stderr) nor the spans of its libraries.
struct SpansOnly;

impl SpansOnly {
    fn admits(meta: &Metadata<'_>) -> bool {
        meta.is_span() && meta.target().starts_with("agent_store") && *meta.level() <= tracing::Level::DEBUG
    }
}

impl<S> Filter<S> for SpansOnly {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::admits(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if Self::admits(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::DEBUG)
    }
}

/// Makes `span` a child of the span that published the event (its
/// `traceparent` and `tracestate`), when spans are exported.
pub fn continue_trace(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if !exporting() {
        return;
    }
    let Some(traceparent) = traceparent else { return };
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_string(), traceparent.to_string());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_string(), state.to_string());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` naming `span`, when spans are exported and it has one.
pub fn traceparent_of(span: &Span) -> Option<String> {
    if !exporting() || span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        format!("00-{}-{}-{:02x}", span_context.trace_id(), span_context.span_id(), span_context.trace_flags().to_u8())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_becomes_the_traces_endpoint() {
        assert_eq!(traces_endpoint("http://collector:4318"), "http://collector:4318/v1/traces");
        assert_eq!(traces_endpoint("http://collector:4318/"), "http://collector:4318/v1/traces");
    }
}
