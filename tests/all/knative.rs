//! The host as Knative runs it (`--broker knative`): Triggers push
//! deliveries to `/events/deliver/<component>`, emitted events go to the
//! Broker's ingress. The ingress is a fake on 127.0.0.1 (there is no
//! cluster here) that keeps what it is sent, or refuses it on demand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_store_events::ProductQueryResult;
use agent_store_tests::{HostBuilder, HostProcess, TEST_TOKEN, event, host_binary_path};
use anyhow::{Result, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cloudevents::{AttributesReader, Event};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Default)]
struct Ingress {
    received: Arc<Mutex<Vec<Event>>>,
    refusing: Arc<AtomicBool>,
}

impl Ingress {
    async fn start(&self) -> Result<String> {
        async fn take(State(ingress): State<Ingress>, headers: HeaderMap, body: Bytes) -> StatusCode {
            if ingress.refusing.load(Ordering::SeqCst) {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            match agent_store_events::binding::decode(&headers, body.to_vec()) {
                Ok(events) => {
                    ingress.received.lock().unwrap().extend(events);
                    StatusCode::ACCEPTED
                }
                Err(_) => StatusCode::BAD_REQUEST,
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/store/default", listener.local_addr()?);
        let app = axum::Router::new().route("/store/default", axum::routing::post(take)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    async fn wait_for(&self, ty: &str) -> Result<Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = self.received.lock().unwrap().iter().find(|e| e.ty() == ty) {
                return Ok(found.clone());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the ingress got no {ty}: {:?}", self.types());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn types(&self) -> Vec<String> {
        self.received.lock().unwrap().iter().map(|e| e.ty().to_string()).collect()
    }
}

async fn knative_host(ingress: &Ingress) -> Result<HostProcess> {
    let sink = ingress.start().await?;
    HostBuilder::repo_manifest()
        .arg("--kv")
        .arg("memory")
        .arg("--broker")
        .arg("knative")
        .env("K_SINK", &sink)
        .start()
        .await
}

/// Posts `event` the way a Trigger delivers it (binary mode).
async fn deliver(host: &HostProcess, component: &str, event: &Event) -> Result<(u16, Value)> {
    let (headers, body) = agent_store_events::binding::encode_binary(event)?;
    let response = reqwest::Client::new()
        .post(format!("{}/events/deliver/{component}", host.url))
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

fn query(id: &str) -> Event {
    let mut query = event(
        "store.product.query",
        json!({ "request_id": id, "brand": "tech", "text": "laptop", "in_stock_only": true, "limit": 2 }),
    );
    query.set_extension("brand", "tech");
    query
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_delivery_runs_the_component_and_its_result_goes_to_the_broker() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;

    // What comes in through /events goes to the Knative Broker, not to a
    // component: the Broker's Triggers decide who gets it.
    let posted = query("q-ingress");
    let (status, body) = host.post_event(&posted).await?;
    assert_eq!(status, 202, "{body}");
    let published = ingress.wait_for("store.product.query").await?;
    assert_eq!(published.id(), posted.id());
    assert!(ingress.types().iter().all(|t| t == "store.product.query"), "no component ran: {:?}", ingress.types());

    let (status, body) = deliver(&host, "product-catalog", &query("q-pushed")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["emitted"], 1);
    let result = ingress.wait_for("store.product.query.result").await?;
    assert_eq!(result.source().to_string(), "/agent-store/product-catalog");
    assert_eq!(result.extension("brand").map(|v| v.to_string()).as_deref(), Some("tech"));
    let data: ProductQueryResult = match result.data() {
        Some(cloudevents::Data::Json(value)) => serde_json::from_value(value.clone())?,
        other => bail!("result data is not JSON: {other:?}"),
    };
    assert_eq!(data.request_id, "q-pushed");
    assert!(!data.products.is_empty());
    assert!(data.products.iter().all(|p| p.brand.as_str() == "tech" && p.stock > 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_answered_so_that_knative_retries_only_what_can_succeed() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;

    // An event the subscription does not take (a Trigger filter is coarser
    // than ours): done, nothing run.
    let stray = event("store.order.create", json!({}));
    let (status, body) = deliver(&host, "product-catalog", &stray).await?;
    assert_eq!((status, &body["emitted"]), (200, &json!(0)), "{body}");

    let (status, body) = deliver(&host, "no-such-component", &query("q-1")).await?;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("no-such-component"), "{body}");

    let response = reqwest::Client::new()
        .post(format!("{}/events/deliver/product-catalog", host.url))
        .header("ce-specversion", "1.0")
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status(), 400, "a delivery without ce-id/ce-type is malformed");

    // The component succeeds but the Broker does not take its result: the
    // delivery must fail so that Knative brings it again.
    ingress.refusing.store(true, Ordering::SeqCst);
    let (status, body) = deliver(&host, "product-catalog", &query("q-refused")).await?;
    assert_eq!(status, 503, "{body}");
    assert!(body["failed"][0]["reason"].as_str().unwrap().contains("ingress"), "{body}");
    ingress.refusing.store(false, Ordering::SeqCst);
    let (status, body) = deliver(&host, "product-catalog", &query("q-refused")).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn what_knative_gives_up_on_is_kept_with_its_reason() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;

    // What the Broker's dead-letter sink posts: the event as it was, plus
    // the extensions Knative adds to say where it failed and how.
    let mut failed = query("q-dead");
    failed.set_extension("knativeerrorcode", "503");
    failed.set_extension(
        "knativeerrordest",
        "http://agent-store.agent-store.svc.cluster.local/events/deliver/product-catalog",
    );
    failed.set_extension("knativeerrordata", "eyJlcnJvciI6InJldHJ5In0=");
    let (headers, body) = agent_store_events::binding::encode_binary(&failed)?;
    let client = reqwest::Client::new();
    let response = client.post(format!("{}/events/dead-letter", host.url)).headers(headers).body(body).send().await?;
    assert_eq!(response.status(), 200);

    let listing = format!("{}/admin/dead-letters", host.url);
    assert_eq!(client.get(&listing).send().await?.status(), 401, "dead letters are for the admin only");
    let body: Value = client.get(&listing).bearer_auth(TEST_TOKEN).send().await?.json().await?;
    let letters = body["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{body}");
    let letter = &letters[0];
    assert_eq!(letter["event"]["id"], failed.id());
    assert_eq!(letter["event"]["data"]["request_id"], "q-dead", "the event is kept whole: {letter}");
    assert_eq!(letter["component"], "product-catalog");
    let reason = letter["reason"].as_str().unwrap();
    assert!(reason.contains("answered 503") && reason.contains(r#"{"error":"retry"}"#), "{reason}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pull_brokers_refuse_pushed_deliveries_and_knative_needs_a_sink() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let (status, body) = deliver(&host, "product-catalog", &query("q-1")).await?;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("--broker knative"), "{body}");

    let refusal =
        HostBuilder::repo_manifest().arg("--kv").arg("memory").arg("--broker").arg("knative").expect_failure().await?;
    assert!(refusal.contains("K_SINK"), "{refusal}");
    Ok(())
}

#[tokio::test]
async fn the_committed_triggers_are_the_ones_spin_toml_gives() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = tokio::process::Command::new(host_binary_path())
        .args(["knative", "triggers", "--manifest"])
        .arg(root.join("spin.toml"))
        .output()
        .await?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let generated = String::from_utf8(output.stdout)?;
    let committed = std::fs::read_to_string(root.join("deploy/knative/triggers.yaml"))?;
    assert!(
        generated == committed,
        "deploy/knative/triggers.yaml is stale: run `agent-store knative triggers > deploy/knative/triggers.yaml`"
    );
    // Every subscribing component, and every seller only for its brand.
    for component in ["product-catalog", "order-processor", "sales-assistant", "whatsapp-gateway"] {
        assert!(generated.contains(&format!("uri: /events/deliver/{component}\n")), "{component}");
    }
    for brand in ["fashion", "tech", "home", "beauty", "gaming"] {
        let seller = format!("uri: /events/deliver/seller-{brand}\n");
        let triggers: Vec<&str> = generated.split("---\n").filter(|t| t.contains(&seller)).collect();
        assert_eq!(triggers.len(), 6, "seller-{brand}");
        assert!(triggers.iter().all(|t| t.contains(&format!("brand: \"{brand}\""))), "seller-{brand}");
    }
    Ok(())
}
