//! `GET /metrics` and `/readyz` of the running host: the counters move as
//! a scripted conversation runs on the repository's store, no label
//! carries customer data, every query of the Grafana dashboard names a
//! metric the host exports, and readiness follows the broker.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agent_store_tests::{HostProcess, is, test_app, workspace_root};
use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::broker::{RestartBrokerOnDrop, Sandbox, rabbitmqctl};
use crate::sellers::{Customer, SCRIPTS, WAIT, store};

/// One sample of a scrape: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One `GET /metrics`.
struct Scrape {
    samples: Vec<Sample>,
    /// Every metric family's type, by name, from the `# TYPE` lines.
    types: BTreeMap<String, String>,
}

impl Scrape {
    async fn of(host: &HostProcess) -> Result<Self> {
        let response = reqwest::get(format!("{}/metrics", host.url)).await?;
        ensure!(response.status() == 200, "/metrics answered {}", response.status());
        Self::parse(&response.text().await?)
    }

    fn parse(text: &str) -> Result<Self> {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').context("a # TYPE line")?;
                types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').with_context(|| format!("a sample: {line}"))?;
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").with_context(|| format!("a label: {pair}"))?;
                    Ok((key.to_string(), value.trim_end_matches('"').to_string()))
                })
                .collect::<Result<_>>()?;
            samples.push(Sample { name: name.to_string(), labels, value: value.parse()? });
        }
        Ok(Self { samples, types })
    }

    /// The sum of the samples of `name` that have these labels.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    fn matching<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name)
            .filter(move |s| labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v)))
    }

    /// Every sample name a family of this scrape may show: a counter's
    /// `_total`, a histogram's `_bucket`, `_sum` and `_count`.
    fn exported(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (family, kind) in &self.types {
            match kind.as_str() {
                "counter" => names.extend([format!("{family}_total"), family.clone()]),
                "histogram" => {
                    names.extend(["_bucket", "_sum", "_count"].map(|suffix| format!("{family}{suffix}")));
                }
                _ => {
                    names.insert(family.clone());
                }
            }
        }
        names
    }
}

/// Scrapes until `check` holds: counters move a moment after the event
/// that moves them shows on the tail.
async fn until(host: &HostProcess, what: &str, check: impl Fn(&Scrape) -> bool) -> Result<Scrape> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = Scrape::of(host).await?;
        if check(&scrape) {
            return Ok(scrape);
        }
        ensure!(tokio::time::Instant::now() < deadline, "{what}: not so after 10s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_and_an_escalation_move_the_metrics_of_their_brands() -> Result<()> {
    let host = store().await?;
    let before = Scrape::of(&host).await?;
    assert_eq!(before.sum("agent_store_orders_created_total", &[]), 0.0);
    assert_eq!(before.sum("agent_store_broker_connected", &[("broker", "memory")]), 1.0);

    // A fashion customer buys.
    let buyer = &SCRIPTS[0];
    let mut customer = Customer::new(&host, buyer, "metrics");
    let mut tail = customer.tail().await?;
    customer.search_and_add(&mut tail).await?;
    customer.tap("checkout", "Checkout").await?;
    customer.reply(&mut tail).await?;
    customer.tap("yes", "Place order").await?;
    tail.find(WAIT, |r| is(r, "published", "store.order.created")).await?;
    let fashion = [("brand", "fashion")];
    let after =
        until(&host, "an order counted", |s| s.sum("agent_store_orders_created_total", &fashion) == 1.0).await?;
    assert_eq!(after.sum("agent_store_conversations_started_total", &fashion), 1.0, "one conversation");
    assert!(after.sum("agent_store_customer_messages_total", &fashion) >= 4.0);
    let conversion = after.sum("agent_store_orders_created_total", &fashion)
        / after.sum("agent_store_conversations_started_total", &fashion);
    assert_eq!(conversion, 1.0, "one order of one conversation");
    assert!(after.sum("agent_store_whatsapp_messages_sent_total", &fashion) >= 1.0, "the replies go out");

    // A tech customer is angry.
    let angry = &SCRIPTS[1];
    let mut customer = Customer::new(&host, angry, "metrics");
    let mut tail = customer.tail().await?;
    customer.say(angry.hello).await?;
    customer.reply(&mut tail).await?;
    customer.say(angry.frustrated).await?;
    customer.next(&mut tail, "store.sales.escalate").await?;
    let tech = [("brand", "tech")];
    let after = until(&host, "an escalation counted", |s| {
        s.sum("agent_store_escalations_total", &[("brand", "tech"), ("reason", "low_sentiment")]) == 1.0
    })
    .await?;
    assert_eq!(after.sum("agent_store_conversations_started_total", &tech), 1.0);
    assert_eq!(after.sum("agent_store_orders_created_total", &tech), 0.0, "no order: no conversion");
    assert_eq!(after.sum("agent_store_escalations_total", &fashion), 0.0);

    // Who published what, and what each component handled.
    let published = |ty, brand, by| {
        after.sum("agent_store_events_published_total", &[("type", ty), ("brand", brand), ("publisher", by)])
    };
    assert_eq!(published("store.order.created", "fashion", "order-processor"), 1.0);
    assert!(published("store.chat.message.new", "fashion", "admin") >= 4.0, "the test posts as the admin");
    assert!(published("store.chat.response", "tech", "seller-tech") >= 2.0);
    for component in ["seller-fashion", "seller-tech", "product-catalog", "order-processor", "whatsapp-gateway"] {
        let of = [("component", component)];
        assert!(after.sum("agent_store_events_delivered_total", &of) >= 1.0, "{component} delivered");
        assert!(
            after.sum("agent_store_delivery_outcomes_total", &[("component", component), ("outcome", "ok")]) >= 1.0
        );
        let timed: Vec<&Sample> = after.matching("agent_store_delivery_duration_seconds_count", &of).collect();
        assert!(timed.iter().map(|s| s.value).sum::<f64>() >= 1.0, "{component} timed: {timed:?}");
        let version = &timed[0].labels["version"];
        assert!(version.len() == 12 && version.chars().all(|c| c.is_ascii_hexdigit()), "{version}");
    }
    assert!(
        after.sum(
            "agent_store_events_delivered_total",
            &[("component", "seller-fashion"), ("type", "store.chat.message.new")]
        ) >= 4.0
    );
    assert_eq!(after.sum("agent_store_deliveries_in_flight", &[("component", "seller-tech")]), 0.0);

    // No label value is customer data: no phone number (a run of digits),
    // no event or conversation id, no message text.
    let texts: Vec<&str> = [buyer, angry].iter().flat_map(|s| [s.hello, s.search, s.frustrated]).collect();
    for sample in &after.samples {
        for (key, value) in &sample.labels {
            match key.as_str() {
                "le" => continue,
                "version" => {
                    assert!(value.len() == 12 && value.chars().all(|c| c.is_ascii_hexdigit()), "{value}");
                    continue;
                }
                _ => {}
            }
            let digits = value.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
            let bounded = value.len() <= 64
                && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._:-".contains(c))
                && digits < 6
                && !value.contains("cv-")
                && !value.contains("cus-")
                && !value.contains("wamid")
                && uuid::Uuid::parse_str(value).is_err()
                && !texts.contains(&value.as_str());
            assert!(bounded, "{}{{{key}={value:?}}} looks like customer data or an id", sample.name);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_names_a_metric_the_host_exports() -> Result<()> {
    let path = workspace_root().join("deploy/grafana/agent-store.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let host = store().await?;
    // One message through, so that the per-event families have a series.
    let mut customer = Customer::new(&host, &SCRIPTS[2], "dashboard");
    let mut tail = customer.tail().await?;
    customer.say(SCRIPTS[2].hello).await?;
    customer.reply(&mut tail).await?;
    let exported = until(&host, "the seller's reply timed", |s| {
        s.sum("agent_store_delivery_duration_seconds_count", &[("component", "seller-home")]) >= 1.0
    })
    .await?
    .exported();

    let panels = dashboard["panels"].as_array().context("panels")?;
    ensure!(panels.len() >= 10, "a dashboard of {} panels", panels.len());
    let mut queries: Vec<(String, String)> = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().context("a title")?.to_string();
        let targets =
            panel["targets"].as_array().filter(|t| !t.is_empty()).with_context(|| format!("{title}: no query"))?;
        for target in targets {
            queries.push((title.clone(), target["expr"].as_str().context("a PromQL expr")?.to_string()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().context("templating")? {
        if let Some(query) = variable["query"]["query"].as_str() {
            queries.push((format!("${}", variable["name"]), query.to_string()));
        }
    }
    let mut named = BTreeSet::new();
    for (title, query) in &queries {
        let metrics: Vec<&str> = query
            .match_indices("agent_store_")
            .map(|(at, _)| {
                let rest = &query[at..];
                &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
            })
            .collect();
        ensure!(!metrics.is_empty(), "{title}: {query} names no metric of the host");
        for metric in metrics {
            ensure!(exported.contains(metric), "{title}: {metric} is not exported (the host exports {exported:?})");
            named.insert(metric.to_string());
        }
    }
    // The dashboard shows what the issue asks for.
    for wanted in [
        "agent_store_events_published_total",
        "agent_store_delivery_duration_seconds_bucket",
        "agent_store_orders_created_total",
        "agent_store_conversations_started_total",
        "agent_store_escalations_total",
        "agent_store_dead_letters_total",
        "agent_store_llm_tokens_total",
    ] {
        ensure!(named.contains(wanted), "the dashboard does not show {wanted}");
    }
    Ok(())
}

/// Where a RabbitMQ delivery's time went, stage by stage: the probe's echo
/// is queued, claimed, run, recorded with its reply, published and acked,
/// and each stage is observed.
#[tokio::test(flavor = "multi_thread")]
async fn a_rabbitmq_delivery_reports_each_stage_of_its_time() -> Result<()> {
    use cloudevents::{EventBuilder, EventBuilderV10};
    let sandbox = Sandbox::new().await?;
    let app = test_app(READY_APP)?;
    let host = sandbox.host(&app).start().await?;
    let event = EventBuilderV10::new()
        .id("stages-1")
        .source("/tests/metrics")
        .ty("test.echo")
        .data("application/json", serde_json::json!({ "hello": "stages" }))
        .build()?;
    let (status, body) = host.post_event(&event).await?;
    assert_eq!(status, 202, "{body}");
    let count = |s: &Scrape, stage| {
        s.sum("agent_store_delivery_stage_seconds_count", &[("component", "probe"), ("stage", stage)])
    };
    let scrape = until(&host, "the echo acked", |s| count(s, "ack") >= 1.0).await?;
    for stage in ["queued", "claim", "run", "record", "publish", "ack"] {
        assert!(count(&scrape, stage) >= 1.0, "no {stage} observed");
    }
    Ok(())
}

const READY_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "metrics-ready"

[component.probe]
source = "{{wasm}}/test_probe.wasm"

[component.probe.tool.agent-store]
subscribe = [{ type = "test.#" }]
emits = ["test.#"]
"#;

/// `/readyz`'s status and body.
async fn readyz(host: &HostProcess) -> Result<(u16, Value)> {
    let response = reqwest::get(format!("{}/readyz", host.url)).await?;
    Ok((response.status().as_u16(), response.json().await?))
}

async fn ready_until(host: &HostProcess, status: u16) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (now, body) = readyz(host).await?;
        if now == status {
            return Ok(body);
        }
        ensure!(tokio::time::Instant::now() < deadline, "/readyz still {now} after 30s: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_the_broker_connection() -> Result<()> {
    let sandbox = Sandbox::alone().await?;
    let _restore = RestartBrokerOnDrop;
    let app = test_app(READY_APP)?;
    let host = sandbox.host(&app).start().await?;
    let body = ready_until(&host, 200).await?;
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["reasons"], serde_json::json!([]), "{body}");

    rabbitmqctl(&["stop_app"]).await?;
    let body = ready_until(&host, 503).await?;
    assert_eq!(body["ready"], false, "{body}");
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("the rabbitmq broker is not connected"), "{body}");
    assert_eq!(body["key_value"]["ready"], true, "Redis is fine: {body}");
    let healthz = reqwest::get(format!("{}/healthz", host.url)).await?;
    assert_eq!(healthz.status(), 200, "alive all the same");
    let scrape = Scrape::of(&host).await?;
    assert_eq!(scrape.sum("agent_store_broker_connected", &[("broker", "rabbitmq")]), 0.0);

    rabbitmqctl(&["start_app"]).await?;
    ready_until(&host, 200).await?;
    let scrape = until(&host, "connected again", |s| s.sum("agent_store_broker_connected", &[]) == 1.0).await?;
    let reconnects = scrape.sum("agent_store_broker_reconnects_total", &[("broker", "rabbitmq")]);
    assert!(reconnects >= 1.0, "{reconnects}");

    // Closed connections: counted as a reconnect once the host is back.
    rabbitmqctl(&["close_all_connections", "metrics test"]).await?;
    until(&host, "a reconnect counted", |s| {
        s.sum("agent_store_broker_reconnects_total", &[("broker", "rabbitmq")]) > reconnects
    })
    .await?;
    ready_until(&host, 200).await?;
    Ok(())
}
