//! An AMQP 0-9-1 protocol binding for the [CloudEvents SDK](cloudevents), over
//! [lapin] types.
//!
//! The SDK has bindings for HTTP, Kafka and NATS but none for RabbitMQ. This
//! crate is one, shaped like the SDK's own: [`AmqpDeserializer`] implements the
//! SDK's [`MessageDeserializer`] (binary and structured) over a delivery's
//! `BasicProperties` and body, and [`AmqpSerializer`] implements its
//! [`BinarySerializer`] and
//! [`StructuredSerializer`](cloudevents::message::StructuredSerializer),
//! ending in an [`AmqpMessage`] to publish. On top of them:
//!
//! * [`properties_for`] and [`body_for`] — what the host publishes (binary
//!   mode, persistent);
//! * [`to_event`] (and [`DeliveryExt::to_event`]) — what the host reads,
//!   failing with [`Error::NotACloudEvent`] for anything else;
//! * [`with_extra_headers`] and [`extra_headers`] — our own headers (retry
//!   count, dead-letter reason) beside the event's, never read as extensions;
//! * [`attribute_name`] and [`attribute_header`] — which headers are
//!   attributes, for a look at one without decoding the event.
//!
//! # Wire contract
//!
//! Binary content mode, which we publish. Header names are case-sensitive;
//! we write every attribute header with [`HEADER_PREFIX`] (`cloudEvents:`,
//! the prefix of the CloudEvents AMQP 1.0 binding), and read any of
//! [`HEADER_PREFIXES`]: `cloudEvents:`, `cloudEvents_` (the binding's
//! JMS-friendly form, which the Java and Python SDKs write) and `ce-` (the
//! Python SDK's RabbitMQ binding), so that other producers' events read as
//! they meant them. Headers with any other name are not part of the event.
//!
//! | CloudEvents | AMQP 0-9-1 | Notes |
//! |---|---|---|
//! | `data` | message body | bytes as they are; JSON data written compactly. An empty body reads back as *no data*. |
//! | `datacontenttype` | `content-type` property | in header `cloudEvents:datacontenttype` instead if longer than 255 bytes, or if it is `application/cloudevents+json` (which would make the message structured) |
//! | `id` | `message-id` property | in header `cloudEvents:id` instead if longer than 255 bytes; on read, a header wins over the property (other producers often write only the header) |
//! | `time` | `timestamp` property (whole seconds since the epoch) **and** header `cloudEvents:time` (RFC 3339, as precise as the event: nanoseconds survive) | on read the header wins; the property alone still gives the time, to the second. No property before 1970; one after 9999 is an error. |
//! | `specversion` | header `cloudEvents:specversion`, long string (`1.0`, `0.3`) | its presence, in any spelling, is what makes a message a binary-mode CloudEvent |
//! | `type`, `source`, `subject`, `dataschema` (`schemaurl` in 0.3) | header `cloudEvents:<name>`, long string | |
//! | extension, string | header `cloudEvents:<name>`, long string (`S`) | |
//! | extension, integer | header `cloudEvents:<name>`, long-long-int (`l`) | read back as an integer |
//! | extension, boolean | header `cloudEvents:<name>`, boolean (`t`) | read back as a boolean |
//! | — | `delivery-mode` | not set by the binding; [`properties_for`] sets 2 (persistent) |
//! | — | any other header | not part of the event: [`with_extra_headers`], [`extra_headers`] |
//!
//! Structured content mode: `content-type` is `application/cloudevents+json`
//! (parameters such as `; charset=utf-8` allowed, media type compared
//! case-insensitively) and the body is the event in the JSON event format.
//! [`AmqpMessage::from_event_structured`] writes it; reading checks it first,
//! so it wins over any attribute headers.
//!
//! Reading is lenient about header value types: strings may be long strings,
//! short strings or byte arrays (UTF-8); integers of any width and booleans
//! become integer and boolean extensions; an AMQP timestamp is a time. Other
//! types (floats, decimals, arrays, tables, void) in an attribute header, in
//! any spelling, are an [`Error::InvalidHeader`].
//!
//! One message may mix the spellings (`cloudEvents_type` beside
//! `ce-brand`), and may even carry an attribute in two of them when both say
//! the same (compared as text); two that differ are
//! [`Error::ConflictingHeaders`], never a silent pick, since a broker routing
//! on one spelling and a reader taking the other would disagree on where the
//! event belongs.
//!
//! A message that is neither (no `specversion` header in any spelling, and
//! not structured) is [`Error::NotACloudEvent`].
//!
//! Binary mode carries `data` as bytes. The SDK's trait path
//! ([`MessageDeserializer::into_event`])
//! gives them back as [`Data::Binary`], as its HTTP and Kafka bindings do;
//! [`to_event`] types them by `datacontenttype` the way the JSON event format
//! does: JSON media types (`application/json`, `text/json`, `*+json`) give
//! [`Data::Json`] if the body parses, `text/*` gives [`Data::String`] if it
//! is UTF-8, anything else stays [`Data::Binary`].
//!
//! # Example
//!
//! ```
//! use cloudevents::{EventBuilder, EventBuilderV10};
//! use cloudevents_amqp::{body_for, extra_headers, properties_for, to_event, with_extra_headers};
//! use lapin::types::{AMQPValue, FieldTable};
//!
//! let event = EventBuilderV10::new()
//!     .id("order-42")
//!     .ty("com.example.order.placed")
//!     .source("/agent-store/order-processor")
//!     .time("2026-05-01T12:00:00.123456789Z")
//!     .extension("depth", 2)
//!     .data("application/json", serde_json::json!({ "total_minor": 8000 }))
//!     .build()?;
//!
//! // Publish side: binary mode, persistent.
//! let properties = properties_for(&event)?;
//! let body = body_for(&event);
//! assert_eq!(properties.message_id().as_ref().unwrap().as_str(), "order-42");
//! assert_eq!(properties.delivery_mode(), &Some(2));
//! assert_eq!(body, br#"{"total_minor":8000}"#);
//!
//! // Our own headers ride along without becoming extensions.
//! let mut extra = FieldTable::default();
//! extra.insert("x-retry-count".into(), AMQPValue::LongLongInt(1));
//! let properties = with_extra_headers(properties, &extra)?;
//!
//! // Consume side.
//! assert_eq!(to_event(&properties, &body)?, event);
//! assert_eq!(extra_headers(&properties), extra);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With a lapin channel (publisher confirms on), publishing and reading back:
//!
//! ```no_run
//! use cloudevents::{AttributesReader, Event};
//! use cloudevents_amqp::DeliveryExt;
//! use lapin::options::{BasicGetOptions, BasicPublishOptions};
//!
//! # async fn example(channel: lapin::Channel, event: Event) -> Result<(), Box<dyn std::error::Error>> {
//! channel
//!     .basic_publish(
//!         "agent-store".into(),
//!         event.ty().into(),
//!         BasicPublishOptions::default(),
//!         &cloudevents_amqp::body_for(&event),
//!         cloudevents_amqp::properties_for(&event)?,
//!     )
//!     .await?
//!     .await?;
//!
//! if let Some(message) = channel.basic_get("orders".into(), BasicGetOptions::default()).await? {
//!     let event = message.to_event()?;
//!     println!("{event}");
//! }
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod deserializer;
mod serializer;

pub use deserializer::AmqpDeserializer;
pub use serializer::{AmqpMessage, AmqpSerializer};

use cloudevents::message::{self, BinaryDeserializer, BinarySerializer, Encoding};
use cloudevents::message::{MessageAttributeValue, MessageDeserializer};
use cloudevents::{AttributesReader, Data, Event, event::AttributeValue};
use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};

/// The prefix of every attribute header this binding writes: the
/// CloudEvents AMQP binding's.
pub const HEADER_PREFIX: &str = "cloudEvents:";

/// The prefixes an attribute header is read with, in the order they are
/// looked up: the AMQP binding's own (`cloudEvents:`), its JMS-friendly form
/// (`cloudEvents_`, which the Java and Python SDKs write, since `:` is not a
/// legal JMS property name), and `ce-` (what the Python SDK's RabbitMQ
/// binding writes, borrowed from the HTTP binding). Producers that are not
/// ours write whichever their SDK does; we write [`HEADER_PREFIX`] only.
pub const HEADER_PREFIXES: [&str; 3] = [HEADER_PREFIX, "cloudEvents_", "ce-"];

/// The header whose presence marks a binary-mode CloudEvent, as we write it
/// (any spelling of [`HEADER_PREFIXES`] is read).
pub const SPEC_VERSION_HEADER: &str = "cloudEvents:specversion";

/// The `content-type` of a structured-mode message.
pub const CLOUDEVENTS_JSON_CONTENT_TYPE: &str = "application/cloudevents+json";

/// AMQP `delivery-mode` 2: the broker writes the message to disk (on a
/// durable queue), so events survive a broker restart.
pub const DELIVERY_MODE_PERSISTENT: u8 = 2;

/// What can go wrong reading or writing a CloudEvent over AMQP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither binary nor structured mode: the message is not a CloudEvent.
    #[error(
        "message is not a CloudEvent: it has no `{SPEC_VERSION_HEADER}` header (nor `cloudEvents_specversion` or `ce-specversion`) and its content-type ({}) is not `{CLOUDEVENTS_JSON_CONTENT_TYPE}`",
        .content_type.as_deref().unwrap_or("none")
    )]
    NotACloudEvent {
        /// The message's `content-type` property, if it had one.
        content_type: Option<String>,
    },
    /// An attribute header, in any spelling, whose value cannot be an
    /// attribute, or an attribute name too long for an AMQP header name.
    #[error("header `{name}`: {reason}")]
    InvalidHeader {
        /// The header name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One attribute in headers of two spellings (`cloudEvents:type` and
    /// `ce-type`) with different values: which one the producer meant
    /// cannot be told, and routing may already have used either.
    #[error(
        "attribute `{attribute}` is given twice with different values, in headers {first} and {second}: a producer writes each attribute once, with one prefix"
    )]
    ConflictingHeaders {
        /// The attribute (`type`, `brand`).
        attribute: String,
        /// The header read first (in the order of [`HEADER_PREFIXES`]).
        first: String,
        /// The header that disagrees with it.
        second: String,
    },
    /// An extra header would use one of the [`HEADER_PREFIXES`].
    #[error(
        "header `{name}` starts with `cloudEvents:`, `cloudEvents_` or `ce-`, which are reserved for CloudEvents attributes"
    )]
    ReservedHeader {
        /// The header name.
        name: String,
    },
    /// The SDK rejected the event (a missing required attribute, a bad
    /// `specversion`, time or URI, malformed structured JSON, …).
    #[error("invalid CloudEvent: {0}")]
    Invalid(message::Error),
}

impl From<message::Error> for Error {
    fn from(error: message::Error) -> Self {
        match error {
            // Our own errors, carried through the SDK's traits.
            message::Error::Other { source } => match source.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(source) => Error::Invalid(message::Error::Other { source }),
            },
            other => Error::Invalid(other),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The properties to publish `event` with in binary mode: its attributes and
/// extensions, and delivery mode [persistent](DELIVERY_MODE_PERSISTENT)
/// (override with `.with_delivery_mode(1)`). The body is [`body_for`].
///
/// Fails only if an extension name is too long for an AMQP header name
/// (255 bytes with the prefix).
pub fn properties_for(event: &Event) -> Result<BasicProperties> {
    let mut serializer = AmqpSerializer::new();
    for (name, value) in event.iter_attributes() {
        serializer = match value {
            AttributeValue::SpecVersion(version) => serializer.set_spec_version(version)?,
            value => serializer.set_attribute(name, attribute_value(value))?,
        };
    }
    for (name, value) in event.iter_extensions() {
        serializer = serializer.set_extension(name, value.clone().into())?;
    }
    let message = serializer.end()?;
    Ok(message.properties.with_delivery_mode(DELIVERY_MODE_PERSISTENT))
}

/// The body to publish `event` with in binary mode: its data as bytes (JSON
/// written compactly), empty if it has none.
pub fn body_for(event: &Event) -> Vec<u8> {
    match event.data() {
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::String(text)) => text.clone().into_bytes(),
        Some(Data::Json(json)) => json.to_string().into_bytes(),
        None => Vec::new(),
    }
}

/// Reads an event from an AMQP message, binary or structured mode, with
/// binary-mode data typed by its content type (see the crate docs).
///
/// A message that is not a CloudEvent gives [`Error::NotACloudEvent`].
pub fn to_event(properties: &BasicProperties, body: &[u8]) -> Result<Event> {
    let message = AmqpDeserializer::new(properties, body);
    match message.encoding() {
        Encoding::BINARY => Ok(typed_data(BinaryDeserializer::into_event(message)?)),
        Encoding::STRUCTURED => Ok(MessageDeserializer::into_event(message)?),
        Encoding::UNKNOWN => {
            Err(Error::NotACloudEvent { content_type: properties.content_type().as_ref().map(|ct| ct.to_string()) })
        }
    }
}

/// Adds `extra` to the headers of `properties`, keeping the ones already
/// there (an extra header replaces one of the same name). Names are
/// compared case-sensitively; one starting with any of [`HEADER_PREFIXES`]
/// is refused, so an extra header can never be read back as an attribute.
pub fn with_extra_headers(properties: BasicProperties, extra: &FieldTable) -> Result<BasicProperties> {
    let mut headers = properties.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        if attribute_name(name.as_str()).is_some() {
            return Err(Error::ReservedHeader { name: name.to_string() });
        }
        headers.insert(name.clone(), value.clone());
    }
    Ok(properties.with_headers(headers))
}

/// The headers of `properties` that are not CloudEvents attributes.
pub fn extra_headers(properties: &BasicProperties) -> FieldTable {
    let mut extra = FieldTable::default();
    let headers = properties.headers().iter().flat_map(|t| t.inner());
    for (name, value) in headers {
        if attribute_name(name.as_str()).is_none() {
            extra.insert(name.clone(), value.clone());
        }
    }
    extra
}

/// The attribute a header carries, when its name starts with one of
/// [`HEADER_PREFIXES`] (case-sensitively): `brand` for `cloudEvents_brand`.
pub fn attribute_name(header: &str) -> Option<&str> {
    HEADER_PREFIXES.iter().find_map(|prefix| header.strip_prefix(prefix))
}

/// The header of attribute `name` in `properties`, in the first spelling of
/// [`HEADER_PREFIXES`] that is there, without decoding the event: for a
/// quick look (a partition key) where [`to_event`] would be too much. The
/// spellings are not checked against each other; [`to_event`] does that.
pub fn attribute_header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    let headers = properties.headers().as_ref()?.inner();
    HEADER_PREFIXES.iter().find_map(|prefix| headers.get(format!("{prefix}{name}").as_str()))
}

/// [`to_event`] as a method of lapin's [`Delivery`] (and, through `Deref`, of
/// `BasicGetMessage` and `BasicReturnMessage`).
///
/// This trait is sealed and cannot be implemented outside this crate.
pub trait DeliveryExt: private::Sealed {
    /// Reads the CloudEvent this delivery carries.
    fn to_event(&self) -> Result<Event>;
}

impl DeliveryExt for Delivery {
    fn to_event(&self) -> Result<Event> {
        to_event(&self.properties, &self.data)
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for lapin::message::Delivery {}
}

/// The media type of a content type, without parameters: `text/plain` of
/// `text/plain; charset=utf-8`.
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Binary-mode data comes back as bytes; give it the type the JSON event
/// format would: JSON, text, or bytes.
fn typed_data(mut event: Event) -> Event {
    let Some(content_type) = event.datacontenttype().map(media_type) else {
        return event;
    };
    let content_type = content_type.to_ascii_lowercase();
    let Some(Data::Binary(bytes)) = event.data() else {
        return event;
    };
    let typed = if content_type == "application/json" || content_type == "text/json" || content_type.ends_with("+json")
    {
        serde_json::from_slice(bytes).ok().map(Data::Json)
    } else if content_type.starts_with("text/") {
        std::str::from_utf8(bytes).ok().map(|text| Data::String(text.to_owned()))
    } else {
        None
    };
    if let Some(data) = typed {
        event.set_data_unchecked(data);
    }
    event
}

/// An attribute as [`Event::iter_attributes`] lends it, as the SDK's owned
/// attribute type.
fn attribute_value(value: AttributeValue<'_>) -> MessageAttributeValue {
    match value {
        AttributeValue::Boolean(b) => MessageAttributeValue::Boolean(*b),
        AttributeValue::Integer(i) => MessageAttributeValue::Integer(*i),
        AttributeValue::String(s) => MessageAttributeValue::String(s.to_owned()),
        AttributeValue::Binary(b) => MessageAttributeValue::Binary(b.to_vec()),
        AttributeValue::URI(uri) => MessageAttributeValue::Uri(uri.clone()),
        AttributeValue::URIRef(uri) => MessageAttributeValue::UriRef(uri.clone()),
        AttributeValue::Time(time) => MessageAttributeValue::DateTime(*time),
        AttributeValue::SpecVersion(version) => MessageAttributeValue::String(version.to_string()),
    }
}
