//! The RabbitMQ broker: durable, shared by every host process, at least
//! once, in order per conversation. `docs/broker.md` has the topology
//! picture, the header mapping and the guarantees; this module is the
//! [`Broker`] over them.
//!
//! * [`topology`] — exchange and queue names, declared at start and after
//!   every reconnect;
//! * [`headers`] — our headers (partition, attempt, dead-letter note);
//! * [`link`] — a connection with its confirming publish channel;
//! * [`consumer`] — a subscription's consumers, conversation queues and settling;
//! * [`handled`] — the idempotency records;
//! * [`dlq`] — reading and replaying the dead-letter queues.
//!
//! A supervisor task owns the connection: when anything breaks it drops
//! the link, reconnects with backoff (for as long as it takes), declares
//! the topology again and restarts every subscription's consumers.

pub mod consumer;
pub mod dlq;
pub mod handled;
pub mod headers;
pub mod link;
pub mod topology;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use tokio::sync::watch;

use self::consumer::{Consuming, InFlight, Subscriber};
use self::handled::Handled;
use self::link::{Link, Outgoing};
use self::topology::Names;
use super::{
    Broker, DEFAULT_MAX_ATTEMPTS, DeadLetter, Handler, MAX_REPLAY, Replay, Replayed, RetryPolicy, Selection,
    Subscription,
};
use agent_store_manifest::parse_duration;
use agent_store_runtime::capabilities::key_value::KeyValueStores;

/// Names start with this unless `--broker-prefix` says otherwise.
pub const DEFAULT_PREFIX: &str = "agent-store";

/// Partition queues per subscription. Enough that conversations spread
/// when consumers are re-registered after a reconnect; every host must use
/// the same number (it decides where a conversation's events go).
pub const DEFAULT_PARTITIONS: u16 = 8;

/// How long a handled event is remembered: longer than any redelivery
/// (a broker or host outage) is expected to take.
pub const DEFAULT_DEDUP_WINDOW: &str = "24h";

/// Reconnecting waits this long after the first failure…
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
/// …doubling up to this.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How long declaring the topology and starting the consumers may take on
/// a new connection before it is given up and made again.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `publish` waits for a lost connection to come back before it
/// fails (the `/events` caller then gets a 503).
const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// The RabbitMQ settings of `agent-store up` (and of `dlq` for the prefix).
#[derive(Debug, Clone, clap::Args)]
pub struct RabbitOptions {
    /// Prefix of every exchange and queue the host declares on RabbitMQ;
    /// deployments (or tests) sharing a broker use different ones.
    #[arg(long = "broker-prefix", env = "AGENT_STORE_BROKER_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,

    /// Partition queues per subscription (the same on every host).
    #[arg(long = "broker-partitions", env = "AGENT_STORE_BROKER_PARTITIONS", default_value_t = DEFAULT_PARTITIONS)]
    pub partitions: u16,

    /// Attempts before a failing event is dead-lettered.
    #[arg(long = "broker-max-attempts", env = "AGENT_STORE_BROKER_MAX_ATTEMPTS", default_value_t = DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,

    /// The wait before the first retry; each next one waits twice as long.
    #[arg(long = "broker-retry-backoff", env = "AGENT_STORE_BROKER_RETRY_BACKOFF", default_value = "500ms", value_parser = parse_duration)]
    pub retry_backoff: Duration,

    /// How long handled events are remembered so that a redelivery does not
    /// run the component again (`0s` turns that off).
    #[arg(long = "broker-dedup-window", env = "AGENT_STORE_BROKER_DEDUP_WINDOW", default_value = DEFAULT_DEDUP_WINDOW, value_parser = parse_duration)]
    pub dedup_window: Duration,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.into(),
            partitions: DEFAULT_PARTITIONS,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_backoff: super::DEFAULT_RETRY_BACKOFF,
            dedup_window: parse_duration(DEFAULT_DEDUP_WINDOW).expect("a valid default"),
        }
    }
}

impl RabbitOptions {
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy { max_attempts: self.max_attempts, backoff: self.retry_backoff }
    }

    pub fn validate(&self) -> Result<()> {
        if self.partitions == 0 {
            bail!("--broker-partitions must be at least 1");
        }
        if self.max_attempts == 0 {
            bail!("--broker-max-attempts must be at least 1");
        }
        if self.prefix.is_empty() || self.prefix.len() > 100 {
            bail!("--broker-prefix must be 1 to 100 characters");
        }
        Ok(())
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// What consumers need to know about the broker they run in.
pub struct Settings {
    pub names: Names,
    pub partitions: u16,
    pub policy: RetryPolicy,
    /// This host, in consumer tags and claims.
    pub owner: String,
    pub closing: Arc<AtomicBool>,
}

struct Attached {
    subscriber: Subscriber,
    consuming: Option<Consuming>,
    /// `false` once removed by a deploy: a reconnect neither binds nor
    /// consumes it, its queues keep what they hold.
    active: bool,
}

/// How long a replaced subscriber may take to settle what it had taken
/// before its successor starts consuming.
const REPLACE_GRACE: Duration = Duration::from_secs(30);

struct Inner {
    url: String,
    settings: Arc<Settings>,
    handled: Option<Handled>,
    in_flight: Arc<InFlight>,
    link: watch::Sender<Option<Arc<Link>>>,
    /// Held while a link is (re)established or a subscription attached, so
    /// that both see the same link and the same subscriptions.
    subscribers: tokio::sync::Mutex<Vec<Attached>>,
    closing: watch::Sender<bool>,
    generation: AtomicU64,
}

pub struct RabbitBroker {
    inner: Arc<Inner>,
}

impl RabbitBroker {
    /// Connects (failing at once if RabbitMQ cannot be reached), declares the
    /// events exchange and starts the supervisor. Handled events are
    /// recorded in `records` (in the store labelled [`handled::LABEL`],
    /// with the components' staged writes) unless
    /// the dedup window is zero.
    pub async fn connect(url: &str, options: &RabbitOptions, records: Option<Arc<KeyValueStores>>) -> Result<Self> {
        options.validate()?;
        let owner = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let settings = Arc::new(Settings {
            names: Names::new(&options.prefix),
            partitions: options.partitions,
            policy: options.policy(),
            owner: owner.clone(),
            closing: Arc::new(AtomicBool::new(false)),
        });
        let handled = records.filter(|_| !options.dedup_window.is_zero()).map(|store| Handled::new(store, owner));
        let inner = Arc::new(Inner {
            url: url.to_string(),
            settings,
            handled,
            in_flight: Arc::default(),
            link: watch::channel(None).0,
            subscribers: tokio::sync::Mutex::new(Vec::new()),
            closing: watch::channel(false).0,
            generation: AtomicU64::new(0),
        });
        let link = inner
            .establish()
            .await
            .with_context(|| format!("connecting to RabbitMQ at {}: is it running?", redact(url)))?;
        tokio::spawn(supervise(inner.clone(), link));
        Ok(Self { inner })
    }

    pub fn names(&self) -> &Names {
        &self.inner.settings.names
    }
}

impl Inner {
    fn connection_name(&self) -> String {
        format!("agent-store {}", self.settings.owner)
    }

    /// A new link with the whole topology declared and every subscription
    /// consuming; it becomes the current one.
    async fn establish(&self) -> Result<Arc<Link>> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let link = Link::open(&self.url, &self.connection_name(), generation).await?;
        let mut subscribers = self.subscribers.lock().await;
        let attached = async {
            let declare = link.channel().await?;
            topology::declare_events(&declare, &self.settings.names).await?;
            for attached in subscribers.iter_mut().filter(|a| a.active) {
                let subscription = attached.subscriber.subscription();
                topology::declare_subscription(
                    &declare,
                    &self.settings.names,
                    subscription,
                    self.settings.partitions,
                    &self.settings.policy,
                )
                .await?;
                attached.consuming = Some(attached.subscriber.consume(&link).await?);
            }
            let _ = declare.close(200, "declared".into()).await;
            anyhow::Ok(())
        };
        // Bounded, so that a connection dying half-way through cannot hang
        // the supervisor (see `Link::bounded`).
        let attached = link.bounded("declaring the topology", ESTABLISH_TIMEOUT, attached).await;
        if let Err(error) = attached {
            link.close().await;
            return Err(error);
        }
        self.link.send_replace(Some(link.clone()));
        Ok(link)
    }

    fn current(&self) -> Option<Arc<Link>> {
        self.link.borrow().clone().filter(|link| link.is_up())
    }

    fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// The link, for reading the dead-letter queues.
    fn link_for_dead_letters(&self) -> Result<Arc<Link>> {
        self.current().context("RabbitMQ is unreachable")
    }

    /// `components`, or every component this host subscribes: the
    /// dead-letter queues the admin API reads.
    async fn dead_letter_components(&self, components: &[String]) -> Vec<String> {
        if !components.is_empty() {
            return components.to_vec();
        }
        let subscribers = self.subscribers.lock().await;
        subscribers.iter().map(|a| a.subscriber.subscription().component.clone()).collect()
    }
}

/// Keeps a link up for as long as the broker lives.
async fn supervise(inner: Arc<Inner>, mut link: Arc<Link>) {
    let mut closing = inner.closing.subscribe();
    loop {
        tokio::select! {
            _ = link.broken() => {}
            _ = closing.wait_for(|c| *c) => return,
        }
        inner.link.send_replace(None);
        link.close().await;
        let mut delay = RECONNECT_FIRST;
        link = loop {
            if inner.is_closing() {
                return;
            }
            match inner.establish().await {
                Ok(link) => break link,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), retry_in = ?delay, "reconnecting to RabbitMQ failed");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = closing.wait_for(|c| *c) => return,
                    }
                    delay = (delay * 2).min(RECONNECT_MAX);
                }
            }
        };
        tracing::info!(generation = link.generation, "reconnected to RabbitMQ: topology declared, consumers back");
        crate::metrics::metrics().reconnected("rabbitmq");
    }
}

#[async_trait]
impl Broker for RabbitBroker {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    fn stages_writes(&self) -> bool {
        self.inner.handled.is_some()
    }

    async fn publish(&self, events: &[Event]) -> Result<()> {
        if self.inner.is_closing() {
            bail!("the host is shutting down and takes no new events");
        }
        let settings = &self.inner.settings;
        let mut encoded = Vec::with_capacity(events.len());
        for event in events {
            let properties = headers::event_properties(event, settings.partitions)
                .with_context(|| format!("event {} cannot be published over AMQP", event.id()))?;
            encoded.push((event.ty().to_string(), cloudevents_amqp::body_for(event), properties));
        }
        let exchange = settings.names.events();
        let deadline = tokio::time::Instant::now() + PUBLISH_WAIT;
        let mut links = self.inner.link.subscribe();
        loop {
            // Wait for a live link; a publish that failed on a dying one is
            // tried again (at least once: subscribers dedup).
            let link = tokio::time::timeout_at(deadline, links.wait_for(|l| l.as_ref().is_some_and(|l| l.is_up())))
                .await
                .ok()
                .and_then(|found| found.ok().and_then(|l| l.clone()));
            let Some(link) = link else {
                bail!("RabbitMQ at {} is unreachable", redact(&self.inner.url));
            };
            let messages: Vec<Outgoing<'_>> = encoded
                .iter()
                .map(|(ty, body, properties)| Outgoing {
                    exchange: &exchange,
                    routing_key: ty,
                    mandatory: false,
                    body,
                    properties: properties.clone(),
                })
                .collect();
            match link.publish_all(messages).await {
                Ok(()) => return Ok(()),
                Err(error) if link.is_up() || tokio::time::Instant::now() >= deadline => return Err(error),
                Err(error) => tracing::debug!(error = %error, "publish failed on a broken link; trying again"),
            }
        }
    }

    async fn subscribe(&self, subscription: Subscription, handler: Arc<dyn Handler>) -> Result<()> {
        let settings = &self.inner.settings;
        let mut subscribers = self.inner.subscribers.lock().await;
        let previous = subscribers.iter().position(|a| a.subscriber.subscription().component == subscription.component);
        let mut stale_filters = Vec::new();
        if let Some(index) = previous {
            let attached = &subscribers[index];
            if attached.active && attached.subscriber.subscription() == &subscription {
                // The component is looked up per event: a new version
                // with the same subscription needs nothing of the broker.
                return Ok(());
            }
            let attached = subscribers.remove(index);
            stale_filters = attached
                .subscriber
                .subscription()
                .filters
                .iter()
                .filter(|f| !subscription.filters.contains(f))
                .cloned()
                .collect();
            if let Some(consuming) = attached.consuming {
                consuming.cancel().await;
            }
            attached.subscriber.finish(REPLACE_GRACE).await;
        }
        let subscriber = Subscriber::new(
            subscription.clone(),
            handler,
            settings.clone(),
            self.inner.handled.clone(),
            self.inner.in_flight.clone(),
        );
        let mut consuming = None;
        if let Some(link) = self.inner.current() {
            let attached = async {
                let declare = link.channel().await?;
                topology::declare_subscription(
                    &declare,
                    &settings.names,
                    &subscription,
                    settings.partitions,
                    &settings.policy,
                )
                .await?;
                topology::unbind(&declare, &settings.names, &subscription.component, &stale_filters).await?;
                let _ = declare.close(200, "declared".into()).await;
                subscriber.consume(&link).await
            };
            let attached = link.bounded("subscribing", ESTABLISH_TIMEOUT, attached).await;
            match attached {
                Ok(started) => consuming = Some(started),
                // The supervisor attaches it once it has reconnected.
                Err(error) if !link.is_up() => {
                    tracing::warn!(error = %format!("{error:#}"), "subscribing while the link broke")
                }
                Err(error) => return Err(error),
            }
        }
        subscribers.push(Attached { subscriber, consuming, active: true });
        Ok(())
    }

    async fn unsubscribe(&self, component: &str) -> Result<()> {
        let settings = &self.inner.settings;
        let mut subscribers = self.inner.subscribers.lock().await;
        let Some(attached) = subscribers.iter_mut().find(|a| a.subscriber.subscription().component == component) else {
            bail!("component `{component}` is not subscribed");
        };
        let Some(link) = self.inner.current() else {
            bail!("RabbitMQ is unreachable: `{component}` stays subscribed");
        };
        let filters = attached.subscriber.subscription().filters.clone();
        let unbound = async {
            let channel = link.channel().await?;
            topology::unbind(&channel, &settings.names, component, &filters).await?;
            let _ = channel.close(200, "unbound".into()).await;
            anyhow::Ok(())
        };
        link.bounded("unsubscribing", ESTABLISH_TIMEOUT, unbound).await?;
        attached.active = false;
        if let Some(consuming) = attached.consuming.take() {
            consuming.cancel().await;
        }
        // What it had taken is handled before this returns, while the
        // component is still there to handle it; a later deploy resumes
        // with a fresh subscriber.
        let fresh = attached.subscriber.fresh();
        let previous = std::mem::replace(&mut attached.subscriber, fresh);
        previous.finish(REPLACE_GRACE).await;
        Ok(())
    }

    async fn ready(&self) -> bool {
        !self.inner.is_closing() && self.inner.current().is_some()
    }

    fn pending(&self) -> Option<usize> {
        Some(self.inner.in_flight.count())
    }

    async fn shutdown(&self, grace: Duration) {
        self.inner.settings.closing.store(true, Ordering::SeqCst);
        self.inner.closing.send_replace(true);
        {
            let mut subscribers = self.inner.subscribers.lock().await;
            for attached in subscribers.iter_mut() {
                if let Some(consuming) = attached.consuming.take() {
                    consuming.cancel().await;
                }
            }
        }
        if tokio::time::timeout(grace, self.inner.in_flight.idle()).await.is_err() {
            tracing::warn!(
                in_flight = self.inner.in_flight.count(),
                "shutdown grace period over: un-acked deliveries go back to RabbitMQ"
            );
        }
        let link = self.inner.link.borrow().clone();
        if let Some(link) = link {
            link.close().await;
        }
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let link = self.inner.link_for_dead_letters()?;
        let components = self.inner.dead_letter_components(&[]).await;
        let queues = dlq::DeadLetters::new(&link, &self.inner.settings.names);
        let mut all = Vec::new();
        for component in components {
            for message in queues.list(&component).await? {
                // Messages that are not events cannot be a `DeadLetter`;
                // `agent-store dlq list` shows them.
                if let Ok(event) = message.event {
                    let note = message.note;
                    all.push(DeadLetter {
                        id: note.id,
                        event,
                        component: component.clone(),
                        reason: note.reason,
                        attempts: note.attempts,
                        at: note.at,
                    });
                }
            }
        }
        all.sort_by_key(|d| d.at);
        Ok(all)
    }

    /// [`dlq::DeadLetters::replay`] over the selected components' queues:
    /// each letter goes to its own subscription's exchange, so only the
    /// component that failed sees it again.
    async fn replay_dead_letters(&self, selection: &Selection) -> Result<Replay> {
        let link = self.inner.link_for_dead_letters()?;
        let components = self.inner.dead_letter_components(&selection.components).await;
        let queues = dlq::DeadLetters::new(&link, &self.inner.settings.names);
        if selection.ids.is_some() {
            let mut found = Vec::new();
            for component in &components {
                found.extend(queues.list(component).await?.into_iter().map(|message| message.note.id));
            }
            selection.check_found(found.iter().map(String::as_str))?;
        }
        let left = std::sync::atomic::AtomicUsize::new(MAX_REPLAY);
        let mut replay = Replay::default();
        for component in components {
            if left.load(Ordering::SeqCst) == 0 {
                break;
            }
            let picked = |note: &headers::DeathNote| {
                selection.takes(&note.id, &component)
                    && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
            };
            match queues.replay(&component, picked).await {
                Ok(ids) => {
                    replay.replayed.extend(ids.into_iter().map(|id| Replayed { id, component: component.clone() }))
                }
                Err(error) => {
                    replay.stopped = Some(format!("the dead letters of `{component}` are kept: {error:#}"));
                    break;
                }
            }
        }
        Ok(replay)
    }

    async fn purge_dead_letters(&self, components: &[String]) -> Result<usize> {
        let link = self.inner.link_for_dead_letters()?;
        let queues = dlq::DeadLetters::new(&link, &self.inner.settings.names);
        let mut purged = 0;
        for component in self.inner.dead_letter_components(components).await {
            purged += queues.purge(&component).await? as usize;
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("amqp://guest:secret@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact("amqp://user@host"), "amqp://user@host");
    }

    #[test]
    fn options_are_checked() {
        assert!(RabbitOptions::default().validate().is_ok());
        assert!(RabbitOptions { partitions: 0, ..RabbitOptions::default() }.validate().is_err());
        assert!(RabbitOptions { max_attempts: 0, ..RabbitOptions::default() }.validate().is_err());
        assert_eq!(RabbitOptions::default().dedup_window, Duration::from_secs(86_400));
    }
}
