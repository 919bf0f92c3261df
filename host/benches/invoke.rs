//! What one event costs the host: instantiate a component from its
//! pre-instantiated template, deliver a 1 KB CloudEvent through its direct
//! `handler` export, read the reply and drop the store — one
//! [`ComponentPre::deliver`] call. `…/pooling-over-http` delivers the same
//! event over the HTTP binding (binary mode) instead, as before the direct
//! export and as under `spin up`.
//!
//! - `deliver/noop`: `test_noop.wasm`, whose handler returns no events (204).
//! - `deliver/echo`: `test_probe.wasm` answering `test.echo` with one event,
//!   so that the reply path (encode in the guest, decode in the host) counts.
//! - `deliver/catalog-search`: the README's product search through the
//!   catalog, from its init snapshot and re-reading its files per event (see
//!   [`catalog_search`]); the ratio to `deliver/noop` is issue 13's goal.
//! - `metrics/echo`: what the host's metrics add to one delivery of
//!   `deliver/echo`: its input counted as published, the delivery (count,
//!   latency and memory histograms, outcome) and its reply counted as
//!   published, with the labels the dispatcher uses.
//! - `breakdown/noop`: where the time of `deliver/noop` goes, measured piece
//!   by piece on a bare copy of the host's call path (see [`bare`]), over
//!   engines configured here so that pool settings can be compared.
//!
//! Each runs with the pooling allocator and with the on-demand one, in the
//! same process. Run with `cargo bench -p agent-store --bench invoke`; what
//! the numbers were and how to read them is in `BENCHMARKS.md`.
//!
//! The components are read from `AGENT_STORE_WASM_DIR`, or else from
//! `<workspace>/target/wasm32-wasip2/release/` (`cargo xtask build`).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_store_events::binding;
use agent_store_manifest::Manifest;
use agent_store_runtime::capabilities::key_value::KeyValueStores;
use agent_store_runtime::capabilities::llm::Models;
use agent_store_runtime::capabilities::variables::AppVariables;
use agent_store_runtime::{CallContext, ComponentPre, Runtime, RuntimeConfig, Sandbox, Services};
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;

/// Size of the event's JSON data: a typical small business event.
const DATA_BYTES: usize = 1024;

/// The allocators compared, by the name they have in the results.
const ALLOCATORS: [(&str, bool); 2] = [("pooling", true), ("on-demand", false)];

/// The bytes of a built component, e.g. `wasm("test_noop")`.
fn wasm(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("AGENT_STORE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): build the components with `cargo xtask build` \
             (or `cargo build --target wasm32-wasip2 --release -p {}`), \
             or point AGENT_STORE_WASM_DIR at the directory that holds them",
            path.display(),
            name.replace('_', "-"),
        )
    })
}

/// Where compiled components are kept between runs, as in production: only
/// the first run compiles.
fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("agent-store-bench-cache")
}

/// A CloudEvent of type `ty` whose JSON data serialises to exactly
/// [`DATA_BYTES`].
fn event(ty: &str) -> Event {
    let mut data = json!({
        "request_id": "0b7c5d3e-6f1a-4c2b-9e8d-7a6b5c4d3e2f",
        "brand": "acme",
        "items": [{ "sku": "SKU-1001", "quantity": 2 }, { "sku": "SKU-2002", "quantity": 1 }],
        "note": "",
    });
    let padding = DATA_BYTES - serde_json::to_vec(&data).unwrap().len();
    data["note"] = json!("x".repeat(padding));
    assert_eq!(serde_json::to_vec(&data).unwrap().len(), DATA_BYTES);
    EventBuilderV10::new()
        .id("5f0c8a6e-2d9b-4e1f-8c3a-1b2d3e4f5a6b")
        .source("/agent-store/bench")
        .ty(ty)
        .time(chrono::Utc::now())
        .extension("brand", "acme")
        .data("application/json", data)
        .build()
        .expect("a valid event")
}

/// A runtime configured the way the host runs, with or without the pooling
/// allocator.
fn runtime(pooling: bool) -> Runtime {
    let services = Services::new(Arc::new(KeyValueStores::memory()), Arc::new(Models::default()));
    Runtime::new(&RuntimeConfig { pooling, cache_dir: Some(cache_dir()) }, services).expect("a runtime")
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    // Multi-threaded, one worker per core, like the host's `#[tokio::main]`.
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime")
}

/// Delivers once outside the measurement and checks the outcome, so that a
/// broken component fails the bench instead of timing an error path.
fn check(rt: &tokio::runtime::Runtime, template: &ComponentPre, event: &Event, replies: usize) {
    let delivery = rt.block_on(template.deliver(event, &CallContext::default()));
    match &delivery.result {
        Ok(events) if events.len() == replies => {}
        Ok(events) => panic!(
            "`{}` answered {} events where {replies} were expected: {:?}",
            template.id,
            events.len(),
            events.iter().map(|e| e.ty().to_string()).collect::<Vec<_>>()
        ),
        Err(e) => panic!("`{}` failed: {e}\n--- component output ---\n{}", template.id, delivery.output),
    }
}

/// One group: `component` receiving `event` through `ComponentPre::deliver`,
/// under both allocators.
fn deliver(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    component: &str,
    event: &Event,
    replies: usize,
) {
    let bytes = wasm(component);
    let mut group = c.benchmark_group(format!("deliver/{name}"));
    for (allocator, pooling) in ALLOCATORS {
        let runtime = runtime(pooling);
        let template = runtime.load(name, &bytes, Sandbox::default()).expect("the component loads");
        check(rt, &template, event, replies);
        let ctx = CallContext::default();
        group.bench_function(BenchmarkId::from_parameter(allocator), |b| {
            b.to_async(rt).iter(|| async {
                let delivery = template.deliver(black_box(event), &ctx).await;
                black_box(delivery.result.is_ok())
            })
        });
        // The same event through the HTTP export the component also has:
        // the path before the direct export, and the one `spin up` takes.
        if pooling && template.has_direct_handler() {
            group.bench_function(BenchmarkId::from_parameter("pooling-over-http"), |b| {
                b.to_async(rt).iter(|| async {
                    let delivery = template.deliver_over_http(black_box(event), &ctx).await;
                    black_box(delivery.result.is_ok())
                })
            });
        }
    }
    group.finish();
}

/// A bare copy of the host's per-event path (`ComponentPre::call` in
/// `host/src/runtime/mod.rs`): the same wasmtime and WASI work, without the
/// host's own capabilities, limiter, epoch callback, output capture and
/// permits. It exists to take the cost apart, and to try engine settings the
/// host does not expose.
mod bare {
    use anyhow::{Result, anyhow};
    use bytes::Bytes;
    use cloudevents::Event;
    use http_body_util::{BodyExt, Full};
    use wasmtime::component::{Linker, ResourceTable};
    use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
    use wasmtime_wasi_http::p2::bindings::ProxyPre;
    use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
    use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

    use agent_store_events::binding;
    use agent_store_runtime::CompileCache;

    /// How the engine allocates instances.
    #[derive(Debug, Clone, Copy)]
    pub enum Allocator {
        /// The host's pool without keeping memory resident: a slot's
        /// memory is `madvise`d away after each instance and faulted in
        /// again by the next.
        Pooling,
        /// The host's pool as `Runtime::new` configures it: pages a guest
        /// dirtied are set back with `memset` (only those, with
        /// `PAGEMAP_SCAN`) and stay resident.
        PoolingResident,
        OnDemand,
    }

    impl Allocator {
        pub const ALL: [Allocator; 3] = [Allocator::Pooling, Allocator::PoolingResident, Allocator::OnDemand];

        pub fn name(self) -> &'static str {
            match self {
                Allocator::Pooling => "pooling",
                Allocator::PoolingResident => "pooling-resident",
                Allocator::OnDemand => "on-demand",
            }
        }
    }

    /// Linear memory kept resident per slot by [`Allocator::PoolingResident`]:
    /// a Rust guest's stack and the start of its heap (as in `Runtime::new`).
    const KEEP_RESIDENT: usize = 2 << 20;

    /// The host's engine settings (`Runtime::new`; its constants are private,
    /// so they are repeated here).
    fn engine(allocator: Allocator) -> Result<Engine> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if !matches!(allocator, Allocator::OnDemand) {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(1000);
            pool.total_core_instances(4000);
            pool.total_memories(2000);
            pool.total_tables(4000);
            pool.total_stacks(1000);
            pool.max_memory_size(1 << 30);
            pool.max_core_instances_per_component(64);
            pool.max_memories_per_component(8);
            pool.max_tables_per_component(16);
            if matches!(allocator, Allocator::PoolingResident) {
                pool.linear_memory_keep_resident(KEEP_RESIDENT);
                pool.table_keep_resident(64 << 10);
                pool.pagemap_scan(Enabled::Auto);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        Ok(Engine::new(&config)?)
    }

    /// What a bare store holds: WASI and WASI HTTP, nothing of the host's.
    pub struct State {
        table: ResourceTable,
        wasi: WasiCtx,
        http: WasiHttpCtx,
    }

    impl State {
        pub fn new() -> Self {
            Self { table: ResourceTable::new(), wasi: WasiCtx::builder().build(), http: WasiHttpCtx::new() }
        }
    }

    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
        }
    }

    impl WasiHttpView for State {
        fn http(&mut self) -> WasiHttpCtxView<'_> {
            WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: wasmtime_wasi_http::default_hooks() }
        }
    }

    /// A store as the host makes one, minus the host's own state. No ticker
    /// runs, so the deadline is only there because epochs are on.
    pub fn store(engine: &Engine) -> Store<State> {
        let mut store = Store::new(engine, State::new());
        store.set_epoch_deadline(1 << 20);
        store
    }

    /// `bytes` pre-instantiated on an engine with `allocator`. Only WASI and
    /// WASI HTTP are linked: enough for `test_noop`. (Stubbing the rest with
    /// `define_unknown_imports_as_traps` is no way out: it shadows the
    /// semver-matched `wasi:http/types@0.2.0` and the handler no longer
    /// type-checks.)
    pub fn template(allocator: Allocator, name: &str, bytes: &[u8]) -> Result<ProxyPre<State>> {
        let engine = engine(allocator)?;
        let cache = CompileCache::new(&engine, Some(super::cache_dir()));
        let (component, _) = cache.load(&engine, name, bytes, &agent_store_runtime::cache::digest(bytes))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Ok(ProxyPre::new(linker.instantiate_pre(&component)?)?)
    }

    /// A new store and instance, dropped at once: no call.
    pub async fn instantiate(pre: &ProxyPre<State>) -> Result<()> {
        let mut store = store(pre.engine());
        pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    /// `ComponentPre::deliver` without the host's extras: encode, new store,
    /// instantiate and call while reading the reply in the same task, decode.
    pub async fn deliver(pre: &ProxyPre<State>, event: &Event) -> Result<Vec<Event>> {
        let (headers, body) = binding::encode_binary(event).map_err(|e| anyhow!("{e}"))?;
        let mut request = http::Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = http::Uri::from_static("http://noop.spin.internal/.agent-store/deliver");
        *request.headers_mut() = headers;

        let mut store = store(pre.engine());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = pre.clone();
        let guest = async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        };
        let reply = async {
            let response = receiver.await.map_err(|_| anyhow!("no response"))?.map_err(|e| anyhow!("{e:?}"))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| anyhow!("{e:?}"))?.to_bytes();
            anyhow::Ok((parts, body))
        };
        let (ran, reply) = tokio::join!(guest, reply);
        ran?;
        let (parts, body) = reply?;
        binding::decode_reply(parts.status, &parts.headers, body.to_vec()).map_err(|e| anyhow!("{e}"))
    }
}

/// Where the time of one `deliver/noop` goes, piece by piece.
fn breakdown(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let bytes = wasm("test_noop");
    let event = event("store.bench.tick");
    let mut group = c.benchmark_group("breakdown/noop");
    group.measurement_time(Duration::from_secs(3));

    // Host-side work that does not depend on the allocator.
    group.bench_function("encode", |b| b.iter(|| binding::encode_binary(black_box(&event)).expect("encodes")));
    group.bench_function("spawn", |b| {
        b.to_async(rt).iter(|| async { tokio::spawn(async { black_box(1) }).await.expect("joins") })
    });

    for allocator in bare::Allocator::ALL {
        let name = allocator.name();
        let pre = bare::template(allocator, "noop", &bytes).expect("the component loads");
        let replies = rt.block_on(bare::deliver(&pre, &event)).expect("the bare path delivers");
        assert!(replies.is_empty(), "noop answered {} events", replies.len());

        group.bench_function(format!("{name}/store"), |b| b.iter(|| bare::store(pre.engine())));
        group.bench_function(format!("{name}/instantiate"), |b| {
            b.to_async(rt).iter(|| async { bare::instantiate(&pre).await.expect("instantiates") })
        });
        group.bench_function(format!("{name}/deliver"), |b| {
            b.to_async(rt).iter(|| async { bare::deliver(&pre, black_box(&event)).await.expect("delivers") })
        });
    }
    group.finish();
}

/// The metrics of one echo delivery, as the dispatcher and the ingress
/// record them.
fn metrics(c: &mut Criterion) {
    use agent_store::metrics::{DeliveryMetrics, metrics};
    let input = event("test.echo");
    let reply = event("test.reply");
    let m = metrics();
    let delivery = DeliveryMetrics::new("echo");
    let (admin, echo) = (m.known.admin(), m.known.component("echo"));
    let digest = "0123456789abcdef0123456789abcdef";
    let mut group = c.benchmark_group("metrics");
    group.bench_function("echo", |b| {
        b.iter(|| {
            m.published(black_box(&input), &admin);
            let running = delivery.running();
            delivery.delivered(black_box(&input), digest, Duration::from_micros(60), 2 << 20, None);
            drop(running);
            delivery.settled(&agent_store::broker::Outcome::Retry(String::new()));
            m.published(black_box(&reply), &echo);
        })
    });
    group.finish();
}

/// `deliver/catalog-search`: the README's product search through the real
/// catalog with the sandbox its manifest entry gives it (the brand files
/// mounted, its `catalog` store), pooling allocator. `snapshot`: loaded as
/// the host loads it, the files read and indexed once by its `init`;
/// `per-event`: loaded without running `init` (as `spin up` runs it), so
/// every event reads and indexes its brand's file again.
fn catalog_search(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = Manifest::load(&root.join("spin.toml")).expect("the repository's spin.toml");
    // The catalog reads no variables; the secrets only have to be set.
    let variables = AppVariables::resolve(&manifest, |_| Some("bench".into())).expect("variables");
    let staging = tempfile::tempdir().expect("a staging directory");
    let sandbox =
        Sandbox::from_manifest(&manifest, "product-catalog", &variables, staging.path()).expect("its sandbox");
    let bytes = wasm("product_catalog");
    let query = EventBuilderV10::new()
        .id("q-1")
        .source("/readme")
        .ty("store.product.query")
        .extension("brand", "fashion")
        .data(
            "application/json",
            json!({"request_id": "q-1", "brand": "fashion", "text": "vestido", "in_stock_only": true, "limit": 3}),
        )
        .build()
        .expect("a valid event");
    let mut group = c.benchmark_group("deliver/catalog-search");
    for prepared in [true, false] {
        let runtime = Arc::new(runtime(true));
        let template = if prepared {
            rt.block_on(runtime.clone().load_initialized("product-catalog", bytes.clone(), sandbox.clone()))
        } else {
            runtime.load("product-catalog", &bytes, sandbox.clone())
        }
        .expect("the catalog loads");
        check(rt, &template, &query, 1);
        let ctx = CallContext::default();
        group.bench_function(BenchmarkId::from_parameter(if prepared { "snapshot" } else { "per-event" }), |b| {
            b.to_async(rt).iter(|| async {
                let delivery = template.deliver(black_box(&query), &ctx).await;
                black_box(delivery.result.is_ok())
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio_runtime();
    deliver(c, &rt, "noop", "test_noop", &event("store.bench.tick"), 0);
    catalog_search(c, &rt);
    deliver(c, &rt, "echo", "test_probe", &event("test.echo"), 1);
    metrics(c);
    breakdown(c, &rt);
}

criterion_group!(invoke, benches);
criterion_main!(invoke);
