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

use std::sync::Arc;

use anyhow::{Result, bail};
use axum::body::Bytes;
use axum::extract::{Extension, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::ServerState;
use crate::app::swap::{DeployRequest, SwapError};

/// The largest file one upload may carry: components are a few MiB.
pub const MAX_BLOB: usize = 128 << 20;

/// A team that may deploy its own components and nothing else:
/// `--deployer NAME=TOKEN:ID[|ID…]`, where an ID ending in `*` is a prefix
/// (`seller-sports`, `sports-*`).
#[derive(Debug)]
pub struct Deployer {
    pub name: String,
    token: String,
    components: Vec<String>,
}

impl Deployer {
    /// Whether this team may deploy, roll back or remove `component`.
    pub fn may_deploy(&self, component: &str) -> bool {
        self.components.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => component.starts_with(prefix),
            None => pattern == component,
        })
    }
}

/// Every `--deployer`.
#[derive(Debug, Default, Clone)]
pub struct Deployers {
    all: Vec<Arc<Deployer>>,
}

impl Deployers {
    pub fn parse(specs: &[String]) -> Result<Self> {
        let mut all: Vec<Arc<Deployer>> = Vec::new();
        for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let (Some((name, rest)), true) = (spec.split_once('='), spec.contains(':')) else {
                bail!(
                    "--deployer `{}…`: expected NAME=TOKEN:COMPONENT[|COMPONENT…]",
                    spec.chars().take(8).collect::<String>()
                );
            };
            let Some((token, components)) = rest.rsplit_once(':') else { unreachable!("checked above") };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                bail!("--deployer {name:?}: a name is letters, digits, `-` and `_`");
            }
            if token.len() < 16 {
                bail!("--deployer {name}: the token must be at least 16 characters");
            }
            let components: Vec<String> = components.split('|').map(|c| c.trim().to_string()).collect();
            if components.iter().any(|c| c.is_empty() || c == "*" || c.contains(char::is_whitespace)) {
                bail!("--deployer {name}: name its components (`*` alone would be the admin's power)");
            }
            if all.iter().any(|d| d.token == token || d.name == name) {
                bail!("--deployer {name}: another deployer has the same name or token");
            }
            all.push(Arc::new(Deployer { name: name.to_string(), token: token.to_string(), components }));
        }
        Ok(Self { all })
    }

    /// The deployer whose token this is, compared in constant time.
    pub fn find(&self, token: &str) -> Option<Arc<Deployer>> {
        crate::app::ingress::find_by_token(&self.all, token, |d| &d.token)
    }

    pub fn names(&self) -> Vec<&str> {
        self.all.iter().map(|d| d.name.as_str()).collect()
    }
}

/// Who is calling the admin API: the operator, or a team limited to its
/// own components.
#[derive(Debug, Clone)]
pub(super) enum Caller {
    Admin,
    Team(Arc<Deployer>),
}

impl Caller {
    fn may(&self, component: &str) -> Result<(), Response> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Team(team) if team.may_deploy(component) => Ok(()),
            Caller::Team(team) => Err(refused_status(
                StatusCode::FORBIDDEN,
                format!("deployer `{}` may not change `{component}`", team.name),
            )),
        }
    }
}

/// Every admin call needs the admin token, or a deployer's token for the
/// hot-swap calls, checked before a body is read.
pub(super) async fn admin_only(State(state): State<ServerState>, mut request: Request, next: Next) -> Response {
    let caller = match state.admin_token().check(request.headers(), None) {
        Ok(()) => Caller::Admin,
        Err(refusal) => {
            match super::auth::bearer(request.headers()).and_then(|t| state.credentials.deployers.find(t)) {
                Some(team) => Caller::Team(team),
                None => return refusal.into_response(),
            }
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn refused_status(status: StatusCode, error: String) -> Response {
    tracing::warn!(status = status.as_u16(), error = %error, "admin call refused");
    (status, Json(json!({ "error": error }))).into_response()
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

pub(super) async fn deploy(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let request: DeployRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return refused(SwapError::Refused(format!("the deploy request is not valid JSON: {e}"))),
    };
    let allowed = |id: &str| caller.may(id).is_ok();
    match state.app.deploy_as(request, &allowed).await {
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

pub(super) async fn rollback(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = caller.may(&id) {
        return refusal;
    }
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

pub(super) async fn remove(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(refusal) = caller.may(&id) {
        return refusal;
    }
    match state.app.remove(&id).await {
        Ok(version) => Json(json!({ "removed": id, "version": version })).into_response(),
        Err(error) => refused(error),
    }
}
