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
pub mod tap;
pub mod trace;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent_store_manifest::{Manifest, Route, RoutePattern};
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
}

impl Default for AppOptions {
    fn default() -> Self {
        Self { data_dir: PathBuf::from(".agent-store"), wasm_dir: None, max_depth: DEFAULT_MAX_DEPTH }
    }
}

/// One HTTP route of the manifest.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub pattern: RoutePattern,
    pub component: String,
}

/// A loaded component: its compiled version and what it may emit.
pub struct Component {
    pub pre: Arc<ComponentPre>,
    pub scope: EmitScope,
}

pub struct App {
    inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) manifest: Manifest,
    pub(crate) runtime: Arc<Runtime>,
    /// Looked up per event and per request, so that a version swapped in
    /// takes the next one while in-flight calls finish on theirs.
    pub(crate) components: ArcSwap<HashMap<String, Arc<Component>>>,
    pub(crate) routes: Vec<HttpRoute>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) tap: Tap,
    pub(crate) options: AppOptions,
    subscriptions: Vec<Subscription>,
}

impl App {
    /// Loads every component the manifest needs, refusing the whole
    /// application if any of them is wrong.
    pub async fn load(
        manifest: Manifest,
        runtime: Arc<Runtime>,
        broker: Arc<dyn Broker>,
        options: AppOptions,
    ) -> Result<Self> {
        manifest.validate()?;
        let variables = AppVariables::resolve(&manifest, |name| std::env::var(name).ok())?;
        let staging = options.data_dir.join("files");
        let mut components = HashMap::new();
        let mut subscriptions = Vec::new();
        for id in manifest.active_components()? {
            let tool = manifest.tool(&id)?;
            if tool.router {
                // The host's own broker does what this component does under Spin.
                continue;
            }
            let path = locate_source(&manifest, &id, options.wasm_dir.as_deref())?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("component `{id}`: reading {}", path.display()))?;
            let sandbox = Sandbox::from_manifest(&manifest, &id, &variables, &staging)?;
            let pre = tokio::task::block_in_place(|| runtime.load(&id, &bytes, sandbox))?;
            tracing::info!(component = %id, version = &pre.digest[..12], origin = ?pre.origin, "component ready");
            if !tool.subscribe.is_empty() {
                subscriptions.push(Subscription {
                    component: id.clone(),
                    filters: tool.subscribe.iter().map(Filter::from).collect(),
                    concurrency: tool.concurrency(),
                });
            }
            let scope = EmitScope::from_tool(&tool);
            components.insert(id, Arc::new(Component { pre, scope }));
        }
        let mut routes: Vec<HttpRoute> = manifest
            .trigger
            .http
            .iter()
            .filter_map(|t| match &t.route {
                Route::Path(path) if components.contains_key(&t.component) => Some((path, &t.component)),
                _ => None,
            })
            .map(|(path, component)| {
                Ok(HttpRoute { pattern: RoutePattern::parse(path)?, component: component.clone() })
            })
            .collect::<Result<_>>()?;
        routes.sort_by_key(|r| std::cmp::Reverse(r.pattern.specificity()));

        let inner = Arc::new(AppInner {
            manifest,
            components: ArcSwap::from_pointee(components),
            routes,
            broker,
            tap: Tap::default(),
            options,
            subscriptions,
            runtime,
        });
        Ok(Self { inner })
    }

    /// Subscribes every component to its events: after this, events flow.
    pub async fn start(&self) -> Result<()> {
        for subscription in &self.inner.subscriptions {
            let handler = Arc::new(Dispatcher::new(Arc::downgrade(&self.inner), subscription.component.clone()));
            self.inner
                .broker
                .subscribe(subscription.clone(), handler)
                .await
                .with_context(|| format!("subscribing `{}`", subscription.component))?;
            tracing::info!(
                component = %subscription.component,
                filters = ?subscription.filters.iter().map(|f| f.event_type.as_str()).collect::<Vec<_>>(),
                "subscribed"
            );
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
        self.inner.components.load().get(id).cloned()
    }

    pub fn components(&self) -> Vec<Arc<Component>> {
        let mut all: Vec<_> = self.inner.components.load().values().cloned().collect();
        all.sort_by(|a, b| a.pre.id.cmp(&b.pre.id));
        all
    }

    /// What a call to `component` from outside (an HTTP route) runs with:
    /// its requests to `*.spin.internal` reach the application, and what it
    /// publishes starts a new chain.
    pub fn call_context(&self, component: &str) -> CallContext {
        self.inner.call_context(component, None, None)
    }

    pub fn routes(&self) -> &[HttpRoute] {
        &self.inner.routes
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.inner.subscriptions
    }

    pub fn tap(&self) -> &Tap {
        &self.inner.tap
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

    /// The route a path belongs to, most specific first, as Spin picks it.
    pub fn route_for(&self, path: &str) -> Option<(&HttpRoute, agent_store_manifest::RouteMatch)> {
        self.inner.routes.iter().find_map(|r| r.pattern.matches(path).map(|m| (r, m)))
    }

    /// Stops deliveries and lets in-flight events finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.broker.shutdown(grace).await;
    }
}

impl AppInner {
    /// The context of one call of `component`: `cause` is the event being
    /// handled (`None` for a request from outside), which what the call
    /// publishes continues.
    pub(crate) fn call_context(
        self: &Arc<Self>,
        component: &str,
        cause: Option<Cause>,
        brand: Option<String>,
    ) -> CallContext {
        let chained = Chained::new(Arc::downgrade(self), Arc::from(component), cause);
        CallContext { brand, internal: Some(Arc::new(chained)) }
    }
}

/// The component's file: the manifest's path, or the same file name in the
/// directory the build put it in.
fn locate_source(manifest: &Manifest, id: &str, wasm_dir: Option<&Path>) -> Result<PathBuf> {
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
