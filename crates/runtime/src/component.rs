//! A compiled, pre-linked component version and its calls: each one in a
//! fresh store with the component's sandbox, a memory limit and an epoch
//! deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::bindings::fast_path::{self, FastPathIndices};
use crate::cache::Origin;
use crate::capabilities::key_value::KeyValueCtx;
use crate::capabilities::llm::LlmCtx;
use crate::capabilities::outbound_http::{InternalRequests, OutboundHooks};
use crate::engine::{EPOCH_TICK, Services};
use crate::sandbox::Sandbox;
use crate::state::{GuestOutput, InvocationState};

/// A request or response body larger than this is refused.
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a guest may print per invocation before the rest is dropped.
const MAX_GUEST_OUTPUT: usize = 64 * 1024;

/// Tables (function references) a guest may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// A compiled, pre-linked component version, ready to serve: what every
/// call instantiates from.
pub struct ComponentPre {
    /// The component id.
    pub id: Arc<str>,
    /// SHA-256 of the component's bytes: its version.
    pub digest: String,
    /// Compiled now or taken from the cache.
    pub origin: Origin,
    /// What each call may do.
    pub sandbox: Sandbox,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) pre: ProxyPre<InvocationState>,
    /// Where its direct `handler` export is, when it has one: events go
    /// there instead of through the HTTP export.
    pub(crate) direct: Option<FastPathIndices>,
    pub(crate) services: Arc<Services>,
    pub(crate) component: Component,
}

/// What one call brings besides its request.
#[derive(Clone, Default)]
pub struct CallContext {
    /// The brand of the event being handled, for accounting.
    pub brand: Option<String>,
    /// Where this call's requests to `*.spin.internal` go; without one they
    /// fail as unreachable.
    pub internal: Option<Arc<dyn InternalRequests>>,
    /// A delivery's transaction: the component's key-value writes are
    /// staged in it for the host to commit with the delivery's record.
    pub transaction: Option<Arc<crate::capabilities::key_value::staged::Transaction>>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("brand", &self.brand)
            .field("internal", &self.internal.is_some())
            .field("transaction", &self.transaction.is_some())
            .finish()
    }
}

/// Why a call did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// It ran past its time limit.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// It tried to grow its memory past its limit (bytes).
    #[error("exceeded its memory limit of {} MiB", .0 / (1024 * 1024))]
    OutOfMemory(u64),
    /// It trapped, or answered with an error code instead of a response.
    #[error("trapped: {0}")]
    Trapped(String),
    /// Its store could not be set up (a mount that went away).
    #[error("failed to start: {0}")]
    Setup(String),
}

/// A buffered response (or, for a direct call, the handler's answer) and
/// what the guest printed on the way.
#[derive(Debug)]
pub struct CallOutcome<T = http::Response<Bytes>> {
    /// The response, or why there is none.
    pub result: Result<T, CallError>,
    /// What the guest printed to stdout and stderr.
    pub output: String,
    /// Wall time of the call, waiting for a turn included.
    pub elapsed: Duration,
    /// Bytes of linear memory the instance had when it ended (every memory
    /// it created and grew).
    pub memory: u64,
}

/// Enforces the memory limit and remembers that it did, and how much the
/// instance took.
pub(crate) struct Limiter {
    memory_limit: u64,
    hit: Arc<AtomicBool>,
    taken: Arc<AtomicU64>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_limit {
            self.hit.store(true, Ordering::Relaxed);
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} MiB exceeded",
                self.memory_limit / (1024 * 1024)
            )));
        }
        // Called at a memory's creation too (from 0), so this adds up to
        // everything the instance holds.
        self.taken.fetch_add(desired.saturating_sub(current) as u64, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

pub(crate) struct Flags {
    timed_out: Arc<AtomicBool>,
    out_of_memory: Arc<AtomicBool>,
}

impl Flags {
    /// What stopped a guest that failed with `error`: its time or memory
    /// limit, which the store flagged, or a trap of its own.
    pub(crate) fn classify(&self, sandbox: &Sandbox, error: String) -> CallError {
        if self.timed_out.load(Ordering::Relaxed) {
            CallError::TimedOut(sandbox.timeout)
        } else if self.out_of_memory.load(Ordering::Relaxed) {
            CallError::OutOfMemory(sandbox.memory_limit)
        } else {
            CallError::Trapped(error)
        }
    }
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

impl ComponentPre {
    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.component
    }

    fn new_store(
        &self,
        ctx: &CallContext,
        output: &GuestOutput,
        memory: &Arc<AtomicU64>,
    ) -> Result<(Store<InvocationState>, Flags)> {
        new_store(self.pre.engine(), &self.services, &self.id, &self.sandbox, ctx, output, memory)
    }

    /// Whether events reach it through its direct `handler` export rather
    /// than over HTTP.
    pub fn has_direct_handler(&self) -> bool {
        self.direct.is_some()
    }

    /// A call in a fresh store, one turn of the component's concurrency,
    /// with what the guest printed and the memory it took.
    async fn measured<T, F>(
        &self,
        ctx: &CallContext,
        run: impl FnOnce(Store<InvocationState>, Flags) -> F,
    ) -> CallOutcome<T>
    where
        F: Future<Output = Result<T, CallError>>,
    {
        let started = Instant::now();
        let output = GuestOutput::new(MAX_GUEST_OUTPUT);
        let _permit = self.permits.acquire().await;
        let memory = Arc::new(AtomicU64::new(0));
        let result = match self.new_store(ctx, &output, &memory) {
            Ok((store, flags)) => run(store, flags).await,
            Err(e) => Err(CallError::Setup(format!("{e:#}"))),
        };
        CallOutcome {
            result,
            output: output.text(),
            elapsed: started.elapsed(),
            memory: memory.load(Ordering::Relaxed),
        }
    }

    /// Runs one HTTP request through the component's incoming handler.
    pub async fn call(&self, request: http::Request<Bytes>, ctx: &CallContext) -> CallOutcome {
        self.measured(ctx, |store, flags| self.call_inner(request, store, flags)).await
    }

    /// Runs one event through the component's direct `handler` export,
    /// found at `indices`.
    pub(crate) async fn call_direct(
        &self,
        indices: &FastPathIndices,
        event: &fast_path::Event,
        ctx: &CallContext,
    ) -> CallOutcome<Result<Vec<fast_path::Event>, fast_path::Error>> {
        self.measured(ctx, |mut store, flags| async move {
            // In this task, as `call` runs the guest, for the same reason.
            let run = async {
                let instance = self.pre.instance_pre().instantiate_async(&mut store).await?;
                let handler = indices.load(&mut store, &instance)?;
                handler.agent_store_platform_handler().call_handle(&mut store, event).await
            };
            match tokio::time::timeout(self.sandbox.timeout + EPOCH_TICK * 10, run).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(e)) => Err(flags.classify(&self.sandbox, format!("{e:?}"))),
                Err(_) => Err(CallError::TimedOut(self.sandbox.timeout)),
            }
        })
        .await
    }

    async fn call_inner(
        &self,
        request: http::Request<Bytes>,
        mut store: Store<InvocationState>,
        flags: Flags,
    ) -> Result<http::Response<Bytes>, CallError> {
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
        let classify = |error: String| flags.classify(&self.sandbox, error);

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

/// A store for one call of component `id`: its sandbox's files,
/// environment and grants, its memory limit and its deadline.
pub(crate) fn new_store(
    engine: &wasmtime::Engine,
    services: &Arc<Services>,
    id: &Arc<str>,
    sandbox: &Sandbox,
    ctx: &CallContext,
    output: &GuestOutput,
    memory: &Arc<AtomicU64>,
) -> Result<(Store<InvocationState>, Flags)> {
    let mut wasi = WasiCtx::builder();
    wasi.stdout(output.clone()).stderr(output.clone());
    wasi.envs(&sandbox.environment);
    for (host, guest) in &sandbox.mounts {
        wasi.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadOnly)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("mounting {} at {guest}", host.display()))?;
    }
    let internal = ctx.internal.clone();
    let out_of_memory = Arc::new(AtomicBool::new(false));
    let state = InvocationState {
        table: ResourceTable::new(),
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        hooks: OutboundHooks { component: id.clone(), allowed: sandbox.allowed_hosts.clone(), internal },
        key_value: KeyValueCtx::new(services.key_value.clone(), sandbox.key_value_stores.clone(), id.clone())
            .within(ctx.transaction.clone()),
        variables: sandbox.variables.clone(),
        llm: LlmCtx {
            models: services.models.clone(),
            allowed: sandbox.ai_models.clone(),
            component: id.clone(),
            brand: ctx.brand.clone(),
        },
        limiter: Limiter { memory_limit: sandbox.memory_limit, hit: out_of_memory.clone(), taken: memory.clone() },
    };
    let mut store = Store::new(engine, state);
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
