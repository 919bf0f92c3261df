//! Stores in Redis, shared by every replica of the host: what several
//! `agent-store` processes (or Knative pods) need to see the same carts,
//! orders and stock. Keys are `<prefix>:<label>:<key>`.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Store, StoreResult};

/// Namespace for our keys, so the store can share a Redis with others.
pub const DEFAULT_PREFIX: &str = "agent-store:kv";

/// Atomic compare-and-swap: compare in the server, not in the host, so two
/// replicas cannot both win. An empty `ARGV[1]` flag means "expect absent".
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
else
  if current ~= ARGV[2] then return 0 end
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
";

/// A transaction's batch in one script, which Redis runs atomically.
/// KEYS: the checked keys, then the written ones. ARGV: the number of
/// checks; per check a presence flag and the expected value; per write an
/// op (`s` set, `d` delete), the value and a TTL in ms (`0`: none).
const COMMIT_SCRIPT: &str = r"
local checks = tonumber(ARGV[1])
for i = 1, checks do
  local current = redis.call('GET', KEYS[i])
  local present = ARGV[2 * i] == '1'
  if present then
    if current ~= ARGV[2 * i + 1] then return 0 end
  else
    if current then return 0 end
  end
end
local base = 2 + 2 * checks
for i = checks + 1, #KEYS do
  local j = base + 3 * (i - checks - 1)
  if ARGV[j] == 's' then
    if ARGV[j + 2] ~= '0' then
      redis.call('SET', KEYS[i], ARGV[j + 1], 'PX', ARGV[j + 2])
    else
      redis.call('SET', KEYS[i], ARGV[j + 1])
    end
  else
    redis.call('DEL', KEYS[i])
  end
end
return 1
";

/// The scripts, hashed once: `Script::new` digests its text, which every
/// call would otherwise pay again.
static CAS: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CAS_SCRIPT));
static COMMIT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(COMMIT_SCRIPT));

/// A Redis connection shared by every store.
pub struct RedisBackend {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisBackend {
    /// `url` is `redis://host:port[/db]`; a `#prefix` fragment sets the key
    /// namespace (tests use it to keep runs apart).
    pub async fn connect(url: &str) -> Result<Self> {
        let (url, prefix) = match url.split_once('#') {
            Some((url, prefix)) => (url, prefix.to_string()),
            None => (url, DEFAULT_PREFIX.to_string()),
        };
        let client = redis::Client::open(url).with_context(|| format!("invalid Redis URL {url}"))?;
        let conn = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .with_context(|| format!("connecting to Redis at {url}: timed out"))?
            .with_context(|| format!("connecting to Redis at {url}"))?;
        Ok(Self { conn, prefix })
    }

    /// The store `label`, its entries expiring after `ttl`.
    pub fn store(&self, label: &str, ttl: Option<Duration>) -> RedisStore {
        RedisStore { conn: self.conn.clone(), prefix: format!("{}:{label}:", self.prefix), ttl }
    }

    /// Applies a transaction's batch in one atomic script.
    pub async fn commit(
        &self,
        batch: &super::staged::Batch,
        ttl: impl Fn(&str) -> Option<Duration>,
    ) -> super::StoreResult<bool> {
        let key = |label: &str, key: &str| format!("{}:{label}:{key}", self.prefix);
        let mut script = COMMIT.prepare_invoke();
        script.arg(batch.checks.len());
        for check in &batch.checks {
            script.key(key(&check.label, &check.key));
            script.arg(if check.expected.is_some() { "1" } else { "0" });
            script.arg(check.expected.as_deref().unwrap_or_default());
        }
        for write in &batch.writes {
            script.key(key(&write.label, &write.key));
            script.arg(if write.value.is_some() { "s" } else { "d" });
            script.arg(write.value.as_deref().unwrap_or_default());
            script.arg(ttl(&write.label).map(|t| t.as_millis().max(1) as u64).unwrap_or(0));
        }
        let mut conn = self.conn.clone();
        let committed: i32 = script.invoke_async(&mut conn).await?;
        Ok(committed == 1)
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// One store: keys under `<prefix>:<label>:`.
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    ttl: Option<Duration>,
}

impl RedisStore {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.map(|t| t.as_millis().max(1) as u64).unwrap_or(0)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.conn.clone().get(self.key(key)).await?)
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        match self.ttl_ms() {
            0 => conn.set::<_, _, ()>(self.key(key), value).await?,
            ms => conn.pset_ex::<_, _, ()>(self.key(key), value, ms).await?,
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.conn.clone().del::<_, ()>(self.key(key)).await?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> StoreResult<bool> {
        Ok(self.conn.clone().exists(self.key(key)).await?)
    }

    async fn keys(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let mut iter: redis::AsyncIter<String> = conn.scan_match(pattern).await?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            let key = key?;
            keys.push(key[self.prefix.len()..].to_string());
        }
        Ok(keys)
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let mut conn = self.conn.clone();
        let value: i64 = conn
            .incr(self.key(key), delta)
            .await
            .with_context(|| format!("incrementing {key}: the value is not a decimal integer"))?;
        if let Some(ttl) = self.ttl {
            conn.pexpire::<_, ()>(self.key(key), ttl.as_millis() as i64).await?;
        }
        Ok(value)
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let Some(expected) = expected else {
            // "Expect absent" is what `SET NX` does in the server itself:
            // no script to run, and the idempotency claim of every event
            // takes this path.
            let mut set = redis::cmd("SET");
            set.arg(self.key(key)).arg(new).arg("NX");
            if let ms @ 1.. = self.ttl_ms() {
                set.arg("PX").arg(ms);
            }
            let written: Option<String> = set.query_async(&mut conn).await?;
            return Ok(written.is_some());
        };
        let swapped: i32 =
            CAS.key(self.key(key)).arg("1").arg(expected).arg(new).arg(self.ttl_ms()).invoke_async(&mut conn).await?;
        Ok(swapped == 1)
    }
}

fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Redis on the machine, in a namespace of this test's own.
    async fn backend() -> Result<RedisBackend> {
        let url = std::env::var("AGENT_STORE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        RedisBackend::connect(&format!("{url}#test-{}", uuid::Uuid::new_v4())).await
    }

    #[tokio::test]
    async fn redis_store_keeps_the_contract() -> Result<()> {
        let backend = backend().await?;
        super::super::tests::store_contract(&backend.store("t", None)).await
    }

    #[tokio::test]
    async fn redis_entries_expire_after_the_store_ttl() -> Result<()> {
        let backend = backend().await?;
        let store = backend.store("conversations", Some(Duration::from_millis(50)));
        store.set("c1", b"hi").await?;
        assert!(store.exists("c1").await?);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!store.exists("c1").await?);
        Ok(())
    }
}
