//! What hot swap costs (`docs/hot-swap.md`), measured in one process on
//! the in-memory broker with the test probe:
//!
//! - `deploy`: from the deploy call to the new version serving, compile
//!   included (each round deploys a version never compiled before);
//! - `rollback`: the switch back to a kept version (nothing compiles);
//! - event latency, publish to reply, p50 and p99: a steady stream alone,
//!   then the same stream while the probe is switched ten times between two
//!   versions.
//!
//! - `deploy` and `rollback` across two replicas on one Redis (the
//!   two-phase cutover), when a Redis answers (`AGENT_STORE_BENCH_REDIS`,
//!   default `redis://127.0.0.1:6379`).
//!
//! Run with `cargo bench -p agent-store --bench swap`; the figures are in
//! `BENCHMARKS.md`. Components come from `AGENT_STORE_WASM_DIR`, or else
//! `<workspace>/target/wasm32-wasip2/release/` (`cargo xtask build`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_store::app::swap::DeployRequest;
use agent_store::app::{App, AppOptions, Publisher};
use agent_store::broker::memory::MemoryBroker;
use agent_store::cluster::Cluster;
use agent_store::deploy::Contents;
use agent_store_runtime::capabilities::key_value::KeyValueStores;
use agent_store_runtime::capabilities::llm::Models;
use agent_store_runtime::{Runtime, RuntimeConfig, Services};
use cloudevents::AttributesReader;
use serde_json::json;

/// The rate events are sent at.
const INTERVAL: Duration = Duration::from_millis(2);

/// Events in each latency run: a few under `cargo test`, which runs this
/// once to keep it working; the real number under `cargo bench`.
fn events() -> usize {
    if std::env::args().any(|a| a == "--bench") { 2000 } else { 50 }
}

fn wasm_dir() -> PathBuf {
    std::env::var_os("AGENT_STORE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"))
}

/// The probe with a custom section naming `tag`: another version.
fn version(tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(wasm_dir().join("test_probe.wasm")).expect("build the components first");
    let name = b"agent-store-bench-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0);
    let mut n = payload.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        bytes.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&payload);
    bytes
}

fn manifest(source: &Path, tag: &str) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "swap-bench"
[[trigger.http]]
route = {{ private = true }}
component = "probe"
[component.probe]
source = "{}"
environment = {{ PROBE_TAG = "{tag}" }}
[component.probe.tool.agent-store]
subscribe = [{{ type = "test.#" }}]
emits = ["test.#"]
concurrency = 8
"#,
        source.display()
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<28} n={:<5} min {:>9.3?}  p50 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}",
        samples.len(),
        samples[0],
        p50,
        p99,
        samples[samples.len() - 1]
    );
    (p50, p99)
}

/// Sends [`events()`] events at a steady rate, calling `during` meanwhile;
/// returns each event's time from publish to its reply.
async fn stream(app: &Arc<App>, run: &str, during: impl std::future::Future<Output = ()>) -> Vec<Duration> {
    let mut replies = app.tap().subscribe();
    let sent: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let collector = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while latencies.len() < events() {
                let Ok(record) = replies.recv().await else { break };
                if record.event.ty() != "test.reply" {
                    continue;
                }
                let id = record.event.id().trim_end_matches("-reply").to_string();
                if let Some(at) = sent.lock().unwrap().remove(&id) {
                    latencies.push(at.elapsed());
                }
            }
            latencies
        })
    };
    let sender = {
        let (app, sent, run) = (app.clone(), sent.clone(), run.to_string());
        async move {
            let mut ticker = tokio::time::interval(INTERVAL);
            for n in 0..events() {
                ticker.tick().await;
                let id = format!("{run}-{n}");
                let body = serde_json::to_vec(&json!({
                    "specversion": "1.0", "id": id, "source": "/bench", "type": "test.env",
                    "conversation": format!("cv-{}", n % 64),
                    "datacontenttype": "application/json", "data": { "name": "PROBE_TAG" },
                }))
                .unwrap();
                let mut headers = http::HeaderMap::new();
                headers.insert("content-type", "application/cloudevents+json".parse().unwrap());
                sent.lock().unwrap().insert(id, Instant::now());
                app.ingest(&Publisher::Admin, &headers, body).await.expect("published");
            }
        }
    };
    tokio::join!(sender, during);
    tokio::time::timeout(Duration::from_secs(60), collector).await.expect("every event answered").unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir)?;
    let write = |tag: &str| -> anyhow::Result<(PathBuf, Vec<u8>)> {
        let bytes = version(tag);
        let path = dir.path().join(format!("probe-{tag}.wasm"));
        std::fs::write(&path, &bytes)?;
        Ok((path, bytes))
    };
    let (v1_path, v1) = write("v1")?;
    let manifest_path = dir.path().join("spin.toml");
    std::fs::write(&manifest_path, manifest(&v1_path, "v1"))?;
    let services = Services::new(Arc::new(KeyValueStores::memory()), Arc::new(Models::default()));
    let config = RuntimeConfig { pooling: true, cache_dir: Some(data_dir.join("cache")) };
    let runtime = Arc::new(Runtime::new(&config, services)?);
    let broker = Arc::new(MemoryBroker::default());
    let options = AppOptions { data_dir: data_dir.clone(), wasm_dir: None, max_depth: 16, cluster: None, only: None };
    let app =
        Arc::new(App::load(agent_store_manifest::Manifest::load(&manifest_path)?, runtime, broker, options).await?);
    app.start().await?;
    let v1_digest = agent_store_runtime::cache::digest(&v1);

    let deploy = |tag: String| {
        let app = app.clone();
        let (path, bytes) = write(&tag).unwrap();
        async move {
            let digest = agent_store_runtime::cache::digest(&bytes);
            app.put_blob(&digest, &bytes).unwrap();
            let request = DeployRequest {
                manifest: manifest(&path, &tag),
                components: vec!["probe".into()],
                contents: Contents {
                    sources: [("probe".to_string(), digest.clone())].into(),
                    files: Default::default(),
                },
            };
            let started = Instant::now();
            app.deploy(request).await.expect("deployed");
            (started.elapsed(), digest)
        }
    };
    println!("hot swap, test_probe.wasm ({} KiB), in-memory broker", v1.len() / 1024);
    let mut deploys = Vec::new();
    let mut v2_digest = String::new();
    for round in 0..10 {
        let (elapsed, digest) = deploy(format!("fresh-{round}-{}", std::process::id())).await;
        deploys.push(elapsed);
        v2_digest = digest;
    }
    summary("deploy (compile included)", deploys);
    let mut rollbacks = Vec::new();
    for round in 0..100 {
        let to = if round % 2 == 0 { &v1_digest } else { &v2_digest };
        let started = Instant::now();
        app.rollback("probe", Some(to)).await.expect("rolled back");
        rollbacks.push(started.elapsed());
    }
    summary("rollback", rollbacks);

    // A first stream warms the instance pool and the allocator up, so that
    // the two measured ones start alike.
    stream(&app, "warm-up", async {}).await;
    let steady = stream(&app, "steady", async {}).await;
    let (steady_p50, steady_p99) = summary("event latency, steady", steady);
    let swapping = stream(&app, "swapping", async {
        let spacing = INTERVAL * (events() as u32) / 11;
        for round in 0..10 {
            tokio::time::sleep(spacing).await;
            let to = if round % 2 == 0 { &v1_digest } else { &v2_digest };
            app.rollback("probe", Some(to)).await.expect("swapped");
        }
    })
    .await;
    let (swap_p50, swap_p99) = summary("event latency, 10 swaps", swapping);
    println!(
        "during swaps / steady: p50 {:.2}x, p99 {:.2}x",
        swap_p50.as_secs_f64() / steady_p50.as_secs_f64(),
        swap_p99.as_secs_f64() / steady_p99.as_secs_f64()
    );
    app.shutdown(Duration::from_secs(5)).await;
    replicas(dir.path(), &manifest_path, &write).await
}

/// Deploy and rollback across two replicas on one Redis (both phases: the
/// other replica fetches the file from Redis and compiles before either
/// switches), in one process. Skipped without a Redis.
async fn replicas(
    dir: &Path,
    manifest_path: &Path,
    write: &dyn Fn(&str) -> anyhow::Result<(PathBuf, Vec<u8>)>,
) -> anyhow::Result<()> {
    let url = std::env::var("AGENT_STORE_BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("swap-bench-{}", std::process::id());
    let mut apps = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let cluster =
            match Cluster::connect(&format!("{url}#{prefix}"), Duration::from_secs(60), Some(name.into())).await {
                Ok(cluster) => cluster,
                Err(error) => {
                    println!("replicas: skipped, no Redis at {url} ({error:#})");
                    return Ok(());
                }
            };
        let data_dir = dir.join(name);
        std::fs::create_dir_all(&data_dir)?;
        let services = Services::new(Arc::new(KeyValueStores::memory()), Arc::new(Models::default()));
        let config = RuntimeConfig { pooling: true, cache_dir: Some(data_dir.join("cache")) };
        let runtime = Arc::new(Runtime::new(&config, services)?);
        let options =
            AppOptions { data_dir, wasm_dir: None, max_depth: 16, cluster: Some(cluster.clone()), only: None };
        let manifest = agent_store_manifest::Manifest::load(manifest_path)?;
        let app = Arc::new(App::load(manifest, runtime, Arc::new(MemoryBroker::default()), options).await?);
        app.start().await?;
        apps.push((app, cluster));
    }
    let (coordinator, cluster) = apps[0].clone();
    while cluster.live().await?.len() < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("two replicas on one Redis ({url}), each its own compile cache");
    let rounds = if std::env::args().any(|a| a == "--bench") { 10 } else { 2 };
    let mut deploys = Vec::new();
    let mut digests = Vec::new();
    for round in 0..rounds {
        let tag = format!("replicas-{round}-{}", std::process::id());
        let (path, bytes) = write(&tag)?;
        let digest = agent_store_runtime::cache::digest(&bytes);
        coordinator.put_blob(&digest, &bytes)?;
        let request = DeployRequest {
            manifest: manifest(&path, &tag),
            components: vec!["probe".into()],
            contents: Contents { sources: [("probe".to_string(), digest.clone())].into(), files: Default::default() },
        };
        let started = Instant::now();
        let switched = coordinator.deploy(request).await.expect("deployed");
        deploys.push(started.elapsed());
        let confirmed = switched[0].replicas.iter().filter(|r| r.version.as_deref() == Some(digest.as_str())).count();
        assert_eq!(confirmed, 2, "both replicas run the deployed version");
        digests.push(digest);
    }
    summary("deploy, 2 replicas", deploys);
    let mut rollbacks = Vec::new();
    for round in 0..rounds * 10 {
        let to = &digests[round % 2];
        let started = Instant::now();
        coordinator.rollback("probe", Some(to)).await.expect("rolled back");
        rollbacks.push(started.elapsed());
    }
    summary("rollback, 2 replicas", rollbacks);
    for (app, _) in &apps {
        app.shutdown(Duration::from_secs(5)).await;
    }
    let mut redis = redis::Client::open(url.as_str())?.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut redis).await?;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut redis).await?;
    }
    Ok(())
}
