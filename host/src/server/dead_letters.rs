//! The dead letters the host's broker keeps, behind the admin token (a
//! deployer's token is not enough: a replay runs any component):
//!
//! | call | what |
//! |---|---|
//! | `GET /admin/dead-letters[?component=]` | every one, oldest first, each with its `id` |
//! | `GET /admin/dead-letters/{id}` | one, in full |
//! | `POST /admin/dead-letters/replay` | `{"ids": [...]}` or `{"all": true, "components": [...]}`: sent back to their components |
//! | `DELETE /admin/dead-letters[?component=]` | deleted: `{"purged": n}` |
//!
//! The same calls on every backend ([`Broker`](crate::broker::Broker)'s
//! dead-letter methods); `agent-store dlq --url` is their client. On
//! Knative this is the only way to them: they are in Redis, not in a queue.

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::ServerState;
use crate::broker::{MAX_REPLAY, Selection, UnknownDeadLetter, Unsupported};

/// A replay request names at most [`MAX_REPLAY`] ids: this is plenty.
pub const MAX_REPLAY_BODY: usize = 256 << 10;

/// The admin token, checked before a body is read.
pub(super) async fn admin_token_only(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    match state.admin_token().check(request.headers(), None) {
        Ok(()) => next.run(request).await,
        Err((status, error)) => (status, Json(json!({ "error": error }))).into_response(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Only {
    component: Option<String>,
}

impl Only {
    fn components(&self) -> Vec<String> {
        self.component.iter().cloned().collect()
    }
}

pub(super) async fn list(State(state): State<ServerState>, Query(only): Query<Only>) -> Response {
    let broker = state.app.broker();
    match broker.dead_letters().await {
        Ok(mut letters) => {
            if let Some(component) = &only.component {
                letters.retain(|letter| &letter.component == component);
            }
            Json(json!({ "broker": broker.kind(), "dead_letters": letters })).into_response()
        }
        Err(error) => failed(error),
    }
}

pub(super) async fn show(State(state): State<ServerState>, Path(id): Path<String>) -> Response {
    match state.app.broker().dead_letter(&id).await {
        Ok(Some(letter)) => Json(json!({ "dead_letter": letter })).into_response(),
        Ok(None) => failed(UnknownDeadLetter(vec![id]).into()),
        Err(error) => failed(error),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    components: Vec<String>,
}

impl ReplayRequest {
    fn selection(self) -> Result<Selection, String> {
        match (self.ids, self.all) {
            (Some(_), true) => Err("name the dead letters (`ids`) or ask for `all`, not both".into()),
            (None, false) => Err(r#"expected {"ids": ["<id>", …]} or {"all": true, "components": […]}"#.into()),
            (Some(ids), false) if ids.is_empty() => Err("`ids` is empty".into()),
            (Some(ids), false) if ids.len() > MAX_REPLAY => {
                Err(format!("at most {MAX_REPLAY} ids at once ({} given)", ids.len()))
            }
            (Some(ids), false) => Ok(Selection { ids: Some(ids), components: self.components }),
            (None, true) => Ok(Selection::all(self.components)),
        }
    }
}

pub(super) async fn replay(State(state): State<ServerState>, body: Bytes) -> Response {
    let selection = match serde_json::from_slice::<ReplayRequest>(&body) {
        Ok(request) => request.selection(),
        Err(e) => Err(format!("the replay request is not valid JSON: {e}")),
    };
    let selection = match selection {
        Ok(selection) => selection,
        Err(error) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response(),
    };
    match state.app.broker().replay_dead_letters(&selection).await {
        Ok(replay) => match replay.stopped {
            None => Json(json!({ "replayed": replay.replayed, "limit": MAX_REPLAY })).into_response(),
            Some(why) => {
                let error = format!("{} replayed, then stopped: {why}", replay.replayed.len());
                tracing::warn!(error, "dead-letter replay stopped");
                (StatusCode::BAD_GATEWAY, Json(json!({ "error": error, "replayed": replay.replayed }))).into_response()
            }
        },
        Err(error) => failed(error),
    }
}

pub(super) async fn purge(State(state): State<ServerState>, Query(only): Query<Only>) -> Response {
    match state.app.broker().purge_dead_letters(&only.components()).await {
        Ok(purged) => Json(json!({ "purged": purged })).into_response(),
        Err(error) => failed(error),
    }
}

fn failed(error: anyhow::Error) -> Response {
    let status = if error.is::<UnknownDeadLetter>() {
        StatusCode::NOT_FOUND
    } else if error.is::<Unsupported>() {
        StatusCode::NOT_IMPLEMENTED
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "error": format!("{error:#}") }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Selection, String> {
        serde_json::from_str::<ReplayRequest>(body).map_err(|e| e.to_string())?.selection()
    }

    #[test]
    fn a_replay_names_its_letters_or_asks_for_all() {
        assert_eq!(parse(r#"{"ids": ["a", "b"]}"#), Ok(Selection::ids(vec!["a".into(), "b".into()])));
        assert_eq!(parse(r#"{"all": true, "components": ["c"]}"#), Ok(Selection::all(vec!["c".into()])));
        assert_eq!(parse(r#"{"all": true}"#), Ok(Selection::all(Vec::new())));
        assert!(parse("{}").is_err(), "nothing named is not everything");
        assert!(parse(r#"{"ids": []}"#).is_err());
        assert!(parse(r#"{"ids": ["a"], "all": true}"#).is_err());
        assert!(parse(r#"{"all": true, "component": "c"}"#).is_err(), "a misspelt field is not ignored");
        let many: Vec<String> = (0..=MAX_REPLAY).map(|n| n.to_string()).collect();
        assert!(parse(&json!({ "ids": many }).to_string()).unwrap_err().contains("at most"));
    }
}
