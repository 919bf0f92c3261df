//! The event router: what the broker does in the `agent-store` host, done by
//! a component so that `spin up` with stock Spin runs the whole store.
//!
//! Components publish by posting CloudEvents to
//! `http://event-router.spin.internal/publish`, and people post to the
//! `/events` route. The router delivers each event to every component whose
//! subscription matches (`http://<id>.spin.internal/`, binary mode), then
//! routes what they answer, hop by hop, up to the same hop limit as the host.
//! It is best effort, for a laptop: deliveries are not retried or kept. The
//! host ignores this component (`router = true`): its broker does the job.

use agent_store_events::binding::{self, attribute, type_matches};
use agent_store_events::ext;
use agent_store_sdk::spin_sdk::http::{Request, Response, send};
use agent_store_sdk::{AttributesReader, Event};

/// One subscription of the manifest.
struct Route {
    component: &'static str,
    event_type: &'static str,
    filters: &'static [(&'static str, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/routes.rs"));

/// The host's default hop limit: a longer chain is a loop.
const MAX_DEPTH: i64 = 16;

fn subscribers(event: &Event) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| type_matches(r.event_type, event.ty()))
        .filter(|r| r.filters.iter().all(|(k, v)| attribute(event, k).as_deref() == Some(*v)))
        .map(|r| r.component)
        .collect();
    out.dedup();
    out
}

fn depth(event: &Event) -> i64 {
    attribute(event, ext::DEPTH).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// Why a delivery did not happen; the router logs it and goes on.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("{0}")]
    Binding(#[from] binding::DecodeError),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered {status}: {body}")]
    Refused { status: http::StatusCode, body: String },
}

async fn deliver(component: &str, event: &Event) -> Result<Vec<Event>, DeliveryError> {
    let (headers, body) = binding::encode_binary(event)?;
    let mut request = Request::post(format!("http://{component}.spin.internal{}", binding::DELIVERY_PATH), body);
    for (name, value) in &headers {
        request.header(name.as_str(), value.to_str().unwrap_or_default());
    }
    let response: Response = send(request.build()).await.map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
    let status = http::StatusCode::from_u16(*response.status())
        .map_err(|e| DeliveryError::Unreachable(format!("an answer with {e}")))?;
    if !status.is_success() {
        return Err(DeliveryError::Refused { status, body: String::from_utf8_lossy(response.body()).into_owned() });
    }
    let mut reply_headers = http::HeaderMap::new();
    for (name, value) in response.headers() {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            reply_headers.append(n, v);
        }
    }
    Ok(binding::decode_reply(status, &reply_headers, response.into_body())?)
}

/// Delivers `events` and everything they cause, breadth first.
async fn route(mut queue: Vec<Event>) -> usize {
    let mut delivered = 0;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for event in queue {
            if depth(&event) > MAX_DEPTH {
                eprintln!("event-router: dropping {} ({}): hop limit of {MAX_DEPTH} reached", event.id(), event.ty());
                continue;
            }
            for component in subscribers(&event) {
                match deliver(component, &event).await {
                    Ok(replies) => {
                        delivered += 1;
                        for mut reply in replies {
                            reply.set_extension(ext::DEPTH, depth(&event) + 1);
                            next.push(reply);
                        }
                    }
                    Err(e) => eprintln!("event-router: {component} failed on {} ({}): {e}", event.id(), event.ty()),
                }
            }
        }
        queue = next;
    }
    delivered
}

async fn handle_http(request: Request) -> Response {
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(n, v);
        }
    }
    let events = match binding::decode(&headers, request.into_body()) {
        Ok(events) => events,
        Err(e) => {
            return Response::builder()
                .status(400)
                .header("content-type", "application/json")
                .body(serde_json::json!({ "error": e.to_string() }).to_string())
                .build();
        }
    };
    let accepted = events.len();
    let delivered = route(events).await;
    Response::builder()
        .status(202)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "accepted": accepted, "deliveries": delivered }).to_string())
        .build()
}

/// The router handles plain requests only: events arrive as request bodies,
/// never as deliveries to the router itself.
async fn never(event: agent_store_sdk::Incoming) -> agent_store_sdk::Result<Vec<Event>> {
    let _ = event;
    Ok(Vec::new())
}

agent_store_sdk::export!(id: "event-router", events: never, http: handle_http);

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_sdk::{EventBuilder, EventBuilderV10};

    #[test]
    fn the_routing_table_follows_the_manifest() {
        let query = EventBuilderV10::new().id("1").source("/t").ty("store.product.query").build().unwrap();
        assert_eq!(subscribers(&query), vec!["product-catalog"]);
        let chat = EventBuilderV10::new()
            .id("2")
            .source("/t")
            .ty("store.chat.message.new")
            .extension("brand", "tech")
            .build()
            .unwrap();
        let to = subscribers(&chat);
        assert!(to.contains(&"seller-tech") && !to.contains(&"seller-fashion"), "{to:?}");
        assert!(ROUTES.iter().all(|r| r.component != "event-router"));
    }
}
