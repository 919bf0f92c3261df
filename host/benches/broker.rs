//! What the host adds to what RabbitMQ itself costs, in one run on one
//! machine, with the same persistence and confirm settings everywhere
//! (durable queues, persistent messages, publisher confirms):
//!
//! - **baseline**: a plain lapin consumer (another process) that takes a
//!   message, publishes one reply with a confirm, and acks; prefetch and
//!   in-flight work = the component concurrency the host gets;
//! - **echo**: `agent-store up` with the probe answering `test.echo` with one
//!   event — exactly the baseline's traffic — through the whole host path
//!   (partition queues, lanes, idempotency records, wasm, pipelined confirms);
//! - **noop**: `agent-store up` with `test_noop.wasm`, which returns nothing;
//! - **plain lapin on the host's exchanges and queues**: the baseline
//!   consumer again, consuming the partition queues the host declares and
//!   publishing its reply onto the events exchange: what the topology costs
//!   RabbitMQ, apart from what the host's process does.
//!
//! For each closed-loop variant it prints, per event, what the kernel's
//! scheduler says each process on the path did (the consumer, the driver,
//! RabbitMQ, Redis): CPU time, time runnable but waiting for a CPU, and
//! context switches (Linux only).
//!
//! A driver keeps `--window` events in flight (closed loop): it publishes
//! with confirms, consumes the replies, and measures each event's round trip
//! (p50/p99) and the rate. A no-op component sends nothing back, so the noop
//! rows are open loop: publish every event, time until the partition queues
//! are drained (rate only). Each variant runs `--runs` times after a warm-up
//! run; the table gives the median and the spread (min–max).
//!
//! With `--topology`, the plain consumer also runs on parts of the host's
//! topology: host-shaped events straight into one partition queue, and one
//! queue bound to the events exchange.
//!
//! With `--traces`, it measures instead what exporting traces costs: the
//! echo path, idempotency on, with the host exporting every span over OTLP
//! to a collector in this process (which takes and drops them) against the
//! same host exporting nothing; a fresh host per sample, the two variants
//! taking turns, so that drift over the run hits both alike.
//!
//! ```text
//! cargo build --target wasm32-wasip2 --release -p test-probe -p test-noop
//! cargo bench -p agent-store --bench broker -- [--events 10000] [--runs 5] [--window 64] [--concurrency 32] [--kv redis://127.0.0.1:6379] [--traces] [--topology]
//! ```
//!
//! Needs RabbitMQ (`AMQP_ADDR`, default `amqp://guest:guest@127.0.0.1:5672/%2f`)
//! and, for the idempotency records, Redis (`--kv memory` does without).
//! Without `--bench` (as `cargo test --all-targets` runs it) it only checks
//! that the baseline path works, with a few events.

#[path = "support/report.rs"]
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use agent_store::broker::rabbitmq::handled::LABEL;
use agent_store::broker::rabbitmq::headers::event_properties;
use agent_store::broker::rabbitmq::topology::{self, Names};
use agent_store::broker::{Filter, RetryPolicy, Subscription};
use agent_store_runtime::capabilities::key_value::Store;
use agent_store_runtime::capabilities::key_value::redis::RedisBackend;
use anyhow::{Context, Result, bail};
use cloudevents::{EventBuilder, EventBuilderV10};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

const PARTITIONS: u16 = 8;

#[derive(Debug, Clone)]
struct Args {
    bench: bool,
    events: usize,
    runs: usize,
    window: usize,
    concurrency: usize,
    kv: String,
    /// Measure exporting traces against not (see the module docs).
    traces: bool,
    /// Also run the plain consumer on parts of the host's topology.
    topology: bool,
    /// Set when this process is the baseline consumer: `in,out,concurrency`.
    baseline_consumer: Option<String>,
}

fn args() -> Result<Args> {
    let mut args = Args {
        bench: false,
        events: 10_000,
        runs: 5,
        window: 64,
        concurrency: 32,
        kv: "redis://127.0.0.1:6379".into(),
        traces: false,
        topology: false,
        baseline_consumer: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--events" => args.events = value()?.parse()?,
            "--runs" => args.runs = value()?.parse()?,
            "--window" => args.window = value()?.parse()?,
            "--concurrency" => args.concurrency = value()?.parse()?,
            "--kv" => args.kv = value()?,
            "--traces" => args.traces = true,
            "--topology" => args.topology = true,
            "--baseline-consumer" => args.baseline_consumer = Some(value()?),
            _ => {} // cargo's own (`--test`, filters)
        }
    }
    Ok(args)
}

fn amqp_url() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn wasm_dir() -> PathBuf {
    std::env::var_os("AGENT_STORE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into())
}

/// Nanoseconds since the driver started, carried in every message.
fn stamp(origin: Instant) -> Vec<u8> {
    json!({ "t": origin.elapsed().as_nanos() as u64 }).to_string().into_bytes()
}

fn stamp_of(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?.get("t")?.as_u64()
}

/// The baseline consumer, as a process of its own (like the host): take,
/// reply with a confirm, ack; `concurrency` deliveries in flight per input
/// queue. `inputs` is one queue or several joined by `+` (the host's
/// partition queues); `output` a queue, or `exchange/routing-key` to publish
/// as the host does (onto the events exchange, with the message's own
/// properties).
async fn baseline_consumer(spec: &str) -> Result<()> {
    let parts: Vec<&str> = spec.split(',').collect();
    let [inputs, output, concurrency] = parts[..] else { bail!("--baseline-consumer in[+in…],out,concurrency") };
    let (exchange, routing_key, like_host) = match output.split_once('/') {
        Some((exchange, key)) => (exchange.to_string(), key.to_string(), true),
        None => (String::new(), output.to_string(), false),
    };
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let consume = connection.create_channel().await?;
    let publish = connection.create_channel().await?;
    publish.confirm_select(ConfirmSelectOptions::default()).await?;
    consume.basic_qos(concurrency.parse()?, BasicQosOptions::default()).await?;
    let mut consumers = Vec::new();
    for (n, input) in inputs.split('+').enumerate() {
        let tag = format!("baseline-{n}");
        consumers.push(
            consume
                .basic_consume(input.into(), tag.as_str().into(), BasicConsumeOptions::default(), FieldTable::default())
                .await?,
        );
    }
    let mut deliveries = futures::stream::select_all(consumers);
    println!("ready");
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let (publish, exchange, routing_key) = (publish.clone(), exchange.clone(), routing_key.clone());
        tokio::spawn(async move {
            let properties = if like_host { delivery.properties.clone() } else { persistent() };
            let confirm = publish
                .basic_publish(
                    exchange.as_str().into(),
                    routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    properties,
                )
                .await?
                .await?;
            if confirm.is_ack() {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            anyhow::Ok(())
        });
    }
    Ok(())
}

/// A child process, killed when dropped.
struct Child(tokio::process::Child);

impl Child {
    fn pid(&self) -> Option<u32> {
        self.0.id()
    }
}

/// What the kernel's scheduler says one process's threads did: time on a
/// CPU, time runnable but waiting for one, and how often they were switched
/// out. Read from `/proc/<pid>/task/*/{schedstat,status}` (Linux), so that a
/// slow hop can be told from a busy one; on other systems it reads zeros.
#[derive(Debug, Default, Clone, Copy)]
struct Sched {
    run_ns: u64,
    wait_ns: u64,
    switches: u64,
}

impl Sched {
    fn of(pid: u32) -> Self {
        let mut total = Sched::default();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return total };
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                let mut fields = text.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
                total.run_ns += fields.next().unwrap_or(0);
                total.wait_ns += fields.next().unwrap_or(0);
            }
            if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
                for line in status.lines() {
                    if let Some(count) = line
                        .strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                    {
                        total.switches += count.trim().parse().unwrap_or(0);
                    }
                }
            }
        }
        total
    }

    /// The first process whose command is `name` (RabbitMQ's `beam.smp`,
    /// `redis-server`), when this machine runs one.
    fn pid_named(name: &str) -> Option<u32> {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (comm.trim() == name).then_some(pid)
        })
    }
}

/// The scheduler's account of every process on one path over a variant's
/// timed runs: the consumer (host or plain), the driver, RabbitMQ, Redis.
struct Accounting {
    processes: Vec<(&'static str, u32, Sched)>,
}

impl Accounting {
    fn begin(consumer: Option<u32>) -> Self {
        let processes = [
            ("consumer", consumer),
            ("driver", Some(std::process::id())),
            ("rabbitmq", Sched::pid_named("beam.smp")),
            ("redis", Sched::pid_named("redis-server")),
        ]
        .into_iter()
        .filter_map(|(name, pid)| pid.map(|pid| (name, pid, Sched::of(pid))))
        .collect();
        Self { processes }
    }

    /// Per event, for each process: CPU µs, µs runnable but not running,
    /// context switches.
    fn end(&self, events: usize) -> String {
        let per = |value: u64| value as f64 / events.max(1) as f64;
        self.processes
            .iter()
            .map(|(name, pid, before)| {
                let after = Sched::of(*pid);
                format!(
                    "{name} cpu {:.0} µs, waiting {:.0} µs, {:.1} switches",
                    per(after.run_ns.saturating_sub(before.run_ns)) / 1000.0,
                    per(after.wait_ns.saturating_sub(before.wait_ns)) / 1000.0,
                    per(after.switches.saturating_sub(before.switches)),
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A host under test, and where it listens.
struct Host {
    process: Child,
    address: String,
}

impl Host {
    /// Where an `echo` delivery's time went, as mean milliseconds per stage
    /// (the host's `agent_store_delivery_stage_seconds`).
    async fn stages(&self) -> Result<String> {
        let text = reqwest::get(format!("http://{}/metrics", self.address)).await?.error_for_status()?.text().await?;
        let value = |suffix: &str, stage: &str| -> Option<f64> {
            let series =
                format!("agent_store_delivery_stage_seconds_{suffix}{{component=\"echo\",stage=\"{stage}\"}} ");
            text.lines().find_map(|line| line.strip_prefix(series.as_str())).and_then(|v| v.trim().parse().ok())
        };
        let mut parts = Vec::new();
        for stage in ["queued", "claim", "run", "record", "publish", "ack"] {
            if let (Some(sum), Some(count)) = (value("sum", stage), value("count", stage))
                && count > 0.0
            {
                parts.push(format!("{stage} {:.2}", sum / count * 1000.0));
            }
        }
        Ok(parts.join(", "))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn start_baseline(input: &str, output: &str, concurrency: usize) -> Result<Child> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--baseline-consumer")
        .arg(format!("{input},{output},{concurrency}"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
    match lines.next_line().await? {
        Some(line) if line == "ready" => Ok(Child(child)),
        other => bail!("the baseline consumer did not start: {other:?}"),
    }
}

/// `agent-store up` on the broker with the echo and noop components.
async fn start_host(
    prefix: &str,
    kv: &str,
    dedup: bool,
    concurrency: usize,
    dir: &std::path::Path,
    otlp: Option<&str>,
) -> Result<Host> {
    let wasm = wasm_dir();
    for name in ["test_probe", "test_noop"] {
        if !wasm.join(format!("{name}.wasm")).exists() {
            bail!("{name}.wasm is not in {}: build it (see the module docs)", wasm.display());
        }
    }
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "broker-bench"
[component.echo]
source = "{wasm}/test_probe.wasm"
[component.echo.tool.agent-store]
subscribe = [{{ type = "test.echo" }}]
emits = ["test.#"]
concurrency = {concurrency}
[component.noop]
source = "{wasm}/test_noop.wasm"
[component.noop.tool.agent-store]
subscribe = [{{ type = "test.noop" }}]
emits = ["test.#"]
concurrency = {concurrency}
"#,
        wasm = wasm.display()
    );
    std::fs::write(dir.join("spin.toml"), manifest)?;
    let kv = if kv.starts_with("redis") { format!("{kv}#{prefix}") } else { kv.to_string() };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agent-store"))
        .args(["--log-format", "json", "up", "--listen", "127.0.0.1:0"])
        .arg("--manifest")
        .arg(dir.join("spin.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--broker", &amqp_url(), "--broker-prefix", prefix, "--kv", &kv])
        .args(["--broker-dedup-window", if dedup { "24h" } else { "0s" }])
        .env("AGENT_STORE_LOG", "warn,agent_store::cli=info")
        .envs(otlp.map(|url| ("OTEL_EXPORTER_OTLP_ENDPOINT", url)))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(line) = tokio::time::timeout(Duration::from_secs(120), lines.next_line()).await?? {
        if let Some((_, rest)) = line.split_once("Agent Store is up: POST CloudEvents to http://") {
            let address = rest.split('/').next().unwrap_or_default().to_string();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(Host { process: Child(child), address });
        }
        if Instant::now() > deadline {
            break;
        }
    }
    bail!("agent-store did not come up")
}

/// One closed-loop run: `window` in flight, `events` in all.
async fn closed_loop(
    publish: &Channel,
    replies: &Channel,
    reply_queue: &str,
    events: usize,
    window: usize,
    send: impl Fn(&Channel, Vec<u8>) -> futures::future::BoxFuture<'static, Result<lapin::PublisherConfirm>>,
) -> Result<Sample> {
    let origin = Instant::now();
    let tag = format!("driver-{}", uuid::Uuid::new_v4().simple());
    let options = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
    let mut incoming =
        replies.basic_consume(reply_queue.into(), tag.as_str().into(), options, FieldTable::default()).await?;
    let mut confirms = FuturesUnordered::new();
    let mut sent = 0;
    while sent < window.min(events) {
        confirms.push(send(publish, stamp(origin)).await?);
        sent += 1;
    }
    let mut latencies = Vec::with_capacity(events);
    while latencies.len() < events {
        tokio::select! {
            Some(confirm) = confirms.next() => {
                if !confirm?.is_ack() {
                    bail!("the broker refused a publish");
                }
            }
            delivery = tokio::time::timeout(Duration::from_secs(30), incoming.next()) => {
                let delivery = delivery.context("no reply for 30 s")?.context("the reply consumer ended")??;
                let started = stamp_of(&delivery.data).context("a reply without its stamp")?;
                latencies.push(Duration::from_nanos(origin.elapsed().as_nanos() as u64 - started));
                if sent < events {
                    confirms.push(send(publish, stamp(origin)).await?);
                    sent += 1;
                }
            }
        }
    }
    let elapsed = origin.elapsed();
    replies.basic_cancel(tag.as_str().into(), Default::default()).await?;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Ok(Sample { rate: events as f64 / elapsed.as_secs_f64(), p50: Some(at(0.5)), p99: Some(at(0.99)) })
}

/// What every closed loop of one bench run shares.
struct Loops<'a> {
    publish: &'a Channel,
    replies: &'a Channel,
    reply_queue: &'a str,
    events: usize,
    runs: usize,
    window: usize,
}

impl Loops<'_> {
    /// The plain consumer on `inputs`, replying to `output`: its timed runs
    /// (after a warm-up) and the scheduler's account of them.
    async fn plain_on(
        &self,
        inputs: &[String],
        output: &str,
        concurrency: usize,
        send: &impl Fn(&Channel, Vec<u8>) -> futures::future::BoxFuture<'static, Result<lapin::PublisherConfirm>>,
    ) -> Result<(Vec<Sample>, String)> {
        let consumer = start_baseline(&inputs.join("+"), output, concurrency).await?;
        let (mut samples, mut accounting) = (Vec::new(), None);
        for run in 0..=self.runs {
            if run == 1 {
                accounting = Some(Accounting::begin(consumer.pid()));
            }
            let sample =
                closed_loop(self.publish, self.replies, self.reply_queue, self.events, self.window, send).await?;
            if run > 0 {
                samples.push(sample);
            }
        }
        let account = accounting.map(|a| a.end(self.events * self.runs)).unwrap_or_default();
        Ok((samples, account))
    }
}

/// One open-loop run: publish everything, time until the queues are empty.
async fn drain(
    publish: &Channel,
    queues: &[String],
    events: usize,
    send: impl Fn(&Channel, Vec<u8>) -> futures::future::BoxFuture<'static, Result<lapin::PublisherConfirm>>,
) -> Result<Sample> {
    let origin = Instant::now();
    let mut confirms = Vec::with_capacity(events);
    for _ in 0..events {
        confirms.push(send(publish, stamp(origin)).await?);
    }
    for confirm in futures::future::join_all(confirms).await {
        if !confirm?.is_ack() {
            bail!("the broker refused a publish");
        }
    }
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    loop {
        let mut ready = 0;
        for queue in queues {
            ready +=
                publish.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await?.message_count();
        }
        if ready == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Sample { rate: events as f64 / origin.elapsed().as_secs_f64(), p50: None, p99: None })
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    rate: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

/// Median and spread of a variant's runs.
fn summary(name: &str, samples: &[Sample]) -> (String, f64) {
    let median = |mut values: Vec<f64>| -> (f64, f64, f64) {
        values.sort_by(f64::total_cmp);
        (values[values.len() / 2], values[0], values[values.len() - 1])
    };
    let (rate, low, high) = median(samples.iter().map(|s| s.rate).collect());
    let ms = |pick: fn(&Sample) -> Option<Duration>| {
        let values: Vec<f64> = samples.iter().filter_map(pick).map(|d| d.as_secs_f64() * 1000.0).collect();
        if values.is_empty() {
            return "—".to_string();
        }
        let (m, lo, hi) = median(values);
        format!("{m:.2} ({lo:.2}–{hi:.2})")
    };
    (format!("| {name} | {rate:.0} ({low:.0}–{high:.0}) | {} | {} |", ms(|s| s.p50), ms(|s| s.p99)), rate)
}

fn event_sender(
    prefix: &str,
    ty: &'static str,
) -> impl Fn(&Channel, Vec<u8>) -> futures::future::BoxFuture<'static, Result<lapin::PublisherConfirm>> {
    event_sender_via(Names::new(prefix).events(), ty.to_string(), ty)
}

/// Events of type `ty`, as a host publishes them, sent to `exchange` with
/// `routing_key`.
fn event_sender_via(
    exchange: String,
    routing_key: String,
    ty: &'static str,
) -> impl Fn(&Channel, Vec<u8>) -> futures::future::BoxFuture<'static, Result<lapin::PublisherConfirm>> {
    move |channel, body| {
        let (channel, exchange, routing_key) = (channel.clone(), exchange.clone(), routing_key.clone());
        Box::pin(async move {
            let data: serde_json::Value = serde_json::from_slice(&body)?;
            let event = EventBuilderV10::new()
                .id(uuid::Uuid::new_v4().to_string())
                .source("/agent-store/bench")
                .ty(ty)
                .data("application/json", data)
                .build()?;
            let properties = event_properties(&event, PARTITIONS)?;
            let body = cloudevents_amqp::body_for(&event);
            Ok(channel
                .basic_publish(
                    exchange.as_str().into(),
                    routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?)
        })
    }
}

fn queue_sender(
    queue: String,
) -> impl Fn(&Channel, Vec<u8>) -> futures::future::BoxFuture<'static, Result<lapin::PublisherConfirm>> {
    move |channel, body| {
        let (channel, queue) = (channel.clone(), queue.clone());
        Box::pin(async move {
            Ok(channel
                .basic_publish("".into(), queue.as_str().into(), BasicPublishOptions::default(), &body, persistent())
                .await?)
        })
    }
}

const ON_TOPOLOGY: &str = "plain lapin on the host's exchanges and queues (closed loop)";
const ONE_QUEUE: &str = "plain lapin, host-shaped events straight into one partition queue (closed loop)";
const TOPIC_QUEUE: &str = "plain lapin, one queue bound to the events exchange (closed loop)";
const TRACES_OFF: &str = "agent-store echo, idempotency on, traces off";
const TRACES_ON: &str = "agent-store echo, idempotency on, traces exported";

/// The host's replies reach the driver's queue.
async fn bind_replies(channel: &Channel, queue: &str, prefix: &str) -> Result<()> {
    channel
        .queue_bind(
            queue.into(),
            Names::new(prefix).events().into(),
            "test.reply".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// An OTLP/HTTP collector that takes every export and keeps only counts.
struct Collector {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<(u64, u64)>>,
}

impl Collector {
    async fn start() -> Result<Self> {
        let received = std::sync::Arc::new(std::sync::Mutex::new((0, 0)));
        let counts = received.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let counts = counts.clone();
                async move {
                    let mut counts = counts.lock().unwrap();
                    counts.0 += 1;
                    counts.1 += body.len() as u64;
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, received })
    }

    fn received(&self) -> (u64, u64) {
        *self.received.lock().unwrap()
    }
}

fn subscription(component: &str, ty: &str, concurrency: usize) -> Subscription {
    Subscription { component: component.into(), filters: vec![Filter::new(ty)], concurrency }
}

async fn cleanup(channel: &Channel, prefix: &str, concurrency: usize, kv: &str) -> Result<()> {
    let names = Names::new(prefix);
    for sub in [subscription("echo", "test.echo", concurrency), subscription("noop", "test.noop", concurrency)] {
        topology::delete(channel, &names, &sub, PARTITIONS, &RetryPolicy::default()).await?;
    }
    topology::delete_events(channel, &names).await?;
    for queue in ["baseline.in", "baseline.out", "bench.replies"] {
        channel.queue_delete(format!("{prefix}.{queue}").into(), Default::default()).await?;
    }
    if kv.starts_with("redis") {
        let store = RedisBackend::connect(&format!("{kv}#{prefix}")).await?.store(LABEL, None);
        for key in store.keys().await? {
            store.delete(&key).await?;
        }
    }
    Ok(())
}

async fn bench(args: &Args) -> Result<()> {
    let prefix = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .with_context(|| format!("RabbitMQ at {}", amqp_url()))?;
    let publish = connection.create_channel().await?;
    publish.confirm_select(ConfirmSelectOptions::default()).await?;
    let replies = connection.create_channel().await?;
    let (events, runs, window, concurrency) =
        if args.bench { (args.events, args.runs, args.window, args.concurrency) } else { (200, 1, 16, 8) };
    let baseline_in = format!("{prefix}.baseline.in");
    let baseline_out = format!("{prefix}.baseline.out");
    let host_out = format!("{prefix}.bench.replies");
    for queue in [&baseline_in, &baseline_out, &host_out] {
        publish.queue_declare(queue.as_str().into(), durable(), FieldTable::default()).await?;
    }

    let mut rows: HashMap<&str, Vec<Sample>> = HashMap::new();
    let mut stages = Vec::new();
    let mut sched = Vec::new();
    let outcome = async {
        let consumer = start_baseline(&baseline_in, &baseline_out, concurrency).await?;
        let mut accounting = None;
        for run in 0..=runs {
            if run == 1 {
                accounting = Some(Accounting::begin(consumer.pid()));
            }
            let sample =
                closed_loop(&publish, &replies, &baseline_out, events, window, queue_sender(baseline_in.clone()))
                    .await?;
            if run > 0 {
                rows.entry("baseline (closed loop)").or_default().push(sample);
            }
        }
        if let Some(accounting) = accounting {
            sched.push(("plain lapin (closed loop)", accounting.end(events * runs)));
        }
        let mut accounting = None;
        for run in 0..=runs {
            if run == 1 {
                accounting = Some(Accounting::begin(consumer.pid()));
            }
            let sample =
                drain(&publish, std::slice::from_ref(&baseline_in), events, queue_sender(baseline_in.clone())).await?;
            if run > 0 {
                rows.entry("baseline (open loop)").or_default().push(sample);
            }
        }
        if let Some(accounting) = accounting {
            sched.push(("plain lapin (open loop)", accounting.end(events * runs)));
        }
        drop(consumer);
        if !args.bench {
            return anyhow::Ok(());
        }
        if !args.traces {
            // The plain consumer again, on the queues and exchanges the host
            // declares (the events exchange, the subscription's headers
            // exchange, eight partition queues): what the topology costs,
            // apart from what the host's process does.
            let names = Names::new(&prefix);
            topology::declare_events(&publish, &names).await?;
            let echo = subscription("echo", "test.echo", concurrency);
            topology::declare_subscription(&publish, &names, &echo, PARTITIONS, &RetryPolicy::default()).await?;
            bind_replies(&publish, &host_out, &prefix).await?;
            let inputs: Vec<String> = (0..PARTITIONS).map(|p| names.partition("echo", p)).collect();
            let output = format!("{}/test.reply", names.events());
            let loops = Loops { publish: &publish, replies: &replies, reply_queue: &host_out, events, runs, window };
            let (samples, account) =
                loops.plain_on(&inputs, &output, concurrency, &event_sender(&prefix, "test.echo")).await?;
            rows.entry(ON_TOPOLOGY).or_default().extend(samples);
            sched.push((ON_TOPOLOGY, account));
            if args.topology {
                // The same traffic on parts of the topology, to tell which
                // part RabbitMQ spends on: one partition queue fed straight
                // from the default exchange (the message's size and headers
                // alone), then one queue bound to the events exchange (the
                // topic exchange, no headers exchange, no partitions).
                let straight = &inputs[..1];
                let to_queue = event_sender_via(String::new(), straight[0].clone(), "test.echo");
                let (samples, account) = loops.plain_on(straight, &output, concurrency, &to_queue).await?;
                rows.entry(ONE_QUEUE).or_default().extend(samples);
                sched.push((ONE_QUEUE, account));
                let topic_in = format!("{prefix}.bench.topic-in");
                publish.queue_declare(topic_in.as_str().into(), durable(), FieldTable::default()).await?;
                publish
                    .queue_bind(
                        topic_in.as_str().into(),
                        names.events().into(),
                        "test.topic".into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
                let inputs = [topic_in.clone()];
                let (samples, account) =
                    loops.plain_on(&inputs, &output, concurrency, &event_sender(&prefix, "test.topic")).await?;
                rows.entry(TOPIC_QUEUE).or_default().extend(samples);
                sched.push((TOPIC_QUEUE, account));
                publish.queue_delete(topic_in.as_str().into(), Default::default()).await?;
            }
        }
        if args.traces {
            let collector = Collector::start().await?;
            for _ in 0..runs {
                for (name, otlp) in [(TRACES_OFF, None), (TRACES_ON, Some(collector.url.as_str()))] {
                    let dir = tempfile::tempdir()?;
                    let _host = start_host(&prefix, &args.kv, true, concurrency, dir.path(), otlp).await?;
                    bind_replies(&publish, &host_out, &prefix).await?;
                    for warm_up in [true, false] {
                        let sample = closed_loop(
                            &publish,
                            &replies,
                            &host_out,
                            events,
                            window,
                            event_sender(&prefix, "test.echo"),
                        )
                        .await?;
                        if !warm_up {
                            rows.entry(name).or_default().push(sample);
                        }
                    }
                }
            }
            let (spans, bytes) = collector.received();
            println!("\nthe collector took {spans} export requests, {bytes} bytes");
            return anyhow::Ok(());
        }
        for dedup in [true, false] {
            let dir = tempfile::tempdir()?;
            let host = start_host(&prefix, &args.kv, dedup, concurrency, dir.path(), None).await?;
            bind_replies(&publish, &host_out, &prefix).await?;
            let name = if dedup { "agent-store echo, idempotency on" } else { "agent-store echo, idempotency off" };
            let mut accounting = None;
            for run in 0..=runs {
                if run == 1 {
                    accounting = Some(Accounting::begin(host.process.pid()));
                }
                let sample =
                    closed_loop(&publish, &replies, &host_out, events, window, event_sender(&prefix, "test.echo"))
                        .await?;
                if run > 0 {
                    rows.entry(name).or_default().push(sample);
                }
            }
            if let Some(accounting) = accounting {
                sched.push((name, accounting.end(events * runs)));
            }
            stages.push((dedup, host.stages().await?));
            let noop_queues: Vec<String> = (0..PARTITIONS).map(|p| Names::new(&prefix).partition("noop", p)).collect();
            let name = if dedup { "agent-store noop, idempotency on" } else { "agent-store noop, idempotency off" };
            let mut accounting = None;
            for run in 0..=runs {
                if run == 1 {
                    accounting = Some(Accounting::begin(host.process.pid()));
                }
                let sample = drain(&publish, &noop_queues, events, event_sender(&prefix, "test.noop")).await?;
                if run > 0 {
                    rows.entry(name).or_default().push(sample);
                }
            }
            if let Some(accounting) = accounting {
                sched.push((name, accounting.end(events * runs)));
            }
        }
        anyhow::Ok(())
    }
    .await;
    let cleaned = cleanup(&publish, &prefix, concurrency, &args.kv).await;
    let _ = connection.close(200, "done".into()).await;
    outcome?;
    cleaned?;

    println!(
        "\n{events} events × {runs} runs (after a warm-up run), window {window}, concurrency/prefetch {concurrency}\n"
    );
    println!("| variant | events/s median (min–max) | p50 ms | p99 ms |\n|---|---|---|---|");
    let mut rates = HashMap::new();
    for name in [
        "baseline (closed loop)",
        ON_TOPOLOGY,
        ONE_QUEUE,
        TOPIC_QUEUE,
        "agent-store echo, idempotency on",
        "agent-store echo, idempotency off",
        "baseline (open loop)",
        "agent-store noop, idempotency on",
        "agent-store noop, idempotency off",
        TRACES_OFF,
        TRACES_ON,
    ] {
        if let Some(samples) = rows.get(name) {
            let (line, rate) = summary(name, samples);
            println!("{line}");
            rates.insert(name, rate);
        }
    }
    for (name, account) in &sched {
        println!("{name}, per event: {account}");
    }
    for (dedup, stages) in &stages {
        let idempotency = if *dedup { "on" } else { "off" };
        println!("echo, idempotency {idempotency}: mean ms per delivery stage: {stages}");
    }
    let ratio = |a: &str, b: &str| rates.get(a).zip(rates.get(b)).map(|(a, b)| a / b);
    for (host, base) in [
        ("agent-store echo, idempotency on", "baseline (closed loop)"),
        ("agent-store echo, idempotency off", "baseline (closed loop)"),
        (ON_TOPOLOGY, "baseline (closed loop)"),
        (ONE_QUEUE, "baseline (closed loop)"),
        (TOPIC_QUEUE, "baseline (closed loop)"),
        ("agent-store echo, idempotency on", ON_TOPOLOGY),
        ("agent-store noop, idempotency on", "baseline (open loop)"),
        ("agent-store noop, idempotency off", "baseline (open loop)"),
        (TRACES_ON, TRACES_OFF),
    ] {
        if let Some(r) = ratio(host, base) {
            println!("ratio {host} / {base}: {r:.2}");
        }
    }
    if args.bench && !args.traces {
        let rate = |name: &str| rates.get(name).copied().unwrap_or(f64::NAN);
        for (row, measure, host, base, goal, floor) in [
            (
                "2",
                "RabbitMQ, echo component, idempotency on (closed loop, events/s)",
                "agent-store echo, idempotency on",
                "baseline (closed loop)",
                "≥ 0.8 of plain lapin",
                0.8,
            ),
            (
                "3",
                "RabbitMQ, no-op component, idempotency on (open loop, events/s)",
                "agent-store noop, idempotency on",
                "baseline (open loop)",
                "≥ 0.9 of plain lapin",
                0.9,
            ),
        ] {
            let spread_of = |name: &str| match rows.get(name) {
                Some(samples) if !samples.is_empty() => {
                    let rates: Vec<f64> = samples.iter().map(|s| s.rate).collect();
                    let (median, low, high) = report::spread(&rates);
                    format!("{median:.0} events/s ({low:.0}–{high:.0})")
                }
                _ => "—".to_string(),
            };
            let r = rate(host) / rate(base);
            report::record(report::Row {
                row,
                measure,
                figure: spread_of(host),
                baseline: format!("plain lapin {}", spread_of(base)),
                ratio: Some(r),
                goal,
                met: Some(r >= floor),
            });
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        if let Some(spec) = &args.baseline_consumer {
            return baseline_consumer(spec).await;
        }
        bench(&args).await
    })
}
