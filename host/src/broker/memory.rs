//! The embedded broker: queues in the host's memory, for a laptop and for
//! tests. It keeps the broker contract (order per conversation, retries with
//! backoff, dead letters) but not durability: what is queued when the
//! process stops is gone. Use RabbitMQ for anything that must survive.
//!
//! Each subscription keeps its waiting events by conversation: while a
//! conversation has events, one task handles them one at a time, in order,
//! and at most the subscription's concurrency run at once across all its
//! conversations. Conversations never wait on each other beyond that limit:
//! with lanes chosen by hashing, two conversations sharing a lane ran one
//! after the other, so 500 slow calls at concurrency 500 had only about 300
//! in flight (`cargo bench --bench load`, slow calls).
//!
//! Memory is bounded at the door: past [`DEFAULT_CAPACITY`] queued
//! deliveries, `publish` refuses new events with [`Full`] (the ingress
//! answers `503` with `Retry-After`) instead of growing without end. What
//! components emit while handling accepted events is always taken, so that
//! nothing accepted is dropped. Dead letters are bounded in count and bytes;
//! past either, the oldest go, each one counted in a warning. A replayed
//! dead letter goes back to its component's queue as attempt 1.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Result, bail};
use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use futures::FutureExt;
use tokio::sync::{Notify, Semaphore, watch};

use super::{
    Broker, DeadLetter, Full, Handler, MAX_REPLAY, Outcome, Replay, Replayed, RetryPolicy, Selection, Subscription,
    Verdict, ordering_key,
};

/// Deliveries queued (and in flight) at once before `publish` refuses more:
/// a few minutes of a busy store's traffic, a few hundred MiB at most.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// What a refused publisher is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Dead letters kept in memory; past either bound the oldest go first.
const MAX_DEAD_LETTERS: usize = 10_000;
const MAX_DEAD_LETTER_BYTES: usize = 64 << 20;

struct Envelope {
    event: Event,
    attempt: u32,
}

struct Lanes {
    subscription: Subscription,
    queues: Arc<Conversations>,
    /// `true` while the component is removed: its queue holds what is
    /// waiting (and new events are not routed to it) until it is subscribed
    /// again.
    paused: Arc<watch::Sender<bool>>,
}

/// One subscription's waiting events by conversation, each conversation's
/// run by a task of its own ([`super::ByKey`]).
struct Conversations {
    component: String,
    handler: Arc<dyn Handler>,
    waiting: super::ByKey<Envelope>,
    /// The subscription's concurrency: events handled at once.
    permits: Semaphore,
    paused: watch::Receiver<bool>,
}

impl Conversations {
    fn push(self: &Arc<Self>, inner: &Arc<Inner>, key: String, envelope: Envelope) {
        if let Some(first) = self.waiting.push(&key, envelope) {
            tokio::spawn(run_conversation(inner.clone(), self.clone(), key, first));
        }
    }
}

struct Inner {
    subscriptions: RwLock<Vec<Lanes>>,
    policy: RetryPolicy,
    capacity: usize,
    dead: Mutex<DeadLetters>,
    closing: AtomicBool,
    pending: AtomicUsize,
    idle: Notify,
}

/// Dead letters with their sizes, oldest first.
#[derive(Default)]
struct DeadLetters {
    letters: VecDeque<(DeadLetter, usize)>,
    bytes: usize,
    evicted: u64,
}

#[derive(Clone)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new(RetryPolicy::default())
    }
}

impl MemoryBroker {
    pub fn new(policy: RetryPolicy) -> Self {
        Self::with_capacity(policy, DEFAULT_CAPACITY)
    }

    /// A broker that refuses `publish` once `capacity` deliveries are queued.
    pub fn with_capacity(policy: RetryPolicy, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                subscriptions: RwLock::new(Vec::new()),
                policy,
                capacity: capacity.max(1),
                dead: Mutex::new(DeadLetters::default()),
                closing: AtomicBool::new(false),
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }
}

impl Inner {
    /// Routes events from outside, unless that would pass the capacity.
    fn admit(self: &Arc<Self>, events: &[Event]) -> Result<(), Full> {
        let subscriptions = self.subscriptions.read().unwrap();
        let deliveries: usize = events
            .iter()
            .map(|e| subscriptions.iter().filter(|l| !*l.paused.borrow() && l.subscription.matches(e)).count())
            .sum();
        let queued = self.pending.load(Ordering::SeqCst);
        if queued + deliveries > self.capacity {
            return Err(Full { queued, retry_after: RETRY_AFTER });
        }
        self.route_locked(&subscriptions, events);
        Ok(())
    }

    /// Routes what components emitted: always taken, since refusing it
    /// would lose what was accepted.
    fn route(self: &Arc<Self>, events: &[Event]) {
        let subscriptions = self.subscriptions.read().unwrap();
        self.route_locked(&subscriptions, events);
    }

    fn route_locked(self: &Arc<Self>, subscriptions: &[Lanes], events: &[Event]) {
        for event in events {
            let key = ordering_key(event);
            for lanes in subscriptions.iter().filter(|l| !*l.paused.borrow() && l.subscription.matches(event)) {
                self.pending.fetch_add(1, Ordering::SeqCst);
                lanes.queues.push(self, key.clone(), Envelope { event: event.clone(), attempt: 1 });
            }
        }
    }

    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    fn dead_letter(&self, event: Event, component: &str, reason: String, attempts: u32) {
        crate::metrics::metrics().dead_lettered(component);
        tracing::warn!(
            component,
            event_id = event.id(),
            event_type = event.ty(),
            attempts,
            reason = %reason,
            "event dead-lettered"
        );
        let size = serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(0) + reason.len();
        let letter = DeadLetter {
            id: uuid::Uuid::new_v4().to_string(),
            event,
            component: component.to_string(),
            reason,
            attempts,
            at: chrono::Utc::now(),
        };
        let mut dead = self.dead.lock().unwrap();
        dead.bytes += size;
        dead.letters.push_back((letter, size));
        while dead.letters.len() > MAX_DEAD_LETTERS || (dead.bytes > MAX_DEAD_LETTER_BYTES && dead.letters.len() > 1) {
            let Some((oldest, size)) = dead.letters.pop_front() else { break };
            dead.bytes -= size;
            dead.evicted += 1;
            tracing::warn!(
                evicted = dead.evicted,
                event_id = oldest.event.id(),
                component = oldest.component,
                "dead letters are full ({MAX_DEAD_LETTERS} letters or {} MiB): the oldest was dropped",
                MAX_DEAD_LETTER_BYTES >> 20
            );
        }
    }
}

impl DeadLetters {
    /// Takes the letters `selection` picks out, oldest first, at most
    /// `limit`.
    fn take(&mut self, selection: &Selection, limit: usize) -> Vec<DeadLetter> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.letters.len());
        for (letter, size) in self.letters.drain(..) {
            if taken.len() < limit && selection.takes(&letter.id, &letter.component) {
                self.bytes -= size;
                taken.push(letter);
            } else {
                kept.push_back((letter, size));
            }
        }
        self.letters = kept;
        taken
    }
}

/// Handles a conversation's events, `first` and then whatever queued behind
/// it, one at a time.
async fn run_conversation(inner: Arc<Inner>, queues: Arc<Conversations>, key: String, first: Envelope) {
    let mut paused = queues.paused.clone();
    let mut next = Some(first);
    while let Some(Envelope { event, attempt }) = next.take().or_else(|| queues.waiting.next(&key)) {
        // Waiting before handling keeps it queued, in order, while the
        // component is removed. The sender lives as long as the broker.
        if paused.wait_for(|p| !*p).await.is_err() {
            return;
        }
        let handled = {
            let _permit = queues.permits.acquire().await.expect("the permits are never closed");
            // A panicking handler must not take the conversation down with
            // it. Caught here rather than on a task of its own: a spawn per
            // event cost a cross-thread wake-up per event.
            AssertUnwindSafe(queues.handler.handle(event.clone(), attempt))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Outcome::Retry(format!("the handler panicked: {}", super::panic_text(&*panic))))
        };
        let component = queues.component.as_str();
        match inner.policy.settle(handled, attempt) {
            Verdict::Publish(outputs) => {
                inner.route(&outputs.events);
                for refused in outputs.refused {
                    inner.dead_letter(refused.event, component, refused.reason, attempt);
                }
            }
            Verdict::DeadLetter(reason) => inner.dead_letter(event, component, reason, attempt),
            Verdict::Retry { delay, reason } => {
                tracing::info!(component, event_id = event.id(), attempt, ?delay, reason = %reason, "retrying event");
                inner.pending.fetch_add(1, Ordering::SeqCst);
                let (inner, queues, key) = (inner.clone(), queues.clone(), key.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    queues.push(&inner, key, Envelope { event, attempt: attempt + 1 });
                });
            }
        }
        inner.done();
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, events: &[Event]) -> Result<()> {
        if self.inner.closing.load(Ordering::SeqCst) {
            bail!("the host is shutting down and takes no new events");
        }
        self.inner.admit(events)?;
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<()> {
        {
            // Again: new filters on the same lanes (the handler looks the
            // component up per event, so it is the same one).
            let mut subscriptions = self.inner.subscriptions.write().unwrap();
            if let Some(lanes) = subscriptions.iter_mut().find(|l| l.subscription.component == subscription.component) {
                lanes.subscription.filters = subscription.filters;
                lanes.paused.send_replace(false);
                return Ok(());
            }
        }
        let paused = Arc::new(watch::channel(false).0);
        let queues = Arc::new(Conversations {
            component: subscription.component.clone(),
            handler,
            waiting: Default::default(),
            permits: Semaphore::new(subscription.concurrency.max(1)),
            paused: paused.subscribe(),
        });
        self.inner.subscriptions.write().unwrap().push(Lanes { subscription, queues, paused });
        Ok(())
    }

    async fn unsubscribe(&self, component: &str) -> Result<()> {
        let subscriptions = self.inner.subscriptions.read().unwrap();
        let Some(lanes) = subscriptions.iter().find(|l| l.subscription.component == component) else {
            bail!("component `{component}` is not subscribed");
        };
        lanes.paused.send_replace(true);
        Ok(())
    }

    async fn ready(&self) -> bool {
        !self.inner.closing.load(Ordering::SeqCst)
    }

    fn pending(&self) -> Option<usize> {
        Some(self.inner.pending.load(Ordering::Relaxed))
    }

    async fn shutdown(&self, grace: Duration) {
        self.inner.closing.store(true, Ordering::SeqCst);
        let drained = async {
            loop {
                let idle = self.inner.idle.notified();
                if self.inner.pending.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                pending = self.inner.pending.load(Ordering::SeqCst),
                "shutdown grace period over: dropping events still queued in memory"
            );
        }
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(self.inner.dead.lock().unwrap().letters.iter().map(|(letter, _)| letter.clone()).collect())
    }

    /// Queues each selected letter's event on its component's queue again,
    /// as attempt 1, behind its conversation's waiting events. A component
    /// removed by a deploy gets them when it is deployed again; one that is
    /// not on this host at all keeps its letters.
    async fn replay_dead_letters(&self, selection: &Selection) -> Result<Replay> {
        if self.inner.closing.load(Ordering::SeqCst) {
            bail!("the host is shutting down and takes no new events");
        }
        let subscriptions = self.inner.subscriptions.read().unwrap();
        let here = |component: &str| subscriptions.iter().any(|l| l.subscription.component == component);
        let taken = {
            let mut dead = self.inner.dead.lock().unwrap();
            let found: Vec<&str> = dead
                .letters
                .iter()
                .map(|(letter, _)| letter)
                .filter(|letter| selection.takes(&letter.id, &letter.component))
                .map(|letter| letter.id.as_str())
                .collect();
            selection.check_found(found)?;
            if let Some(letter) = dead
                .letters
                .iter()
                .map(|(letter, _)| letter)
                .find(|letter| selection.takes(&letter.id, &letter.component) && !here(&letter.component))
            {
                bail!(
                    "dead letter {} is kept, not replayed: its component `{}` is not on this host",
                    letter.id,
                    letter.component
                );
            }
            dead.take(selection, MAX_REPLAY)
        };
        let mut replay = Replay::default();
        for letter in taken {
            let lanes = subscriptions
                .iter()
                .find(|l| l.subscription.component == letter.component)
                .expect("checked above, under the same lock");
            self.inner.pending.fetch_add(1, Ordering::SeqCst);
            lanes.queues.push(&self.inner, ordering_key(&letter.event), Envelope { event: letter.event, attempt: 1 });
            tracing::info!(id = letter.id, component = letter.component, "dead letter replayed");
            replay.replayed.push(Replayed { id: letter.id, component: letter.component });
        }
        Ok(replay)
    }

    async fn purge_dead_letters(&self, components: &[String]) -> Result<usize> {
        let purged = self.inner.dead.lock().unwrap().take(&Selection::all(components.to_vec()), usize::MAX).len();
        tracing::info!(purged, ?components, "dead letters purged");
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{Filter, Outputs};
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(ty: &str, conversation: &str, n: u32) -> Event {
        EventBuilderV10::new()
            .id(format!("{conversation}-{n}"))
            .source("/test")
            .ty(ty)
            .extension("conversation", conversation.to_string())
            .build()
            .unwrap()
    }

    struct Recorder {
        seen: Mutex<Vec<(String, u32)>>,
        fail_first: bool,
        reply: Option<String>,
    }

    #[async_trait]
    impl Handler for Recorder {
        async fn handle(&self, event: Event, attempt: u32) -> Outcome {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.seen.lock().unwrap().push((event.id().to_string(), attempt));
            if event.ty() == "bad" {
                return Outcome::Reject("bad".into());
            }
            if self.fail_first && attempt == 1 {
                return Outcome::Retry("first try fails".into());
            }
            match &self.reply {
                Some(ty) => Outcome::Done(vec![event_with_type(&event, ty)].into()),
                None => Outcome::Done(Outputs::default()),
            }
        }
    }

    fn event_with_type(event: &Event, ty: &str) -> Event {
        EventBuilderV10::new().id(format!("{}-reply", event.id())).source("/test").ty(ty).build().unwrap()
    }

    fn recorder(fail_first: bool, reply: Option<&str>) -> Arc<Recorder> {
        Arc::new(Recorder { seen: Mutex::new(Vec::new()), fail_first, reply: reply.map(str::to_string) })
    }

    fn sub(component: &str, ty: &str, concurrency: usize) -> Subscription {
        Subscription { component: component.into(), filters: vec![Filter::new(ty)], concurrency }
    }

    #[tokio::test]
    async fn fans_out_routes_replies_and_keeps_conversation_order() -> Result<()> {
        let broker = MemoryBroker::new(RetryPolicy { max_attempts: 3, backoff: Duration::from_millis(5) });
        let a = recorder(false, Some("reply"));
        let b = recorder(false, None);
        let replies = recorder(false, None);
        broker.subscribe(sub("a", "ask", 4), a.clone()).await?;
        broker.subscribe(sub("b", "ask", 1), b.clone()).await?;
        broker.subscribe(sub("r", "reply", 2), replies.clone()).await?;
        let events: Vec<Event> = (0..20).map(|n| event("ask", if n % 2 == 0 { "even" } else { "odd" }, n)).collect();
        broker.publish(&events).await?;
        broker.shutdown(Duration::from_secs(5)).await;
        assert_eq!(a.seen.lock().unwrap().len(), 20);
        assert_eq!(b.seen.lock().unwrap().len(), 20);
        assert_eq!(replies.seen.lock().unwrap().len(), 20);
        let seen = a.seen.lock().unwrap();
        let evens: Vec<&String> = seen.iter().map(|(id, _)| id).filter(|id| id.starts_with("even")).collect();
        let mut sorted = evens.clone();
        sorted.sort_by_key(|id| id.trim_start_matches("even-").parse::<u32>().unwrap());
        assert_eq!(evens, sorted, "one conversation's events arrive in order");
        Ok(())
    }

    #[tokio::test]
    async fn retries_then_dead_letters_and_rejects_at_once() -> Result<()> {
        let broker = MemoryBroker::new(RetryPolicy { max_attempts: 2, backoff: Duration::from_millis(5) });
        let flaky = recorder(true, None);
        broker.subscribe(sub("flaky", "#", 1), flaky.clone()).await?;
        broker.publish(&[event("ok", "c", 1), event("bad", "c", 2)]).await?;
        broker.shutdown(Duration::from_secs(5)).await;
        let seen = flaky.seen.lock().unwrap().clone();
        assert!(seen.contains(&("c-1".to_string(), 2)), "retried: {seen:?}");
        let dead = broker.dead_letters().await?;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].event.id(), "c-2");
        assert_eq!(dead[0].reason, "bad");
        assert_eq!(dead[0].attempts, 1);
        assert!(broker.publish(&[event("ok", "c", 3)]).await.is_err(), "closed after shutdown");
        Ok(())
    }

    /// Counts the events it holds at once; each takes `hold`.
    struct Slow {
        hold: Duration,
        now: AtomicUsize,
        most: AtomicUsize,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Handler for Slow {
        async fn handle(&self, event: Event, _attempt: u32) -> Outcome {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.hold).await;
            self.seen.lock().unwrap().push(event.id().to_string());
            self.now.fetch_sub(1, Ordering::SeqCst);
            Outcome::Done(Outputs::default())
        }
    }

    /// As many conversations as the concurrency run at once, whichever they
    /// are: none waits behind another it happened to share a lane with.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_conversation_runs_at_once_up_to_the_concurrency_and_no_further() -> Result<()> {
        let broker = MemoryBroker::default();
        let slow = Arc::new(Slow {
            hold: Duration::from_millis(300),
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        broker.subscribe(sub("slow", "#", 200), slow.clone()).await?;
        // 200 conversations, then 100 more: the first 200 run at once, the
        // rest wait for a turn.
        let events: Vec<Event> = (0..300).map(|n| event("ask", &format!("c{n}"), n)).collect();
        let started = std::time::Instant::now();
        broker.publish(&events).await?;
        broker.shutdown(Duration::from_secs(10)).await;
        assert_eq!(slow.seen.lock().unwrap().len(), 300);
        assert_eq!(slow.most.load(Ordering::SeqCst), 200, "held at once");
        assert!(started.elapsed() < Duration::from_millis(1500), "two turns of 300 ms, took {:?}", started.elapsed());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conversation_stays_in_order_while_others_pass_it() -> Result<()> {
        let broker = MemoryBroker::default();
        let slow = Arc::new(Slow {
            hold: Duration::from_millis(50),
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        broker.subscribe(sub("slow", "#", 8), slow.clone()).await?;
        let mut events: Vec<Event> = (0..10).map(|n| event("ask", "long", n)).collect();
        events.extend((10..20).map(|n| event("ask", &format!("short{n}"), n)));
        broker.publish(&events).await?;
        broker.shutdown(Duration::from_secs(10)).await;
        let seen = slow.seen.lock().unwrap().clone();
        let long: Vec<&String> = seen.iter().filter(|id| id.starts_with("long")).collect();
        let expected: Vec<String> = (0..10).map(|n| format!("long-{n}")).collect();
        assert_eq!(long, expected.iter().collect::<Vec<_>>(), "one conversation in order");
        let last_short = seen.iter().rposition(|id| id.starts_with("short")).unwrap();
        let fourth_long = seen.iter().position(|id| id == "long-3").unwrap();
        assert!(last_short < fourth_long, "the short conversations did not wait for the long one: {seen:?}");
        Ok(())
    }

    struct Panicky {
        seen: Mutex<Vec<u32>>,
    }

    #[async_trait]
    impl Handler for Panicky {
        async fn handle(&self, _event: Event, attempt: u32) -> Outcome {
            self.seen.lock().unwrap().push(attempt);
            if attempt == 1 {
                panic!("panicking on purpose");
            }
            Outcome::Done(Outputs::default())
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_is_retried_and_the_conversation_goes_on() -> Result<()> {
        let broker = MemoryBroker::new(RetryPolicy { max_attempts: 3, backoff: Duration::from_millis(5) });
        let panicky = Arc::new(Panicky { seen: Mutex::new(Vec::new()) });
        broker.subscribe(sub("p", "#", 1), panicky.clone()).await?;
        broker.publish(&[event("ask", "c", 1)]).await?;
        broker.shutdown(Duration::from_secs(5)).await;
        assert_eq!(*panicky.seen.lock().unwrap(), vec![1, 2]);
        assert!(broker.dead_letters().await?.is_empty());
        Ok(())
    }

    /// Polls `done` until it holds (the conversations run on their own tasks).
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "waited in vain for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_replayed_dead_letter_runs_again_as_attempt_one() -> Result<()> {
        let broker = MemoryBroker::new(RetryPolicy { max_attempts: 2, backoff: Duration::from_millis(5) });
        let picky = recorder(false, None);
        broker.subscribe(sub("picky", "#", 2), picky.clone()).await?;
        broker.publish(&[event("bad", "c", 1), event("bad", "d", 2)]).await?;
        let letters = || broker.inner.dead.lock().unwrap().letters.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
        until("two dead letters", || letters().len() == 2).await;
        let first = letters()[0].clone();
        assert!(!first.id.is_empty() && first.id != letters()[1].id);

        let unknown = broker.replay_dead_letters(&Selection::ids(vec!["nope".into()])).await.unwrap_err();
        assert!(unknown.is::<crate::broker::UnknownDeadLetter>(), "{unknown}");
        assert_eq!(letters().len(), 2, "nothing taken");

        let replay = broker.replay_dead_letters(&Selection::ids(vec![first.id.clone()])).await?;
        assert_eq!(replay.replayed, [Replayed { id: first.id.clone(), component: "picky".into() }]);
        let runs = || picky.seen.lock().unwrap().iter().filter(|(id, _)| id == first.event.id()).count();
        until("the replay to run", || runs() == 2).await;
        assert!(picky.seen.lock().unwrap().iter().all(|(_, attempt)| *attempt == 1));
        // Still bad: dead-lettered again, as a new letter.
        until("the second dead letter", || letters().len() == 2).await;
        assert!(letters().iter().all(|letter| letter.id != first.id));

        assert_eq!(broker.purge_dead_letters(&["another".into()]).await?, 0);
        assert_eq!(broker.purge_dead_letters(&[]).await?, 2);
        assert_eq!(broker.inner.dead.lock().unwrap().bytes, 0, "their bytes are counted off too");
        Ok(())
    }

    /// A handler that waits until told to go on, so that queues fill.
    struct Gate {
        open: tokio::sync::Semaphore,
        seen: AtomicUsize,
    }

    #[async_trait]
    impl Handler for Gate {
        async fn handle(&self, _event: Event, _attempt: u32) -> Outcome {
            self.open.acquire().await.unwrap().forget();
            self.seen.fetch_add(1, Ordering::SeqCst);
            Outcome::Done(
                vec![
                    EventBuilderV10::new().id(uuid::Uuid::new_v4().to_string()).source("/t").ty("out").build().unwrap(),
                ]
                .into(),
            )
        }
    }

    #[tokio::test]
    async fn a_full_broker_refuses_at_the_door_and_keeps_what_it_took() -> Result<()> {
        let broker = MemoryBroker::with_capacity(RetryPolicy::default(), 10);
        let gate = Arc::new(Gate { open: tokio::sync::Semaphore::new(0), seen: AtomicUsize::new(0) });
        let outputs = recorder(false, None);
        broker.subscribe(sub("slow", "in", 2), gate.clone()).await?;
        broker.subscribe(sub("sink", "out", 1), outputs.clone()).await?;
        let mut accepted = 0;
        let mut refused = 0;
        for n in 0..50 {
            match broker.publish(&[event("in", &format!("c{n}"), n)]).await {
                Ok(()) => accepted += 1,
                Err(error) => {
                    let full = error.downcast_ref::<Full>().expect("a full broker says so");
                    assert!(full.retry_after >= Duration::from_secs(1));
                    refused += 1;
                }
            }
        }
        assert_eq!(accepted, 10, "up to the capacity");
        assert_eq!(refused, 40);
        gate.open.add_permits(1000);
        broker.shutdown(Duration::from_secs(5)).await;
        assert_eq!(gate.seen.load(Ordering::SeqCst), 10, "every accepted event handled");
        assert_eq!(outputs.seen.lock().unwrap().len(), 10, "and what they caused delivered, past the capacity");
        Ok(())
    }
}
