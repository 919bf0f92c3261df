//! Trace context and hop count on events, so that a flow can be followed
//! across components (W3C `traceparent` as the CloudEvents distributed
//! tracing extension) and a loop between components is caught.

use agent_store_events::ext;
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Event};
use rand::Rng;
use tracing::Span;

use crate::telemetry;

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// `00-<trace id>-<span id>-01`.
pub fn new_traceparent() -> String {
    format!("00-{}-{}-01", random_hex(16), random_hex(8))
}

/// The trace id of a well-formed `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (_version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    (trace.len() == 32 && span.len() == 16 && trace.bytes().all(|b| b.is_ascii_hexdigit())).then_some(trace)
}

/// A new span in the same trace as `parent`.
pub fn child_of(parent: &str) -> String {
    match trace_id(parent) {
        Some(trace) => format!("00-{trace}-{}-01", random_hex(8)),
        None => new_traceparent(),
    }
}

pub fn depth(event: &Event) -> u32 {
    match event.extension(ext::DEPTH) {
        Some(ExtensionValue::Integer(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(ExtensionValue::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn traceparent(event: &Event) -> Option<String> {
    event.extension(ext::TRACEPARENT).map(|v| v.to_string())
}

fn extension(event: &Event, name: &str) -> Option<String> {
    event.extension(name).map(|v| v.to_string())
}

/// The name of a delivery's span.
pub const DELIVERY_SPAN: &str = "deliver";

/// The span one delivery of `event` to `component` runs in: every log line
/// written while it runs (the host's and the component's) names the event,
/// its brand, conversation and trace; exported, it continues the trace of
/// the span that published the event.
pub fn delivery_span(event: &Event, component: &str, messaging_system: &str, attempt: u32) -> Span {
    let traceparent = traceparent(event);
    let span = tracing::info_span!(
        DELIVERY_SPAN,
        otel.kind = "consumer",
        messaging.system = messaging_system,
        messaging.operation.type = "process",
        component,
        version = tracing::field::Empty,
        event_type = %event.ty(),
        event_id = %event.id(),
        brand = extension(event, ext::BRAND),
        conversation = extension(event, ext::CONVERSATION),
        trace_id = traceparent.as_deref().and_then(trace_id),
        attempt,
    );
    let tracestate = extension(event, ext::TRACESTATE);
    telemetry::continue_trace(&span, traceparent.as_deref(), tracestate.as_deref());
    span
}

/// The `publish` span of one event, ended as soon as the event's trace
/// context names it: what the event causes hangs under it.
fn publish_span(event: &Event) -> Span {
    tracing::info_span!(
        "publish",
        otel.kind = "producer",
        messaging.operation.type = "create",
        event_type = %event.ty(),
        event_id = %event.id(),
    )
}

/// The trace context for `event`, published now: its `publish` span's when
/// spans are exported, else a new span id in `parent`'s trace (or a new
/// trace).
fn next_traceparent(event: &Event, parent: Option<&str>) -> String {
    if telemetry::exporting()
        && let Some(traceparent) = telemetry::traceparent_of(&publish_span(event))
    {
        return traceparent;
    }
    match parent {
        Some(parent) => child_of(parent),
        None => new_traceparent(),
    }
}

/// What an event passes on to the events it causes: its hop count and its
/// trace.
#[derive(Debug, Clone)]
pub struct Cause {
    depth: u32,
    traceparent: Option<String>,
    tracestate: Option<ExtensionValue>,
}

impl Cause {
    pub fn of(event: &Event) -> Self {
        Self {
            depth: depth(event),
            traceparent: traceparent(event),
            tracestate: event.extension(ext::TRACESTATE).cloned(),
        }
    }

    pub fn depth(&self) -> u32 {
        self.depth
    }
}

/// An event entering from outside starts a chain: hop 0 whatever the sender
/// wrote (a forged `depth` must not shorten or stretch a loop's life), and
/// a trace unless the sender brought a well-formed one.
pub fn stamp_external(event: &mut Event) {
    event.set_extension(ext::DEPTH, ExtensionValue::Integer(0));
    if traceparent(event).as_deref().and_then(trace_id).is_none() {
        // Inside a route's span (a webhook the gateway turns into events),
        // the event continues the request's trace.
        let traceparent = next_traceparent(event, None);
        event.set_extension(ext::TRACEPARENT, traceparent);
    }
}

/// An event caused by `cause` (returned by the component that handled it,
/// or published from a call made while handling it): one hop further, in
/// the cause's trace.
pub fn stamp_caused(event: &mut Event, cause: &Cause) {
    event.set_extension(ext::DEPTH, ExtensionValue::Integer(i64::from(cause.depth) + 1));
    let traceparent = next_traceparent(event, cause.traceparent.as_deref());
    event.set_extension(ext::TRACEPARENT, traceparent);
    if let Some(state) = cause.tracestate.clone()
        && event.extension(ext::TRACESTATE).is_none()
    {
        event.set_extension(ext::TRACESTATE, state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[test]
    fn caused_events_stay_in_the_trace_one_hop_further() {
        let mut cause = EventBuilderV10::new().id("1").source("/t").ty("a").build().unwrap();
        stamp_external(&mut cause);
        assert_eq!(depth(&cause), 0);
        let mut out = EventBuilderV10::new().id("2").source("/t").ty("b").build().unwrap();
        stamp_caused(&mut out, &Cause::of(&cause));
        assert_eq!(depth(&out), 1);
        let (a, b) = (traceparent(&cause).unwrap(), traceparent(&out).unwrap());
        assert_eq!(trace_id(&a), trace_id(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn a_depth_sent_from_outside_is_ignored() {
        let mut forged =
            EventBuilderV10::new().id("1").source("/t").ty("a").extension(ext::DEPTH, -5i64).build().unwrap();
        stamp_external(&mut forged);
        assert_eq!(depth(&forged), 0);
    }
}
