//! [`Kv`] on the SDK's `wasi:keyvalue` bucket, which Spin implements as well as our
//! host: Spin's own key-value interface has no atomic increment and no
//! compare-and-swap, and stock needs both.

use agent_store_sdk::kv::{Bucket, KvError};

use crate::stock::Kv;

/// The component's only store, as its manifest entry names it.
pub const STORE: &str = "catalog";

/// Opens the component's store.
pub fn open() -> Result<Bucket, KvError> {
    Bucket::open(STORE)
}

impl Kv for Bucket {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Bucket::get(self, key)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        Bucket::get_many(self, keys)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        Bucket::delete(self, key)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        Bucket::increment(self, key, delta)
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
        self.swap(key, expected, new)
    }
}
