//! The CloudEvents HTTP binding (`agent_store_events::binding`): what
//! `POST /events` and a component's reply are read with.
//!
//! Inputs: events in binary mode (`ce-*` headers), structured mode and
//! batches, built from generated attribute sets or encoded by the binding
//! itself, then with headers and bodies mutated; and raw header maps with
//! arbitrary bodies.
//!
//! Invariants beyond not panicking, for every event `decode` accepts: it has
//! an id and a type; the bounds check runs; it reads back the same from a
//! batch; and it is delivered the same in binary mode, the way the host
//! delivers it to a component.

use agent_store_events::binding::{self, limits};
use agent_store_events::{ext, types};
use arbitrary::{Result, Unstructured};
use cloudevents::{AttributesReader, Data, Event};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::engine::{Path, Target, show};
use crate::inputs::{self, text, word};

/// The target.
pub const TARGET: Target = Target {
    name: "http-binding",
    about: "binding::decode and decode_reply on binary, structured and batch messages, mutated and raw",
    run,
    must_reach: &["binary", "structured", "batch", "refused", "reply"],
};

pub(crate) const SPEC_VERSIONS: &[&str] = &["1.0"];
pub(crate) const BAD_SPEC_VERSIONS: &[&str] = &["0.3", "1.1", "", "1", "1.0 "];
pub(crate) const IDS: &[&str] = &["1", "evt-1", "a1b2c3d4", "ord-5f0c2a9e1b7d4c38", "wm-0123456789abcdef"];
pub(crate) const BAD_IDS: &[&str] = &["", " "];
pub(crate) const SOURCES: &[&str] = &[
    "/agent-store/test",
    "/agent-store/whatsapp-gateway",
    "https://example.com/events",
    "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    "/",
    "mailto:a@example.com",
];
pub(crate) const BAD_SOURCES: &[&str] = &["", "http://[::1", "?x#y"];
pub(crate) const TIMES: &[&str] = &[
    "2026-05-01T12:00:00Z",
    "2026-05-01T12:00:00.123456789Z",
    "2026-05-01T12:00:00+14:00",
    "2026-05-01T12:00:00-00:30",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.5Z",
    "9999-12-31T23:59:59.999999999Z",
    "0000-01-01T00:00:00Z",
];
pub(crate) const BAD_TIMES: &[&str] = &[
    "2026-02-30T00:00:00Z",
    "2026-05-01 12:00:00",
    "2026-05-01T24:00:00Z",
    "2026-05-01T12:00:60Z",
    "2026-05-01t12:00:00z",
];
pub(crate) const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "text/json",
    "application/vnd.agent-store+json",
    "APPLICATION/JSON",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/octet-stream",
];
/// Content types that are not the data's: CloudEvents' own, and no type.
pub(crate) const BAD_CONTENT_TYPES: &[&str] = &[
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "Application/CloudEvents+JSON; charset=utf-8",
    "application/cloudevents+jsonx",
    "application/cloudevents+json-seq",
    ";",
    "",
];
pub(crate) const SCHEMAS: &[&str] =
    &["https://agent-store.dev/schemas/order.json", "urn:x", "https://a/b?c#d", "file:///x"];
pub(crate) const BAD_SCHEMAS: &[&str] = &["not a uri", "http://", ""];
pub(crate) const EXTENSION_NAMES: &[&str] = &[
    ext::BRAND,
    ext::CONVERSATION,
    ext::TRACEPARENT,
    ext::TRACESTATE,
    ext::DEPTH,
    ext::CORRELATION,
    "x1",
    "knativearrivaltime",
    "schemaurl",
];
/// Names binary mode would change: it folds case, and drops what is not a
/// header name.
pub(crate) const BAD_EXTENSION_NAMES: &[&str] =
    &["Brand", "BRAND", "br and", "brand ", "über", "ce-brand", "trace-id", "data", "data_base64", ""];
pub(crate) const EXTENSION_VALUES: &[&str] = &[
    "fashion",
    "tech",
    "cv-fashion-0123456789abcdef",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "3",
    "true",
];
pub(crate) const DATA_WORDS: &[&str] = &[
    "request_id",
    "brand",
    "fashion",
    "conversation",
    "customer",
    "id",
    "lines",
    "product_id",
    "quantity",
    "text",
    "total",
    "amount_minor",
    "currency",
    "USD",
];

fn run(u: &mut Unstructured<'_>) -> Result<Path> {
    let (headers, body) = message(u)?;
    show(|| format!("headers: {headers:#?}\nbody: {}", String::from_utf8_lossy(&body)));
    if u.ratio(1, 8)? {
        let status = *u.choose(&[200, 201, 202, 204, 299, 301, 400, 404, 500, 503])?;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        if let Ok(events) = binding::decode_reply(status, &headers, body) {
            assert!(status.is_success(), "a {status} reply gave events");
            check(&events);
        }
        return Ok("reply");
    }
    let mode = binding::mode(&headers);
    match binding::decode(&headers, body) {
        Ok(events) => {
            check(&events);
            Ok(match mode {
                Some(binding::Mode::Binary) => "binary",
                Some(binding::Mode::Structured) => "structured",
                Some(binding::Mode::Batch) => "batch",
                None => panic!("decoded {} events from a message that has no mode", events.len()),
            })
        }
        Err(error) => {
            let _ = binding::redact(&error.to_string());
            Ok("refused")
        }
    }
}

/// The invariants of events `decode` accepted.
pub(crate) fn check(events: &[Event]) {
    let _ = limits::check_batch(events);
    for event in events {
        assert!(!event.id().is_empty() && !event.ty().is_empty(), "an event without an id or type: {event}");
        let _ = limits::check(event);
        for name in ["type", "source", "subject", "datacontenttype", "dataschema", "id", "time"] {
            let _ = binding::attribute(event, name);
        }
        for name in ext::ALL {
            let _ = binding::attribute(event, name);
        }
        let _ = binding::type_matches("store.#", event.ty());
        let _ = binding::type_matches(event.ty(), event.ty());
    }

    // A batch is the JSON event format: it reads back the same (floats to
    // within parsing, see `same_data`).
    let (headers, body) = binding::encode_batch(events).expect("decoded events encode as a batch");
    let back = binding::decode(&headers, body).expect("a batch of decoded events decodes");
    assert_eq!(back.len(), events.len(), "a batch did not read back as the events it was made of");
    for (back, event) in back.iter().zip(events) {
        assert_eq!(attributes(back), attributes(event), "a batch changed the attributes of {event}");
        let typed = |e: &Event| e.iter_extensions().map(|(n, v)| (n.to_string(), v.clone())).collect::<Vec<_>>();
        let (mut x, mut y) = (typed(back), typed(event));
        x.sort_by(|a, b| a.0.cmp(&b.0));
        y.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(x, y, "a batch changed the extensions of {event}");
        assert!(same_data(back, event), "a batch changed the data of {event}: {:?}", back.data());
    }

    for event in events {
        delivers_the_same(event, true);
    }
}

/// What the host delivers to a component: the event in binary mode, read
/// by the component with the same `decode`. Binary mode carries extension
/// values as strings and no data as an empty body: apart from that, the
/// component must see the event that was accepted. `decoded` says the event
/// came from `decode`, which must then accept it again; an event from
/// elsewhere may be refused (and is dead-lettered), never changed.
pub(crate) fn delivers_the_same(event: &Event, decoded: bool) {
    let (headers, body) = match binding::encode_binary(event) {
        Ok(encoded) => encoded,
        Err(error) if decoded => panic!("event {event} was accepted but cannot be delivered: {error}"),
        Err(_) => return,
    };
    let back = match binding::decode(&headers, body) {
        Ok(mut back) if back.len() == 1 => back.remove(0),
        Err(_) if !decoded => return,
        other => panic!("event {event} was encoded in binary mode but reads back as {other:?}"),
    };
    assert_eq!(attributes(&back), attributes(event), "binary mode changed the attributes of {event}");
    assert_eq!(extensions(&back), extensions(event), "binary mode changed the extensions of {event}");
    assert!(same_data(&back, event), "binary mode changed the data of {event}: {:?}", back.data());
}

/// The same data, as bytes; JSON numbers equal to within float parsing.
/// serde_json parses floats fast rather than exactly (its `float_roundtrip`
/// feature is off), so a float written and read again can move by an ulp.
pub(crate) fn same_data(a: &Event, b: &Event) -> bool {
    fn close(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x != y => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()) || (x - y).abs() < 1e-300,
                _ => false,
            },
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y)),
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
            }
            _ => a == b,
        }
    }
    let (x, y) = (data_bytes(a), data_bytes(b));
    x == y
        || match (x.as_deref().map(serde_json::from_slice::<Value>), y.as_deref().map(serde_json::from_slice::<Value>))
        {
            (Some(Ok(x)), Some(Ok(y))) => close(&x, &y),
            _ => false,
        }
}

fn attributes(event: &Event) -> Vec<(String, String)> {
    event.iter_attributes().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

fn extensions(event: &Event) -> Vec<(String, String)> {
    let mut all: Vec<_> = event.iter_extensions().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    all.sort();
    all
}

/// The data as the bytes of a body; none for no data or empty data, which
/// binary mode cannot tell apart.
pub(crate) fn data_bytes(event: &Event) -> Option<Vec<u8>> {
    let bytes = match event.data()? {
        Data::Binary(bytes) => bytes.clone(),
        Data::String(text) => text.clone().into_bytes(),
        Data::Json(value) => serde_json::to_vec(value).expect("a JSON value serializes"),
    };
    (!bytes.is_empty()).then_some(bytes)
}

/// A request or reply: headers and body.
fn message(u: &mut Unstructured<'_>) -> Result<(HeaderMap, Vec<u8>)> {
    let (mut headers, mut body) = match u.int_in_range(0..=9)? {
        0..=2 => {
            let object = event_object(u)?;
            binary(&object)
        }
        3..=4 => structured(u)?,
        5..=6 => batch(u)?,
        7..=8 => encoded(u)?,
        _ => {
            let mut headers = HeaderMap::new();
            for _ in 0..u.int_in_range(0..=6)? {
                set_header(u, &mut headers)?;
            }
            let body = match u.int_in_range(0..=2)? {
                0 => inputs::json(u, 3, DATA_WORDS)?.to_string().into_bytes(),
                1 => Vec::new(),
                _ => u.arbitrary()?,
            };
            (headers, body)
        }
    };
    if u.ratio(1, 3)? {
        for _ in 0..u.int_in_range(1..=3)? {
            match u.int_in_range(0..=2)? {
                0 => set_header(u, &mut headers)?,
                1 => {
                    if let Some(name) = pick_header(u, &headers)? {
                        headers.remove(&name);
                    }
                }
                _ => {
                    let value = header_value(u)?;
                    if let Some(name) = pick_header(u, &headers)? {
                        headers.append(name, value);
                    }
                }
            }
        }
    }
    if u.ratio(1, 4)? {
        if let Ok(mut value) = serde_json::from_slice::<Value>(&body)
            && u.ratio(2, 3)?
        {
            inputs::mutate_json(u, &mut value, DATA_WORDS)?;
            body = value.to_string().into_bytes();
        } else {
            inputs::mutate_bytes(u, &mut body, &["\"data\":", "\"data_base64\":", "\"specversion\":\"1.0\"", "null"])?;
        }
    }
    Ok((headers, body))
}

/// The attributes, extensions and data of an event as the JSON event
/// format writes them, each attribute usually present and usually valid.
pub(crate) fn event_object(u: &mut Unstructured<'_>) -> Result<Map<String, Value>> {
    let mut object = Map::new();
    let mut put = |u: &mut Unstructured<'_>, name: &str, odds: u8, good: &[&str], bad: &[&str]| -> Result<()> {
        if u.int_in_range(0..=99)? < odds {
            object.insert(name.to_string(), Value::String(word(u, good, bad)?));
        }
        Ok(())
    };
    put(u, "specversion", 97, SPEC_VERSIONS, BAD_SPEC_VERSIONS)?;
    put(u, "id", 97, IDS, BAD_IDS)?;
    put(u, "source", 97, SOURCES, BAD_SOURCES)?;
    put(u, "type", 97, types::ALL, &["", "store..x"])?;
    put(u, "subject", 30, &["order/ord-1", "fsh-001"], &[""])?;
    put(u, "time", 40, TIMES, BAD_TIMES)?;
    put(u, "datacontenttype", 60, CONTENT_TYPES, BAD_CONTENT_TYPES)?;
    put(u, "dataschema", 10, SCHEMAS, BAD_SCHEMAS)?;
    for _ in 0..u.int_in_range(0..=4)? {
        let name = word(u, EXTENSION_NAMES, BAD_EXTENSION_NAMES)?;
        let value = match u.int_in_range(0..=7)? {
            0 => inputs::number(u)?,
            1 => Value::Bool(u.arbitrary()?),
            2 => inputs::json(u, 1, EXTENSION_VALUES)?,
            _ => Value::String(word(u, EXTENSION_VALUES, &[])?),
        };
        object.insert(name, value);
    }
    match u.int_in_range(0..=9)? {
        0..=5 => {
            object.insert("data".into(), inputs::json(u, 3, DATA_WORDS)?);
        }
        6 => {
            let encoded = *u.choose(&["", "aGVsbG8=", "eyJhIjoxfQ==", "e30=", "!!!", "gA==", "bnVsbA=="])?;
            object.insert("data_base64".into(), Value::String(encoded.into()));
        }
        _ => {}
    }
    Ok(object)
}

/// An event object in binary mode: one `ce-` header per attribute, the
/// content type as `Content-Type`, the data as the body.
fn binary(object: &Map<String, Value>) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    let mut body = Vec::new();
    for (name, value) in object {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match name.as_str() {
            "data" => body = if let Value::String(s) = value { s.clone().into_bytes() } else { text.into_bytes() },
            "data_base64" => {}
            "datacontenttype" => {
                if let Ok(value) = HeaderValue::from_str(&text) {
                    headers.insert(CONTENT_TYPE, value);
                }
            }
            name => {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(format!("ce-{name}").as_bytes()), HeaderValue::from_str(&text))
                {
                    headers.insert(name, value);
                }
            }
        }
    }
    (headers, body)
}

fn structured(u: &mut Unstructured<'_>) -> Result<(HeaderMap, Vec<u8>)> {
    let object = Value::Object(event_object(u)?);
    let mut headers = HeaderMap::new();
    let content_type = *u.choose(&[
        "application/cloudevents+json",
        "application/cloudevents+json; charset=utf-8",
        "Application/CloudEvents+JSON",
    ])?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok((headers, object.to_string().into_bytes()))
}

fn batch(u: &mut Unstructured<'_>) -> Result<(HeaderMap, Vec<u8>)> {
    let len = u.int_in_range(0..=5)?;
    let items: Vec<Value> = (0..len).map(|_| event_object(u).map(Value::Object)).collect::<Result<_>>()?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(binding::BATCH_CONTENT_TYPE));
    Ok((headers, Value::Array(items).to_string().into_bytes()))
}

/// Events the binding itself encoded, as the host and the SDK send them.
fn encoded(u: &mut Unstructured<'_>) -> Result<(HeaderMap, Vec<u8>)> {
    let len = u.int_in_range(1..=3)?;
    let mut events = Vec::new();
    for _ in 0..len {
        let object = Value::Object(event_object(u)?);
        if let Ok(event) = serde_json::from_value::<Event>(object) {
            events.push(event);
        }
    }
    let encoded = match events.as_slice() {
        [one] if u.arbitrary()? => binding::encode_binary(one),
        _ => binding::encode_batch(&events),
    };
    Ok(encoded.unwrap_or_default())
}

fn set_header(u: &mut Unstructured<'_>, headers: &mut HeaderMap) -> Result<()> {
    const NAMES: &[&str] = &[
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-subject",
        "ce-time",
        "ce-dataschema",
        "ce-datacontenttype",
        "ce-brand",
        "ce-conversation",
        "ce-depth",
        "ce-traceparent",
        "ce-data",
        "ce-",
        "content-type",
        "content-type",
        "content-length",
        "x-forwarded-for",
    ];
    let name = text(u, NAMES)?;
    if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
        headers.insert(name, header_value(u)?);
    }
    Ok(())
}

fn header_value(u: &mut Unstructured<'_>) -> Result<HeaderValue> {
    let dict: Vec<&str> = [SPEC_VERSIONS, BAD_SPEC_VERSIONS, IDS, SOURCES, TIMES, BAD_TIMES]
        .into_iter()
        .chain([CONTENT_TYPES, BAD_CONTENT_TYPES, types::ALL, EXTENSION_VALUES])
        .flatten()
        .copied()
        .collect();
    let value = if u.ratio(1, 10)? { u.arbitrary::<Vec<u8>>()? } else { text(u, &dict)?.into_bytes() };
    // Obsolete text (bytes 0x80 and up) is a valid header value that is not a string.
    Ok(HeaderValue::from_bytes(&value).unwrap_or_else(|_| HeaderValue::from_static("1.0")))
}

fn pick_header(u: &mut Unstructured<'_>, headers: &HeaderMap) -> Result<Option<HeaderName>> {
    if headers.is_empty() {
        return Ok(None);
    }
    let i = u.choose_index(headers.keys_len())?;
    Ok(headers.keys().nth(i).cloned())
}
