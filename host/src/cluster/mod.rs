//! Several replicas, one store: hosts that share a Redis (`--kv
//! redis://…`) run the same version of every component, whichever of them
//! a deploy was sent to (`docs/hot-swap.md`, "Several replicas").
//!
//! Redis keeps what a replica needs to serve a deployed version (the
//! uploaded files, the packages, which version serves), so a replica that
//! starts later comes up on the current versions. A cutover is two-phase,
//! over the channel `<prefix>:@cluster:control`:
//!
//! ```text
//! coordinator (took the deploy)          every other live replica
//!   lock ── Prepare{changes} ─────────►  fetch files, compile, check routes
//!                 ◄────────────────────  Ready | Refused{reason}
//!   every one ready: switch, write state
//!   Commit ───────────────────────────►  switch
//!                 ◄────────────────────  Switched{versions}
//!   a refusal or the timeout: Abort ──►  forget what was prepared
//! ```
//!
//! Live means a heartbeat younger than [`LIVE_FOR`]: a replica that stops
//! takes its heartbeat with it, one that dies stops counting after that.
//! Redis is the cluster's trust root: whoever may write to it may deploy.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::deploy::{Contents, Entry, Versions};

/// How often a replica says it is alive, with the versions it runs.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// A replica whose last heartbeat is older than this is gone: a cutover
/// does not wait for it.
pub const LIVE_FOR: Duration = Duration::from_secs(7);

/// How long a cutover waits for every replica to prepare (compiling
/// included) before it is aborted everywhere.
pub const DEFAULT_TIMEOUT: &str = "60s";

/// Key namespace inside the key-value prefix; `@` is never in a store
/// label, so no component's key-value store reaches these keys.
const NAMESPACE: &str = "@cluster";

/// One component's part of a cutover: the version it goes to, or out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub component: String,
    /// `None`: the component is removed.
    pub to: Option<Entry>,
}

/// What replicas say to each other on the control channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    Prepare { cutover: String, from: String, changes: Vec<Change> },
    Ready { cutover: String, replica: String },
    Refused { cutover: String, replica: String, reason: String },
    Commit { cutover: String, from: String },
    Abort { cutover: String, from: String, reason: String },
    Switched { cutover: String, replica: String, versions: BTreeMap<String, Option<String>> },
}

impl Control {
    fn cutover(&self) -> &str {
        match self {
            Self::Prepare { cutover, .. }
            | Self::Ready { cutover, .. }
            | Self::Refused { cutover, .. }
            | Self::Commit { cutover, .. }
            | Self::Abort { cutover, .. }
            | Self::Switched { cutover, .. } => cutover,
        }
    }

    /// Whether `replica` sent it as a coordinator (it ignores its own).
    fn from(&self) -> Option<&str> {
        match self {
            Self::Prepare { from, .. } | Self::Commit { from, .. } | Self::Abort { from, .. } => Some(from),
            _ => None,
        }
    }
}

/// A replica's heartbeat: it is alive and runs these versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beat {
    pub replica: String,
    /// Component id to the version it runs there.
    pub versions: BTreeMap<String, String>,
}

/// A cutover every live replica prepared: what the coordinator commits.
#[derive(Debug)]
pub struct Prepared {
    pub cutover: String,
    pub peers: Vec<String>,
}

/// One replica's answer to a commit: the versions it switched to, or
/// `None` when it did not confirm in time.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmed {
    pub replica: String,
    pub versions: Option<BTreeMap<String, Option<String>>>,
}

/// This replica's link to the others.
pub struct Cluster {
    /// This replica's name: `--replica`, or `<hostname>-<pid>`, unique on a
    /// machine and in a Kubernetes namespace.
    pub replica: String,
    pub timeout: Duration,
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    /// The last heartbeats read, this replica's included.
    beats: Mutex<Vec<Beat>>,
    /// Replies to the cutovers this replica coordinates, by cutover.
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<Control>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("replica", &self.replica).field("prefix", &self.prefix).finish()
    }
}

impl Cluster {
    /// Joins the replicas of the Redis at `url` (`redis://host:port[/db]`,
    /// a `#prefix` fragment as for the key-value stores) as `replica`
    /// (default `<hostname>-<pid>`).
    pub async fn connect(url: &str, timeout: Duration, replica: Option<String>) -> Result<Arc<Self>> {
        let (url, prefix) = match url.split_once('#') {
            Some((url, prefix)) => (url, prefix),
            None => (url, agent_store_runtime::capabilities::key_value::redis::DEFAULT_PREFIX),
        };
        let client = redis::Client::open(url).with_context(|| format!("invalid Redis URL {url}"))?;
        let conn = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .with_context(|| format!("connecting to Redis at {url}: timed out"))?
            .with_context(|| format!("connecting to Redis at {url}"))?;
        let replica = replica.unwrap_or_else(|| format!("{}-{}", crate::app::swap::host_name(), std::process::id()));
        if replica.is_empty() || !replica.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            bail!("replica name {replica:?}: letters, digits, `-`, `_` and `.` only");
        }
        Ok(Arc::new(Self {
            replica,
            timeout,
            client,
            conn,
            prefix: format!("{prefix}:{NAMESPACE}"),
            beats: Mutex::new(Vec::new()),
            waiting: Mutex::new(HashMap::new()),
        }))
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    // ---- what a replica needs to serve a deployed version --------------

    /// Puts a kept file where every replica finds it.
    pub async fn share_blob(&self, versions: &Versions, digest: &str) -> Result<()> {
        let key = self.key(&format!("blob:{digest}"));
        let mut conn = self.conn.clone();
        if conn.exists(&key).await? {
            return Ok(());
        }
        let bytes = std::fs::read(versions.blob_path(digest)).with_context(|| format!("blob {digest} is not kept"))?;
        let _: () = conn.set(&key, bytes).await?;
        Ok(())
    }

    /// Brings a file another replica shared into this one's data directory.
    pub async fn fetch_blob(&self, versions: &Versions, digest: &str) -> Result<()> {
        if versions.has_blob(digest) {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let bytes: Option<Vec<u8>> = conn.get(self.key(&format!("blob:{digest}"))).await?;
        let Some(bytes) = bytes else { bail!("blob {digest} is on no replica's shared store") };
        versions.put_blob(digest, &bytes)
    }

    /// Shares a deployed package: its manifest, its files' table, its files.
    pub async fn share_package(&self, versions: &Versions, digest: &str) -> Result<()> {
        let (manifest, contents) = versions.package_text(digest)?;
        for blob in contents.sources.values().chain(contents.files.values()) {
            self.share_blob(versions, blob).await?;
        }
        let package = serde_json::to_vec(&SharedPackage { manifest, contents })?;
        let mut conn = self.conn.clone();
        let _: () = conn.set(self.key(&format!("package:{digest}")), package).await?;
        Ok(())
    }

    /// Writes a package another replica shared into this one's data
    /// directory, with every file it names.
    pub async fn fetch_package(&self, versions: &Versions, digest: &str) -> Result<()> {
        if versions.package(digest).is_ok() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let package: Option<Vec<u8>> = conn.get(self.key(&format!("package:{digest}"))).await?;
        let Some(package) = package else { bail!("package {digest} is on no replica's shared store") };
        let SharedPackage { manifest, contents } = serde_json::from_slice(&package)?;
        for blob in contents.sources.values().chain(contents.files.values()) {
            self.fetch_blob(versions, blob).await?;
        }
        let written = versions.materialize(&manifest, &contents)?;
        if written != digest {
            bail!("package {digest} arrived as {written}: it was changed on the way");
        }
        Ok(())
    }

    /// What serves, as the coordinator of the last cutover wrote it.
    pub async fn share_state(&self, versions: &Versions) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.set(self.key("state"), versions.state_json()?).await?;
        Ok(())
    }

    /// Makes this replica's data directory say what the shared state says,
    /// with the files of every current version: a replica that starts
    /// later comes up on the current versions.
    pub async fn restore(&self, versions: &Versions) -> Result<()> {
        let mut conn = self.conn.clone();
        let state: Option<Vec<u8>> = conn.get(self.key("state")).await?;
        let Some(state) = state else { return Ok(()) };
        for record in Versions::parse_state(&state)?.values() {
            let Some(current) = &record.current else { continue };
            self.fetch_for(versions, current).await?;
        }
        versions.replace_state(&state)
    }

    /// The files one version needs on this replica.
    pub async fn fetch_for(&self, versions: &Versions, entry: &Entry) -> Result<()> {
        if let Some(package) = &entry.package {
            self.fetch_package(versions, package).await?;
        }
        self.fetch_blob(versions, &entry.version).await
    }

    // ---- who is alive ---------------------------------------------------

    /// Says this replica is alive and what it runs; reads the others.
    pub async fn beat(&self, versions: BTreeMap<String, String>) -> Result<()> {
        let beat = Beat { replica: self.replica.clone(), versions };
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(
                self.key(&format!("replica:{}", self.replica)),
                serde_json::to_vec(&beat)?,
                LIVE_FOR.as_millis() as u64,
            )
            .await?;
        self.live().await?;
        Ok(())
    }

    /// Every live replica's last heartbeat, read now.
    pub async fn live(&self) -> Result<Vec<Beat>> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:replica:*", self.prefix);
        let keys: Vec<String> = {
            let mut scan = conn.scan_match::<_, String>(&pattern).await?;
            let mut keys = Vec::new();
            while let Some(key) = scan.next().await {
                keys.push(key?);
            }
            keys
        };
        let mut beats = Vec::new();
        if !keys.is_empty() {
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
            beats = values.into_iter().flatten().filter_map(|v| serde_json::from_slice::<Beat>(&v).ok()).collect();
        }
        beats.sort_by(|a, b| a.replica.cmp(&b.replica));
        *self.beats.lock().unwrap() = beats.clone();
        Ok(beats)
    }

    /// The heartbeats last read (every [`HEARTBEAT`]).
    pub fn last_beats(&self) -> Vec<Beat> {
        self.beats.lock().unwrap().clone()
    }

    /// Stops counting as alive: a stopping replica is not waited for.
    pub async fn leave(&self) {
        let mut conn = self.conn.clone();
        let _: Result<(), _> = conn.del(self.key(&format!("replica:{}", self.replica))).await;
    }

    // ---- the cutover ----------------------------------------------------

    async fn send(&self, message: &Control) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.publish(self.key("control"), serde_json::to_vec(message)?).await?;
        Ok(())
    }

    /// Answers a coordinator.
    pub async fn reply(&self, message: Control) {
        if let Err(error) = self.send(&message).await {
            tracing::warn!(error = %format!("{error:#}"), cutover = message.cutover(), "cannot answer the cutover");
        }
    }

    /// Listens on the control channel, reconnecting when Redis goes away:
    /// replies go to the cutover waiting for them, what other coordinators
    /// ask of this replica comes out of the returned channel. `ready` fires
    /// once the first subscription is in place.
    pub fn listen(self: &Arc<Self>) -> (mpsc::UnboundedReceiver<Control>, tokio::sync::oneshot::Receiver<()>) {
        let (commands, received) = mpsc::unbounded_channel();
        let (ready, subscribed) = tokio::sync::oneshot::channel();
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready);
            loop {
                match cluster.client.get_async_pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(cluster.key("control")).await {
                        Ok(()) => {
                            if let Some(ready) = ready.take() {
                                let _ = ready.send(());
                            }
                            let mut messages = pubsub.into_on_message();
                            while let Some(message) = messages.next().await {
                                let Ok(payload) = message.get_payload::<Vec<u8>>() else { continue };
                                match serde_json::from_slice::<Control>(&payload) {
                                    Ok(control) => {
                                        if commands.is_closed() {
                                            return;
                                        }
                                        cluster.route(control, &commands);
                                    }
                                    Err(error) => tracing::warn!(%error, "a control message that is not one: ignored"),
                                }
                            }
                            tracing::warn!("the cluster's control channel closed: subscribing again");
                        }
                        Err(error) => tracing::warn!(%error, "cannot subscribe to the cluster's control channel"),
                    },
                    Err(error) => tracing::warn!(%error, "cannot reach Redis for the cluster's control channel"),
                }
                if commands.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        (received, subscribed)
    }

    fn route(&self, control: Control, commands: &mpsc::UnboundedSender<Control>) {
        match &control {
            Control::Ready { .. } | Control::Refused { .. } | Control::Switched { .. } => {
                if let Some(waiting) = self.waiting.lock().unwrap().get(control.cutover()) {
                    let _ = waiting.send(control);
                }
            }
            _ if control.from() == Some(self.replica.as_str()) => {}
            _ => {
                let _ = commands.send(control);
            }
        }
    }

    /// Phase one: every other live replica prepares `changes`. Returns when
    /// all are ready; otherwise aborts everywhere and says why.
    pub async fn prepare(&self, changes: Vec<Change>) -> Result<Prepared, String> {
        let cutover = uuid::Uuid::new_v4().simple().to_string();
        self.lock(&cutover).await?;
        let peers: Vec<String> = match self.live().await {
            Ok(beats) => beats.into_iter().map(|b| b.replica).filter(|r| *r != self.replica).collect(),
            Err(error) => {
                self.unlock(&cutover).await;
                return Err(format!("cannot tell which replicas are alive: {error:#}"));
            }
        };
        if peers.is_empty() {
            return Ok(Prepared { cutover, peers });
        }
        let mut replies = self.expect(&cutover);
        let prepare = Control::Prepare { cutover: cutover.clone(), from: self.replica.clone(), changes };
        if let Err(error) = self.send(&prepare).await {
            return Err(self.abort(&cutover, format!("cannot reach the other replicas: {error:#}")).await);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut ready = BTreeSet::new();
        while ready.len() < peers.len() {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(Control::Ready { replica, .. })) => {
                    ready.insert(replica);
                }
                Ok(Some(Control::Refused { replica, reason, .. })) => {
                    return Err(self.abort(&cutover, format!("replica {replica} refused: {reason}")).await);
                }
                Ok(_) => {}
                Err(_) => {
                    let late: Vec<&str> = peers.iter().filter(|p| !ready.contains(*p)).map(String::as_str).collect();
                    let reason = format!(
                        "replica {} did not prepare within {}s",
                        late.join(", replica "),
                        self.timeout.as_secs_f32()
                    );
                    return Err(self.abort(&cutover, reason).await);
                }
            }
        }
        Ok(Prepared { cutover, peers })
    }

    /// Tells every replica to forget the cutover; returns the reason, with
    /// what it means for the caller.
    async fn abort(&self, cutover: &str, reason: String) -> String {
        let abort = Control::Abort { cutover: cutover.to_string(), from: self.replica.clone(), reason: reason.clone() };
        if let Err(error) = self.send(&abort).await {
            tracing::warn!(error = %format!("{error:#}"), "cannot tell the replicas to abort; theirs expires");
        }
        self.waiting.lock().unwrap().remove(cutover);
        self.unlock(cutover).await;
        tracing::warn!(cutover, reason = %reason, "cutover aborted on every replica");
        format!("{reason}; the cutover was aborted on every replica and nothing changed")
    }

    /// Gives up a prepared cutover (this replica could not switch): the
    /// others forget it and the cluster is free again.
    pub async fn abandon(&self, prepared: Prepared, reason: String) -> String {
        self.abort(&prepared.cutover, reason).await
    }

    /// Phase two, once this replica has switched: every other one switches.
    /// Returns each replica's confirmation, or its silence.
    pub async fn commit(&self, prepared: Prepared) -> Vec<Confirmed> {
        let Prepared { cutover, peers } = prepared;
        let mut confirmed: BTreeMap<String, Option<BTreeMap<String, Option<String>>>> =
            peers.iter().map(|p| (p.clone(), None)).collect();
        if !peers.is_empty() {
            let mut replies = self.expect(&cutover);
            match self.send(&Control::Commit { cutover: cutover.clone(), from: self.replica.clone() }).await {
                Ok(()) => {
                    let deadline = tokio::time::Instant::now() + self.timeout;
                    while confirmed.values().any(Option::is_none) {
                        match tokio::time::timeout_at(deadline, replies.recv()).await {
                            Ok(Some(Control::Switched { replica, versions, .. })) => {
                                confirmed.insert(replica, Some(versions));
                            }
                            Ok(Some(_)) => {}
                            Ok(None) | Err(_) => break,
                        }
                    }
                }
                // They prepared and will expire it; the shared state brings
                // them over at their next start.
                Err(error) => tracing::warn!(error = %format!("{error:#}"), "cannot send the commit"),
            }
        }
        self.waiting.lock().unwrap().remove(&cutover);
        self.unlock(&cutover).await;
        // What they confirmed is fresher than their last heartbeat.
        for beat in self.beats.lock().unwrap().iter_mut() {
            let Some(Some(switched)) = confirmed.get(&beat.replica) else { continue };
            for (component, version) in switched {
                match version {
                    Some(version) => beat.versions.insert(component.clone(), version.clone()),
                    None => beat.versions.remove(component),
                };
            }
        }
        confirmed.into_iter().map(|(replica, versions)| Confirmed { replica, versions }).collect()
    }

    fn expect(&self, cutover: &str) -> mpsc::UnboundedReceiver<Control> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.waiting.lock().unwrap().insert(cutover.to_string(), sender);
        receiver
    }

    /// One cutover at a time in the whole cluster, so that two deploys
    /// sent to two replicas cannot switch them in different orders.
    async fn lock(&self, cutover: &str) -> Result<(), String> {
        let key = self.key("lock");
        let mut conn = self.conn.clone();
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Held at most through both phases; a coordinator that dies lets go.
        let hold = (self.timeout * 3).as_millis() as u64;
        loop {
            let taken: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(format!("{}/{cutover}", self.replica))
                .arg("NX")
                .arg("PX")
                .arg(hold)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("cannot reach Redis to coordinate the replicas: {e}"))?;
            if taken.is_some() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let holder: Option<String> = conn.get(&key).await.unwrap_or(None);
                return Err(format!(
                    "another cutover ({}) held the cluster for {}s: try again",
                    holder.unwrap_or_default(),
                    self.timeout.as_secs_f32()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn unlock(&self, cutover: &str) {
        const RELEASE: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
        let mut conn = self.conn.clone();
        let released: Result<i64, _> = redis::Script::new(RELEASE)
            .key(self.key("lock"))
            .arg(format!("{}/{cutover}", self.replica))
            .invoke_async(&mut conn)
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, "cannot release the cutover lock; it expires");
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SharedPackage {
    manifest: String,
    contents: Contents,
}
