//! The manifest's `[[trigger.http]]` routes, served the way Spin serves
//! them: the most specific route wins, and the component sees Spin's
//! `spin-*` request headers.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;
use tracing::Instrument;

use super::{MAX_REQUEST_BODY, ServerState};
use crate::app::log_output;
use agent_store_events::binding::DELIVERY_PATH;
use agent_store_runtime::CallError;

pub(super) async fn handle(State(state): State<ServerState>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    // Events reach components only through the host's delivery path; a
    // route never does, whatever it matches (the manifest check keeps
    // routes off this path, this keeps a future route pattern off it too).
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let delivery: Vec<&str> = DELIVERY_PATH.split('/').filter(|s| !s.is_empty()).collect();
    if segments == delivery {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no route for {path}") }))).into_response();
    }
    // The route and its component come from one table: a deploy swapping
    // both cannot hand this request one without the other.
    let Some((route, matched, component)) = state.app.route_for(&path) else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no route for {path}") }))).into_response();
    };
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (mut parts, body) = request.into_parts();
    let body = match to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({ "error": e.to_string() }))).into_response(),
    };

    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let full_url = format!("http://{host}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let raw_route = route.pattern.as_str();
    let mut spin = vec![
        ("spin-full-url", full_url.clone()),
        ("spin-path-info", matched.path_info.clone()),
        ("spin-matched-route", raw_route.to_string()),
        ("spin-raw-component-route", raw_route.to_string()),
        ("spin-component-route", raw_route.trim_end_matches("/...").to_string()),
        ("spin-base-path", "/".to_string()),
    ];
    if let Some(client) = client {
        spin.push(("spin-client-addr", client.to_string()));
    }
    for (name, value) in spin {
        if let Ok(value) = HeaderValue::from_str(&value) {
            parts.headers.insert(HeaderName::from_static(name), value);
        }
    }
    for (name, value) in &matched.captures {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(format!("spin-path-match-{name}").as_bytes()), HeaderValue::from_str(value))
        {
            parts.headers.insert(name, value);
        }
    }
    if let Ok(uri) = full_url.parse() {
        parts.uri = uri;
    }

    let span = tracing::info_span!(
        "route",
        otel.kind = "server",
        otel.name = format!("{} {raw_route}", parts.method),
        http.request.method = %parts.method,
        http.route = raw_route,
        component = %route.component,
        http.response.status_code = tracing::field::Empty,
    );
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    crate::telemetry::continue_trace(&span, header("traceparent"), header("tracestate"));
    let ctx = state.app.call_context(&route.component);
    let outcome = component.pre.call(http::Request::from_parts(parts, body), &ctx).instrument(span.clone()).await;
    span.in_scope(|| log_output(&route.component, &outcome.output));
    crate::metrics::metrics().route_called(&route.component, outcome.memory);
    match outcome.result {
        Ok(response) => {
            span.record("http.response.status_code", response.status().as_u16());
            response.map(Body::from)
        }
        Err(error) => {
            tracing::warn!(component = %route.component, path, error = %error, "route handler failed");
            crate::metrics::metrics().call_failed(&route.component, &error);
            let status = match error {
                CallError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, Json(json!({ "error": format!("component `{}` {error}", route.component) }))).into_response()
        }
    }
}
