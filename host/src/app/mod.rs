//! The running application: the manifest's components loaded into the
//! runtime, their subscriptions on the broker, and the glue between them.
//!
//! ```text
//!  POST /events ─┐                       ┌─► subscription queue ─► Dispatcher ─► component
//!  route handler ├─► App::publish ─► Broker                                          │
//!  (event-router)┘       ▲  (tap)        └─► …                                       │
//!                        └──────────── returned events (depth + 1) ◄─────────────────┘
//! ```

mod dispatch;
pub mod mounts;
pub mod tap;
pub mod trace;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};

use self::dispatch::Dispatcher;
use self::tap::{Tap, TapKind, TapRecord};
use crate::broker::{Broker, Filter, Subscription};
use crate::capabilities::outbound_http::{AllowedHosts, INTERNAL_SUFFIX, InternalRequests};
use crate::capabilities::variables::AppVariables;
use crate::manifest::{Manifest, Route, RoutePattern};
use crate::runtime::{CallContext, CallOutcome, Runtime, Sandbox, Template};

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

pub struct App {
    inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) manifest: Manifest,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) components: ArcSwap<HashMap<String, Arc<Template>>>,
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
            let entry = &manifest.component[&id];
            let path = locate_source(&manifest, &id, options.wasm_dir.as_deref())?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("component `{id}`: reading {}", path.display()))?;
            let component_vars = variables.for_component(&manifest, &id)?;
            let hosts = entry
                .allowed_outbound_hosts
                .iter()
                .map(|h| crate::manifest::expand_template(h, |name| variables.get(name)))
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
            let sandbox = Sandbox {
                allowed_hosts: Arc::new(AllowedHosts::parse(&hosts).with_context(|| format!("component `{id}`"))?),
                key_value_stores: entry.key_value_stores.clone().into(),
                variables: component_vars,
                ai_models: entry.ai_models.clone().into(),
                environment: entry.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                mounts: mounts::resolve(&manifest.root, &id, entry, &staging)
                    .with_context(|| format!("component `{id}`"))?,
                timeout: tool.timeout(),
                memory_limit: tool.memory_limit_bytes(),
                concurrency: tool.concurrency(),
            };
            let template = tokio::task::block_in_place(|| runtime.load(&id, &bytes, sandbox))?;
            tracing::info!(component = %id, version = &template.digest[..12], origin = ?template.origin, "component ready");
            if !tool.subscribe.is_empty() {
                subscriptions.push(Subscription {
                    component: id.clone(),
                    filters: tool.subscribe.iter().map(Filter::from).collect(),
                    concurrency: tool.concurrency(),
                });
            }
            components.insert(id, template);
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
            runtime: runtime.clone(),
        });
        let internal: Arc<dyn InternalRequests> = inner.clone();
        let _ = runtime.services().internal.set(Arc::downgrade(&internal));
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

    /// Publishes events that come from outside (the `/events` ingress).
    pub async fn publish_external(&self, mut events: Vec<Event>) -> Result<()> {
        for event in &mut events {
            trace::stamp_external(event);
        }
        self.inner.publish(&events).await
    }

    pub fn component(&self, id: &str) -> Option<Arc<Template>> {
        self.inner.components.load().get(id).cloned()
    }

    pub fn components(&self) -> Vec<Arc<Template>> {
        let mut all: Vec<_> = self.inner.components.load().values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
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
    pub fn route_for(&self, path: &str) -> Option<(&HttpRoute, crate::manifest::RouteMatch)> {
        self.inner.routes.iter().find_map(|r| r.pattern.matches(path).map(|m| (r, m)))
    }

    /// Stops deliveries and lets in-flight events finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.broker.shutdown(grace).await;
    }
}

impl AppInner {
    pub(crate) async fn publish(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // Tapped as they are handed over, not once the broker confirms: a
        // subscriber may already have handled an event (and published what
        // it caused) by the time `publish` returns, and the tail must show
        // causes before their effects.
        for event in events {
            self.tap.record(TapRecord {
                kind: TapKind::Published,
                event: event.clone(),
                component: None,
                detail: None,
                elapsed_ms: None,
            });
        }
        if let Err(error) = self.broker.publish(events).await {
            for event in events {
                self.tap.record(TapRecord {
                    kind: TapKind::Failed,
                    event: event.clone(),
                    component: None,
                    detail: Some(format!("the broker did not take it: {error:#}")),
                    elapsed_ms: None,
                });
            }
            return Err(error);
        }
        for event in events {
            tracing::debug!(event_id = event.id(), event_type = event.ty(), "published");
        }
        Ok(())
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

/// Requests components make to `<id>.spin.internal`: the event router
/// publishes, any other id is service chaining to that component.
#[async_trait]
impl InternalRequests for AppInner {
    async fn handle(&self, caller: &str, target: &str, request: http::Request<Bytes>) -> Result<http::Response<Bytes>> {
        if target == EVENT_ROUTER {
            let (parts, body) = request.into_parts();
            let mut events = match agent_store_events::binding::decode(&parts.headers, body.to_vec()) {
                Ok(events) => events,
                Err(e) => return Ok(json_response(400, &serde_json::json!({ "error": e.0 }))),
            };
            for event in &mut events {
                trace::stamp_external(event);
            }
            tracing::debug!(component = caller, count = events.len(), "publishing events from a route");
            return match self.publish(&events).await {
                Ok(()) => Ok(json_response(202, &serde_json::json!({ "accepted": events.len() }))),
                Err(e) => Ok(json_response(503, &serde_json::json!({ "error": format!("{e:#}") }))),
            };
        }
        let Some(template) = self.components.load().get(target).cloned() else {
            return Ok(json_response(
                404,
                &serde_json::json!({ "error": format!("no component `{target}{INTERNAL_SUFFIX}`") }),
            ));
        };
        let CallOutcome { result, output, .. } = template.call(request, &CallContext::default()).await;
        log_output(target, &output);
        result.map_err(|e| anyhow::anyhow!("component `{target}` {e}"))
    }
}

pub(crate) fn log_output(component: &str, output: &str) {
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(component, "guest: {line}");
    }
}

pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}
