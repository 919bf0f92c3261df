//! A fake WhatsApp Cloud API on 127.0.0.1: records every request, answers
//! `POST …/messages` as the Cloud API does (or with a reply queued by the
//! test), and serves the two-step media download.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// An answer queued for the next `POST …/messages`.
pub struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    pub fn status(status: u16, body: Value) -> Self {
        Self { status, body }
    }
}

#[derive(Default)]
struct Fake {
    origin: Mutex<String>,
    requests: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
    answered: Mutex<Vec<String>>,
    media: Mutex<HashMap<String, (String, Vec<u8>)>>,
}

pub struct FakeApi {
    origin: String,
    fake: Arc<Fake>,
}

impl FakeApi {
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let fake = Arc::new(Fake::default());
        *fake.origin.lock().unwrap() = origin.clone();
        let app = Router::new().fallback(answer).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { origin, fake })
    }

    /// What the gateway's `api_base` is set to.
    pub fn base(&self) -> String {
        format!("{}/v21.0", self.origin)
    }

    /// What its `allowed_outbound_hosts` needs.
    pub fn origin(&self) -> String {
        self.origin.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.fake.requests.lock().unwrap().clone()
    }

    /// The message ids answered so far, in order.
    pub fn answered_ids(&self) -> Vec<String> {
        self.fake.answered.lock().unwrap().clone()
    }

    pub fn answer_next(&self, reply: Reply) {
        self.fake.replies.lock().unwrap().push_back(reply);
    }

    pub fn add_media(&self, id: &str, mime_type: &str, bytes: &[u8]) {
        self.fake.media.lock().unwrap().insert(id.to_string(), (mime_type.to_string(), bytes.to_vec()));
    }
}

fn json_reply(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn answer(State(fake): State<Arc<Fake>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: parsed.clone(),
    });
    if authorization.as_deref().is_none_or(|a| !a.starts_with("Bearer ")) {
        return json_reply(401, json!({"error": {"message": "no token", "type": "OAuthException", "code": 190}}));
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        (Method::POST, ["v21.0", _, "messages"]) => {
            if let Some(reply) = fake.replies.lock().unwrap().pop_front() {
                return json_reply(reply.status, reply.body);
            }
            let mut answered = fake.answered.lock().unwrap();
            let id = format!("wamid.FAKE{:04}", answered.len() + 1);
            answered.push(id.clone());
            json_reply(
                200,
                json!({
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": parsed["to"], "wa_id": parsed["to"]}],
                    "messages": [{"id": id}]
                }),
            )
        }
        (Method::GET, ["v21.0", id]) => match fake.media.lock().unwrap().get(*id) {
            Some((mime_type, bytes)) => json_reply(
                200,
                json!({
                    "messaging_product": "whatsapp",
                    "url": format!("{}/download/{id}", fake.origin.lock().unwrap()),
                    "mime_type": mime_type,
                    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    "file_size": bytes.len(),
                    "id": id
                }),
            ),
            None => json_reply(
                400,
                json!({"error": {"message": format!("Unsupported get request. Object with ID '{id}' does not exist"), "type": "GraphMethodException", "code": 100, "error_subcode": 33}}),
            ),
        },
        (Method::GET, ["download", id]) => match fake.media.lock().unwrap().get(*id) {
            Some((mime_type, bytes)) => ([("content-type", mime_type.clone())], bytes.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
