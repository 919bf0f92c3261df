//! Write an Agent Store component as a function from one event to the
//! events it causes.
//!
//! A component is a WASI 0.2 HTTP component (it exports
//! `wasi:http/incoming-handler`), so it runs under `spin up`, in the
//! `agent-store` host and behind any wasi:http runtime. [`export!`] also
//! gives it the direct export `agent-store:platform/handler`, which the
//! `agent-store` host delivers events through without HTTP around them; both
//! exports call the same handler. Events reach it
//! through the CloudEvents HTTP binding (binary or structured mode, or a
//! batch) posted to [`binding::DELIVERY_PATH`]; what the handler returns goes
//! back in the response: nothing, one event, or a batch. A component that
//! also serves HTTP routes (a webhook, an API) gets every other request,
//! whatever its headers: a CloudEvent posted to a route is not an event.
//!
//! ```no_run
//! use agent_store_sdk::{Error, Event, Incoming, Result};
//! use agent_store_sdk::events::{ProductQuery, ProductQueryResult};
//!
//! async fn handle(event: Incoming) -> Result<Vec<Event>> {
//!     let query: ProductQuery = event.data()?; // a bad payload is a 400: not retried
//!     let result = ProductQueryResult {
//!         request_id: query.request_id,
//!         brand: query.brand,
//!         conversation: query.conversation,
//!         products: Vec::new(),
//!         total: 0,
//!     };
//!     Ok(vec![event.reply(&result)?])
//! }
//!
//! agent_store_sdk::export!(id: "product-catalog", events: handle);
//! # fn main() {}
//! ```
//!
//! The crate that calls [`export!`] must also depend on `spin-sdk`, whose
//! `http_component` macro produces the export.
//!
//! Errors decide retries: [`Error::BadEvent`] answers 400 (the event itself
//! is wrong; the host dead-letters it at once), anything else answers 500
//! (the host retries with backoff).

#![deny(missing_docs)]

// The generated bindings name this crate by its path, as components see it.
extern crate self as agent_store_sdk;

pub mod auth;
pub mod brands;
pub mod kv;
pub mod settings;

pub use agent_store_events as events;
pub use agent_store_events::binding;
pub use cloudevents::event::ExtensionValue;
pub use cloudevents::{AttributesReader, AttributesWriter, Data, Event, EventBuilder, EventBuilderV10};
#[doc(hidden)]
pub use spin_sdk;

use agent_store_events::{EventData, ext};
use serde::de::DeserializeOwned;
use spin_sdk::http::{Request, Response};

/// Where an HTTP route sends the events it wants published: the event
/// router, reached by Spin's local service chaining. The host publishes them
/// to its broker; under `spin up` the `event-router` component fans them out.
/// The component needs `allowed_outbound_hosts = ["http://event-router.spin.internal"]`.
pub const PUBLISH_URL: &str = "http://event-router.spin.internal/publish";

/// What a handler can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The event is wrong and always will be: answered 400, never retried.
    BadEvent(String),
    /// Something failed that may work later: answered 500, retried.
    Failed(String),
}

impl Error {
    /// The event is wrong and always will be (answered 400).
    pub fn bad_event(reason: impl std::fmt::Display) -> Self {
        Self::BadEvent(reason.to_string())
    }

    /// A failure that may pass on another try (answered 500).
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        Self::Failed(reason.to_string())
    }

    fn status(&self) -> u16 {
        match self {
            Self::BadEvent(_) => 400,
            Self::Failed(_) => 500,
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::BadEvent(m) | Self::Failed(m) => m,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Any other error is a failure worth retrying.
impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Self::Failed(e.to_string())
    }
}

/// A handler's result: [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One delivered event, with the component's identity for the replies.
#[derive(Debug, Clone)]
pub struct Incoming {
    event: Event,
    component: &'static str,
}

impl Incoming {
    /// The event `component` received.
    pub fn new(event: Event, component: &'static str) -> Self {
        Self { event, component }
    }

    /// The CloudEvent itself.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The CloudEvent, taken out.
    pub fn into_event(self) -> Event {
        self.event
    }

    /// Its `type`.
    pub fn ty(&self) -> &str {
        self.event.ty()
    }

    /// Its `id`.
    pub fn id(&self) -> &str {
        self.event.id()
    }

    /// The event's `data` as `T`; a payload that does not fit is a bad event.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T> {
        data_of(&self.event)
    }

    /// A string extension attribute such as [`ext::BRAND`].
    pub fn extension(&self, name: &str) -> Option<String> {
        self.event.extension(name).map(|v| v.to_string())
    }

    /// Its `brand` extension.
    pub fn brand(&self) -> Option<String> {
        self.extension(ext::BRAND)
    }

    /// Its `conversation` extension.
    pub fn conversation(&self) -> Option<String> {
        self.extension(ext::CONVERSATION)
    }

    /// A new event from this component that carries on this one's
    /// conversation: brand, conversation, correlation and trace context are
    /// copied over.
    pub fn reply<T: EventData>(&self, data: &T) -> Result<Event> {
        let mut out = Emit::new(self.component, data)?;
        for name in [ext::BRAND, ext::CONVERSATION, ext::CORRELATION, ext::TRACEPARENT, ext::TRACESTATE] {
            if let Some(value) = self.event.extension(name) {
                out = out.extension(name, value.to_string());
            }
        }
        out.build()
    }

    /// Like [`Incoming::reply`] but for a new request that expects an answer:
    /// the `correlation` is set to `request_id` instead of copied.
    pub fn request<T: EventData>(&self, data: &T, request_id: &str) -> Result<Event> {
        let mut event = self.reply(data)?;
        event.set_extension(ext::CORRELATION, request_id.to_string());
        Ok(event)
    }
}

/// The data of any event as `T`.
pub fn data_of<T: DeserializeOwned>(event: &Event) -> Result<T> {
    let parsed = match event.data() {
        // Read in place: the event keeps its data, nothing is copied.
        Some(Data::Json(value)) => T::deserialize(value),
        Some(Data::Binary(bytes)) => serde_json::from_slice(bytes),
        Some(Data::String(text)) => serde_json::from_str(text),
        None => serde_json::from_value(serde_json::Value::Null),
    };
    // serde quotes the value it choked on, which may be what a customer
    // wrote: the reason travels to logs and dead letters without it.
    parsed.map_err(|e| {
        let reason = binding::redact(&e.to_string());
        Error::BadEvent(format!("{} event {}: data does not fit: {reason}", event.ty(), event.id()))
    })
}

/// Builds an event from a component: type from the payload, a fresh id,
/// `source = /agent-store/<component>`, the current time, JSON data.
pub struct Emit {
    builder: EventBuilderV10,
}

impl Emit {
    /// An event of `data`'s type from `component`.
    pub fn new<T: EventData>(component: &str, data: &T) -> Result<Self> {
        let value = serde_json::to_value(data).map_err(Error::failed)?;
        Ok(Self {
            builder: EventBuilderV10::new()
                .id(uuid::Uuid::new_v4().to_string())
                .source(agent_store_events::source(component))
                .ty(T::TYPE)
                .time(chrono::Utc::now())
                .data("application/json", value),
        })
    }

    /// Sets an extension attribute.
    pub fn extension(mut self, name: &str, value: impl Into<String>) -> Self {
        self.builder = self.builder.extension(name, value.into());
        self
    }

    /// Sets the `brand` extension.
    pub fn brand(self, brand: impl Into<String>) -> Self {
        self.extension(ext::BRAND, brand)
    }

    /// Sets the `conversation` extension.
    pub fn conversation(self, conversation: impl Into<String>) -> Self {
        self.extension(ext::CONVERSATION, conversation)
    }

    /// Sets the `subject` attribute.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.builder = self.builder.subject(subject.into());
        self
    }

    /// The event.
    pub fn build(self) -> Result<Event> {
        self.builder.build().map_err(Error::failed)
    }
}

/// Publishes events from an HTTP route (a webhook, an API call) through the
/// event router; they are durable when this returns.
pub async fn publish(events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (headers, body) = binding::encode_batch(events).map_err(Error::failed)?;
    let mut request = Request::post(PUBLISH_URL, body);
    for (name, value) in &headers {
        request.header(name.as_str(), value.to_str().unwrap_or_default());
    }
    let response: Response = spin_sdk::http::send(request.build())
        .await
        .map_err(|e| Error::failed(format!("publishing {} events: {e}", events.len())))?;
    match *response.status() {
        200..=299 => Ok(()),
        status => Err(Error::failed(format!(
            "publishing {} events: the router answered {status}: {}",
            events.len(),
            String::from_utf8_lossy(response.body())
        ))),
    }
}

fn error_response(error: &Error) -> Response {
    let body = serde_json::json!({ "error": error.message() }).to_string();
    Response::builder().status(error.status()).header("content-type", "application/json").body(body).build()
}

fn header_map(request: &Request) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) =
            (http::header::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    headers
}

/// Whether a request is an event delivery: a POST to
/// [`binding::DELIVERY_PATH`]. Anything else is a plain HTTP request, even
/// with `ce-*` headers: a route is never a way to deliver events.
pub fn is_event_request(request: &Request) -> bool {
    *request.method() == spin_sdk::http::Method::Post && request.path() == binding::DELIVERY_PATH
}

/// The entry point [`export!`] wires up: deliveries to `on_event`, anything
/// else to `on_http`.
#[doc(hidden)]
pub async fn dispatch<E, EF, H, HF>(component: &'static str, request: Request, on_event: E, on_http: H) -> Response
where
    E: Fn(Incoming) -> EF,
    EF: Future<Output = Result<Vec<Event>>>,
    H: FnOnce(Request) -> HF,
    HF: Future<Output = Response>,
{
    if !is_event_request(&request) {
        return on_http(request).await;
    }
    let headers = header_map(&request);
    let events = match binding::decode(&headers, request.into_body()) {
        Ok(events) => events,
        Err(e) => return error_response(&Error::BadEvent(e.to_string())),
    };
    let mut out = Vec::new();
    for event in events {
        let id = event.id().to_string();
        match on_event(Incoming::new(event, component)).await {
            Ok(emitted) => out.extend(emitted),
            Err(e) => {
                eprintln!("{component}: event {id} failed: {e}");
                return error_response(&e);
            }
        }
    }
    match binding::encode_reply(&out) {
        Ok((status, headers, body)) => {
            let mut response = Response::builder();
            response.status(status.as_u16());
            for (name, value) in &headers {
                response.header(name.as_str(), value.to_str().unwrap_or_default());
            }
            response.body(body).build()
        }
        Err(e) => error_response(&Error::Failed(e.to_string())),
    }
}

/// The `agent-store:platform/handler` export (`wit/world.wit`): the host's
/// fast path for events, which [`export!`] adds next to the HTTP export.
#[doc(hidden)]
pub mod fast_path {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "agent-store:platform/fast-path",
        runtime_path: "::agent_store_sdk::spin_sdk::wit_bindgen::rt",
        default_bindings_module: "::agent_store_sdk::fast_path",
        pub_export_macro: true,
        export_macro_name: "export_handler",
    });

    pub use self::exports::agent_store::platform::handler::{Error, Event, Guest};
}

/// What the direct export answers for `event`: the same handler as a
/// delivery over HTTP, the same refusals, without the HTTP around it.
#[doc(hidden)]
pub fn dispatch_direct<E, EF>(
    component: &'static str,
    event: fast_path::Event,
    on_event: E,
) -> Result<Vec<fast_path::Event>, fast_path::Error>
where
    E: FnOnce(Incoming) -> EF,
    EF: Future<Output = Result<Vec<Event>>>,
{
    let fields = binding::Fields {
        id: event.id,
        source: event.source,
        ty: event.type_,
        subject: event.subject,
        time: event.time,
        datacontenttype: event.datacontenttype,
        dataschema: event.dataschema,
        extensions: event.extensions,
        data: event.data,
    };
    let event = binding::from_fields(fields).map_err(|e| fast_path::Error::BadEvent(e.to_string()))?;
    let id = event.id().to_string();
    let emitted = spin_sdk::http::run(on_event(Incoming::new(event, component))).map_err(|e| {
        eprintln!("{component}: event {id} failed: {e}");
        match e {
            Error::BadEvent(m) => fast_path::Error::BadEvent(m),
            Error::Failed(m) => fast_path::Error::Failed(m),
        }
    })?;
    emitted
        .iter()
        .map(|event| {
            let fields = binding::to_fields(event).map_err(|e| fast_path::Error::Failed(e.to_string()))?;
            Ok(fast_path::Event {
                id: fields.id,
                source: fields.source,
                type_: fields.ty,
                subject: fields.subject,
                time: fields.time,
                datacontenttype: fields.datacontenttype,
                dataschema: fields.dataschema,
                extensions: fields.extensions,
                data: fields.data,
            })
        })
        .collect()
}

/// The answer to a plain HTTP request for a component with no routes.
#[doc(hidden)]
pub async fn no_routes(_request: Request) -> Response {
    Response::builder()
        .status(404)
        .header("content-type", "application/json")
        .body(r#"{"error":"this component only handles CloudEvents"}"#)
        .build()
}

/// Runs a component's `init` once, at deploy time, before the host takes
/// the snapshot every later instance starts from.
///
/// wasi-libc remembers the directories it was given (`wasi:filesystem`
/// handles) in linear memory; a snapshot would keep handles that no later
/// instance has. Forgetting them makes the next file access ask again.
#[doc(hidden)]
pub fn initialize(init: fn()) {
    init();
    #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
    {
        unsafe extern "C" {
            fn __wasilibc_reset_preopens();
        }
        // SAFETY: no file or directory is open between `init` returning and
        // the snapshot; this only clears libc's table of preopened paths.
        unsafe { __wasilibc_reset_preopens() }
    }
}

/// Exports the component: `export!(id: "...", events: handler)`, optionally
/// with `http: route_handler` for requests that carry no CloudEvent. Both
/// handlers are `async fn`s.
///
/// `init: prepare` (a plain `fn()`) adds the `wizer-initialize` export: the
/// `agent-store` host runs it once per version when it loads the component
/// and snapshots the memory it leaves, so work every event would redo
/// (parsing and indexing the files the manifest mounts) is done once.
/// `init` may read the component's mounted files and environment and
/// nothing else (no key-value, HTTP or models; no printing), and must
/// leave nothing open. Under `spin up`, where nothing calls it, the
/// component still works: the handlers must not rely on `init` having run.
#[macro_export]
macro_rules! export {
    (id: $id:literal, events: $events:path $(,)?) => {
        $crate::export!(id: $id, events: $events, http: $crate::no_routes);
    };
    (id: $id:literal, events: $events:path, init: $init:path $(,)?) => {
        $crate::export!(id: $id, events: $events, http: $crate::no_routes, init: $init);
    };
    (id: $id:literal, events: $events:path, http: $http:path, init: $init:path $(,)?) => {
        $crate::export!(id: $id, events: $events, http: $http);

        #[cfg(target_arch = "wasm32")]
        mod __agent_store_init {
            #[allow(unused_imports, reason = "the init path is written at the call site")]
            use super::*;

            $crate::spin_sdk::wit_bindgen::generate!({
                inline: "package agent-store:init; world init { export wizer-initialize: func(); }",
                runtime_path: "::agent_store_sdk::spin_sdk::wit_bindgen::rt",
            });

            struct Init;

            impl Guest for Init {
                fn wizer_initialize() {
                    $crate::initialize($init);
                }
            }

            export!(Init);
        }

        #[cfg(not(target_arch = "wasm32"))]
        #[expect(dead_code, reason = "marks the init function as used in native builds")]
        fn __agent_store_init() {
            let _: fn() = $init;
        }
    };
    (id: $id:literal, events: $events:path, http: $http:path $(,)?) => {
        // Only the WebAssembly build exports anything: a native build of the
        // crate (its unit tests) has no wasi:http host to export to.
        #[cfg(target_arch = "wasm32")]
        mod __agent_store_export {
            #[allow(unused_imports, reason = "the handler paths are written at the call site")]
            use super::*;

            #[$crate::spin_sdk::http_component]
            async fn entry(request: $crate::spin_sdk::http::Request) -> $crate::spin_sdk::http::Response {
                $crate::dispatch($id, request, $events, $http).await
            }

            struct Direct;

            impl $crate::fast_path::Guest for Direct {
                fn handle(
                    event: $crate::fast_path::Event,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::fast_path::Event>, $crate::fast_path::Error> {
                    $crate::dispatch_direct($id, event, $events)
                }
            }

            $crate::fast_path::export_handler!(Direct);
        }

        // Natively the handlers are still reached, by the unit tests.
        #[cfg(not(target_arch = "wasm32"))]
        #[expect(dead_code, reason = "marks the handlers as used in native builds")]
        fn __agent_store_handlers() {
            let _ = ($events, $http);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_events::{BrandId, ProductQuery, types};

    fn incoming() -> Incoming {
        let event = EventBuilderV10::new()
            .id("in-1")
            .source("/agent-store/seller-tech")
            .ty(types::PRODUCT_QUERY)
            .extension(ext::BRAND, "tech")
            .extension(ext::CONVERSATION, "c-1")
            .extension(ext::TRACEPARENT, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .data("application/json", serde_json::json!({ "request_id": "r-1", "text": "usb" }))
            .build()
            .unwrap();
        Incoming::new(event, "product-catalog")
    }

    #[test]
    fn typed_data_and_bad_payloads() {
        let q: ProductQuery = incoming().data().unwrap();
        assert_eq!(q.text.as_deref(), Some("usb"));
        let err = incoming().data::<Vec<u32>>().unwrap_err();
        assert!(matches!(err, Error::BadEvent(ref m) if m.contains("in-1")), "{err:?}");
    }

    #[test]
    fn replies_carry_the_conversation_and_trace_context() {
        let q = ProductQuery { request_id: "r-2".into(), brand: Some(BrandId::new("tech")), ..Default::default() };
        let out = incoming().request(&q, "r-2").unwrap();
        assert_eq!(out.ty(), types::PRODUCT_QUERY);
        assert_eq!(out.source().as_str(), "/agent-store/product-catalog");
        assert_ne!(out.id(), "in-1");
        assert_eq!(out.extension(ext::BRAND).unwrap().to_string(), "tech");
        assert_eq!(out.extension(ext::CONVERSATION).unwrap().to_string(), "c-1");
        assert_eq!(out.extension(ext::CORRELATION).unwrap().to_string(), "r-2");
        assert!(out.extension(ext::TRACEPARENT).is_some());
        assert!(out.time().is_some());
    }

    #[test]
    fn a_payload_that_does_not_fit_is_not_quoted_in_the_error() {
        let mut event = incoming().into_event();
        event.set_data("application/json", serde_json::json!({ "text": "my number is +34 600 111 222" }));
        let err = data_of::<std::collections::HashMap<String, u32>>(&event).unwrap_err().to_string();
        assert!(!err.contains("600 111"), "{err}");
        assert!(err.contains("data does not fit"), "{err}");
    }

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(Error::bad_event("x").status(), 400);
        assert_eq!(Error::from(std::fmt::Error).status(), 500);
    }
}
