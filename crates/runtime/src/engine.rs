//! One wasmtime engine and linker for every component: the pooling
//! allocator, epoch interruption, the platform world's imports, and the
//! compile cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::fast_path::FastPathIndices;
use crate::cache::{self, CompileCache};
use crate::capabilities::key_value::{self, KeyValueStores};
use crate::capabilities::llm::{self, Models};
use crate::capabilities::variables;
use crate::component::ComponentPre;
use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::state::InvocationState;
use crate::world;

/// How often the epoch advances: the granularity of time limits, and how
/// often a busy guest yields to other work on its thread.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances alive at once across all components; each costs only address
/// space until used.
const POOL_INSTANCES: u32 = 1000;

/// Memory the pool reserves per linear memory: the largest per-component
/// limit a manifest may ask for.
const POOL_MAX_MEMORY: usize = 1 << 30;

/// Linear memory kept resident per pool slot between instances.
const POOL_KEEP_RESIDENT: usize = 2 << 20;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The pooling allocator: pre-reserved instance slots, the fast path.
    pub pooling: bool,
    /// Where compiled components are kept between runs; `None` compiles
    /// every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { pooling: true, cache_dir: None }
    }
}

/// Host services shared by every component: the backends behind the
/// capabilities.
pub struct Services {
    /// Every key-value store of the application.
    pub key_value: Arc<KeyValueStores>,
    /// The model backends of the LLM capability.
    pub models: Arc<Models>,
}

impl Services {
    /// Services over the given backends.
    pub fn new(key_value: Arc<KeyValueStores>, models: Arc<Models>) -> Arc<Self> {
        Arc::new(Self { key_value, models })
    }

    /// In-memory key-value stores and no models: tests and throwaway runs.
    pub fn in_memory() -> Arc<Self> {
        Self::new(Arc::new(KeyValueStores::memory()), Arc::new(Models::default()))
    }
}

/// The engine, the linker with every capability, and the compile cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<InvocationState>,
    cache: Arc<CompileCache>,
    services: Arc<Services>,
    _ticker: Arc<EpochTicker>,
}

/// Advances the engine's epoch until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(Self { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pooling_config() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES);
    pool.total_core_instances(POOL_INSTANCES * 4);
    pool.total_memories(POOL_INSTANCES * 2);
    pool.total_tables(POOL_INSTANCES * 4);
    pool.total_stacks(POOL_INSTANCES);
    pool.max_memory_size(POOL_MAX_MEMORY);
    pool.max_core_instances_per_component(64);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(16);
    // A fresh instance per event touches the same first pages every time (a
    // Rust guest's stack, data and early heap). Resetting them with memset,
    // only those dirtied (PAGEMAP_SCAN where the kernel has it), costs less
    // than giving them back with madvise and faulting them in again on the
    // next event: `cargo bench --bench invoke` measures both. Resident
    // memory stays bounded by the slots in use at once, which the pool
    // reuses per component.
    pool.linear_memory_keep_resident(POOL_KEEP_RESIDENT);
    pool.table_keep_resident(64 << 10);
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

impl Runtime {
    /// The engine and linker, and the epoch ticker that enforces time
    /// limits.
    pub fn new(config: &RuntimeConfig, services: Arc<Services>) -> Result<Self> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        wasm.wasm_component_model(true);
        if config.pooling {
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config()));
        }
        let engine = Engine::new(&wasm).map_err(Error::wasmtime("engine", "configuring wasmtime"))?;
        let mut linker = Linker::new(&engine);
        add_platform_to_linker(&mut linker).map_err(Error::wasmtime("engine", "linking the platform world"))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| Error::Wasmtime {
            id: "engine".into(),
            what: "starting the epoch ticker",
            source: e.into(),
        })?;
        let cache = Arc::new(CompileCache::new(&engine, config.cache_dir.clone()));
        Ok(Self { engine, linker, cache, services, _ticker: Arc::new(ticker) })
    }

    /// Another runtime on the same engine, linker and cache with services of
    /// its own: what tests use to keep their state apart cheaply.
    pub fn new_sharing(base: &Runtime, services: Arc<Services>) -> Self {
        Self {
            engine: base.engine.clone(),
            linker: base.linker.clone(),
            cache: base.cache.clone(),
            services,
            _ticker: base._ticker.clone(),
        }
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The backends behind the capabilities.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub(crate) fn cache(&self) -> &CompileCache {
        &self.cache
    }

    pub(crate) fn linker(&self) -> &Linker<InvocationState> {
        &self.linker
    }

    /// Validates, compiles (or loads from cache) and pre-instantiates a
    /// component. Every failure names the component and what is wrong.
    pub fn load(&self, id: &str, bytes: &[u8], sandbox: Sandbox) -> Result<Arc<ComponentPre>> {
        self.load_as(id, bytes, cache::digest(bytes), sandbox)
    }

    /// [`Runtime::load`] of `bytes` whose digest the caller computed
    /// already.
    pub fn load_as(&self, id: &str, bytes: &[u8], digest: String, sandbox: Sandbox) -> Result<Arc<ComponentPre>> {
        let invalid = |violation| Error::Invalid { id: id.to_string(), violation };
        world::check_bytes(bytes).map_err(invalid)?;
        let (component, origin) = self.cache.load(&self.engine, id, bytes, &digest)?;
        self.ready(id, digest, component, origin, sandbox)
    }

    /// A compiled component of version `digest`, checked and linked.
    pub(crate) fn ready(
        &self,
        id: &str,
        digest: String,
        component: wasmtime::component::Component,
        origin: cache::Origin,
        sandbox: Sandbox,
    ) -> Result<Arc<ComponentPre>> {
        let invalid = |violation| Error::Invalid { id: id.to_string(), violation };
        world::check(&self.engine, &component).map_err(invalid)?;
        let pre = self.linker.instantiate_pre(&component).map_err(Error::wasmtime(id, "linking its imports"))?;
        // A component that names the direct export must have it right: a
        // wrong signature is refused here, not found out per event.
        let direct = match world::check_handler(&self.engine, &component).map_err(invalid)? {
            false => None,
            true => Some(
                FastPathIndices::new(&pre)
                    .map_err(Error::wasmtime(id, "finding its agent-store:platform/handler export"))?,
            ),
        };
        let pre = ProxyPre::new(pre).map_err(Error::wasmtime(id, "finding its wasi:http export"))?;
        Ok(Arc::new(ComponentPre {
            id: Arc::from(id),
            digest,
            origin,
            permits: Arc::new(Semaphore::new(sandbox.concurrency)),
            sandbox,
            pre,
            direct,
            services: self.services.clone(),
            component,
        }))
    }
}

fn add_platform_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::WasiView;
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, filesystem, random};
    use wasmtime_wasi::random::WasiRandom;

    type S = InvocationState;
    // Only the interfaces of the platform world: sockets in particular are
    // left out, so that the only way out of a component is outgoing HTTP.
    let l = &mut *linker;
    // io, clocks, random, stdio
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(l)?;
    random::insecure::add_to_linker::<S, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<S, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::environment::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    cli::exit::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    cli::terminal_input::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    cli::terminal_output::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    cli::terminal_stdin::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    cli::terminal_stdout::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    cli::terminal_stderr::add_to_linker::<S, WasiCli>(l, <S as WasiCliView>::cli)?;
    filesystem::types::add_to_linker::<S, WasiFilesystem>(l, <S as WasiFilesystemView>::filesystem)?;
    filesystem::preopens::add_to_linker::<S, WasiFilesystem>(l, <S as WasiFilesystemView>::filesystem)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    key_value::add_to_linker(l, InvocationState::key_value)?;
    variables::add_to_linker(l, |s| &s.variables)?;
    llm::add_to_linker(l, |s| &mut s.llm)?;
    Ok(())
}
