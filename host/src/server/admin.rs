//! The hot-swap admin API (`docs/hot-swap.md`), behind the admin token:
//!
//! | call | what |
//! |---|---|
//! | `GET /admin/components` | every component: version, state, since, replicas |
//! | `GET /admin/components/{id}` | one, with its version history |
//! | `HEAD /admin/blobs/{sha256}` | 200 when the host has the file, 404 when it must be uploaded |
//! | `PUT /admin/blobs/{sha256}` | uploads a file (a `.wasm`, a catalog) under its sha256 |
//! | `POST /admin/deploys` | `{manifest, components?, sources, files}`: checks, compiles, switches |
//! | `POST /admin/components/{id}/rollback` | `{to?}`: back to a kept version |
//! | `DELETE /admin/components/{id}` | removes it; its history stays |

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::ServerState;
use crate::app::swap::{DeployRequest, SwapError};

/// The largest file one upload may carry: components are a few MiB.
pub const MAX_BLOB: usize = 128 << 20;

/// Every admin call needs the admin token, checked before a body is read.
pub(super) async fn admin_only(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    match state.admin_token().check(request.headers(), None) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

fn refused(error: SwapError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    tracing::warn!(status = status.as_u16(), error = %error, "admin call refused");
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

pub(super) async fn list(State(state): State<ServerState>) -> Response {
    Json(json!({ "components": state.app.list() })).into_response()
}

pub(super) async fn show(State(state): State<ServerState>, Path(id): Path<String>) -> Response {
    match state.app.info(&id) {
        Some(info) => Json(json!({ "component": info })).into_response(),
        None => refused(SwapError::NotFound(format!("no component `{id}`"))),
    }
}

pub(super) async fn has_blob(State(state): State<ServerState>, Path(digest): Path<String>) -> StatusCode {
    if state.app.has_blob(&digest) { StatusCode::OK } else { StatusCode::NOT_FOUND }
}

pub(super) async fn put_blob(State(state): State<ServerState>, Path(digest): Path<String>, body: Bytes) -> Response {
    match state.app.put_blob(&digest, &body) {
        Ok(()) => (StatusCode::CREATED, Json(json!({ "blob": digest, "bytes": body.len() }))).into_response(),
        Err(error) => refused(SwapError::Refused(format!("{error:#}"))),
    }
}

pub(super) async fn deploy(State(state): State<ServerState>, body: Bytes) -> Response {
    let request: DeployRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return refused(SwapError::Refused(format!("the deploy request is not valid JSON: {e}"))),
    };
    match state.app.deploy(request).await {
        Ok(switched) => Json(json!({ "deployed": switched })).into_response(),
        Err(error) => refused(error),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rollback {
    #[serde(default)]
    to: Option<String>,
}

pub(super) async fn rollback(State(state): State<ServerState>, Path(id): Path<String>, body: Bytes) -> Response {
    let wanted: Rollback = if body.iter().all(u8::is_ascii_whitespace) {
        Rollback::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(wanted) => wanted,
            Err(e) => return refused(SwapError::Refused(format!("expected {{\"to\": \"<version>\"}}: {e}"))),
        }
    };
    match state.app.rollback(&id, wanted.to.as_deref()).await {
        Ok(switched) => Json(json!({ "rolled_back": switched })).into_response(),
        Err(error) => refused(error),
    }
}

pub(super) async fn remove(State(state): State<ServerState>, Path(id): Path<String>) -> Response {
    match state.app.remove(&id).await {
        Ok(version) => Json(json!({ "removed": id, "version": version })).into_response(),
        Err(error) => refused(error),
    }
}
