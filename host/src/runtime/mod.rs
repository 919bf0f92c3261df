//! The wasmtime side of the host: one engine and linker, a pre-instantiated
//! template per component version, and a fresh sandboxed store per event or
//! request, with memory and time limits.
//!
//! ```text
//!   bytes ──check_bytes──► compile (or load from the disk cache)
//!         ──world::check──► instantiate_pre ──► Template (ProxyPre)
//!   each call: Store{limits, epoch deadline, capabilities} ──► incoming-handler
//! ```

pub mod cache;
mod deliver;
mod state;
pub mod world;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, UpdateDeadline,
};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

pub use self::cache::{CompileCache, Origin};
pub use self::deliver::{Delivery, DeliveryError};
pub use self::state::GuestOutput;
use self::state::InvocationState;
use crate::capabilities::key_value::{self, KeyValueCtx, KeyValueStores};
use crate::capabilities::llm::{self, LlmCtx, Models};
use crate::capabilities::outbound_http::{AllowedHosts, InternalRequests, OutboundHooks};
use crate::capabilities::variables::{self, ComponentVariables};

/// How often the epoch advances: the granularity of time limits, and how
/// often a busy guest yields to other work on its thread.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances alive at once across all components; each costs only address
/// space until used.
const POOL_INSTANCES: u32 = 1000;

/// Memory the pool reserves per linear memory: the largest per-component
/// limit a manifest may ask for.
const POOL_MAX_MEMORY: usize = 1 << 30;

/// A request or response body larger than this is refused.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a guest may print per invocation before the rest is dropped.
const MAX_GUEST_OUTPUT: usize = 64 * 1024;

/// Tables (function references) a guest may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

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

/// Host services shared by every component.
pub struct Services {
    pub key_value: Arc<KeyValueStores>,
    pub models: Arc<Models>,
    /// Where `*.spin.internal` requests go; set once the application exists.
    pub internal: OnceLock<Weak<dyn InternalRequests>>,
}

impl Services {
    pub fn new(key_value: Arc<KeyValueStores>, models: Arc<Models>) -> Arc<Self> {
        Arc::new(Self { key_value, models, internal: OnceLock::new() })
    }
}

/// One component's sandbox, from its manifest entry.
#[derive(Clone)]
pub struct Sandbox {
    pub allowed_hosts: Arc<AllowedHosts>,
    pub key_value_stores: Arc<[String]>,
    pub variables: ComponentVariables,
    pub ai_models: Arc<[String]>,
    pub environment: Vec<(String, String)>,
    /// `(host directory, guest path)`, mounted read-only.
    pub mounts: Vec<(PathBuf, String)>,
    pub timeout: Duration,
    pub memory_limit: u64,
    pub concurrency: usize,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self {
            allowed_hosts: Arc::default(),
            key_value_stores: Arc::from(Vec::new()),
            variables: ComponentVariables::default(),
            ai_models: Arc::from(Vec::new()),
            environment: Vec::new(),
            mounts: Vec::new(),
            timeout: crate::manifest::DEFAULT_TIMEOUT,
            memory_limit: crate::manifest::DEFAULT_MEMORY_LIMIT_MB * 1024 * 1024,
            concurrency: crate::manifest::DEFAULT_CONCURRENCY,
        }
    }
}

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
    fn start(engine: &Engine) -> Result<Self> {
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

/// Linear memory kept resident per pool slot between instances.
const POOL_KEEP_RESIDENT: usize = 2 << 20;

impl Runtime {
    pub fn new(config: &RuntimeConfig, services: Arc<Services>) -> Result<Self> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        wasm.wasm_component_model(true);
        if config.pooling {
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
            // A fresh instance per event touches the same first pages every
            // time (a Rust guest's stack, data and early heap). Resetting
            // them with memset, only those dirtied (PAGEMAP_SCAN where the
            // kernel has it), costs less than giving them back with madvise
            // and faulting them in again on the next event: `cargo bench
            // --bench invoke` measures both. Resident memory stays bounded
            // by the slots in use at once, which the pool reuses per
            // component.
            pool.linear_memory_keep_resident(POOL_KEEP_RESIDENT);
            pool.table_keep_resident(64 << 10);
            pool.pagemap_scan(wasmtime::Enabled::Auto);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm).map_err(anyhow::Error::from).context("configuring wasmtime")?;

        let mut linker = Linker::new(&engine);
        add_platform_to_linker(&mut linker)?;

        let ticker = Arc::new(EpochTicker::start(&engine)?);
        let cache = Arc::new(CompileCache::new(&engine, config.cache_dir.clone()));
        Ok(Self { engine, linker, cache, services, _ticker: ticker })
    }

    /// Another runtime on the same engine, linker and cache with services of
    /// its own: what tests use to keep their state apart cheaply.
    pub fn new_sharing(base: &Runtime, services: Arc<Services>) -> Result<Self> {
        Ok(Self {
            engine: base.engine.clone(),
            linker: base.linker.clone(),
            cache: base.cache.clone(),
            services,
            _ticker: base._ticker.clone(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Validates, compiles (or loads from cache) and pre-instantiates a
    /// component. Every failure names the component and what is wrong.
    pub fn load(&self, id: &str, bytes: &[u8], sandbox: Sandbox) -> Result<Arc<Template>> {
        let what = || format!("component `{id}`");
        world::check_bytes(bytes).with_context(what)?;
        let digest = cache::digest(bytes);
        let (component, origin) = self.cache.load(&self.engine, id, bytes, &digest).with_context(what)?;
        world::check(&self.engine, &component).with_context(what)?;
        let pre = self.linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(what)?;
        let pre = ProxyPre::new(pre).map_err(anyhow::Error::from).with_context(what)?;
        Ok(Arc::new(Template {
            id: Arc::from(id),
            digest,
            origin,
            permits: Arc::new(Semaphore::new(sandbox.concurrency)),
            sandbox,
            pre,
            services: self.services.clone(),
            component,
        }))
    }
}

fn add_platform_to_linker(linker: &mut Linker<InvocationState>) -> Result<()> {
    use wasmtime_wasi::WasiView;
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, filesystem, random};
    use wasmtime_wasi::random::WasiRandom;

    type S = InvocationState;
    // Only the interfaces of the platform world: sockets in particular are
    // left out, so that the only way out of a component is outgoing HTTP.
    let l = &mut *linker;
    (|| -> wasmtime::Result<()> {
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
        Ok(())
    })()
    .map_err(anyhow::Error::from)?;
    key_value::add_to_linker(linker, InvocationState::key_value)?;
    variables::add_to_linker(linker, |s| &s.variables)?;
    llm::add_to_linker(linker, |s| &mut s.llm)?;
    Ok(())
}

/// A compiled, pre-linked component version, ready to serve: the instance
/// template every call instantiates from.
pub struct Template {
    pub id: Arc<str>,
    /// SHA-256 of the component's bytes: its version.
    pub digest: String,
    pub origin: Origin,
    pub sandbox: Sandbox,
    permits: Arc<Semaphore>,
    pre: ProxyPre<InvocationState>,
    services: Arc<Services>,
    component: Component,
}

/// Per-call context.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The brand of the event being handled, for accounting.
    pub brand: Option<String>,
}

/// Why a call did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    #[error("exceeded its memory limit of {} MiB", .0 / (1024 * 1024))]
    OutOfMemory(u64),
    #[error("trapped: {0}")]
    Trapped(String),
    #[error("failed to start: {0}")]
    Setup(String),
}

/// A buffered response and what the guest printed on the way.
#[derive(Debug)]
pub struct CallOutcome {
    pub result: Result<http::Response<Bytes>, CallError>,
    pub output: String,
    pub elapsed: Duration,
}

/// Enforces the memory limit and remembers that it did.
pub(crate) struct Limiter {
    memory_limit: u64,
    hit: Arc<AtomicBool>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_limit {
            self.hit.store(true, Ordering::Relaxed);
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} MiB exceeded",
                self.memory_limit / (1024 * 1024)
            )));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

struct Flags {
    timed_out: Arc<AtomicBool>,
    out_of_memory: Arc<AtomicBool>,
}

/// What became of the reply a guest was to send.
enum Reply {
    /// It set an error code instead of a response.
    Refused(String),
    /// It finished without setting one.
    Missing,
    /// Its body could not be read (too large, or broken off).
    Body(String),
}

impl Template {
    pub fn component(&self) -> &Component {
        &self.component
    }

    fn new_store(&self, ctx: &CallContext, output: &GuestOutput) -> Result<(Store<InvocationState>, Flags)> {
        let sandbox = &self.sandbox;
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output.clone()).stderr(output.clone());
        wasi.envs(&sandbox.environment);
        for (host, guest) in &sandbox.mounts {
            wasi.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("mounting {} at {guest}", host.display()))?;
        }
        let internal = self.services.internal.get().and_then(Weak::upgrade);
        let out_of_memory = Arc::new(AtomicBool::new(false));
        let state = InvocationState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks { component: self.id.clone(), allowed: sandbox.allowed_hosts.clone(), internal },
            key_value: KeyValueCtx::new(
                self.services.key_value.clone(),
                sandbox.key_value_stores.clone(),
                self.id.clone(),
            ),
            variables: sandbox.variables.clone(),
            llm: LlmCtx {
                models: self.services.models.clone(),
                allowed: sandbox.ai_models.clone(),
                component: self.id.clone(),
                brand: ctx.brand.clone(),
            },
            limiter: Limiter { memory_limit: sandbox.memory_limit, hit: out_of_memory.clone() },
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + sandbox.timeout;
        let flag = timed_out.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                flag.store(true, Ordering::Relaxed);
                return Err(wasmtime::Error::msg("the invocation's time limit was reached"));
            }
            // Give the thread back to other work every tick; the guest resumes
            // where it was.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok((store, Flags { timed_out, out_of_memory }))
    }

    /// Runs one HTTP request through the component's incoming handler.
    pub async fn call(&self, request: http::Request<Bytes>, ctx: &CallContext) -> CallOutcome {
        let started = Instant::now();
        let output = GuestOutput::new(MAX_GUEST_OUTPUT);
        let _permit = self.permits.acquire().await;
        let result = self.call_inner(request, ctx, &output).await;
        CallOutcome { result, output: output.text(), elapsed: started.elapsed() }
    }

    async fn call_inner(
        &self,
        request: http::Request<Bytes>,
        ctx: &CallContext,
        output: &GuestOutput,
    ) -> Result<http::Response<Bytes>, CallError> {
        let (mut store, flags) = self.new_store(ctx, output).map_err(|e| CallError::Setup(format!("{e:#}")))?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = request.map(Full::new);
        let setup = (|| {
            let req = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            wasmtime::Result::Ok((req, out))
        })();
        let (req, out) = setup.map_err(|e: wasmtime::Error| CallError::Setup(e.to_string()))?;
        let pre = self.pre.clone();
        // The guest runs in this task, not a spawned one: a delivery is
        // already on its own task, and handing the guest to another worker
        // thread cost a cross-thread wake-up per event (`cargo bench
        // --bench invoke`). The store, and with it the response sender,
        // drops when this future completes.
        let guest = async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        };

        let timeout = self.sandbox.timeout;
        let classify = |error: String| {
            if flags.timed_out.load(Ordering::Relaxed) {
                CallError::TimedOut(timeout)
            } else if flags.out_of_memory.load(Ordering::Relaxed) {
                CallError::OutOfMemory(self.sandbox.memory_limit)
            } else {
                CallError::Trapped(error)
            }
        };

        // Read the reply while the guest writes it.
        let reply = async {
            let response = match receiver.await {
                Ok(Ok(response)) => response,
                Ok(Err(code)) => return Err(Reply::Refused(format!("{code:?}"))),
                Err(_) => return Err(Reply::Missing),
            };
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY).collect().await.map_err(|e| Reply::Body(e.to_string()))?.to_bytes();
            Ok(http::Response::from_parts(parts, body))
        };
        let exchange = async {
            let (ran, reply) = tokio::join!(guest, reply);
            match (ran, reply) {
                (_, Err(Reply::Refused(code))) => Err(classify(format!("the component answered with error {code}"))),
                // A reply counts only if the component also finished cleanly.
                (Err(e), _) => Err(classify(format!("{e:?}"))),
                (Ok(()), Ok(response)) => Ok(response),
                (Ok(()), Err(Reply::Missing)) => {
                    Err(CallError::Trapped("the component returned without setting a response".into()))
                }
                (Ok(()), Err(Reply::Body(e))) => Err(classify(format!("reading the response body: {e}"))),
            }
        };
        // The epoch callback stops a busy guest; this also stops one that
        // waits forever on a host call.
        match tokio::time::timeout(timeout + EPOCH_TICK * 10, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::TimedOut(timeout)),
        }
    }
}
