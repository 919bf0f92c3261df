//! AMQP → event: [`AmqpDeserializer`] reads a delivery's properties and body.

use std::collections::BTreeMap;

use chrono::DateTime;
use cloudevents::event::SpecVersion;
use cloudevents::message::{
    self, BinaryDeserializer, BinarySerializer, Encoding, MessageAttributeValue, MessageDeserializer,
    StructuredDeserializer, StructuredSerializer,
};
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::AMQPValue;

use crate::serializer::sdk_error;
use crate::{CLOUDEVENTS_JSON_CONTENT_TYPE, Error, HEADER_PREFIXES};

/// The attribute whose header, in any spelling, makes a message binary mode.
const SPEC_VERSION: &str = "specversion";

/// The SDK's [`MessageDeserializer`] over an AMQP message: borrowed
/// properties and body, read in binary or structured content mode.
///
/// [`MessageDeserializer::into_event`] gives the event exactly as the SDK's
/// own bindings do (binary-mode data as [`Data::Binary`](cloudevents::Data));
/// [`to_event`](crate::to_event) also types the data by its content type.
#[derive(Debug, Clone, Copy)]
pub struct AmqpDeserializer<'a> {
    properties: &'a BasicProperties,
    body: &'a [u8],
}

impl<'a> AmqpDeserializer<'a> {
    /// Reads a message from its properties and body.
    pub fn new(properties: &'a BasicProperties, body: &'a [u8]) -> Self {
        Self { properties, body }
    }

    /// Reads a consumed (or `basic_get`) delivery.
    pub fn from_delivery(delivery: &'a Delivery) -> Self {
        Self::new(&delivery.properties, &delivery.data)
    }

    /// Every attribute header, by attribute name, whatever its prefix. An
    /// attribute in two spellings must have one value in both: a message
    /// routed by one spelling and read by the other would reach a
    /// subscriber its event does not match.
    fn attribute_headers(&self) -> message::Result<BTreeMap<&'a str, Header<'a>>> {
        let mut found: BTreeMap<&'a str, Header<'a>> = BTreeMap::new();
        let headers = self.properties.headers().iter().flat_map(|t| t.inner());
        // In the order of HEADER_PREFIXES, so that errors name the
        // binding's own spelling first.
        let mut spelled: Vec<(usize, &'a str, &'a str, &'a AMQPValue)> = headers
            .filter_map(|(header, value)| {
                let header = header.as_str();
                let (prefix, name) =
                    HEADER_PREFIXES.iter().enumerate().find_map(|(i, p)| Some((i, header.strip_prefix(p)?)))?;
                Some((prefix, header, name, value))
            })
            .collect();
        spelled.sort_by_key(|&(prefix, header, ..)| (prefix, header));
        for (_, header, name, value) in spelled {
            let value = attribute_value(header, value)?;
            match found.get(name) {
                // Compared as text: `3` as an integer in one spelling and as a
                // string in the other is one value.
                Some(first) if first.value.to_string() != value.to_string() => {
                    return Err(sdk_error(Error::ConflictingHeaders {
                        attribute: name.to_owned(),
                        first: first.name.to_owned(),
                        second: header.to_owned(),
                    }));
                }
                Some(_) => {}
                None => {
                    found.insert(name, Header { name: header, value });
                }
            }
        }
        Ok(found)
    }

    fn has_spec_version(&self) -> bool {
        crate::attribute_header(self.properties, SPEC_VERSION).is_some()
    }
}

/// An attribute header as read: its name as spelled, its value.
struct Header<'a> {
    name: &'a str,
    value: MessageAttributeValue,
}

impl BinaryDeserializer for AmqpDeserializer<'_> {
    fn deserialize_binary<R: Sized, V: BinarySerializer<R>>(self, mut visitor: V) -> message::Result<R> {
        if self.encoding() != Encoding::BINARY {
            return Err(message::Error::WrongEncoding {});
        }

        let mut headers = self.attribute_headers()?;
        let spec_version = match headers.remove(SPEC_VERSION) {
            Some(header) => header.value.to_string(),
            None => return Err(message::Error::WrongEncoding {}),
        };
        let spec_version = SpecVersion::try_from(spec_version.as_str())?;
        let attributes = spec_version.attribute_names();
        visitor = visitor.set_spec_version(spec_version)?;

        if let Some(id) = self.properties.message_id() {
            visitor = visitor.set_attribute("id", MessageAttributeValue::String(id.to_string()))?;
        }
        if let Some(content_type) = self.properties.content_type() {
            visitor =
                visitor.set_attribute("datacontenttype", MessageAttributeValue::String(content_type.to_string()))?;
        }
        // The header has the exact time; whole seconds only when it is missing.
        if let Some(seconds) = self.properties.timestamp()
            && !headers.contains_key("time")
        {
            visitor = visitor.set_attribute("time", timestamp("timestamp", *seconds)?)?;
        }

        // Headers without an attribute prefix (retry counts, x-death, …)
        // are not part of the event.
        for (name, Header { value, .. }) in headers {
            visitor = if attributes.contains(&name) {
                visitor.set_attribute(name, value)?
            } else {
                visitor.set_extension(name, value)?
            };
        }

        if self.body.is_empty() { visitor.end() } else { visitor.end_with_data(self.body.to_vec()) }
    }
}

impl StructuredDeserializer for AmqpDeserializer<'_> {
    fn deserialize_structured<R: Sized, V: StructuredSerializer<R>>(self, visitor: V) -> message::Result<R> {
        if self.encoding() != Encoding::STRUCTURED {
            return Err(message::Error::WrongEncoding {});
        }
        visitor.set_structured_event(self.body.to_vec())
    }
}

impl MessageDeserializer for AmqpDeserializer<'_> {
    fn encoding(&self) -> Encoding {
        let content_type = self.properties.content_type().as_ref();
        if content_type.is_some_and(|ct| is_structured(ct.as_str())) {
            Encoding::STRUCTURED
        } else if self.has_spec_version() {
            Encoding::BINARY
        } else {
            Encoding::UNKNOWN
        }
    }
}

/// `application/cloudevents+json`, with or without parameters (`; charset=utf-8`);
/// media types are case-insensitive.
pub(crate) fn is_structured(content_type: &str) -> bool {
    crate::media_type(content_type).eq_ignore_ascii_case(CLOUDEVENTS_JSON_CONTENT_TYPE)
}

/// A header value as the SDK's attribute type. Strings may arrive as long
/// strings, short strings or byte arrays (UTF-8); integers of any width.
fn attribute_value(header: &str, value: &AMQPValue) -> message::Result<MessageAttributeValue> {
    let utf8 = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .map(MessageAttributeValue::String)
            .map_err(|_| invalid(header, "value is not UTF-8".to_owned()))
    };
    Ok(match value {
        AMQPValue::LongString(s) => utf8(s.as_bytes())?,
        AMQPValue::ShortString(s) => MessageAttributeValue::String(s.as_str().to_owned()),
        AMQPValue::ByteArray(b) => utf8(b.as_slice())?,
        AMQPValue::Boolean(b) => MessageAttributeValue::Boolean(*b),
        AMQPValue::ShortShortInt(i) => MessageAttributeValue::Integer((*i).into()),
        AMQPValue::ShortShortUInt(i) => MessageAttributeValue::Integer((*i).into()),
        AMQPValue::ShortInt(i) => MessageAttributeValue::Integer((*i).into()),
        AMQPValue::ShortUInt(i) => MessageAttributeValue::Integer((*i).into()),
        AMQPValue::LongInt(i) => MessageAttributeValue::Integer((*i).into()),
        AMQPValue::LongUInt(i) => MessageAttributeValue::Integer((*i).into()),
        AMQPValue::LongLongInt(i) => MessageAttributeValue::Integer(*i),
        AMQPValue::Timestamp(seconds) => timestamp(header, *seconds)?,
        other => {
            return Err(invalid(header, format!("unsupported AMQP type {:?}", other.get_type())));
        }
    })
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z): a later time
/// would be written to the `time` header as a five-digit year, which no
/// reader (this one included) parses.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

fn timestamp(header: &str, seconds: u64) -> message::Result<MessageAttributeValue> {
    (seconds <= LAST_RFC3339_SECOND)
        .then(|| i64::try_from(seconds).ok())
        .flatten()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(MessageAttributeValue::DateTime)
        .ok_or_else(|| invalid(header, format!("timestamp {seconds} is out of range")))
}

fn invalid(header: &str, reason: String) -> message::Error {
    sdk_error(Error::InvalidHeader { name: header.to_owned(), reason })
}
