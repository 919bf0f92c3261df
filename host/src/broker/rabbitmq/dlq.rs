//! The dead-letter queues, for `agent-store dlq` and
//! [`Broker::dead_letters`](crate::broker::Broker::dead_letters).
//!
//! AMQP has no random access into a queue, so reading one takes every
//! message un-acked with `basic.get` and closing the channel puts them all
//! back where they were. Replaying one acks it only after its copy is
//! confirmed: at worst it is both replayed and still listed.

use anyhow::{Context, Result, bail};
use cloudevents::Event;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

use super::headers::{self, DeathNote};
use super::link::{Link, Outgoing};
use super::topology::Names;

/// At most this many dead letters are read from one queue at once.
pub const READ_LIMIT: usize = 10_000;

/// A message of a dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadMessage {
    pub note: DeathNote,
    /// The event, or why the message is not one.
    pub event: Result<Event, String>,
    pub properties: BasicProperties,
    pub body: Vec<u8>,
}

/// The dead-letter queues of one prefix.
pub struct DeadLetters<'a> {
    link: &'a Link,
    names: &'a Names,
}

impl<'a> DeadLetters<'a> {
    pub fn new(link: &'a Link, names: &'a Names) -> Self {
        Self { link, names }
    }

    /// A channel, once the queue is known to exist: `basic.get` on a missing
    /// queue would only say NOT_FOUND.
    async fn open(&self, component: &str) -> Result<(Channel, u32)> {
        let queue = self.names.dead(component);
        let channel = self.link.channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        match channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await {
            Ok(declared) => Ok((channel, declared.message_count())),
            Err(error) => bail!(
                "no dead-letter queue {queue}: `{component}` has never subscribed under the prefix `{}` ({error})",
                self.names.prefix()
            ),
        }
    }

    /// Every dead letter of `component`, oldest first, left in the queue.
    pub async fn list(&self, component: &str) -> Result<Vec<DeadMessage>> {
        let (channel, _) = self.open(component).await?;
        let messages = take_all(&channel, &self.names.dead(component)).await?;
        let _ = channel.close(200, "read".into()).await;
        Ok(messages.into_iter().map(|(_, message)| message).collect())
    }

    /// Publishes the dead letters `select` picks back to `component`'s
    /// subscription, fresh (attempt 1), and removes each one once its copy
    /// is confirmed. Returns the ids replayed.
    ///
    /// They go to the subscription's own exchange, not to the events
    /// exchange: only the component that failed gets the event again, and
    /// the others cannot repeat work once their dedup window has passed.
    pub async fn replay(&self, component: &str, select: impl Fn(&DeathNote) -> bool) -> Result<Vec<String>> {
        let (channel, _) = self.open(component).await?;
        let taken = take_all(&channel, &self.names.dead(component)).await?;
        let exchange = self.names.subscription(component);
        let mut replayed = Vec::new();
        let mut failure = None;
        for (acker, message) in taken.into_iter().filter(|(_, m)| select(&m.note)) {
            let outgoing = Outgoing {
                exchange: &exchange,
                routing_key: &message.note.routing_key,
                mandatory: true,
                body: &message.body,
                properties: headers::replay_properties(&message.properties),
            };
            match self.link.publish_all(vec![outgoing]).await {
                Ok(()) => {
                    acker.ack(Default::default()).await.context("removing a replayed dead letter")?;
                    replayed.push(message.note.id);
                }
                Err(error) => {
                    failure = Some(error.context(format!("replaying {}", message.note.id)));
                    break;
                }
            }
        }
        let _ = channel.close(200, "replayed".into()).await;
        match failure {
            Some(error) if replayed.is_empty() => Err(error),
            Some(error) => {
                tracing::warn!(error = %format!("{error:#}"), replayed = replayed.len(), "replay stopped early");
                Ok(replayed)
            }
            None => Ok(replayed),
        }
    }

    /// Drops every dead letter of `component`; returns how many.
    pub async fn purge(&self, component: &str) -> Result<u32> {
        let (channel, _) = self.open(component).await?;
        let purged = channel.queue_purge(self.names.dead(component).into(), QueuePurgeOptions::default()).await?;
        let _ = channel.close(200, "purged".into()).await;
        Ok(purged)
    }
}

/// Takes the queue's messages un-acked, up to [`READ_LIMIT`].
async fn take_all(channel: &Channel, queue: &str) -> Result<Vec<(lapin::Acker, DeadMessage)>> {
    let mut taken = Vec::new();
    while taken.len() < READ_LIMIT {
        let Some(message) = channel.basic_get(queue.into(), BasicGetOptions::default()).await? else {
            break;
        };
        let delivery = message.delivery;
        let note = headers::death_note(&delivery.properties).unwrap_or_else(|| DeathNote {
            // Put there by someone else: still listed, with what is known.
            id: delivery.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default(),
            component: String::new(),
            reason: "no dead-letter headers".into(),
            attempts: 0,
            at: chrono::DateTime::default(),
            routing_key: delivery.routing_key.to_string(),
        });
        let event = cloudevents_amqp::to_event(&delivery.properties, &delivery.data).map_err(|e| e.to_string());
        taken.push((delivery.acker, DeadMessage { note, event, properties: delivery.properties, body: delivery.data }));
    }
    Ok(taken)
}
