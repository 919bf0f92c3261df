//! Shared helpers for the end-to-end tests: a real `agent-store` process on
//! a free port, a reader of its live tail, and manifests for test apps.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use agent_store_testing::{data, demo_env, event, wasm_dir, wasm_path, workspace_root};

/// The admin token test hosts use.
pub const TEST_TOKEN: &str = "test-admin-token";

/// How long a test waits for the host to come up (it may compile components
/// the first time).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where this test run keeps every host's log lines and what its customers
/// wrote, so that a check after the whole suite can grep the logs for
/// customer data (`cargo xtask test` sets it).
pub const LOG_DIR_ENV: &str = "AGENT_STORE_TEST_LOG_DIR";

pub fn log_dir() -> Option<PathBuf> {
    std::env::var_os(LOG_DIR_ENV).filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// The file a customer's phone numbers and messages are recorded in.
pub const CUSTOMERS_FILE: &str = "customers.jsonl";

/// Records what a test customer sent the store (its phone number when it
/// came as WhatsApp, and the text): none of it may appear in a log line.
pub fn customer_wrote(phone: Option<&str>, text: &str) {
    use std::io::Write as _;
    let Some(dir) = log_dir() else { return };
    let line = serde_json::json!({ "phone": phone, "text": text }).to_string();
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(CUSTOMERS_FILE)) {
        let _ = writeln!(file, "{line}");
    }
}

/// A new temporary directory only its owner can read: what the host wants
/// for its data directory (it refuses one that others can read).
pub fn private_dir() -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    Ok(builder.tempdir()?)
}

/// A running host, killed when dropped. Its log lines (JSON) are kept.
pub struct HostProcess {
    pub url: String,
    pub data_dir: PathBuf,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    _temp: Option<tempfile::TempDir>,
}

/// How to start a host.
pub struct HostBuilder {
    manifest: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    own_cache: bool,
    listen: String,
}

/// Compiled components shared by every test host of this run, so that each
/// component compiles once, not once per test.
fn shared_cache_dir() -> PathBuf {
    std::env::temp_dir().join("agent-store-test-hosts-cache")
}

impl HostBuilder {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            args: Vec::new(),
            env: Vec::new(),
            data_dir: None,
            own_cache: false,
            listen: "127.0.0.1:0".into(),
        }
    }

    /// The repository's own `spin.toml`, with the demo secrets of `demo.env`.
    pub fn repo_manifest() -> Self {
        let mut builder = Self::new(workspace_root().join("spin.toml"));
        builder.env = demo_env();
        builder
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Listen on `address` rather than a free port of 127.0.0.1: on all
    /// addresses (`0.0.0.0:0`) the host serves requests naming other hosts,
    /// as in a pod. The host's `url` still goes through 127.0.0.1.
    pub fn listen(mut self, address: &str) -> Self {
        self.listen = address.to_string();
        self
    }

    /// Reuse a data directory (to see what survives a restart); the host
    /// then also keeps its compiled components there.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self.own_cache = true;
        self
    }

    fn command(&self, data_dir: &Path) -> Command {
        let mut command = Command::new(host_binary_path());
        command
            .arg("--log-format")
            .arg("json")
            .arg("up")
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--listen")
            .arg(&self.listen)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--admin-token")
            .arg(TEST_TOKEN)
            .arg("--wasm-dir")
            .arg(wasm_dir())
            .args(&self.args)
            .args(if self.own_cache { vec![] } else { vec!["--cache-dir".into(), shared_cache_dir()] })
            .env("AGENT_STORE_LOG", "info,agent_store=debug")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Starts the host and waits until it listens.
    pub async fn start(self) -> Result<HostProcess> {
        let (temp, data_dir) = match &self.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = private_dir()?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let mut child = self.command(&data_dir).spawn().context("starting agent-store")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, mut address_rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = logs.clone();
        let mut kept = match log_dir() {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                let file = dir.join(format!("host-{}.log", child.id().unwrap_or_default()));
                Some(std::fs::OpenOptions::new().create(true).append(true).open(file)?)
            }
            None => None,
        };
        tokio::spawn(async move {
            use std::io::Write as _;
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(file) = kept.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                if let Ok(json) = serde_json::from_str::<Value>(&line)
                    && let Some(address) = json.get("address").and_then(Value::as_str)
                {
                    let _ = address_tx.send(address.to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = tokio::select! {
            address = address_rx.recv() => address,
            status = child.wait() => {
                let logs = logs.lock().unwrap().join("\n");
                bail!("agent-store exited before listening ({:?}):\n{logs}", status?);
            }
            _ = tokio::time::sleep(START_TIMEOUT) => None,
        };
        let Some(address) = address else {
            bail!("agent-store did not start listening:\n{}", logs.lock().unwrap().join("\n"));
        };
        let address = address.replace("0.0.0.0:", "127.0.0.1:");
        Ok(HostProcess { url: format!("http://{address}"), data_dir, child, logs, _temp: temp })
    }

    /// Runs `up` expecting it to fail; returns everything it printed.
    pub async fn expect_failure(self) -> Result<String> {
        let temp = private_dir()?;
        let data_dir = self.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
        let output = tokio::time::timeout(START_TIMEOUT, self.command(&data_dir).output()).await??;
        if output.status.success() {
            bail!("agent-store up succeeded but was expected to fail");
        }
        Ok(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The `agent-store` binary of this build, next to the test executable
/// (`cargo xtask test` builds it before the tests), or `AGENT_STORE_BIN`.
pub fn host_binary_path() -> PathBuf {
    if let Ok(path) = std::env::var("AGENT_STORE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let path = dir.join("agent-store");
    assert!(
        path.exists(),
        "{} not found: run the tests with `cargo xtask test`, or `cargo build -p agent-store` first",
        path.display()
    );
    path
}

impl HostProcess {
    /// The host's process id, to signal it (SIGSTOP: a replica that hangs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Log lines (as JSON) whose message contains `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("message").and_then(Value::as_str).is_some_and(|m| m.contains(needle)))
            .collect()
    }

    /// Waits until a log line containing `needle` appears.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.log_lines(needle).into_iter().next() {
                return Ok(line);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no log line with {needle:?} within {timeout:?}:\n{}", self.logs().join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /events` with one structured event, with the admin token;
    /// returns status and body.
    pub async fn post_event(&self, event: &cloudevents::Event) -> Result<(u16, Value)> {
        self.post_event_as(event, Some(TEST_TOKEN)).await
    }

    /// `POST /events` with one structured event and `token` (or none).
    pub async fn post_event_as(&self, event: &cloudevents::Event, token: Option<&str>) -> Result<(u16, Value)> {
        let mut request = reqwest::Client::new()
            .post(format!("{}/events", self.url))
            .header("content-type", "application/cloudevents+json")
            .body(serde_json::to_vec(event)?);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// The dead letters the host lists at `GET /admin/dead-letters`.
    pub async fn dead_letters(&self) -> Result<Vec<Value>> {
        let listing: Value = reqwest::Client::new()
            .get(format!("{}/admin/dead-letters", self.url))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        Ok(listing["dead_letters"].as_array().cloned().unwrap_or_default())
    }

    /// Runs `agent-store dlq <args>` against this host's admin API with
    /// `token`.
    pub async fn dlq(&self, token: &str, args: &[&str]) -> Result<Ran> {
        let output = Command::new(host_binary_path())
            .arg("dlq")
            .args(args)
            .args(["--url", &self.url, "--token", token])
            .output()
            .await
            .context("running agent-store dlq")?;
        Ok(Ran {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Opens the live tail (with the test token) with query filters.
    pub async fn tail(&self, query: &[(&str, &str)]) -> Result<Tail> {
        let response = reqwest::Client::new()
            .get(format!("{}/events/tail", self.url))
            .query(query)
            .bearer_auth(TEST_TOKEN)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("tail answered {}", response.status());
        }
        Ok(Tail { stream: Box::pin(response.bytes_stream()), buffer: String::new(), pending: VecDeque::new() })
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn stop(mut self) -> Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            unsafe_kill_term(pid);
        }
        Ok(tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await??)
    }
}

impl HostProcess {
    /// SIGKILL, as a crash or the OOM killer would: no shutdown, no flush.
    /// Returns once the process is gone (its files and ports released).
    pub async fn kill(mut self) -> Result<()> {
        self.child.start_kill().context("killing the host")?;
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        Ok(())
    }
}

/// What a command printed, and whether it succeeded.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Its stdout as one JSON value per line (`--json`), after checking
    /// that it succeeded.
    pub fn json(&self) -> Result<Vec<Value>> {
        if !self.ok {
            bail!("the command failed:\n{}", self.stderr);
        }
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).with_context(|| format!("not JSON: {line}")))
            .collect()
    }
}

fn unsafe_kill_term(pid: u32) {
    // `kill -TERM` rather than a libc binding: the tests need nothing else.
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

/// A reader of `/events/tail`: one JSON record per server-sent event.
pub struct Tail {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    pending: VecDeque<Value>,
}

impl Tail {
    /// The next record, or `None` when `timeout` passes first.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(record) = self.pending.pop_front() {
                return Ok(Some(record));
            }
            let chunk = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("the tail ended"),
                Ok(Some(chunk)) => chunk?,
            };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
                if let Ok(record) = serde_json::from_str::<Value>(&data) {
                    self.pending.push_back(record);
                }
            }
        }
    }

    /// The first record matching `predicate`, skipping others.
    pub async fn find(&mut self, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Some(record) if predicate(&record) => return Ok(record),
                Some(_) => continue,
                None => bail!("no matching tail record within {timeout:?}"),
            }
        }
    }
}

/// A record's event type and kind, for predicates.
pub fn is(record: &Value, kind: &str, ty: &str) -> bool {
    record["kind"] == kind && record["event"]["type"] == ty
}

/// Writes a manifest for a test app into a new directory; component
/// sources are absolute paths to the built test components.
pub fn test_app(manifest: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let text = manifest.replace("{{wasm}}", &wasm_dir().to_string_lossy());
    std::fs::write(dir.path().join("spin.toml"), text)?;
    Ok(dir)
}

/// RabbitMQ is one for every test of this process. Most tests share it
/// (each under its own prefix); a test that closes every connection or
/// restarts the broker would break the others' hosts mid-test, so it holds
/// RabbitMQ alone.
static RABBITMQ: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Held by a test that uses RabbitMQ as it is.
pub async fn rabbitmq_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    RABBITMQ.read().await
}

/// Held by a test that closes connections or stops and starts RabbitMQ.
pub async fn rabbitmq_alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    RABBITMQ.write().await
}

/// The RabbitMQ the tests use: the machine's, unless `AGENT_STORE_TEST_AMQP` says otherwise.
pub fn amqp_url() -> String {
    std::env::var("AGENT_STORE_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The Redis the tests use: the machine's, unless `AGENT_STORE_TEST_REDIS` says otherwise.
pub fn redis_url() -> String {
    std::env::var("AGENT_STORE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Deletes what a test left under its own `prefix` on the shared services:
/// the RabbitMQ queues and exchanges `<prefix>.…` (the host's
/// `--broker-prefix`) and the Redis keys `<prefix>:…` (a `--kv
/// redis://…#<prefix>` namespace). RabbitMQ's app is started first, in
/// case a test that stops it failed half-way.
pub async fn remove_prefix(prefix: &str) -> Result<()> {
    let rabbitmqctl = |args: &'static [&'static str]| async move {
        let output = Command::new("rabbitmqctl").args(args).output().await.context("running rabbitmqctl")?;
        if !output.status.success() {
            bail!("rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let _ = rabbitmqctl(&["start_app"]).await;
    let ours = |list: String| -> Vec<String> {
        list.lines().map(str::trim).filter(|name| name.starts_with(&format!("{prefix}."))).map(str::to_string).collect()
    };
    let queues = ours(rabbitmqctl(&["list_queues", "-q", "--no-table-headers", "name"]).await?);
    let exchanges = ours(rabbitmqctl(&["list_exchanges", "-q", "--no-table-headers", "name"]).await?);
    let connection = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    for queue in queues {
        channel.queue_delete(queue.into(), Default::default()).await?;
    }
    for exchange in exchanges {
        channel.exchange_delete(exchange.into(), Default::default()).await?;
    }
    let _ = connection.close(200, "clean".into()).await;

    let mut redis = redis::Client::open(redis_url())?.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut redis).await?;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut redis).await?;
    }
    Ok(())
}
