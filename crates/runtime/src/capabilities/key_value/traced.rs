//! A span around each key-value call a component makes, so a trace shows
//! where a delivery spent its time. Disabled spans (no exporter, logs below
//! debug) cost a branch per call.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument;

use super::{Store, StoreResult};

pub(super) struct Traced {
    pub(super) inner: Arc<dyn Store>,
    pub(super) label: Arc<str>,
}

macro_rules! span {
    ($self:ident, $operation:literal) => {
        tracing::debug_span!(
            concat!("kv.", $operation),
            otel.kind = "client",
            db.system.name = "key-value",
            db.operation.name = $operation,
            db.namespace = &*$self.label,
        )
    };
}

#[async_trait]
impl Store for Traced {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(key).instrument(span!(self, "get")).await
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.inner.set(key, value).instrument(span!(self, "set")).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.inner.delete(key).instrument(span!(self, "delete")).await
    }

    async fn exists(&self, key: &str) -> StoreResult<bool> {
        self.inner.exists(key).instrument(span!(self, "exists")).await
    }

    async fn keys(&self) -> StoreResult<Vec<String>> {
        self.inner.keys().instrument(span!(self, "keys")).await
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.inner.increment(key, delta).instrument(span!(self, "increment")).await
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> StoreResult<bool> {
        self.inner.compare_and_swap(key, expected, new).instrument(span!(self, "compare_and_swap")).await
    }
}
