//! The platform world check: a component may import only what
//! `wit/world.wit` lists and must export `wasi:http/incoming-handler`.
//!
//! The lists come from the world file itself (see `build.rs`). Versions
//! match the way WASI evolves: any `0.2.x` of a `0.2.y` interface, the exact
//! version for pre-releases such as `0.2.0-draft2`.

use wasmtime::Engine;
use wasmtime::component::Component;

include!(concat!(env!("OUT_DIR"), "/platform_world.rs"));

/// The export the host delivers events through when a component has it
/// (`interface handler` in `wit/world.wit`); the SDK's `export!` adds it.
pub const HANDLER_EXPORT: &str = "agent-store:platform/handler@0.1.0";

/// How a component steps outside the platform world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Not WebAssembly at all.
    #[error("is not a WebAssembly file")]
    NotWasm,
    /// A core module where a component was expected.
    #[error(
        "is a core WebAssembly module, not a component: build it for the wasm32-wasip2 target \
         (cargo build --target wasm32-wasip2 --release)"
    )]
    CoreModule,
    /// Imports the platform does not offer, each named.
    #[error(
        "imports {} which the platform world agent-store:platform does not offer \
         (see wit/world.wit for what a component may import)",
        .0.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    )]
    ForbiddenImports(Vec<String>),
    /// Lacks an export every component must have.
    #[error(
        "does not export `{0}`: an Agent Store component is a wasi:http component \
         (with spin-sdk, use agent_store_sdk::export! or #[http_component])"
    )]
    MissingExport(&'static str),
    /// Names the direct export with another type than the platform's.
    #[error(
        "exports `{HANDLER_EXPORT}` as {0}, not as wit/world.wit declares it: \
         build it with agent_store_sdk::export! (or leave the export out and take events over HTTP)"
    )]
    HandlerMismatch(String),
}

/// `wasi:cli/environment@0.2.6` → (`wasi:cli/environment`, `0.2.6`).
fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}

/// The part of a version that must agree for two versions to be compatible.
fn compatible_part(version: &str) -> String {
    if version.contains('-') {
        return version.to_string();
    }
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_string(),
        _ => version.to_string(),
    }
}

fn offered(name: &str, list: &[&str]) -> bool {
    let (interface, version) = split(name);
    list.iter().any(|allowed| {
        let (a_interface, a_version) = split(allowed);
        a_interface == interface
            && match (version, a_version) {
                (Some(v), Some(a)) => compatible_part(v) == compatible_part(a),
                (None, None) => true,
                _ => false,
            }
    })
}

/// Refuses a component that steps outside the platform world, naming every
/// offending import.
pub fn check(engine: &Engine, component: &Component) -> Result<(), Violation> {
    let ty = component.component_type();
    let forbidden: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !offered(name, PLATFORM_IMPORTS))
        .map(str::to_string)
        .collect();
    if !forbidden.is_empty() {
        return Err(Violation::ForbiddenImports(forbidden));
    }
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    for required in PLATFORM_EXPORTS {
        if !exports.iter().any(|e| offered(e, &[required])) {
            return Err(Violation::MissingExport(required));
        }
    }
    Ok(())
}

/// The type of `handle` in [`HANDLER_EXPORT`] as `wit/world.wit` declares
/// it, written as [`shape`] writes types.
const HANDLE_SHAPE: &str = "func(event: record { id: string, source: string, type: string, \
    subject: option<string>, time: option<string>, datacontenttype: option<string>, \
    dataschema: option<string>, extensions: list<tuple<string, string>>, data: option<list<u8>> }) \
    -> result<list<record { id: string, source: string, type: string, subject: option<string>, \
    time: option<string>, datacontenttype: option<string>, dataschema: option<string>, \
    extensions: list<tuple<string, string>>, data: option<list<u8>> }>, \
    variant { bad-event(string), failed(string) }>";

/// Whether a component has the direct export, refusing one that names it
/// with another type: bindings only find that out when an event arrives.
pub fn check_handler(engine: &Engine, component: &Component) -> Result<bool, Violation> {
    use wasmtime::component::types::ComponentItem;
    let Some((item, _)) = component.get_export(None, HANDLER_EXPORT) else {
        return Ok(false);
    };
    let found = match item {
        ComponentItem::ComponentInstance(instance) => match instance.get_export(engine, "handle").map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(func)) => {
                let params: Vec<String> = func.params().map(|(name, ty)| format!("{name}: {}", shape(&ty))).collect();
                let results: Vec<String> = func.results().map(|ty| shape(&ty)).collect();
                format!("func({}) -> {}", params.join(", "), results.join(", "))
            }
            Some(_) => "`handle` that is not a function".to_string(),
            None => "no `handle`".to_string(),
        },
        _ => "something that is not an instance".to_string(),
    };
    if found != HANDLE_SHAPE {
        return Err(Violation::HandlerMismatch(found));
    }
    Ok(true)
}

/// A component value type as WIT writes it, records and variants spelled
/// out; what the direct export does not use is only named.
fn shape(ty: &wasmtime::component::types::Type) -> String {
    use wasmtime::component::types::Type;
    match ty {
        Type::String => "string".into(),
        Type::U8 => "u8".into(),
        Type::List(list) => format!("list<{}>", shape(&list.ty())),
        Type::Option(option) => format!("option<{}>", shape(&option.ty())),
        Type::Tuple(tuple) => format!("tuple<{}>", tuple.types().map(|t| shape(&t)).collect::<Vec<_>>().join(", ")),
        Type::Result(result) => format!(
            "result<{}, {}>",
            result.ok().map_or("_".into(), |t| shape(&t)),
            result.err().map_or("_".into(), |t| shape(&t))
        ),
        Type::Record(record) => format!(
            "record {{ {} }}",
            record.fields().map(|f| format!("{}: {}", f.name, shape(&f.ty))).collect::<Vec<_>>().join(", ")
        ),
        Type::Variant(variant) => format!(
            "variant {{ {} }}",
            variant
                .cases()
                .map(|c| match c.ty {
                    Some(ty) => format!("{}({})", c.name, shape(&ty)),
                    None => c.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}").split(['(', ' ']).next().unwrap_or("?").to_lowercase(),
    }
}

/// A clear word on bytes that are not a component at all.
pub fn check_bytes(bytes: &[u8]) -> Result<(), Violation> {
    if !bytes.starts_with(b"\0asm") {
        return Err(Violation::NotWasm);
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(Violation::CoreModule);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_within_wasi_0_2_and_exactly_for_drafts() {
        assert!(offered("wasi:cli/environment@0.2.0", PLATFORM_IMPORTS));
        assert!(offered("wasi:http/types@0.2.12", PLATFORM_IMPORTS));
        assert!(!offered("wasi:cli/environment@0.3.0", PLATFORM_IMPORTS));
        assert!(!offered("wasi:sockets/tcp@0.2.6", PLATFORM_IMPORTS));
        assert!(offered("wasi:keyvalue/store@0.2.0-draft2", PLATFORM_IMPORTS));
        assert!(!offered("wasi:keyvalue/store@0.2.0-draft", PLATFORM_IMPORTS));
        assert!(offered("fermyon:spin/llm@2.0.0", PLATFORM_IMPORTS));
        assert!(offered("fermyon:spin/llm@2.1.0", PLATFORM_IMPORTS));
        assert!(!offered("fermyon:spin/redis@2.0.0", PLATFORM_IMPORTS));
        assert!(!offered("wasi:cli/environment", PLATFORM_IMPORTS));
    }

    #[test]
    fn non_components_are_named_for_what_they_are() {
        assert!(check_bytes(b"hello").unwrap_err().to_string().contains("not a WebAssembly file"));
        let module = b"\0asm\x01\0\0\0";
        assert!(check_bytes(module).unwrap_err().to_string().contains("core WebAssembly module"));
    }
}
