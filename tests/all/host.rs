//! The `agent-store` host as a user runs it: a real process, real HTTP.

use std::time::Duration;

use agent_store_events::ProductQueryResult;
use agent_store_tests::{HostBuilder, TEST_TOKEN, event, is, private_dir, test_app};
use anyhow::Result;
use cloudevents::AttributesReader;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// A test application: the probe subscribed to test events, with a route.
const PROBE_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "probe-app"

[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.probe]
source = "{{wasm}}/test_probe.wasm"
allowed_outbound_hosts = ["http://event-router.spin.internal"]

[component.probe.tool.agent-store]
subscribe = [{ type = "test.#" }]
emits = ["test.#"]
concurrency = 4
timeout = "1s"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_product_query_posted_to_events_produces_its_result() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let mut tail = host.tail(&[("type", "store.product.query.result")]).await?;
    let mut query = event(
        "store.product.query",
        json!({ "request_id": "q-readme", "brand": "fashion", "text": "vestido", "in_stock_only": true, "limit": 3 }),
    );
    query.set_extension("brand", "fashion");
    let (status, body) = host.post_event(&query).await?;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);

    let record = tail.find(WAIT, |r| is(r, "published", "store.product.query.result")).await?;
    let result: ProductQueryResult = serde_json::from_value(record["event"]["data"].clone())?;
    assert_eq!(result.request_id, "q-readme");
    assert!(!result.products.is_empty() && result.products.len() <= 3);
    for product in &result.products {
        assert_eq!(product.brand.as_str(), "fashion");
        assert_eq!(product.category, "dresses", "{}", product.name);
        assert!(product.stock > 0);
    }
    assert_eq!(record["event"]["source"], "/agent-store/product-catalog");
    assert_eq!(record["event"]["brand"], "fashion");
    assert_eq!(record["event"]["depth"], 1, "one hop from the ingress");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_events_get_400_with_the_reason() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let client = reqwest::Client::new();
    let url = format!("{}/events", host.url);
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (client.post(&url).body("hello"), "not a CloudEvent"),
        (
            client
                .post(&url)
                .header("ce-specversion", "1.0")
                .header("ce-id", "1")
                .header("ce-type", "store.product.query")
                .body("{}"),
            "source",
        ),
        (
            client
                .post(&url)
                .header("ce-specversion", "1.0")
                .header("ce-id", "1")
                .header("ce-source", "/t")
                .header("ce-type", "store.product.query")
                .header("content-type", "application/json")
                .body("{not json"),
            "not valid JSON",
        ),
        (
            client
                .post(&url)
                .header("content-type", "application/cloudevents+json")
                .body(r#"{"specversion":"1.0","id":"1"}"#),
            "invalid structured CloudEvent",
        ),
        (
            client
                .post(&url)
                .header("content-type", "application/cloudevents-batch+json")
                .body(r#"[{"specversion":"1.0","id":"1","source":"/t","type":"a"},{"id":"2"}]"#),
            "index 1",
        ),
    ];
    for (request, expected) in cases {
        let response = request.bearer_auth(TEST_TOKEN).send().await?;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await?;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "expected {expected:?} in {error:?}");
    }
    // And the host still takes good events.
    let (status, _) = host.post_event(&event("store.product.query", json!({ "request_id": "ok" }))).await?;
    assert_eq!(status, 202);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_a_tail_that_needs_the_token() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{}/healthz", host.url)).send().await?.text().await?, "ok");
    let ready: Value = client.get(format!("{}/readyz", host.url)).send().await?.json().await?;
    assert_eq!(ready["ready"], true, "{ready}");
    let denied = client.get(format!("{}/events/tail", host.url)).send().await?;
    assert_eq!(denied.status(), 401);
    let wrong = client.get(format!("{}/events/tail", host.url)).bearer_auth("nope").send().await?;
    assert_eq!(wrong.status(), 401);
    let allowed = client.get(format!("{}/events/tail", host.url)).bearer_auth(TEST_TOKEN).send().await?;
    assert_eq!(allowed.status(), 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn traps_and_endless_loops_fail_one_event_while_the_host_keeps_serving() -> Result<()> {
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml")).arg("--kv").arg("memory").start().await?;
    let mut tail = host.tail(&[("component", "probe")]).await?;
    host.post_event(&event("test.trap", json!({}))).await?;
    let failed = tail.find(WAIT, |r| is(r, "failed", "test.trap")).await?;
    assert!(failed["detail"].as_str().unwrap_or_default().contains("trapped"), "{failed}");
    host.post_event(&event("test.loop", json!({}))).await?;
    let failed = tail.find(WAIT, |r| is(r, "failed", "test.loop")).await?;
    assert!(failed["detail"].as_str().unwrap_or_default().contains("timed out after 1s"), "{failed}");
    host.post_event(&event("test.echo", json!({ "still": "serving" }))).await?;
    tail.find(WAIT, |r| is(r, "delivered", "test.echo")).await?;
    let lines = host.log_lines("delivery failed");
    assert!(lines.iter().any(|l| l["error"].as_str().unwrap_or_default().contains("trapped")), "a clear log line");
    // The endless loop is counted as stopped at the time limit.
    let metrics = reqwest::get(format!("{}/metrics", host.url)).await?.text().await?;
    assert!(metrics.contains(r#"agent_store_wasm_limits_hit_total{component="probe",limit="time"} "#), "{metrics}");
    assert!(!metrics.contains(r#"agent_store_wasm_limits_hit_total{component="probe",limit="time"} 0"#), "{metrics}");
    assert!(metrics.contains(r#"agent_store_wasm_limits_hit_total{component="probe",limit="memory"} 0"#), "{metrics}");
    Ok(())
}

/// A component that fails until a key is set in its store.
const FRAGILE_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "fragile-app"

[component.fragile]
source = "{{wasm}}/test_probe.wasm"
key_value_stores = ["counts"]

[component.fragile.tool.agent-store]
subscribe = [{ type = "test.fail-unless" }, { type = "test.kv" }, { type = "test.bad" }]
emits = ["test.#"]
"#;

/// The embedded broker's dead letters through the admin API: a failing
/// event is dead-lettered, its cause fixed, and `dlq replay` runs it again
/// (as attempt 1) until it succeeds; `purge` drops the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_replayed_through_the_admin_api_runs_again() -> Result<()> {
    let app = test_app(FRAGILE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml"))
        .arg("--kv")
        .arg("memory")
        .arg("--broker-max-attempts")
        .arg("2")
        .arg("--broker-retry-backoff")
        .arg("50ms")
        .start()
        .await?;
    let mut tail = host.tail(&[("component", "fragile")]).await?;
    let fixable = event("test.fail-unless", json!({ "store": "counts", "key": "fixed" }));
    host.post_event(&fixable).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let dead = loop {
        let dead = host.dlq(TEST_TOKEN, &["list", "--json"]).await?.json()?;
        if !dead.is_empty() || tokio::time::Instant::now() > deadline {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["event_id"], fixable.id());
    assert_eq!(dead[0]["attempts"], 2);
    let metrics = reqwest::get(format!("{}/metrics", host.url)).await?.text().await?;
    for counted in [
        r#"agent_store_dead_letters_total{component="fragile"} 1"#,
        r#"agent_store_delivery_outcomes_total{component="fragile",outcome="failed"} 2"#,
    ] {
        assert!(metrics.contains(counted), "{counted} in\n{metrics}");
    }
    let id = dead[0]["id"].as_str().unwrap_or_default().to_string();
    let unknown = host.dlq(TEST_TOKEN, &["replay", "no-such-letter"]).await?;
    assert!(!unknown.ok && unknown.stderr.contains("(404)"), "{unknown:?}");

    // Fix the cause (the component sets the key itself), then replay.
    host.post_event(&event("test.kv", json!({ "store": "counts", "key": "fixed", "value": "yes" }))).await?;
    tail.find(WAIT, |r| is(r, "delivered", "test.kv")).await?;
    let replayed = host.dlq(TEST_TOKEN, &["replay", &id, "--json"]).await?.json()?;
    assert_eq!(replayed, vec![json!({ "replayed": id, "component": "fragile" })]);
    let delivered = tail.find(WAIT, |r| r["kind"] == "delivered" && r["event"]["id"] == fixable.id()).await?;
    assert_eq!(delivered["detail"], "emitted 1");
    assert!(host.dlq(TEST_TOKEN, &["list", "--json"]).await?.json()?.is_empty());

    // A refused event is dead-lettered at once; purge drops it.
    host.post_event(&event("test.bad", json!({}))).await?;
    tail.find(WAIT, |r| is(r, "rejected", "test.bad")).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while host.dead_letters().await?.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(host.dlq(TEST_TOKEN, &["purge", "--json"]).await?.json()?, vec![json!({ "purged": 1 })]);
    assert!(host.dead_letters().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_between_components_is_cut_at_the_hop_limit() -> Result<()> {
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml")).arg("--max-depth").arg("3").start().await?;
    let mut tail = host.tail(&[("type", "test.bounce")]).await?;
    host.post_event(&event("test.bounce", json!({}))).await?;
    let rejected = tail.find(WAIT, |r| r["kind"] == "rejected").await?;
    assert!(rejected["detail"].as_str().unwrap_or_default().contains("hop limit of 3"), "{rejected}");
    assert_eq!(rejected["event"]["depth"], 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_are_served_and_can_publish_through_the_event_router() -> Result<()> {
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml")).start().await?;
    let client = reqwest::Client::new();
    let hello = client.get(format!("{}/probe/hi", host.url)).send().await?;
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.text().await?, "hello from probe at /probe/hi");
    let missing = client.get(format!("{}/nothing-here", host.url)).send().await?;
    assert_eq!(missing.status(), 404);

    let mut tail = host.tail(&[("type", "test.echo")]).await?;
    let events = vec![event("test.echo", json!({ "from": "route" }))];
    let published = client.post(format!("{}/probe/publish", host.url)).json(&events).send().await?;
    assert_eq!(published.status(), 202, "{}", published.text().await?);
    let delivered = tail.find(WAIT, |r| is(r, "delivered", "test.echo")).await?;
    assert_eq!(delivered["event"]["data"]["from"], "route");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_reuses_the_compiled_components() -> Result<()> {
    let data = private_dir()?;
    let app = test_app(PROBE_APP)?;
    let manifest = app.path().join("spin.toml");
    // A fresh cache directory of this test's own, so the first start compiles.
    let first = HostBuilder::new(&manifest).data_dir(data.path()).start().await?;
    let ready = first.wait_for_log("component ready", WAIT).await?;
    assert_eq!(ready["origin"], "Compiled", "{ready}");
    assert!(first.stop().await?.success());

    let second = HostBuilder::new(&manifest).data_dir(data.path()).start().await?;
    let ready = second.wait_for_log("component ready", WAIT).await?;
    assert_eq!(ready["origin"], "Cached", "{ready}");
    assert!(second.log_lines("compiling component").is_empty(), "no compilation on restart");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_with_a_forbidden_import_stops_the_host_at_start() -> Result<()> {
    let app = test_app(
        r#"
spin_manifest_version = 2
[application]
name = "bad"
[component.sneaky]
source = "{{wasm}}/test_forbidden_import.wasm"
[component.sneaky.tool.agent-store]
subscribe = [{ type = "test.#" }]
"#,
    )?;
    let output = HostBuilder::new(app.path().join("spin.toml")).expect_failure().await?;
    assert!(output.contains("component `sneaky`"), "{output}");
    assert!(output.contains("wasi:sockets/"), "{output}");
    Ok(())
}

/// `up --components`: one agent per process (a Knative Service each). Only
/// the named components load, take events, serve routes and show in the
/// admin API; a deploy of another is refused; unknown ids stop the host.
#[tokio::test(flavor = "multi_thread")]
async fn up_components_serves_only_the_named_agents() -> Result<()> {
    let host = HostBuilder::repo_manifest()
        .arg("--kv")
        .arg("memory")
        .arg("--components")
        .arg("product-catalog,order-processor")
        .start()
        .await?;
    let client = reqwest::Client::new();
    let listed: Value =
        client.get(format!("{}/admin/components", host.url)).bearer_auth(TEST_TOKEN).send().await?.json().await?;
    let mut ids: Vec<&str> =
        listed["components"].as_array().into_iter().flatten().filter_map(|c| c["component"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["order-processor", "product-catalog"], "{listed}");

    // The catalog answers; the order processor's route is served, the
    // gateway's is not.
    let mut tail = host.tail(&[("type", "store.product.query.result")]).await?;
    let mut query =
        event("store.product.query", json!({ "request_id": "q-only", "brand": "fashion", "text": "vestido" }));
    query.set_extension("brand", "fashion");
    assert_eq!(host.post_event(&query).await?.0, 202);
    tail.find(WAIT, |r| is(r, "published", "store.product.query.result")).await?;
    let orders = client.get(format!("{}/orders/ord-nosuch", host.url)).send().await?.status();
    assert_ne!(orders, 404, "order-processor's /orders/... is served");
    let webhook = client.get(format!("{}/webhooks/whatsapp", host.url)).send().await?.status();
    assert_eq!(webhook, 404, "the gateway is not on this host");

    let refused = client
        .post(format!("{}/admin/deploys", host.url))
        .bearer_auth(TEST_TOKEN)
        .json(&json!({ "manifest": "spin_manifest_version = 2\n[application]\nname = \"x\"\n", "components": ["seller-fashion"], "sources": {} }))
        .send()
        .await?;
    let status = refused.status().as_u16();
    let body: Value = refused.json().await?;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("serves only"), "{body}");

    for (ids, reason) in [("product-catalg", "runs such a component"), ("event-router", "event router")] {
        let out = HostBuilder::repo_manifest()
            .arg("--kv")
            .arg("memory")
            .arg("--components")
            .arg(ids)
            .expect_failure()
            .await?;
        assert!(out.contains(reason), "--components {ids}: {out}");
    }
    Ok(())
}
