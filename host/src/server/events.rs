//! `POST /events`: CloudEvents in (binary, structured or batch) from a
//! producer with a token, published to the broker before the answer: 202
//! means the broker has them; 503 with `Retry-After` that it is full.
//! `GET /events/tail`: the live tap as Server-Sent Events.
//! `POST /events/deliver/<component>`: deliveries pushed by Knative Triggers.
//! `POST /events/dead-letter`: the Knative Broker's dead-letter sink.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use cloudevents::AttributesReader;
use futures::StreamExt;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::ServerState;
use crate::app::tap::TailFilter;

pub(super) async fn ingest(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    let publisher = match state.credentials.publisher(&headers) {
        Ok(publisher) => publisher,
        Err(refusal) => return (refusal.0, Json(json!({ "error": refusal.1 }))).into_response(),
    };
    match state.app.ingest(&publisher, &headers, body.to_vec()).await {
        Ok(ids) => (StatusCode::ACCEPTED, Json(json!({ "accepted": ids.len(), "ids": ids }))).into_response(),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::warn!(error = %error, "events from /events were not published");
            } else {
                tracing::info!(status = status.as_u16(), error = %error, "events refused at /events");
            }
            let mut response = (status, Json(json!({ "error": error.to_string() }))).into_response();
            if let Some(after) = error.retry_after() {
                let seconds = after.as_secs().max(1).to_string();
                if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
                    response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
                }
            }
            response
        }
    }
}

pub(super) async fn tail(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(refusal) = state.admin_token().check(&headers, query.get("token").map(String::as_str)) {
        return refusal.into_response();
    }
    let filter = TailFilter::from_query(query);
    let mut stopping = state.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let stream = BroadcastStream::new(state.app.tap().subscribe())
        .filter_map(move |item| {
            let out = match item {
                Ok(record) if filter.matches(&record) => {
                    let kind = serde_json::to_value(record.kind).ok().and_then(|v| v.as_str().map(str::to_string));
                    SseEvent::default().event(kind.unwrap_or_default()).json_data(&record).ok()
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    Some(SseEvent::default().event("lagged").data(format!("{{\"missed\":{missed}}}")))
                }
            };
            std::future::ready(out.map(Ok::<_, Infallible>))
        })
        .take_until(stopped);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// `POST /events/deliver/<component>`: a delivery pushed by a Knative
/// Trigger (see [`crate::broker::knative`] for what each answer means to
/// Knative). A batch is handled event by event and answered with the worst
/// outcome, so that Knative retries it if any event asks for that.
pub(super) async fn deliver(
    State(state): State<ServerState>,
    Path(component): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use crate::broker::knative::Pushed;

    let Some(broker) = state.knative.clone() else {
        let kind = state.app.broker().kind();
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("this host's broker is `{kind}`, which delivers to components itself; pushed deliveries need `--broker knative`") })),
        )
            .into_response();
    };
    let events = match agent_store_events::binding::decode(&headers, body.to_vec()) {
        Ok(events) => events,
        Err(e) => {
            let reason = agent_store_events::binding::redact(&e.to_string());
            tracing::info!(component, reason, "malformed delivery refused");
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": reason }))).into_response();
        }
    };
    let (mut emitted, mut rejected, mut retry) = (0, Vec::new(), Vec::new());
    for event in events {
        let id = event.id().to_string();
        match broker.push(&component, event).await {
            Pushed::Done { emitted: n } => emitted += n,
            Pushed::Filtered => {}
            Pushed::UnknownComponent => {
                return (
                    StatusCode::NOT_FOUND,
                    Json(json!({ "error": format!("no component `{component}` subscribes to events on this host") })),
                )
                    .into_response();
            }
            Pushed::Reject(reason) => {
                tracing::warn!(component, event_id = id, reason, "delivery refused: Knative dead-letters it");
                rejected.push(json!({ "id": id, "reason": reason }));
            }
            Pushed::Retry(reason) => {
                tracing::warn!(component, event_id = id, reason, "delivery failed: Knative retries it");
                retry.push(json!({ "id": id, "reason": reason }));
            }
        }
    }
    if !retry.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "retry", "failed": retry, "rejected": rejected })))
            .into_response()
    } else if !rejected.is_empty() {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": "rejected", "rejected": rejected }))).into_response()
    } else {
        (StatusCode::OK, Json(json!({ "emitted": emitted }))).into_response()
    }
}

/// `POST /events/dead-letter`: where the Knative Broker's dead-letter sink
/// sends what its Triggers gave up on. Kept in the key-value store (Redis
/// on Knative), listed and replayed through `/admin/dead-letters`.
pub(super) async fn dead_letter(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(broker) = state.knative.clone() else {
        let kind = state.app.broker().kind();
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("this host's broker is `{kind}`, which keeps its own dead letters; a dead-letter sink needs `--broker knative`") })),
        )
            .into_response();
    };
    let events = match agent_store_events::binding::decode(&headers, body.to_vec()) {
        Ok(events) => events,
        Err(e) => {
            // Knative retries a dead letter it could not deliver; a body
            // that is not an event never will be one, so say why loudly.
            let reason = agent_store_events::binding::redact(&e.to_string());
            tracing::error!(reason, "a dead letter that is not a CloudEvent was refused");
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": reason }))).into_response();
        }
    };
    let mut kept = Vec::new();
    for event in events {
        match broker.keep_dead(event).await {
            Ok(letter) => kept.push(letter.event.id().to_string()),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "could not keep a dead letter");
                return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": format!("{e:#}") }))).into_response();
            }
        }
    }
    (StatusCode::OK, Json(json!({ "kept": kept }))).into_response()
}
