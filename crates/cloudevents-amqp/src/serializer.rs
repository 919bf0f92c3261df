//! Event → AMQP: [`AmqpSerializer`] builds an [`AmqpMessage`].

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::Event;
use cloudevents::event::SpecVersion;
use cloudevents::message::{
    self, BinaryDeserializer, BinarySerializer, MessageAttributeValue, StructuredDeserializer, StructuredSerializer,
};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::deserializer::is_structured;
use crate::{CLOUDEVENTS_JSON_CONTENT_TYPE, Error, HEADER_PREFIX, Result, SPEC_VERSION_HEADER};

/// A CloudEvent as an AMQP message: the properties (with their headers) and
/// the body to hand to `basic_publish`.
///
/// Made by [`AmqpMessage::from_event`] (binary content mode),
/// [`AmqpMessage::from_event_structured`] (structured content mode), or by
/// any SDK deserializer writing into an [`AmqpSerializer`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmqpMessage {
    /// The message properties; CloudEvents attributes live here and in its headers.
    pub properties: BasicProperties,
    /// The message body: the event's `data` (binary mode) or the whole JSON event
    /// (structured mode).
    pub body: Vec<u8>,
}

impl AmqpMessage {
    /// Encodes `event` in binary content mode. Delivery mode is left unset:
    /// see [`properties_for`](crate::properties_for) for the persistent variant.
    pub fn from_event(event: Event) -> Result<Self> {
        Ok(BinaryDeserializer::deserialize_binary(event, AmqpSerializer::new())?)
    }

    /// Encodes `event` in structured content mode: the body is the JSON event
    /// format and `content-type` is `application/cloudevents+json`.
    pub fn from_event_structured(event: Event) -> Result<Self> {
        Ok(StructuredDeserializer::deserialize_structured(event, AmqpSerializer::new())?)
    }
}

/// The SDK's [`BinarySerializer`] and [`StructuredSerializer`] for AMQP:
/// feed it an event (or another binding's message) and it ends with an
/// [`AmqpMessage`].
#[derive(Debug, Default)]
pub struct AmqpSerializer {
    properties: BasicProperties,
    headers: FieldTable,
}

impl AmqpSerializer {
    /// An empty serializer: no properties, no headers.
    pub fn new() -> Self {
        Self::default()
    }

    fn header(&mut self, name: &str, value: AMQPValue) -> message::Result<()> {
        let key = ShortString::try_new(format!("{HEADER_PREFIX}{name}")).map_err(|e| {
            sdk_error(Error::InvalidHeader { name: format!("{HEADER_PREFIX}{name}"), reason: e.to_string() })
        })?;
        self.headers.insert(key, value);
        Ok(())
    }

    fn finish(self, body: Vec<u8>) -> AmqpMessage {
        let properties =
            if self.headers.inner().is_empty() { self.properties } else { self.properties.with_headers(self.headers) };
        AmqpMessage { properties, body }
    }
}

impl BinarySerializer<AmqpMessage> for AmqpSerializer {
    fn set_spec_version(mut self, spec_version: SpecVersion) -> message::Result<Self> {
        self.headers.insert(SPEC_VERSION_HEADER.into(), long_string(spec_version.as_str()));
        Ok(self)
    }

    fn set_attribute(mut self, name: &str, value: MessageAttributeValue) -> message::Result<Self> {
        match name {
            // Properties are short strings (≤ 255 bytes); a longer value goes to
            // the header instead, so nothing is ever cut.
            "id" => match ShortString::try_new(value.to_string()) {
                Ok(id) => self.properties = self.properties.with_message_id(id),
                Err(_) => self.header(name, long_string(value.to_string()))?,
            },
            // In the property, the structured-mode content type would make
            // the message read as structured: the data taken for the event.
            "datacontenttype" => match ShortString::try_new(value.to_string()) {
                Ok(ct) if !is_structured(ct.as_str()) => self.properties = self.properties.with_content_type(ct),
                _ => self.header(name, long_string(value.to_string()))?,
            },
            "time" => {
                let time: DateTime<Utc> = value.try_into()?;
                // The AMQP timestamp has no sign and whole seconds only; the
                // header carries the exact value.
                if let Ok(seconds) = u64::try_from(time.timestamp()) {
                    self.properties = self.properties.with_timestamp(seconds);
                }
                let exact = time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                self.header(name, long_string(exact))?;
            }
            _ => self.header(name, long_string(value.to_string()))?,
        }
        Ok(self)
    }

    fn set_extension(mut self, name: &str, value: MessageAttributeValue) -> message::Result<Self> {
        let value = match value {
            MessageAttributeValue::Integer(i) => AMQPValue::LongLongInt(i),
            MessageAttributeValue::Boolean(b) => AMQPValue::Boolean(b),
            other => long_string(other.to_string()),
        };
        self.header(name, value)?;
        Ok(self)
    }

    fn end_with_data(self, bytes: Vec<u8>) -> message::Result<AmqpMessage> {
        Ok(self.finish(bytes))
    }

    fn end(self) -> message::Result<AmqpMessage> {
        Ok(self.finish(Vec::new()))
    }
}

impl StructuredSerializer<AmqpMessage> for AmqpSerializer {
    fn set_structured_event(mut self, bytes: Vec<u8>) -> message::Result<AmqpMessage> {
        self.properties = self.properties.with_content_type(CLOUDEVENTS_JSON_CONTENT_TYPE.into());
        Ok(self.finish(bytes))
    }
}

fn long_string(s: impl Into<String>) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.into()))
}

/// Carries one of our errors through the SDK's error type; [`Error`]'s
/// `From<message::Error>` unwraps it again.
pub(crate) fn sdk_error(error: Error) -> message::Error {
    message::Error::Other { source: Box::new(error) }
}
