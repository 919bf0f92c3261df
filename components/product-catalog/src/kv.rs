//! [`Kv`] on `wasi:keyvalue` (store and atomics), which Spin implements as well as our
//! host: Spin's own key-value interface has no atomic increment and no
//! compare-and-swap, and stock needs both.

use spin_sdk::wit::wasi::keyvalue::{atomics, store};

use crate::stock::Kv;

/// The component's only store, as its manifest entry names it.
pub const STORE: &str = "catalog";

pub struct WasiKv {
    bucket: store::Bucket,
}

impl WasiKv {
    pub fn open() -> Result<Self, String> {
        let bucket = store::open(STORE).map_err(|e| format!("opening the key-value store {STORE}: {e:?}"))?;
        Ok(Self { bucket })
    }
}

fn text(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(message) => message,
    }
}

impl Kv for WasiKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.bucket.get(key).map_err(text)
    }

    fn delete(&self, key: &str) -> Result<(), String> {
        self.bucket.delete(key).map_err(text)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, String> {
        atomics::increment(&self.bucket, key, delta).map_err(text)
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, String> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(text)?;
        if cas.current().map_err(text)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            // The value changed since `Cas::new` read it.
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(text(e)),
        }
    }
}
