//! The running application: the manifest's components loaded into the
//! runtime, their subscriptions on the broker, and the one way events come
//! in ([`ingress`]) and go out again ([`Dispatcher`](dispatch)).
//!
//! ```text
//!  POST /events ───────┐ (producer token)
//!  route → event-router├─► App::ingest ─► decode ─► authorize ─► bound ─► stamp ─► tap ─► Broker
//!   (component's scope)┘                                                                 │
//!                                          ┌─────────── subscription queue ◄────────────┘
//!                                          ▼
//!                         Dispatcher ─► component ─► outputs: stamp caused ─► authorize ─► tap
//!                                                     └─► Outcome::Done ─► the broker publishes,
//!                                                         dead-letters the refused, then acks
//! ```

mod dispatch;
pub mod ingress;
mod internal;
pub mod swap;
pub mod tap;
pub mod trace;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent_store_manifest::{Manifest, Route, RoutePattern};
use agent_store_runtime::capabilities::key_value::staged::Transaction;
use agent_store_runtime::capabilities::variables::AppVariables;
use agent_store_runtime::{CallContext, ComponentPre, Runtime, Sandbox};
use anyhow::{Context, Result, bail};
use arc_swap::ArcSwap;

use self::dispatch::Dispatcher;
pub use self::ingress::{EmitScope, IngressError, Producer, Producers, Publisher};
use self::internal::Chained;
use self::tap::Tap;
pub use self::trace::Cause;
use crate::broker::{Broker, Filter, Subscription};

/// The component name whose `*.spin.internal` address publishes events.
pub const EVENT_ROUTER: &str = "event-router";

/// Hops an event chain may take before the host calls it a loop.
pub const DEFAULT_MAX_DEPTH: u32 = 16;

/// Settings of the application layer.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub data_dir: PathBuf,
    /// Where built components are looked up when a manifest `source` path
    /// does not exist (a `CARGO_TARGET_DIR` elsewhere).
    pub wasm_dir: Option<PathBuf>,
    pub max_depth: u32,
    /// The other replicas sharing this host's Redis, when there are any to
    /// share with: a deploy switches all of them (`crate::cluster`).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Serve only these components (`up --components`): one agent per
    /// Knative Service. `None`: every component the manifest runs.
    pub only: Option<Vec<String>>,
}

impl AppOptions {
    /// Whether this host serves `id` at all.
    pub fn serves(&self, id: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|o| o == id))
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".agent-store"),
            wasm_dir: None,
            max_depth: DEFAULT_MAX_DEPTH,
            cluster: None,
            only: None,
        }
    }
}

/// One HTTP route of the manifest.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub pattern: RoutePattern,
    pub component: String,
}

/// The manifest a component came from: the one the host started with, or
/// a deployed package (`docs/hot-swap.md`).
pub struct Package {
    pub manifest: Manifest,
    /// The deployed package's digest; `None` for the host's own manifest.
    pub digest: Option<String>,
}

/// A loaded component: its compiled version, what it may emit, and what
/// the broker and the router need of it.
pub struct Component {
    pub pre: Arc<ComponentPre>,
    pub scope: EmitScope,
    pub package: Arc<Package>,
    pub subscription: Option<Subscription>,
    pub routes: Vec<HttpRoute>,
    /// When this version started serving.
    pub since: chrono::DateTime<chrono::Utc>,
}

impl Component {
    /// The sha256 of its `.wasm`.
    pub fn version(&self) -> &str {
        &self.pre.digest
    }
}

/// What serves: components and routes, swapped together in one step so
/// that a request never sees a route without its component.
#[derive(Default, Clone)]
pub(crate) struct Table {
    pub(crate) components: HashMap<String, Arc<Component>>,
    /// Most specific first, as Spin picks them.
    pub(crate) routes: Vec<HttpRoute>,
}

impl Table {
    fn new(components: HashMap<String, Arc<Component>>) -> Self {
        let mut routes: Vec<HttpRoute> = components.values().flat_map(|c| c.routes.iter().cloned()).collect();
        routes.sort_by(|a, b| {
            b.pattern
                .specificity()
                .cmp(&a.pattern.specificity())
                .then_with(|| a.pattern.as_str().cmp(b.pattern.as_str()))
        });
        Self { components, routes }
    }
}

pub struct App {
    inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) manifest: Manifest,
    pub(crate) runtime: Arc<Runtime>,
    /// Looked up per event and per request, so that a version swapped in
    /// takes the next one while in-flight calls finish on theirs.
    pub(crate) table: ArcSwap<Table>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) tap: Tap,
    pub(crate) options: AppOptions,
    /// Deploys, rollbacks and removals one at a time.
    pub(crate) swapping: tokio::sync::Mutex<()>,
    /// Every version prepared since start, by (component, version): a
    /// rollback switches to one of these without compiling.
    pub(crate) prepared: std::sync::Mutex<HashMap<(String, String), Arc<Component>>>,
    pub(crate) versions: Arc<crate::deploy::Versions>,
    /// Cutovers this replica prepared for another's coordinator, waiting
    /// for its commit or abort.
    pub(crate) pending: std::sync::Mutex<HashMap<String, Vec<swap::Step>>>,
    /// Components whose last switch failed (the broker refused the
    /// subscription, the disk the record), with why: `/readyz` says so
    /// until a switch of theirs succeeds. A component that fails to load
    /// at start stops the host instead.
    pub(crate) failed: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl App {
    /// Loads every component the manifest needs, then the versions deployed
    /// since (they outlive a restart), refusing the whole application if
    /// any of them is wrong.
    pub async fn load(
        manifest: Manifest,
        runtime: Arc<Runtime>,
        broker: Arc<dyn Broker>,
        options: AppOptions,
    ) -> Result<Self> {
        manifest.validate()?;
        crate::metrics::metrics().add_manifest(&manifest);
        let versions = crate::deploy::Versions::open(&options.data_dir)?;
        let package = Arc::new(Package { manifest: manifest.clone(), digest: None });
        let mut components = HashMap::new();
        let active = manifest.active_components()?;
        // A component deployed since (a brand's seller) is served from its
        // deployed version, as a new pod for it comes up on Knative.
        let deployed = |id: &str| {
            versions
                .record(id)
                .is_some_and(|r| r.current.is_some() && r.state == crate::deploy::ComponentState::Running)
        };
        for id in options.only.iter().flatten() {
            if !active.contains(id) && !deployed(id) {
                bail!(
                    "--components {id}: neither the manifest nor a deploy runs such a component (the manifest runs {})",
                    active.join(", ")
                );
            }
            if active.contains(id) && manifest.tool(id)?.router {
                bail!("--components {id}: the event router is replaced by the host's broker, it is not served");
            }
        }
        // Each component loads on a task of its own: reading, hashing and
        // taking a compiled component from the cache are mostly CPU, and
        // one after the other they left all but one core idle at start.
        let versions = Arc::new(versions);
        let mut loading = tokio::task::JoinSet::new();
        for id in active.into_iter().filter(|id| options.serves(id)) {
            if manifest.tool(&id)?.router {
                // The host's own broker does what this component does under Spin.
                continue;
            }
            let path = locate_source(&manifest, &id, options.wasm_dir.as_deref())?;
            let (runtime, options, package, versions) =
                (runtime.clone(), options.clone(), package.clone(), versions.clone());
            loading.spawn(async move {
                let bytes = bytes::Bytes::from(
                    std::fs::read(&path).with_context(|| format!("component `{id}`: reading {}", path.display()))?,
                );
                let digest = agent_store_runtime::cache::digest(&bytes);
                // Kept by content, so that this version can be rolled back to
                // after a deploy even once the file on disk has changed.
                versions.keep_later(digest.clone(), bytes.clone());
                let component = prepare(&runtime, &options, &package, &id, bytes, digest).await?;
                tracing::info!(component = %id, version = &component.pre.digest[..12], origin = ?component.pre.origin, "component ready");
                anyhow::Ok((id, component))
            });
        }
        // The first failure stops the start; dropping the set aborts the rest.
        let loaded = async {
            while let Some(loaded) = loading.join_next().await {
                let (id, component) = loaded.context("a component's loading task ended abnormally")??;
                components.insert(id, component);
            }
            anyhow::Ok(())
        }
        .await;
        // Written once the loading no longer needs the cores, failed or not:
        // a reader of a noted blob waits for it.
        versions.write_kept();
        loaded?;
        let inner = Arc::new(AppInner {
            manifest,
            table: ArcSwap::from_pointee(Table::new(components)),
            broker,
            tap: Tap::default(),
            options,
            runtime,
            swapping: tokio::sync::Mutex::new(()),
            prepared: std::sync::Mutex::new(HashMap::new()),
            versions,
            pending: std::sync::Mutex::new(HashMap::new()),
            failed: Default::default(),
        });
        inner.restore_deploys().await?;
        Ok(Self { inner })
    }

    /// Subscribes every component to its events: after this, events flow.
    pub async fn start(&self) -> Result<()> {
        let table = self.inner.table.load_full();
        let mut ids: Vec<&String> = table.components.keys().collect();
        ids.sort();
        for id in ids {
            let Some(subscription) = table.components[id].subscription.clone() else { continue };
            self.inner.subscribe(subscription).await?;
        }
        if let Some(cluster) = self.inner.options.cluster.clone() {
            let (commands, subscribed) = cluster.listen();
            // Counted alive only once it hears cutovers, so none passes it by.
            tokio::time::timeout(Duration::from_secs(10), subscribed)
                .await
                .context("subscribing to the replicas' control channel: timed out")?
                .context("the replicas' control channel closed")?;
            self.inner.follow(cluster, commands);
        }
        Ok(())
    }

    /// Takes events in: decoded from an HTTP body, checked against what
    /// `publisher` may publish and the bounds, stamped, tapped and
    /// published. `Ok` means the broker has them all; an error publishes
    /// none.
    pub async fn ingest(
        &self,
        publisher: &Publisher,
        headers: &http::HeaderMap,
        body: Vec<u8>,
    ) -> Result<Vec<String>, IngressError> {
        self.inner.ingest(publisher, headers, body).await
    }

    pub fn component(&self, id: &str) -> Option<Arc<Component>> {
        self.inner.component(id)
    }

    pub fn components(&self) -> Vec<Arc<Component>> {
        let mut all: Vec<_> = self.inner.table.load().components.values().cloned().collect();
        all.sort_by(|a, b| a.pre.id.cmp(&b.pre.id));
        all
    }

    /// What a call to `component` from outside (an HTTP route) runs with:
    /// its requests to `*.spin.internal` reach the application, and what it
    /// publishes starts a new chain.
    pub fn call_context(&self, component: &str) -> CallContext {
        self.inner.call_context(component, None, None, None)
    }

    /// The routes now, most specific first.
    pub fn routes(&self) -> Vec<HttpRoute> {
        self.inner.table.load().routes.clone()
    }

    /// The subscriptions now, by component.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.components().iter().filter_map(|c| c.subscription.clone()).collect()
    }

    pub fn tap(&self) -> &Tap {
        &self.inner.tap
    }

    /// Components that do not serve as they should, with why.
    pub fn failed_components(&self) -> Vec<(String, String)> {
        self.inner.failed.lock().unwrap().iter().map(|(id, why)| (id.clone(), why.clone())).collect()
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.broker
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.inner.runtime
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The route a path belongs to, most specific first, as Spin picks it,
    /// with the component serving it now.
    pub fn route_for(&self, path: &str) -> Option<(HttpRoute, agent_store_manifest::RouteMatch, Arc<Component>)> {
        let table = self.inner.table.load();
        let (route, matched) = table.routes.iter().find_map(|r| r.pattern.matches(path).map(|m| (r, m)))?;
        let component = table.components.get(&route.component)?.clone();
        Some((route.clone(), matched, component))
    }

    /// Stops deliveries and lets in-flight events finish.
    pub async fn shutdown(&self, grace: Duration) {
        if let Some(cluster) = &self.inner.options.cluster {
            cluster.leave().await;
        }
        self.inner.broker.shutdown(grace).await;
    }
}

/// Compiles (or takes from the cache) one component of `package`, with the
/// sandbox, subscription and routes the package gives it. Nothing serves
/// it yet. `digest` is `bytes`' ([`agent_store_runtime::cache::digest`]),
/// which the caller has at hand: a kept blob is named by the digest its
/// upload was checked against (`Versions::put_blob`), and a manifest's
/// file is hashed once as it is read (`App::load`).
pub(crate) async fn prepare(
    runtime: &Arc<Runtime>,
    options: &AppOptions,
    package: &Arc<Package>,
    id: &str,
    bytes: bytes::Bytes,
    digest: String,
) -> Result<Arc<Component>> {
    let manifest = &package.manifest;
    crate::metrics::metrics().add_manifest(manifest);
    let tool = manifest.tool(id)?;
    let variables = AppVariables::resolve(manifest, |name| std::env::var(name).ok())?;
    // One staging directory per version: a new version's files never
    // change under the old one's feet while it finishes its calls.
    let staging = options.data_dir.join("files").join(&digest[..16]);
    let sandbox = Sandbox::from_manifest(manifest, id, &variables, &staging)?;
    let pre = runtime.clone().load_initialized_as(id, bytes, digest, sandbox).await?;
    let subscription = (!tool.subscribe.is_empty()).then(|| Subscription {
        component: id.to_string(),
        filters: tool.subscribe.iter().map(Filter::from).collect(),
        concurrency: tool.concurrency(),
    });
    let routes = routes_of(manifest, id)?;
    Ok(Arc::new(Component {
        pre,
        scope: EmitScope::from_tool(&tool),
        package: package.clone(),
        subscription,
        routes,
        since: chrono::Utc::now(),
    }))
}

impl AppInner {
    /// The context of one call of `component`: `cause` is the event being
    /// handled (`None` for a request from outside), which what the call
    /// publishes continues.
    /// What one call of `component` may reach. `transaction`: the
    /// delivery it is part of, whose staged writes its key-value calls join
    /// (and those of the components it calls in turn).
    pub(crate) fn call_context(
        self: &Arc<Self>,
        component: &str,
        cause: Option<Cause>,
        brand: Option<String>,
        transaction: Option<Arc<Transaction>>,
    ) -> CallContext {
        let chained = Chained::new(Arc::downgrade(self), Arc::from(component), cause, transaction.clone());
        CallContext { brand, internal: Some(Arc::new(chained)), transaction }
    }

    pub(crate) fn component(&self, id: &str) -> Option<Arc<Component>> {
        self.table.load().components.get(id).cloned()
    }

    /// Starts (or, for a deploy, updates) one component's subscription.
    pub(crate) async fn subscribe(self: &Arc<Self>, subscription: Subscription) -> Result<()> {
        let component = subscription.component.clone();
        let filters: Vec<String> = subscription.filters.iter().map(|f| f.event_type.clone()).collect();
        let handler = Arc::new(Dispatcher::new(Arc::downgrade(self), component.clone()));
        self.broker.subscribe(subscription, handler).await.with_context(|| format!("subscribing `{component}`"))?;
        tracing::info!(component, ?filters, "subscribed");
        Ok(())
    }
}

/// The routes `id` asks for in `manifest`.
pub(crate) fn routes_of(manifest: &Manifest, id: &str) -> Result<Vec<HttpRoute>> {
    manifest
        .trigger
        .http
        .iter()
        .filter(|t| t.component == id)
        .filter_map(|t| match &t.route {
            Route::Path(path) => Some(path),
            Route::Private { .. } => None,
        })
        .map(|path| Ok(HttpRoute { pattern: RoutePattern::parse(path)?, component: id.to_string() }))
        .collect()
}

/// The component's file: the manifest's path, or the same file name in the
/// directory the build put it in.
pub(crate) fn locate_source(manifest: &Manifest, id: &str, wasm_dir: Option<&Path>) -> Result<PathBuf> {
    let path = manifest.source_path(id)?;
    if path.exists() {
        return Ok(path);
    }
    if let (Some(dir), Some(name)) = (wasm_dir, path.file_name()) {
        let alternative = dir.join(name);
        if alternative.exists() {
            return Ok(alternative);
        }
    }
    bail!("component `{id}`: {} does not exist; build the components first (`cargo xtask build`)", path.display())
}

pub(crate) fn log_output(component: &str, output: &str) {
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(component, "guest: {line}");
    }
}

pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> http::Response<bytes::Bytes> {
    let mut response = http::Response::new(bytes::Bytes::from(body.to_string()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}
