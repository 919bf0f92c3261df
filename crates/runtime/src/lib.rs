//! The wasmtime side of Agent Store: one engine and linker over the
//! platform world (`wit/world.wit`), every capability a component may
//! import, and a pre-instantiated [`ComponentPre`] per component version
//! that runs each call in a fresh sandboxed store with memory and time
//! limits.
//!
//! ```text
//!   bytes ──world::check_bytes──► compile (or load from the disk cache)
//!         ──world::check──► instantiate_pre ──► ComponentPre (ProxyPre)
//!   each call: Store{limits, epoch deadline, capabilities} ──► incoming-handler
//! ```
//!
//! A component's sandbox comes from its manifest entry, so the host and the
//! component tests cannot disagree about what a component may do:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use agent_store_manifest::Manifest;
//! use agent_store_runtime::{CallContext, Runtime, RuntimeConfig, Sandbox, Services};
//! use agent_store_runtime::capabilities::variables::AppVariables;
//!
//! let manifest = Manifest::load("spin.toml".as_ref())?;
//! let variables = AppVariables::resolve(&manifest, |name| std::env::var(name).ok())?;
//! let sandbox = Sandbox::from_manifest(&manifest, "product-catalog", &variables, ".agent-store/files".as_ref())?;
//! let runtime = Runtime::new(&RuntimeConfig::default(), Services::in_memory())?;
//! let bytes = std::fs::read(manifest.source_path("product-catalog")?)?;
//! let catalog = runtime.load("product-catalog", &bytes, sandbox)?;
//! # let event: cloudevents::Event = unimplemented!();
//! let delivery = catalog.deliver(&event, &CallContext::default()).await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod bindings;
pub mod cache;
pub mod capabilities;
mod component;
mod deliver;
mod engine;
mod error;
pub mod init;
mod mounts;
mod sandbox;
mod state;
pub mod world;

pub use self::cache::{CompileCache, Origin};
pub use self::component::{CallContext, CallError, CallOutcome, ComponentPre};
pub use self::deliver::{Delivery, DeliveryError};
pub use self::engine::{Runtime, RuntimeConfig, Services};
pub use self::error::{Error, Result};
pub use self::sandbox::Sandbox;
pub use self::state::GuestOutput;
