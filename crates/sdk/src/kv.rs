//! A key-value store through `wasi:keyvalue` (store, atomics and batch), with the
//! compare-and-swap every component that keeps shared state needs.
//!
//! Spin's own key-value interface (`spin_sdk::key_value`) has no atomic
//! increment and no compare-and-swap; `wasi:keyvalue`, which Spin implements
//! as well as our host, has both. Stock counters, order records and the
//! escalation queue change only through these, so two deliveries racing on
//! one key cannot both win.
//!
//! ```no_run
//! use agent_store_sdk::kv::{Bucket, Update};
//!
//! # fn main() -> Result<(), agent_store_sdk::kv::KvError> {
//! let orders = Bucket::open("orders")?;
//! // Written only if nobody wrote the key first.
//! let created = orders.swap("order:o-1", None, b"{}")?;
//! let units = orders.increment("sold:p-1", 2)?;
//! // Read, decide, write; decided again on what another writer left.
//! let seen: u32 = orders.update("visits", |current: Option<Vec<u8>>| {
//!     let n: u32 = current.and_then(|b| String::from_utf8(b).ok()?.parse().ok()).unwrap_or(0) + 1;
//!     Ok::<_, agent_store_sdk::kv::KvError>(Update::Write(n.to_string().into_bytes(), n))
//! })?;
//! # let _ = (created, units, seen);
//! # Ok(())
//! # }
//! ```

use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// Tries of an [`Bucket::update`] before it gives up: ten writers racing on
/// one key is already unusual, and the caller's retry is the better remedy.
pub const UPDATE_TRIES: usize = 10;

/// What a key-value operation failed with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The component's manifest entry grants no store by that label.
    #[error("opening the key-value store {label}: no such store")]
    NoSuchStore {
        /// The store's label.
        label: String,
    },
    /// The host refused the operation.
    #[error("key-value store {label}: {doing}: access denied")]
    AccessDenied {
        /// The store's label.
        label: String,
        /// The operation and its key.
        doing: String,
    },
    /// The store failed; worth retrying.
    #[error("key-value store {label}: {doing}: {message}")]
    Store {
        /// The store's label.
        label: String,
        /// The operation and its key.
        doing: String,
        /// What the store said.
        message: String,
    },
    /// Another writer changed the key on every one of [`UPDATE_TRIES`] tries.
    #[error("key-value store {label}: key `{key}` kept changing under {UPDATE_TRIES} tries; try again")]
    Contended {
        /// The store's label.
        label: String,
        /// The key.
        key: String,
    },
}

/// What an [`Bucket::update`] closure decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update<R> {
    /// Write these bytes (if the key is still as read), then return `R`.
    Write(Vec<u8>, R),
    /// Leave the key as it is and return `R`.
    Keep(R),
}

/// One open store.
pub struct Bucket {
    bucket: store::Bucket,
    label: String,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("label", &self.label).finish_non_exhaustive()
    }
}

impl Bucket {
    /// Opens the store the manifest entry lists as `label`.
    pub fn open(label: &str) -> Result<Self, KvError> {
        match store::open(label) {
            Ok(bucket) => Ok(Self { bucket, label: label.to_string() }),
            Err(store::Error::NoSuchStore) => Err(KvError::NoSuchStore { label: label.to_string() }),
            Err(e) => Err(error(label, "opening".into(), e)),
        }
    }

    /// The store's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn fail<'a>(&'a self, doing: impl FnOnce() -> String + 'a) -> impl FnOnce(store::Error) -> KvError + 'a {
        move |e| error(&self.label, doing(), e)
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket.get(key).map_err(self.fail(|| format!("reading {key}")))
    }

    /// The values at `keys`, in their order (`None` where a key is absent),
    /// in one call to the host: what reading many keys costs a host call
    /// per key otherwise.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found =
            batch::get_many(&self.bucket, keys).map_err(self.fail(|| format!("reading {} keys", keys.len())))?;
        // The interface pairs each value with its key; an implementation
        // need not keep the order asked for.
        let mut found: std::collections::HashMap<String, Option<Vec<u8>>> = found.into_iter().collect();
        Ok(keys.iter().map(|key| found.remove(key).flatten()).collect())
    }

    /// Writes `value` at `key`, whatever was there.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.bucket.set(key, value).map_err(self.fail(|| format!("writing {key}")))
    }

    /// Removes `key`; removing an absent key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket.delete(key).map_err(self.fail(|| format!("deleting {key}")))
    }

    /// Adds `delta` to the counter at `key` (absent is 0) and returns the new
    /// value, atomically.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        atomics::increment(&self.bucket, key, delta).map_err(self.fail(|| format!("incrementing {key}")))
    }

    /// Writes `new` if `key` still holds `expected` (`None`: absent); `false`
    /// if someone changed it first.
    pub fn swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(self.fail(|| format!("watching {key}")))?;
        if cas.current().map_err(self.fail(|| format!("reading {key}")))?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            // The value changed since `Cas::new` read it.
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(self.fail(|| format!("swapping {key}"))(e)),
        }
    }

    /// Reads `key`, lets `decide` choose, and writes its choice only if nobody
    /// wrote the key in between; otherwise decides again on what the other
    /// writer left, up to [`UPDATE_TRIES`] times. `decide` may run several times.
    pub fn update<R, E: From<KvError>>(
        &self,
        key: &str,
        mut decide: impl FnMut(Option<Vec<u8>>) -> Result<Update<R>, E>,
    ) -> Result<R, E> {
        let mut cas = atomics::Cas::new(&self.bucket, key).map_err(self.fail(|| format!("watching {key}")))?;
        for _ in 0..UPDATE_TRIES {
            let current = cas.current().map_err(self.fail(|| format!("reading {key}")))?;
            let (bytes, result) = match decide(current)? {
                Update::Keep(result) => return Ok(result),
                Update::Write(bytes, result) => (bytes, result),
            };
            match atomics::swap(cas, &bytes) {
                Ok(()) => return Ok(result),
                Err(atomics::CasError::CasFailed(fresh)) => cas = fresh,
                Err(atomics::CasError::StoreError(e)) => return Err(self.fail(|| format!("swapping {key}"))(e).into()),
            }
        }
        Err(KvError::Contended { label: self.label.clone(), key: key.to_string() }.into())
    }

    /// Every key starting with `prefix`, following the cursor across pages.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.bucket.list_keys(cursor.as_deref()).map_err(self.fail(|| "listing keys".into()))?;
            keys.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                // A store that hands the same cursor back would loop forever.
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }
}

fn error(label: &str, doing: String, e: store::Error) -> KvError {
    let label = label.to_string();
    match e {
        store::Error::NoSuchStore => KvError::NoSuchStore { label },
        store::Error::AccessDenied => KvError::AccessDenied { label, doing },
        store::Error::Other(message) => KvError::Store { label, doing, message },
    }
}
