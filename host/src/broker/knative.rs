//! The Knative broker: on Knative Eventing the broker is outside the host.
//! Triggers push each subscription's events to the host over HTTP
//! (`POST /events/deliver/<component>`), and what components emit is posted
//! to the broker's ingress, the `K_SINK` a SinkBinding gives the pod.
//!
//! The delivery guarantees are Knative's: a Trigger retries a delivery that
//! did not get a 2xx answer, with the backoff of its `delivery` spec, then
//! sends it to the dead-letter sink. So the host answers
//! * 200 once the component succeeded and the broker ingress took every
//!   event it emitted (the outputs are published *before* the answer, as
//!   with every other backend);
//! * 400 for an event the component refuses: retrying cannot help, and
//!   Knative dead-letters it without retries;
//! * 503 for a failure worth retrying (a trap, a timeout, an ingress that
//!   refused the outputs).
//!
//! Knative delivers at least once: with idempotency records (the RabbitMQ
//! backend's, in Redis) a redelivered event is answered from its record
//! instead of running the component again.
//!
//! Dead letters are kept in the key-value store and replayed to the
//! broker ingress with their own ids ([`KnativeBroker::replay_dead_letters`]
//! says why that runs only the component that failed).
//!
//! Order is the Trigger's business: with the RabbitMQ broker class a
//! Trigger dispatches `parallelism` events at once (1 by default: in the
//! order they were published); `deploy/knative/agents.yaml` sets it to the
//! agent's concurrency (docs/knative.md weighs the trade-off).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use tokio::sync::Notify;

use super::rabbitmq::consumer::{CONFLICT_RUNS, conflict_pause};
use super::rabbitmq::handled::{CLAIM_RENEWAL, Claim, Finished, Handled, Token};
use super::{Broker, DeadLetter, Handler, MAX_REPLAY, Outcome, Replay, Replayed, Selection, Subscription};
use agent_store_runtime::capabilities::key_value::Store;

/// The key-value store dead letters are kept in (Redis on Knative, so
/// every replica sees the same ones).
pub const DEAD_LETTERS: &str = "agent-store.dead-letters";

/// How long a dead letter is kept (the store's TTL, set by `up`).
pub const DEAD_LETTER_TTL: Duration = Duration::from_secs(14 * 86_400);

/// Dead letters kept at most; past it the oldest go, with a warning.
const MAX_DEAD_LETTERS: usize = 10_000;

/// Attempts at posting one event to the ingress before `publish` fails.
const INGRESS_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; the third waits twice as long.
const INGRESS_BACKOFF: Duration = Duration::from_millis(200);
const INGRESS_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of an event pushed to the host.
#[derive(Debug)]
pub enum Pushed {
    /// Handled, and its outputs are with the broker.
    Done { emitted: usize },
    /// Not for this subscription (a Trigger filter is coarser than ours).
    Filtered,
    /// No subscription of that name on this host.
    UnknownComponent,
    /// Bad for good: dead-letter it.
    Reject(String),
    /// Failed this time.
    Retry(String),
}

struct Attached {
    subscription: Subscription,
    handler: Arc<dyn Handler>,
    /// Removed by a deploy: pushes are answered "retry later".
    removed: bool,
}

pub struct KnativeBroker {
    sink: reqwest::Url,
    dead: Arc<dyn Store>,
    /// Idempotency records (in Redis, shared by every pod): a redelivered
    /// event does not run its component again. `None`: off.
    handled: Option<Handled>,
    client: reqwest::Client,
    subscriptions: RwLock<HashMap<String, Arc<Attached>>>,
    closing: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl KnativeBroker {
    /// `sink` is the broker ingress, e.g.
    /// `http://broker-ingress.knative-eventing.svc.cluster.local/store/default`.
    pub fn new(sink: &str, dead: Arc<dyn Store>) -> Result<Self> {
        Self::with_records(sink, dead, None)
    }

    /// [`new`](Self::new), remembering handled events in `handled` (the
    /// same records, and the same states, as the RabbitMQ backend's).
    pub fn with_records(sink: &str, dead: Arc<dyn Store>, handled: Option<Handled>) -> Result<Self> {
        let sink = reqwest::Url::parse(sink).with_context(|| format!("the Knative sink `{sink}` is not a URL"))?;
        if !matches!(sink.scheme(), "http" | "https") {
            bail!("the Knative sink `{sink}` must be an http:// or https:// URL");
        }
        let client = reqwest::Client::builder().timeout(INGRESS_TIMEOUT).build().context("building the HTTP client")?;
        Ok(Self {
            sink,
            dead,
            handled,
            client,
            subscriptions: RwLock::default(),
            closing: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    pub fn sink(&self) -> &reqwest::Url {
        &self.sink
    }

    /// Hands one pushed event to `component`'s handler; its outputs are
    /// published before this returns [`Pushed::Done`].
    pub async fn push(&self, component: &str, event: Event) -> Pushed {
        if self.closing.load(Ordering::SeqCst) {
            return Pushed::Retry("the host is shutting down".into());
        }
        let attached = self.subscriptions.read().unwrap().get(component).cloned();
        let Some(attached) = attached else {
            return Pushed::UnknownComponent;
        };
        if attached.removed {
            // Answered as a failure, so that Knative keeps the event and
            // redelivers it (or dead-letters it to us) rather than drop it.
            return Pushed::Retry(format!("component `{component}` is removed; its events wait for a deploy"));
        }
        if !attached.subscription.matches(&event) {
            return Pushed::Filtered;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let mut claim = None;
        if let Some(handled) = &self.handled {
            let key = Handled::key("knative", component, &event.source().to_string(), event.id());
            match handled.claim(&key).await {
                Ok(Claim::Fresh(token)) => claim = Some((handled, key, token)),
                Ok(Claim::TakenOver(token)) => {
                    crate::metrics::metrics().taken_over(component, attached.handler.calls_outside());
                    claim = Some((handled, key, token));
                }
                Ok(Claim::Published) => {
                    tracing::debug!(event_id = event.id(), "handled and published before: answering the redelivery");
                    return self.finished(Pushed::Done { emitted: 0 });
                }
                // The component ran; its outputs may not have reached the
                // ingress: the same events again (their ids dedup them).
                Ok(Claim::Done(outputs)) => {
                    let pushed = match self.publish(&outputs).await {
                        Ok(()) => {
                            let _ = handled.mark_published(&key).await;
                            Pushed::Done { emitted: outputs.len() }
                        }
                        Err(error) => Pushed::Retry(format!("the broker ingress did not take the outputs: {error:#}")),
                    };
                    return self.finished(pushed);
                }
                Err(error) => return self.finished(Pushed::Retry(format!("the idempotency records: {error:#}"))),
            }
        }
        let mut runs = 0;
        let outcome = loop {
            runs += 1;
            let outcome = match &mut claim {
                Some((handled, key, token)) => {
                    run_renewing(attached.handler.handle(event.clone(), 1), handled, key, token).await
                }
                None => attached.handler.handle(event.clone(), 1).await,
            };
            let (Outcome::Done(outputs), Some((handled, key, token))) = (&outcome, &claim) else {
                if let Some((handled, key, _)) = &claim {
                    // Failed or refused: the next attempt (or a replay) runs it.
                    let _ = handled.release(key).await;
                }
                break outcome;
            };
            match handled.finish(key, token, &outputs.events, outputs.staged.as_deref()).await {
                Ok(Finished::Recorded) => break outcome,
                Ok(Finished::Lost) => {
                    tracing::warn!(key = %key, "lost the claim while the component ran");
                    return self.finished(Pushed::Retry("another pod took the event over".into()));
                }
                Ok(Finished::Conflict) if runs < CONFLICT_RUNS => {
                    tracing::debug!(event_id = event.id(), runs, "a key this delivery read changed: running it again");
                    tokio::time::sleep(conflict_pause(runs)).await;
                }
                Ok(Finished::Conflict) => {
                    let _ = handled.release(key).await;
                    return self.finished(Pushed::Retry("other deliveries kept changing what this one read".into()));
                }
                Err(error) => {
                    let _ = handled.release(key).await;
                    return self.finished(Pushed::Retry(format!("could not record the handled event: {error:#}")));
                }
            }
        };
        let pushed = match outcome {
            Outcome::Done(mut outputs) => {
                outputs.announce();
                match self.publish(&outputs.events).await {
                    Ok(()) => {
                        if let Some((handled, key, _)) = &claim {
                            let _ = handled.mark_published(key).await;
                        }
                        for refused in outputs.refused {
                            let letter = DeadLetter {
                                id: String::new(),
                                event: refused.event,
                                component: component.to_string(),
                                reason: refused.reason,
                                attempts: 1,
                                at: chrono::Utc::now(),
                            };
                            if let Err(error) = self.keep(letter).await {
                                return self
                                    .finished(Pushed::Retry(format!("could not keep a refused output: {error:#}")));
                            }
                        }
                        Pushed::Done { emitted: outputs.events.len() }
                    }
                    Err(error) => Pushed::Retry(format!("the broker ingress did not take the outputs: {error:#}")),
                }
            }
            Outcome::Reject(reason) => Pushed::Reject(reason),
            Outcome::Retry(reason) => Pushed::Retry(reason),
        };
        self.finished(pushed)
    }

    fn finished(&self, pushed: Pushed) -> Pushed {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
        pushed
    }

    /// Keeps an event Knative gave up on (the Broker's dead-letter sink
    /// posts it to `/events/dead-letter`), with what Knative says of why:
    /// the `knativeerrorcode`, `knativeerrordest` and `knativeerrordata`
    /// extensions it adds.
    pub async fn keep_dead(&self, event: Event) -> Result<DeadLetter> {
        let extension = |name: &str| event.extension(name).map(|v| v.to_string());
        let destination = extension("knativeerrordest");
        let component = destination
            .as_deref()
            .and_then(|d| d.rsplit_once("/events/deliver/"))
            .map(|(_, component)| component.trim_end_matches('/').to_string())
            .unwrap_or_default();
        let reason = match (extension("knativeerrorcode"), destination) {
            (Some(code), Some(destination)) => format!("{destination} answered {code}"),
            (Some(code), None) => format!("the subscriber answered {code}"),
            (None, Some(destination)) => format!("{destination} could not be reached"),
            (None, None) => "dead-lettered by Knative (no reason given)".to_string(),
        };
        let reason = match extension("knativeerrordata") {
            Some(data) if !data.is_empty() => format!("{reason}: {}", decode_error_data(&data)),
            _ => reason,
        };
        // Knative does not say how many times it tried: its delivery spec does.
        let letter = DeadLetter { id: String::new(), event, component, reason, attempts: 0, at: chrono::Utc::now() };
        self.keep(letter).await
    }

    /// Stores a dead letter under a key that sorts by time (its id from
    /// then on), then drops the oldest past [`MAX_DEAD_LETTERS`].
    async fn keep(&self, mut letter: DeadLetter) -> Result<DeadLetter> {
        let key = format!("{}-{}", letter.at.format("%Y%m%dT%H%M%S%.6fZ"), letter.event.id());
        letter.id = key.clone();
        self.dead.set(&key, &serde_json::to_vec(&letter)?).await.context("keeping the dead letter")?;
        crate::metrics::metrics().dead_lettered(&letter.component);
        tracing::warn!(
            component = letter.component,
            event_id = letter.event.id(),
            event_type = letter.event.ty(),
            reason = letter.reason,
            "dead letter kept"
        );
        let mut keys = self.dead.keys().await?;
        if keys.len() > MAX_DEAD_LETTERS {
            keys.sort();
            let excess = keys.len() - MAX_DEAD_LETTERS;
            for old in &keys[..excess] {
                self.dead.delete(old).await?;
            }
            tracing::warn!(evicted = excess, "dead letters are full ({MAX_DEAD_LETTERS}): the oldest were dropped");
        }
        Ok(letter)
    }

    /// The dead letter kept under `key`, named by it (letters kept before
    /// they had an id get it here).
    async fn load(&self, key: &str) -> Result<Option<DeadLetter>> {
        let Some(bytes) = self.dead.get(key).await? else { return Ok(None) };
        let mut letter = serde_json::from_slice::<DeadLetter>(&bytes).with_context(|| format!("dead letter {key}"))?;
        letter.id = key.to_string();
        Ok(Some(letter))
    }

    async fn post(&self, event: &Event) -> Result<()> {
        let (headers, body) = agent_store_events::binding::encode_binary(event)
            .map_err(|e| anyhow::anyhow!("event {} cannot be encoded: {e}", event.id()))?;
        let mut attempt = 1;
        loop {
            let sent = self.client.post(self.sink.clone()).headers(headers.clone()).body(body.clone()).send().await;
            let failure = match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                // A 4xx will not get better: the ingress refuses this event.
                Ok(response) if response.status().is_client_error() => {
                    bail!("the broker ingress refused event {} with {}", event.id(), response.status())
                }
                Ok(response) => format!("the broker ingress answered {}", response.status()),
                Err(error) => format!("posting to the broker ingress failed: {error}"),
            };
            if attempt >= INGRESS_ATTEMPTS {
                bail!("{failure} (event {}, {attempt} attempts)", event.id());
            }
            tracing::debug!(event_id = event.id(), attempt, reason = %failure, "retrying a publish to the broker ingress");
            tokio::time::sleep(INGRESS_BACKOFF * 2u32.pow(attempt - 1)).await;
            attempt += 1;
        }
    }
}

#[async_trait]
impl Broker for KnativeBroker {
    fn kind(&self) -> &'static str {
        "knative"
    }

    fn stages_writes(&self) -> bool {
        self.handled.is_some()
    }

    async fn publish(&self, events: &[Event]) -> Result<()> {
        if self.closing.load(Ordering::SeqCst) {
            bail!("the host is shutting down and takes no new events");
        }
        // Concurrently: the ingress acknowledges each event on its own.
        let posted = futures::future::join_all(events.iter().map(|event| self.post(event))).await;
        posted.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<()> {
        // Again is a deploy: the Triggers are the cluster's, the filters
        // checked here are the new ones.
        let component = subscription.component.clone();
        self.subscriptions
            .write()
            .unwrap()
            .insert(component, Arc::new(Attached { subscription, handler, removed: false }));
        Ok(())
    }

    async fn unsubscribe(&self, component: &str) -> Result<()> {
        let mut subscriptions = self.subscriptions.write().unwrap();
        let Some(attached) = subscriptions.get(component).cloned() else {
            bail!("component `{component}` is not subscribed");
        };
        let removed =
            Attached { subscription: attached.subscription.clone(), handler: attached.handler.clone(), removed: true };
        subscriptions.insert(component.to_string(), Arc::new(removed));
        Ok(())
    }

    async fn ready(&self) -> bool {
        !self.closing.load(Ordering::SeqCst)
    }

    async fn shutdown(&self, grace: Duration) {
        self.closing.store(true, Ordering::SeqCst);
        let idle = async {
            loop {
                let notified = self.idle.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, idle).await.is_err() {
            tracing::warn!(
                in_flight = self.in_flight.load(Ordering::SeqCst),
                "shutdown grace period over: Knative redelivers what was not answered"
            );
        }
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let mut all = Vec::new();
        for key in self.dead.keys().await? {
            // Gone since the keys were read: replayed or purged meanwhile.
            if let Some(letter) = self.load(&key).await? {
                all.push(letter);
            }
        }
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(all)
    }

    async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetter>> {
        self.load(id).await
    }

    /// Posts each selected letter's event to the broker ingress again,
    /// without the `knativeerror*` extensions Knative added to it and with
    /// **the same id**, then deletes the letter.
    ///
    /// The same id on purpose: the ingress hands the event to every Trigger
    /// of its type, not only to the one that gave up. The components that
    /// handled it find their idempotency record (component, source, id) and
    /// answer without running again; the one that failed released its claim
    /// when it failed, so it alone runs it. That holds while the records
    /// last (`--broker-dedup-window`, 24 hours by default): a letter
    /// replayed later runs again at every Trigger of its type.
    ///
    /// A letter is deleted only once the ingress took its event: if the
    /// post fails, it stays, the replay stops there and says why.
    async fn replay_dead_letters(&self, selection: &Selection) -> Result<Replay> {
        let mut letters = match &selection.ids {
            Some(ids) => {
                let mut found = Vec::new();
                for id in ids {
                    found.extend(self.load(id).await?);
                }
                found
            }
            None => self.dead_letters().await?,
        };
        letters.retain(|letter| selection.takes(&letter.id, &letter.component));
        selection.check_found(letters.iter().map(|letter| letter.id.as_str()))?;
        letters.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        letters.dedup_by(|a, b| a.id == b.id);
        letters.truncate(MAX_REPLAY);
        let mut replay = Replay::default();
        for letter in letters {
            let event = without_knative_errors(letter.event);
            if let Err(error) = self.publish(std::slice::from_ref(&event)).await {
                replay.stopped = Some(format!("dead letter {} is kept, not replayed: {error:#}", letter.id));
                break;
            }
            let replayed = Replayed { id: letter.id, component: letter.component };
            tracing::info!(
                id = replayed.id,
                component = replayed.component,
                event_id = event.id(),
                "dead letter replayed"
            );
            if let Err(error) = self.dead.delete(&replayed.id).await {
                replay.stopped = Some(format!(
                    "dead letter {} was replayed but is still kept ({error:#}): replaying it again sends the same \
                     event id, which the components that handled it answer without running",
                    replayed.id
                ));
                replay.replayed.push(replayed);
                break;
            }
            replay.replayed.push(replayed);
        }
        Ok(replay)
    }

    async fn purge_dead_letters(&self, components: &[String]) -> Result<usize> {
        let mut purged = 0;
        for key in self.dead.keys().await? {
            if !components.is_empty() {
                match self.load(&key).await? {
                    Some(letter) if components.contains(&letter.component) => {}
                    _ => continue,
                }
            }
            self.dead.delete(&key).await.with_context(|| format!("deleting dead letter {key}"))?;
            purged += 1;
        }
        tracing::info!(purged, ?components, "dead letters purged");
        Ok(purged)
    }
}

/// The event as it was before Knative gave up on it: the extensions it
/// adds to a dead letter (`knativeerrorcode`, `knativeerrordest`,
/// `knativeerrordata`, and any other `knativeerror*`) say why it failed
/// *then*; replayed with them, a component would see a stale failure.
fn without_knative_errors(mut event: Event) -> Event {
    let names: Vec<String> = event
        .iter_extensions()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with("knativeerror"))
        .map(String::from)
        .collect();
    for name in names {
        event.remove_extension(&name);
    }
    event
}

/// `knativeerrordata` is the subscriber's answer, base64-encoded; shown as
/// text when it is text, cut to a readable length.
fn decode_error_data(data: &str) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| data.to_string());
    text.chars().take(500).collect()
}

/// Runs a delivery, renewing its claim so that a long one keeps it.
async fn run_renewing(
    delivery: impl std::future::Future<Output = Outcome>,
    handled: &Handled,
    key: &str,
    token: &mut Token,
) -> Outcome {
    tokio::pin!(delivery);
    loop {
        tokio::select! {
            outcome = &mut delivery => return outcome,
            _ = tokio::time::sleep(CLAIM_RENEWAL) => match handled.renew(key, token).await {
                Ok(Some(renewed)) => *token = renewed,
                Ok(None) => tracing::warn!(key, "lost the claim while the component ran"),
                Err(error) => tracing::warn!(key, error = %error, "could not renew the claim"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use agent_store_runtime::capabilities::key_value::memory::MemoryBackend;

    fn dead() -> Arc<dyn Store> {
        Arc::new(MemoryBackend::default().store(DEAD_LETTERS, None))
    }

    #[test]
    fn the_sink_must_be_an_http_url() {
        assert!(
            KnativeBroker::new("http://broker-ingress.knative-eventing.svc.cluster.local/store/default", dead())
                .is_ok()
        );
        assert!(KnativeBroker::new("amqp://guest:guest@rabbit", dead()).is_err());
        assert!(KnativeBroker::new("not a url", dead()).is_err());
    }

    /// What the dead-letter sink posts when `component`'s Trigger gave up.
    fn given_up(id: &str, component: &str) -> Event {
        use cloudevents::{EventBuilder, EventBuilderV10};
        EventBuilderV10::new()
            .id(id)
            .source("/test")
            .ty("store.product.query")
            .extension("brand", "tech")
            .extension("knativeerrorcode", "503")
            .extension("knativeerrordest", format!("http://svc/events/deliver/{component}"))
            .extension("knativeerrordata", "eyJlcnJvciI6InJldHJ5In0=")
            .extension("knativeerrornew", "a later Knative's")
            .build()
            .unwrap()
    }

    #[test]
    fn a_replayed_event_loses_only_knative_s_error_extensions() {
        let event = without_knative_errors(given_up("e1", "seller-tech"));
        let names: Vec<&str> = event.iter_extensions().map(|(name, _)| name).collect();
        assert_eq!(names, ["brand"]);
        assert_eq!(event.id(), "e1");
    }

    #[tokio::test]
    async fn dead_letters_are_named_by_their_key_even_when_kept_without_one() -> Result<()> {
        let store = dead();
        let broker = KnativeBroker::new("http://127.0.0.1:9/store/default", store.clone())?;
        let tech = broker.keep_dead(given_up("e1", "seller-tech")).await?;
        let home = broker.keep_dead(given_up("e2", "seller-home")).await?;
        assert!(tech.id.ends_with("-e1"), "{}", tech.id);
        assert_eq!(broker.dead_letter(&tech.id).await?.map(|letter| letter.event), Some(tech.event.clone()));

        // Kept by a host from before dead letters had ids.
        let mut old = serde_json::to_value(&home)?;
        old.as_object_mut().unwrap().remove("id");
        old["at"] = serde_json::json!("2020-01-01T00:00:00Z");
        store.set("20200101T000000.000000Z-e0", &serde_json::to_vec(&old)?).await?;
        let ids: Vec<String> = broker.dead_letters().await?.into_iter().map(|letter| letter.id).collect();
        assert_eq!(ids, ["20200101T000000.000000Z-e0".to_string(), tech.id.clone(), home.id.clone()]);

        assert_eq!(broker.purge_dead_letters(&["seller-home".into()]).await?, 2);
        let left: Vec<String> = broker.dead_letters().await?.into_iter().map(|letter| letter.id).collect();
        assert_eq!(left, [tech.id]);
        Ok(())
    }

    #[tokio::test]
    async fn a_replay_the_ingress_does_not_take_keeps_the_letter() -> Result<()> {
        // An address nothing listens on: the ingress, down.
        let down = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let broker = KnativeBroker::new(&format!("http://{down}/store/default"), dead())?;
        let kept = broker.keep_dead(given_up("e1", "seller-tech")).await?;

        let unknown = broker.replay_dead_letters(&Selection::ids(vec![kept.id.clone(), "nope".into()])).await;
        let unknown = unknown.expect_err("one of the ids is not there");
        assert_eq!(
            unknown.downcast_ref::<super::super::UnknownDeadLetter>().map(|u| u.0.clone()),
            Some(vec!["nope".into()])
        );
        let elsewhere = Selection { ids: Some(vec![kept.id.clone()]), components: vec!["seller-home".into()] };
        assert!(broker.replay_dead_letters(&elsewhere).await.is_err(), "not among that component's");

        let replay = broker.replay_dead_letters(&Selection::all(Vec::new())).await?;
        assert!(replay.replayed.is_empty());
        let why = replay.stopped.expect("the post failed");
        assert!(why.contains(&format!("{} is kept", kept.id)), "{why}");
        assert_eq!(broker.dead_letters().await?.len(), 1);
        Ok(())
    }

    #[test]
    fn knative_error_data_is_shown_as_text() {
        assert_eq!(decode_error_data("eyJlcnJvciI6InJldHJ5In0="), r#"{"error":"retry"}"#);
        assert_eq!(decode_error_data("not base64!"), "not base64!");
    }
}
