//! Reading messages we did not write ourselves: structured mode, other
//! producers' header types and prefix spellings, non-CloudEvents, and our
//! extra headers.

use cloudevents::event::ExtensionValue;
use cloudevents::message::{Encoding, MessageDeserializer};
use cloudevents::{AttributesReader, Data, EventBuilder, EventBuilderV10};
use cloudevents_amqp::{
    AmqpDeserializer, AmqpMessage, Error, HEADER_PREFIXES, attribute_header, attribute_name, body_for, extra_headers,
    properties_for, to_event, with_extra_headers,
};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, ByteArray, FieldTable, LongString, ShortString};

use crate::{TestResult, full, minimal};

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in entries {
        table.insert((*name).into(), value.clone());
    }
    table
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

#[test]
fn structured_mode() -> TestResult {
    let event = full();
    let message = AmqpMessage::from_event_structured(event.clone())?;
    assert_eq!(message.properties.content_type().as_ref().unwrap().as_str(), "application/cloudevents+json");
    assert_eq!(message.properties.headers(), &None);
    let json: serde_json::Value = serde_json::from_slice(&message.body)?;
    assert_eq!(json["id"], "0001");
    assert_eq!(json["specversion"], "1.0");

    assert_eq!(AmqpDeserializer::new(&message.properties, &message.body).encoding(), Encoding::STRUCTURED);
    assert_eq!(to_event(&message.properties, &message.body)?, event);
    Ok(())
}

#[test]
fn structured_mode_with_charset_from_another_producer() -> TestResult {
    let body = serde_json::json!({
        "specversion": "1.0",
        "id": "ext-1",
        "type": "com.example.ping",
        "source": "/elsewhere",
        "time": "2026-05-01T00:00:00.000000001Z",
        "depth": 7,
        "datacontenttype": "application/json",
        "data": { "ping": true }
    })
    .to_string();
    // The media type is case-insensitive; the parameter is ignored. Binary-mode
    // headers on a structured message are ignored too.
    let properties = BasicProperties::default()
        .with_content_type("Application/CloudEvents+JSON; charset=utf-8".into())
        .with_headers(table(&[("cloudEvents:specversion", long_string("0.3"))]));

    let event = to_event(&properties, body.as_bytes())?;
    assert_eq!(event.id(), "ext-1");
    assert_eq!(event.time().unwrap().timestamp_subsec_nanos(), 1);
    assert_eq!(event.extension("depth"), Some(&ExtensionValue::Integer(7)));
    assert_eq!(event.data(), Some(&Data::Json(serde_json::json!({ "ping": true }))));
    Ok(())
}

#[test]
fn malformed_structured_body_is_invalid() {
    let properties = BasicProperties::default().with_content_type("application/cloudevents+json".into());
    let error = to_event(&properties, b"{ not json").unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error}");
}

#[test]
fn plain_message_is_not_a_cloud_event() {
    let properties = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_message_id("m-1".into())
        .with_headers(table(&[("x-retry-count", AMQPValue::LongLongInt(2))]));
    assert_eq!(AmqpDeserializer::new(&properties, b"hello").encoding(), Encoding::UNKNOWN);

    let error = to_event(&properties, b"hello").unwrap_err();
    assert!(matches!(&error, Error::NotACloudEvent { content_type: Some(ct) } if ct == "text/plain"), "{error:?}");
    assert_eq!(
        error.to_string(),
        "message is not a CloudEvent: it has no `cloudEvents:specversion` header \
         (nor `cloudEvents_specversion` or `ce-specversion`) \
         and its content-type (text/plain) is not `application/cloudevents+json`"
    );

    let error = to_event(&BasicProperties::default(), b"").unwrap_err();
    assert!(error.to_string().starts_with("message is not a CloudEvent"));
    assert!(error.to_string().contains("content-type (none)"));
}

#[test]
fn header_names_are_case_sensitive() {
    // `CloudEvents:specversion` is not `cloudEvents:specversion`.
    let properties = BasicProperties::default().with_message_id("0001".into()).with_headers(table(&[
        ("CloudEvents:specversion", long_string("1.0")),
        ("cloudEvents:type", long_string("t")),
        ("cloudEvents:source", long_string("/s")),
    ]));
    let error = to_event(&properties, b"").unwrap_err();
    assert!(matches!(error, Error::NotACloudEvent { .. }), "{error}");
}

#[test]
fn other_case_prefixes_are_not_extensions() -> TestResult {
    let properties = BasicProperties::default().with_message_id("0001".into()).with_headers(table(&[
        ("cloudEvents:specversion", long_string("1.0")),
        ("cloudEvents:type", long_string("t")),
        ("cloudEvents:source", long_string("/s")),
        ("cloudevents:brand", long_string("fashion")),
        ("ce_brand", long_string("fashion")),
    ]));
    let event = to_event(&properties, b"")?;
    assert_eq!(event.iter_extensions().count(), 0);
    Ok(())
}

#[test]
fn values_as_short_strings_long_strings_and_byte_arrays() -> TestResult {
    let properties = BasicProperties::default()
        .with_message_id("0001".into())
        .with_content_type("text/plain".into())
        .with_headers(table(&[
            ("cloudEvents:specversion", AMQPValue::ShortString(ShortString::from("1.0"))),
            ("cloudEvents:type", AMQPValue::ByteArray(ByteArray::from(&b"com.example.t"[..]))),
            ("cloudEvents:source", long_string("/s")),
            ("cloudEvents:subject", AMQPValue::ShortString(ShortString::from("subj"))),
            ("cloudEvents:time", AMQPValue::ByteArray(ByteArray::from(&b"2026-05-01T01:02:03.45Z"[..]))),
            ("cloudEvents:dataschema", AMQPValue::ByteArray(ByteArray::from(&b"https://s.example.com/x"[..]))),
            ("cloudEvents:brand", AMQPValue::ShortString(ShortString::from("shoes"))),
            ("cloudEvents:tag", AMQPValue::ByteArray(ByteArray::from(&b"b"[..]))),
            ("cloudEvents:small", AMQPValue::ShortShortInt(-5)),
            ("cloudEvents:medium", AMQPValue::LongUInt(4_000_000_000)),
        ]));

    let event = to_event(&properties, b"hi")?;
    assert_eq!(event.ty(), "com.example.t");
    assert_eq!(event.source(), "/s");
    assert_eq!(event.subject(), Some("subj"));
    assert_eq!(event.time().unwrap().to_rfc3339(), "2026-05-01T01:02:03.450+00:00");
    assert_eq!(event.dataschema().unwrap().as_str(), "https://s.example.com/x");
    assert_eq!(event.extension("brand"), Some(&ExtensionValue::String("shoes".into())));
    assert_eq!(event.extension("tag"), Some(&ExtensionValue::String("b".into())));
    assert_eq!(event.extension("small"), Some(&ExtensionValue::Integer(-5)));
    assert_eq!(event.extension("medium"), Some(&ExtensionValue::Integer(4_000_000_000)));
    assert_eq!(event.data(), Some(&Data::String("hi".into())));
    Ok(())
}

#[test]
fn timestamp_property_alone_gives_the_time() -> TestResult {
    let properties =
        BasicProperties::default().with_message_id("0001".into()).with_timestamp(1_777_777_777).with_headers(table(&[
            ("cloudEvents:specversion", long_string("1.0")),
            ("cloudEvents:type", long_string("t")),
            ("cloudEvents:source", long_string("/s")),
        ]));
    let event = to_event(&properties, b"")?;
    assert_eq!(event.time().unwrap().timestamp(), 1_777_777_777);
    Ok(())
}

#[test]
fn a_timestamp_past_year_9999_is_out_of_range() -> TestResult {
    // Found by the amqp-binding fuzz target: year 10000 was read, then
    // written again as a `time` header no reader parses.
    let at = |seconds| {
        BasicProperties::default().with_message_id("0001".into()).with_timestamp(seconds).with_headers(table(&[
            ("cloudEvents:specversion", long_string("1.0")),
            ("cloudEvents:type", long_string("t")),
            ("cloudEvents:source", long_string("/s")),
        ]))
    };
    let last = to_event(&at(253_402_300_799), b"")?;
    assert_eq!(to_event(&properties_for(&last)?, b"")?, last);
    let error = to_event(&at(253_402_300_800), b"").unwrap_err();
    assert!(matches!(error, cloudevents_amqp::Error::InvalidHeader { .. }), "{error}");
    Ok(())
}

#[test]
fn unsupported_header_type_is_an_error() {
    let properties = BasicProperties::default().with_message_id("0001".into()).with_headers(table(&[
        ("cloudEvents:specversion", long_string("1.0")),
        ("cloudEvents:type", long_string("t")),
        ("cloudEvents:source", long_string("/s")),
        ("cloudEvents:ratio", AMQPValue::Double(0.5)),
    ]));
    let error = to_event(&properties, b"").unwrap_err();
    assert!(matches!(&error, Error::InvalidHeader { name, .. } if name == "cloudEvents:ratio"), "{error}");
    assert!(error.to_string().contains("Double"), "{error}");
}

#[test]
fn invalid_utf8_header_is_an_error() {
    let properties = BasicProperties::default().with_message_id("0001".into()).with_headers(table(&[
        ("cloudEvents:specversion", long_string("1.0")),
        ("cloudEvents:type", AMQPValue::LongString(vec![0xff, 0xfe].into())),
        ("cloudEvents:source", long_string("/s")),
    ]));
    let error = to_event(&properties, b"").unwrap_err();
    assert_eq!(error.to_string(), "header `cloudEvents:type`: value is not UTF-8");
}

#[test]
fn unknown_spec_version_and_missing_id_are_invalid() {
    let headers = |version: &str| {
        table(&[
            ("cloudEvents:specversion", long_string(version)),
            ("cloudEvents:type", long_string("t")),
            ("cloudEvents:source", long_string("/s")),
        ])
    };
    let properties = BasicProperties::default().with_message_id("0001".into()).with_headers(headers("2.0"));
    let error = to_event(&properties, b"").unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error}");
    assert!(error.to_string().contains("2.0"), "{error}");

    let properties = BasicProperties::default().with_headers(headers("1.0"));
    let error = to_event(&properties, b"").unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error}");
    assert!(error.to_string().contains("id"), "{error}");
}

#[test]
fn extra_headers_ride_along_and_stay_out_of_the_event() -> TestResult {
    let event = full();
    let extra = table(&[
        ("x-retry-count", AMQPValue::LongLongInt(2)),
        ("x-dead-letter-reason", long_string("handler failed: boom")),
        // Case-sensitive: not our prefix.
        ("CloudEvents:note", long_string("not an attribute")),
    ]);
    let properties = with_extra_headers(properties_for(&event)?, &extra)?;
    let body = body_for(&event);

    assert_eq!(to_event(&properties, &body)?, event);
    assert_eq!(extra_headers(&properties), extra);
    assert_eq!(extra_headers(&properties_for(&event)?), FieldTable::default());

    // A later retry replaces the count and keeps the reason.
    let bumped = table(&[("x-retry-count", AMQPValue::LongLongInt(3))]);
    let properties = with_extra_headers(properties, &bumped)?;
    let extra_now = extra_headers(&properties);
    assert_eq!(extra_now.inner().get("x-retry-count"), Some(&AMQPValue::LongLongInt(3)));
    assert!(extra_now.contains_key("x-dead-letter-reason"));
    assert_eq!(to_event(&properties, &body)?, event);
    Ok(())
}

#[test]
fn extra_headers_cannot_use_any_of_the_prefixes() -> TestResult {
    let event = minimal().build()?;
    for name in ["cloudEvents:retry", "cloudEvents_retry", "ce-retry"] {
        let extra = table(&[(name, AMQPValue::LongLongInt(1))]);
        let error = with_extra_headers(properties_for(&event)?, &extra).unwrap_err();
        assert!(matches!(&error, Error::ReservedHeader { name: refused } if refused == name), "{error}");
    }
    Ok(())
}

/// A message as another producer's SDK writes it: every attribute in a
/// header of one spelling (the id too, no `message-id`), the content type
/// in the property, a JSON body.
fn foreign(prefix: &str) -> BasicProperties {
    let header = |name: &str, value: AMQPValue| (format!("{prefix}{name}"), value);
    let headers = [
        header("specversion", long_string("1.0")),
        header("id", long_string("py-7")),
        header("type", long_string("com.example.order.placed")),
        header("source", long_string("/billing")),
        header("time", long_string("2026-05-01T12:00:00.5Z")),
        header("brand", long_string("fashion")),
        header("depth", AMQPValue::LongInt(2)),
    ];
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert(name.into(), value);
    }
    // Not attributes, whoever wrote them.
    table.insert("x-retry-count".into(), AMQPValue::LongLongInt(1));
    table.insert("ce_brand".into(), long_string("tech"));
    BasicProperties::default().with_content_type("application/json".into()).with_headers(table)
}

#[test]
fn every_prefix_spelling_reads_as_the_same_event() -> TestResult {
    let expected = EventBuilderV10::new()
        .id("py-7")
        .ty("com.example.order.placed")
        .source("/billing")
        .time("2026-05-01T12:00:00.5Z")
        .extension("brand", "fashion")
        .extension("depth", 2)
        .data("application/json", serde_json::json!({ "total": 12 }))
        .build()?;
    for prefix in HEADER_PREFIXES {
        let properties = foreign(prefix);
        let message = AmqpDeserializer::new(&properties, br#"{"total":12}"#);
        assert_eq!(message.encoding(), Encoding::BINARY, "{prefix}");
        assert_eq!(to_event(&properties, br#"{"total":12}"#)?, expected, "{prefix}");
        // What we write again is the binding's own spelling only.
        let again = properties_for(&expected)?;
        let names: Vec<&str> = again.headers().as_ref().unwrap().inner().keys().map(|k| k.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("cloudEvents:")), "{names:?}");
    }
    assert_eq!(HEADER_PREFIXES, ["cloudEvents:", "cloudEvents_", "ce-"]);
    Ok(())
}

#[test]
fn one_event_may_mix_spellings() -> TestResult {
    let properties = BasicProperties::default().with_headers(table(&[
        ("ce-specversion", long_string("1.0")),
        ("cloudEvents_id", long_string("m-1")),
        ("cloudEvents:type", long_string("t")),
        ("ce-source", long_string("/s")),
        ("cloudEvents_brand", long_string("tech")),
    ]));
    let event = to_event(&properties, b"")?;
    assert_eq!((event.id(), event.ty(), event.source().as_str()), ("m-1", "t", "/s"));
    assert_eq!(event.extension("brand"), Some(&ExtensionValue::String("tech".into())));
    Ok(())
}

#[test]
fn two_spellings_that_agree_are_one_attribute() -> TestResult {
    let properties = BasicProperties::default().with_message_id("0001".into()).with_headers(table(&[
        ("cloudEvents:specversion", long_string("1.0")),
        ("ce-specversion", AMQPValue::ShortString(ShortString::from("1.0"))),
        ("cloudEvents:type", long_string("t")),
        ("cloudEvents_type", long_string("t")),
        ("ce-type", AMQPValue::ByteArray(ByteArray::from(&b"t"[..]))),
        ("cloudEvents:source", long_string("/s")),
        ("cloudEvents:depth", AMQPValue::LongLongInt(3)),
        ("ce-depth", long_string("3")),
    ]));
    let event = to_event(&properties, b"")?;
    assert_eq!(event.ty(), "t");
    // The first spelling gives the value its type.
    assert_eq!(event.extension("depth"), Some(&ExtensionValue::Integer(3)));
    Ok(())
}

#[test]
fn two_spellings_that_disagree_are_an_error() {
    let properties = |pairs: &[(&str, &str)]| {
        let mut headers =
            table(&[("cloudEvents:specversion", long_string("1.0")), ("cloudEvents:source", long_string("/s"))]);
        for (name, value) in pairs {
            headers.insert((*name).into(), long_string(value));
        }
        BasicProperties::default().with_message_id("0001".into()).with_headers(headers)
    };

    let error = to_event(&properties(&[("cloudEvents_type", "t.one"), ("ce-type", "t.two")]), b"").unwrap_err();
    assert!(
        matches!(&error, Error::ConflictingHeaders { attribute, first, second }
            if attribute == "type" && first == "cloudEvents_type" && second == "ce-type"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "attribute `type` is given twice with different values, in headers cloudEvents_type and ce-type: \
         a producer writes each attribute once, with one prefix"
    );
    // The values are not in the message: they may be anyone's text.
    assert!(!error.to_string().contains("t.one"));

    // An extension too, whichever comes first in the table: the binding's
    // own spelling is named first.
    let error = to_event(
        &properties(&[("ce-brand", "tech"), ("cloudEvents:brand", "fashion"), ("cloudEvents:type", "t")]),
        b"",
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::ConflictingHeaders { attribute, first, second }
            if attribute == "brand" && first == "cloudEvents:brand" && second == "ce-brand"),
        "{error:?}"
    );

    // And the spec version, whose header decides the mode.
    let error = to_event(&properties(&[("cloudEvents:type", "t"), ("ce-specversion", "0.3")]), b"").unwrap_err();
    assert!(matches!(&error, Error::ConflictingHeaders { attribute, .. } if attribute == "specversion"), "{error:?}");
}

#[test]
fn a_missing_required_attribute_in_another_spelling_is_invalid() {
    let properties = BasicProperties::default().with_headers(table(&[
        ("ce-specversion", long_string("1.0")),
        ("ce-id", long_string("1")),
        ("ce-type", long_string("t")),
    ]));
    assert_eq!(AmqpDeserializer::new(&properties, b"").encoding(), Encoding::BINARY);
    let error = to_event(&properties, b"").unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error:?}");
    assert!(error.to_string().contains("Missing required attribute source"), "{error}");
}

#[test]
fn a_prefix_alone_is_the_empty_extension_in_every_spelling() -> TestResult {
    // Found by the amqp-binding fuzz target: the SDK takes an extension
    // named "", which we write as a header named `cloudEvents:`, so it must
    // read back; the other spellings of it are the same attribute.
    let properties = |extra: &[(&str, &str)]| {
        let mut headers = table(&[
            ("cloudEvents_specversion", long_string("1.0")),
            ("cloudEvents_type", long_string("t")),
            ("cloudEvents_source", long_string("/s")),
        ]);
        for (name, value) in extra {
            headers.insert((*name).into(), long_string(value));
        }
        BasicProperties::default().with_message_id("0001".into()).with_headers(headers)
    };
    let event = to_event(&properties(&[("ce-", "?")]), b"")?;
    assert_eq!(event.extension(""), Some(&ExtensionValue::String("?".into())));
    assert_eq!(to_event(&properties_for(&event)?, b"")?, event);
    let error = to_event(&properties(&[("ce-", "?"), ("cloudEvents:", "!")]), b"").unwrap_err();
    assert!(matches!(&error, Error::ConflictingHeaders { attribute, .. } if attribute.is_empty()), "{error:?}");
    Ok(())
}

#[test]
fn other_spellings_are_not_extra_headers() -> TestResult {
    let properties = foreign("cloudEvents_");
    let extra = extra_headers(&properties);
    let names: Vec<&str> = extra.inner().keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["ce_brand", "x-retry-count"]);
    assert_eq!(attribute_name("cloudEvents_brand"), Some("brand"));
    assert_eq!(attribute_name("ce-brand"), Some("brand"));
    assert_eq!(attribute_name("ce_brand"), None);
    assert_eq!(attribute_name("CE-brand"), None, "case-sensitive");
    Ok(())
}

#[test]
fn attribute_header_takes_the_first_spelling_there() {
    let properties = BasicProperties::default().with_headers(table(&[
        ("ce-conversation", long_string("from ce-")),
        ("cloudEvents_conversation", long_string("from cloudEvents_")),
    ]));
    assert_eq!(attribute_header(&properties, "conversation"), Some(&long_string("from cloudEvents_")));
    assert_eq!(attribute_header(&properties, "brand"), None);
    assert_eq!(attribute_header(&BasicProperties::default(), "conversation"), None);
}
