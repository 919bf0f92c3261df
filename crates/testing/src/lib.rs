//! Component unit tests via wasmtime.
//!
//! [`Harness`] loads a built component into the same runtime the host uses
//! (same engine settings, same capabilities), with the sandbox its entry in
//! the repository's `spin.toml` gives it ([`Harness::component`]), so that
//! a test and the store cannot disagree about what a component may do. It
//! delivers events over the CloudEvents HTTP binding and shows what the
//! component emitted, printed and stored.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use agent_store_testing::{Harness, event};
//! use serde_json::json;
//!
//! let catalog = Harness::component("product-catalog").build()?;
//! let delivery = catalog.send(event("store.product.query", json!({ "request_id": "r1", "text": "dress" }))).await;
//! let replies = delivery.events()?;
//! assert_eq!(replies[0].ty(), "store.product.query.result");
//! # use cloudevents::AttributesReader;
//! # Ok(()) }
//! ```
//!
//! Components are found in `AGENT_STORE_WASM_DIR`, or else in
//! `<target>/wasm32-wasip2/release/`, where `cargo xtask build` puts them.
//! The manifest's variables take the demo values of `demo.env`, which a
//! test overrides per component variable with [`HarnessBuilder::variable`].

#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agent_store_manifest::Manifest;
use agent_store_runtime::capabilities::key_value::KeyValueStores;
use agent_store_runtime::capabilities::llm::Models;
use agent_store_runtime::capabilities::outbound_http::{AllowedHosts, InternalRequests};
use agent_store_runtime::capabilities::variables::{AppVariables, ComponentVariables};
use agent_store_runtime::{
    CallContext, CallOutcome, ComponentPre, Delivery, DeliveryError, Runtime, RuntimeConfig, Sandbox, Services,
};
use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use bytes::Bytes;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};

pub use agent_store_runtime as runtime;

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
    let config = RuntimeConfig { pooling, cache_dir: Some(std::env::temp_dir().join("agent-store-test-cache")) };
    let runtime = Runtime::new(&config, Services::in_memory())?;
    Ok(cell.get_or_init(|| runtime))
}

/// The repository's `spin.toml`, parsed once.
fn repository_manifest() -> Result<&'static Manifest> {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    if let Some(manifest) = MANIFEST.get() {
        return Ok(manifest);
    }
    let manifest = Manifest::load(&workspace_root().join("spin.toml"))?;
    manifest.validate()?;
    Ok(MANIFEST.get_or_init(|| manifest))
}

/// The `KEY=value` lines of the repository's `demo.env`: the values the
/// manifest's variables take in a harness.
pub fn demo_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("demo.env")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Where a harness's component and sandbox come from.
enum Origin {
    /// `[component.<id>]` of the repository's `spin.toml`.
    Manifest,
    /// A built file by name, with a sandbox set up by hand (test components).
    File(String),
}

/// Sets a harness up: the component, then what a test changes of its
/// sandbox.
pub struct HarnessBuilder {
    origin: Origin,
    id: String,
    sandbox: Sandbox,
    allowed: Option<Vec<String>>,
    variables: Vec<(String, String)>,
    app_variables: Vec<(String, String)>,
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

    /// Mounts a host directory read-only at `guest`.
    pub fn mount_host_dir(mut self, host: impl Into<PathBuf>, guest: &str) -> Self {
        self.sandbox.mounts.push((host.into(), guest.to_string()));
        self
    }

    /// The key-value stores it may open (a hand-made sandbox).
    pub fn key_value_stores(mut self, labels: &[&str]) -> Self {
        self.sandbox.key_value_stores = labels.iter().map(|s| s.to_string()).collect::<Vec<_>>().into();
        self
    }

    /// Replaces its `allowed_outbound_hosts` (a fake server on 127.0.0.1).
    pub fn allowed_outbound_hosts(mut self, hosts: &[&str]) -> Self {
        self.allowed = Some(hosts.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Gives a component variable this value instead of the manifest's.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.push((name.to_string(), value.to_string()));
        self
    }

    /// Gives an application variable this value instead of `demo.env`'s
    /// (it reaches the component through its variables and hosts).
    pub fn app_variable(mut self, name: &str, value: &str) -> Self {
        self.app_variables.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets an environment variable of the component.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.sandbox.environment.push((name.to_string(), value.to_string()));
        self
    }

    /// The models it may use (a hand-made sandbox).
    pub fn ai_models(mut self, models: &[&str]) -> Self {
        self.sandbox.ai_models = models.iter().map(|s| s.to_string()).collect::<Vec<_>>().into();
        self
    }

    /// Model backends for this harness alone (it then gets its own runtime).
    pub fn models(mut self, models: Models) -> Self {
        self.models = Some(models);
        self
    }

    /// Its time limit per call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.sandbox.timeout = timeout;
        self
    }

    /// Its memory limit per instance.
    pub fn memory_limit_mb(mut self, mb: u64) -> Self {
        self.sandbox.memory_limit = mb * 1024 * 1024;
        self
    }

    /// The pooling allocator (the default) or the on-demand one.
    pub fn pooling(mut self, pooling: bool) -> Self {
        self.pooling = pooling;
        self
    }

    /// The sandbox of `[component.<id>]`, with the demo values and this
    /// builder's overrides for variables; its limits as set here.
    fn manifest_sandbox(&self, staging: &Path) -> Result<(PathBuf, Sandbox)> {
        let manifest = repository_manifest()?;
        let mut env: HashMap<String, String> = demo_env().into_iter().collect();
        for (name, value) in &self.app_variables {
            env.insert(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value.clone());
        }
        let variables = AppVariables::resolve(manifest, |name| env.get(name).cloned())?;
        let mut sandbox = Sandbox::from_manifest(manifest, &self.id, &variables, staging)?;
        sandbox.mounts.extend(self.sandbox.mounts.iter().cloned());
        sandbox.environment.extend(self.sandbox.environment.iter().cloned());
        sandbox.timeout = self.sandbox.timeout;
        sandbox.memory_limit = self.sandbox.memory_limit;
        let file = manifest.source_path(&self.id)?;
        let name = file.file_name().context("the manifest's source names no file")?;
        Ok((wasm_dir().join(name), sandbox))
    }

    /// Loads the component.
    pub fn build(self) -> Result<Harness> {
        let staging = tempfile::tempdir()?;
        let (path, mut sandbox) = match &self.origin {
            Origin::Manifest => self.manifest_sandbox(staging.path())?,
            Origin::File(name) => (wasm_path(name), self.sandbox.clone()),
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if let Some(allowed) = &self.allowed {
            sandbox.allowed_hosts = Arc::new(AllowedHosts::parse(allowed)?);
        }
        if !self.variables.is_empty() {
            sandbox.variables = match self.origin {
                Origin::Manifest => sandbox.variables.with(self.variables),
                Origin::File(_) => ComponentVariables::from_pairs(self.variables),
            };
        }
        // Each harness gets its own key-value stores, so tests never share state.
        let key_value = Arc::new(KeyValueStores::memory());
        let models = Arc::new(self.models.unwrap_or_default());
        let services = Services::new(key_value.clone(), models.clone());
        let base = shared_runtime(self.pooling)?;
        let runtime = Arc::new(Runtime::new_sharing(base, services));
        let component = if agent_store_runtime::init::exports_init(&bytes) {
            initialized(&runtime, &self.id, bytes, sandbox)?
        } else {
            runtime.load(&self.id, &bytes, sandbox).context("loading the component")?
        };
        let router = Arc::new(Router::default());
        Ok(Harness { runtime, component, key_value, models, router, _staging: staging })
    }
}

/// A component with an `init`, initialized as the host does it. The first
/// harness takes the snapshot and the others find it in the disk cache,
/// rather than every test compiling it at once. Its own thread and runtime,
/// because a harness is built from sync and async tests alike.
fn initialized(runtime: &Arc<Runtime>, id: &str, bytes: Vec<u8>, sandbox: Sandbox) -> Result<Arc<ComponentPre>> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (runtime, id) = (runtime.clone(), id.to_string());
    std::thread::spawn(move || {
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let loaded = tokio.block_on(runtime.load_initialized(&id, bytes, sandbox));
        loaded.with_context(|| format!("loading and initializing `{id}`"))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("initializing the component panicked"))?
}

/// A loaded component under test.
pub struct Harness {
    runtime: Arc<Runtime>,
    component: Arc<ComponentPre>,
    key_value: Arc<KeyValueStores>,
    models: Arc<Models>,
    router: Arc<Router>,
    _staging: tempfile::TempDir,
}

/// What a component under test reaches at `*.spin.internal`: the event
/// router (publications are recorded) and the peers chained to it, each
/// with its own router.
#[derive(Default)]
struct Router {
    published: Mutex<Vec<Event>>,
    peers: Mutex<HashMap<String, (Arc<ComponentPre>, Arc<Router>)>>,
}

impl Router {
    fn context(self: &Arc<Self>, brand: Option<String>) -> CallContext {
        let internal: Arc<dyn InternalRequests> = self.clone();
        CallContext { brand, internal: Some(internal), transaction: None }
    }
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
                Err(e) => respond(400, serde_json::json!({ "error": e.to_string() })),
            });
        }
        let peer = self.peers.lock().unwrap().get(target).cloned();
        match peer {
            Some((peer, router)) => {
                let outcome = peer.call(request, &router.context(None)).await;
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
    /// The outcome as the runtime reports it.
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

    /// Why the delivery failed, if it did.
    pub fn error(&self) -> Option<&DeliveryError> {
        self.delivery.result.as_ref().err()
    }

    /// What the component printed.
    pub fn output(&self) -> &str {
        &self.delivery.output
    }
}

impl Harness {
    /// The component `[component.<id>]` of the repository's `spin.toml`
    /// describes, with its sandbox from there.
    pub fn component(id: &str) -> HarnessBuilder {
        Self::new_builder(Origin::Manifest, id)
    }

    /// A built component by file name (`probe` for `probe.wasm`) with a
    /// sandbox set up by hand: for test components that are not in
    /// `spin.toml`.
    pub fn builder(name: &str) -> HarnessBuilder {
        Self::new_builder(Origin::File(name.to_string()), &name.replace('_', "-"))
    }

    fn new_builder(origin: Origin, id: &str) -> HarnessBuilder {
        HarnessBuilder {
            origin,
            id: id.to_string(),
            sandbox: Sandbox::default(),
            allowed: None,
            variables: Vec::new(),
            app_variables: Vec::new(),
            pooling: true,
            models: None,
        }
    }

    /// The loaded component.
    pub fn component_pre(&self) -> &Arc<ComponentPre> {
        &self.component
    }

    /// The runtime it was loaded into.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Its model backends.
    pub fn models(&self) -> &Arc<Models> {
        &self.models
    }

    /// Delivers one event and waits for the outcome.
    pub async fn send(&self, event: Event) -> Sent {
        let brand = event.extension("brand").map(|v| v.to_string());
        Sent { delivery: self.component.deliver(&event, &self.router.context(brand)).await }
    }

    /// Delivers one event over the HTTP binding even when the component has
    /// the direct export: the path `spin up` and Knative take.
    pub async fn send_over_http(&self, event: Event) -> Sent {
        let brand = event.extension("brand").map(|v| v.to_string());
        Sent { delivery: self.component.deliver_over_http(&event, &self.router.context(brand)).await }
    }

    /// Sends a plain HTTP request to the component's handler; the outcome
    /// keeps what the component printed.
    pub async fn call(&self, request: http::Request<Bytes>) -> CallOutcome {
        self.component.call(request, &self.router.context(None)).await
    }

    /// Sends a plain HTTP request to the component's handler.
    pub async fn http(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>> {
        let outcome = self.component.call(request, &self.router.context(None)).await;
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
        let entry = (peer.component.clone(), peer.router.clone());
        self.router.peers.lock().unwrap().insert(peer.component.id.to_string(), entry);
    }

    /// Everything in a key-value store, sorted by key.
    pub async fn stored(&self, store: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.key_value.dump(store).await
    }

    /// Writes a value before a test, as if the component had.
    pub async fn store(&self, store: &str, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.key_value.open(store).set(key, value).await?)
    }
}
