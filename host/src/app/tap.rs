//! The live tap behind `GET /events/tail` and `agent-store tail`: every event
//! the host publishes and every delivery outcome, for people following a
//! flow, like wasmCloud's `wash spy`.

use std::collections::BTreeMap;

use cloudevents::Event;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::broker::{attribute, type_matches};

/// Records kept for a slow reader before it starts missing some.
const TAP_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapKind {
    /// The host handed the event to the broker (a `failed` record with no
    /// component follows if the broker did not take it).
    Published,
    /// A component handled the event.
    Delivered,
    /// A component failed on the event (it may be retried), or, with no
    /// component, the broker did not take a published event.
    Failed,
    /// The event was refused for good and dead-lettered.
    Rejected,
}

/// One line of the tail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TapRecord {
    pub kind: TapKind,
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// The version (sha256) of the component that ran the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl TapRecord {
    /// The host handed `event` to the broker.
    pub fn published(event: &Event) -> Self {
        Self {
            kind: TapKind::Published,
            event: event.clone(),
            component: None,
            detail: None,
            elapsed_ms: None,
            version: None,
        }
    }
}

#[derive(Clone)]
pub struct Tap {
    sender: broadcast::Sender<TapRecord>,
}

impl Default for Tap {
    fn default() -> Self {
        Self { sender: broadcast::channel(TAP_CAPACITY).0 }
    }
}

impl Tap {
    pub fn record(&self, record: TapRecord) {
        // Nobody tailing is the normal case: nothing to do.
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(record);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TapRecord> {
        self.sender.subscribe()
    }
}

/// What a tail reader asked for: `type` (a pattern as in subscriptions) and
/// attribute equality filters.
#[derive(Debug, Clone, Default)]
pub struct TailFilter {
    pub event_type: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

impl TailFilter {
    pub fn from_query(query: BTreeMap<String, String>) -> Self {
        let mut attributes = query;
        let event_type = attributes.remove("type");
        attributes.remove("token");
        Self { event_type, attributes }
    }

    pub fn matches(&self, record: &TapRecord) -> bool {
        let typed = self
            .event_type
            .as_deref()
            .is_none_or(|t| type_matches(t, cloudevents::AttributesReader::ty(&record.event)));
        typed
            && self.attributes.iter().all(|(name, want)| {
                if name == "component" {
                    return record.component.as_deref() == Some(want.as_str());
                }
                attribute(&record.event, name).as_deref() == Some(want.as_str())
            })
    }
}
