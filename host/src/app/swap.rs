//! Hot swap: deploy, roll back and remove components while the host runs
//! (`docs/hot-swap.md`).
//!
//! A deploy is checked and compiled before anything changes; then one
//! switch of the table gives the component and its routes together, and
//! the broker gets its subscription. Events and requests look the
//! component up when they start, so those in flight finish on the version
//! that started them and every later one runs the new version.

use std::collections::HashMap;
use std::sync::Arc;

use agent_store_events::{BrandOnboarded, BrandRemoved, types};
use anyhow::Context;
use chrono::Utc;
use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use serde::Serialize;

use tokio::sync::{broadcast, mpsc};

use super::tap::TapKind;
use super::{App, AppInner, Component, Package, Table, prepare, routes_of, trace};
use crate::cluster::{Change, Cluster, Control};
use crate::deploy::{ComponentState, Contents, Entry, Origin};
use crate::server::RESERVED_PREFIXES;

/// Why a deploy, a rollback or a removal did not happen. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// The request is wrong: a bad manifest, not a component, a forbidden
    /// import, a missing upload.
    #[error("{0}")]
    Refused(String),
    /// No such component, or no such version.
    #[error("{0}")]
    NotFound(String),
    /// It would take another component's route.
    #[error("{0}")]
    Conflict(String),
    /// The caller's deploy token does not cover the component.
    #[error("{0}")]
    Forbidden(String),
    /// The host could not do it (the broker, the disk).
    #[error("{0}")]
    Failed(String),
}

impl SwapError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Refused(_) => 422,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Forbidden(_) => 403,
            Self::Failed(_) => 503,
        }
    }

    fn refused(error: anyhow::Error) -> Self {
        Self::Refused(format!("{error:#}"))
    }

    fn failed(error: anyhow::Error) -> Self {
        Self::Failed(format!("{error:#}"))
    }
}

/// `POST /admin/deploys`: a manifest and the blobs of its files.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The manifest's text (a whole `spin.toml`, or a brand's package).
    pub manifest: String,
    /// The components to deploy; empty: every component the manifest runs.
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(flatten)]
    pub contents: Contents,
}

/// One component a deploy or a rollback switched.
#[derive(Debug, Clone, Serialize)]
pub struct Switched {
    pub component: String,
    pub version: String,
    /// The version it replaced, if it served.
    pub previous: Option<String>,
    /// Milliseconds spent compiling (or taking it from the cache).
    pub prepare_ms: u64,
    /// Milliseconds of the switch itself (with several replicas: both
    /// phases, every replica's preparing included).
    pub switch_ms: u64,
    /// Every replica and the version it runs now; `null` where a replica
    /// did not confirm in time (it comes up on this version when it
    /// restarts).
    pub replicas: Vec<Replica>,
}

/// A component, as `agent-store components` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    pub component: String,
    pub version: Option<String>,
    pub state: ComponentState,
    pub since: Option<chrono::DateTime<Utc>>,
    pub origin: Origin,
    /// Every host serving it and the version it runs there.
    pub replicas: Vec<Replica>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Entry>>,
}

/// One host's view of a component.
#[derive(Debug, Clone, Serialize)]
pub struct Replica {
    pub host: String,
    pub version: Option<String>,
}

/// One component's part of a switch: the version it goes to (prepared,
/// with its history entry), or out.
pub(crate) struct Step {
    id: String,
    to: Option<(Arc<Component>, Entry)>,
}

impl App {
    /// Whether an upload of `digest` is kept already.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.inner.versions.has_blob(digest)
    }

    /// Keeps an uploaded file under its sha256.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.inner.versions.put_blob(digest, bytes)
    }

    /// Deploys the components `request` names (or all of its manifest's),
    /// as one switch.
    pub async fn deploy(&self, request: DeployRequest) -> Result<Vec<Switched>, SwapError> {
        self.deploy_as(request, &|_| true).await
    }

    /// [`deploy`](Self::deploy) for a caller that may change only the
    /// components `allowed` says yes to: any other in the deploy refuses it
    /// whole.
    pub async fn deploy_as(
        &self,
        request: DeployRequest,
        allowed: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Switched>, SwapError> {
        let inner = &self.inner;
        let digest = inner.versions.materialize(&request.manifest, &request.contents).map_err(SwapError::refused)?;
        let (manifest, contents) = inner.versions.package(&digest).map_err(SwapError::refused)?;
        manifest.validate().map_err(SwapError::refused)?;
        let ids = if request.components.is_empty() {
            let mut all = Vec::new();
            for id in manifest.active_components().map_err(SwapError::refused)? {
                if !manifest.tool(&id).map_err(SwapError::refused)?.router {
                    all.push(id);
                }
            }
            all
        } else {
            request.components.clone()
        };
        if ids.is_empty() {
            return Err(SwapError::Refused("the manifest runs no component".into()));
        }
        if let Some(id) = ids.iter().find(|id| !allowed(id)) {
            return Err(SwapError::Forbidden(format!("this deployer may not change `{id}`")));
        }
        if let Some(id) = ids.iter().find(|id| !inner.options.serves(id)) {
            return Err(SwapError::Refused(format!(
                "this host serves only {} (`up --components`): deploy `{id}` through a host that serves it",
                inner.options.only.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        for id in &ids {
            let Some(_) = manifest.component.get(id) else {
                return Err(SwapError::Refused(format!("the manifest has no [component.{id}]")));
            };
            let tool = manifest.tool(id).map_err(SwapError::refused)?;
            if tool.router {
                return Err(SwapError::Refused(format!(
                    "`{id}` is the event router, which the host's broker replaces: it is not deployed"
                )));
            }
            if !manifest.active_components().map_err(SwapError::refused)?.contains(id) {
                return Err(SwapError::Refused(format!(
                    "`{id}` has neither a [[trigger.http]] route nor a subscription: nothing would run it"
                )));
            }
            if !contents.sources.contains_key(id) {
                return Err(SwapError::Refused(format!("no source uploaded for `{id}`")));
            }
            check_grants(&inner.manifest, &manifest, id).map_err(|e| SwapError::Refused(format!("`{id}`: {e:#}")))?;
        }
        let brand = brand_data(&manifest, &digest)?;
        let package = Arc::new(Package { manifest, digest: Some(digest.clone()) });
        // Cheap checks first: a route collision is refused before compiling.
        let planned = ids
            .iter()
            .map(|id| Ok((id.clone(), routes_of(&package.manifest, id)?)))
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(SwapError::refused)?;
        check_routes(&inner.table.load(), &planned)?;

        let mut steps = Vec::new();
        let mut prepare_ms = HashMap::new();
        for id in &ids {
            let started = std::time::Instant::now();
            let bytes = std::fs::read(inner.versions.blob_path(&contents.sources[id]))
                .with_context(|| format!("reading the source of `{id}`"))
                .map_err(SwapError::failed)?;
            let component = prepare(
                &inner.runtime,
                &inner.options,
                &package,
                id,
                bytes::Bytes::from(bytes),
                contents.sources[id].clone(),
            )
            .await
            .map_err(|e| SwapError::Refused(format!("`{id}` cannot be deployed: {e:#}")))?;
            prepare_ms.insert(id.clone(), started.elapsed().as_millis() as u64);
            let to = entry(&component, Origin::Deploy);
            steps.push(Step { id: id.clone(), to: Some((component, to)) });
        }
        if let Some(cluster) = &inner.options.cluster {
            cluster.share_package(&inner.versions, &digest).await.map_err(SwapError::failed)?;
        }
        let mut switched = inner.cutover(steps).await?;
        for done in &mut switched {
            done.prepare_ms = prepare_ms.get(&done.component).copied().unwrap_or_default();
        }
        if let Some(onboarded) = brand {
            inner.announce(types::BRAND_ONBOARDED, &onboarded.brand.to_string(), &onboarded).await?;
        }
        Ok(switched)
    }

    /// Back to `to` (a version or a prefix of one), or to the version
    /// before the current one. Compiled versions are kept: nothing compiles.
    pub async fn rollback(&self, id: &str, to: Option<&str>) -> Result<Switched, SwapError> {
        let inner = &self.inner;
        if !inner.options.serves(id) {
            return Err(SwapError::NotFound(format!("this host does not serve `{id}` (`up --components`)")));
        }
        let current = inner.component(id);
        let record = inner.versions.record(id);
        let history = record.as_ref().map(|r| r.history.clone()).unwrap_or_default();
        let current_version = current.as_ref().map(|c| c.pre.digest.clone());
        let target = match to {
            Some(wanted) => {
                let found: Vec<&Entry> = history.iter().rev().filter(|e| e.version.starts_with(wanted)).collect();
                match found.first() {
                    _ if wanted.len() < 4 => {
                        return Err(SwapError::Refused("name a version by at least 4 of its characters".into()));
                    }
                    None => return Err(SwapError::NotFound(format!("`{id}` has no version {wanted} in its history"))),
                    Some(entry) if found.iter().any(|e| e.version != entry.version) => {
                        return Err(SwapError::Refused(format!("{wanted} names several versions of `{id}`")));
                    }
                    Some(entry) => (*entry).clone(),
                }
            }
            None => {
                let mut older = history.iter().rev().skip_while(|e| Some(&e.version) != current_version.as_ref());
                let _current = older.next();
                match older.find(|e| Some(&e.version) != current_version.as_ref()) {
                    Some(entry) => entry.clone(),
                    None => return Err(SwapError::NotFound(format!("`{id}` has no earlier version to roll back to"))),
                }
            }
        };
        let component = inner.revive(id, &target).await?;
        if let Some(cluster) = &inner.options.cluster {
            let shared = async {
                if let Some(package) = &target.package {
                    cluster.share_package(&inner.versions, package).await?;
                }
                cluster.share_blob(&inner.versions, &target.version).await
            };
            shared.await.map_err(SwapError::failed)?;
        }
        let mut back = entry(&component, Origin::Rollback);
        back.package = target.package.clone();
        let mut switched = inner.cutover(vec![Step { id: id.to_string(), to: Some((component, back)) }]).await?;
        Ok(switched.remove(0))
    }

    /// Unsubscribes `id` and takes its routes out; in-flight events finish,
    /// queued ones wait for a later deploy, its history stays.
    pub async fn remove(&self, id: &str) -> Result<String, SwapError> {
        let inner = &self.inner;
        let Some(current) = inner.component(id) else {
            return Err(SwapError::NotFound(format!("`{id}` is not running")));
        };
        inner.cutover(vec![Step { id: id.to_string(), to: None }]).await?;
        // Only a deployed package brings a brand, so only its removal takes one away.
        let brand = current.package.manifest.app_tool().ok().and_then(|t| t.brand);
        if let Some(brand) = brand.filter(|_| current.package.digest.is_some()) {
            let removed = BrandRemoved { brand: brand.name.as_str().into(), whatsapp_number: brand.whatsapp_number };
            inner.announce(types::BRAND_REMOVED, &brand.name, &removed).await?;
        }
        Ok(current.pre.digest.clone())
    }

    /// Every component this host knows: running, or removed with a history.
    pub fn list(&self) -> Vec<ComponentInfo> {
        let table = self.inner.table.load();
        let records = self.inner.versions.records();
        let mut ids: Vec<String> = table.components.keys().cloned().chain(records.keys().cloned()).collect();
        ids.sort();
        ids.dedup();
        ids.iter().map(|id| self.info_of(id, &table, records.get(id), false)).collect()
    }

    /// One component with its version history.
    pub fn info(&self, id: &str) -> Option<ComponentInfo> {
        let table = self.inner.table.load();
        let record = self.inner.versions.record(id);
        if !table.components.contains_key(id) && record.is_none() {
            return None;
        }
        Some(self.info_of(id, &table, record.as_ref(), true))
    }

    fn info_of(&self, id: &str, table: &Table, record: Option<&crate::deploy::Record>, history: bool) -> ComponentInfo {
        let running = table.components.get(id);
        let version = running.map(|c| c.pre.digest.clone());
        let origin = record.and_then(|r| r.current.as_ref()).map(|e| e.origin).unwrap_or(Origin::Manifest);
        let mut entries = record.map(|r| r.history.clone()).unwrap_or_default();
        if entries.is_empty() {
            if let Some(component) = running {
                entries.push(entry(component, Origin::Manifest));
            }
        }
        ComponentInfo {
            component: id.to_string(),
            version: version.clone(),
            state: if running.is_some() { ComponentState::Running } else { ComponentState::Removed },
            since: running.map(|c| c.since),
            origin,
            replicas: self.inner.replicas_of(id, version),
            history: history.then_some(entries),
        }
    }
}

impl AppInner {
    /// Switches `steps` on this host and, with several replicas, on every
    /// live one (`crate::cluster`): all prepare first, or nothing changes.
    async fn cutover(self: &Arc<Self>, steps: Vec<Step>) -> Result<Vec<Switched>, SwapError> {
        let started = std::time::Instant::now();
        let changes: Vec<Change> = steps
            .iter()
            .map(|s| Change { component: s.id.clone(), to: s.to.as_ref().map(|(_, e)| e.clone()) })
            .collect();
        let one_at_a_time = self.swapping.lock().await;
        let planned: Vec<_> =
            steps.iter().filter_map(|s| s.to.as_ref().map(|(c, _)| (s.id.clone(), c.routes.clone()))).collect();
        check_routes(&self.table.load(), &planned)?;
        let prepared = match &self.options.cluster {
            Some(cluster) => Some(cluster.prepare(changes).await.map_err(SwapError::Failed)?),
            None => None,
        };
        let mut switched = Vec::new();
        for step in steps {
            let previous = self.component(&step.id);
            let version = match self.commit(&step, true).await {
                Ok(version) => version,
                Err(error) => {
                    let reason = format!("{error:#}");
                    // Nothing switched on the others: they forget it, and
                    // the cluster's lock is let go at once.
                    return Err(SwapError::Failed(match (prepared, &self.options.cluster) {
                        (Some(prepared), Some(cluster)) => cluster.abandon(prepared, reason).await,
                        _ => reason,
                    }));
                }
            };
            switched.push(Switched {
                component: step.id,
                version: version.unwrap_or_default(),
                previous: previous.map(|p| p.pre.digest.clone()),
                prepare_ms: 0,
                switch_ms: 0,
                replicas: Vec::new(),
            });
        }
        drop(one_at_a_time);
        let confirmed = match (prepared, &self.options.cluster) {
            (Some(prepared), Some(cluster)) => {
                if let Err(error) = cluster.share_state(&self.versions).await {
                    tracing::warn!(error = %format!("{error:#}"), "cannot share the deploy state: replicas started later will not see it");
                }
                cluster.commit(prepared).await
            }
            _ => Vec::new(),
        };
        let me = self.replica();
        for done in &mut switched {
            done.switch_ms = started.elapsed().as_millis() as u64;
            let version = Some(done.version.clone()).filter(|v| !v.is_empty());
            done.replicas.push(Replica { host: me.clone(), version });
            for replica in &confirmed {
                let version = replica.versions.as_ref().and_then(|v| v.get(&done.component).cloned().flatten());
                done.replicas.push(Replica { host: replica.replica.clone(), version });
            }
        }
        Ok(switched)
    }

    /// One step on this host; `record`: the coordinator writes the history
    /// (the others take the shared one). The version now serving, if any.
    async fn commit(self: &Arc<Self>, step: &Step, record: bool) -> anyhow::Result<Option<String>> {
        let committed = self.switch_step(step, record).await;
        let mut failed = self.failed.lock().unwrap();
        match &committed {
            Ok(_) => failed.remove(&step.id),
            Err(error) => failed.insert(step.id.clone(), format!("{error:#}")),
        };
        committed
    }

    async fn switch_step(self: &Arc<Self>, step: &Step, record: bool) -> anyhow::Result<Option<String>> {
        let previous = self.component(&step.id);
        match &step.to {
            Some((component, entry)) => {
                let component = self.fresh(component);
                self.switch(&step.id, Some(component.clone())).await?;
                self.remember(&component);
                if record {
                    self.versions.switched(&step.id, entry.clone(), previous.as_deref().and_then(manifest_entry))?;
                }
                tracing::info!(
                    component = %step.id,
                    version = &component.pre.digest[..12],
                    previous = previous.as_ref().map(|p| &p.pre.digest[..12]),
                    origin = ?entry.origin,
                    "switched"
                );
                Ok(Some(component.pre.digest.clone()))
            }
            None => {
                let Some(current) = previous else { return Ok(None) };
                self.switch(&step.id, None).await?;
                if record {
                    self.versions.removed(&step.id, manifest_entry(&current))?;
                }
                tracing::info!(component = %step.id, version = &current.pre.digest[..12], "removed");
                Ok(None)
            }
        }
    }

    /// A prepared version with its serving time set to now.
    fn fresh(&self, component: &Arc<Component>) -> Arc<Component> {
        Arc::new(Component {
            pre: component.pre.clone(),
            scope: component.scope.clone(),
            package: component.package.clone(),
            subscription: component.subscription.clone(),
            routes: component.routes.clone(),
            since: Utc::now(),
        })
    }

    /// This host's name among the replicas.
    fn replica(&self) -> String {
        match &self.options.cluster {
            Some(cluster) => cluster.replica.clone(),
            None => host_name(),
        }
    }

    /// Which version of `id` each replica runs: this one now, the others
    /// as their last heartbeat said.
    fn replicas_of(&self, id: &str, version: Option<String>) -> Vec<Replica> {
        let me = self.replica();
        let mut replicas = vec![Replica { host: me.clone(), version }];
        if let Some(cluster) = &self.options.cluster {
            for beat in cluster.last_beats().into_iter().filter(|b| b.replica != me) {
                replicas.push(Replica { version: beat.versions.get(id).cloned(), host: beat.replica });
            }
        }
        replicas
    }

    /// Answers what other replicas' coordinators ask of this one, and says
    /// every [`HEARTBEAT`](crate::cluster::HEARTBEAT) that it is alive.
    pub(crate) fn follow(self: &Arc<Self>, cluster: Arc<Cluster>, mut commands: mpsc::UnboundedReceiver<Control>) {
        let inner = self.clone();
        tokio::spawn(async move {
            while let Some(command) = commands.recv().await {
                let inner = inner.clone();
                let cluster = cluster.clone();
                match command {
                    Control::Prepare { cutover, from, changes } => {
                        tokio::spawn(async move {
                            tracing::info!(%cutover, coordinator = %from, changes = changes.len(), "preparing a cutover");
                            let reply = match inner.prepare_changes(&cluster, &changes).await {
                                Ok(steps) => {
                                    inner.pending.lock().unwrap().insert(cutover.clone(), steps);
                                    // A cutover whose coordinator went silent is forgotten.
                                    let (forget, id, after) = (inner.clone(), cutover.clone(), cluster.timeout * 3);
                                    tokio::spawn(async move {
                                        tokio::time::sleep(after).await;
                                        forget.pending.lock().unwrap().remove(&id);
                                    });
                                    Control::Ready { cutover, replica: cluster.replica.clone() }
                                }
                                Err(error) => {
                                    tracing::warn!(%cutover, error = %error, "refusing a cutover");
                                    Control::Refused {
                                        cutover,
                                        replica: cluster.replica.clone(),
                                        reason: error.to_string(),
                                    }
                                }
                            };
                            cluster.reply(reply).await;
                        });
                    }
                    Control::Commit { cutover, .. } => {
                        let Some(steps) = inner.pending.lock().unwrap().remove(&cutover) else { continue };
                        tokio::spawn(async move {
                            let mut versions = std::collections::BTreeMap::new();
                            {
                                let _one_at_a_time = inner.swapping.lock().await;
                                for step in &steps {
                                    match inner.commit(step, false).await {
                                        Ok(version) => {
                                            versions.insert(step.id.clone(), version);
                                        }
                                        Err(error) => {
                                            tracing::error!(component = %step.id, error = %format!("{error:#}"), "cannot switch")
                                        }
                                    }
                                }
                            }
                            if let Err(error) = cluster.restore(&inner.versions).await {
                                tracing::warn!(error = %format!("{error:#}"), "cannot take the shared deploy state");
                            }
                            cluster
                                .reply(Control::Switched { cutover, replica: cluster.replica.clone(), versions })
                                .await;
                        });
                    }
                    Control::Abort { cutover, reason, .. } => {
                        if inner.pending.lock().unwrap().remove(&cutover).is_some() {
                            tracing::info!(%cutover, reason = %reason, "cutover aborted: nothing switched");
                        }
                    }
                    _ => {}
                }
            }
        });
        let inner = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::cluster::HEARTBEAT);
            loop {
                tick.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                let Some(cluster) = inner.options.cluster.clone() else { return };
                let versions =
                    inner.table.load().components.iter().map(|(id, c)| (id.clone(), c.pre.digest.clone())).collect();
                drop(inner);
                if let Err(error) = cluster.beat(versions).await {
                    tracing::warn!(error = %format!("{error:#}"), "cannot tell the other replicas this one is alive");
                }
            }
        });
    }

    /// Phase one on a replica that did not take the deploy: the files, the
    /// compile (or the kept version), the routes against this table.
    async fn prepare_changes(self: &Arc<Self>, cluster: &Cluster, changes: &[Change]) -> Result<Vec<Step>, SwapError> {
        let mut steps = Vec::new();
        // A replica serving other agents (`up --components`) takes part
        // without switching anything.
        for change in changes.iter().filter(|c| self.options.serves(&c.component)) {
            let Some(entry) = &change.to else {
                steps.push(Step { id: change.component.clone(), to: None });
                continue;
            };
            cluster
                .fetch_for(&self.versions, entry)
                .await
                .map_err(|e| SwapError::Failed(format!("`{}`: {e:#}", change.component)))?;
            let component = self.revive(&change.component, entry).await?;
            steps.push(Step { id: change.component.clone(), to: Some((component, entry.clone())) });
        }
        let planned: Vec<_> =
            steps.iter().filter_map(|s| s.to.as_ref().map(|(c, _)| (s.id.clone(), c.routes.clone()))).collect();
        check_routes(&self.table.load(), &planned)?;
        Ok(steps)
    }

    /// One component in or out: the table swaps in one step, then the
    /// broker follows (a removed one is unsubscribed first, so that what
    /// it had taken finishes while it is still there).
    async fn switch(self: &Arc<Self>, id: &str, component: Option<Arc<Component>>) -> anyhow::Result<()> {
        let before = self.component(id);
        if component.is_none() && before.as_ref().and_then(|c| c.subscription.as_ref()).is_some() {
            self.broker.unsubscribe(id).await?;
        }
        let mut components: HashMap<String, Arc<Component>> = self.table.load().components.clone();
        match &component {
            Some(component) => components.insert(id.to_string(), component.clone()),
            None => components.remove(id),
        };
        self.table.store(Arc::new(Table::new(components)));
        if let Some(component) = &component {
            match (&component.subscription, before.as_ref().and_then(|b| b.subscription.as_ref())) {
                (Some(subscription), _) => self.subscribe(subscription.clone()).await?,
                (None, Some(_)) => self.broker.unsubscribe(id).await?,
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Keeps a prepared version for an instant rollback.
    fn remember(&self, component: &Arc<Component>) {
        let key = (component.pre.id.to_string(), component.pre.digest.clone());
        self.prepared.lock().unwrap().insert(key, component.clone());
    }

    /// A kept version, ready to serve again: from memory when this process
    /// prepared it, else from its package (the compile cache makes that
    /// cheap).
    async fn revive(self: &Arc<Self>, id: &str, entry: &Entry) -> Result<Arc<Component>, SwapError> {
        let kept = self.prepared.lock().unwrap().get(&(id.to_string(), entry.version.clone())).cloned();
        let component = match kept {
            Some(kept) => kept,
            None => {
                let (package, bytes) = self.package_of(id, entry).map_err(SwapError::failed)?;
                prepare(&self.runtime, &self.options, &package, id, bytes::Bytes::from(bytes), entry.version.clone())
                    .await
                    .map_err(SwapError::failed)?
            }
        };
        self.remember(&component);
        Ok(component)
    }

    fn package_of(&self, id: &str, entry: &Entry) -> anyhow::Result<(Arc<Package>, Vec<u8>)> {
        let (manifest, digest) = match &entry.package {
            Some(digest) => (self.versions.package(digest)?.0, Some(digest.clone())),
            None => (self.manifest.clone(), None),
        };
        let bytes = std::fs::read(self.versions.blob_path(&entry.version))
            .with_context(|| format!("version {} of `{id}` is not kept", &entry.version[..12]))?;
        Ok((Arc::new(Package { manifest, digest }), bytes))
    }

    /// At start: what the data directory says serves, over the manifest.
    pub(crate) async fn restore_deploys(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut components = self.table.load().components.clone();
        for (id, record) in self.versions.records() {
            if !self.options.serves(&id) {
                continue;
            }
            if record.state == ComponentState::Removed {
                components.remove(&id);
                tracing::info!(component = %id, "removed by a deploy: not started");
                continue;
            }
            let Some(entry) = record.current else { continue };
            if components.get(&id).is_some_and(|c| c.pre.digest == entry.version) {
                continue;
            }
            let (package, bytes) = self.package_of(&id, &entry).with_context(|| {
                format!("restoring the deployed version of `{id}` (`agent-store up --reset-deploys` starts from the manifest)")
            })?;
            let component =
                prepare(&self.runtime, &self.options, &package, &id, bytes::Bytes::from(bytes), entry.version.clone())
                    .await
                    .with_context(|| format!("restoring the deployed version of `{id}`"))?;
            tracing::info!(component = %id, version = &entry.version[..12], "deployed version restored");
            self.remember(&component);
            components.insert(id, component);
        }
        for component in components.values() {
            self.remember(component);
        }
        self.table.store(Arc::new(Table::new(components)));
        Ok(())
    }

    /// Publishes an event of the host's own, as the start of a chain.
    async fn announce<T: Serialize>(&self, ty: &str, brand: &str, data: &T) -> Result<(), SwapError> {
        let data = serde_json::to_value(data).map_err(|e| SwapError::Failed(e.to_string()))?;
        let mut event = EventBuilderV10::new()
            .id(uuid::Uuid::new_v4().to_string())
            .source(format!("{}/host", agent_store_events::SOURCE_PREFIX))
            .ty(ty)
            .time(Utc::now())
            .extension(agent_store_events::ext::BRAND, brand)
            .data(agent_store_events::DATA_CONTENT_TYPE, data)
            .build()
            .map_err(|e| SwapError::Failed(e.to_string()))?;
        trace::stamp_external(&mut event);
        // Who here takes the announcement in, watched from before it goes
        // out: a deploy that returned while the catalog had not yet learned
        // the brand left its first customer with "nothing found".
        let mut waiting: Vec<String> = self
            .table
            .load()
            .components
            .values()
            .filter(|c| c.subscription.as_ref().is_some_and(|s| s.matches(&event)))
            .map(|c| c.pre.id.to_string())
            .collect();
        let mut tap = self.tap.subscribe();
        let id = event.id().to_string();
        self.publish(&[event], &crate::metrics::metrics().known.host()).await.map_err(|e| {
            SwapError::Failed(format!("switched, but announcing {ty} failed: {e}; deploy again to announce it"))
        })?;
        let settled = async {
            while !waiting.is_empty() {
                match tap.recv().await {
                    Ok(record) if record.event.id() == id => {
                        if matches!(record.kind, TapKind::Delivered | TapKind::Rejected)
                            && let Some(component) = &record.component
                        {
                            waiting.retain(|c| c != component);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        };
        if tokio::time::timeout(ANNOUNCED_WITHIN, settled).await.is_err() {
            tracing::warn!(
                event_type = ty,
                brand,
                components = ?waiting,
                "the announcement is not handled yet by every subscriber here; it stays queued for them"
            );
        }
        Ok(())
    }
}

/// How long a deploy waits for this host's components to take in the
/// brand it announces before it answers anyway.
const ANNOUNCED_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

/// A route that another component serves, or one of the host's own paths,
/// is refused.
fn check_routes(table: &Table, planned: &[(String, Vec<super::HttpRoute>)]) -> Result<(), SwapError> {
    let ids: Vec<&str> = planned.iter().map(|(id, _)| id.as_str()).collect();
    for (id, routes) in planned {
        for route in routes {
            let path = route.pattern.as_str();
            let base = path.trim_end_matches("/...");
            if RESERVED_PREFIXES
                .iter()
                .any(|p| base == *p || base.starts_with(&format!("{p}/")) || base.is_empty() || base == "/")
            {
                return Err(SwapError::Conflict(format!(
                    "`{id}` asks for route `{path}`, which takes the host's own paths ({})",
                    RESERVED_PREFIXES.join(", ")
                )));
            }
            if let Some(taken) =
                table.routes.iter().find(|r| r.pattern.as_str() == path && !ids.contains(&r.component.as_str()))
            {
                return Err(SwapError::Conflict(format!(
                    "`{id}` asks for route `{path}`, which `{}` serves: remove it or change the route",
                    taken.component
                )));
            }
        }
    }
    Ok(())
}

/// A deployed component gets no more than the host would give it: its own
/// key-value store (or the ones the host's manifest gives that component),
/// no secret the host's manifest keeps from it, no file outside its
/// package, and, in a brand's package, only that brand's events.
fn check_grants(
    host: &agent_store_manifest::Manifest,
    package: &agent_store_manifest::Manifest,
    id: &str,
) -> anyhow::Result<()> {
    use agent_store_manifest::{FileMount, template_references};
    let entry = &package.component[id];
    let granted = host.component.get(id);
    for label in &entry.key_value_stores {
        let own = label == id || granted.is_some_and(|g| g.key_value_stores.contains(label));
        if !own {
            anyhow::bail!(
                "key_value_stores: `{label}` is not this component's store (a deployed component opens `{id}` \
                 or the stores the store's manifest gives `{id}`)"
            );
        }
    }
    let mut references = Vec::new();
    for template in entry.variables.values().chain(&entry.allowed_outbound_hosts) {
        references.extend(template_references(template)?);
    }
    let granted_references: Vec<String> = granted
        .map(|g| {
            g.variables
                .values()
                .chain(&g.allowed_outbound_hosts)
                .flat_map(|t| template_references(t).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    for name in references {
        let secret = host.variables.get(&name).is_some_and(|v| v.secret);
        if secret && !granted_references.contains(&name) {
            anyhow::bail!("variables: `{name}` is one of the store's secrets, which this component is not given");
        }
    }
    for mount in &entry.files {
        let source = match mount {
            FileMount::Pattern(pattern) => pattern,
            FileMount::Placement { source, .. } => source,
        };
        crate::deploy::check_relative(source).context("files")?;
    }
    if let Some(brand) = package.app_tool()?.brand {
        let tool = package.tool(id)?;
        if let Some(filter) = tool.subscribe.iter().find(|s| s.attributes.get("brand") != Some(&brand.name)) {
            anyhow::bail!(
                "subscribes to `{}` without brand = \"{}\": a brand's package receives its own brand's events only",
                filter.event_type,
                brand.name
            );
        }
    }
    Ok(())
}

/// What the brand table of a package announces, read from its files.
fn brand_data(manifest: &agent_store_manifest::Manifest, digest: &str) -> Result<Option<BrandOnboarded>, SwapError> {
    let Some(brand) = manifest.app_tool().map_err(SwapError::refused)?.brand else { return Ok(None) };
    let read = |path: &str| {
        std::fs::read_to_string(manifest.root.join(path))
            .map_err(|e| SwapError::Refused(format!("the brand's `{path}` was not uploaded with the package: {e}")))
    };
    let catalog: serde_json::Value = serde_json::from_str(&read(&brand.catalog)?)
        .map_err(|e| SwapError::Refused(format!("the brand's `{}` is not JSON: {e}", brand.catalog)))?;
    Ok(Some(BrandOnboarded {
        brand: brand.name.as_str().into(),
        whatsapp_number: brand.whatsapp_number.clone(),
        catalog,
        persona: read(&brand.persona)?,
        version: digest.to_string(),
    }))
}

fn entry(component: &Component, origin: Origin) -> Entry {
    Entry {
        version: component.pre.digest.clone(),
        package: component.package.digest.clone(),
        at: component.since,
        origin,
    }
}

/// The history entry of a version that came from the host's manifest.
fn manifest_entry(component: &Component) -> Option<Entry> {
    component.package.digest.is_none().then(|| entry(component, Origin::Manifest))
}

pub(crate) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .unwrap_or_else(|| "localhost".into())
}
