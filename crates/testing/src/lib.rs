//! Component unit tests via wasmtime.
//!
//! [`Harness`] loads a built component into the same runtime the host uses
//! (same engine settings, same capabilities, same sandbox), delivers events
//! to it over the CloudEvents HTTP binding, and shows what it emitted, what
//! it printed and what it stored.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use agent_store_testing::{Harness, event};
//! use serde_json::json;
//!
//! let catalog = Harness::builder("product_catalog")
//!     .mount_dir("brands", "/brands")
//!     .build()?;
//! let delivery = catalog.send(event("store.product.query", json!({ "request_id": "r1", "text": "dress" }))).await;
//! let replies = delivery.events()?;
//! assert_eq!(replies[0].ty(), "store.product.query.result");
//! # use cloudevents::AttributesReader;
//! # Ok(()) }
//! ```
//!
//! Components are found in `AGENT_STORE_WASM_DIR`, or else in
//! `<target>/wasm32-wasip2/release/`, where `cargo xtask build` puts them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agent_store::capabilities::key_value::KeyValueStores;
use agent_store::capabilities::llm::Models;
use agent_store::capabilities::outbound_http::{AllowedHosts, InternalRequests};
use agent_store::capabilities::variables::ComponentVariables;
use agent_store::runtime::{CallContext, Delivery, DeliveryError, Runtime, RuntimeConfig, Sandbox, Services, Template};
use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use bytes::Bytes;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};

pub use agent_store::runtime;

/// The workspace root, for paths such as `brands/`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Where built components are.
pub fn wasm_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("AGENT_STORE_WASM_DIR") {
        return PathBuf::from(dir);
    }
    let target =
        std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace_root().join("target"));
    target.join("wasm32-wasip2/release")
}

/// The path of a built component, e.g. `wasm_path("product_catalog")`.
pub fn wasm_path(name: &str) -> PathBuf {
    let path = wasm_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is not built: run `cargo xtask build` (or the tests through `cargo xtask test`)",
        path.display()
    );
    path
}

/// A new event of type `ty` with JSON `data`, from `/agent-store/test`.
pub fn event(ty: &str, data: serde_json::Value) -> Event {
    EventBuilderV10::new()
        .id(uuid::Uuid::new_v4().to_string())
        .source("/agent-store/test")
        .ty(ty)
        .time(chrono::Utc::now())
        .data("application/json", data)
        .build()
        .expect("a valid event")
}

/// The data of an event as JSON.
pub fn data(event: &Event) -> serde_json::Value {
    match event.data() {
        Some(cloudevents::Data::Json(v)) => v.clone(),
        Some(cloudevents::Data::Binary(b)) => serde_json::from_slice(b).unwrap_or(serde_json::Value::Null),
        Some(cloudevents::Data::String(s)) => serde_json::from_str(s).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    }
}

/// One runtime per test process: engines are heavy and share a code cache.
fn shared_runtime(pooling: bool) -> Result<&'static Runtime> {
    static POOLED: OnceLock<Runtime> = OnceLock::new();
    static ONDEMAND: OnceLock<Runtime> = OnceLock::new();
    let cell = if pooling { &POOLED } else { &ONDEMAND };
    if let Some(runtime) = cell.get() {
        return Ok(runtime);
    }
    let services = Services::new(Arc::new(KeyValueStores::memory()), Arc::new(Models::default()));
    let config = RuntimeConfig { pooling, cache_dir: Some(std::env::temp_dir().join("agent-store-test-cache")) };
    let runtime = Runtime::new(&config, services)?;
    Ok(cell.get_or_init(|| runtime))
}

pub struct HarnessBuilder {
    name: String,
    id: String,
    sandbox: Sandbox,
    allowed: Vec<String>,
    variables: Vec<(String, String)>,
    pooling: bool,
    models: Option<Models>,
}

impl HarnessBuilder {
    /// The component id (`source` of what it emits); defaults to the file
    /// name with dashes.
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.to_string();
        self
    }

    /// Mounts a directory of the workspace read-only at `guest`.
    pub fn mount_dir(mut self, workspace_relative: &str, guest: &str) -> Self {
        self.sandbox.mounts.push((workspace_root().join(workspace_relative), guest.to_string()));
        self
    }

    pub fn mount_host_dir(mut self, host: impl Into<PathBuf>, guest: &str) -> Self {
        self.sandbox.mounts.push((host.into(), guest.to_string()));
        self
    }

    pub fn key_value_stores(mut self, labels: &[&str]) -> Self {
        self.sandbox.key_value_stores = labels.iter().map(|s| s.to_string()).collect::<Vec<_>>().into();
        self
    }

    pub fn allowed_outbound_hosts(mut self, hosts: &[&str]) -> Self {
        self.allowed = hosts.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.push((name.to_string(), value.to_string()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.sandbox.environment.push((name.to_string(), value.to_string()));
        self
    }

    pub fn ai_models(mut self, models: &[&str]) -> Self {
        self.sandbox.ai_models = models.iter().map(|s| s.to_string()).collect::<Vec<_>>().into();
        self
    }

    /// Model backends for this harness alone (it then gets its own runtime).
    pub fn models(mut self, models: Models) -> Self {
        self.models = Some(models);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.sandbox.timeout = timeout;
        self
    }

    pub fn memory_limit_mb(mut self, mb: u64) -> Self {
        self.sandbox.memory_limit = mb * 1024 * 1024;
        self
    }

    pub fn pooling(mut self, pooling: bool) -> Self {
        self.pooling = pooling;
        self
    }

    pub fn build(mut self) -> Result<Harness> {
        let bytes = std::fs::read(wasm_path(&self.name))?;
        self.sandbox.allowed_hosts = Arc::new(AllowedHosts::parse(&self.allowed)?);
        self.sandbox.variables = ComponentVariables::from_pairs(self.variables);
        // Each harness gets its own key-value stores, so tests never share state.
        let key_value = Arc::new(KeyValueStores::memory());
        let models = Arc::new(self.models.unwrap_or_default());
        let services = Services::new(key_value.clone(), models.clone());
        let router = Arc::new(Router::default());
        let internal: Arc<dyn InternalRequests> = router.clone();
        let _ = services.internal.set(Arc::downgrade(&internal));
        let base = shared_runtime(self.pooling)?;
        let runtime = Arc::new(Runtime::new_sharing(base, services)?);
        let template = runtime.load(&self.id, &bytes, self.sandbox).context("loading the component")?;
        Ok(Harness { runtime, template, key_value, models, router, _internal: internal })
    }
}

/// A loaded component under test.
pub struct Harness {
    runtime: Arc<Runtime>,
    template: Arc<Template>,
    key_value: Arc<KeyValueStores>,
    models: Arc<Models>,
    router: Arc<Router>,
    _internal: Arc<dyn InternalRequests>,
}

/// What a component under test reaches at `*.spin.internal`: the event
/// router (publications are recorded) and the peers chained to it.
#[derive(Default)]
struct Router {
    published: Mutex<Vec<Event>>,
    peers: Mutex<HashMap<String, Arc<Template>>>,
}

#[async_trait]
impl InternalRequests for Router {
    async fn handle(
        &self,
        _caller: &str,
        target: &str,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>> {
        let respond = |status: u16, body: serde_json::Value| {
            let mut response = http::Response::new(Bytes::from(body.to_string()));
            *response.status_mut() = http::StatusCode::from_u16(status).expect("a valid status");
            response
        };
        if target == "event-router" {
            let (parts, body) = request.into_parts();
            return Ok(match agent_store_events::binding::decode(&parts.headers, body.to_vec()) {
                Ok(events) => {
                    let count = events.len();
                    self.published.lock().unwrap().extend(events);
                    respond(202, serde_json::json!({ "accepted": count }))
                }
                Err(e) => respond(400, serde_json::json!({ "error": e.0 })),
            });
        }
        let peer = self.peers.lock().unwrap().get(target).cloned();
        match peer {
            Some(peer) => {
                let outcome = peer.call(request, &CallContext::default()).await;
                outcome.result.map_err(|e| anyhow::anyhow!("{target}: {e}\n{}", outcome.output))
            }
            None => Ok(respond(
                404,
                serde_json::json!({ "error": format!("no component `{target}` chained to this harness") }),
            )),
        }
    }
}

/// What one delivery produced.
#[derive(Debug)]
pub struct Sent {
    pub delivery: Delivery,
}

impl Sent {
    /// The emitted events, or the failure as an error (with the guest's
    /// output, which is what one needs to see when a test fails).
    pub fn events(&self) -> Result<Vec<Event>> {
        match &self.delivery.result {
            Ok(events) => Ok(events.clone()),
            Err(e) => bail!("delivery failed: {e}\n--- component output ---\n{}", self.delivery.output),
        }
    }

    /// The single emitted event of type `ty`.
    pub fn one(&self, ty: &str) -> Result<Event> {
        let events = self.events()?;
        let mut matching = events.iter().filter(|e| e.ty() == ty);
        match (matching.next(), matching.next()) {
            (Some(event), None) => Ok(event.clone()),
            _ => bail!(
                "expected exactly one {ty} event, got: {:?}\n--- component output ---\n{}",
                events.iter().map(|e| e.ty().to_string()).collect::<Vec<_>>(),
                self.delivery.output
            ),
        }
    }

    pub fn error(&self) -> Option<&DeliveryError> {
        self.delivery.result.as_ref().err()
    }

    pub fn output(&self) -> &str {
        &self.delivery.output
    }
}

impl Harness {
    pub fn builder(name: &str) -> HarnessBuilder {
        HarnessBuilder {
            name: name.to_string(),
            id: name.replace('_', "-"),
            sandbox: Sandbox::default(),
            allowed: Vec::new(),
            variables: Vec::new(),
            pooling: true,
            models: None,
        }
    }

    pub fn template(&self) -> &Arc<Template> {
        &self.template
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn models(&self) -> &Arc<Models> {
        &self.models
    }

    /// Delivers one event and waits for the outcome.
    pub async fn send(&self, event: Event) -> Sent {
        let brand = event.extension("brand").map(|v| v.to_string());
        Sent { delivery: self.template.deliver(&event, &CallContext { brand }).await }
    }

    /// Sends a plain HTTP request to the component's handler.
    pub async fn http(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>> {
        let outcome = self.template.call(request, &CallContext::default()).await;
        outcome.result.map_err(|e| anyhow::anyhow!("{e}\n--- component output ---\n{}", outcome.output))
    }

    /// The events the component published through the event router (from
    /// its HTTP routes), oldest first.
    pub fn published(&self) -> Vec<Event> {
        self.router.published.lock().unwrap().clone()
    }

    /// Takes the published events, leaving none.
    pub fn take_published(&self) -> Vec<Event> {
        std::mem::take(&mut *self.router.published.lock().unwrap())
    }

    /// Makes `peer` reachable from this component at
    /// `http://<peer id>.spin.internal` (Spin's local service chaining).
    pub fn chain(&self, peer: &Harness) {
        self.router.peers.lock().unwrap().insert(peer.template.id.to_string(), peer.template.clone());
    }

    /// Everything in a key-value store, sorted by key.
    pub async fn stored(&self, store: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.key_value.dump(store).await
    }

    /// Writes a value before a test, as if the component had.
    pub async fn store(&self, store: &str, key: &str, value: &[u8]) -> Result<()> {
        self.key_value.open(store).set(key, value).await
    }
}
