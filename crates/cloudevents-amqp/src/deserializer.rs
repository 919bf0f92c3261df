//! AMQP → event: [`AmqpDeserializer`] reads a delivery's properties and body.

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
use crate::{CLOUDEVENTS_JSON_CONTENT_TYPE, Error, HEADER_PREFIX, SPEC_VERSION_HEADER};

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

    fn header(&self, name: &str) -> Option<&'a AMQPValue> {
        self.properties.headers().as_ref()?.inner().get(name)
    }
}

impl BinaryDeserializer for AmqpDeserializer<'_> {
    fn deserialize_binary<R: Sized, V: BinarySerializer<R>>(self, mut visitor: V) -> message::Result<R> {
        if self.encoding() != Encoding::BINARY {
            return Err(message::Error::WrongEncoding {});
        }

        let spec_version = match self.header(SPEC_VERSION_HEADER) {
            Some(value) => attribute_value(SPEC_VERSION_HEADER, value)?.to_string(),
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
            && self.header(&format!("{HEADER_PREFIX}time")).is_none()
        {
            visitor = visitor.set_attribute("time", timestamp("timestamp", *seconds)?)?;
        }

        let headers = self.properties.headers().iter().flat_map(|t| t.inner());
        for (header, value) in headers {
            let Some(name) = header.as_str().strip_prefix(HEADER_PREFIX) else {
                continue; // Not ours: retry counts, x-death, …
            };
            if header.as_str() == SPEC_VERSION_HEADER {
                continue;
            }
            let value = attribute_value(header.as_str(), value)?;
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
        } else if self.header(SPEC_VERSION_HEADER).is_some() {
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
