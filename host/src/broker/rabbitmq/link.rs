//! One connection to RabbitMQ and its publishing channel: a [`Link`]. When
//! anything on it breaks, the whole link is dropped and the broker's
//! supervisor makes a new one (`mod.rs`), rather than mending channels one
//! by one: un-acked deliveries come back to whoever consumes next, and
//! whatever was not confirmed is published again.
//!
//! lapin's own auto-recovery is not used: it gives up after a fixed number
//! of attempts (a broker down for a minute outlasts it), and it replays
//! consumers on channels whose in-flight deliveries can no longer be acked,
//! which this host would have to detect anyway. Reconnecting ourselves keeps
//! one rule: a delivery is acked on the channel it came from, or not at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::future::Future;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, PublisherConfirm};
use tokio::sync::watch;

/// How long the broker gets to confirm a batch of publishes before the
/// link is declared broken.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take before it counts as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an ack or a nack may take on a link that is up before the link
/// is declared broken.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A message to publish.
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// Set when the message must reach a queue (retry, dead letter,
    /// replay): an unroutable one is then an error, not silently dropped.
    pub mandatory: bool,
    pub body: &'a [u8],
    pub properties: BasicProperties,
}

pub struct Link {
    pub connection: Connection,
    publisher: Channel,
    broken: watch::Sender<bool>,
    failed: AtomicBool,
    /// Counts links, for logs.
    pub generation: u64,
}

impl Link {
    /// Connects, opens the publishing channel with confirms on, and watches
    /// the connection for errors.
    pub async fn open(url: &str, name: &str, generation: u64) -> Result<std::sync::Arc<Self>> {
        let properties = ConnectionProperties::default().with_connection_name(name.to_string().into());
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties))
            .await
            .map_err(|_| anyhow!("timed out after {CONNECT_TIMEOUT:?}"))??;
        let publisher = connection.create_channel().await.context("opening the publishing channel")?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await.context("turning publisher confirms on")?;
        let link = std::sync::Arc::new(Self {
            connection,
            publisher,
            broken: watch::channel(false).0,
            failed: AtomicBool::new(false),
            generation,
        });
        let mut events = link.connection.events_listener();
        let watched = std::sync::Arc::downgrade(&link);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let lapin::Event::Error(error) = event {
                    match watched.upgrade() {
                        Some(link) => link.fail(&format!("connection error: {error}")),
                        None => return,
                    }
                }
            }
        });
        Ok(link)
    }

    /// Marks the link broken (once) and wakes the supervisor.
    pub fn fail(&self, why: &str) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            tracing::warn!(generation = self.generation, reason = why, "lost the RabbitMQ connection");
            self.broken.send_replace(true);
        }
    }

    pub fn is_up(&self) -> bool {
        !self.failed.load(Ordering::SeqCst) && self.connection.status().connected()
    }

    /// Returns once the link is broken.
    pub async fn broken(&self) {
        let mut receiver = self.broken.subscribe();
        let _ = receiver.wait_for(|broken| *broken).await;
    }

    /// Runs `work` (a call on this link) until it completes, the link
    /// breaks, or `limit` passes, which then breaks the link.
    ///
    /// lapin can leave a call made while its connection dies waiting
    /// forever. A lane waiting on one would hold every delivery queued
    /// behind it, and with them the consumers' prefetch, until the whole
    /// subscription stalled; the chaos test in `tests/all/broker.rs` caught
    /// exactly that with an ack. A call on a broken link needs no answer:
    /// its deliveries come back on the next link.
    pub async fn bounded<T>(&self, what: &str, limit: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            finished = tokio::time::timeout(limit, work) => match finished {
                Ok(result) => result,
                Err(_) => {
                    self.fail(&format!("{what} took longer than {limit:?}"));
                    bail!("{what} took longer than {limit:?}")
                }
            },
            () = self.broken() => bail!("the connection broke while {what}"),
        }
    }

    /// A fresh channel on this connection (for consuming, or declaring:
    /// a failed declaration closes its channel, so it gets its own).
    pub async fn channel(&self) -> Result<Channel> {
        self.connection.create_channel().await.context("opening a channel")
    }

    /// Publishes every message, then waits for every confirm: many in
    /// flight at once, never publish-wait-publish.
    pub async fn publish_all(&self, messages: Vec<Outgoing<'_>>) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        self.bounded("publishing", CONFIRM_TIMEOUT, self.publish_and_confirm(messages)).await
    }

    async fn publish_and_confirm(&self, messages: Vec<Outgoing<'_>>) -> Result<()> {
        let mut confirms: Vec<(PublisherConfirm, bool)> = Vec::new();
        for message in messages {
            let options = BasicPublishOptions { mandatory: message.mandatory, ..BasicPublishOptions::default() };
            let confirm = self
                .publisher
                .basic_publish(
                    message.exchange.into(),
                    message.routing_key.into(),
                    options,
                    message.body,
                    message.properties,
                )
                .await
                .map_err(|e| self.failure(e, "publishing"))?;
            confirms.push((confirm, message.mandatory));
        }
        let results = futures::future::join_all(
            confirms.into_iter().map(|(confirm, mandatory)| async move { (confirm.await, mandatory) }),
        )
        .await;
        for (result, mandatory) in results {
            match result.map_err(|e| self.failure(e, "waiting for a publisher confirm"))? {
                Confirmation::Ack(Some(returned)) if mandatory => {
                    bail!("unroutable: RabbitMQ returned it ({})", returned.reply_text)
                }
                Confirmation::Ack(_) | Confirmation::NotRequested => {}
                Confirmation::Nack(_) => bail!("RabbitMQ refused the message (nack)"),
            }
        }
        Ok(())
    }

    /// A channel-level error ends the link: its channel is closed for good.
    fn failure(&self, error: lapin::Error, doing: &str) -> anyhow::Error {
        if !self.publisher.status().connected() || !self.connection.status().connected() {
            self.fail(&format!("{doing}: {error}"));
        }
        anyhow::Error::new(error).context(doing.to_string())
    }

    /// Closes the connection politely, not waiting long for a dead peer.
    pub async fn close(&self) {
        self.failed.store(true, Ordering::SeqCst);
        if self.connection.status().connected() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.connection.close(200, "bye".into())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine's RabbitMQ, as the integration tests use it.
    async fn link() -> Result<std::sync::Arc<Link>> {
        let url =
            std::env::var("AGENT_STORE_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        Link::open(&url, "agent-store link test", 1).await
    }

    #[tokio::test]
    async fn a_call_that_never_answers_breaks_the_link_at_its_limit() -> Result<()> {
        let link = link().await?;
        let never = futures::future::pending::<Result<()>>();
        let error = link.bounded("acking", Duration::from_millis(50), never).await.unwrap_err();
        assert_eq!(error.to_string(), "acking took longer than 50ms");
        assert!(!link.is_up(), "a link that stops answering is replaced");
        link.close().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_call_on_a_broken_link_returns_without_waiting_for_it() -> Result<()> {
        let link = link().await?;
        let waiting = {
            let link = link.clone();
            tokio::spawn(async move {
                let never = futures::future::pending::<Result<()>>();
                link.bounded("acking", Duration::from_secs(3600), never).await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        link.fail("test: the connection died");
        let error = tokio::time::timeout(Duration::from_secs(5), waiting).await??.unwrap_err();
        assert_eq!(error.to_string(), "the connection broke while acking");
        let again = link.bounded("acking", Duration::from_secs(3600), futures::future::pending::<Result<()>>());
        assert!(tokio::time::timeout(Duration::from_secs(5), again).await?.is_err(), "broken already: no wait");
        link.close().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_call_that_answers_is_its_answer() -> Result<()> {
        let link = link().await?;
        assert_eq!(link.bounded("counting", Duration::from_secs(5), async { Ok(7) }).await?, 7);
        assert!(link.publish_all(Vec::new()).await.is_ok(), "nothing to publish is done at once");
        assert!(link.is_up());
        link.close().await;
        Ok(())
    }
}
