//! The event router: what the broker does in the `agent-store` host, done by
//! a component so that `spin up` with stock Spin runs the whole store.
//!
//! Components publish by posting CloudEvents to
//! `http://event-router.spin.internal/publish`, and people post to the
//! `/events` route. The router delivers each event to every component whose
//! subscription matches (`http://<id>.spin.internal/`, binary mode), then
//! routes what they answer, hop by hop, up to the same hop limit as the host.
//! The post is answered once the whole cascade is done: `202` with every
//! delivery it caused (component, event type and id, the types it emitted or
//! its error), and each delivery is a line on the router's stdout, which
//! `spin up` prints and keeps in `.spin/logs/event-router_stdout.txt`.
//!
//! It is best effort, for a laptop: deliveries are not retried or kept, and
//! nothing is authenticated or checked against `emits` (Spin listens on
//! 127.0.0.1 unless told otherwise). The host ignores this component
//! (`router = true`): its broker does the job, with those checks.

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

/// What one delivery did: the answer to whoever posted the events, and a
/// line in Spin's log, which is all a laptop has for the host's tail. Types,
/// ids, brands and component names only: event data may be a customer's
/// words.
struct Delivery {
    component: &'static str,
    ty: String,
    id: String,
    brand: Option<String>,
    outcome: Result<Vec<String>, String>,
}

impl Delivery {
    fn new(component: &'static str, event: &Event, outcome: Result<&[Event], DeliveryError>) -> Self {
        Self {
            component,
            ty: event.ty().to_string(),
            id: event.id().to_string(),
            brand: attribute(event, ext::BRAND),
            outcome: outcome
                .map(|emitted| emitted.iter().map(|e| e.ty().to_string()).collect())
                .map_err(|e| e.to_string()),
        }
    }

    fn log(&self) {
        let brand = self.brand.as_deref().map(|b| format!(" brand={b}")).unwrap_or_default();
        match &self.outcome {
            Ok(emitted) if emitted.is_empty() => {
                println!("delivered {} {} → {}{brand}: emitted nothing", self.ty, self.id, self.component);
            }
            Ok(emitted) => {
                println!(
                    "delivered {} {} → {}{brand}: emitted {}",
                    self.ty,
                    self.id,
                    self.component,
                    emitted.join(", ")
                );
            }
            Err(e) => eprintln!("event-router: {} failed on {} ({}): {e}", self.component, self.id, self.ty),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({ "component": self.component, "type": self.ty, "id": self.id });
        match &self.outcome {
            Ok(emitted) => out["emitted"] = serde_json::json!(emitted),
            Err(e) => out["error"] = serde_json::json!(e),
        }
        out
    }
}

/// Delivers `events` and everything they cause, breadth first.
async fn route(mut queue: Vec<Event>) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    while !queue.is_empty() {
        let mut next = Vec::new();
        for event in queue {
            if depth(&event) > MAX_DEPTH {
                eprintln!("event-router: dropping {} ({}): hop limit of {MAX_DEPTH} reached", event.id(), event.ty());
                continue;
            }
            let to = subscribers(&event);
            if to.is_empty() {
                println!("no component subscribes to {} {}", event.ty(), event.id());
            }
            for component in to {
                let delivery = match deliver(component, &event).await {
                    Ok(mut replies) => {
                        for reply in &mut replies {
                            reply.set_extension(ext::DEPTH, depth(&event) + 1);
                        }
                        let delivery = Delivery::new(component, &event, Ok(&replies));
                        next.extend(replies);
                        delivery
                    }
                    Err(e) => Delivery::new(component, &event, Err(e)),
                };
                delivery.log();
                deliveries.push(delivery);
            }
        }
        queue = next;
    }
    deliveries
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
    let deliveries: Vec<serde_json::Value> = route(events).await.iter().map(Delivery::to_json).collect();
    Response::builder()
        .status(202)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "accepted": accepted, "deliveries": deliveries }).to_string())
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
