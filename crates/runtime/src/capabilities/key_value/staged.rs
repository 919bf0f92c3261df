//! A delivery's writes, held back until the host records the delivery as
//! handled, then committed together with that record in one transaction of
//! the backend.
//!
//! Without this, a host killed after a component wrote its state but before
//! the delivery's idempotency record loses the customer: the redelivery runs
//! the component again on state that says the message was already handled.
//! With it, a delivery's effect on the stores and its record (with the
//! events it emitted) land together or not at all.
//!
//! Reads go to the backend and are remembered; the commit checks that every
//! key read still holds what was read (optimistic concurrency), so two
//! deliveries that raced on a key cannot both commit: the loser runs again.
//! `increment` and `compare-and-swap` are a read and a write here, and keep
//! their atomicity through that check. `keys` is not checked: a key added
//! by another delivery meanwhile does not make a conflict.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Error, Store, StoreResult, parse_counter};

/// Bytes one delivery may stage; past it the write fails as a backend
/// error (the delivery is retried, then dead-lettered), rather than the
/// host holding an unbounded batch.
const MAX_STAGED_BYTES: usize = 16 << 20;

/// What one key saw during the delivery.
#[derive(Debug, Default, Clone)]
struct Entry {
    /// The value first read from the backend, when read before any write:
    /// what the commit checks.
    read: Option<Option<Vec<u8>>>,
    /// The value to write (`None`: delete), when written.
    write: Option<Option<Vec<u8>>>,
}

/// One delivery's reads and writes, across the stores it opened.
#[derive(Debug, Default)]
pub struct Transaction {
    entries: Mutex<Entries>,
}

/// By (store label, key), with the bytes staged so far.
#[derive(Debug, Default)]
struct Entries {
    by_key: BTreeMap<(String, String), Entry>,
    bytes: usize,
}

/// A value a key must still hold when the transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The store.
    pub label: String,
    /// The key in it.
    pub key: String,
    /// What it must hold (`None`: nothing).
    pub expected: Option<Vec<u8>>,
}

/// A write of the commit (`value: None` deletes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The store.
    pub label: String,
    /// The key in it.
    pub key: String,
    /// The value to write; `None` deletes the key.
    pub value: Option<Vec<u8>>,
}

/// What a backend commits in one transaction: every check holds, then
/// every write is applied; or nothing is.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// What must hold for the commit to go through.
    pub checks: Vec<Check>,
    /// What the commit writes.
    pub writes: Vec<Write>,
}

impl Transaction {
    /// An empty transaction, for one delivery.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The store `label` seen through this transaction.
    pub fn stage(self: &Arc<Self>, label: &str, store: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(Staged { label: label.to_string(), store, txn: self.clone() })
    }

    /// The checks and writes to commit.
    pub fn batch(&self) -> Batch {
        let entries = self.entries.lock().unwrap();
        let mut batch = Batch::default();
        for ((label, key), entry) in &entries.by_key {
            if let Some(expected) = &entry.read {
                batch.checks.push(Check { label: label.clone(), key: key.clone(), expected: expected.clone() });
            }
            if let Some(value) = &entry.write {
                batch.writes.push(Write { label: label.clone(), key: key.clone(), value: value.clone() });
            }
        }
        batch
    }

    fn seen(&self, label: &str, key: &str) -> Option<Option<Vec<u8>>> {
        let entries = self.entries.lock().unwrap();
        let entry = entries.by_key.get(&(label.to_string(), key.to_string()))?;
        entry.write.clone().or_else(|| entry.read.clone())
    }

    fn remember_read(&self, label: &str, key: &str, value: &Option<Vec<u8>>) {
        let mut entries = self.entries.lock().unwrap();
        let entry = entries.by_key.entry((label.to_string(), key.to_string())).or_default();
        if entry.read.is_none() && entry.write.is_none() {
            entry.read = Some(value.clone());
        }
    }

    fn stage_write(&self, label: &str, key: &str, value: Option<Vec<u8>>) -> StoreResult<()> {
        let mut entries = self.entries.lock().unwrap();
        let size = key.len() + value.as_ref().map_or(0, Vec::len);
        if entries.bytes + size > MAX_STAGED_BYTES {
            return Err(Error::Backend(format!(
                "one delivery may write at most {} MiB to its stores",
                MAX_STAGED_BYTES >> 20
            )));
        }
        entries.bytes += size;
        entries.by_key.entry((label.to_string(), key.to_string())).or_default().write = Some(value);
        Ok(())
    }

    /// The keys written (`true`) or deleted (`false`) in `label`.
    fn written_keys(&self, label: &str) -> Vec<(String, bool)> {
        let entries = self.entries.lock().unwrap();
        entries
            .by_key
            .iter()
            .filter(|((l, _), _)| l == label)
            .filter_map(|((_, key), entry)| entry.write.as_ref().map(|w| (key.clone(), w.is_some())))
            .collect()
    }
}

/// A store seen through a transaction: reads the backend (or what the
/// delivery wrote), writes to the transaction.
struct Staged {
    label: String,
    store: Arc<dyn Store>,
    txn: Arc<Transaction>,
}

#[async_trait]
impl Store for Staged {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        if let Some(value) = self.txn.seen(&self.label, key) {
            return Ok(value);
        }
        let value = self.store.get(key).await?;
        self.txn.remember_read(&self.label, key, &value);
        // Another read may have been first: the transaction keeps one view.
        Ok(self.txn.seen(&self.label, key).unwrap_or(value))
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.txn.stage_write(&self.label, key, Some(value.to_vec()))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.txn.stage_write(&self.label, key, None)
    }

    async fn keys(&self) -> StoreResult<Vec<String>> {
        let mut keys: std::collections::BTreeSet<String> = self.store.keys().await?.into_iter().collect();
        for (key, present) in self.txn.written_keys(&self.label) {
            if present {
                keys.insert(key);
            } else {
                keys.remove(&key);
            }
        }
        Ok(keys.into_iter().collect())
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let current = parse_counter(self.get(key).await?.as_deref())?;
        let next = current
            .checked_add(delta)
            .ok_or_else(|| Error::Value(format!("incrementing {key} by {delta} overflows")))?;
        self.txn.stage_write(&self.label, key, Some(next.to_string().into_bytes()))?;
        Ok(next)
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> StoreResult<bool> {
        if self.get(key).await?.as_deref() != expected {
            return Ok(false);
        }
        self.txn.stage_write(&self.label, key, Some(new.to_vec()))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{BackendKind, KeyValueStores, StoreOptions};
    use super::*;
    use anyhow::Result;

    /// One store set of each backend: in memory, a redb file, and the
    /// machine's Redis in a namespace of its own.
    async fn backends(dir: &std::path::Path) -> Result<Vec<KeyValueStores>> {
        let redis = std::env::var("AGENT_STORE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let options: HashMap<String, StoreOptions> =
            [("short".to_string(), StoreOptions { ttl: Some(std::time::Duration::from_millis(40)) })].into();
        let mut all = Vec::new();
        for kind in [
            BackendKind::Memory,
            BackendKind::Embedded(dir.join("kv.redb")),
            BackendKind::Redis(format!("{redis}#staged-{}", uuid::Uuid::new_v4())),
        ] {
            all.push(KeyValueStores::new(&kind, options.clone()).await?);
        }
        Ok(all)
    }

    #[tokio::test]
    async fn a_staged_store_keeps_the_contract_and_commits_as_one() -> Result<()> {
        let dir = tempfile::tempdir()?;
        for stores in backends(dir.path()).await? {
            let txn = Transaction::new();
            let staged = txn.stage("t", stores.open("t"));
            super::super::tests::store_contract(staged.as_ref()).await?;
            assert!(stores.open("t").keys().await?.is_empty(), "nothing reaches the store before the commit");
            assert!(stores.commit(&txn.batch()).await?);
            let mut keys = stores.open("t").keys().await?;
            keys.sort();
            let mut staged_keys = staged.keys().await?;
            staged_keys.sort();
            assert_eq!(keys, staged_keys, "the commit writes what the delivery saw");
            assert_eq!(stores.open("t").get("fresh").await?, Some(b"-3".to_vec()));
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_key_changed_since_it_was_read_fails_the_commit_and_writes_nothing() -> Result<()> {
        let dir = tempfile::tempdir()?;
        for stores in backends(dir.path()).await? {
            stores.open("stock").set("reserved", b"4").await?;
            let txn = Transaction::new();
            let staged = txn.stage("stock", stores.open("stock"));
            assert_eq!(staged.increment("reserved", 1).await?, 5);
            assert!(staged.compare_and_swap("claim", None, b"mine").await?);
            txn.stage("orders", stores.open("orders")).set("order-1", b"reserved").await?;
            // Another delivery reserves the same product first.
            stores.open("stock").increment("reserved", 1).await?;
            assert!(!stores.commit(&txn.batch()).await?, "the second reservation must run again");
            assert_eq!(stores.open("stock").get("reserved").await?, Some(b"5".to_vec()));
            assert_eq!(stores.open("stock").get("claim").await?, None);
            assert_eq!(stores.open("orders").get("order-1").await?, None, "no store is written");
        }
        Ok(())
    }

    #[tokio::test]
    async fn blind_writes_do_not_conflict_and_keep_the_store_ttl() -> Result<()> {
        let dir = tempfile::tempdir()?;
        for stores in backends(dir.path()).await? {
            let txn = Transaction::new();
            txn.stage("s", stores.open("s")).set("k", b"mine").await?;
            txn.stage("short", stores.open("short")).set("k", b"brief").await?;
            txn.stage("s", stores.open("s")).delete("gone").await?;
            stores.open("s").set("k", b"theirs").await?;
            stores.open("s").set("gone", b"x").await?;
            assert!(stores.commit(&txn.batch()).await?, "last writer wins, as without a transaction");
            assert_eq!(stores.open("s").get("k").await?, Some(b"mine".to_vec()));
            assert_eq!(stores.open("s").get("gone").await?, None);
            assert_eq!(stores.open("short").get("k").await?, Some(b"brief".to_vec()));
            tokio::time::sleep(std::time::Duration::from_millis(80)).await;
            assert_eq!(stores.open("short").get("k").await?, None, "the store's TTL applies to committed writes");
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_delivery_cannot_stage_without_bound() -> Result<()> {
        let stores = KeyValueStores::memory();
        let txn = Transaction::new();
        let staged = txn.stage("s", stores.open("s"));
        let big = vec![0u8; 1 << 20];
        let mut failed = false;
        for n in 0..20 {
            if staged.set(&format!("k{n}"), &big).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "past {} MiB the write fails", MAX_STAGED_BYTES >> 20);
        Ok(())
    }
}
