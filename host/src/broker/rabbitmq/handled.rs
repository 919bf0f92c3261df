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
//!
//! The component's own key-value writes are staged during the delivery and
//! committed with the `claimed` → `done` transition in one transaction of
//! the backend ([`Handled::finish`]): a crash leaves the stores as they were
//! and the record claimed (the redelivery runs the component again on the
//! same state), or both written (the redelivery publishes the recorded
//! outputs). A commit whose reads went stale is a conflict: the component
//! runs again.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use cloudevents::Event;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use agent_store_runtime::capabilities::key_value::staged::{Batch, Check, Transaction, Write};
use agent_store_runtime::capabilities::key_value::{KeyValueStores, Store};

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
    /// Ours, taken over from a holder that died while it ran the component:
    /// as [`Claim::Fresh`], but whatever the component did outside the
    /// stores may have happened already.
    TakenOver(Token),
    /// The component ran already: publish these, then acknowledge.
    Done(Vec<Event>),
    /// Handled and published already: only acknowledge.
    Published,
}

/// What became of [`Handled::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Recorded (with the component's writes): publish the outputs.
    Recorded,
    /// Another host took the claim over: publish nothing, write nothing.
    Lost,
    /// A key the component read changed before the commit: nothing was
    /// written and the claim is still ours; run the component again.
    Conflict,
}

/// Proof of a claim: the exact bytes written, for the next
/// compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

/// The records of one host (the owner of its claims).
#[derive(Clone)]
pub struct Handled {
    stores: Arc<KeyValueStores>,
    store: Arc<dyn Store>,
    /// The same records, for the writes a crash may lose when the store is
    /// this process's alone (claims, renewals, releases, `published`): not
    /// synced on their own, which spares a delivery two of its three disk
    /// flushes. `done` is always synced.
    lazy: Arc<dyn Store>,
    owner: String,
    lease: Duration,
    /// The stores are this process's alone (embedded or in memory): a
    /// claim of another owner was left by a process that is gone (redb
    /// locks its file to one process), so it is taken over at once rather
    /// than after its lease.
    exclusive: bool,
    /// Where [`Handled::mark_published_later`] queues its keys; the writer
    /// task starts with the first mark and ends with the last clone.
    marks: Arc<OnceLock<mpsc::UnboundedSender<String>>>,
}

/// The most marks written in one batch.
const MARK_BATCH: usize = 256;

/// Writes queued marks: what came in while the last batch was written
/// goes in the next.
async fn write_marks(
    stores: Arc<KeyValueStores>,
    lazy: Arc<dyn Store>,
    shared: bool,
    mut keys: mpsc::UnboundedReceiver<String>,
) {
    let published = encode(&Record::Published);
    let mut batch = Vec::with_capacity(MARK_BATCH);
    while keys.recv_many(&mut batch, MARK_BATCH).await > 0 {
        let written = if shared {
            let writes =
                batch.drain(..).map(|key| Write { label: LABEL.into(), key, value: Some(published.clone()) }).collect();
            stores.commit(&Batch { checks: Vec::new(), writes }).await.map(|_| ())
        } else {
            // A store of this process's own: no round trip to save, and
            // the unsynced writes stay unsynced.
            let mut result = Ok(());
            for key in batch.drain(..) {
                result = result.and(lazy.set(&key, &published).await);
            }
            result
        };
        if let Err(error) = written {
            tracing::debug!(error = %error, "could not mark events published");
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn encode(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialise")
}

impl Handled {
    pub fn new(stores: Arc<KeyValueStores>, owner: impl Into<String>) -> Self {
        let exclusive = !stores.is_shared();
        Self {
            store: stores.open(LABEL),
            lazy: stores.open_unsynced(LABEL),
            stores,
            owner: owner.into(),
            lease: CLAIM_LEASE,
            exclusive,
            marks: Arc::default(),
        }
    }

    #[cfg(test)]
    fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    #[cfg(test)]
    fn shared(mut self) -> Self {
        self.exclusive = false;
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
            if self.lazy.compare_and_swap(key, None, &mine.0).await? {
                return Ok(Claim::Fresh(mine));
            }
            let Some(current) = self.store.get(key).await? else {
                continue; // expired or released in between
            };
            match serde_json::from_slice::<Record>(&current) {
                Ok(Record::Done { outputs }) => return Ok(Claim::Done(outputs)),
                Ok(Record::Published) => return Ok(Claim::Published),
                Ok(Record::Claimed { until_ms, owner })
                    if until_ms > now_ms() && (!self.exclusive || owner == self.owner) =>
                {
                    tracing::debug!(key, owner, "event being handled elsewhere: waiting for it");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(WAIT_MAX);
                }
                // An expired claim (its holder died) or a record we cannot
                // read: take it over, unless someone else just did.
                _ => {
                    if self.lazy.compare_and_swap(key, Some(&current), &mine.0).await? {
                        tracing::info!(key, "took over an abandoned claim");
                        return Ok(Claim::TakenOver(mine));
                    }
                }
            }
        }
    }

    /// Extends a claim while the component still runs; `None` if it was
    /// lost.
    pub async fn renew(&self, key: &str, token: &Token) -> Result<Option<Token>> {
        let fresh = self.claim_bytes();
        Ok(self.lazy.compare_and_swap(key, Some(&token.0), &fresh.0).await?.then_some(fresh))
    }

    /// Records what the component returned, committing the writes it
    /// staged in the same transaction.
    pub async fn finish(
        &self,
        key: &str,
        token: &Token,
        outputs: &[Event],
        staged: Option<&Transaction>,
    ) -> Result<Finished> {
        let done = encode(&Record::Done { outputs: outputs.to_vec() });
        let Some(staged) = staged else {
            let swapped = self.store.compare_and_swap(key, Some(&token.0), &done).await?;
            return Ok(if swapped { Finished::Recorded } else { Finished::Lost });
        };
        let mut batch = staged.batch();
        batch.checks.push(Check { label: LABEL.into(), key: key.into(), expected: Some(token.0.clone()) });
        batch.writes.push(Write { label: LABEL.into(), key: key.into(), value: Some(done) });
        if self.stores.commit(&batch).await? {
            return Ok(Finished::Recorded);
        }
        // Which check failed: our claim, or a key the component read?
        Ok(match self.store.get(key).await? {
            Some(current) if current == token.0 => Finished::Conflict,
            _ => Finished::Lost,
        })
    }

    /// The outputs are confirmed: a redelivery from now on is only acked.
    pub async fn mark_published(&self, key: &str) -> Result<()> {
        Ok(self.lazy.set(key, &encode(&Record::Published)).await?)
    }

    /// [`Handled::mark_published`], not awaited: the marks of deliveries
    /// settled close together are written together, in one round trip to a
    /// shared store. A mark that is lost costs a redelivery one more
    /// publishing of the same events, which their subscribers dedup; so a
    /// failed batch is only logged.
    pub fn mark_published_later(&self, key: String) {
        let marks = self.marks.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_marks(self.stores.clone(), self.lazy.clone(), !self.exclusive, receiver));
            sender
        });
        let _ = marks.send(key);
    }

    /// Gives the claim back after a failure, so that the next attempt runs.
    pub async fn release(&self, key: &str) -> Result<()> {
        Ok(self.lazy.delete(key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn store() -> Arc<KeyValueStores> {
        Arc::new(KeyValueStores::memory())
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
        assert_eq!(handled.finish("k", &token, &[out("r1"), out("r2")], None).await?, Finished::Recorded);
        match handled.claim("k").await? {
            Claim::Done(outputs) => assert_eq!(outputs, vec![out("r1"), out("r2")], "same events, same ids"),
            other => panic!("{other:?}"),
        }
        handled.mark_published("k").await?;
        assert!(matches!(handled.claim("k").await?, Claim::Published));
        Ok(())
    }

    #[tokio::test]
    async fn marks_queued_together_are_all_written() -> Result<()> {
        for shared in [false, true] {
            let stores = store();
            let handled = Handled::new(stores.clone(), "host-a");
            let handled = if shared { handled.shared() } else { handled };
            let keys: Vec<String> = (0..600).map(|i| format!("k{i}")).collect();
            for key in &keys {
                let Claim::Fresh(token) = handled.claim(key).await? else { panic!("fresh") };
                assert_eq!(handled.finish(key, &token, &[out("r")], None).await?, Finished::Recorded);
                handled.mark_published_later(key.clone());
            }
            let all_marked = async {
                for key in &keys {
                    while !matches!(handled.claim(key).await?, Claim::Published) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                anyhow::Ok(())
            };
            tokio::time::timeout(Duration::from_secs(5), all_marked).await??;
        }
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
        let a = Handled::new(shared.clone(), "host-a").shared();
        let b = Handled::new(shared, "host-b").shared();
        let Claim::Fresh(token) = a.claim("k").await? else { panic!("fresh") };
        let waiting = tokio::spawn(async move { b.claim("k").await });
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!waiting.is_finished(), "b waits while a runs the component");
        assert_eq!(a.finish("k", &token, &[out("r")], None).await?, Finished::Recorded);
        match waiting.await?? {
            Claim::Done(outputs) => assert_eq!(outputs, vec![out("r")]),
            other => panic!("{other:?}"),
        }
        Ok(())
    }

    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_and_its_holder_loses_it() -> Result<()> {
        let shared = store();
        let dead = Handled::new(shared.clone(), "host-a").with_lease(Duration::from_millis(30)).shared();
        let live = Handled::new(shared, "host-b").shared();
        let Claim::Fresh(stale) = dead.claim("k").await? else { panic!("fresh") };
        tokio::time::sleep(Duration::from_millis(60)).await;
        let Claim::TakenOver(token) = live.claim("k").await? else { panic!("taken over") };
        assert_eq!(
            dead.finish("k", &stale, &[out("late")], None).await?,
            Finished::Lost,
            "the old holder may not publish"
        );
        assert!(dead.renew("k", &stale).await?.is_none());
        assert_eq!(live.finish("k", &token, &[], None).await?, Finished::Recorded);
        Ok(())
    }

    #[tokio::test]
    async fn the_components_writes_land_with_the_record_or_not_at_all() -> Result<()> {
        let stores = store();
        let handled = Handled::new(stores.clone(), "host-a").shared();
        let Claim::Fresh(token) = handled.claim("k").await? else { panic!("fresh") };
        let txn = Transaction::new();
        txn.stage("cart", stores.open("cart")).set("c1", b"dress").await?;
        assert_eq!(stores.open("cart").get("c1").await?, None, "staged, not written");
        assert_eq!(handled.finish("k", &token, &[out("r")], Some(&txn)).await?, Finished::Recorded);
        assert_eq!(stores.open("cart").get("c1").await?, Some(b"dress".to_vec()));
        assert!(matches!(handled.claim("k").await?, Claim::Done(_)));

        // A host that lost its claim writes nothing.
        let dead = Handled::new(stores.clone(), "host-b").with_lease(Duration::from_millis(20)).shared();
        let Claim::Fresh(stale) = dead.claim("k2").await? else { panic!("fresh") };
        tokio::time::sleep(Duration::from_millis(40)).await;
        let Claim::TakenOver(_) = handled.claim("k2").await? else { panic!("taken over") };
        let txn = Transaction::new();
        txn.stage("cart", stores.open("cart")).set("c2", b"shoes").await?;
        assert_eq!(dead.finish("k2", &stale, &[], Some(&txn)).await?, Finished::Lost);
        assert_eq!(stores.open("cart").get("c2").await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn a_stale_read_is_a_conflict_and_the_claim_stays() -> Result<()> {
        let stores = store();
        let handled = Handled::new(stores.clone(), "host-a");
        let Claim::Fresh(token) = handled.claim("k").await? else { panic!("fresh") };
        let txn = Transaction::new();
        let stock = txn.stage("stock", stores.open("stock"));
        assert_eq!(stock.increment("reserved", 1).await?, 1);
        stores.open("stock").increment("reserved", 1).await?;
        assert_eq!(handled.finish("k", &token, &[], Some(&txn)).await?, Finished::Conflict);
        assert_eq!(stores.open("stock").get("reserved").await?, Some(b"1".to_vec()));
        let again = Transaction::new();
        assert_eq!(again.stage("stock", stores.open("stock")).increment("reserved", 1).await?, 2);
        assert_eq!(handled.finish("k", &token, &[], Some(&again)).await?, Finished::Recorded);
        Ok(())
    }

    #[tokio::test]
    async fn a_claim_left_in_a_stores_only_this_process_opens_is_taken_over_at_once() -> Result<()> {
        let stores = store();
        let gone = Handled::new(stores.clone(), "killed-process");
        let Claim::Fresh(_) = gone.claim("k").await? else { panic!("fresh") };
        let restarted = Handled::new(stores, "restarted-process");
        let claimed = tokio::time::timeout(Duration::from_secs(1), restarted.claim("k")).await??;
        assert!(matches!(claimed, Claim::TakenOver(_)), "no wait for the lease: {claimed:?}");
        Ok(())
    }
}
