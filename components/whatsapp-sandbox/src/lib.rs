//! A local stand-in for the WhatsApp Cloud API, so that a newcomer can chat
//! with the store (`agent-store chat`) without a Meta account. **Local use
//! only**: it takes any bearer token and shows anyone every message. It is in
//! `spin.toml`, which every deployment runs, so it answers nothing (404)
//! unless its `enabled` variable is `on` — `SPIN_VARIABLE_WHATSAPP_SANDBOX=on`,
//! which `demo.env` sets for the local store and nothing else does.
//!
//! The business side, what the gateway calls when `whatsapp_api_base` is
//! `http://whatsapp-sandbox.spin.internal/v21.0` (as `demo.env` sets it):
//!
//! * `POST /v21.0/{phone_number_id}/messages` — checks the bearer token is
//!   there and the body is a message the Cloud API would take (see
//!   [`validate`]), keeps it, and answers as the Cloud API does
//!   (`messaging_product`, `contacts`, `messages[{id: "wamid.…"}]`).
//! * `GET /v21.0/{media_id}` and the `url` it answers with — the two-step
//!   media download.
//!
//! The people side, under the public route `/sandbox/whatsapp/...`:
//!
//! * `GET /sandbox/whatsapp/messages?to=<phone>&after=<seq>&limit=<n>` — the
//!   messages sent to a phone after a sequence number, oldest first, with
//!   `last_seq`.
//! * `POST /sandbox/whatsapp/media` — uploads a file (the body, with its
//!   `content-type`) and answers its media id, to send in a webhook as if a
//!   customer had sent it.
//!
//! Requests through the public route arrive with their full path
//! (`/sandbox/whatsapp/v21.0/…`), requests through service chaining with the
//! path the caller used (`/v21.0/…`): both work.

mod mailbox;
pub mod validate;

use agent_store_sdk::{Error, Event, Incoming, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Method, Request, Response};

use crate::mailbox::{Mailbox, MailboxError, MediaInfo, Sent};

/// Where the manifest mounts the sandbox publicly.
const PUBLIC_PREFIX: &str = "/sandbox/whatsapp";

/// The largest upload kept: the store keeps files whole.
const MAX_MEDIA_BYTES: usize = 5 * 1024 * 1024;

/// Messages returned by one `GET /messages` at most.
const MAX_LIMIT: u64 = 100;

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    Err(Error::bad_event(format!("the WhatsApp sandbox handles no events ({})", event.ty())))
}

/// Whether this is the local store, where the sandbox may answer.
fn enabled() -> bool {
    spin_sdk::variables::get("enabled")
        .is_ok_and(|value| matches!(value.trim().to_ascii_lowercase().as_str(), "on" | "true" | "yes" | "1"))
}

async fn route(request: Request) -> Response {
    if !enabled() {
        // Shaped like the Cloud API's answer to a wrong path, so that a
        // gateway pointed here by mistake reports failed messages.
        return graph_error(
            404,
            100,
            "Unknown path components",
            "the WhatsApp sandbox is off: it serves the local store only (SPIN_VARIABLE_WHATSAPP_SANDBOX=on, as in demo.env)",
        );
    }
    let path = request.path();
    let (prefix, rest) = match path.strip_prefix(PUBLIC_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (PUBLIC_PREFIX, rest),
        _ => ("", path),
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let outcome = match (request.method(), segments.as_slice()) {
        (Method::Post, [version, phone_number_id, "messages"]) if is_version(version) => {
            send(&request, phone_number_id)
        }
        (Method::Get, [version, media_id]) if is_version(version) => media_info(&request, prefix, media_id),
        (Method::Get, ["download", media_id]) => download(&request, media_id),
        (Method::Get, ["messages"]) => messages(&request),
        (Method::Post, ["media"]) => upload(&request),
        _ => Err(graph_error(404, 100, "Unknown path components", "no such sandbox endpoint")),
    };
    outcome.unwrap_or_else(|response| response)
}

type Answer = std::result::Result<Response, Response>;

fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn json(status: u16, body: &Value) -> Response {
    Response::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

/// An error shaped like the Cloud API's.
fn graph_error(status: u16, code: i64, message: &str, details: &str) -> Response {
    json(
        status,
        &json!({
            "error": {
                "message": format!("(#{code}) {message}"),
                "type": "OAuthException",
                "code": code,
                "error_data": { "messaging_product": "whatsapp", "details": details },
                "fbtrace_id": "sandbox"
            }
        }),
    )
}

fn store_error(e: MailboxError) -> Response {
    graph_error(500, 2, "Service temporarily unavailable", &e.to_string())
}

/// The Cloud API wants a bearer token; the sandbox takes any.
fn authorized(request: &Request) -> std::result::Result<(), Response> {
    let header = request.header("authorization").and_then(|v| v.as_str()).unwrap_or_default();
    match header.strip_prefix("Bearer ") {
        Some(token) if !token.trim().is_empty() => Ok(()),
        _ => Err(json(
            401,
            &json!({
                "error": {
                    "message": "An active access token must be used to query information about the current user.",
                    "type": "OAuthException",
                    "code": 190,
                    "fbtrace_id": "sandbox"
                }
            }),
        )),
    }
}

fn send(request: &Request, phone_number_id: &str) -> Answer {
    authorized(request)?;
    let body: Value = serde_json::from_slice(request.body())
        .map_err(|e| graph_error(400, 100, "Invalid parameter", &format!("the body is not JSON: {e}")))?;
    let to =
        validate::message(&body).map_err(|reason| graph_error(400, 100, "Invalid parameter", &reason.to_string()))?;
    let mailbox = Mailbox::open().map_err(store_error)?;
    let sent = mailbox
        .keep(&to, |seq| Sent {
            seq,
            id: wamid(phone_number_id, &to, seq),
            phone_number_id: phone_number_id.to_string(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            message: body.clone(),
        })
        .map_err(store_error)?;
    let input = body["to"].as_str().unwrap_or_default();
    Ok(json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": input, "wa_id": to }],
            "messages": [{ "id": sent.id }]
        }),
    ))
}

/// A message id in WhatsApp's style that does not spell out the number.
fn wamid(phone_number_id: &str, to: &str, seq: u64) -> String {
    let hash = Sha256::digest(format!("{phone_number_id}\0{to}\0{seq}").as_bytes());
    format!("wamid.SANDBOX{}", hex::encode(&hash[..12]).to_uppercase())
}

/// The scheme and host a request came in on, for the URLs the sandbox hands out.
fn origin(request: &Request) -> String {
    let uri = request.uri();
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
        }
        None => "http://whatsapp-sandbox.spin.internal".to_string(),
    }
}

fn media_info(request: &Request, prefix: &str, media_id: &str) -> Answer {
    authorized(request)?;
    let mailbox = Mailbox::open().map_err(store_error)?;
    let info = mailbox.media_info(media_id).map_err(store_error)?.ok_or_else(|| {
        let message = format!("Unsupported get request. Object with ID '{media_id}' does not exist");
        graph_error(400, 100, &message, "no media with this id was uploaded to the sandbox")
    })?;
    Ok(json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "url": format!("{}{prefix}/download/{media_id}", origin(request)),
            "mime_type": info.mime_type,
            "sha256": info.sha256,
            "file_size": info.file_size,
            "id": media_id
        }),
    ))
}

fn download(request: &Request, media_id: &str) -> Answer {
    authorized(request)?;
    let mailbox = Mailbox::open().map_err(store_error)?;
    let info = mailbox.media_info(media_id).map_err(store_error)?;
    let bytes = mailbox.media(media_id).map_err(store_error)?;
    match (info, bytes) {
        (Some(info), Some(bytes)) => {
            Ok(Response::builder().status(200).header("content-type", info.mime_type).body(bytes).build())
        }
        _ => Err(graph_error(404, 100, "Media not found", "no media with this id was uploaded to the sandbox")),
    }
}

/// One query parameter, percent-decoded (`%2B34…` is a `+34…` phone).
fn param(request: &Request, name: &str) -> Option<String> {
    let (_, value) = request.query().split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name)?;
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn messages(request: &Request) -> Answer {
    let bad = |details: &str| graph_error(400, 100, "Invalid parameter", details);
    let to: String = param(request, "to").unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
    if to.is_empty() {
        return Err(bad("`to` (the phone the messages were sent to) is required"));
    }
    let number = |name: &str, default: u64| match param(request, name).as_deref() {
        None | Some("") => Ok(default),
        Some(value) => value.parse::<u64>().map_err(|_| bad(&format!("`{name}` must be a whole number"))),
    };
    let after = number("after", 0)?;
    let limit = number("limit", MAX_LIMIT)?.min(MAX_LIMIT);
    let mailbox = Mailbox::open().map_err(store_error)?;
    let (messages, last) = mailbox.after(&to, after, limit).map_err(store_error)?;
    Ok(json(200, &json!({ "to": to, "last_seq": last, "messages": messages })))
}

fn upload(request: &Request) -> Answer {
    let body = request.body();
    if body.is_empty() || body.len() > MAX_MEDIA_BYTES {
        return Err(graph_error(400, 100, "Invalid parameter", "upload the file as the body, 1 byte to 5 MiB"));
    }
    let mime_type = request
        .header("content-type")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or("application/octet-stream")
        .to_string();
    let info = MediaInfo { mime_type, sha256: hex::encode(Sha256::digest(body)), file_size: body.len() };
    let mailbox = Mailbox::open().map_err(store_error)?;
    let id = mailbox.upload(body, &info).map_err(store_error)?;
    Ok(json(200, &json!({ "id": id, "mime_type": info.mime_type, "sha256": info.sha256 })))
}

agent_store_sdk::export!(id: "whatsapp-sandbox", events: handle, http: route);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let request = Request::get("http://x/sandbox/whatsapp/messages?to=%2B34+600000001&after=3&bad=%zz").build();
        assert_eq!(param(&request, "to").as_deref(), Some("+34 600000001"));
        assert_eq!(param(&request, "after").as_deref(), Some("3"));
        assert_eq!(param(&request, "bad").as_deref(), Some("%zz"));
        assert_eq!(param(&request, "limit"), None);
    }

    #[test]
    fn versions_and_ids() {
        assert!(is_version("v21.0") && is_version("v25.0") && !is_version("v") && !is_version("messages"));
        let id = wamid("100000000000001", "34600000001", 1);
        assert!(id.starts_with("wamid.SANDBOX") && !id.contains("34600000001"));
        assert_ne!(id, wamid("100000000000001", "34600000001", 2));
    }
}
