//! Traces: a host on RabbitMQ exporting to an OTLP/HTTP receiver in the
//! test, and a customer buying over signed webhooks. The order's journey is
//! one trace: the webhook's route, then a delivery per component the events
//! pass through, each under the span that published its event, down to the
//! Cloud API call that tells the customer.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_store_tests::private_dir;
use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;

use crate::broker::Sandbox;
use crate::crash::{Doors, Setup, shop};
use crate::whatsapp::FakeCloudApi;

/// One exported span, as OTLP/JSON carries it.
#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    /// `server`, `client`, `producer`, `consumer` or `internal`.
    kind: &'static str,
    name: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, JSON) on 127.0.0.1.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
    requests: Arc<Mutex<usize>>,
}

#[derive(Clone)]
struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    requests: Arc<Mutex<usize>>,
}

async fn receive(State(state): State<Received>, body: String) -> &'static str {
    *state.requests.lock().unwrap() += 1;
    let Ok(json) = serde_json::from_str::<Value>(&body) else { return "{}" };
    let mut spans = state.spans.lock().unwrap();
    for resource in json["resourceSpans"].as_array().into_iter().flatten() {
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let attributes = span["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| {
                        let value = &a["value"];
                        let value = value["stringValue"]
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| value["intValue"].as_str().map(str::to_string))
                            .or_else(|| value["intValue"].as_i64().map(|n| n.to_string()))
                            .or_else(|| value["boolValue"].as_bool().map(|b| b.to_string()))?;
                        Some((a["key"].as_str()?.to_string(), value))
                    })
                    .collect();
                let kind = match &span["kind"] {
                    Value::Number(n) => n.as_u64().unwrap_or_default(),
                    Value::String(s) => ["", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
                        .iter()
                        .position(|k| s.ends_with(k) && !k.is_empty())
                        .unwrap_or_default() as u64,
                    _ => 0,
                };
                spans.push(Span {
                    kind: ["", "internal", "server", "client", "producer", "consumer"]
                        .get(kind as usize)
                        .copied()
                        .unwrap_or_default(),
                    trace: span["traceId"].as_str().unwrap_or_default().to_string(),
                    id: span["spanId"].as_str().unwrap_or_default().to_string(),
                    parent: span["parentSpanId"].as_str().unwrap_or_default().to_string(),
                    name: span["name"].as_str().unwrap_or_default().to_string(),
                    attributes,
                });
            }
        }
    }
    "{}"
}

impl Collector {
    async fn start() -> Result<Self> {
        let received = Received { spans: Arc::default(), requests: Arc::default() };
        let app = Router::new().route("/v1/traces", post(receive)).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, spans: received.spans, requests: received.requests })
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

/// The traces that reached the Cloud API.
fn traces_reaching(spans: &[Span], api_host: &str) -> Vec<Vec<Span>> {
    let mut traces: HashMap<&str, Vec<Span>> = HashMap::new();
    for span in spans {
        traces.entry(&span.trace).or_default().push(span.clone());
    }
    traces
        .into_values()
        .filter(|trace| {
            trace
                .iter()
                .any(|s| s.kind == "client" && s.attributes.get("server.address").map(String::as_str) == Some(api_host))
        })
        .collect()
}

/// The components that took part: those delivered to or routed to, and
/// those called in-process (the catalog, reserving stock for an order).
fn components(trace: &[Span]) -> BTreeSet<String> {
    trace
        .iter()
        .filter_map(|s| match s.kind {
            "consumer" | "server" => s.attributes.get("component").cloned(),
            "client" => s
                .attributes
                .get("server.address")
                .and_then(|a| a.strip_suffix(".spin.internal"))
                .filter(|c| *c != "event-router")
                .map(str::to_string),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_is_one_trace_from_the_webhook_to_the_cloud_api_across_the_agents() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let api = Arc::new(FakeCloudApi::start().await?);
    let collector = Collector::start().await?;
    let setup = Setup { api: api.origin.clone(), prefix: sandbox.prefix.clone(), kv: None };
    let data = private_dir()?;
    let host = setup
        .host(data.path())
        .arg("--otlp")
        .arg(&collector.url)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_SERVICE_NAME", "agent-store-test")
        .start()
        .await?;
    let doors = Doors::default();
    doors.set(0, Some(&host.url));
    // Customer 0 buys: asks, views the product, adds it, checks out, places the order.
    shop(0, &doors, &sandbox.prefix, &api).await?;

    let api_host = api.origin.trim_start_matches("http://").split(':').next().unwrap_or_default().to_string();
    let wanted = ["whatsapp-gateway", "order-processor"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let journey = loop {
        let spans = collector.spans();
        // The trace of the order: the one with an order-processor delivery
        // that ends in a message to the customer.
        let found = traces_reaching(&spans, &api_host)
            .into_iter()
            .filter(|trace| {
                let seen = components(trace);
                wanted.iter().all(|c| seen.contains(*c)) && seen.len() >= 4
            })
            .max_by_key(Vec::len);
        if let Some(trace) = found {
            break trace;
        }
        if tokio::time::Instant::now() > deadline {
            let mut by_trace: HashMap<String, BTreeSet<String>> = HashMap::new();
            for span in &spans {
                by_trace.entry(span.trace.clone()).or_default().insert(format!(
                    "{} {}: {}",
                    span.kind,
                    span.name,
                    span.attributes.get("component").cloned().unwrap_or_default()
                ));
            }
            anyhow::bail!(
                "no trace of the order across four components within 60 s ({} export requests, {} spans): {by_trace:#?}",
                collector.requests.lock().unwrap(),
                spans.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // No delivery starts a trace of its own: each continues its event's.
    let orphans: Vec<Span> =
        collector.spans().into_iter().filter(|s| s.kind == "consumer" && s.parent.is_empty()).collect();
    assert!(orphans.is_empty(), "deliveries outside their event's trace: {orphans:#?}");
    let seen = components(&journey);
    eprintln!("the order's trace: {} spans through {seen:?}", journey.len());
    assert!(seen.len() >= 4, "{seen:?}");
    // It starts at the webhook: one root, the gateway's route.
    let ids: BTreeSet<&str> = journey.iter().map(|s| s.id.as_str()).collect();
    let roots: Vec<&Span> =
        journey.iter().filter(|s| s.parent.is_empty() || !ids.contains(s.parent.as_str())).collect();
    assert_eq!(roots.len(), 1, "one root, every other span under a span of the trace: {roots:#?}");
    assert_eq!((roots[0].kind, roots[0].name.as_str()), ("server", "POST /webhooks/whatsapp"), "{:#?}", roots[0]);
    assert_eq!(roots[0].attributes.get("http.route").map(String::as_str), Some("/webhooks/whatsapp"));
    // Every delivery hangs under the publish of its event, as a consumer
    // of RabbitMQ with the event's type, id and the component's version.
    let by_id: HashMap<&str, &Span> = journey.iter().map(|s| (s.id.as_str(), s)).collect();
    for deliver in journey.iter().filter(|s| s.kind == "consumer") {
        assert_eq!(deliver.name, "deliver");
        let parent = by_id[deliver.parent.as_str()];
        assert_eq!((parent.kind, parent.name.as_str()), ("producer", "publish"), "{deliver:#?} under {parent:#?}");
        assert_eq!(parent.attributes.get("event_id"), deliver.attributes.get("event_id"));
        assert_eq!(deliver.attributes.get("messaging.system").map(String::as_str), Some("rabbitmq"), "{deliver:#?}");
        for key in ["event_type", "event_id", "component", "version", "trace_id"] {
            assert!(deliver.attributes.contains_key(key), "{key} on {deliver:#?}");
        }
        assert_eq!(deliver.attributes["trace_id"], deliver.trace, "the log field is the trace's id");
    }
    // The host calls the components made: their key-value reads and
    // writes, and the Cloud API call itself.
    assert!(journey.iter().any(|s| s.kind == "client" && s.name.starts_with("kv.")), "no key-value span");
    let sends: Vec<&Span> = journey
        .iter()
        .filter(|s| s.kind == "client" && s.attributes.get("server.address") == Some(&api_host))
        .collect();
    assert!(!sends.is_empty());
    assert!(sends.iter().all(|s| s.attributes.get("http.response.status_code").map(String::as_str) == Some("200")));
    drop(host);
    Ok(())
}

#[tokio::test]
async fn a_collector_spoken_to_over_grpc_is_refused_with_the_reason() -> Result<()> {
    let printed = agent_store_tests::HostBuilder::repo_manifest()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .expect_failure()
        .await?;
    assert!(printed.contains("gRPC is not built in") && printed.contains("http/protobuf"), "{printed}");
    Ok(())
}
