//! The RabbitMQ broker through real `agent-store` processes, against the
//! RabbitMQ (127.0.0.1:5672, guest/guest) and Redis (127.0.0.1:6379) of the
//! machine. Each test has its own random prefix for exchanges, queues and
//! Redis keys, deleted when it ends, pass or fail.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agent_store_runtime::capabilities::key_value::Store;
use agent_store_runtime::capabilities::key_value::redis::{RedisBackend, RedisStore};
use agent_store_tests::{
    HostBuilder, HostProcess, TEST_TOKEN, Tail, amqp_url, event, host_binary_path, rabbitmq_alone, rabbitmq_shared,
    redis_url, remove_prefix, test_app,
};
use anyhow::{Context, Result, bail};
use cloudevents::{AttributesReader, Event};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// One test's corner of RabbitMQ and Redis, emptied when dropped.
pub(crate) struct Sandbox {
    pub(crate) prefix: String,
    _rabbitmq: RabbitMq,
}

/// How the test holds RabbitMQ (see `rabbitmq_alone`).
enum RabbitMq {
    Shared(#[allow(dead_code, reason = "held, not read")] tokio::sync::RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code, reason = "held, not read")] tokio::sync::RwLockWriteGuard<'static, ()>),
}

impl Sandbox {
    /// For a test that leaves RabbitMQ alone.
    pub(crate) async fn new() -> Result<Self> {
        Self::holding(RabbitMq::Shared(rabbitmq_shared().await)).await
    }

    /// For a test that closes connections or restarts RabbitMQ.
    pub(crate) async fn alone() -> Result<Self> {
        Self::holding(RabbitMq::Alone(rabbitmq_alone().await)).await
    }

    async fn holding(rabbitmq: RabbitMq) -> Result<Self> {
        ensure_rabbitmq().await?;
        Ok(Self { prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]), _rabbitmq: rabbitmq })
    }

    /// The `--kv` URL: Redis, in this test's namespace, shared by its hosts.
    pub(crate) fn kv(&self) -> String {
        format!("{}#{}", redis_url(), self.prefix)
    }

    /// A host of `app` on the shared broker and key-value store.
    pub(crate) fn host(&self, app: &tempfile::TempDir) -> HostBuilder {
        HostBuilder::new(app.path().join("spin.toml"))
            .arg("--broker")
            .arg(amqp_url())
            .arg("--broker-prefix")
            .arg(&self.prefix)
            .arg("--kv")
            .arg(self.kv())
    }

    async fn store(&self, label: &str) -> Result<RedisStore> {
        Ok(RedisBackend::connect(&self.kv()).await?.store(label, None))
    }

    /// Runs `agent-store dlq <args> --json` against this sandbox.
    pub(crate) async fn dlq(&self, args: &[&str]) -> Result<Vec<Value>> {
        let output = tokio::process::Command::new(host_binary_path())
            .arg("dlq")
            .args(args)
            .args(["--json", "--broker", &amqp_url(), "--broker-prefix", &self.prefix])
            .output()
            .await?;
        if !output.status.success() {
            bail!("agent-store dlq {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// This sandbox's queues with their ready and unacked messages and
    /// consumers, for a failing test to show where events stopped.
    async fn queues(&self) -> Result<String> {
        let list = rabbitmqctl(&[
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ])
        .await?;
        Ok(list.lines().filter(|l| l.starts_with(&format!("{}.", self.prefix))).collect::<Vec<_>>().join("\n"))
    }

    /// Messages ready in a queue.
    async fn depth(&self, queue: &str) -> Result<u32> {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let depth = channel.queue_declare(queue.into(), passive, FieldTable::default()).await?.message_count();
        let _ = connection.close(200, "ok".into()).await;
        Ok(depth)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        // Async cleanup from a destructor: on a thread of its own, since the
        // test's runtime may be the one unwinding.
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(remove_prefix(&prefix))
        })
        .join();
        if let Ok(Err(error)) = cleaned {
            eprintln!("cleaning up after the test: {error:#}");
        }
    }
}

pub(crate) async fn rabbitmqctl(args: &[&str]) -> Result<String> {
    let output =
        tokio::process::Command::new("rabbitmqctl").args(args).output().await.context("running rabbitmqctl")?;
    if !output.status.success() {
        bail!("rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Starts RabbitMQ if it is down (or its app stopped by a test that died).
async fn ensure_rabbitmq() -> Result<()> {
    let reachable = || async { Connection::connect(&amqp_url(), ConnectionProperties::default()).await.is_ok() };
    if reachable().await {
        return Ok(());
    }
    if rabbitmqctl(&["start_app"]).await.is_err() {
        let _ = tokio::process::Command::new("rabbitmq-server").arg("-detached").status().await;
    }
    for _ in 0..60 {
        if reachable().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("RabbitMQ is not reachable at {}", amqp_url())
}

/// `rabbitmqctl start_app` when dropped: a failed chaos test must not leave
/// the broker stopped for everyone else.
pub(crate) struct RestartBrokerOnDrop;

impl Drop for RestartBrokerOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").arg("start_app").output();
    }
}

/// POSTs a batch to `/events`, trying the hosts in turn until one takes it.
async fn post_until_accepted(hosts: &[&HostProcess], events: &[Event], within: Duration) -> Result<()> {
    let client = reqwest::Client::new();
    let body = serde_json::to_vec(events)?;
    let deadline = tokio::time::Instant::now() + within;
    let mut attempt = 0usize;
    loop {
        let host = hosts[attempt % hosts.len()];
        attempt += 1;
        let sent = client
            .post(format!("{}/events", host.url))
            .bearer_auth(TEST_TOKEN)
            .header("content-type", "application/cloudevents-batch+json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 202 => return Ok(()),
            Ok(response) if response.status().is_client_error() => {
                bail!("{} refused the events: {} {}", host.url, response.status(), response.text().await?)
            }
            _ if tokio::time::Instant::now() > deadline => bail!("no host took the events within {within:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A probe that only takes events: a pure subscriber.
pub(crate) fn sink(id: &str, subscribe: &str) -> String {
    format!(
        r#"
[component.{id}]
source = "{{{{wasm}}}}/test_probe.wasm"
environment = {{ PROBE_SINK = "1" }}
[component.{id}.tool.agent-store]
subscribe = [{subscribe}]
emits = ["test.#"]
"#
    )
}

pub(crate) fn app(name: &str, components: &[String]) -> Result<tempfile::TempDir> {
    test_app(&format!("spin_manifest_version = 2\n[application]\nname = \"{name}\"\n{}", components.concat()))
}

/// `(component, event id)` of every delivery the tails report, until
/// `expected` are all there and nothing else arrives for `quiet`.
async fn deliveries(
    tails: &mut [Tail],
    expected: &BTreeSet<(String, String)>,
    quiet: Duration,
) -> Result<BTreeSet<(String, String)>> {
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut quiet_since = None;
    loop {
        let mut got = false;
        for tail in tails.iter_mut() {
            while let Some(record) = tail.next(Duration::from_millis(50)).await? {
                if record["kind"] == "delivered" {
                    let component = record["component"].as_str().unwrap_or_default().to_string();
                    seen.insert((component, record["event"]["id"].as_str().unwrap_or_default().to_string()));
                    got = true;
                }
            }
        }
        let now = tokio::time::Instant::now();
        if got || !expected.is_subset(&seen) {
            quiet_since = None;
        } else if now - *quiet_since.get_or_insert(now) >= quiet {
            return Ok(seen);
        }
        if now > deadline {
            bail!("deliveries so far: {seen:?}\nexpected: {expected:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_exactly_the_matching_subscriptions_across_two_hosts() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let echo = |id: &str, brand: &str| {
        format!(
            "\n[component.{id}]\nsource = \"{{{{wasm}}}}/test_probe.wasm\"\n[component.{id}.tool.agent-store]\nsubscribe = [{{ type = \"test.echo\", brand = \"{brand}\" }}]\nemits = [\"test.#\"]\n"
        )
    };
    let app = app(
        "broker-routing",
        &[
            echo("fashion", "fashion"),
            echo("tech", "tech"),
            sink("everything", r#"{ type = "test.#" }"#),
            sink("orders", r#"{ type = "test.order.*" }"#),
            sink("replies", r#"{ type = "test.reply" }"#),
        ],
    )?;
    let first = sandbox.host(&app).start().await?;
    let second = sandbox.host(&app).start().await?;
    let mut tails = [first.tail(&[]).await?, second.tail(&[]).await?];

    let mut fashion = event("test.echo", json!({ "n": 1 }));
    fashion.set_extension("brand", "fashion");
    let mut tech = event("test.echo", json!({ "n": 2 }));
    tech.set_extension("brand", "tech");
    let plain = event("test.echo", json!({ "n": 3 }));
    let created = event("test.order.created", json!({}));
    let late = event("test.order.created.late", json!({}));
    // Through both ingresses: either host may be the one consuming.
    post_until_accepted(&[&first], &[fashion.clone(), plain.clone(), created.clone()], WAIT).await?;
    post_until_accepted(&[&second], &[tech.clone(), late.clone()], WAIT).await?;

    let id = |e: &Event| e.id().to_string();
    let reply = |e: &Event| format!("{}-reply", e.id());
    let expected: BTreeSet<(String, String)> = [
        ("fashion", id(&fashion)),
        ("tech", id(&tech)),
        ("everything", id(&fashion)),
        ("everything", id(&tech)),
        ("everything", id(&plain)),
        ("everything", id(&created)),
        ("everything", id(&late)),
        ("orders", id(&created)),
        // Each seller's reply is routed on.
        ("replies", reply(&fashion)),
        ("replies", reply(&tech)),
        ("everything", reply(&fashion)),
        ("everything", reply(&tech)),
    ]
    .into_iter()
    .map(|(c, e)| (c.to_string(), e))
    .collect();
    let seen = deliveries(&mut tails, &expected, Duration::from_secs(2)).await?;
    assert_eq!(seen, expected, "exactly the matching subscriptions, once each");
    Ok(())
}

const COUNTER_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "broker-chaos"
[component.counter]
source = "{{wasm}}/test_probe.wasm"
key_value_stores = ["counts"]
[component.counter.tool.agent-store]
subscribe = [{ type = "test.count" }]
emits = ["test.#"]
concurrency = 32
"#;

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_events_survive_lost_connections_and_a_broker_restart() -> Result<()> {
    const EVENTS: usize = 10_000;
    const BATCH: usize = 250;
    let sandbox = Sandbox::alone().await?;
    let _restore = RestartBrokerOnDrop;
    let app = test_app(COUNTER_APP)?;
    let host = sandbox.host(&app).start().await?;

    let events: Vec<Event> = (0..EVENTS).map(|n| event("test.count", json!({ "n": n }))).collect();
    let publisher = async {
        for batch in events.chunks(BATCH) {
            post_until_accepted(&[&host], batch, Duration::from_secs(120)).await?;
        }
        anyhow::Ok(())
    };
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        rabbitmqctl(&["close_all_connections", "chaos test: connections closed"]).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        rabbitmqctl(&["stop_app"]).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        rabbitmqctl(&["start_app"]).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        rabbitmqctl(&["close_all_connections", "chaos test: again"]).await?;
        anyhow::Ok(())
    };
    tokio::try_join!(publisher, chaos)?;

    // Every event handled once: a counter per event id, each at 1.
    let counts = sandbox.store("counts").await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let keys = counts.keys().await?.len();
        if keys >= EVENTS {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "only {keys} of {EVENTS} events were handled\n\nqueues (ready, unacked, consumers):\n{}\n\nthe host's warnings:\n{}",
                sandbox.queues().await.unwrap_or_else(|e| format!("{e:#}")),
                host.logs()
                    .iter()
                    .filter(|l| !l.contains(r#""level":"INFO""#) && !l.contains(r#""level":"DEBUG""#))
                    .rev()
                    .take(60)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Let redeliveries still in flight land before reading the counters.
    for partition in 0..8 {
        let queue = format!("{}.counter.p{partition}", sandbox.prefix);
        while sandbox.depth(&queue).await? > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut doubled = BTreeMap::new();
    for event in &events {
        match counts.get(event.id()).await? {
            Some(value) if value == b"1" => {}
            Some(value) => {
                doubled.insert(event.id().to_string(), String::from_utf8_lossy(&value).into_owned());
            }
            None => bail!("event {} was never handled", event.id()),
        }
    }
    assert!(doubled.is_empty(), "side effects repeated: {doubled:?}");
    assert!(sandbox.dlq(&["list", "--component", "counter"]).await?.is_empty(), "nothing dead-lettered");
    assert!(!host.log_lines("reconnected to RabbitMQ").is_empty(), "the host did reconnect");
    Ok(())
}

const POISON_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "broker-poison"
[component.fragile]
source = "{{wasm}}/test_probe.wasm"
key_value_stores = ["counts"]
[component.fragile.tool.agent-store]
subscribe = [{ type = "test.fail" }, { type = "test.bad" }, { type = "test.fail-unless" }, { type = "test.raw" }]
emits = ["test.#"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_are_dead_lettered_and_a_replay_brings_one_back() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let app = test_app(POISON_APP)?;
    let host = sandbox
        .host(&app)
        .arg("--broker-max-attempts")
        .arg("3")
        .arg("--broker-retry-backoff")
        .arg("100ms")
        .start()
        .await?;
    let mut tail = host.tail(&[("component", "fragile")]).await?;

    // Not a CloudEvent at all, straight onto the events exchange.
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let raw = BasicProperties::default().with_content_type("text/plain".into()).with_delivery_mode(2);
    channel
        .basic_publish(
            format!("{}.events", sandbox.prefix).into(),
            "test.raw".into(),
            BasicPublishOptions::default(),
            b"hello?",
            raw,
        )
        .await?
        .await?;
    let _ = connection.close(200, "ok".into()).await;

    let always = event("test.fail", json!({}));
    let bad = event("test.bad", json!({}));
    let fixable = event("test.fail-unless", json!({ "store": "counts", "key": "fixed" }));
    post_until_accepted(&[&host], &[always.clone(), bad.clone(), fixable.clone()], WAIT).await?;

    let deadline = tokio::time::Instant::now() + WAIT;
    let dead = loop {
        let dead = sandbox.dlq(&["list", "--component", "fragile"]).await?;
        if dead.len() >= 4 {
            break dead;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("dead letters so far: {dead:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(dead.len(), 4, "{dead:#?}");
    let by_event = |id: &str| dead.iter().find(|d| d["event_id"] == id).cloned().unwrap_or_default();
    let raw = dead.iter().find(|d| d["event_id"].is_null()).context("the raw message")?;
    assert!(raw["reason"].as_str().unwrap_or_default().contains("not a CloudEvent"), "{raw}");
    assert_eq!(raw["type"], "(test.raw)");
    let failed = by_event(always.id());
    assert!(failed["reason"].as_str().unwrap_or_default().contains("gave up after 3 attempts"), "{failed}");
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["component"], "fragile");
    assert!(failed["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{failed}");
    let rejected = by_event(bad.id());
    assert_eq!(rejected["attempts"], 1, "a permanent failure is not retried: {rejected}");
    assert!(rejected["reason"].as_str().unwrap_or_default().contains("bad on purpose"), "{rejected}");
    let fixable_dead = by_event(fixable.id());
    assert_eq!(fixable_dead["attempts"], 3);

    // The dead letter keeps the event as it was.
    let shown =
        sandbox.dlq(&["show", fixable_dead["id"].as_str().unwrap_or_default(), "--component", "fragile"]).await?;
    assert_eq!(shown[0]["event"]["id"], fixable.id());
    assert_eq!(shown[0]["event"]["data"], json!({ "store": "counts", "key": "fixed" }));

    // Fix the cause, replay: it goes through this time and leaves the queue.
    sandbox.store("counts").await?.set("fixed", b"yes").await?;
    let replayed =
        sandbox.dlq(&["replay", fixable_dead["id"].as_str().unwrap_or_default(), "--component", "fragile"]).await?;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let delivered = tail.find(WAIT, |r| r["kind"] == "delivered" && r["event"]["id"] == fixable.id()).await?;
    assert_eq!(delivered["detail"], "emitted 1");
    let left = sandbox.dlq(&["list", "--component", "fragile"]).await?;
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.iter().all(|d| d["event_id"] != fixable.id()));

    let purged = sandbox.dlq(&["purge", "--component", "fragile"]).await?;
    assert_eq!(purged[0]["purged"], 3);
    Ok(())
}

const SLEEP_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "broker-keys"
[component.sleeper]
source = "{{wasm}}/test_probe.wasm"
[component.sleeper.tool.agent-store]
subscribe = [{ type = "test.sleep" }]
emits = ["test.#"]
concurrency = 4
"#;

fn sleep_event(conversation: &str, ms: u64) -> Event {
    let mut e = event("test.sleep", json!({ "ms": ms }));
    e.set_extension("conversation", conversation.to_string());
    e
}

/// Unrelated conversations do not wait for each other while the component
/// has room (hashed onto `concurrency` lanes, a quarter of them waited behind
/// the slow one here), and the component still never runs more than
/// `concurrency` at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_conversation_holds_up_no_other_and_concurrency_still_bounds() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let app = test_app(SLEEP_APP)?;
    let host = sandbox.host(&app).start().await?;
    let mut tail = host.tail(&[]).await?;
    let delivered = |record: &Value| record["kind"] == "delivered" && record["component"] == "sleeper";

    let slow = sleep_event("slow", 4_000);
    assert_eq!(host.post_event(&slow).await?.0, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fast: Vec<Event> = (0..24).map(|c| sleep_event(&format!("fast-{c}"), 10)).collect();
    post_until_accepted(&[&host], &fast, WAIT).await?;
    let mut waiting: BTreeSet<String> = fast.iter().map(|e| e.id().to_string()).collect();
    while !waiting.is_empty() {
        let record = tail.find(WAIT, delivered).await?;
        let id = record["event"]["id"].as_str().unwrap_or_default();
        assert_ne!(id, slow.id(), "still waiting behind the slow conversation: {waiting:?}");
        waiting.remove(id);
    }
    tail.find(WAIT, |r| delivered(r) && r["event"]["id"] == slow.id()).await?;

    // Eight events of 600 ms in eight conversations, four at a time: two
    // rounds, never one.
    let started = std::time::Instant::now();
    let batch: Vec<Event> = (0..8).map(|c| sleep_event(&format!("round-{c}"), 600)).collect();
    post_until_accepted(&[&host], &batch, WAIT).await?;
    let mut waiting: BTreeSet<String> = batch.iter().map(|e| e.id().to_string()).collect();
    while !waiting.is_empty() {
        let record = tail.find(WAIT, delivered).await?;
        waiting.remove(record["event"]["id"].as_str().unwrap_or_default());
    }
    assert!(started.elapsed() >= Duration::from_millis(1_200), "more than 4 ran at once: {:?}", started.elapsed());
    Ok(())
}

const SEQUENCE_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "broker-order"
[component.seller]
source = "{{wasm}}/test_probe.wasm"
key_value_stores = ["counts"]
[component.seller.tool.agent-store]
subscribe = [{ type = "test.sequence" }]
emits = ["test.#"]
concurrency = 8
"#;

#[tokio::test(flavor = "multi_thread")]
async fn conversations_stay_in_order_with_two_consumers() -> Result<()> {
    const CONVERSATIONS: usize = 24;
    const STEPS: u64 = 40;
    let sandbox = Sandbox::alone().await?;
    let app = test_app(SEQUENCE_APP)?;
    let mut first = Some(sandbox.host(&app).start().await?);
    let second = sandbox.host(&app).start().await?;

    for seq in 1..=STEPS {
        let batch: Vec<Event> = (0..CONVERSATIONS)
            .map(|c| {
                let mut e = event("test.sequence", json!({ "seq": seq, "sleep_ms": 2 }));
                e.set_extension("conversation", format!("c-{c}"));
                e
            })
            .collect();
        let hosts: Vec<&HostProcess> = first.iter().chain([&second]).collect();
        post_until_accepted(&hosts, &batch, WAIT).await?;
        if seq == STEPS / 2 {
            // Both hosts lose their connections; whichever registers first
            // on a partition consumes it, so the work moves between them.
            rabbitmqctl(&["close_all_connections", "order test"]).await?;
        }
        if seq == STEPS * 3 / 4
            && let Some(host) = first.take()
        {
            // SIGTERM: it finishes what it holds; the other takes over.
            assert!(host.stop().await?.success(), "a clean exit on SIGTERM");
        }
    }

    let store = sandbox.store("counts").await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    for c in 0..CONVERSATIONS {
        let key = format!("seq:c-{c}");
        let seen: Vec<u64> = loop {
            let text = store.get(&key).await?.map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default();
            let seen: Vec<u64> = text.split(',').filter_map(|n| n.parse().ok()).collect();
            if seen.len() as u64 >= STEPS || tokio::time::Instant::now() > deadline {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(seen, (1..=STEPS).collect::<Vec<_>>(), "conversation c-{c} in order, each event once");
    }
    assert!(!second.log_lines("delivered").is_empty(), "the second host consumed after the first stopped");
    Ok(())
}
