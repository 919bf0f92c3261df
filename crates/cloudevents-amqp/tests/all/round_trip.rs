//! Event → properties + body → event, for every kind of attribute and data.

use chrono::{DateTime, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::message::{BinaryDeserializer, MessageDeserializer};
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV03};
use cloudevents_amqp::{AmqpDeserializer, AmqpMessage, AmqpSerializer, body_for, properties_for, to_event};
use lapin::types::{AMQPValue, LongString};

use crate::{TestResult, full, header, minimal};

/// Encodes `event` both ways (the helpers and the SDK trait path), checks they
/// agree, and reads it back.
fn round_trip(event: &Event) -> TestResult<Event> {
    let properties = properties_for(event)?;
    let body = body_for(event);

    let message = AmqpMessage::from_event(event.clone())?;
    assert_eq!(message.body, body, "body_for and the binding agree");
    assert_eq!(message.properties.with_delivery_mode(2), properties, "properties_for and the binding agree");

    Ok(to_event(&properties, &body)?)
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

#[test]
fn required_attributes_only() -> TestResult {
    let event = minimal().build()?;
    let properties = properties_for(&event)?;

    assert_eq!(properties.message_id().as_ref().unwrap().as_str(), "0001");
    assert_eq!(properties.delivery_mode(), &Some(2));
    assert_eq!(properties.content_type(), &None);
    assert_eq!(properties.timestamp(), &None);
    assert_eq!(header(&properties, "cloudEvents:specversion"), Some(&long_string("1.0")));
    assert_eq!(header(&properties, "cloudEvents:type"), Some(&long_string("com.example.order.placed")));
    assert_eq!(header(&properties, "cloudEvents:source"), Some(&long_string("/agent-store/order-processor")));
    // `id` travels as `message-id` only.
    assert_eq!(header(&properties, "cloudEvents:id"), None);
    assert!(body_for(&event).is_empty());

    assert_eq!(round_trip(&event)?, event);
    Ok(())
}

#[test]
fn subject() -> TestResult {
    let event = minimal().subject("order/42").build()?;
    let properties = properties_for(&event)?;
    assert_eq!(header(&properties, "cloudEvents:subject"), Some(&long_string("order/42")));
    assert_eq!(round_trip(&event)?, event);
    Ok(())
}

#[test]
fn dataschema() -> TestResult {
    let event = minimal()
        .data_with_schema(
            "application/json",
            "https://schemas.example.com/order.json",
            serde_json::json!({ "order": 42 }),
        )
        .build()?;
    let properties = properties_for(&event)?;
    assert_eq!(
        header(&properties, "cloudEvents:dataschema"),
        Some(&long_string("https://schemas.example.com/order.json"))
    );
    let back = round_trip(&event)?;
    assert_eq!(back.dataschema().map(|u| u.as_str()), Some("https://schemas.example.com/order.json"));
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn time_with_nanoseconds() -> TestResult {
    let time = "2026-05-01T12:34:56.123456789Z";
    let event = minimal().time(time).build()?;
    let properties = properties_for(&event)?;

    let expected: DateTime<Utc> = time.parse()?;
    assert_eq!(properties.timestamp(), &Some(u64::try_from(expected.timestamp())?));
    assert_eq!(header(&properties, "cloudEvents:time"), Some(&long_string(time)));

    let back = round_trip(&event)?;
    assert_eq!(back.time(), Some(&expected));
    assert_eq!(back.time().unwrap().timestamp_subsec_nanos(), 123_456_789);
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn time_before_1970_has_no_timestamp_property() -> TestResult {
    let event = minimal().time("1969-07-20T20:17:40.5Z").build()?;
    let properties = properties_for(&event)?;
    assert_eq!(properties.timestamp(), &None);
    assert_eq!(round_trip(&event)?, event);
    Ok(())
}

#[test]
fn json_data() -> TestResult {
    let data = serde_json::json!({ "order": 42, "items": ["shoe", "sock"], "note": null });
    let event = minimal().data("application/json", data.clone()).build()?;
    let properties = properties_for(&event)?;
    assert_eq!(properties.content_type().as_ref().unwrap().as_str(), "application/json");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body_for(&event))?, data);

    let back = round_trip(&event)?;
    assert_eq!(back.data(), Some(&Data::Json(data)));
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn json_suffix_and_charset_are_json() -> TestResult {
    let data = serde_json::json!({ "a": 1 });
    let event = minimal().data("application/vnd.example+json; charset=utf-8", data.clone()).build()?;
    let back = round_trip(&event)?;
    assert_eq!(back.data(), Some(&Data::Json(data)));
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn text_data() -> TestResult {
    let event = minimal().data("text/plain; charset=utf-8", "¡hola, mundo!").build()?;
    assert_eq!(body_for(&event), "¡hola, mundo!".as_bytes());
    let back = round_trip(&event)?;
    assert_eq!(back.data(), Some(&Data::String("¡hola, mundo!".into())));
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn binary_data() -> TestResult {
    let bytes = vec![0x00, 0xff, 0xfe, 0x80, b'{', 0x01];
    let event = minimal().data("application/octet-stream", bytes.clone()).build()?;
    assert_eq!(body_for(&event), bytes);
    let back = round_trip(&event)?;
    assert_eq!(back.data(), Some(&Data::Binary(bytes)));
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn extensions_keep_their_type() -> TestResult {
    let event = minimal()
        .extension("brand", "fashion")
        .extension("depth", 3)
        .extension("negative", i64::MIN)
        .extension("replay", true)
        .extension("dry", false)
        .build()?;
    let properties = properties_for(&event)?;
    assert_eq!(header(&properties, "cloudEvents:brand"), Some(&long_string("fashion")));
    assert_eq!(header(&properties, "cloudEvents:depth"), Some(&AMQPValue::LongLongInt(3)));
    assert_eq!(header(&properties, "cloudEvents:negative"), Some(&AMQPValue::LongLongInt(i64::MIN)));
    assert_eq!(header(&properties, "cloudEvents:replay"), Some(&AMQPValue::Boolean(true)));

    let back = round_trip(&event)?;
    assert_eq!(back.extension("brand"), Some(&ExtensionValue::String("fashion".into())));
    assert_eq!(back.extension("depth"), Some(&ExtensionValue::Integer(3)));
    assert_eq!(back.extension("replay"), Some(&ExtensionValue::Boolean(true)));
    assert_eq!(back.extension("dry"), Some(&ExtensionValue::Boolean(false)));
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn no_data() -> TestResult {
    let event = minimal().subject("nothing to say").build()?;
    assert_eq!(event.data(), None);
    let back = round_trip(&event)?;
    assert_eq!(back.data(), None);
    assert_eq!(back, event);
    Ok(())
}

#[test]
fn everything_at_once() -> TestResult {
    let event = full();
    assert_eq!(round_trip(&event)?, event);
    Ok(())
}

#[test]
fn spec_version_0_3() -> TestResult {
    let event = EventBuilderV03::new()
        .id("0003")
        .ty("com.example.legacy")
        .source("/legacy")
        .subject("old")
        .time("2019-04-01T10:00:00.5Z")
        .extension("brand", "books")
        .data_with_schema("application/json", "https://schemas.example.com/legacy.json", serde_json::json!({ "v": 3 }))
        .build()?;
    let properties = properties_for(&event)?;
    assert_eq!(header(&properties, "cloudEvents:specversion"), Some(&long_string("0.3")));
    assert_eq!(
        header(&properties, "cloudEvents:schemaurl"),
        Some(&long_string("https://schemas.example.com/legacy.json"))
    );
    assert_eq!(round_trip(&event)?, event);
    Ok(())
}

#[test]
fn long_id_and_content_type_move_to_headers() -> TestResult {
    let id = "i".repeat(300);
    let content_type = format!("application/json; profile={}", "p".repeat(300));
    let event = minimal().id(id.clone()).data(content_type.clone(), serde_json::json!([1, 2])).build()?;
    let properties = properties_for(&event)?;
    assert_eq!(properties.message_id(), &None);
    assert_eq!(properties.content_type(), &None);
    assert_eq!(header(&properties, "cloudEvents:id"), Some(&long_string(&id)));
    assert_eq!(header(&properties, "cloudEvents:datacontenttype"), Some(&long_string(&content_type)));
    assert_eq!(round_trip(&event)?, event);
    Ok(())
}

#[test]
fn a_structured_content_type_as_data_type_moves_to_the_header() -> TestResult {
    // Found by the amqp-binding fuzz target: in the `content-type` property it
    // made the message read as structured mode, the data taken for the event.
    for content_type in ["application/cloudevents+json", "Application/CloudEvents+JSON; charset=utf-8"] {
        let inner = serde_json::to_string(&minimal().id("smuggled").build()?)?;
        let event = minimal().data(content_type, inner).build()?;
        let properties = properties_for(&event)?;
        assert_eq!(properties.content_type(), &None, "{content_type}");
        assert_eq!(header(&properties, "cloudEvents:datacontenttype"), Some(&long_string(content_type)));
        let back = to_event(&properties, &body_for(&event))?;
        assert_eq!(back.id(), "0001", "{content_type}: read as the data's event");
        assert_eq!(back.datacontenttype(), Some(content_type));
    }
    Ok(())
}

#[test]
fn extension_name_too_long_for_a_header_is_an_error() -> TestResult {
    let event = minimal().extension(&"x".repeat(250), 1).build()?;
    let error = properties_for(&event).unwrap_err();
    assert!(matches!(error, cloudevents_amqp::Error::InvalidHeader { .. }), "{error}");
    Ok(())
}

#[test]
fn sdk_trait_path_keeps_binary_data() -> TestResult {
    // The SDK's own `into_event`, like its HTTP and Kafka bindings, leaves
    // binary-mode data as bytes; `to_event` types it.
    let event = full();
    let message = AmqpMessage::from_event(event.clone())?;
    let read = MessageDeserializer::into_event(AmqpDeserializer::new(&message.properties, &message.body))?;
    assert_eq!(read.data(), Some(&Data::Binary(body_for(&event))));
    assert_eq!(read.id(), event.id());
    assert_eq!(read.time(), event.time());
    assert_eq!(read.iter_extensions().count(), event.iter_extensions().count());
    Ok(())
}

#[test]
fn transcode_binary_to_structured() -> TestResult {
    // A binary-mode delivery re-encoded in structured mode without going
    // through the caller's hands: the SDK's `deserialize_to_structured`.
    let event = full();
    let binary = AmqpMessage::from_event(event.clone())?;
    let structured =
        AmqpDeserializer::new(&binary.properties, &binary.body).deserialize_to_structured(AmqpSerializer::new())?;
    assert_eq!(structured.properties.content_type().as_ref().unwrap().as_str(), "application/cloudevents+json");
    // The bytes travel as `data_base64`; the JSON event format types them
    // back by `datacontenttype`, so the event is whole again.
    assert_eq!(to_event(&structured.properties, &structured.body)?, event);

    // The event itself, as a BinaryDeserializer, writes the same message.
    let direct = BinaryDeserializer::deserialize_binary(event, AmqpSerializer::new())?;
    assert_eq!(direct, binary);
    Ok(())
}
