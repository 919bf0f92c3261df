//! The CloudEvents HTTP protocol binding as Agent Store speaks it, shared by
//! the host and the guest SDK so both sides agree on what a valid event and
//! a valid reply are (feature `http-binding`).
//!
//! * In: binary mode (`ce-*` headers, data in the body), structured mode
//!   (`application/cloudevents+json`) or a batch
//!   (`application/cloudevents-batch+json`).
//! * Out: no event is `204 No Content`; one event is binary mode; several
//!   are a batch. This is how Knative delivers events to a service and reads
//!   its reply, with batches added for components that emit more than one.
//!
//! ```
//! use agent_store_events::binding;
//! use cloudevents::{EventBuilder, EventBuilderV10};
//!
//! let event = EventBuilderV10::new()
//!     .id("1")
//!     .source("/agent-store/test")
//!     .ty("store.product.query")
//!     .data("application/json", serde_json::json!({ "request_id": "r1" }))
//!     .build()
//!     .unwrap();
//! let (headers, body) = binding::encode_binary(&event).unwrap();
//! assert_eq!(headers["ce-type"], "store.product.query");
//! let back = binding::decode(&headers, body).unwrap();
//! assert_eq!(back, vec![event]);
//! ```

pub mod limits;

use cloudevents::event::{AttributeValue, ExtensionValue, SpecVersion};
use cloudevents::{AttributesReader, Data, Event};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

/// `Content-Type` of one event in structured mode.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// `Content-Type` of a batch: a JSON array of structured events.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
/// The header whose presence marks a binary-mode event.
pub const SPEC_VERSION_HEADER: &str = "ce-specversion";
/// The path components receive events on, from the host's delivery path or
/// the event router under `spin up`: a request elsewhere is a plain HTTP
/// request whatever headers it carries, so that a CloudEvent posted to a
/// public route is never handled as an event. No manifest route may cover
/// it.
pub const DELIVERY_PATH: &str = "/.agent-store/deliver";

/// How a request or response carries its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ce-*` headers, the data as the body.
    Binary,
    /// One event as JSON (`application/cloudevents+json`).
    Structured,
    /// A JSON array of events (`application/cloudevents-batch+json`).
    Batch,
}

/// Why a message is not a valid event (or events cannot be written); the
/// text is what a client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No CloudEvent at all: no `ce-specversion`, no CloudEvents content type.
    #[error(
        "not a CloudEvent: send binary mode (ce-specversion, ce-id, ce-source, ce-type headers), \
         or Content-Type {STRUCTURED_CONTENT_TYPE} or {BATCH_CONTENT_TYPE}"
    )]
    NotAnEvent,
    /// Binary mode whose headers do not make an event.
    #[error("invalid binary-mode CloudEvent: {0}")]
    Binary(String),
    /// Structured mode whose body is not an event.
    #[error("invalid structured CloudEvent: {0}")]
    Structured(String),
    /// A batch body that is not a JSON array.
    #[error("invalid CloudEvents batch: {0}")]
    Batch(String),
    /// One item of a batch that is not an event.
    #[error("invalid CloudEvent at index {index} of the batch: {reason}")]
    BatchItem {
        /// Its position in the batch.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An event the store does not take as it is: another spec version, an
    /// attribute or extension that would not survive delivery.
    #[error("invalid CloudEvent: {0}")]
    Invalid(String),
    /// A required attribute is empty.
    #[error("invalid CloudEvent: `{0}` is empty")]
    Empty(&'static str),
    /// Data declared as JSON that is not JSON.
    #[error("event {id}: data is declared as {content_type} but is not valid JSON: {reason}")]
    NotJson {
        /// The event's id.
        id: String,
        /// Its `datacontenttype`.
        content_type: String,
        /// The parser's words.
        reason: String,
    },
    /// A reply whose status carries no events.
    #[error("the reply has status {0}")]
    ReplyStatus(StatusCode),
    /// Events that cannot be written in the binding.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// Which event, or the batch.
        what: String,
        /// Why not.
        reason: String,
    },
}

/// A parser's message without the payload text it may quote (serde quotes
/// an offending value: `invalid type: string "…", expected u32`), so that
/// it can be logged and kept with a dead letter: those hold no customer
/// text. Double-quoted text goes; backquoted names stay when they look like
/// field names (`missing field \`text\``), other backquoted values go.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else {
            out.push('…');
            return out;
        };
        let quoted = &after[..end];
        let name = quote == '`'
            && quoted.len() <= 64
            && quoted.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && quoted.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        out.push_str(if name { quoted } else { "…" });
        out.push(quote);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// The mode of a message, or `None` when it carries no CloudEvent at all.
pub fn mode(headers: &HeaderMap) -> Option<Mode> {
    match media_type(headers).as_deref() {
        Some(STRUCTURED_CONTENT_TYPE) => Some(Mode::Structured),
        Some(BATCH_CONTENT_TYPE) => Some(Mode::Batch),
        _ if headers.contains_key(SPEC_VERSION_HEADER) => Some(Mode::Binary),
        _ => None,
    }
}

/// Reads every event a request or response carries.
pub fn decode(headers: &HeaderMap, body: Vec<u8>) -> Result<Vec<Event>, DecodeError> {
    let events = match mode(headers) {
        None => {
            return Err(DecodeError::NotAnEvent);
        }
        Some(Mode::Binary) => {
            // The SDK reads any `application/cloudevents+json…` body as a
            // structured event, whatever the `ce-*` headers say.
            if let Some(media_type) = media_type(headers).filter(|m| is_cloudevents_format(m)) {
                return Err(DecodeError::Binary(format!(
                    "Content-Type {media_type} is a CloudEvents format, not data"
                )));
            }
            vec![cloudevents::binding::http::to_event(headers, body).map_err(|e| DecodeError::Binary(e.to_string()))?]
        }
        Some(Mode::Structured) => {
            vec![serde_json::from_slice::<Event>(&body).map_err(|e| DecodeError::Structured(e.to_string()))?]
        }
        Some(Mode::Batch) => {
            let items: Vec<serde_json::Value> =
                serde_json::from_slice(&body).map_err(|e| DecodeError::Batch(e.to_string()))?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    serde_json::from_value::<Event>(item)
                        .map_err(|e| DecodeError::BatchItem { index: i, reason: e.to_string() })
                })
                .collect::<Result<_, _>>()?
        }
    };
    events.into_iter().map(normalize).collect()
}

/// Checks what the SDK leaves to us: a JSON content type must hold JSON, and
/// JSON data is kept as a value so that readers need not care which mode it
/// came in.
fn normalize(mut event: Event) -> Result<Event, DecodeError> {
    // The store speaks CloudEvents 1.0, as Knative does. The SDK cannot read
    // back every 0.3 event it writes in a batch (bytes that are not JSON,
    // without a content type), and 0.3 attribute names become 1.0 extensions
    // that clash with 1.0 attributes.
    if event.specversion() != SpecVersion::V10 {
        return Err(DecodeError::Invalid(format!(
            "specversion {} is not supported: send CloudEvents 1.0",
            event.specversion()
        )));
    }
    if event.id().is_empty() {
        return Err(DecodeError::Empty("id"));
    }
    if event.ty().is_empty() {
        return Err(DecodeError::Empty("type"));
    }
    // Binary mode carries an extension as a `ce-<name>` header, and header
    // names are case-insensitive: `Brand` would reach a component as
    // `brand` (and overwrite it), `brand ` not at all. The spec's names
    // survive every binding unchanged.
    if let Some((name, why)) = event.iter_extensions().find_map(|(name, _)| Some((name, bad_extension_name(name)?))) {
        return Err(DecodeError::Invalid(format!("extension `{name}` {why}")));
    }
    if let Some(name) = not_a_header_value(&event) {
        return Err(DecodeError::Invalid(format!("`{name}` {NOT_A_HEADER_VALUE}")));
    }
    // In binary mode the data's content type is the message's: data typed
    // as CloudEvents would be read as events of their own, unchecked by
    // whatever checked this one.
    if let Some(ct) = event.datacontenttype().filter(|ct| is_cloudevents_format(ct)) {
        return Err(DecodeError::Invalid(format!(
            "datacontenttype `{ct}` is a CloudEvents format: the data cannot be events"
        )));
    }
    let json = event.datacontenttype().is_none_or(is_json_content_type);
    if json {
        let parsed = match event.data() {
            Some(Data::Binary(bytes)) => Some(serde_json::from_slice::<serde_json::Value>(bytes)),
            Some(Data::String(text)) if event.datacontenttype().is_some() => Some(serde_json::from_str(text)),
            _ => None,
        };
        match parsed {
            Some(Ok(value)) => {
                event.set_data_unchecked(value);
            }
            Some(Err(e)) if event.datacontenttype().is_some() => {
                return Err(DecodeError::NotJson {
                    id: event.id().to_string(),
                    content_type: event.datacontenttype().unwrap_or_default().to_string(),
                    reason: e.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(event)
}

/// `application/cloudevents+json`, `application/cloudevents-batch+json` and
/// their kin, in any case: the media types of events rather than of data.
fn is_cloudevents_format(content_type: &str) -> bool {
    content_type.trim_start().to_ascii_lowercase().starts_with("application/cloudevents")
}

const NOT_A_HEADER_VALUE: &str =
    "holds what an HTTP header cannot carry as it is (only visible ASCII and spaces, none at the ends)";

/// The first attribute or extension whose value binary mode would not carry
/// unchanged, if any: header values are read back as visible ASCII only, and
/// HTTP trims the spaces around them. (The spec's percent-encoding would
/// carry them; neither the SDK nor Knative's brokers are relied on for it.)
fn not_a_header_value(event: &Event) -> Option<String> {
    let fits = |value: &str| value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim_matches(' ') == value;
    let attribute = event.iter_attributes().find_map(|(name, value)| match value {
        AttributeValue::String(text) if !fits(text) => Some(name.to_string()),
        AttributeValue::URIRef(text) if !fits(text) => Some(name.to_string()),
        _ => None,
    });
    attribute.or_else(|| {
        event.iter_extensions().find_map(|(name, value)| match value {
            ExtensionValue::String(text) if !fits(text) => Some(name.to_string()),
            _ => None,
        })
    })
}

/// Why an extension cannot have this name, if it cannot. Names must be the
/// spec's `[a-z0-9]+`, and not `data`, which the JSON format (a batch)
/// writes the data under.
fn bad_extension_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        Some("is not a CloudEvents attribute name (lowercase ASCII letters and digits)")
    } else if name == "data" {
        Some("has the name the JSON format gives the data")
    } else {
        None
    }
}

fn is_json_content_type(ct: &str) -> bool {
    let ct = ct.split(';').next().unwrap_or("").trim();
    ct == "application/json" || ct == "text/json" || ct.ends_with("+json")
}

/// What binary mode cannot carry as it is (see [`encode_binary`]).
fn check_binary(event: &Event) -> Result<(), DecodeError> {
    if let Some(ct) = event.datacontenttype().filter(|ct| is_cloudevents_format(ct)) {
        return Err(DecodeError::Encode {
            what: format!("event {} in binary mode", event.id()),
            reason: format!("its datacontenttype `{ct}` would make it read as other events"),
        });
    }
    if let Some((name, why)) = event.iter_extensions().find_map(|(name, _)| Some((name, bad_extension_name(name)?))) {
        return Err(DecodeError::Encode {
            what: format!("event {} in binary mode", event.id()),
            reason: format!("its extension `{name}` {why}"),
        });
    }
    if let Some(name) = not_a_header_value(event) {
        return Err(DecodeError::Encode {
            what: format!("event {} in binary mode", event.id()),
            reason: format!("`{name}` {NOT_A_HEADER_VALUE}"),
        });
    }
    Ok(())
}

/// One event in binary mode: `ce-*` headers and the data as the body. An
/// event that would not arrive as it is, is refused (`decode` never accepts
/// one, but other bindings may): a `datacontenttype` that is a CloudEvents
/// format would be read as the events in its data, and an extension name
/// that is not a CloudEvents attribute name would be folded to lowercase
/// (`Brand` overwriting `brand`) or dropped.
pub fn encode_binary(event: &Event) -> Result<(HeaderMap, Vec<u8>), DecodeError> {
    check_binary(event)?;
    // The SDK's binary serializer takes the event by value: written out here
    // from references, so that sending an event does not copy its data
    // (`cargo bench --bench invoke`, `deliver/catalog-search`). Same headers,
    // same order, same formatting (the tests below compare both).
    let failed = |reason: String| DecodeError::Encode { what: format!("event {}", event.id()), reason };
    let mut headers = HeaderMap::with_capacity(12);
    for (name, value) in event.iter() {
        let header = if name == "datacontenttype" {
            CONTENT_TYPE
        } else {
            http::header::HeaderName::from_bytes(format!("ce-{name}").as_bytes()).map_err(|e| failed(e.to_string()))?
        };
        headers.insert(header, HeaderValue::from_str(&value.to_string()).map_err(|e| failed(e.to_string()))?);
    }
    let body = match event.data() {
        None => Vec::new(),
        Some(Data::Json(value)) => serde_json::to_vec(value).map_err(|e| failed(e.to_string()))?,
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::String(text)) => text.as_bytes().to_vec(),
    };
    Ok((headers, body))
}

/// An event as the direct `agent-store:platform/handler` export carries it
/// (`wit/world.wit`): every attribute as the text binary mode writes in its
/// `ce-*` header, the data as bytes. The host and the SDK each move these
/// fields into their own bindings of the WIT record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    /// `id`.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`.
    pub ty: String,
    /// `subject`.
    pub subject: Option<String>,
    /// `time`, RFC 3339.
    pub time: Option<String>,
    /// `datacontenttype`.
    pub datacontenttype: Option<String>,
    /// `dataschema`.
    pub dataschema: Option<String>,
    /// Extension attributes.
    pub extensions: Vec<(String, String)>,
    /// The data.
    pub data: Option<Vec<u8>>,
}

/// An event's fields for the direct export, refused where binary mode would
/// refuse it ([`encode_binary`]): the same event reaches a component the
/// same way on either path.
pub fn to_fields(event: &Event) -> Result<Fields, DecodeError> {
    check_binary(event)?;
    let mut fields = Fields::default();
    for (name, value) in event.iter() {
        let text = value.to_string();
        match name {
            "specversion" => {}
            "id" => fields.id = text,
            "source" => fields.source = text,
            "type" => fields.ty = text,
            "subject" => fields.subject = Some(text),
            "time" => fields.time = Some(text),
            "datacontenttype" => fields.datacontenttype = Some(text),
            "dataschema" => fields.dataschema = Some(text),
            _ => fields.extensions.push((name.to_string(), text)),
        }
    }
    fields.data = match event.data() {
        None => None,
        Some(Data::Json(value)) => Some(
            serde_json::to_vec(value)
                .map_err(|e| DecodeError::Encode { what: format!("event {}", event.id()), reason: e.to_string() })?,
        ),
        Some(Data::Binary(bytes)) => Some(bytes.clone()),
        Some(Data::String(text)) => Some(text.as_bytes().to_vec()),
    };
    Ok(fields)
}

/// The event the direct export's fields describe, read and checked exactly
/// as a binary-mode request with those headers and body would be
/// ([`decode`]).
pub fn from_fields(fields: Fields) -> Result<Event, DecodeError> {
    use cloudevents::message::BinaryDeserializer;
    if let Some(ct) = fields.datacontenttype.as_deref().filter(|ct| is_cloudevents_format(ct)) {
        return Err(DecodeError::Binary(format!("Content-Type {ct} is a CloudEvents format, not data")));
    }
    let event = BinaryDeserializer::into_event(fields).map_err(|e| DecodeError::Binary(e.to_string()))?;
    normalize(event)
}

impl cloudevents::message::BinaryDeserializer for Fields {
    fn deserialize_binary<R: Sized, V: cloudevents::message::BinarySerializer<R>>(
        self,
        serializer: V,
    ) -> cloudevents::message::Result<R> {
        use cloudevents::message::MessageAttributeValue::String as Text;
        let mut s = serializer.set_spec_version(SpecVersion::V10)?;
        s = s.set_attribute("id", Text(self.id))?;
        s = s.set_attribute("source", Text(self.source))?;
        s = s.set_attribute("type", Text(self.ty))?;
        let optional = [
            ("subject", self.subject),
            ("time", self.time),
            ("datacontenttype", self.datacontenttype),
            ("dataschema", self.dataschema),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                s = s.set_attribute(name, Text(value))?;
            }
        }
        for (name, value) in self.extensions {
            s = s.set_extension(&name, Text(value))?;
        }
        match self.data {
            Some(bytes) => s.end_with_data(bytes),
            None => s.end(),
        }
    }
}

/// Several events as one batch body.
pub fn encode_batch(events: &[Event]) -> Result<(HeaderMap, Vec<u8>), DecodeError> {
    let body = serde_json::to_vec(events)
        .map_err(|e| DecodeError::Encode { what: "the batch".into(), reason: e.to_string() })?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(BATCH_CONTENT_TYPE));
    Ok((headers, body))
}

/// The reply to an event delivery: none, one (binary mode) or a batch.
pub fn encode_reply(events: &[Event]) -> Result<(StatusCode, HeaderMap, Vec<u8>), DecodeError> {
    match events {
        [] => Ok((StatusCode::NO_CONTENT, HeaderMap::new(), Vec::new())),
        [one] => encode_binary(one).map(|(h, b)| (StatusCode::OK, h, b)),
        many => encode_batch(many).map(|(h, b)| (StatusCode::OK, h, b)),
    }
}

/// Reads a reply: a 2xx without events means none.
pub fn decode_reply(status: StatusCode, headers: &HeaderMap, body: Vec<u8>) -> Result<Vec<Event>, DecodeError> {
    if !status.is_success() {
        return Err(DecodeError::ReplyStatus(status));
    }
    if mode(headers).is_none() {
        return Ok(Vec::new());
    }
    decode(headers, body)
}

/// Topic-style matching of an event type against a subscription pattern, as
/// RabbitMQ's topic exchange matches routing keys: `*` is one dot-separated
/// segment, `#` any number of them (including none).
pub fn type_matches(pattern: &str, ty: &str) -> bool {
    fn go(p: &[&str], t: &[&str]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let t: Vec<&str> = ty.split('.').collect();
    go(&p, &t)
}

/// Any attribute of an event as a string, as subscription filters compare
/// them: the context attributes by name, extensions otherwise.
pub fn attribute(event: &Event, name: &str) -> Option<String> {
    match name {
        "type" => Some(event.ty().to_string()),
        "source" => Some(event.source().to_string()),
        "subject" => event.subject().map(str::to_string),
        "datacontenttype" => event.datacontenttype().map(str::to_string),
        "dataschema" => event.dataschema().map(|u| u.to_string()),
        _ => event.extension(name).map(|v| v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::binding::http::{Builder, Serializer};
    use cloudevents::message::BinaryDeserializer;

    struct HeaderBuilder {
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Builder<(HeaderMap, Vec<u8>)> for HeaderBuilder {
        fn header(&mut self, key: &str, value: HeaderValue) {
            if let Ok(name) = http::header::HeaderName::from_bytes(key.as_bytes()) {
                self.headers.insert(name, value);
            }
        }

        fn body(&mut self, bytes: Vec<u8>) -> cloudevents::message::Result<(HeaderMap, Vec<u8>)> {
            self.body = bytes;
            self.finish()
        }

        fn finish(&mut self) -> cloudevents::message::Result<(HeaderMap, Vec<u8>)> {
            Ok((std::mem::take(&mut self.headers), std::mem::take(&mut self.body)))
        }
    }

    /// `encode_binary` writes the headers itself; the SDK's serializer is
    /// the reference it must match.
    #[test]
    fn binary_mode_is_what_the_sdk_serializer_writes() {
        let full = EventBuilderV10::new()
            .id("e-1")
            .source("/agent-store/test")
            .ty("store.test")
            .subject("s")
            .time("2026-12-06T01:02:03.456+00:00")
            .extension("brand", "fashion")
            .extension("depth", 3i64)
            .extension("flag", true)
            .data("application/json", serde_json::json!({"a": [1, 2, {"b": "ü"}]}))
            .build()
            .unwrap();
        let bytes = EventBuilderV10::new()
            .id("e-2")
            .source("/s")
            .ty("t")
            .data("application/octet-stream", vec![0u8, 1, 255])
            .build()
            .unwrap();
        let text = EventBuilderV10::new().id("e-3").source("/s").ty("t").data("text/plain", "hello").build().unwrap();
        let empty = EventBuilderV10::new().id("e-4").source("/s").ty("t").build().unwrap();
        for event in [full, bytes, text, empty] {
            let reference = BinaryDeserializer::deserialize_binary(
                event.clone(),
                Serializer::new(HeaderBuilder { headers: HeaderMap::new(), body: Vec::new() }),
            )
            .unwrap();
            assert_eq!(encode_binary(&event).unwrap(), reference, "{event}");
        }
    }

    use cloudevents::{EventBuilder, EventBuilderV10};

    /// The direct export must hand a component what binary mode would:
    /// every kind of event reads back the same both ways.
    #[test]
    fn the_direct_exports_fields_carry_what_binary_mode_carries() {
        let full = EventBuilderV10::new()
            .id("e-1")
            .source("/agent-store/test")
            .ty("store.test")
            .subject("s")
            .time("2026-12-06T01:02:03.456+00:00")
            .extension("brand", "fashion")
            .extension("depth", 3i64)
            .data_with_schema("application/json", "https://example.com/s.json", serde_json::json!({"a": ["ü"]}))
            .build()
            .unwrap();
        let bytes = EventBuilderV10::new()
            .id("e-2")
            .source("/s")
            .ty("t")
            .data("application/octet-stream", vec![0u8, 1, 255])
            .build()
            .unwrap();
        let empty = EventBuilderV10::new().id("e-3").source("/s").ty("t").build().unwrap();
        for event in [full, bytes, empty, event("4")] {
            let (headers, body) = encode_binary(&event).unwrap();
            let over_http = decode(&headers, body).unwrap().remove(0);
            let direct = from_fields(to_fields(&event).unwrap()).unwrap();
            assert_eq!(direct, over_http, "{event}");
        }
    }

    #[test]
    fn fields_binary_mode_would_refuse_are_refused_with_the_reason() {
        let good = to_fields(&event("1")).unwrap();
        let cases: [(&str, Fields); 6] = [
            ("`id` is empty", Fields { id: String::new(), ..good.clone() }),
            ("time", Fields { time: Some("yesterday".into()), ..good.clone() }),
            (
                "not a CloudEvents attribute name",
                Fields { extensions: vec![("Brand".into(), "x".into())], ..good.clone() },
            ),
            ("not valid JSON", Fields { data: Some(b"{not json".to_vec()), ..good.clone() }),
            (
                "CloudEvents format",
                Fields { datacontenttype: Some("application/cloudevents+json".into()), ..good.clone() },
            ),
            ("what an HTTP header cannot carry", Fields { subject: Some("line\nbreak".into()), ..good.clone() }),
        ];
        for (reason, fields) in cases {
            let err = from_fields(fields).unwrap_err().to_string();
            assert!(err.contains(reason), "expected {reason:?} in {err:?}");
        }
        let mut bad = event("2");
        bad.set_extension("Brand", "x");
        assert!(to_fields(&bad).unwrap_err().to_string().contains("not a CloudEvents attribute name"));
    }

    #[test]
    fn redacted_messages_keep_field_names_and_lose_values() {
        assert_eq!(
            redact(r#"invalid type: string "call me on +34 600 000 000", expected u32 at line 1 column 9"#),
            r#"invalid type: string "…", expected u32 at line 1 column 9"#
        );
        assert_eq!(redact("missing field `text`"), "missing field `text`");
        assert_eq!(
            redact("invalid value: integer `34600000000`, expected u8"),
            "invalid value: integer `…`, expected u8"
        );
        assert_eq!(redact(r#"unterminated "secret"#), r#"unterminated "…"#);
    }

    fn event(id: &str) -> Event {
        EventBuilderV10::new()
            .id(id)
            .source("/agent-store/test")
            .ty("store.product.query")
            .extension("brand", "tech")
            .data("application/json", serde_json::json!({ "request_id": id }))
            .build()
            .unwrap()
    }

    #[test]
    fn binary_structured_and_batch_all_decode_to_the_same_events() {
        let e = event("1");
        let (h, b) = encode_binary(&e).unwrap();
        assert_eq!(decode(&h, b).unwrap(), vec![e.clone()]);

        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/cloudevents+json; charset=utf-8"));
        assert_eq!(decode(&h, serde_json::to_vec(&e).unwrap()).unwrap(), vec![e.clone()]);

        let batch = vec![event("1"), event("2")];
        let (h, b) = encode_batch(&batch).unwrap();
        assert_eq!(decode(&h, b).unwrap(), batch);
    }

    #[test]
    fn malformed_events_are_refused_with_the_reason() {
        let err = decode(&HeaderMap::new(), b"{}".to_vec()).unwrap_err();
        assert_eq!(err, DecodeError::NotAnEvent);
        assert!(err.to_string().starts_with("not a CloudEvent"), "{err}");

        let (mut h, b) = encode_binary(&event("1")).unwrap();
        h.remove("ce-source");
        let err = decode(&h, b).unwrap_err();
        assert!(matches!(&err, DecodeError::Binary(reason) if reason.contains("source")), "{err}");

        let (h, _) = encode_binary(&event("1")).unwrap();
        let err = decode(&h, b"{not json".to_vec()).unwrap_err();
        assert!(matches!(err, DecodeError::NotJson { .. }) && err.to_string().contains("not valid JSON"), "{err}");

        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(BATCH_CONTENT_TYPE));
        let mut second = serde_json::to_value(event("2")).unwrap();
        second.as_object_mut().unwrap().remove("type");
        let body = serde_json::to_vec(&serde_json::json!([event("1"), second])).unwrap();
        let err = decode(&h, body).unwrap_err();
        assert!(matches!(err, DecodeError::BatchItem { index: 1, .. }), "{err}");
    }

    #[test]
    fn extension_names_binary_mode_would_change_are_refused() {
        // Found by the http-binding fuzz target: a structured event with a
        // `Brand` extension passed a brand scope check on `brand`, then
        // reached components in binary mode as `ce-brand`.
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(STRUCTURED_CONTENT_TYPE));
        for name in ["Brand", "brand ", "trace-id", "über", ""] {
            let mut value = serde_json::to_value(event("1")).unwrap();
            value.as_object_mut().unwrap().insert(name.to_string(), "tech".into());
            let err = decode(&h, serde_json::to_vec(&value).unwrap()).unwrap_err();
            assert!(err.to_string().contains("not a CloudEvents attribute name"), "{name:?}: {err}");
        }
        // `ce-data` made an extension that a batch writes where the data goes.
        let (mut binary, body) = encode_binary(&event("1")).unwrap();
        binary.insert("ce-data", HeaderValue::from_static("x"));
        let err = decode(&binary, body).unwrap_err();
        assert!(err.to_string().contains("extension `data`"), "{err}");
        // Events from other bindings (AMQP headers are case-sensitive) are
        // not delivered changed either.
        let mut two_brands = event("1");
        two_brands.set_extension("Brand", "fashion");
        let err = encode_binary(&two_brands).unwrap_err();
        assert!(err.to_string().contains("`Brand`"), "{err}");

        let mut value = serde_json::to_value(event("1")).unwrap();
        value.as_object_mut().unwrap().insert("knativearrivaltime2".into(), "x".into());
        let decoded = decode(&h, serde_json::to_vec(&value).unwrap()).unwrap();
        let (h, b) = encode_binary(&decoded[0]).unwrap();
        assert_eq!(decode(&h, b).unwrap(), decoded, "a valid name survives binary mode");
    }

    #[test]
    fn data_typed_as_cloudevents_is_refused_so_it_cannot_smuggle_events() {
        // Found by the http-binding fuzz target: an event whose data is a
        // batch of other events, typed `application/cloudevents-batch+json`,
        // was accepted, then delivered in binary mode with that Content-Type,
        // so the component read the events inside, which nothing had checked.
        let inner = serde_json::to_value([event("smuggled")]).unwrap();
        for ct in [BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, "Application/CloudEvents+JSON; charset=utf-8"] {
            let mut outer = serde_json::to_value(event("outer")).unwrap();
            outer["datacontenttype"] = ct.into();
            // As text: the SDK wants a string for a type it does not know as JSON.
            outer["data"] = inner.to_string().into();
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(STRUCTURED_CONTENT_TYPE));
            let err = decode(&h, serde_json::to_vec(&outer).unwrap()).unwrap_err();
            assert!(err.to_string().contains("CloudEvents format"), "{ct}: {err}");

            let built = EventBuilderV10::new()
                .id("outer")
                .source("/agent-store/test")
                .ty("store.product.query")
                .data(ct, inner.clone())
                .build()
                .unwrap();
            let err = encode_binary(&built).unwrap_err();
            assert!(err.to_string().contains("cannot encode"), "{ct}: {err}");
        }

        // A binary-mode message whose Content-Type the SDK would read as
        // structured (it matches the prefix) is not binary mode.
        let (mut h, _) = encode_binary(&event("1")).unwrap();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/cloudevents+json-seq"));
        let err = decode(&h, serde_json::to_vec(&event("other")).unwrap()).unwrap_err();
        assert!(err.to_string().contains("CloudEvents format"), "{err}");
    }

    #[test]
    fn values_binary_mode_would_not_carry_are_refused() {
        // Found by the http-binding fuzz target: a structured event with an
        // extension value `é` was accepted, then could not be read in binary
        // mode, so no component could ever be delivered it.
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(STRUCTURED_CONTENT_TYPE));
        for (name, value) in [("brand", "café"), ("subject", "a\nb"), ("id", " 1"), ("source", "/x\t")] {
            let mut json = serde_json::to_value(event("1")).unwrap();
            json[name] = value.into();
            let err = decode(&h, serde_json::to_vec(&json).unwrap()).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{name}` holds what an HTTP header cannot carry")),
                "{name}: {err}"
            );
        }
        let mut built = event("1");
        built.set_extension("conversation", "ü");
        assert!(encode_binary(&built).unwrap_err().to_string().contains("`conversation`"));
        let mut spaced = event("1");
        spaced.set_extension("conversation", "a b");
        let (h, b) = encode_binary(&spaced).unwrap();
        assert_eq!(decode(&h, b).unwrap(), vec![spaced], "spaces inside travel");
    }

    #[test]
    fn a_0_3_event_is_refused() {
        // Found by the http-binding fuzz target: a 0.3 event whose data is not
        // JSON and has no content type was accepted, but its batch form
        // (base64 data, JSON by default) did not read back.
        let mut h = HeaderMap::new();
        for (name, value) in [("ce-specversion", "0.3"), ("ce-id", "1"), ("ce-source", "/x"), ("ce-type", "t")] {
            h.insert(name, HeaderValue::from_static(value));
        }
        let err = decode(&h, b"not json".to_vec()).unwrap_err();
        assert!(err.to_string().contains("specversion 0.3 is not supported"), "{err}");
    }

    #[test]
    fn replies_are_empty_single_or_batch() {
        let (status, _, _) = encode_reply(&[]).unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, h, b) = encode_reply(&[event("1")]).unwrap();
        assert_eq!(decode_reply(status, &h, b).unwrap().len(), 1);
        let (status, h, b) = encode_reply(&[event("1"), event("2")]).unwrap();
        assert_eq!(mode(&h), Some(Mode::Batch));
        assert_eq!(decode_reply(status, &h, b).unwrap().len(), 2);
        assert!(decode_reply(StatusCode::NO_CONTENT, &HeaderMap::new(), Vec::new()).unwrap().is_empty());
    }
}
