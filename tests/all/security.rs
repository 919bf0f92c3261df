//! The store as an attacker tries it (issue 10): every way in is
//! authenticated and bounded. Each test here failed before the change it
//! guards.

use std::collections::BTreeSet;
use std::time::Duration;

use agent_store_tests::{HostBuilder, TEST_TOKEN, amqp_url, event, is, rabbitmq_shared, remove_prefix, test_app};
use anyhow::Result;
use cloudevents::AttributesReader;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// The request of issue 10: an order placed by posting a CloudEvent to a
/// public route, with neither the orders token nor a hook signature.
fn forged_order(client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", "evil-1")
        .header("ce-source", "/x")
        .header("ce-type", "store.order.create")
        .header("content-type", "application/json")
        .body(
            r#"{"request_id":"evil-1","conversation":"cv-x","brand":"fashion","customer":{"id":"c"},"lines":[{"product_id":"fsh-001","quantity":1}]}"#,
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloudevent_posted_to_a_public_route_is_never_handled_as_an_event() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let mut tail = host.tail(&[]).await?;
    let client = reqwest::Client::new();
    let routes = [
        "/orders/x",
        "/orders/",
        "/sales/escalations",
        "/webhooks/whatsapp",
        "/sandbox/whatsapp/x",
        "/.agent-store/deliver",
    ];
    for route in routes {
        let response = forged_order(&client, &format!("{}{route}", host.url)).send().await?;
        let status = response.status().as_u16();
        assert!(!response.headers().contains_key("ce-type"), "{route} answered with an event");
        let body = response.text().await?;
        assert!(!body.contains("store.order.created"), "{route} answered {status}: {body}");
    }
    // A structured-mode event, too.
    let structured = event("store.order.create", json!({ "request_id": "evil-2" }));
    let response = client
        .post(format!("{}/orders/x", host.url))
        .header("content-type", "application/cloudevents+json")
        .body(serde_json::to_vec(&structured)?)
        .send()
        .await?;
    assert!(!response.headers().contains_key("ce-type"));

    // A real event after them: once its result is out, anything the forged
    // requests caused would have shown on the tail before it.
    let mut marker =
        event("store.product.query", json!({ "request_id": "marker", "brand": "fashion", "text": "vestido" }));
    marker.set_extension("brand", "fashion");
    assert_eq!(host.post_event(&marker).await?.0, 202);
    let mut seen = Vec::new();
    loop {
        let record = tail.next(WAIT).await?.expect("the marker's result within the wait");
        let done = is(&record, "published", "store.product.query.result");
        seen.push(record);
        if done {
            break;
        }
    }
    for record in &seen {
        let ty = record["event"]["type"].as_str().unwrap_or_default();
        assert!(!ty.starts_with("store.order"), "a forged request was handled as an event: {record}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_needs_a_token_and_stays_within_its_scope() -> Result<()> {
    let shop = "shop-token-0123456789";
    let host = HostBuilder::repo_manifest()
        .arg("--kv")
        .arg("memory")
        .arg("--producer")
        .arg(format!("shop={shop}:store.product.*"))
        .start()
        .await?;
    let mut query = event("store.product.query", json!({ "request_id": "p-1", "brand": "fashion", "text": "x" }));
    query.set_extension("brand", "fashion");
    let order = event("store.order.create", json!({ "request_id": "p-2" }));

    let (status, body) = host.post_event_as(&query, None).await?;
    assert_eq!(status, 401, "no token: {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("Bearer"), "{body}");
    assert_eq!(host.post_event_as(&query, Some("shop-token-012345678")).await?.0, 401, "a wrong token");

    assert_eq!(host.post_event_as(&query, Some(shop)).await?.0, 202, "in its scope");
    let (status, body) = host.post_event_as(&order, Some(shop)).await?;
    assert_eq!(status, 403, "out of its scope: {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("store.order.create"), "names the type: {body}");

    // A batch with one event out of scope is refused whole.
    let batch = serde_json::to_vec(&[query.clone(), order.clone()])?;
    let response = reqwest::Client::new()
        .post(format!("{}/events", host.url))
        .bearer_auth(shop)
        .header("content-type", "application/cloudevents-batch+json")
        .body(batch)
        .send()
        .await?;
    assert_eq!(response.status(), 403);

    assert_eq!(host.post_event_as(&query, Some(TEST_TOKEN)).await?.0, 202, "the admin token publishes anything");

    // An oversized batch is refused whole, even for the admin.
    let flood: Vec<_> =
        (0..1001).map(|n| event("store.product.query", json!({ "request_id": format!("b-{n}") }))).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/events", host.url))
        .bearer_auth(TEST_TOKEN)
        .header("content-type", "application/cloudevents-batch+json")
        .body(serde_json::to_vec(&flood)?)
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    assert!(response.text().await?.contains("a batch of 1001 events"));
    Ok(())
}

/// The probe, subscribed to test events, with a route and the event router.
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
key_value_stores = ["counts"]

[component.probe.tool.agent-store]
subscribe = [{ type = "test.#" }]
emits = ["test.republish", "test.reply"]
concurrency = 1
timeout = "2s"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_depth_cannot_make_a_loop() -> Result<()> {
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml")).arg("--max-depth").arg("3").start().await?;
    let mut tail = host.tail(&[("type", "test.republish")]).await?;
    // Each delivery publishes, through the event router, the next event of
    // the chain claiming hop 0; a depth sent from outside is ignored too.
    let mut start = event("test.republish", json!({}));
    start.set_extension("depth", 10i64);
    assert_eq!(host.post_event(&start).await?.0, 202);

    let (mut delivered, mut rejected) = (0, 0);
    while let Some(record) = tail.next(Duration::from_secs(3)).await? {
        match record["kind"].as_str() {
            Some("delivered") => delivered += 1,
            Some("rejected") => rejected += 1,
            _ => {}
        }
    }
    assert_eq!(delivered, 4, "hops 0 to 3 are delivered (the sent depth of 10 was ignored)");
    assert_eq!(rejected, 1, "hop 4 is cut as a loop");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_component_does_not_declare_is_dead_lettered_not_published() -> Result<()> {
    let app = test_app(&PROBE_APP.replace(r#"emits = ["test.republish", "test.reply"]"#, r#"emits = ["test.reply"]"#))?;
    let host = HostBuilder::new(app.path().join("spin.toml")).start().await?;
    let mut tail = host.tail(&[("type", "test.bounce")]).await?;
    let bounce = event("test.bounce", json!({}));
    assert_eq!(host.post_event(&bounce).await?.0, 202);
    let refused = tail.find(WAIT, |r| r["kind"] == "rejected" && r["component"] == "probe").await?;
    assert_ne!(refused["event"]["id"], bounce.id(), "the output, not the input, is refused");
    // The tail shows the refusal as the component returns; the broker keeps
    // the dead letter right after.
    let deadline = tokio::time::Instant::now() + WAIT;
    let letter = loop {
        let letters = host.dead_letters().await?;
        if let Some(letter) = letters.into_iter().find(|l| l["event"]["type"] == "test.bounce") {
            break letter;
        }
        assert!(tokio::time::Instant::now() < deadline, "the refused output was not kept as a dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(letter["reason"].as_str().unwrap_or_default().contains("does not declare"), "{letter}");
    // Nothing of it was published: no second delivery of test.bounce.
    assert!(tail.find(Duration::from_secs(2), |r| r["kind"] == "delivered").await.is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brand_s_component_cannot_speak_for_another_brand() -> Result<()> {
    let app = test_app(
        &PROBE_APP
            .replace(r#"subscribe = [{ type = "test.#" }]"#, r#"subscribe = [{ type = "test.#", brand = "fashion" }]"#),
    )?;
    let host = HostBuilder::new(app.path().join("spin.toml")).start().await?;
    let mut tail = host.tail(&[("type", "test.reply")]).await?;
    // The probe echoes the data: a reply whose payload names another brand.
    let mut echo = event("test.echo", json!({ "brand": "tech" }));
    echo.set_extension("brand", "fashion");
    assert_eq!(host.post_event(&echo).await?.0, 202);
    let refused = tail.find(WAIT, |r| r["kind"] == "rejected").await?;
    assert!(refused["detail"].as_str().unwrap_or_default().contains("`tech`"), "{refused}");
    let mut fine = event("test.echo", json!({ "brand": "fashion" }));
    fine.set_extension("brand", "fashion");
    assert_eq!(host.post_event(&fine).await?.0, 202);
    tail.find(WAIT, |r| is(r, "published", "test.reply")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_against_the_memory_broker_gets_503s_and_loses_nothing_accepted() -> Result<()> {
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml")).arg("--memory-capacity").arg("20").start().await?;
    let mut tail = host.tail(&[("type", "test.sequence"), ("component", "probe")]).await?;
    let client = reqwest::Client::new();
    let (mut accepted, mut refused) = (BTreeSet::new(), 0);
    for n in 0..200 {
        let flood = event("test.sequence", json!({ "seq": n, "sleep_ms": 20, "store": "counts" }));
        let response = client
            .post(format!("{}/events", host.url))
            .bearer_auth(TEST_TOKEN)
            .header("content-type", "application/cloudevents+json")
            .body(serde_json::to_vec(&flood)?)
            .send()
            .await?;
        match response.status().as_u16() {
            202 => {
                accepted.insert(flood.id().to_string());
            }
            503 => {
                assert!(response.headers().contains_key("retry-after"), "a full broker says when to come back");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "the flood filled the queue");
    assert!(accepted.len() >= 20, "up to the capacity was taken");
    let mut handled = BTreeSet::new();
    while handled.len() < accepted.len() {
        let Some(record) = tail.next(WAIT).await? else { break };
        if record["kind"] == "delivered" {
            handled.insert(record["event"]["id"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(handled, accepted, "every accepted event was handled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_type_longer_than_a_routing_key_is_refused_at_the_door_on_rabbitmq() -> Result<()> {
    let _rabbitmq = rabbitmq_shared().await;
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml"))
        .arg("--broker")
        .arg(amqp_url())
        .arg("--broker-prefix")
        .arg(&prefix)
        .arg("--kv")
        .arg("memory")
        .start()
        .await?;
    let long = event(&format!("test.{}", "x".repeat(295)), json!({}));
    let (status, body) = host.post_event(&long).await?;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("`type` is 300 bytes"), "{body}");
    // And the host keeps serving.
    let mut tail = host.tail(&[("type", "test.reply")]).await?;
    assert_eq!(host.post_event(&event("test.echo", json!({}))).await?.0, 202);
    tail.find(WAIT, |r| is(r, "published", "test.reply")).await?;
    drop(host);
    remove_prefix(&prefix).await?;
    Ok(())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_others_can_read_stops_the_host() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let app = test_app(PROBE_APP)?;
    let data = tempfile::tempdir()?;
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755))?;
    let output = HostBuilder::new(app.path().join("spin.toml")).data_dir(data.path()).expect_failure().await?;
    assert!(output.contains("readable by other users") && output.contains("chmod 700"), "{output}");

    // A fresh one is made private.
    let fresh = data.path().join("fresh");
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o700))?;
    let host = HostBuilder::new(app.path().join("spin.toml")).data_dir(&fresh).start().await?;
    assert_eq!(std::fs::metadata(&fresh)?.permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(fresh.join("kv.redb"))?.permissions().mode() & 0o777, 0o600);
    drop(host);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebinding_host_name_is_refused_on_loopback() -> Result<()> {
    let app = test_app(PROBE_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml")).start().await?;
    let port = host.url.rsplit(':').next().unwrap_or_default().to_string();
    let client = reqwest::Client::new();
    let rebound = client.get(format!("{}/healthz", host.url)).header("host", format!("attacker.example:{port}"));
    assert_eq!(rebound.send().await?.status(), 403);
    let probe = client.post(format!("{}/probe/x", host.url)).header("host", "attacker.example");
    assert_eq!(probe.send().await?.status(), 403);
    let local = client.get(format!("{}/healthz", host.url)).header("host", format!("localhost:{port}"));
    assert_eq!(local.send().await?.status(), 200);
    Ok(())
}
