//! The `sales` key-value store through `wasi:keyvalue`: JSON values,
//! counters, and read-modify-write with compare-and-swap, which is how two
//! sellers accepting the same escalation at once are told apart (and how
//! concurrent events on one conversation do not overwrite each other).

use agent_store_sdk::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as kv};

/// The store label in the manifest entry.
pub const LABEL: &str = "sales";

/// Tries of a compare-and-swap update before the event is failed (and
/// retried by the host): ten writers racing on one key is already unusual.
const CAS_TRIES: usize = 10;

/// What an [`Store::update`] closure decides.
pub enum Update<T, R> {
    /// Write this value, then return `R`.
    Write(T, R),
    /// Leave the value as it is and return `R`.
    Keep(R),
}

pub struct Store {
    bucket: kv::Bucket,
}

fn kv_error(what: &str, e: kv::Error) -> Error {
    Error::failed(format!("key-value store `{LABEL}`: {what}: {e:?}"))
}

impl Store {
    pub fn open() -> Result<Self> {
        Ok(Self { bucket: kv::open(LABEL).map_err(|e| kv_error("opening", e))? })
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.bucket.get(key).map_err(|e| kv_error(key, e))? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(Error::failed)?;
        self.bucket.set(key, &bytes).map_err(|e| kv_error(key, e))
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.bucket.delete(key).map_err(|e| kv_error(key, e))
    }

    /// Every key starting with `prefix`, following the cursor across pages.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.bucket.list_keys(cursor.as_deref()).map_err(|e| kv_error("listing keys", e))?;
            keys.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        atomics::increment(&self.bucket, key, delta).map_err(|e| kv_error(key, e))
    }

    /// A counter's value as `increment` wrote it (0 when missing).
    pub fn counter(&self, key: &str) -> Result<i64> {
        let bytes = self.bucket.get(key).map_err(|e| kv_error(key, e))?;
        Ok(bytes.and_then(|b| String::from_utf8(b).ok()).and_then(|t| t.trim().parse().ok()).unwrap_or(0))
    }

    /// Reads `key`, lets `decide` choose, and writes its choice only if
    /// nobody wrote the key in between; otherwise decides again on what the
    /// other writer left. `decide` may run several times.
    pub fn update<T, R>(&self, key: &str, mut decide: impl FnMut(Option<T>) -> Result<Update<T, R>>) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut cas = atomics::Cas::new(&self.bucket, key).map_err(|e| kv_error(key, e))?;
        for _ in 0..CAS_TRIES {
            let current = match cas.current().map_err(|e| kv_error(key, e))? {
                None => None,
                Some(bytes) => Some(decode(key, &bytes)?),
            };
            let (value, result) = match decide(current)? {
                Update::Keep(result) => return Ok(result),
                Update::Write(value, result) => (value, result),
            };
            let bytes = serde_json::to_vec(&value).map_err(Error::failed)?;
            match atomics::swap(cas, &bytes) {
                Ok(()) => return Ok(result),
                Err(atomics::CasError::CasFailed(fresh)) => cas = fresh,
                Err(atomics::CasError::StoreError(e)) => return Err(kv_error(key, e)),
            }
        }
        Err(Error::failed(format!("key `{key}` kept changing under {CAS_TRIES} tries; try again")))
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::failed(format!("key `{key}` holds something unreadable: {e}")))
}
