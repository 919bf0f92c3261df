//! Pre-initialization, the Wizer technique: a component that exports
//! `wizer-initialize` (the SDK's `export!(…, init: f)`) has it run once per
//! version, when the host loads it, and every later instance starts from a
//! snapshot of the memory it left. Work that each event would otherwise
//! redo in its fresh instance (the catalog reading and indexing its files)
//! is done once, and each event still gets an instance of its own.
//!
//! The snapshot depends on what `init` could see, so it is cached under the
//! component's version, its environment and the contents of its mounted
//! files: change a mounted file and the next load takes a new snapshot.
//! `init` sees the files and environment and nothing else: no key-value
//! store, outgoing HTTP, variables or models (what it would read there may
//! change while the snapshot lives on).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::cache::{self, Origin};
use crate::component::{CallContext, CallError, ComponentPre, new_store};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::state::{GuestOutput, InvocationState};
use crate::world;

/// The export a component initializes itself with.
pub const INIT_EXPORT: &str = "wizer-initialize";

/// Whether the component exports [`INIT_EXPORT`] itself (not one of the
/// components or modules nested in it).
pub fn exports_init(bytes: &[u8]) -> bool {
    use wasmparser::{Parser, Payload};
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => depth += 1,
            Ok(Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(Payload::ComponentExportSection(exports)) if depth == 0 => {
                if exports.into_iter().flatten().any(|e| e.name.0 == INIT_EXPORT) {
                    return true;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The cache key of a snapshot: the version and everything `init` can read.
fn snapshot_key(digest: &str, sandbox: &Sandbox) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(b"agent-store snapshot 1\0");
    hasher.update(digest.as_bytes());
    for (name, value) in &sandbox.environment {
        for part in [name, value] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    for (host, guest) in &sandbox.mounts {
        hasher.update((guest.len() as u64).to_le_bytes());
        hasher.update(guest.as_bytes());
        hash_tree(&mut hasher, host, host)?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every file under `path`, in a fixed order, with its place in the tree.
fn hash_tree(hasher: &mut Sha256, root: &Path, path: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", path.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            hash_tree(hasher, root, &path)?;
        } else {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            hasher.update((relative.len() as u64).to_le_bytes());
            hasher.update(relative.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
    }
    Ok(())
}

/// What `init` may use: the files and the environment, nothing granted.
fn init_sandbox(sandbox: &Sandbox) -> Sandbox {
    Sandbox {
        environment: sandbox.environment.clone(),
        mounts: sandbox.mounts.clone(),
        timeout: sandbox.timeout,
        memory_limit: sandbox.memory_limit,
        ..Sandbox::default()
    }
}

impl Runtime {
    /// [`Runtime::load`], and for a component that exports
    /// [`INIT_EXPORT`], its initialization run once and snapshotted (or the
    /// snapshot taken from the compile cache). The version stays the
    /// digest of `bytes`. A component whose `init` traps, runs out of time
    /// or memory is not loaded: it would fail the same way on every event.
    pub async fn load_initialized(
        self: Arc<Self>,
        id: &str,
        bytes: Vec<u8>,
        sandbox: Sandbox,
    ) -> Result<Arc<ComponentPre>> {
        let digest = cache::digest(&bytes);
        self.load_initialized_as(id, bytes, digest, sandbox).await
    }

    /// [`Runtime::load_initialized`] of `bytes` whose digest the caller
    /// computed already ([`cache::digest`]): hashing a seller's few MiB
    /// again was a fifth of a cold start.
    pub async fn load_initialized_as(
        self: Arc<Self>,
        id: &str,
        bytes: impl AsRef<[u8]> + Send + 'static,
        digest: String,
        sandbox: Sandbox,
    ) -> Result<Arc<ComponentPre>> {
        if !exports_init(bytes.as_ref()) {
            let id = id.to_string();
            return tokio::task::spawn_blocking(move || self.load_as(&id, bytes.as_ref(), digest, sandbox))
                .await
                .map_err(|e| Error::Wasmtime { id: "engine".into(), what: "loading", source: e.into() })?;
        }
        let failed =
            |what: &'static str| move |source: anyhow::Error| Error::Wasmtime { id: id.to_string(), what, source };
        world::check_bytes(bytes.as_ref()).map_err(|violation| Error::Invalid { id: id.to_string(), violation })?;
        let key = snapshot_key(&digest, &sandbox).map_err(failed("reading the files its init sees"))?;
        if let Some(component) = self.cache().lookup(self.engine(), &key) {
            return self.ready(id, digest, component, Origin::Cached, sandbox);
        }

        let started = std::time::Instant::now();
        let mut wizer = Wizer::new();
        // Its component export lifts the core function: dropping the core
        // export would leave the component invalid. Calling it again only
        // finds the work done.
        wizer.keep_init_func(true);
        let (cx, instrumented) = wizer
            .instrument_component(bytes.as_ref())
            .map_err(|e| failed("preparing its initialization")(anyhow!("{e:?}")))?;
        let engine = self.engine().clone();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &instrumented))
            .await
            .map_err(|e| failed("compiling")(e.into()))?
            .map_err(|e| failed("compiling")(anyhow!("{e:?}")))?;
        // Nothing of a component outside the platform world runs, init included.
        world::check(self.engine(), &component)
            .map_err(|violation| Error::Invalid { id: id.to_string(), violation })?;

        let output = GuestOutput::new(64 * 1024);
        let limits = init_sandbox(&sandbox);
        let (mut store, flags) = new_store(
            self.engine(),
            self.services(),
            &Arc::from(id),
            &limits,
            &CallContext::default(),
            &output,
            &Arc::new(AtomicU64::new(0)),
        )
        .map_err(failed("setting up its initialization"))?;
        let ran = async {
            let instance = self.linker().instantiate_async(&mut store, &component).await?;
            let init = instance.get_typed_func::<(), ()>(&mut store, INIT_EXPORT)?;
            init.call_async(&mut store, ()).await?;
            anyhow::Ok(instance)
        };
        let instance = match tokio::time::timeout(limits.timeout * 2, ran).await {
            Ok(Ok(instance)) => instance,
            Ok(Err(e)) => {
                let reason = match flags.classify(&limits, format!("{e:?}")) {
                    CallError::Trapped(error) => error,
                    limit => limit.to_string(),
                };
                let printed = output.text();
                let printed = if printed.is_empty() { String::new() } else { format!("; it printed: {printed}") };
                return Err(failed("running its wizer-initialize")(anyhow!("{reason}{printed}")));
            }
            Err(_) => return Err(failed("running its wizer-initialize")(CallError::TimedOut(limits.timeout).into())),
        };
        let mut access = Access { store: &mut store, instance, failed: None };
        let snapshot = wizer
            .snapshot_component(&cx, &mut access)
            .await
            .map_err(|e| failed("snapshotting its initialized state")(anyhow!("{e:?}")))?;
        if let Some(reason) = access.failed {
            return Err(failed("snapshotting its initialized state")(anyhow!(reason)));
        }
        drop(store);
        let runtime = self.clone();
        let (name, snapshot_key) = (id.to_string(), key.clone());
        let (component, origin) = tokio::task::spawn_blocking(move || {
            runtime.cache().load(runtime.engine(), &name, &snapshot, &snapshot_key)
        })
        .await
        .map_err(|e| failed("compiling its snapshot")(e.into()))??;
        tracing::info!(
            component = id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "initialized once and snapshotted (cached for the next start)"
        );
        self.ready(id, digest, component, origin, sandbox)
    }
}

/// Reads the instrumented instance's state for the snapshot. wasmtime-wizer's
/// trait has no way to fail, so the first failure is kept and reported
/// after.
struct Access<'a> {
    store: &'a mut Store<InvocationState>,
    instance: Instance,
    failed: Option<String>,
}

impl Access<'_> {
    async fn call<R: Lift + Send + Sync + 'static>(&mut self, instance: &str, func: &str) -> Option<R> {
        if self.failed.is_some() {
            return None;
        }
        let called = async {
            let (_, exported) = self
                .instance
                .get_export(&mut *self.store, None, instance)
                .with_context(|| format!("no export {instance}"))?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&exported), func)
                .with_context(|| format!("no export {instance}#{func}"))?;
            let func = self.instance.get_typed_func::<(), (R,)>(&mut *self.store, index)?;
            let (value,) = func.call_async(&mut *self.store, ()).await?;
            anyhow::Ok(value)
        };
        match called.await {
            Ok(value) => Some(value),
            Err(e) => {
                self.failed = Some(format!("{e:?}"));
                None
            }
        }
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(&mut self, instance: &str, func: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.call::<WasmList<u8>>(instance, func).await {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await.unwrap_or_default()
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await.unwrap_or_default()
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).await.unwrap_or_default().to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).await.unwrap_or_default().to_bits()
    }
}
