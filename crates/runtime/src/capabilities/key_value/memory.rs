//! Stores that live in the host's memory: gone when it stops. The harness
//! and tests use them, and `--kv memory` picks them for a throwaway run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Error, Store, StoreResult, parse_counter};

type Entries = HashMap<String, (Vec<u8>, Option<Instant>)>;

/// Stores in the process's memory.
#[derive(Default)]
pub struct MemoryBackend {
    stores: Mutex<HashMap<String, Arc<Mutex<Entries>>>>,
}

impl MemoryBackend {
    /// The store `label`, its entries expiring after `ttl`.
    pub fn store(&self, label: &str, ttl: Option<Duration>) -> MemoryStore {
        let entries = self.stores.lock().unwrap().entry(label.to_string()).or_default().clone();
        MemoryStore { entries, ttl }
    }

    /// Applies a transaction's batch under the locks of every store it
    /// touches, taken in label order so that two commits cannot deadlock.
    pub fn commit(&self, batch: &super::staged::Batch, ttl: impl Fn(&str) -> Option<Duration>) -> bool {
        let labels: std::collections::BTreeSet<&str> = batch
            .checks
            .iter()
            .map(|c| c.label.as_str())
            .chain(batch.writes.iter().map(|w| w.label.as_str()))
            .collect();
        let stores: Vec<(&str, Arc<Mutex<Entries>>)> = {
            let mut all = self.stores.lock().unwrap();
            labels.iter().map(|l| (*l, all.entry(l.to_string()).or_default().clone())).collect()
        };
        let mut locked: HashMap<&str, std::sync::MutexGuard<'_, Entries>> =
            stores.iter().map(|(label, entries)| (*label, entries.lock().unwrap())).collect();
        for check in &batch.checks {
            let entries = locked.get_mut(check.label.as_str()).expect("locked above");
            if MemoryStore::live(entries, &check.key) != check.expected {
                return false;
            }
        }
        for write in &batch.writes {
            let entries = locked.get_mut(write.label.as_str()).expect("locked above");
            match &write.value {
                Some(value) => {
                    let expiry = ttl(&write.label).map(|ttl| Instant::now() + ttl);
                    entries.insert(write.key.clone(), (value.clone(), expiry));
                }
                None => {
                    entries.remove(&write.key);
                }
            }
        }
        true
    }
}

/// One in-memory store.
pub struct MemoryStore {
    entries: Arc<Mutex<Entries>>,
    ttl: Option<Duration>,
}

impl MemoryStore {
    fn expiry(&self) -> Option<Instant> {
        self.ttl.map(|ttl| Instant::now() + ttl)
    }

    fn live(entries: &mut Entries, key: &str) -> Option<Vec<u8>> {
        match entries.get(key) {
            Some((_, Some(expires))) if *expires <= Instant::now() => {
                entries.remove(key);
                None
            }
            Some((value, _)) => Some(value.clone()),
            None => None,
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(Self::live(&mut self.entries.lock().unwrap(), key))
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        let expiry = self.expiry();
        self.entries.lock().unwrap().insert(key.to_string(), (value.to_vec(), expiry));
        Ok(())
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }

    async fn keys(&self) -> StoreResult<Vec<String>> {
        let mut entries = self.entries.lock().unwrap();
        let now = Instant::now();
        entries.retain(|_, (_, expires)| expires.is_none_or(|e| e > now));
        Ok(entries.keys().cloned().collect())
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let mut entries = self.entries.lock().unwrap();
        let current = parse_counter(Self::live(&mut entries, key).as_deref())?;
        let next = current
            .checked_add(delta)
            .ok_or_else(|| Error::Value(format!("incrementing {key} by {delta} overflows")))?;
        let expiry = self.expiry();
        entries.insert(key.to_string(), (next.to_string().into_bytes(), expiry));
        Ok(next)
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> StoreResult<bool> {
        let mut entries = self.entries.lock().unwrap();
        if Self::live(&mut entries, key).as_deref() != expected {
            return Ok(false);
        }
        let expiry = self.expiry();
        entries.insert(key.to_string(), (new.to_vec(), expiry));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Result;

    #[tokio::test]
    async fn memory_store_keeps_the_contract() -> Result<()> {
        let backend = MemoryBackend::default();
        super::super::tests::store_contract(&backend.store("t", None)).await
    }

    #[tokio::test]
    async fn entries_expire_after_the_store_ttl() -> Result<()> {
        let backend = MemoryBackend::default();
        let store = backend.store("conversations", Some(Duration::from_millis(30)));
        store.set("c1", b"hello").await?;
        assert!(store.exists("c1").await?);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.get("c1").await?, None);
        assert!(store.keys().await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn stores_with_the_same_label_share_entries() -> Result<()> {
        let backend = MemoryBackend::default();
        backend.store("shared", None).set("k", b"v").await?;
        assert_eq!(backend.store("shared", None).get("k").await?, Some(b"v".to_vec()));
        assert_eq!(backend.store("other", None).get("k").await?, None);
        Ok(())
    }
}
