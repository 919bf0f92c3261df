//! The one error type at the wasmtime boundary: what can stop a component
//! from loading, or the engine from starting.

/// Why the runtime could not start or a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a WebAssembly component, or the component steps
    /// outside the platform world (see [`crate::world`]).
    #[error("component `{id}` {violation}")]
    Invalid {
        /// The component id.
        id: String,
        /// What is wrong.
        violation: crate::world::Violation,
    },
    /// wasmtime refused the engine settings, the component's code or its
    /// imports.
    #[error("component `{id}`: {what}: {source}")]
    Wasmtime {
        /// The component id, or `engine` for the engine itself.
        id: String,
        /// What was being done.
        what: &'static str,
        /// wasmtime's own error.
        #[source]
        source: anyhow::Error,
    },
}

impl Error {
    pub(crate) fn wasmtime<'a>(id: &'a str, what: &'static str) -> impl FnOnce(wasmtime::Error) -> Self + 'a {
        move |source| Self::Wasmtime { id: id.to_string(), what, source: source.into() }
    }
}

/// A result of the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;
