//! The one `bindgen!` over the platform world in `wit/`.
//!
//! It binds the `capabilities` world: Agent Store's own interfaces
//! (key-value, variables, config, LLM). The WASI interfaces of the
//! `platform` world come from wasmtime-wasi and wasmtime-wasi-http, and the
//! `wasi:http/incoming-handler` export is called through their `ProxyPre`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "agent-store:platform/capabilities",
    imports: { default: async | trappable },
    anyhow: true,
    with: {
        "fermyon:spin/key-value.store": crate::capabilities::key_value::SpinStore,
        "wasi:keyvalue/store.bucket": crate::capabilities::key_value::Bucket,
        "wasi:keyvalue/atomics.cas": crate::capabilities::key_value::Cas,
    },
    require_store_data_send: true,
});

/// The direct `agent-store:platform/handler` export: the host's fast path
/// for events, which components built with the SDK have beside their
/// wasi:http export.
pub(crate) mod fast_path {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "agent-store:platform/fast-path",
        exports: { default: async },
        anyhow: true,
    });

    pub(crate) use self::exports::agent_store::platform::handler::{Error, Event};
}
