//! Key-value: Spin's `fermyon:spin/key-value` and `wasi:keyvalue` (store,
//! atomics, batch) over one set of named stores.
//!
//! A component opens only the stores its manifest entry lists under
//! `key_value_stores`; any other label is `access-denied`, whether or not
//! such a store exists. Backends ([`memory`], [`embedded`], [`redis`]) sit
//! behind [`Store`], so adding one does not touch the capability.

pub mod embedded;
pub mod memory;
pub mod redis;
pub mod staged;
mod traced;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::fermyon::spin::key_value as spin_kv;
use crate::bindings::wasi::keyvalue as wasi_kv;

/// A component may hold this many open store handles at once; more is a
/// leak in the guest, and Spin draws the line at the same place.
const MAX_OPEN_STORES: usize = 32;

/// Why a store operation failed, drawn where Spin's factor-key-value draws
/// it: the value does not suit the operation, or the backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The value at the key does not suit the operation: a counter that is
    /// not a decimal integer, or one that would overflow.
    #[error("{0}")]
    Value(String),
    /// The backend failed or could not be reached; trying later may work.
    #[error("the key-value backend failed: {0}")]
    Backend(String),
}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Self {
        Self::Backend(format!("{error:#}"))
    }
}

impl From<::redis::RedisError> for Error {
    fn from(error: ::redis::RedisError) -> Self {
        Self::Backend(error.to_string())
    }
}

/// What a [`Store`] operation gives.
pub type StoreResult<T> = std::result::Result<T, Error>;

/// One named store. Every method is atomic on its own.
#[async_trait]
pub trait Store: Send + Sync {
    /// The value at `key`, if there is one.
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Writes `value` at `key`.
    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()>;
    /// Removes `key` (absent is fine).
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Whether `key` has a value.
    async fn exists(&self, key: &str) -> StoreResult<bool> {
        Ok(self.get(key).await?.is_some())
    }
    /// Every key of the store.
    async fn keys(&self) -> StoreResult<Vec<String>>;
    /// Adds `delta` to the decimal integer at `key` (missing counts as 0).
    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64>;
    /// Writes `new` if the key still holds `expected`; `false` if it does not.
    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> StoreResult<bool>;
}

/// Where stores live, chosen once for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// Gone when the host stops: tests and throwaway runs.
    Memory,
    /// A redb file in the data directory (the default).
    Embedded(std::path::PathBuf),
    /// A Redis server shared by every replica.
    Redis(String),
}

/// Per-store settings.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Entries written to this store expire after this long (conversations).
    pub ttl: Option<Duration>,
}

/// Every store of the application, opened lazily by label and shared by all
/// components that list the label.
pub struct KeyValueStores {
    backend: Backend,
    options: HashMap<String, StoreOptions>,
    open: Mutex<HashMap<String, Arc<dyn Store>>>,
}

enum Backend {
    Memory(memory::MemoryBackend),
    Embedded(embedded::EmbeddedBackend),
    Redis(redis::RedisBackend),
}

impl KeyValueStores {
    /// Opens the backend `kind`; `options` are per-store settings by label.
    pub async fn new(kind: &BackendKind, options: HashMap<String, StoreOptions>) -> Result<Self> {
        let backend = match kind {
            BackendKind::Memory => Backend::Memory(memory::MemoryBackend::default()),
            BackendKind::Embedded(path) => Backend::Embedded(embedded::EmbeddedBackend::open(path)?),
            BackendKind::Redis(url) => Backend::Redis(redis::RedisBackend::connect(url).await?),
        };
        Ok(Self { backend, options, open: Mutex::new(HashMap::new()) })
    }

    /// Stores in memory, gone with the process: tests.
    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(memory::MemoryBackend::default()),
            options: HashMap::new(),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The store called `label`, created on first use.
    pub fn open(&self, label: &str) -> Arc<dyn Store> {
        let mut open = self.open.lock().unwrap();
        if let Some(store) = open.get(label) {
            return store.clone();
        }
        let ttl = self.options.get(label).and_then(|o| o.ttl);
        let store: Arc<dyn Store> = match &self.backend {
            Backend::Memory(b) => Arc::new(b.store(label, ttl)),
            Backend::Embedded(b) => Arc::new(b.store(label, ttl)),
            Backend::Redis(b) => Arc::new(b.store(label, ttl)),
        };
        open.insert(label.to_string(), store.clone());
        store
    }

    /// The store `label` for what a crash may lose: with the embedded
    /// backend its writes are not synced on their own (they reach the disk
    /// with the next synced write); the other backends write as `open`.
    pub fn open_unsynced(&self, label: &str) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Embedded(b) => {
                let ttl = self.options.get(label).and_then(|o| o.ttl);
                Arc::new(b.unsynced_store(label, ttl))
            }
            _ => self.open(label),
        }
    }

    /// Applies `batch` in one transaction of the backend: `false`, and
    /// nothing written, when a check does not hold.
    pub async fn commit(&self, batch: &staged::Batch) -> StoreResult<bool> {
        if batch.checks.is_empty() && batch.writes.is_empty() {
            return Ok(true);
        }
        let ttl = |label: &str| self.options.get(label).and_then(|o| o.ttl);
        match &self.backend {
            Backend::Memory(b) => Ok(b.commit(batch, ttl)),
            Backend::Embedded(b) => b.commit(batch, ttl).await,
            Backend::Redis(b) => b.commit(batch, ttl).await,
        }
    }

    /// A snapshot of a store's contents, for tests and the harness.
    pub async fn dump(&self, label: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let store = self.open(label);
        let mut out = Vec::new();
        let mut keys = store.keys().await?;
        keys.sort();
        for key in keys {
            if let Some(value) = store.get(&key).await? {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    /// Whether other processes may use the same stores (Redis); embedded
    /// and in-memory stores are this process's alone.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// Whether the backend answers (Redis); local ones always do.
    pub async fn ping(&self) -> Result<()> {
        match &self.backend {
            Backend::Redis(b) => b.ping().await,
            _ => Ok(()),
        }
    }
}

/// What one invocation may reach: the stores its component lists.
pub struct KeyValueCtx {
    stores: Arc<KeyValueStores>,
    allowed: Arc<[String]>,
    component: Arc<str>,
    open_handles: usize,
    /// A delivery's transaction: its writes wait for the host's commit.
    transaction: Option<Arc<staged::Transaction>>,
}

impl KeyValueCtx {
    /// What a component with the `allowed` store labels may open.
    pub fn new(stores: Arc<KeyValueStores>, allowed: Arc<[String]>, component: Arc<str>) -> Self {
        Self { stores, allowed, component, open_handles: 0, transaction: None }
    }

    /// The stores seen through `transaction`.
    pub fn within(mut self, transaction: Option<Arc<staged::Transaction>>) -> Self {
        self.transaction = transaction;
        self
    }
}

/// The borrowed view the bindings are implemented on.
pub struct KeyValueView<'a> {
    ctx: &'a mut KeyValueCtx,
    table: &'a mut ResourceTable,
}

impl<'a> KeyValueView<'a> {
    /// A view of one invocation's stores and resource table.
    pub fn new(ctx: &'a mut KeyValueCtx, table: &'a mut ResourceTable) -> Self {
        Self { ctx, table }
    }

    fn open(&mut self, label: &str) -> Result<Arc<dyn Store>, OpenError> {
        if !self.ctx.allowed.iter().any(|l| l == label) {
            tracing::warn!(
                component = %self.ctx.component,
                store = label,
                "key-value store access denied: the component's manifest entry does not list it in key_value_stores"
            );
            return Err(OpenError::AccessDenied);
        }
        if self.ctx.open_handles >= MAX_OPEN_STORES {
            return Err(OpenError::TableFull);
        }
        self.ctx.open_handles += 1;
        let store = self.ctx.stores.open(label);
        let store = match &self.ctx.transaction {
            Some(txn) => txn.stage(label, store),
            None => store,
        };
        Ok(if tracing::level_enabled!(tracing::Level::DEBUG) {
            Arc::new(traced::Traced { inner: store, label: Arc::from(label) })
        } else {
            store
        })
    }
}

enum OpenError {
    AccessDenied,
    TableFull,
}

/// The resource behind `fermyon:spin/key-value.store`.
pub struct SpinStore {
    store: Arc<dyn Store>,
}

/// The resource behind `wasi:keyvalue/store.bucket`.
pub struct Bucket {
    store: Arc<dyn Store>,
}

/// The resource behind `wasi:keyvalue/atomics.cas`.
pub struct Cas {
    store: Arc<dyn Store>,
    key: String,
    current: Option<Vec<u8>>,
}

/// `HasData` marker for [`add_to_linker`].
pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds `fermyon:spin/key-value` and `wasi:keyvalue` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    spin_kv::add_to_linker::<T, KeyValue>(linker, get)?;
    wasi_kv::store::add_to_linker::<T, KeyValue>(linker, get)?;
    wasi_kv::atomics::add_to_linker::<T, KeyValue>(linker, get)?;
    wasi_kv::batch::add_to_linker::<T, KeyValue>(linker, get)?;
    Ok(())
}

fn spin_error(e: Error) -> spin_kv::Error {
    tracing::warn!(error = %format!("{e:#}"), "key-value backend error");
    spin_kv::Error::Other(format!("{e:#}"))
}

fn wasi_error(e: Error) -> wasi_kv::store::Error {
    tracing::warn!(error = %format!("{e:#}"), "key-value backend error");
    wasi_kv::store::Error::Other(format!("{e:#}"))
}

impl spin_kv::Host for KeyValueView<'_> {}

impl spin_kv::HostStore for KeyValueView<'_> {
    async fn open(&mut self, label: String) -> Result<Result<Resource<SpinStore>, spin_kv::Error>> {
        match self.open(&label) {
            Ok(store) => Ok(Ok(self.table.push(SpinStore { store })?)),
            Err(OpenError::AccessDenied) => Ok(Err(spin_kv::Error::AccessDenied)),
            Err(OpenError::TableFull) => Ok(Err(spin_kv::Error::StoreTableFull)),
        }
    }

    async fn get(&mut self, this: Resource<SpinStore>, key: String) -> Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.get(&key).await.map_err(spin_error))
    }

    async fn set(
        &mut self,
        this: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<Result<(), spin_kv::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.set(&key, &value).await.map_err(spin_error))
    }

    async fn delete(&mut self, this: Resource<SpinStore>, key: String) -> Result<Result<(), spin_kv::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.delete(&key).await.map_err(spin_error))
    }

    async fn exists(&mut self, this: Resource<SpinStore>, key: String) -> Result<Result<bool, spin_kv::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.exists(&key).await.map_err(spin_error))
    }

    async fn get_keys(&mut self, this: Resource<SpinStore>) -> Result<Result<Vec<String>, spin_kv::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.keys().await.map_err(spin_error))
    }

    async fn drop(&mut self, this: Resource<SpinStore>) -> Result<()> {
        self.table.delete(this)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl wasi_kv::store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Result<Resource<Bucket>, wasi_kv::store::Error>> {
        match self.open(&identifier) {
            Ok(store) => Ok(Ok(self.table.push(Bucket { store })?)),
            Err(OpenError::AccessDenied) => Ok(Err(wasi_kv::store::Error::AccessDenied)),
            Err(OpenError::TableFull) => Ok(Err(wasi_kv::store::Error::Other("too many open buckets".into()))),
        }
    }
}

impl wasi_kv::store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        this: Resource<Bucket>,
        key: String,
    ) -> Result<Result<Option<Vec<u8>>, wasi_kv::store::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.get(&key).await.map_err(wasi_error))
    }

    async fn set(
        &mut self,
        this: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<Result<(), wasi_kv::store::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.set(&key, &value).await.map_err(wasi_error))
    }

    async fn delete(&mut self, this: Resource<Bucket>, key: String) -> Result<Result<(), wasi_kv::store::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.delete(&key).await.map_err(wasi_error))
    }

    async fn exists(&mut self, this: Resource<Bucket>, key: String) -> Result<Result<bool, wasi_kv::store::Error>> {
        let store = self.table.get(&this)?.store.clone();
        Ok(store.exists(&key).await.map_err(wasi_error))
    }

    async fn list_keys(
        &mut self,
        this: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> Result<Result<wasi_kv::store::KeyResponse, wasi_kv::store::Error>> {
        // One page holds every key: our stores are small enough, and a
        // cursor that is always `none` is a valid answer.
        let store = self.table.get(&this)?.store.clone();
        Ok(store.keys().await.map(|keys| wasi_kv::store::KeyResponse { keys, cursor: None }).map_err(wasi_error))
    }

    async fn drop(&mut self, this: Resource<Bucket>) -> Result<()> {
        self.table.delete(this)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl wasi_kv::atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<Result<i64, wasi_kv::store::Error>> {
        let store = self.table.get(&bucket)?.store.clone();
        Ok(store.increment(&key, delta).await.map_err(wasi_error))
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<Result<(), wasi_kv::atomics::CasError>> {
        let cas = self.table.delete(cas)?;
        match cas.store.compare_and_swap(&cas.key, cas.current.as_deref(), &value).await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Hand back a fresh handle holding the value that won, so the
                // guest can recompute and try again.
                let current = match cas.store.get(&cas.key).await {
                    Ok(current) => current,
                    Err(e) => return Ok(Err(wasi_kv::atomics::CasError::StoreError(wasi_error(e)))),
                };
                let fresh = self.table.push(Cas { store: cas.store, key: cas.key, current })?;
                Ok(Err(wasi_kv::atomics::CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(wasi_kv::atomics::CasError::StoreError(wasi_error(e)))),
        }
    }
}

impl wasi_kv::atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Result<Resource<Cas>, wasi_kv::store::Error>> {
        let store = self.table.get(&bucket)?.store.clone();
        let current = match store.get(&key).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(wasi_error(e))),
        };
        Ok(Ok(self.table.push(Cas { store, key, current })?))
    }

    async fn current(&mut self, this: Resource<Cas>) -> Result<Result<Option<Vec<u8>>, wasi_kv::store::Error>> {
        Ok(Ok(self.table.get(&this)?.current.clone()))
    }

    async fn drop(&mut self, this: Resource<Cas>) -> Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl wasi_kv::batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::store::Error>> {
        let store = self.table.get(&bucket)?.store.clone();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match store.get(&key).await {
                Ok(value) => out.push((key, value)),
                Err(e) => return Ok(Err(wasi_error(e))),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<Result<(), wasi_kv::store::Error>> {
        let store = self.table.get(&bucket)?.store.clone();
        for (key, value) in key_values {
            if let Err(e) = store.set(&key, &value).await {
                return Ok(Err(wasi_error(e)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Result<(), wasi_kv::store::Error>> {
        let store = self.table.get(&bucket)?.store.clone();
        for key in keys {
            if let Err(e) = store.delete(&key).await {
                return Ok(Err(wasi_error(e)));
            }
        }
        Ok(Ok(()))
    }
}

/// Parses a counter the way `increment` stores it: a decimal string.
pub(crate) fn parse_counter(value: Option<&[u8]>) -> StoreResult<i64> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| Error::Value("the value is not a decimal integer".into()))?;
            text.trim().parse().map_err(|_| Error::Value(format!("the value {text:?} is not a decimal integer")))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The behaviour every backend must have; each backend's tests call it.
    pub(crate) async fn store_contract(store: &dyn Store) -> Result<()> {
        assert_eq!(store.get("missing").await?, None);
        store.set("a", b"1").await?;
        assert_eq!(store.get("a").await?, Some(b"1".to_vec()));
        assert!(store.exists("a").await?);
        assert_eq!(store.increment("a", 41).await?, 42);
        assert_eq!(store.increment("fresh", -3).await?, -3);
        assert_eq!(store.get("a").await?, Some(b"42".to_vec()));
        assert!(!store.compare_and_swap("a", Some(b"41"), b"x").await?);
        assert!(store.compare_and_swap("a", Some(b"42"), b"x").await?);
        assert!(store.compare_and_swap("new", None, b"n").await?);
        assert!(!store.compare_and_swap("new", None, b"m").await?);
        let mut keys = store.keys().await?;
        keys.sort();
        assert_eq!(keys, vec!["a", "fresh", "new"]);
        store.delete("a").await?;
        store.delete("a").await?;
        assert!(!store.exists("a").await?);
        store.set("text", b"not a number").await?;
        assert!(store.increment("text", 1).await.is_err());
        Ok(())
    }

    #[test]
    fn counters_parse_as_decimal_text() {
        assert_eq!(parse_counter(None).unwrap(), 0);
        assert_eq!(parse_counter(Some(b"17")).unwrap(), 17);
        assert!(parse_counter(Some(b"x")).is_err());
    }
}
