//! One subscription's deliveries: consumed from its partition queues,
//! queued by conversation, handed to the component, then settled — outputs
//! published and confirmed before the input is acked, failures sent to a
//! retry queue or the dead-letter queue.
//!
//! One conversation's deliveries run one at a time, in the order its
//! partition queue delivered them, while different conversations run at
//! once up to the component's concurrency. The queues outlive connections:
//! a delivery whose channel died while it waited is skipped, since RabbitMQ
//! hands it out again.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cloudevents::{AttributesReader, Event};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Acker, BasicProperties, Channel};
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;

use super::Settings;
use super::handled::{CLAIM_RENEWAL, Claim, Finished, Handled, Token};
use super::headers::{self, DeathNote};
use super::link::{Link, Outgoing, SETTLE_TIMEOUT};
use super::topology;
use crate::broker::{Handler, Outcome, Outputs, Subscription, Verdict};
use crate::metrics::{Stage, StageTimes};

/// How long a delivery that could not be settled (the store or the broker
/// refused something) waits before it is put back, so that a persistent
/// fault does not spin.
const REQUEUE_DELAY: Duration = Duration::from_secs(1);

/// How often recording a handled event is tried before giving up on it.
const FINISH_TRIES: u32 = 3;

/// Runs of one delivery whose commit met a conflict (another delivery
/// changed a key it read) before it is put back instead.
pub(crate) const CONFLICT_RUNS: u32 = 8;

/// Deliveries received and not yet settled, across subscriptions: what
/// shutdown waits for.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A delivery's acker, usable once: settling takes it. Dropped unsettled
/// (a bug, or a panic on the way), it puts the delivery back.
struct Ticket {
    acker: Option<Acker>,
    /// The link the delivery came on: its acker works there or nowhere.
    link: Arc<Link>,
}

impl Ticket {
    fn usable(&self) -> bool {
        self.acker.as_ref().is_some_and(Acker::usable)
    }

    async fn ack(&mut self) {
        if let Some(acker) = self.acker.take() {
            let acked = async { Ok(acker.ack(BasicAckOptions::default()).await?) };
            if let Err(e) = self.link.bounded("acking", SETTLE_TIMEOUT, acked).await {
                // Its channel is gone: RabbitMQ redelivers it, and the record
                // makes that redelivery cheap.
                tracing::debug!(error = %format!("{e:#}"), "could not ack: the delivery comes back");
            }
        }
    }

    async fn requeue(&mut self, why: &str) {
        tracing::warn!(reason = why, "putting the delivery back");
        tokio::time::sleep(REQUEUE_DELAY).await;
        if let Some(acker) = self.acker.take() {
            put_back(acker, &self.link).await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take().filter(Acker::usable) {
            tracing::error!("a delivery was left unsettled: requeueing it");
            let link = self.link.clone();
            tokio::spawn(async move { put_back(acker, &link).await });
        }
    }
}

/// Requeues a delivery; if its link is gone, RabbitMQ requeues it anyway.
async fn put_back(acker: Acker, link: &Link) {
    let requeue = BasicNackOptions { requeue: true, ..BasicNackOptions::default() };
    let nacked = async { Ok(acker.nack(requeue).await?) };
    let _ = link.bounded("requeueing", SETTLE_TIMEOUT, nacked).await;
}

/// A delivery on its way to its conversation's queue, with what it needs to
/// be settled: the link to publish on and its own channel, kept open until
/// it is acked.
struct Job {
    delivery: Delivery,
    received: Instant,
    link: Arc<Link>,
    _channel: Channel,
}

/// The message as received, for republishing untouched.
struct Message {
    properties: BasicProperties,
    body: Vec<u8>,
    /// Where it was published: the events exchange, or (retries and
    /// replays) the subscription's exchange.
    exchange: String,
    routing_key: String,
}

/// What one subscription's deliveries share.
struct Core {
    subscription: Subscription,
    handler: Arc<dyn Handler>,
    settings: Arc<Settings>,
    handled: Option<Handled>,
    in_flight: Arc<InFlight>,
    stages: StageTimes,
    /// Dead letters RabbitMQ dropped for this one's, as far as this host saw.
    evicted: std::sync::atomic::AtomicU64,
}

pub struct Subscriber {
    core: Arc<Core>,
    keys: Arc<Keys>,
}

/// A subscriber's deliveries by ordering key: one key's run one at a time,
/// in the order they came, and different keys at once up to the
/// component's concurrency, each key's run by a task of its own
/// ([`crate::broker::ByKey`]). (Hashing keys onto `concurrency` lanes made
/// unrelated conversations that shared a lane wait for each other.)
struct Keys {
    waiting: crate::broker::ByKey<Job>,
    permits: Semaphore,
    /// Deliveries taken and not yet settled: what [`Subscriber::finish`]
    /// waits for.
    taken: InFlight,
}

impl Keys {
    fn push(self: &Arc<Self>, core: &Arc<Core>, key: String, job: Job) {
        self.taken.add();
        if let Some(first) = self.waiting.push(&key, job) {
            tokio::spawn(run_key(core.clone(), self.clone(), key, first));
        }
    }
}

/// Handles one key's deliveries, `first` and then whatever queued behind it.
async fn run_key(core: Arc<Core>, keys: Arc<Keys>, key: String, first: Job) {
    let mut next = Some(first);
    while let Some(job) = next.take().or_else(|| keys.waiting.next(&key)) {
        {
            let _permit = keys.permits.acquire().await.expect("the permits are never closed");
            core.process(job).await;
        }
        core.in_flight.done();
        keys.taken.done();
    }
}

/// One subscription's consumers on one link.
pub struct Consuming {
    channel: Channel,
    tags: Vec<ShortString>,
    /// Set before cancelling: the end of the consumer streams is then ours,
    /// not the broker's, and must not fail the link.
    stopped: Arc<AtomicBool>,
}

impl Consuming {
    /// Stops deliveries; those received already are still handled.
    pub async fn cancel(self) {
        self.stopped.store(true, Ordering::SeqCst);
        for tag in self.tags {
            let cancel = self.channel.basic_cancel(tag, BasicCancelOptions::default());
            // A dead connection needs no cancelling; lapin may not answer on it.
            let _ = tokio::time::timeout(SETTLE_TIMEOUT, cancel).await;
        }
    }
}

impl Subscriber {
    pub fn new(
        subscription: Subscription,
        handler: Arc<dyn Handler>,
        settings: Arc<Settings>,
        handled: Option<Handled>,
        in_flight: Arc<InFlight>,
    ) -> Self {
        let keys = Arc::new(Keys {
            waiting: Default::default(),
            permits: Semaphore::new(subscription.concurrency.max(1)),
            taken: InFlight::default(),
        });
        let stages = StageTimes::new(&subscription.component);
        let core =
            Arc::new(Core { subscription, handler, settings, handled, in_flight, stages, evicted: Default::default() });
        Self { core, keys }
    }

    /// A new subscriber of the same subscription, with queues of its own.
    pub fn fresh(&self) -> Self {
        let core = &self.core;
        Self::new(
            core.subscription.clone(),
            core.handler.clone(),
            core.settings.clone(),
            core.handled.clone(),
            core.in_flight.clone(),
        )
    }

    /// Waits (up to `grace`) for the deliveries this subscriber took to be
    /// handled and settled: after a deploy replaced it, so that one
    /// conversation's next event does not overtake the one still running.
    /// Its consumers must be cancelled first.
    pub async fn finish(self, grace: Duration) {
        if tokio::time::timeout(grace, self.keys.taken.idle()).await.is_err() {
            tracing::warn!(
                component = self.core.component(),
                "a replaced subscriber still runs deliveries after {grace:?}: they finish on their own"
            );
        }
    }

    pub fn subscription(&self) -> &Subscription {
        &self.core.subscription
    }

    /// Starts consuming every partition queue on a channel of `link`.
    ///
    /// Prefetch is the component's concurrency, per partition consumer:
    /// enough for the component to be busy even when the events come from
    /// one partition.
    pub async fn consume(&self, link: &Arc<Link>) -> Result<Consuming> {
        let component = self.core.subscription.component.clone();
        let settings = &self.core.settings;
        let channel = link.channel().await?;
        let prefetch = u16::try_from(self.core.subscription.concurrency).unwrap_or(u16::MAX).max(1);
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.context("setting the prefetch")?;
        let mut consumers = Vec::new();
        for partition in 0..settings.partitions {
            let queue = settings.names.partition(&component, partition);
            let tag = format!("{}/{component}/p{partition}", settings.owner);
            let consumer = channel
                .basic_consume(queue.as_str().into(), tag.into(), BasicConsumeOptions::default(), FieldTable::default())
                .await
                .with_context(|| format!("consuming {queue}"))?;
            consumers.push(consumer);
        }
        let tags = consumers.iter().map(|c| c.tag()).collect();
        // Each stream ends with a `None` so that a consumer cancelled by
        // the broker (its queue deleted) is noticed.
        let mut deliveries = futures::stream::select_all(
            consumers.into_iter().map(|c| c.map(Some).chain(futures::stream::iter([None]))),
        );
        let (link, keys, core, for_jobs) = (link.clone(), self.keys.clone(), self.core.clone(), channel.clone());
        let closing = settings.closing.clone();
        let stopped = Arc::new(AtomicBool::new(false));
        let cancelled = stopped.clone();
        tokio::spawn(async move {
            while let Some(item) = deliveries.next().await {
                match item {
                    Some(Ok(delivery)) => {
                        let key = headers::ordering_key_of(&delivery.properties).unwrap_or_default();
                        core.in_flight.add();
                        let job =
                            Job { delivery, received: Instant::now(), link: link.clone(), _channel: for_jobs.clone() };
                        keys.push(&core, key, job);
                    }
                    Some(Err(error)) => {
                        link.fail(&format!("consuming for `{component}`: {error}"));
                        return;
                    }
                    None if closing.load(Ordering::SeqCst) || cancelled.load(Ordering::SeqCst) => {}
                    None => {
                        link.fail(&format!("the broker cancelled a consumer of `{component}`"));
                        return;
                    }
                }
            }
        });
        Ok(Consuming { channel, tags, stopped })
    }
}

impl Core {
    fn component(&self) -> &str {
        &self.subscription.component
    }

    async fn process(&self, job: Job) {
        let Job { delivery, received, link, .. } = job;
        self.stages.observe(Stage::queued, received);
        let Delivery { properties, data, exchange, routing_key, acker, .. } = delivery;
        let mut ticket = Ticket { acker: Some(acker), link: link.clone() };
        if !ticket.usable() {
            tracing::debug!(component = self.component(), "skipping a delivery whose channel closed: it comes back");
            return;
        }
        let message =
            Message { properties, body: data, exchange: exchange.to_string(), routing_key: routing_key.to_string() };
        let attempt = headers::attempt_of(&message.properties);
        let event = match cloudevents_amqp::to_event(&message.properties, &message.body) {
            Ok(event) => event,
            Err(error) => {
                let reason = agent_store_events::binding::redact(&error.to_string());
                return self.dead_letter(&link, &mut ticket, &message, reason, attempt).await;
            }
        };
        // The delivery's span from the start, so that the claim, the ack
        // and a dead-lettering are logged about the event too; the
        // dispatcher runs the component inside it.
        let span = crate::app::trace::delivery_span(&event, self.component(), "rabbitmq", attempt);
        self.handle(&link, &mut ticket, &message, event, attempt).instrument(span).await;
    }

    async fn handle(&self, link: &Link, ticket: &mut Ticket, message: &Message, event: Event, attempt: u32) {
        if message.exchange == self.settings.names.events() && message.routing_key != event.ty() {
            // Hosts publish every event with its type as the routing key.
            // Holding other producers to it is what lets RabbitMQ's topic
            // permissions on their routing keys scope the types they may
            // publish, as a producer token does at `/events`
            // (`docs/broker.md`, "Other producers").
            let reason = format!(
                "published with routing key `{}` but its type is `{}`: the routing key must be the event type",
                message.routing_key,
                event.ty()
            );
            let reason = agent_store_events::binding::redact(&reason);
            return self.dead_letter(link, ticket, message, reason, attempt).await;
        }
        if !self.subscription.matches(&event) {
            // A binding left over from an older manifest, or an attribute
            // the broker cannot filter on.
            tracing::debug!(event_type = event.ty(), "not for this subscription: dropped");
            return ticket.ack().await;
        }
        let Some(handled) = &self.handled else {
            let outcome = self.run(event, attempt, None).await;
            self.settle(link, ticket, message, outcome, attempt, None, true).await;
            return;
        };
        let key = Handled::key(self.settings.names.prefix(), self.component(), &event.source().to_string(), event.id());
        let claiming = Instant::now();
        let claimed = handled.claim(&key).await;
        self.stages.observe(Stage::claim, claiming);
        match claimed {
            Err(error) => ticket.requeue(&format!("the idempotency store failed: {error:#}")).await,
            Ok(Claim::Published) => {
                tracing::debug!(event_id = event.id(), "handled and published before: acking the redelivery");
                ticket.ack().await;
            }
            Ok(Claim::Done(outputs)) => {
                tracing::info!(
                    event_id = event.id(),
                    outputs = outputs.len(),
                    "handled before: publishing its recorded outputs"
                );
                let outputs = Outputs::from(outputs);
                self.publish_and_ack(link, ticket, (message, attempt), &outputs, Some((handled, key.as_str()))).await;
            }
            Ok(claim @ (Claim::Fresh(_) | Claim::TakenOver(_))) => {
                let mut token = match claim {
                    Claim::TakenOver(token) => {
                        crate::metrics::metrics().taken_over(self.component(), self.handler.calls_outside());
                        token
                    }
                    Claim::Fresh(token) => token,
                    _ => unreachable!("matched above"),
                };
                for run in 1..=CONFLICT_RUNS {
                    let outcome = self.run(event.clone(), attempt, Some((handled, key.as_str(), &mut token))).await;
                    let claim = Some((handled, key.as_str(), &token));
                    let last = run == CONFLICT_RUNS;
                    if self.settle(link, ticket, message, outcome, attempt, claim, last).await {
                        return;
                    }
                    tracing::debug!(event_id = event.id(), run, "a key this delivery read changed: running it again");
                    tokio::time::sleep(conflict_pause(run)).await;
                }
            }
        }
    }

    /// Runs the handler, renewing the claim while it runs. A panic is
    /// caught here rather than on a task of its own: a spawn per event cost
    /// a cross-thread wake-up per event, and the conversation goes on
    /// either way.
    async fn run(&self, event: Event, attempt: u32, claim: Option<(&Handled, &str, &mut Token)>) -> Outcome {
        let started = Instant::now();
        let outcome = self.run_renewing(event, attempt, claim).await;
        self.stages.observe(Stage::run, started);
        outcome
    }

    async fn run_renewing(
        &self,
        event: Event,
        attempt: u32,
        mut claim: Option<(&Handled, &str, &mut Token)>,
    ) -> Outcome {
        let handled = AssertUnwindSafe(self.handler.handle(event, attempt)).catch_unwind();
        tokio::pin!(handled);
        loop {
            tokio::select! {
                outcome = &mut handled => {
                    return outcome.unwrap_or_else(|panic| {
                        Outcome::Retry(format!("the handler panicked: {}", crate::broker::panic_text(&*panic)))
                    });
                }
                _ = tokio::time::sleep(CLAIM_RENEWAL), if claim.is_some() => {
                    if let Some((handled, key, token)) = claim.as_mut() {
                        match handled.renew(key, token).await {
                            Ok(Some(fresh)) => **token = fresh,
                            Ok(None) => tracing::warn!(key = *key, "lost the claim while the component ran"),
                            Err(error) => tracing::warn!(key = *key, error = %error, "could not renew the claim"),
                        }
                    }
                }
            }
        }
    }

    /// Settles a delivery; `false` when its commit met a conflict and it
    /// should run again (never when `last`: it is put back instead).
    #[allow(clippy::too_many_arguments, reason = "one delivery's parts, passed down as they are")]
    async fn settle(
        &self,
        link: &Link,
        ticket: &mut Ticket,
        message: &Message,
        outcome: Outcome,
        attempt: u32,
        claim: Option<(&Handled, &str, &Token)>,
        last: bool,
    ) -> bool {
        let verdict = self.settings.policy.settle(outcome, attempt);
        if let Verdict::Publish(mut outputs) = verdict {
            if let Some((handled, key, token)) = claim {
                let recording = Instant::now();
                let finished = finish(handled, key, token, &outputs).await;
                self.stages.observe(Stage::record, recording);
                match finished {
                    Ok(Finished::Recorded) => outputs.announce(),
                    Ok(Finished::Lost) => {
                        ticket.requeue("another host took the event over").await;
                        return true;
                    }
                    Ok(Finished::Conflict) if !last => return false,
                    Ok(Finished::Conflict) => {
                        let _ = handled.release(key).await;
                        ticket.requeue("other deliveries kept changing what this one read").await;
                        return true;
                    }
                    Err(error) => {
                        ticket.requeue(&format!("could not record the handled event: {error:#}")).await;
                        return true;
                    }
                }
                if !ticket.usable() {
                    // The delivery will come back; its redelivery
                    // publishes the recorded outputs.
                    return true;
                }
            }
            let record = claim.map(|(h, k, _)| (h, k));
            self.publish_and_ack(link, ticket, (message, attempt), &outputs, record).await;
            return true;
        }
        if let Some((handled, key, _)) = claim
            && let Err(error) = handled.release(key).await
        {
            ticket.requeue(&format!("could not release the claim: {error:#}")).await;
            return true;
        }
        match verdict {
            Verdict::Retry { delay, reason } => self.retry(link, ticket, message, &reason, attempt, delay).await,
            Verdict::DeadLetter(reason) => self.dead_letter(link, ticket, message, reason, attempt).await,
            Verdict::Publish(_) => unreachable!("published above"),
        }
        true
    }

    /// Publishes the outputs and dead-letters the refused ones, pipelined,
    /// then acks the input.
    async fn publish_and_ack(
        &self,
        link: &Link,
        ticket: &mut Ticket,
        (message, attempt): (&Message, u32),
        outputs: &Outputs,
        record: Option<(&Handled, &str)>,
    ) {
        let events_exchange = self.settings.names.events();
        let dead_queue = self.settings.names.dead(self.component());
        let mut encoded = Vec::with_capacity(outputs.events.len() + outputs.refused.len());
        for event in &outputs.events {
            match headers::event_properties(event, self.settings.partitions) {
                Ok(properties) => encoded.push((
                    events_exchange.as_str(),
                    event.ty().to_string(),
                    cloudevents_amqp::body_for(event),
                    properties,
                )),
                Err(error) => {
                    // Can never be published: better in the dead-letter
                    // queue with its input than redelivered forever.
                    let reason = format!("output {} cannot be published over AMQP: {error}", event.id());
                    return self.dead_letter(link, ticket, message, reason, attempt).await;
                }
            }
        }
        for refused in &outputs.refused {
            let note = self.death_note(refused.reason.clone(), attempt, refused.event.ty().to_string());
            let properties = match cloudevents_amqp::properties_for(&refused.event) {
                Ok(properties) => headers::dead_letter_properties(&properties, &note),
                Err(error) => {
                    tracing::warn!(event_id = refused.event.id(), error = %error, "a refused output cannot be kept as a dead letter");
                    continue;
                }
            };
            tracing::warn!(dead_letter = note.id, reason = %note.reason, "an output was refused and dead-lettered");
            encoded.push(("", dead_queue.clone(), cloudevents_amqp::body_for(&refused.event), properties));
        }
        let messages: Vec<Outgoing<'_>> = encoded
            .iter()
            .map(|(exchange, routing_key, body, properties)| Outgoing {
                exchange,
                routing_key,
                mandatory: exchange.is_empty(),
                body,
                properties: properties.clone(),
            })
            .collect();
        let publishing = Instant::now();
        if let Err(error) = link.publish_all(messages).await {
            return ticket.requeue(&format!("publishing the outputs failed: {error:#}")).await;
        }
        let acking = self.stages.observe(Stage::publish, publishing);
        for _ in &outputs.refused {
            crate::metrics::metrics().dead_lettered(self.component());
        }
        ticket.ack().await;
        self.stages.observe(Stage::ack, acking);
        if let Some((handled, key)) = record {
            handled.mark_published_later(key.to_string());
        }
    }

    async fn retry(
        &self,
        link: &Link,
        ticket: &mut Ticket,
        message: &Message,
        reason: &str,
        attempt: u32,
        delay: Duration,
    ) {
        let queue = self.settings.names.retry(self.component(), delay);
        tracing::info!(attempt, ?delay, reason, "retrying the event");
        let outgoing = Outgoing {
            exchange: "",
            routing_key: &queue,
            mandatory: true,
            body: &message.body,
            properties: headers::retry_properties(&message.properties, attempt + 1),
        };
        match link.publish_all(vec![outgoing]).await {
            Ok(()) => ticket.ack().await,
            Err(error) => ticket.requeue(&format!("could not schedule the retry: {error:#}")).await,
        }
    }

    fn death_note(&self, reason: String, attempts: u32, routing_key: String) -> DeathNote {
        DeathNote {
            id: uuid::Uuid::new_v4().to_string(),
            component: self.component().to_string(),
            reason,
            attempts,
            at: chrono::Utc::now(),
            routing_key,
        }
    }

    async fn dead_letter(&self, link: &Link, ticket: &mut Ticket, message: &Message, reason: String, attempts: u32) {
        let note = self.death_note(reason, attempts, message.routing_key.clone());
        let queue = self.settings.names.dead(self.component());
        let outgoing = Outgoing {
            exchange: "",
            routing_key: &queue,
            mandatory: true,
            body: &message.body,
            properties: headers::dead_letter_properties(&message.properties, &note),
        };
        match link.publish_all(vec![outgoing]).await {
            Ok(()) => {
                crate::metrics::metrics().dead_lettered(self.component());
                tracing::warn!(
                    component = self.component(),
                    dead_letter = note.id,
                    message_id = message.properties.message_id().as_ref().map(|s| s.as_str()),
                    attempts,
                    reason = %note.reason,
                    "event dead-lettered"
                );
                ticket.ack().await;
                self.count_evictions(link).await;
            }
            Err(error) => ticket.requeue(&format!("could not dead-letter: {error:#}")).await,
        }
    }
}

impl Core {
    /// RabbitMQ drops the oldest dead letter silently once the queue is at
    /// its bound: say so, and count it.
    async fn count_evictions(&self, link: &Link) {
        let checked = async {
            let channel = link.channel().await?;
            let full = topology::dead_letters_full(&channel, &self.settings.names, self.component()).await;
            let _ = channel.close(200, "checked".into()).await;
            full
        };
        if let Ok(true) = link.bounded("checking the dead letters", SETTLE_TIMEOUT, checked).await {
            let evicted = self.evicted.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                evicted,
                "the dead-letter queue is full ({} messages): RabbitMQ dropped the oldest to keep this one",
                topology::MAX_DEAD_LETTERS
            );
        }
    }
}

/// A short, growing, jittered pause before running a conflicting delivery
/// again, so that two that keep colliding drift apart.
pub(crate) fn conflict_pause(run: u32) -> Duration {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 10;
    Duration::from_millis(u64::from(run) * 5 + jitter)
}

/// Records the outputs with the component's staged writes, trying again on
/// a store error: giving up here means the component may run twice.
async fn finish(handled: &Handled, key: &str, token: &Token, outputs: &Outputs) -> Result<Finished> {
    let mut tries = 0;
    loop {
        tries += 1;
        match handled.finish(key, token, &outputs.events, outputs.staged.as_deref()).await {
            Err(error) if tries < FINISH_TRIES => {
                tracing::warn!(error = %error, "recording a handled event failed; trying again");
                tokio::time::sleep(Duration::from_millis(200) * tries).await;
            }
            other => return other,
        }
    }
}
