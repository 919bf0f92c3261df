//! What one event costs the host: instantiate a component from its
//! pre-instantiated template, deliver a 1 KB CloudEvent over the HTTP binding
//! (binary mode), read the reply and drop the store — one
//! [`Template::deliver`] call.
//!
//! - `deliver/noop`: `test_noop.wasm`, whose handler returns no events (204).
//! - `deliver/echo`: `test_probe.wasm` answering `test.echo` with one event,
//!   so that the reply path (encode in the guest, decode in the host) counts.
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

use agent_store::capabilities::key_value::KeyValueStores;
use agent_store::capabilities::llm::Models;
use agent_store::runtime::{CallContext, Runtime, RuntimeConfig, Sandbox, Services, Template};
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;

/// Size of the event's JSON data: a typical small business event.
const DATA_BYTES: usize = 1024;

/// The allocators compared, by the name they have in the results.
const ALLOCATORS: [(&str, bool); 2] = [("pooling", true), ("on-demand", false)];

/// The bytes of a built component, e.g. `wasm("test_noop")`.
fn wasm(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("AGENT_STORE_WASM_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release")
    });
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
/// allocator. Compiled components are cached between runs, as in production.
fn runtime(pooling: bool) -> Runtime {
    let services = Services::new(Arc::new(KeyValueStores::memory()), Arc::new(Models::default()));
    let cache_dir = Some(std::env::temp_dir().join("agent-store-bench-cache"));
    Runtime::new(&RuntimeConfig { pooling, cache_dir }, services).expect("a runtime")
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    // Multi-threaded, one worker per core, like the host's `#[tokio::main]`.
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime")
}

/// Delivers once outside the measurement and checks the outcome, so that a
/// broken component fails the bench instead of timing an error path.
fn check(rt: &tokio::runtime::Runtime, template: &Template, event: &Event, replies: usize) {
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

/// One group: `component` receiving `event`, under both allocators.
fn deliver(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, component: &str, event: &Event, replies: usize) {
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
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio_runtime();
    deliver(c, &rt, "noop", "test_noop", &event("store.bench.tick"), 0);
    deliver(c, &rt, "echo", "test_probe", &event("test.echo"), 1);
}

criterion_group!(invoke, benches);
criterion_main!(invoke);
