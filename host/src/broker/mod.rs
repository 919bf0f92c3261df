//! The broker: where events are published and from where subscribers get
//! them. [`memory`] is the embedded default; the RabbitMQ backend implements
//! the same [`Broker`] trait, and on Knative Eventing [`knative`] posts to
//! the cluster's broker and takes the deliveries its Triggers push.
//!
//! The contract every backend keeps:
//! * `publish` returns once the broker holds the events (durably, for a
//!   durable backend);
//! * a subscriber's [`Handler`] gets each matching event at least once; what
//!   it returns is published *before* the input is acknowledged;
//! * [`Outcome::Retry`] redelivers with backoff up to the attempt limit,
//!   then dead-letters; [`Outcome::Reject`] dead-letters at once (one
//!   [`RetryPolicy::settle`] decides for every backend that retries itself);
//! * outputs the host refused ([`Outputs::refused`]) are dead-lettered
//!   under the component that emitted them, with the reason;
//! * events of one conversation reach a subscriber in the order they were
//!   published, while different conversations are handled in parallel.

pub mod knative;
pub mod memory;
pub mod rabbitmq;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use serde::Serialize;

use agent_store_manifest::SubscriptionSpec;
use agent_store_runtime::capabilities::key_value::staged::Transaction;

/// Attempts before a failing event is dead-lettered, by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// The first retry waits this long; each next one twice as long.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// Retry policy shared by the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: DEFAULT_MAX_ATTEMPTS, backoff: DEFAULT_RETRY_BACKOFF }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        self.backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)).min(1 << 10))
    }

    /// What becomes of a delivery that was attempt `attempt` and ended in
    /// `outcome`.
    pub fn settle(&self, outcome: Outcome, attempt: u32) -> Verdict {
        match outcome {
            Outcome::Done(outputs) => Verdict::Publish(outputs),
            Outcome::Reject(reason) => Verdict::DeadLetter(reason),
            Outcome::Retry(reason) if attempt >= self.max_attempts => {
                Verdict::DeadLetter(format!("gave up after {attempt} attempts: {reason}"))
            }
            Outcome::Retry(reason) => Verdict::Retry { delay: self.delay_after(attempt), reason },
        }
    }
}

/// What a backend does with a delivery once it is handled.
#[derive(Debug)]
pub enum Verdict {
    /// Publish (and dead-letter the refused), then acknowledge.
    Publish(Outputs),
    /// Deliver it again after `delay`.
    Retry { delay: Duration, reason: String },
    /// Keep it as a dead letter, with why.
    DeadLetter(String),
}

/// The broker cannot take more events right now: the caller should try
/// again later (`503` with `Retry-After` at the door). Nothing it was
/// refused was kept.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the broker is full ({queued} events queued): try again in {}s", retry_after.as_secs().max(1))]
pub struct Full {
    pub queued: usize,
    pub retry_after: Duration,
}

/// What a subscriber receives: an event type pattern plus exact-match
/// filters on other attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// `store.order.created`, `store.order.*` (one more segment) or
    /// `store.#` (any number of segments).
    pub event_type: String,
    pub attributes: BTreeMap<String, String>,
}

impl Filter {
    pub fn new(event_type: impl Into<String>) -> Self {
        Self { event_type: event_type.into(), attributes: BTreeMap::new() }
    }

    pub fn with(mut self, attribute: &str, value: &str) -> Self {
        self.attributes.insert(attribute.into(), value.into());
        self
    }

    pub fn matches(&self, event: &Event) -> bool {
        type_matches(&self.event_type, event.ty())
            && self.attributes.iter().all(|(name, want)| attribute(event, name).as_deref() == Some(want.as_str()))
    }
}

impl From<&SubscriptionSpec> for Filter {
    fn from(spec: &SubscriptionSpec) -> Self {
        Self { event_type: spec.event_type.clone(), attributes: spec.attributes.clone() }
    }
}

pub use agent_store_events::binding::{attribute, type_matches};

/// One component's subscription to the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// The component the events go to; also names its queue.
    pub component: String,
    pub filters: Vec<Filter>,
    /// Events handled at once (different conversations).
    pub concurrency: usize,
}

impl Subscription {
    pub fn matches(&self, event: &Event) -> bool {
        self.filters.iter().any(|f| f.matches(event))
    }
}

/// What a component emitted while handling one event, as the host
/// admitted it.
#[derive(Debug, Default)]
pub struct Outputs {
    /// To publish.
    pub events: Vec<Event>,
    /// Outside what the component may emit: dead-lettered, not published.
    pub refused: Vec<Refused>,
    /// The component's key-value writes, staged for the backend to commit
    /// with the delivery's idempotency record (see [`Broker::stages_writes`]).
    pub staged: Option<Arc<Transaction>>,
    /// With staged writes: what shows the events as published (the tail,
    /// the metrics), run once the commit went through. A run whose commit
    /// met a conflict runs again, and its events never existed.
    pub announce: Option<Announce>,
}

impl Outputs {
    /// Shows the events as published, if that waited for the commit.
    pub fn announce(&mut self) {
        if let Some(announce) = self.announce.take() {
            (announce.0)();
        }
    }
}

/// See [`Outputs::announce`].
pub struct Announce(pub Box<dyn FnOnce() + Send + Sync>);

impl std::fmt::Debug for Announce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Announce")
    }
}

/// An event a component emitted that the host would not publish.
#[derive(Debug, Clone)]
pub struct Refused {
    pub event: Event,
    pub reason: String,
}

impl From<Vec<Event>> for Outputs {
    fn from(events: Vec<Event>) -> Self {
        Self { events, refused: Vec::new(), staged: None, announce: None }
    }
}

/// What a handler made of one delivery.
#[derive(Debug)]
pub enum Outcome {
    /// Handled: publish these (dead-letter the refused), then acknowledge.
    Done(Outputs),
    /// The event can never be handled: dead-letter it now.
    Reject(String),
    /// Failed this time: redeliver later, dead-letter when attempts run out.
    Retry(String),
}

/// Receives a subscription's events.
#[async_trait]
pub trait Handler: Send + Sync {
    /// `attempt` counts from 1.
    async fn handle(&self, event: Event, attempt: u32) -> Outcome;

    /// Whether the component may call outside the store (beyond
    /// `*.spin.internal`): running one of its deliveries again may repeat
    /// such a call.
    fn calls_outside(&self) -> bool {
        false
    }
}

/// An event that could not be handled, kept with why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// What `show` and `replay` name it by: the store key on Knative, the
    /// death note's id on RabbitMQ, one given when dead-lettered in memory.
    /// Defaulted so that letters kept before it existed still load (the
    /// backend fills it in from where it found them).
    #[serde(default)]
    pub id: String,
    pub event: Event,
    pub component: String,
    pub reason: String,
    pub attempts: u32,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Dead letters one replay may send back, so that one call's work (and
/// its answer) stays bounded; `replay --all` says when more are left.
pub const MAX_REPLAY: usize = 1000;

/// Which dead letters a replay or a purge takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// These ids, or every one (`None`).
    pub ids: Option<Vec<String>>,
    /// Only these components' (every component's when empty).
    pub components: Vec<String>,
}

impl Selection {
    pub fn ids(ids: Vec<String>) -> Self {
        Self { ids: Some(ids), components: Vec::new() }
    }

    pub fn all(components: Vec<String>) -> Self {
        Self { ids: None, components }
    }

    pub fn takes(&self, id: &str, component: &str) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.iter().any(|i| i == id))
            && (self.components.is_empty() || self.components.iter().any(|c| c == component))
    }

    /// Fails with [`UnknownDeadLetter`] when a named id is not among
    /// `found`: checked before anything is replayed, so that a typo does
    /// not replay the rest and then fail.
    pub fn check_found<'a>(&self, found: impl IntoIterator<Item = &'a str>) -> Result<(), UnknownDeadLetter> {
        let Some(ids) = &self.ids else { return Ok(()) };
        let found: std::collections::HashSet<&str> = found.into_iter().collect();
        let missing: Vec<String> = ids.iter().filter(|id| !found.contains(id.as_str())).cloned().collect();
        if missing.is_empty() { Ok(()) } else { Err(UnknownDeadLetter(missing)) }
    }
}

/// A dead letter sent back to its component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Replayed {
    pub id: String,
    pub component: String,
}

/// What a replay did: the letters sent back, and, when it stopped early,
/// why (the letters not sent back are still kept).
#[derive(Debug, Default)]
pub struct Replay {
    pub replayed: Vec<Replayed>,
    pub stopped: Option<String>,
}

/// No dead letter by these ids (among the selected components).
#[derive(Debug, Clone, thiserror::Error)]
#[error("no dead letter {}", .0.join(", "))]
pub struct UnknownDeadLetter(pub Vec<String>);

/// The backend keeps no dead letters this host can replay or purge.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the `{kind}` broker cannot {action} dead letters here: {why}")]
pub struct Unsupported {
    pub kind: &'static str,
    pub action: &'static str,
    pub why: &'static str,
}

/// A place events are published to and delivered from.
#[async_trait]
pub trait Broker: Send + Sync {
    /// A short name for logs: `memory`, `rabbitmq`.
    fn kind(&self) -> &'static str;

    /// Returns when the broker holds every event. A backend with a
    /// capacity refuses the whole call with [`Full`] when it is reached.
    async fn publish(&self, events: &[Event]) -> Result<()>;

    /// Starts delivering `subscription`'s events to `handler`. Subscribing a
    /// component again (a deploy) replaces its filters and resumes a
    /// subscription that [`unsubscribe`](Broker::unsubscribe) paused; what
    /// was queued for it is delivered, nothing is dropped.
    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<()>;

    /// Stops routing new events to `component` and stops delivering its
    /// queued ones, which are kept for a later [`subscribe`](Broker::subscribe);
    /// deliveries in flight finish.
    async fn unsubscribe(&self, component: &str) -> Result<()>;

    /// Whether the broker can take events right now.
    async fn ready(&self) -> bool;

    /// Deliveries this host holds and has not settled, where the backend
    /// can tell cheaply (for `/metrics`).
    fn pending(&self) -> Option<usize> {
        None
    }

    /// Stops taking deliveries and waits (up to `grace`) for in-flight ones
    /// to finish and be acknowledged.
    async fn shutdown(&self, grace: Duration);

    /// Whether deliveries should stage their key-value writes: the backend
    /// then commits them in one transaction with the delivery's record, so
    /// that a crash leaves both or neither (`docs/broker.md`). Only a
    /// backend with idempotency records does.
    fn stages_writes(&self) -> bool {
        false
    }

    /// Dead letters this broker keeps, newest last (for the ones it can list).
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(Vec::new())
    }

    /// One dead letter by its id.
    async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetter>> {
        Ok(self.dead_letters().await?.into_iter().find(|letter| letter.id == id))
    }

    /// Sends the selected dead letters (at most [`MAX_REPLAY`], oldest
    /// first) back to their components as fresh events, and removes each
    /// one once the broker holds its event again. A named id that is not
    /// there fails the whole call with [`UnknownDeadLetter`] before anything
    /// is sent.
    async fn replay_dead_letters(&self, selection: &Selection) -> Result<Replay> {
        let _ = selection;
        Err(Unsupported { kind: self.kind(), action: "replay", why: UNSUPPORTED_WHY }.into())
    }

    /// Deletes the selected components' dead letters (every one's when
    /// `components` is empty); returns how many.
    async fn purge_dead_letters(&self, components: &[String]) -> Result<usize> {
        let _ = components;
        Err(Unsupported { kind: self.kind(), action: "purge", why: UNSUPPORTED_WHY }.into())
    }
}

const UNSUPPORTED_WHY: &str = "it keeps none that this host can reach";

/// The key that keeps one conversation's events in order: the
/// `conversation` extension, else the event's own id (no ordering needed).
pub fn ordering_key(event: &Event) -> String {
    event
        .extension(agent_store_events::ext::CONVERSATION)
        .map(|v| v.to_string())
        .unwrap_or_else(|| event.id().to_string())
}

/// What a caught panic said, for the retry reason.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Items waiting by key (a conversation), for brokers that run one key's
/// items one at a time and different keys at once. A key is in the map
/// while a task runs its items; that task takes the next one until none is
/// left, and the key leaves the map under the same lock new items join it,
/// so an item is never left without a task.
pub(crate) struct ByKey<T> {
    waiting: std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<T>>>,
}

impl<T> Default for ByKey<T> {
    fn default() -> Self {
        Self { waiting: Default::default() }
    }
}

impl<T> ByKey<T> {
    /// Queues `item` behind its key's running ones, or gives it back when
    /// the key has none running: the caller then starts the key's task with
    /// it.
    pub(crate) fn push(&self, key: &str, item: T) -> Option<T> {
        let mut waiting = self.waiting.lock().unwrap();
        if let Some(queue) = waiting.get_mut(key) {
            queue.push_back(item);
            return None;
        }
        waiting.insert(key.to_string(), Default::default());
        Some(item)
    }

    /// The key's next item, or `None` and its task ends.
    pub(crate) fn next(&self, key: &str) -> Option<T> {
        let mut waiting = self.waiting.lock().unwrap();
        let next = waiting.get_mut(key).and_then(std::collections::VecDeque::pop_front);
        if next.is_none() {
            waiting.remove(key);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[test]
    fn types_match_like_a_topic_exchange() {
        assert!(type_matches("store.order.created", "store.order.created"));
        assert!(type_matches("store.order.*", "store.order.created"));
        assert!(!type_matches("store.order.*", "store.order.created.late"));
        assert!(type_matches("store.#", "store.order.created"));
        assert!(type_matches("store.order.#", "store.order"));
        assert!(type_matches("#", "anything.at.all"));
        assert!(!type_matches("store.product.query", "store.product.query.result"));
    }

    #[test]
    fn filters_check_attributes_and_extensions() {
        let event = EventBuilderV10::new()
            .id("1")
            .source("/agent-store/whatsapp-gateway")
            .ty("store.chat.message.new")
            .extension("brand", "fashion")
            .build()
            .unwrap();
        assert!(Filter::new("store.chat.message.new").with("brand", "fashion").matches(&event));
        assert!(!Filter::new("store.chat.message.new").with("brand", "tech").matches(&event));
        assert!(Filter::new("store.chat.#").with("source", "/agent-store/whatsapp-gateway").matches(&event));
    }

    #[test]
    fn backoff_doubles() {
        let p = RetryPolicy { max_attempts: 5, backoff: Duration::from_millis(100) };
        assert_eq!(p.delay_after(1), Duration::from_millis(100));
        assert_eq!(p.delay_after(3), Duration::from_millis(400));
    }
}
