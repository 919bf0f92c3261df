//! Everything one invocation owns: the data of its wasmtime `Store`.
//!
//! A store lives for one event or one request and is dropped with it, so
//! nothing a guest does can leak into the next invocation.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::key_value::{KeyValueCtx, KeyValueView};
use crate::capabilities::llm::LlmCtx;
use crate::capabilities::outbound_http::OutboundHooks;
use crate::capabilities::variables::ComponentVariables;

pub(crate) struct InvocationState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    pub(crate) key_value: KeyValueCtx,
    pub(crate) variables: ComponentVariables,
    pub(crate) llm: LlmCtx,
    pub(crate) limiter: crate::component::Limiter,
}

impl InvocationState {
    pub(crate) fn key_value(&mut self) -> KeyValueView<'_> {
        KeyValueView::new(&mut self.key_value, &mut self.table)
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// What a guest prints, kept for the host's log line about the invocation.
/// Past `limit` bytes the rest is dropped rather than failing the guest.
#[derive(Clone, Default)]
pub struct GuestOutput {
    buffer: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl GuestOutput {
    /// Keeps up to `limit` bytes of what a guest prints.
    pub fn new(limit: usize) -> Self {
        Self { buffer: Arc::default(), limit }
    }

    /// What the guest printed, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).trim_end().to_string()
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let mut buffer = self.buffer.lock().unwrap();
        let room = self.limit.saturating_sub(buffer.len());
        buffer.extend_from_slice(&buf[..buf.len().min(room)]);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
