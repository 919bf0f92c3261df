//! The CloudEvents AMQP binding (`cloudevents_amqp`): what the RabbitMQ
//! broker reads every delivery and dead letter with.
//!
//! Inputs: messages the binding itself wrote (binary and structured mode)
//! with properties and headers changed; properties made up from scratch,
//! with every AMQP value type in attribute headers of every prefix spelling
//! (`cloudEvents:`, `cloudEvents_`, `ce-`, mixed and clashing); and both of these
//! written to the wire, mutated there, and parsed back by lapin's own
//! parser, as a delivery from RabbitMQ is.
//!
//! Invariants beyond not panicking, for every event `to_event` accepts:
//! written again with `properties_for` and `body_for` it reads back the
//! same, through the wire too; extra headers never change it; and where the
//! HTTP binding accepts it, a component is delivered the same event.

use agent_store_events::binding::limits;
use agent_store_events::types;
use arbitrary::{Result, Unstructured};
use cloudevents::Event;
use cloudevents_amqp::{
    AmqpMessage, HEADER_PREFIX, HEADER_PREFIXES, attribute_name, body_for, extra_headers, properties_for, to_event,
    with_extra_headers,
};
use lapin::BasicProperties;
use lapin::protocol::basic::{gen_properties, parse_properties};
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString, ShortString};
use serde_json::Value;

use super::http_binding::{
    self, BAD_CONTENT_TYPES, BAD_EXTENSION_NAMES, BAD_SCHEMAS, BAD_SPEC_VERSIONS, BAD_TIMES, CONTENT_TYPES,
    EXTENSION_NAMES, EXTENSION_VALUES, IDS, SCHEMAS, SOURCES, SPEC_VERSIONS, TIMES,
};
use crate::engine::{Path, Target, show};
use crate::inputs::{self, text, word};

/// The target.
pub const TARGET: Target = Target {
    name: "amqp-binding",
    about: "cloudevents_amqp::to_event on written, made-up and wire-mutated deliveries",
    run,
    must_reach: &["binary", "structured", "refused", "from the wire"],
};

const STRUCTURED: &str = "application/cloudevents+json";

const ATTRIBUTE_NAMES: &[&str] =
    &["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "schemaurl"];

fn run(u: &mut Unstructured<'_>) -> Result<Path> {
    let (mut properties, mut body) = match u.int_in_range(0..=2)? {
        0 | 1 => written(u)?,
        _ => (made_up(u)?, u.arbitrary()?),
    };
    let mut wire = false;
    if u.ratio(1, 4)? {
        let Some(bytes) = wire_bytes(&properties) else {
            return Ok("unwritable");
        };
        let mut bytes = bytes;
        if u.arbitrary()? {
            inputs::mutate_bytes(
                u,
                &mut bytes,
                &["cloudEvents:", "cloudEvents_", "ce-", "specversion", "application/cloudevents+json"],
            )?;
        }
        match parse_properties(bytes.as_slice()) {
            Ok((_, parsed)) => properties = parsed,
            Err(_) => return Ok("not a frame"),
        }
        wire = true;
    }
    if u.ratio(1, 5)? {
        inputs::mutate_bytes(u, &mut body, &["{", "}", "\"data\":", "null"])?;
    }
    show(|| format!("properties: {properties:#?}\nbody: {}", String::from_utf8_lossy(&body)));
    let structured = properties
        .content_type()
        .as_ref()
        .is_some_and(|ct| ct.as_str().split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(STRUCTURED));
    let event = match to_event(&properties, &body) {
        Ok(event) => event,
        Err(error) => {
            let _ = error.to_string();
            return Ok("refused");
        }
    };
    check(u, &properties, &body, &event)?;
    Ok(if wire {
        "from the wire"
    } else if structured {
        "structured"
    } else {
        "binary"
    })
}

fn check(u: &mut Unstructured<'_>, properties: &BasicProperties, body: &[u8], event: &Event) -> Result<()> {
    let _ = limits::check(event);

    // Written again, as the host republishes a retried or dead-lettered event.
    if let Ok(again) = properties_for(event) {
        let back = to_event(&again, &body_for(event)).expect("what properties_for writes reads back");
        assert_same(event, &back, "written again");
        if let Some(bytes) = wire_bytes(&again) {
            let (_, parsed) = parse_properties(bytes.as_slice()).expect("lapin parses what it wrote");
            let back = to_event(&parsed, &body_for(event)).expect("what properties_for writes survives the wire");
            assert_same(event, &back, "written to the wire");
        }
    }

    // Our own headers ride along without touching the event.
    let mut extra = FieldTable::default();
    for _ in 0..u.int_in_range(0..=3)? {
        let name = text(
            u,
            &["x-retry-count", "x-dead-letter-reason", "x-death", "cloudEvents:brand", "cloudevents:id", "ce-id"],
        )?;
        if let Ok(name) = ShortString::try_new(name) {
            extra.insert(name, value(u, 1)?);
        }
    }
    match with_extra_headers(properties.clone(), &extra) {
        Ok(with) => {
            let back = to_event(&with, body).expect("extra headers do not make an event unreadable");
            assert_eq!(&back, event, "extra headers changed the event");
            let kept = extra_headers(&with);
            for (name, value) in extra.inner() {
                // Compared as written: a float header may be NaN, which equals nothing.
                let kept = kept.inner().get(name).map(|v| format!("{v:?}"));
                assert_eq!(kept, Some(format!("{value:?}")), "extra header {name} was not kept");
            }
        }
        Err(_) => assert!(
            extra.inner().keys().any(|name| attribute_name(name.as_str()).is_some()),
            "extra headers without an attribute prefix were refused"
        ),
    }

    // The host hands what it consumed to a component in HTTP binary mode.
    http_binding::delivers_the_same(event, false);
    Ok(())
}

/// The same event, but for data that only the JSON event format types: in
/// binary mode data is typed by its content type alone.
fn assert_same(event: &Event, back: &Event, how: &str) {
    let attributes = |e: &Event| e.iter_attributes().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>();
    assert_eq!(attributes(back), attributes(event), "{how}: the attributes changed");
    let extensions = |e: &Event| {
        let mut all: Vec<_> = e.iter_extensions().map(|(n, v)| (n.to_string(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    };
    assert_eq!(extensions(back), extensions(event), "{how}: the extensions changed");
    assert!(http_binding::same_data(back, event), "{how}: the data changed: {:?}", back.data());
}

/// A message the binding wrote, then edited the way a broker, a plugin or
/// an attacker with publish rights could.
fn written(u: &mut Unstructured<'_>) -> Result<(BasicProperties, Vec<u8>)> {
    let object = Value::Object(http_binding::event_object(u)?);
    let Ok(event) = serde_json::from_value::<Event>(object) else {
        return Ok((made_up(u)?, u.arbitrary()?));
    };
    let message = if u.ratio(1, 4)? {
        AmqpMessage::from_event_structured(event)
    } else {
        properties_for(&event).map(|properties| AmqpMessage { properties, body: body_for(&event) })
    };
    let Ok(AmqpMessage { mut properties, body }) = message else {
        return Ok((made_up(u)?, u.arbitrary()?));
    };
    for _ in 0..u.int_in_range(0..=3)? {
        let mut headers = properties.headers().clone().unwrap_or_default();
        match u.int_in_range(0..=4)? {
            0 => {
                let i = u.choose_index(headers.inner().len().max(1))?;
                if let Some(name) = headers.inner().keys().nth(i).cloned() {
                    let mut all = headers.inner().clone();
                    all.remove(&name);
                    headers = FieldTable::from(all);
                }
            }
            1 | 2 => {
                headers.insert(header_name(u)?, value(u, 2)?);
            }
            3 => {
                properties = properties.with_content_type(short(u, &[CONTENT_TYPES, BAD_CONTENT_TYPES].concat())?);
                continue;
            }
            _ => {
                properties = match u.int_in_range(0..=1)? {
                    0 => properties.with_message_id(short(u, IDS)?),
                    _ => properties.with_timestamp(u.arbitrary()?),
                };
                continue;
            }
        }
        properties = properties.with_headers(headers);
    }
    Ok((properties, body))
}

/// Properties made up from scratch: attributes in the headers with values
/// of every AMQP type that can hold them, extensions, and other headers.
fn made_up(u: &mut Unstructured<'_>) -> Result<BasicProperties> {
    let mut properties = BasicProperties::default();
    if u.ratio(1, 2)? {
        properties = properties.with_content_type(short(u, &[CONTENT_TYPES, BAD_CONTENT_TYPES].concat())?);
    }
    if u.ratio(9, 10)? {
        properties = properties.with_message_id(short(u, IDS)?);
    }
    if u.ratio(1, 3)? {
        let seconds = *u.choose(&[0, 1, 1_749_416_383, 253_402_300_799, 253_402_300_800, i64::MAX as u64, u64::MAX])?;
        properties = properties.with_timestamp(seconds);
    }
    let mut headers = FieldTable::default();
    let attributes: [(&str, u8, &[&str], &[&str]); 6] = [
        ("specversion", 95, SPEC_VERSIONS, BAD_SPEC_VERSIONS),
        ("type", 95, types::ALL, &[""]),
        ("source", 95, SOURCES, &[""]),
        ("subject", 30, &["order/ord-1"], &[""]),
        ("time", 30, TIMES, BAD_TIMES),
        ("dataschema", 10, SCHEMAS, BAD_SCHEMAS),
    ];
    for (name, odds, good, bad) in attributes {
        if u.int_in_range(0..=99)? < odds {
            let text = word(u, good, bad)?;
            let value = match u.int_in_range(0..=9)? {
                0 => AMQPValue::ShortString(cut_short(text)),
                1 => AMQPValue::ByteArray(ByteArray::from(text.into_bytes())),
                2 => value(u, 1)?,
                _ => AMQPValue::LongString(LongString::from(text)),
            };
            headers.insert(ShortString::from(format!("{}{name}", prefix(u)?)), value);
        }
    }
    for _ in 0..u.int_in_range(0..=3)? {
        let name = format!("{}{}", prefix(u)?, word(u, EXTENSION_NAMES, BAD_EXTENSION_NAMES)?);
        if let Ok(name) = ShortString::try_new(name) {
            headers.insert(name, value(u, 1)?);
        }
    }
    for _ in 0..u.int_in_range(0..=2)? {
        headers.insert(header_name(u)?, value(u, 2)?);
    }
    Ok(properties.with_headers(headers))
}

fn header_name(u: &mut Unstructured<'_>) -> Result<ShortString> {
    let name = match u.int_in_range(0..=4)? {
        0..=2 => format!("{}{}", prefix(u)?, text(u, ATTRIBUTE_NAMES)?),
        3 => format!("{}{}", prefix(u)?, word(u, EXTENSION_NAMES, BAD_EXTENSION_NAMES)?),
        _ => {
            text(u, &["x-retry-count", "x-death", "cloudevents:id", "cloudEvents", "CloudEvents:type", "ce-", "ce_id"])?
        }
    };
    Ok(ShortString::try_new(name).unwrap_or_else(|_| ShortString::from(format!("{HEADER_PREFIX}x"))))
}

/// An attribute header prefix: mostly the one we write, often another
/// producer's.
fn prefix(u: &mut Unstructured<'_>) -> Result<&'static str> {
    Ok(if u.ratio(1, 2)? { HEADER_PREFIX } else { *u.choose(&HEADER_PREFIXES)? })
}

/// Any AMQP field value, strings mostly the words attributes hold.
fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<AMQPValue> {
    let words: Vec<&str> = IDS.iter().chain(SOURCES).chain(TIMES).chain(EXTENSION_VALUES).copied().collect();
    let top = if depth == 0 { 15 } else { 17 };
    Ok(match u.int_in_range(0..=top)? {
        0..=4 => AMQPValue::LongString(LongString::from(text(u, &words)?)),
        5 => AMQPValue::ShortString(short(u, &words)?),
        6 => AMQPValue::ByteArray(ByteArray::from(u.arbitrary::<Vec<u8>>()?)),
        7 => AMQPValue::Boolean(u.arbitrary()?),
        8 => AMQPValue::ShortShortInt(u.arbitrary()?),
        9 => AMQPValue::ShortUInt(u.arbitrary()?),
        10 => AMQPValue::LongUInt(u.arbitrary()?),
        11 => AMQPValue::LongLongInt(*u.choose(&[i64::MIN, -1, 0, 1, 3, i64::MAX])?),
        12 => AMQPValue::Timestamp(*u.choose(&[0, 1_749_416_383, 253_402_300_800, i64::MAX as u64, u64::MAX])?),
        13 => AMQPValue::Double(u.arbitrary()?),
        14 => AMQPValue::DecimalValue(DecimalValue { scale: u.arbitrary()?, value: u.arbitrary()? }),
        15 => AMQPValue::Void,
        16 => {
            let len = u.int_in_range(0..=3)?;
            AMQPValue::FieldArray(FieldArray::from((0..len).map(|_| value(u, depth - 1)).collect::<Result<Vec<_>>>()?))
        }
        _ => {
            let mut table = FieldTable::default();
            for _ in 0..u.int_in_range(0..=3)? {
                table.insert(header_name(u)?, value(u, depth - 1)?);
            }
            AMQPValue::FieldTable(table)
        }
    })
}

/// A short string (at most 255 bytes, as on the wire).
fn short(u: &mut Unstructured<'_>, dict: &[&str]) -> Result<ShortString> {
    Ok(cut_short(text(u, dict)?))
}

/// `text` cut to a short string's 255 bytes (lapin's `From` panics past them).
fn cut_short(mut text: String) -> ShortString {
    while text.len() > 255 {
        text.pop();
    }
    ShortString::from(text)
}

/// The properties as they travel in a content header frame.
fn wire_bytes(properties: &BasicProperties) -> Option<Vec<u8>> {
    cookie_factory::gen_simple(gen_properties(properties), Vec::new()).ok()
}
