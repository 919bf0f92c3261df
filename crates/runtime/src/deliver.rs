//! Delivering one CloudEvent to a component over the HTTP binding, the way
//! Knative delivers to a service, and reading what it answers. What an
//! answer means for the event (retry it, dead-letter it) is the host's
//! business; this says only what happened.

use std::time::Duration;

use agent_store_events::binding;
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};

use crate::bindings::fast_path::{self, FastPathIndices};
use crate::component::{CallContext, CallError, ComponentPre, MAX_BODY};

/// The path a component receives events on. The SDK takes a request as a
/// CloudEvent only there, and nothing from outside reaches it: a manifest
/// route never covers it (the manifest check refuses one that would).
pub const DELIVERY_PATH: &str = agent_store_events::binding::DELIVERY_PATH;

/// Why a delivery did not produce events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The event cannot be put on the HTTP binding.
    #[error("cannot be delivered over HTTP: {0}")]
    Encode(String),
    /// The component answered with a status other than 2xx.
    #[error("answered {status}: {reason}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The `error` of its JSON answer, or the body.
        reason: String,
    },
    /// The call failed: a trap, a timeout, a memory limit.
    #[error("{0}")]
    Call(CallError),
    /// A 2xx answer whose events are not valid.
    #[error("answered with events that are not valid: {0}")]
    Reply(String),
}

impl DeliveryError {
    /// The component (or the binding) says the event itself is wrong: a 4xx
    /// answer, or an event that cannot be encoded. Trying again will not
    /// help.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Encode(_) => true,
            Self::Status { status, .. } => (400..500).contains(status),
            Self::Call(_) | Self::Reply(_) => false,
        }
    }
}

/// The outcome of one delivery.
#[derive(Debug)]
pub struct Delivery {
    /// The events the component answered with, or why there are none.
    pub result: Result<Vec<Event>, DeliveryError>,
    /// What the component printed while handling the event.
    pub output: String,
    /// Wall time of the call.
    pub elapsed: Duration,
    /// Bytes of linear memory the instance had when it ended.
    pub memory: u64,
}

impl Delivery {
    /// An event that could not be put to the component at all.
    fn unsent(error: binding::DecodeError) -> Self {
        Self {
            result: Err(DeliveryError::Encode(error.to_string())),
            output: String::new(),
            elapsed: Duration::ZERO,
            memory: 0,
        }
    }
}

/// The error text of a failed reply: `{"error": "..."}` from the SDK, or the
/// body as it is.
fn reason(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect())
}

impl ComponentPre {
    /// Delivers `event` and reads the events it answers with: through the
    /// component's direct `handler` export when it has one, else in binary
    /// mode to its [`DELIVERY_PATH`]. Both paths refuse the same events and
    /// mean the same by every answer.
    pub async fn deliver(&self, event: &Event, ctx: &CallContext) -> Delivery {
        if let Some(indices) = &self.direct {
            return self.deliver_direct(indices, event, ctx).await;
        }
        self.deliver_over_http(event, ctx).await
    }

    /// Delivers `event` over the HTTP binding whatever the component
    /// exports: what `spin up` and Knative do, and the baseline the direct
    /// export is measured against.
    pub async fn deliver_over_http(&self, event: &Event, ctx: &CallContext) -> Delivery {
        let request = match binding::encode_binary(event) {
            Ok((headers, body)) => {
                let mut request = http::Request::new(Bytes::from(body));
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = format!("http://{}.spin.internal{DELIVERY_PATH}", self.id)
                    .parse()
                    .expect("a component id is a valid host");
                *request.headers_mut() = headers;
                request
            }
            Err(e) => return Delivery::unsent(e),
        };
        let outcome = self.call(request, ctx).await;
        let result = match outcome.result {
            Err(e) => Err(DeliveryError::Call(e)),
            Ok(response) => {
                let status = response.status();
                let (parts, body) = response.into_parts();
                if !status.is_success() {
                    Err(DeliveryError::Status { status: status.as_u16(), reason: reason(&body) })
                } else {
                    binding::decode_reply(status, &parts.headers, body.to_vec())
                        .map_err(|e| DeliveryError::Reply(e.to_string()))
                }
            }
        };
        if let Err(e) = &result {
            tracing::debug!(component = %self.id, event = event.id(), error = %e, "delivery failed");
        }
        Delivery { result, output: outcome.output, elapsed: outcome.elapsed, memory: outcome.memory }
    }

    async fn deliver_direct(&self, indices: &FastPathIndices, event: &Event, ctx: &CallContext) -> Delivery {
        let record = match binding::to_fields(event) {
            Ok(fields) => fast_path::Event {
                id: fields.id,
                source: fields.source,
                type_: fields.ty,
                subject: fields.subject,
                time: fields.time,
                datacontenttype: fields.datacontenttype,
                dataschema: fields.dataschema,
                extensions: fields.extensions,
                data: fields.data,
            },
            Err(e) => return Delivery::unsent(e),
        };
        let outcome = self.call_direct(indices, &record, ctx).await;
        // The answers mean what the HTTP binding's statuses mean, so that
        // retries and dead letters do not depend on the path.
        let result = match outcome.result {
            Err(e) => Err(DeliveryError::Call(e)),
            Ok(Err(fast_path::Error::BadEvent(reason))) => Err(DeliveryError::Status { status: 400, reason }),
            Ok(Err(fast_path::Error::Failed(reason))) => Err(DeliveryError::Status { status: 500, reason }),
            Ok(Ok(records)) => replies(records),
        };
        if let Err(e) = &result {
            tracing::debug!(component = %self.id, event = event.id(), error = %e, "delivery failed");
        }
        Delivery { result, output: outcome.output, elapsed: outcome.elapsed, memory: outcome.memory }
    }
}

/// The events a direct call answered with, held to what an HTTP reply may
/// carry.
fn replies(records: Vec<fast_path::Event>) -> Result<Vec<Event>, DeliveryError> {
    let size: usize = records.iter().map(|r| r.data.as_ref().map_or(0, Vec::len)).sum();
    if size > MAX_BODY {
        return Err(DeliveryError::Reply(format!(
            "its events carry {size} bytes of data, more than the {} MiB a reply may hold",
            MAX_BODY >> 20
        )));
    }
    records
        .into_iter()
        .map(|r| {
            binding::from_fields(binding::Fields {
                id: r.id,
                source: r.source,
                ty: r.type_,
                subject: r.subject,
                time: r.time,
                datacontenttype: r.datacontenttype,
                dataschema: r.dataschema,
                extensions: r.extensions,
                data: r.data,
            })
            .map_err(|e| DeliveryError::Reply(e.to_string()))
        })
        .collect()
}
