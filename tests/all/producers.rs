//! Producers that are not ours, on the store's RabbitMQ: events published
//! with plain lapin straight onto the events exchange, their attribute
//! headers spelled the way other CloudEvents SDKs write them, with no help
//! from our crates. Each test has its own prefix (see `broker.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agent_store_tests::{Tail, amqp_url};
use anyhow::{Result, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};

use crate::broker::{Sandbox, app, sink};

const WAIT: Duration = Duration::from_secs(60);

/// The three spellings of an attribute header: the AMQP binding's, its
/// JMS-friendly form (Java and Python SDKs), the Python SDK's RabbitMQ one.
const SPELLINGS: [&str; 3] = ["cloudEvents:", "cloudEvents_", "ce-"];

/// One message as another producer writes it: headers as given, a JSON
/// body, persistent.
#[derive(Clone)]
struct Foreign {
    routing_key: &'static str,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Foreign {
    /// A complete binary-mode event, every attribute in `prefix` spelling
    /// (the id too: SDKs put it in a header, not in `message-id`).
    fn event(prefix: &str, id: &str, brand: Option<&str>) -> Self {
        let mut headers = vec![
            (format!("{prefix}specversion"), "1.0".to_string()),
            (format!("{prefix}id"), id.to_string()),
            (format!("{prefix}type"), "test.foreign".to_string()),
            (format!("{prefix}source"), "/billing".to_string()),
            (format!("{prefix}time"), "2026-05-01T12:00:00.25Z".to_string()),
        ];
        if let Some(brand) = brand {
            headers.push((format!("{prefix}brand"), brand.to_string()));
        }
        Self { routing_key: "test.foreign", headers, body: json!({ "id": id, "prefix": prefix }) }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self
    }
}

/// Publishes the messages onto `<prefix>.events` and waits for the confirms,
/// as a producer with nothing but an AMQP client would.
async fn publish(prefix: &str, messages: &[Foreign]) -> Result<()> {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    for message in messages {
        let mut headers = FieldTable::default();
        for (name, value) in &message.headers {
            // Long strings: what pika and the Java client write for a string.
            headers.insert(name.as_str().into(), AMQPValue::LongString(LongString::from(value.as_str())));
        }
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(headers);
        let body = serde_json::to_vec(&message.body)?;
        let confirm = channel
            .basic_publish(
                format!("{prefix}.events").into(),
                message.routing_key.into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await?
            .await?;
        if !confirm.is_ack() {
            bail!("RabbitMQ did not take the message: {confirm:?}");
        }
    }
    let _ = connection.close(200, "ok".into()).await;
    Ok(())
}

/// Every `delivered` record of the tail, by (component, event id), until
/// `expected` are all there and nothing else arrives for two seconds.
async fn delivered(
    tail: &mut Tail,
    expected: &BTreeSet<(String, String)>,
) -> Result<BTreeMap<(String, String), Value>> {
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut quiet_since = None;
    loop {
        let mut got = false;
        while let Some(record) = tail.next(Duration::from_millis(50)).await? {
            if record["kind"] == "delivered" {
                let component = record["component"].as_str().unwrap_or_default().to_string();
                let id = record["event"]["id"].as_str().unwrap_or_default().to_string();
                if seen.insert((component.clone(), id.clone()), record).is_some() {
                    bail!("{id} was delivered to {component} twice");
                }
                got = true;
            }
        }
        let now = tokio::time::Instant::now();
        let keys: BTreeSet<(String, String)> = seen.keys().cloned().collect();
        if got || !expected.is_subset(&keys) {
            quiet_since = None;
        } else if now - *quiet_since.get_or_insert(now) >= Duration::from_secs(2) {
            return Ok(seen);
        }
        if now > deadline {
            bail!("deliveries so far: {keys:?}\nexpected: {expected:?}");
        }
    }
}

fn brand_sink(id: &str, brand: &str) -> String {
    sink(id, &format!(r#"{{ type = "test.foreign", brand = "{brand}" }}"#))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sdk_spelling_is_routed_by_type_and_brand() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let app = app(
        "foreign-producers",
        &[
            brand_sink("fashion", "fashion"),
            brand_sink("tech", "tech"),
            sink("everything", r#"{ type = "test.foreign" }"#),
        ],
    )?;
    // Without the idempotency records, so that an event routed to a queue
    // twice would show as two deliveries instead of one and a dropped copy.
    let host = sandbox.host(&app).arg("--broker-dedup-window").arg("0s").start().await?;
    let mut tail = host.tail(&[]).await?;

    let mut messages = Vec::new();
    let mut expected = BTreeSet::new();
    let mut expect = |component: &str, id: &str| expected.insert((component.to_string(), id.to_string()));
    for (n, prefix) in SPELLINGS.iter().enumerate() {
        for brand in ["fashion", "tech"] {
            let id = format!("foreign-{n}-{brand}");
            messages.push(Foreign::event(prefix, &id, Some(brand)));
            expect(brand, &id);
            expect("everything", &id);
        }
    }
    // One with no brand: the brand filters must not take it.
    messages.push(Foreign::event("ce-", "foreign-unbranded", None));
    expect("everything", "foreign-unbranded");
    // The brand in two spellings that agree: matched by two bindings, still
    // delivered once.
    messages.push(Foreign::event("cloudEvents_", "foreign-twice", Some("tech")).with("ce-brand", "tech"));
    expect("tech", "foreign-twice");
    expect("everything", "foreign-twice");
    publish(&sandbox.prefix, &messages).await?;

    let seen = delivered(&mut tail, &expected).await?;
    let keys: BTreeSet<(String, String)> = seen.keys().cloned().collect();
    assert_eq!(keys, expected, "each event to exactly the subscriptions it matches, once");

    // The components got the events as their producers meant them.
    for ((component, id), record) in &seen {
        let event = &record["event"];
        assert_eq!(event["type"], "test.foreign", "{event}");
        assert_eq!(event["source"], "/billing", "{event}");
        let time = event["time"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        assert_eq!(time.map(|t| t.timestamp_millis()), Some(1_777_636_800_250), "{event}");
        assert_eq!(event["data"]["id"], id.as_str(), "JSON data, typed by the content type: {event}");
        if component != "everything" {
            assert_eq!(event["brand"], component.as_str(), "{event}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_foreign_events_are_dead_lettered_with_the_reason() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let app = app(
        "foreign-malformed",
        &[brand_sink("fashion", "fashion"), sink("everything", r#"{ type = "test.foreign" }"#)],
    )?;
    let host = sandbox.host(&app).start().await?;
    let mut tail = host.tail(&[]).await?;

    // Each is routed (by its routing key and a brand header) to both
    // subscriptions, and each is wrong in its own way.
    let fashion = |prefix: &str, id: &str| Foreign::event(prefix, id, Some("fashion"));
    let bad = [
        (
            "two types",
            fashion("cloudEvents_", "bad-type").with("ce-type", "test.other"),
            "attribute `type` is given twice",
        ),
        (
            "two brands",
            fashion("cloudEvents:", "bad-brand").with("ce-brand", "tech"),
            "attribute `brand` is given twice",
        ),
        ("no source", fashion("ce-", "bad-source").without("ce-source"), "Missing required attribute source"),
        (
            "routing key is not the type",
            fashion("cloudEvents_", "bad-key").with("cloudEvents_type", "test.other"),
            "routing key `test.foreign` but its type is `test.other`",
        ),
        (
            "past the bounds",
            fashion("ce-", "bad-size").with("ce-note", &"n".repeat(5000)),
            "`note` is 5000 bytes long; at most 4096",
        ),
    ];
    let mut messages: Vec<Foreign> = bad.iter().map(|(_, message, _)| message.clone()).collect();
    // After them a good one: the lanes go on.
    messages.push(fashion("ce-", "good"));
    publish(&sandbox.prefix, &messages).await?;

    let expected: BTreeSet<(String, String)> =
        ["fashion", "everything"].into_iter().map(|c| (c.to_string(), "good".to_string())).collect();
    let seen = delivered(&mut tail, &expected).await?;
    let keys: BTreeSet<(String, String)> = seen.keys().cloned().collect();
    assert_eq!(keys, expected, "only the good one reached a component");

    for component in ["fashion", "everything"] {
        let deadline = tokio::time::Instant::now() + WAIT;
        let dead = loop {
            let dead = sandbox.dlq(&["list", "--component", component]).await?;
            if dead.len() >= bad.len() || tokio::time::Instant::now() > deadline {
                break dead;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(dead.len(), bad.len(), "every malformed one kept, once, for {component}: {dead:#?}");
        for (what, _, reason) in &bad {
            let found = dead.iter().filter(|d| d["reason"].as_str().is_some_and(|r| r.contains(reason))).count();
            assert_eq!(found, 1, "{what}: one dead letter saying {reason:?} for {component}: {dead:#?}");
        }
        assert!(dead.iter().all(|d| d["attempts"] == 1 && d["component"] == component), "{dead:#?}");
    }
    Ok(())
}
