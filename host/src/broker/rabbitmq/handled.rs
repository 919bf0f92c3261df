//! Idempotency: a record per handled event (per subscription, by `source`
//! and `id`), kept in the host's key-value stores under a label no manifest
//! can name, for the dedup window.
//!
//! A record goes `claimed` → `done` (with the events the component
//! returned) → `published`:
//!
//! * `claimed` — a host is running the component now. The claim is a lease
//!   the holder renews while the component runs; a redelivery waits for it
//!   to turn `done`, or to expire (its holder died) and takes it over.
//! * `done` — the component ran; its outputs may not all be confirmed yet.
//!   A redelivery does not run the component again: it publishes these
//!   same events (same ids, so their own subscribers dedup them) and acks.
//! * `published` — outputs confirmed too: a redelivery is only acked.
//!
//! A retryable failure or a rejection deletes the claim, so the next
//! attempt (or a replay from the dead-letter queue) runs the component.
//!
//! Every transition is a compare-and-swap in the store, so with Redis two
//! hosts never both hold a claim.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use cloudevents::Event;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use agent_store_runtime::capabilities::key_value::Store;

/// The key-value label of the records. The dot is not allowed in a
/// manifest's `key_value_stores`, so no component can open (or forge) them.
pub const LABEL: &str = "agent-store.handled";

/// How long a claim holds without renewal: what a redelivery of an event
/// whose host died waits before running it again.
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// How often a running component's claim is renewed.
pub const CLAIM_RENEWAL: Duration = Duration::from_secs(10);

/// Polling a claim held by someone else starts at this interval…
const WAIT_FIRST: Duration = Duration::from_millis(50);
/// …and backs off to this one.
const WAIT_MAX: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    Claimed { owner: String, until_ms: u64 },
    Done { outputs: Vec<Event> },
    Published,
}

/// What the record says about a delivery.
#[derive(Debug)]
pub enum Claim {
    /// Ours: run the component, then [`Handled::finish`] or
    /// [`Handled::release`].
    Fresh(Token),
    /// The component ran already: publish these, then acknowledge.
    Done(Vec<Event>),
    /// Handled and published already: only acknowledge.
    Published,
}

/// Proof of a claim: the exact bytes written, for the next
/// compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

/// The records of one host (the owner of its claims).
#[derive(Clone)]
pub struct Handled {
    store: Arc<dyn Store>,
    owner: String,
    lease: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn encode(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialise")
}

impl Handled {
    pub fn new(store: Arc<dyn Store>, owner: impl Into<String>) -> Self {
        Self { store, owner: owner.into(), lease: CLAIM_LEASE }
    }

    #[cfg(test)]
    fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The record key of an event for a subscription: hashed, because
    /// `source` and `id` are free text.
    pub fn key(prefix: &str, component: &str, source: &str, id: &str) -> String {
        let digest = Sha256::new().chain_update(source).chain_update([0u8]).chain_update(id).finalize();
        format!("{prefix}/{component}/{}", hex::encode(&digest[..16]))
    }

    fn claim_bytes(&self) -> Token {
        Token(encode(&Record::Claimed {
            owner: self.owner.clone(),
            until_ms: now_ms() + self.lease.as_millis() as u64,
        }))
    }

    /// Claims the event, or says what happened to it already; waits while
    /// another live host holds it.
    pub async fn claim(&self, key: &str) -> Result<Claim> {
        let mut wait = WAIT_FIRST;
        loop {
            let mine = self.claim_bytes();
            if self.store.compare_and_swap(key, None, &mine.0).await? {
                return Ok(Claim::Fresh(mine));
            }
            let Some(current) = self.store.get(key).await? else {
                continue; // expired or released in between
            };
            match serde_json::from_slice::<Record>(&current) {
                Ok(Record::Done { outputs }) => return Ok(Claim::Done(outputs)),
                Ok(Record::Published) => return Ok(Claim::Published),
                Ok(Record::Claimed { until_ms, owner }) if until_ms > now_ms() => {
                    tracing::debug!(key, owner, "event being handled elsewhere: waiting for it");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(WAIT_MAX);
                }
                // An expired claim (its holder died) or a record we cannot
                // read: take it over, unless someone else just did.
                _ => {
                    if self.store.compare_and_swap(key, Some(&current), &mine.0).await? {
                        tracing::info!(key, "took over an abandoned claim");
                        return Ok(Claim::Fresh(mine));
                    }
                }
            }
        }
    }

    /// Extends a claim while the component still runs; `None` if it was
    /// lost.
    pub async fn renew(&self, key: &str, token: &Token) -> Result<Option<Token>> {
        let fresh = self.claim_bytes();
        Ok(self.store.compare_and_swap(key, Some(&token.0), &fresh.0).await?.then_some(fresh))
    }

    /// Records what the component returned; `false` if the claim was lost
    /// (another host took it over), in which case the caller must not
    /// publish.
    pub async fn finish(&self, key: &str, token: &Token, outputs: &[Event]) -> Result<bool> {
        let done = encode(&Record::Done { outputs: outputs.to_vec() });
        Ok(self.store.compare_and_swap(key, Some(&token.0), &done).await?)
    }

    /// The outputs are confirmed: a redelivery from now on is only acked.
    pub async fn mark_published(&self, key: &str) -> Result<()> {
        Ok(self.store.set(key, &encode(&Record::Published)).await?)
    }

    /// Gives the claim back after a failure, so that the next attempt runs.
    pub async fn release(&self, key: &str) -> Result<()> {
        Ok(self.store.delete(key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_runtime::capabilities::key_value::memory::MemoryBackend;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn store() -> Arc<dyn Store> {
        Arc::new(MemoryBackend::default().store(LABEL, None))
    }

    fn out(id: &str) -> Event {
        EventBuilderV10::new().id(id).source("/t").ty("reply").build().unwrap()
    }

    #[test]
    fn keys_separate_subscriptions_sources_and_ids() {
        let key = Handled::key("p", "a", "/src", "1");
        assert!(key.starts_with("p/a/"));
        assert_eq!(key, Handled::key("p", "a", "/src", "1"));
        assert_ne!(key, Handled::key("p", "b", "/src", "1"));
        assert_ne!(key, Handled::key("p", "a", "/src1", ""));
        assert_ne!(key, Handled::key("p", "a", "/src", "2"));
    }

    #[tokio::test]
    async fn claimed_done_published() -> Result<()> {
        let handled = Handled::new(store(), "host-a");
        let Claim::Fresh(token) = handled.claim("k").await? else { panic!("fresh") };
        let token = handled.renew("k", &token).await?.expect("still ours");
        assert!(handled.finish("k", &token, &[out("r1"), out("r2")]).await?);
        match handled.claim("k").await? {
            Claim::Done(outputs) => assert_eq!(outputs, vec![out("r1"), out("r2")], "same events, same ids"),
            other => panic!("{other:?}"),
        }
        handled.mark_published("k").await?;
        assert!(matches!(handled.claim("k").await?, Claim::Published));
        Ok(())
    }

    #[tokio::test]
    async fn a_release_lets_the_next_attempt_run() -> Result<()> {
        let handled = Handled::new(store(), "host-a");
        assert!(matches!(handled.claim("k").await?, Claim::Fresh(_)));
        handled.release("k").await?;
        assert!(matches!(handled.claim("k").await?, Claim::Fresh(_)));
        Ok(())
    }

    #[tokio::test]
    async fn a_redelivery_waits_for_the_live_holder() -> Result<()> {
        let shared = store();
        let a = Handled::new(shared.clone(), "host-a");
        let b = Handled::new(shared, "host-b");
        let Claim::Fresh(token) = a.claim("k").await? else { panic!("fresh") };
        let waiting = tokio::spawn(async move { b.claim("k").await });
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!waiting.is_finished(), "b waits while a runs the component");
        assert!(a.finish("k", &token, &[out("r")]).await?);
        match waiting.await?? {
            Claim::Done(outputs) => assert_eq!(outputs, vec![out("r")]),
            other => panic!("{other:?}"),
        }
        Ok(())
    }

    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_and_its_holder_loses_it() -> Result<()> {
        let shared = store();
        let dead = Handled::new(shared.clone(), "host-a").with_lease(Duration::from_millis(30));
        let live = Handled::new(shared, "host-b");
        let Claim::Fresh(stale) = dead.claim("k").await? else { panic!("fresh") };
        tokio::time::sleep(Duration::from_millis(60)).await;
        let Claim::Fresh(token) = live.claim("k").await? else { panic!("taken over") };
        assert!(!dead.finish("k", &stale, &[out("late")]).await?, "the old holder may not publish");
        assert!(dead.renew("k", &stale).await?.is_none());
        assert!(live.finish("k", &token, &[]).await?);
        Ok(())
    }
}
