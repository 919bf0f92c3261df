//! The host's HTTP side, one module per ingress: event ingress and the live
//! tail ([`events`]), Knative's pushed deliveries and who may push them
//! ([`deliveries`], [`oidc`]), the dead letters ([`dead_letters`]), the
//! manifest's routes ([`routes`]), health.
//!
//! Paths under `/events`, `/healthz`, `/readyz`, `/admin` and `/metrics`
//! belong to the host; everything else goes to the component whose
//! `[[trigger.http]]` route matches, as under Spin.

pub mod admin;
mod auth;
mod dead_letters;
mod deliveries;
mod events;
mod guard;
pub mod oidc;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;

pub use self::admin::{Deployer, Deployers};
pub use self::auth::{AdminToken, Credentials, token_path as auth_token_path};
pub use self::deliveries::{DeliveryGate, DeliveryOptions};
use crate::app::App;
use crate::broker::knative::KnativeBroker;

/// Paths the host keeps for itself.
pub const RESERVED_PREFIXES: &[&str] = &["/events", "/healthz", "/readyz", "/admin", "/metrics"];

/// Request bodies up to this size reach components and the event ingress.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct ServerState {
    pub app: Arc<App>,
    pub credentials: Arc<Credentials>,
    /// With `--broker knative`: where Triggers push deliveries.
    pub knative: Option<Arc<KnativeBroker>>,
    /// With `--broker knative`: who may push deliveries.
    pub deliveries: Option<Arc<DeliveryGate>>,
    /// Serving on a loopback address: requests must name this machine in
    /// `Host` (see [`guard`]).
    pub loopback: bool,
    /// Turns `true` when the host starts stopping: long-lived responses
    /// (the live tail) end so that shutdown does not wait on them.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl ServerState {
    pub fn new(
        app: Arc<App>,
        credentials: Credentials,
        knative: Option<Arc<KnativeBroker>>,
        deliveries: Option<Arc<DeliveryGate>>,
        listen: SocketAddr,
    ) -> (Self, tokio::sync::watch::Sender<bool>) {
        let (sender, stopping) = tokio::sync::watch::channel(false);
        let state = Self {
            app,
            credentials: Arc::new(credentials),
            knative,
            deliveries,
            loopback: listen.ip().is_loopback(),
            stopping,
        };
        (state, sender)
    }

    pub fn admin_token(&self) -> &AdminToken {
        &self.credentials.admin
    }
}

pub fn router(state: ServerState) -> Router {
    // Only the broker pushes deliveries: checked before a body is read.
    let deliveries = Router::new()
        .route("/events/deliver/{component}", post(events::deliver))
        .route("/events/dead-letter", post(events::dead_letter))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), deliveries::admit));
    // Hot swap: the token is checked before a body is read.
    let admin = Router::new()
        .route("/admin/components", get(admin::list))
        .route("/admin/components/{id}", get(admin::show).delete(admin::remove))
        .route("/admin/components/{id}/rollback", post(admin::rollback))
        .route(
            "/admin/blobs/{digest}",
            axum::routing::put(admin::put_blob).head(admin::has_blob).layer(DefaultBodyLimit::max(admin::MAX_BLOB)),
        )
        .route("/admin/deploys", post(admin::deploy))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admin::admin_only));
    let dead_letters = Router::new()
        .route("/admin/dead-letters", get(dead_letters::list).delete(dead_letters::purge))
        .route(
            "/admin/dead-letters/replay",
            post(dead_letters::replay).layer(DefaultBodyLimit::max(dead_letters::MAX_REPLAY_BODY)),
        )
        .route("/admin/dead-letters/{id}", get(dead_letters::show))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), dead_letters::admin_token_only));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/events", post(events::ingest))
        .route("/events/tail", get(events::tail))
        .route("/admin/llm/usage", get(llm_usage))
        .merge(deliveries)
        .merge(admin)
        .merge(dead_letters)
        .fallback(routes::handle)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::host_header))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state)
}

/// Serves until the state's `stopping` turns true, then lets in-flight
/// requests finish.
pub async fn serve(listener: tokio::net::TcpListener, state: ServerState) -> anyhow::Result<()> {
    let mut stopping = state.stopping.clone();
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|s| *s).await;
        })
        .await?;
    Ok(())
}

/// How long `/readyz` waits for the key-value backend to answer: a
/// probe's own timeout is one second by default, and an answer later than
/// this is no answer.
const READY_TIMEOUT: Duration = Duration::from_millis(800);

/// Prometheus's scrape: no token, since it holds no customer data (label
/// values are bounded, see [`crate::metrics`]), as scrapers expect. The
/// broker's state is read now, so that it is as fresh as the scrape.
async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    let broker = state.app.broker();
    let metrics = crate::metrics::metrics();
    metrics.observe_broker(broker.kind(), broker.ready().await, broker.pending());
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        metrics.render(),
    )
}

/// Alive: the process answers. Nothing else: a broker outage is no reason
/// to restart the pod.
async fn healthz() -> &'static str {
    "ok"
}

/// Ready: the broker connected, the key-value backend answering, and every
/// component serving; `503` with the reasons otherwise.
async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    let broker = state.app.broker().ready().await;
    let key_value = match tokio::time::timeout(READY_TIMEOUT, state.app.runtime().services().key_value.ping()).await {
        Ok(answer) => answer.map_err(|e| format!("{e:#}")),
        Err(_) => Err(format!("no answer in {}ms", READY_TIMEOUT.as_millis())),
    };
    let failed = state.app.failed_components();
    let mut reasons = Vec::new();
    if !broker {
        reasons.push(format!("the {} broker is not connected", state.app.broker().kind()));
    }
    if let Err(error) = &key_value {
        reasons.push(format!("the key-value backend is unreachable: {error}"));
    }
    for (component, why) in &failed {
        reasons.push(format!("component `{component}` failed to switch: {why}"));
    }
    let ready = reasons.is_empty();
    let body = json!({
        "ready": ready,
        "reasons": reasons,
        "broker": { "kind": state.app.broker().kind(), "ready": broker },
        "key_value": match &key_value { Ok(()) => json!({ "ready": true }), Err(e) => json!({ "ready": false, "error": e }) },
        "components": state.app.components().len(),
        "failed_components": failed.iter().map(|(id, why)| json!({ "component": id, "error": why })).collect::<Vec<_>>(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// Token usage of the LLM capability so far, per component, brand and model
/// (docs/llm.md).
async fn llm_usage(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if let Err(refusal) = state.admin_token().check(&headers, None) {
        return refusal.into_response();
    }
    Json(json!({ "usage": state.app.runtime().services().models.usage() })).into_response()
}
