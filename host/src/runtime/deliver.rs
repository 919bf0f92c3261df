//! Delivering one CloudEvent to a component over the HTTP binding, the way
//! Knative delivers to a service, and reading what it answers.

use std::time::Duration;

use agent_store_events::binding;
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};

use super::{CallContext, CallError, Template};

/// Why a delivery did not succeed, which decides what happens to the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The component refused the event (4xx): retrying cannot help.
    #[error("rejected ({status}): {reason}")]
    Rejected { status: u16, reason: String },
    /// The component failed (5xx, trap, timeout, memory): worth retrying.
    #[error("{0}")]
    Failed(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

/// The outcome of one delivery.
#[derive(Debug)]
pub struct Delivery {
    pub result: Result<Vec<Event>, DeliveryError>,
    /// What the component printed while handling the event.
    pub output: String,
    pub elapsed: Duration,
}

/// The error text of a failed reply: `{"error": "..."}` from the SDK, or the
/// body as it is.
fn reason(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect())
}

impl Template {
    pub async fn deliver(&self, event: &Event, ctx: &CallContext) -> Delivery {
        let request = match binding::encode_binary(event) {
            Ok((headers, body)) => {
                let mut request = http::Request::new(Bytes::from(body));
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() =
                    format!("http://{}.spin.internal/", self.id).parse().expect("a component id is a valid host");
                *request.headers_mut() = headers;
                request
            }
            Err(e) => {
                return Delivery {
                    result: Err(DeliveryError::Rejected { status: 400, reason: e.0 }),
                    output: String::new(),
                    elapsed: Duration::ZERO,
                };
            }
        };
        let outcome = self.call(request, ctx).await;
        let result = match outcome.result {
            Err(CallError::Setup(reason)) => {
                Err(DeliveryError::Failed(format!("could not start the component: {reason}")))
            }
            Err(e) => Err(DeliveryError::Failed(e.to_string())),
            Ok(response) => {
                let status = response.status();
                let (parts, body) = response.into_parts();
                if status.is_client_error() {
                    Err(DeliveryError::Rejected { status: status.as_u16(), reason: reason(&body) })
                } else if !status.is_success() {
                    Err(DeliveryError::Failed(format!("answered {status}: {}", reason(&body))))
                } else {
                    binding::decode_reply(status, &parts.headers, body.to_vec())
                        .map_err(|e| DeliveryError::Failed(format!("answered with events that are not valid: {e}")))
                }
            }
        };
        if let Err(e) = &result {
            tracing::debug!(component = %self.id, event = event.id(), error = %e, "delivery failed");
        }
        Delivery { result, output: outcome.output, elapsed: outcome.elapsed }
    }
}
