//! The exchanges, queues and bindings, by name and declared idempotently
//! (see `docs/broker.md` for the picture).
//!
//! ```text
//! <p>.events (topic, key = event type)
//!   ├─ type pattern ─────────────────────────────► <p>.<c> (headers)
//!   └─ type pattern ─► <p>.<c>.filter.<hash> (headers, brand = …) ─┘
//! <p>.<c> ── agent-store-partition = k ─► queue <p>.<c>.p<k>   (single active consumer)
//!    └ alternate exchange <p>.<c>.unrouted (fanout) ─► queue <p>.<c>.p0
//! queue <p>.<c>.retry.<delay>ms (TTL = delay) ── dead-letters to ─► <p>.<c>
//! queue <p>.<c>.dead
//! ```
//!
//! Declaring is idempotent, so every host declares everything at start and
//! after every reconnect. A filter taken out of the manifest keeps its
//! binding until someone deletes it (`docs/broker.md` says how); a deploy
//! ([`unbind`]) takes out the filters the new version no longer has.

use std::time::Duration;

use anyhow::{Context, Result};
use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, ExchangeUnbindOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use super::headers::{PARTITION, stable_hash};
use crate::broker::{Filter, RetryPolicy, Subscription};

/// A dead-letter queue keeps at most this many messages…
pub const MAX_DEAD_LETTERS: i64 = 10_000;
/// …and this many bytes; past either RabbitMQ drops the oldest.
pub const MAX_DEAD_LETTER_BYTES: i64 = 64 << 20;

/// Attributes the binding does not carry in an attribute header, so a
/// headers exchange cannot filter on them; the host checks them itself.
const NOT_IN_HEADERS: &[&str] = &["id", "datacontenttype", "time", "specversion"];

/// The conditions of one filter that the broker matches, at most: each one
/// more triples the filter's bindings (one per header spelling), 4 make 81.
/// The host checks every condition again on delivery, so the ones past
/// these only cost deliveries it then drops, never a wrong delivery.
const MAX_BROKER_CONDITIONS: usize = 4;

/// Every name derives from the prefix, so that several deployments (or
/// tests) share one RabbitMQ without seeing each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topic exchange every event is published to.
    pub fn events(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// A subscription's headers exchange, which picks the partition queue.
    pub fn subscription(&self, component: &str) -> String {
        format!("{}.{component}", self.prefix)
    }

    /// Where a message without a partition header goes (raw, foreign
    /// publishers): partition 0.
    pub fn unrouted(&self, component: &str) -> String {
        format!("{}.{component}.unrouted", self.prefix)
    }

    /// The headers exchange of a filter with attribute conditions; named by
    /// a hash of the filter so that the same filter always maps to it.
    pub fn filter(&self, component: &str, filter: &Filter) -> String {
        let mut text = filter.event_type.clone();
        for (name, value) in &filter.attributes {
            text.push_str(&format!("\n{name}={value}"));
        }
        format!("{}.{component}.filter.{:016x}", self.prefix, stable_hash(&text))
    }

    pub fn partition(&self, component: &str, partition: u16) -> String {
        format!("{}.{component}.p{partition}", self.prefix)
    }

    /// The retry queue for one delay; named by the delay so that changing
    /// the policy declares new queues instead of clashing with the
    /// arguments of existing ones.
    pub fn retry(&self, component: &str, delay: Duration) -> String {
        format!("{}.{component}.retry.{}ms", self.prefix, delay.as_millis())
    }

    pub fn dead(&self, component: &str) -> String {
        format!("{}.{component}.dead", self.prefix)
    }
}

/// The delays of a policy's retry queues, one per attempt that may be
/// retried, without repeats (the backoff stops growing at some point).
pub fn retry_delays(policy: &RetryPolicy) -> Vec<Duration> {
    let mut delays: Vec<Duration> = (1..policy.max_attempts).map(|attempt| policy.delay_after(attempt)).collect();
    delays.dedup();
    delays
}

/// The bindings of a filter's attribute conditions, one per way a message
/// may spell the attribute headers, or none when it has no condition the
/// broker can check.
///
/// A headers exchange matches header names exactly, and the binding reads
/// `brand` from `cloudEvents:brand`, `cloudEvents_brand` or `ce-brand`
/// (`cloudevents_amqp::HEADER_PREFIXES`), so a condition is bound once per
/// spelling, and a filter with several conditions once per combination of
/// spellings (a message may mix them): 3 bindings for `brand`, 9 for `brand`
/// and `source`. A message that matches more than one (it carries both
/// `cloudEvents:brand` and `ce-brand`) still reaches the subscription
/// exchange once: RabbitMQ routes a message to each destination once,
/// whatever the number of bindings that match.
pub fn filter_bindings(filter: &Filter) -> Vec<FieldTable> {
    let conditions: Vec<(&String, &String)> = filter
        .attributes
        .iter()
        .filter(|(name, _)| !NOT_IN_HEADERS.contains(&name.as_str()))
        .take(MAX_BROKER_CONDITIONS)
        .collect();
    if conditions.is_empty() {
        return Vec::new();
    }
    let spellings = cloudevents_amqp::HEADER_PREFIXES;
    let combinations = spellings.len().pow(conditions.len() as u32);
    (0..combinations)
        .map(|combination| {
            let mut args = FieldTable::default();
            args.insert("x-match".into(), AMQPValue::LongString("all".into()));
            let mut rest = combination;
            for (name, value) in &conditions {
                let prefix = spellings[rest % spellings.len()];
                rest /= spellings.len();
                args.insert(
                    format!("{prefix}{name}").into(),
                    AMQPValue::LongString(LongString::from((*value).clone())),
                );
            }
            args
        })
        .collect()
}

fn durable() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in entries {
        table.insert(ShortString::from(*name), value.clone());
    }
    table
}

/// The events exchange: what every publisher needs.
pub async fn declare_events(channel: &Channel, names: &Names) -> Result<()> {
    channel
        .exchange_declare(names.events().into(), ExchangeKind::Topic, durable(), FieldTable::default())
        .await
        .with_context(|| format!("declaring exchange {}", names.events()))
}

/// Everything one subscription consumes from.
pub async fn declare_subscription(
    channel: &Channel,
    names: &Names,
    subscription: &Subscription,
    partitions: u16,
    policy: &RetryPolicy,
) -> Result<()> {
    let component = subscription.component.as_str();
    let exchange = names.subscription(component);
    let unrouted = names.unrouted(component);
    let context = || format!("declaring the queues of `{component}`");

    channel
        .exchange_declare(unrouted.as_str().into(), ExchangeKind::Fanout, durable(), FieldTable::default())
        .await
        .with_context(context)?;
    let alternate = table(&[("alternate-exchange", AMQPValue::LongString(unrouted.clone().into()))]);
    channel
        .exchange_declare(exchange.as_str().into(), ExchangeKind::Headers, durable(), alternate)
        .await
        .with_context(context)?;

    let single_active = table(&[("x-single-active-consumer", AMQPValue::Boolean(true))]);
    for partition in 0..partitions.max(1) {
        let queue = names.partition(component, partition);
        channel
            .queue_declare(queue.as_str().into(), durable_queue(), single_active.clone())
            .await
            .with_context(context)?;
        let matching = table(&[
            ("x-match", AMQPValue::LongString("all".into())),
            (PARTITION, AMQPValue::LongLongInt(partition.into())),
        ]);
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                matching,
            )
            .await
            .with_context(context)?;
    }
    channel
        .queue_bind(
            names.partition(component, 0).into(),
            unrouted.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(context)?;

    for filter in &subscription.filters {
        let pattern = ShortString::try_new(filter.event_type.clone())
            .map_err(|e| anyhow::anyhow!("`{component}` subscribes to `{}`: {e}", filter.event_type))?;
        let bindings = filter_bindings(filter);
        if bindings.is_empty() {
            channel
                .exchange_bind(
                    exchange.as_str().into(),
                    names.events().into(),
                    pattern,
                    ExchangeBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .with_context(context)?;
            continue;
        }
        let filter_exchange = names.filter(component, filter);
        channel
            .exchange_declare(filter_exchange.as_str().into(), ExchangeKind::Headers, durable(), FieldTable::default())
            .await
            .with_context(context)?;
        channel
            .exchange_bind(
                filter_exchange.as_str().into(),
                names.events().into(),
                pattern,
                ExchangeBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(context)?;
        for arguments in bindings {
            channel
                .exchange_bind(
                    exchange.as_str().into(),
                    filter_exchange.as_str().into(),
                    "".into(),
                    ExchangeBindOptions::default(),
                    arguments,
                )
                .await
                .with_context(context)?;
        }
    }

    for delay in retry_delays(policy) {
        let arguments = table(&[
            ("x-message-ttl", AMQPValue::LongLongInt(delay.as_millis().try_into().unwrap_or(i64::MAX))),
            ("x-dead-letter-exchange", AMQPValue::LongString(exchange.clone().into())),
        ]);
        channel
            .queue_declare(names.retry(component, delay).into(), durable_queue(), arguments)
            .await
            .with_context(context)?;
    }
    // Bounded, so that a flood of bad events cannot fill RabbitMQ's disk;
    // the oldest go first (the consumer counts them, see `dead_letters_full`).
    let bounds = table(&[
        ("x-max-length", AMQPValue::LongLongInt(MAX_DEAD_LETTERS)),
        ("x-max-length-bytes", AMQPValue::LongLongInt(MAX_DEAD_LETTER_BYTES)),
        ("x-overflow", AMQPValue::LongString("drop-head".into())),
    ]);
    channel.queue_declare(names.dead(component).into(), durable_queue(), bounds).await.with_context(context)?;
    Ok(())
}

/// Takes `filters` of `component` off the events exchange: events they
/// matched are no longer routed to its queues. The queues, and what they
/// hold, stay (a removed component's events wait for its next deploy).
pub async fn unbind(channel: &Channel, names: &Names, component: &str, filters: &[Filter]) -> Result<()> {
    let context = || format!("unbinding the filters of `{component}`");
    for filter in filters {
        let pattern = ShortString::try_new(filter.event_type.clone())
            .map_err(|e| anyhow::anyhow!("`{component}` subscribes to `{}`: {e}", filter.event_type))?;
        let destination = if filter_bindings(filter).is_empty() {
            names.subscription(component)
        } else {
            names.filter(component, filter)
        };
        channel
            .exchange_unbind(
                destination.into(),
                names.events().into(),
                pattern,
                ExchangeUnbindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(context)?;
    }
    Ok(())
}

/// Whether a dead-letter queue is at its bound, so that the next dead
/// letter pushes out the oldest.
pub async fn dead_letters_full(channel: &Channel, names: &Names, component: &str) -> Result<bool> {
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare(names.dead(component).into(), passive, FieldTable::default()).await?;
    Ok(i64::from(queue.message_count()) >= MAX_DEAD_LETTERS)
}

/// Deletes what [`declare_subscription`] declared for `subscription`, and
/// the events exchange when `events` is set. For tests and teardown: the
/// messages in those queues are gone.
pub async fn delete(
    channel: &Channel,
    names: &Names,
    subscription: &Subscription,
    partitions: u16,
    policy: &RetryPolicy,
) -> Result<()> {
    let component = subscription.component.as_str();
    let mut queues: Vec<String> = (0..partitions.max(1)).map(|p| names.partition(component, p)).collect();
    queues.extend(retry_delays(policy).into_iter().map(|d| names.retry(component, d)));
    queues.push(names.dead(component));
    for queue in queues {
        channel.queue_delete(queue.into(), QueueDeleteOptions::default()).await?;
    }
    let mut exchanges: Vec<String> = subscription.filters.iter().map(|f| names.filter(component, f)).collect();
    exchanges.push(names.subscription(component));
    exchanges.push(names.unrouted(component));
    for exchange in exchanges {
        channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await?;
    }
    Ok(())
}

/// Deletes the events exchange (after every subscription's topology).
pub async fn delete_events(channel: &Channel, names: &Names) -> Result<()> {
    channel.exchange_delete(names.events().into(), ExchangeDeleteOptions::default()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_hang_off_the_prefix() {
        let names = Names::new("t1");
        assert_eq!(names.events(), "t1.events");
        assert_eq!(names.partition("seller-fashion", 3), "t1.seller-fashion.p3");
        assert_eq!(names.retry("probe", Duration::from_millis(500)), "t1.probe.retry.500ms");
        assert_eq!(names.dead("probe"), "t1.probe.dead");
        let a = Filter::new("store.chat.#").with("brand", "fashion");
        let b = Filter::new("store.chat.#").with("brand", "tech");
        assert_ne!(names.filter("c", &a), names.filter("c", &b));
        assert_eq!(names.filter("c", &a), names.filter("c", &a.clone()));
    }

    #[test]
    fn one_retry_queue_per_distinct_delay() {
        let policy = RetryPolicy { max_attempts: 4, backoff: Duration::from_millis(100) };
        assert_eq!(
            retry_delays(&policy),
            [100, 200, 400].map(Duration::from_millis).to_vec(),
            "attempts 1 to 3 may be retried; the 4th is the last"
        );
        assert!(retry_delays(&RetryPolicy { max_attempts: 1, ..policy }).is_empty());
    }

    /// The header names and values of each binding, without `x-match`.
    fn matches(bindings: &[FieldTable]) -> Vec<Vec<(String, AMQPValue)>> {
        bindings
            .iter()
            .map(|args| {
                assert_eq!(args.inner().get("x-match"), Some(&AMQPValue::LongString("all".into())));
                args.inner()
                    .iter()
                    .filter(|(k, _)| k.as_str() != "x-match")
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn attribute_filters_become_header_matches_in_every_spelling() {
        let text = |s: &str| AMQPValue::LongString(s.into());
        let filter = Filter::new("store.chat.message.new").with("brand", "fashion").with("id", "ignored");
        assert_eq!(
            matches(&filter_bindings(&filter)),
            [
                vec![("cloudEvents:brand".to_string(), text("fashion"))],
                vec![("cloudEvents_brand".to_string(), text("fashion"))],
                vec![("ce-brand".to_string(), text("fashion"))],
            ],
            "one per spelling; `id` is not in a header: the host checks it"
        );
        assert!(filter_bindings(&Filter::new("store.#")).is_empty());
        assert!(filter_bindings(&Filter::new("store.#").with("datacontenttype", "application/json")).is_empty());
    }

    #[test]
    fn several_conditions_bind_every_mix_of_spellings() {
        let filter = Filter::new("store.#").with("brand", "tech").with("source", "/crm");
        let bindings = matches(&filter_bindings(&filter));
        assert_eq!(bindings.len(), 9);
        let names: BTreeSet<Vec<String>> =
            bindings.iter().map(|b| b.iter().map(|(name, _)| name.clone()).collect()).collect();
        assert_eq!(names.len(), 9, "no two alike");
        assert!(names.contains(&vec!["ce-brand".to_string(), "cloudEvents_source".to_string()]), "{names:?}");
        assert!(bindings.iter().all(|b| b.len() == 2), "every condition in every binding");

        let mut many = Filter::new("store.#");
        for n in 0..10 {
            many = many.with(&format!("a{n}"), "v");
        }
        let bindings = matches(&filter_bindings(&many));
        assert_eq!(bindings.len(), 81, "the first four conditions; the host checks the rest");
        assert!(bindings.iter().all(|b| b.len() == MAX_BROKER_CONDITIONS));
    }
}
