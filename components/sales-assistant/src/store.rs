//! The `sales` key-value store through `wasi:keyvalue`: JSON values,
//! counters, and read-modify-write with compare-and-swap, which is how two
//! sellers accepting the same escalation at once are told apart (and how
//! concurrent events on one conversation do not overwrite each other).

use agent_store_sdk::kv::{self, Bucket};
use agent_store_sdk::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The store label in the manifest entry.
pub const LABEL: &str = "sales";

/// What an [`Store::update`] closure decides.
pub enum Update<T, R> {
    /// Write this value, then return `R`.
    Write(T, R),
    /// Leave the value as it is and return `R`.
    Keep(R),
}

/// JSON values and counters over the SDK's bucket.
pub struct Store {
    bucket: Bucket,
}

impl Store {
    pub fn open() -> Result<Self> {
        Ok(Self { bucket: Bucket::open(LABEL)? })
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.bucket.get(key)? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(Error::failed)?;
        Ok(self.bucket.set(key, &bytes)?)
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        Ok(self.bucket.delete(key)?)
    }

    /// Every key starting with `prefix`.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.bucket.keys(prefix)?)
    }

    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        Ok(self.bucket.increment(key, delta)?)
    }

    /// A counter's value as `increment` wrote it (0 when missing).
    pub fn counter(&self, key: &str) -> Result<i64> {
        let bytes = self.bucket.get(key)?;
        Ok(bytes.and_then(|b| String::from_utf8(b).ok()).and_then(|t| t.trim().parse().ok()).unwrap_or(0))
    }

    /// Reads `key`, lets `decide` choose, and writes its choice only if
    /// nobody wrote the key in between; otherwise decides again on what the
    /// other writer left. `decide` may run several times.
    pub fn update<T, R>(&self, key: &str, mut decide: impl FnMut(Option<T>) -> Result<Update<T, R>>) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
        self.bucket.update(key, |current| {
            let current = current.map(|bytes| decode(key, &bytes)).transpose()?;
            Ok(match decide(current)? {
                Update::Keep(result) => kv::Update::Keep(result),
                Update::Write(value, result) => {
                    kv::Update::Write(serde_json::to_vec(&value).map_err(Error::failed)?, result)
                }
            })
        })
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::failed(format!("key `{key}` holds something unreadable: {e}")))
}
