//! The default store: one redb file in the host's data directory, crash-safe
//! and with nothing to install. Each store label is a table.
//!
//! Values carry their expiry in front (8 bytes, milliseconds since the Unix
//! epoch, 0 for none) so that a store with a TTL forgets on its own.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::{Error, Store, StoreResult, parse_counter};

/// One redb database holding every store, a table each.
pub struct EmbeddedBackend {
    db: Arc<Database>,
}

impl EmbeddedBackend {
    /// Opens (or creates) the database at `path`, readable by its owner only.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let db =
            Database::create(path).with_context(|| format!("opening the key-value database {}", path.display()))?;
        // Carts, orders and conversations: for the owner's eyes only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private", path.display()))?;
        }
        Ok(Self { db: Arc::new(db) })
    }

    /// The store `label`, its entries expiring after `ttl`.
    pub fn store(&self, label: &str, ttl: Option<Duration>) -> EmbeddedStore {
        EmbeddedStore { db: self.db.clone(), table: table_name(label), ttl, synced: true }
    }

    /// The store `label` whose writes are not flushed to disk on their own
    /// (redb's `Durability::None`): they reach the disk with the next
    /// synced commit, or are lost with the process. For what a crash may
    /// lose: the host's delivery claims, which only this process reads.
    pub fn unsynced_store(&self, label: &str, ttl: Option<Duration>) -> EmbeddedStore {
        EmbeddedStore { synced: false, ..self.store(label, ttl) }
    }

    /// Applies a transaction's batch in one redb write transaction (one
    /// fsync): every check, then every write, or nothing.
    pub async fn commit(
        &self,
        batch: &super::staged::Batch,
        ttl: impl Fn(&str) -> Option<Duration>,
    ) -> StoreResult<bool> {
        let db = self.db.clone();
        let batch = batch.clone();
        let ttls: Vec<Option<Duration>> = batch.writes.iter().map(|w| ttl(&w.label)).collect();
        let done = tokio::task::spawn_blocking(move || -> Result<bool> {
            let txn = db.begin_write()?;
            for check in &batch.checks {
                let name = table_name(&check.label);
                let table = txn.open_table(TableDefinition::<&str, &[u8]>::new(&name))?;
                let current = table.get(check.key.as_str())?.and_then(|v| decode(v.value()));
                if current != check.expected {
                    drop(table);
                    txn.abort()?;
                    return Ok(false);
                }
            }
            for (write, ttl) in batch.writes.iter().zip(ttls) {
                let name = table_name(&write.label);
                let mut table = txn.open_table(TableDefinition::<&str, &[u8]>::new(&name))?;
                match &write.value {
                    Some(value) => {
                        table.insert(write.key.as_str(), encode(value, ttl).as_slice())?;
                    }
                    None => {
                        table.remove(write.key.as_str())?;
                    }
                }
            }
            txn.commit()?;
            Ok(true)
        })
        .await
        .map_err(|e| Error::Backend(format!("the database task failed: {e}")))?;
        done.map_err(Error::from)
    }
}

fn table_name(label: &str) -> String {
    format!("kv:{label}")
}

/// One store: a table of the database.
pub struct EmbeddedStore {
    db: Arc<Database>,
    table: String,
    ttl: Option<Duration>,
    /// Each write flushed before it returns (redb's `Durability::Immediate`).
    synced: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn encode(value: &[u8], ttl: Option<Duration>) -> Vec<u8> {
    let expires = ttl.map(|t| now_ms() + t.as_millis() as u64).unwrap_or(0);
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The value if it has not expired.
fn decode(raw: &[u8]) -> Option<Vec<u8>> {
    let (head, value) = raw.split_at_checked(8)?;
    let expires = u64::from_be_bytes(head.try_into().ok()?);
    (expires == 0 || expires > now_ms()).then(|| value.to_vec())
}

impl EmbeddedStore {
    /// redb blocks on disk; keep it off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, TableDefinition<'_, &str, &[u8]>, Write) -> Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = self.db.clone();
        let table = self.table.clone();
        let write = Write { ttl: self.ttl, synced: self.synced };
        let done = tokio::task::spawn_blocking(move || f(&db, TableDefinition::new(&table), write))
            .await
            .map_err(|e| Error::Backend(format!("the database task failed: {e}")))?;
        // A value error raised inside the transaction stays one.
        done.map_err(|e| e.downcast::<Error>().unwrap_or_else(Error::from))
    }
}

/// How a store writes: the entries' TTL, and whether each write is synced.
#[derive(Clone, Copy)]
struct Write {
    ttl: Option<Duration>,
    synced: bool,
}

fn begin_write(db: &Database, synced: bool) -> Result<redb::WriteTransaction> {
    let mut txn = db.begin_write()?;
    if !synced {
        txn.set_durability(redb::Durability::None)?;
    }
    Ok(txn)
}

fn read(db: &Database, def: TableDefinition<'_, &str, &[u8]>, key: &str) -> Result<Option<Vec<u8>>> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(def) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(table.get(key)?.and_then(|v| decode(v.value())))
}

/// Runs `f` on the current live value inside one write transaction, so that
/// read-modify-write is atomic; `f` returns the value to write, if any.
fn update<T>(
    db: &Database,
    def: TableDefinition<'_, &str, &[u8]>,
    key: &str,
    write: Write,
    f: impl FnOnce(Option<Vec<u8>>) -> Result<(Option<Vec<u8>>, T)>,
) -> Result<T> {
    let ttl = write.ttl;
    let txn = begin_write(db, write.synced)?;
    let out = {
        let mut table = txn.open_table(def)?;
        let current = table.get(key)?.and_then(|v| decode(v.value()));
        let (next, out) = f(current)?;
        if let Some(next) = next {
            table.insert(key, encode(&next, ttl).as_slice())?;
        }
        out
    };
    txn.commit()?;
    Ok(out)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = key.to_string();
        self.blocking(move |db, def, _| read(db, def, &key)).await
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.blocking(move |db, def, write| update(db, def, &key, write, |_| Ok((Some(value), ())))).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.blocking(move |db, def, write| {
            let txn = begin_write(db, write.synced)?;
            txn.open_table(def)?.remove(key.as_str())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn keys(&self) -> StoreResult<Vec<String>> {
        self.blocking(|db, def, _| {
            let txn = db.begin_read()?;
            let table = match txn.open_table(def) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut keys = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                if decode(v.value()).is_some() {
                    keys.push(k.value().to_string());
                }
            }
            Ok(keys)
        })
        .await
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let key = key.to_string();
        self.blocking(move |db, def, write| {
            update(db, def, &key, write, |current| {
                let next = parse_counter(current.as_deref())?
                    .checked_add(delta)
                    .ok_or_else(|| Error::Value(format!("incrementing by {delta} overflows")))?;
                Ok((Some(next.to_string().into_bytes()), next))
            })
        })
        .await
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> StoreResult<bool> {
        let (key, expected, new) = (key.to_string(), expected.map(<[u8]>::to_vec), new.to_vec());
        self.blocking(move |db, def, write| {
            update(
                db,
                def,
                &key,
                write,
                |current| {
                    if current == expected { Ok((Some(new), true)) } else { Ok((None, false)) }
                },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn embedded_store_keeps_the_contract() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let backend = EmbeddedBackend::open(&dir.path().join("kv.redb"))?;
        super::super::tests::store_contract(&backend.store("t", None)).await
    }

    #[tokio::test]
    async fn values_survive_reopening_the_file() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kv.redb");
        EmbeddedBackend::open(&path)?.store("orders", None).set("o1", b"created").await?;
        let reopened = EmbeddedBackend::open(&path)?;
        assert_eq!(reopened.store("orders", None).get("o1").await?, Some(b"created".to_vec()));
        assert_eq!(reopened.store("carts", None).get("o1").await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn unsynced_writes_are_seen_at_once_and_kept_by_the_next_synced_one() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kv.redb");
        {
            let backend = EmbeddedBackend::open(&path)?;
            let claims = backend.unsynced_store("claims", None);
            super::super::tests::store_contract(&claims).await?;
            claims.set("c1", b"mine").await?;
            assert_eq!(backend.store("claims", None).get("c1").await?, Some(b"mine".to_vec()));
            backend.store("orders", None).set("o1", b"created").await?;
        }
        let reopened = EmbeddedBackend::open(&path)?;
        assert_eq!(reopened.store("claims", None).get("c1").await?, Some(b"mine".to_vec()));
        assert_eq!(reopened.store("orders", None).get("o1").await?, Some(b"created".to_vec()));
        Ok(())
    }

    #[tokio::test]
    async fn concurrent_increments_are_not_lost() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let backend = EmbeddedBackend::open(&dir.path().join("kv.redb"))?;
        let store = Arc::new(backend.store("stock", None));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.increment("sku", 1).await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        assert_eq!(store.get("sku").await?, Some(b"20".to_vec()));
        Ok(())
    }
}
