//! The `orders` store, through `wasi:keyvalue`: orders change by
//! compare-and-swap, so two hooks racing on one order cannot both win.

use spin_sdk::wit::wasi::keyvalue::{atomics, store};

/// The component's store, as its manifest entry names it.
pub const STORE: &str = "orders";

pub struct Orders {
    bucket: store::Bucket,
}

fn text(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(message) => message,
    }
}

impl Orders {
    pub fn open() -> Result<Self, String> {
        let bucket = store::open(STORE).map_err(|e| format!("opening the key-value store {STORE}: {}", text(e)))?;
        Ok(Self { bucket })
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.bucket.get(key).map_err(text)
    }

    /// Writes `value` if `key` still holds `expected` (`None`: absent); `false`
    /// if someone changed it first.
    pub fn swap(&self, key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, String> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(text)?;
        if cas.current().map_err(text)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, value) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(text(e)),
        }
    }

    /// Every key starting with `prefix`.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.bucket.list_keys(cursor.as_deref()).map_err(text)?;
            keys.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }
}
