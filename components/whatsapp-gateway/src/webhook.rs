//! Meta's webhook notifications, shaped as the WhatsApp Cloud API documents
//! them (`object` → `entry[]` → `changes[]` → `value` with `metadata`,
//! `contacts`, `messages`, `statuses`), read into the event contract's types.
//!
//! Nothing a customer sends is dropped: a message of a kind this gateway does
//! not know, or a known kind whose object is not what the documentation
//! says, becomes [`MessageContent::Unsupported`] with the original object
//! (people's numbers removed, see [`privacy::scrub`]).

use agent_store_events::{
    DeliveryStatus, Media, MessageContent, Money, OrderedItem, ProductId, SharedContact, StatusError,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::privacy;

/// What one webhook call carried, every change of every entry together.
#[derive(Debug, Default)]
pub struct Notification {
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<StatusUpdate>,
    /// What was left out and why, one log line each (never with a number in it).
    pub notes: Vec<String>,
}

/// A customer's message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// The brand's business number that received it.
    pub phone_number_id: String,
    /// The sender's number (`from`). It never leaves the gateway.
    pub phone: String,
    /// The sender's WhatsApp profile name, from `contacts`.
    pub profile_name: Option<String>,
    /// The wamid.
    pub message_id: String,
    pub timestamp: DateTime<Utc>,
    pub content: MessageContent,
    /// The message the customer replied to (`context.id`).
    pub context_message_id: Option<String>,
}

/// Progress of a message the business sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub phone_number_id: String,
    pub message_id: String,
    /// The customer's number (`recipient_id`); never leaves the gateway.
    pub recipient: Option<String>,
    pub status: DeliveryStatus,
    pub timestamp: DateTime<Utc>,
    pub errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct MessagesValue {
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Value>,
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

/// An error object as the Cloud API writes them, in webhooks and responses.
#[derive(Debug, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

impl ApiError {
    /// As a [`StatusError`], with anything like a phone number masked.
    pub fn to_status_error(&self, phone: &str) -> StatusError {
        let title = self.title.as_deref().or(self.message.as_deref()).unwrap_or("Unknown error");
        let detail = self.error_data.as_ref().and_then(|d| d.details.as_deref()).or(self.message.as_deref());
        StatusError {
            code: self.code,
            title: privacy::redact(title, phone),
            detail: detail.filter(|d| *d != title).map(|d| privacy::redact(d, phone)),
        }
    }
}

/// A webhook body that is not the documented JSON at all, with what the
/// parser said (anything like a phone number masked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook body is not a WhatsApp notification: {0}")]
pub struct NotANotification(String);

/// Why a message or a status in a notification was left out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Ignored {
    #[error("ignored a {0} that is not a JSON object")]
    NotAnObject(&'static str),
    #[error("ignored a message without an id")]
    MessageWithoutId,
    #[error("ignored a status without a message id")]
    StatusWithoutId,
    /// `message` is the message id's digest: the id encodes the sender's number.
    #[error("ignored message {message} without a sender")]
    NoSender { message: String },
    #[error("ignored status {status:?} of message {message}")]
    UnknownStatus { status: Option<String>, message: String },
}

/// Reads a webhook body. Only a body that is not the documented JSON at all
/// is an error; a change or an item that cannot be read becomes a note.
pub fn parse(body: &[u8]) -> Result<Notification, NotANotification> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| NotANotification(privacy::redact(&e.to_string(), "")))?;
    let mut notification = Notification::default();
    if payload.object != "whatsapp_business_account" {
        notification.notes.push(format!("ignored a notification for object {:?}", payload.object));
        return Ok(notification);
    }
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        match change.field.as_deref() {
            Some("messages") | None => {}
            Some(other) => {
                notification.notes.push(format!("ignored a `{other}` change"));
                continue;
            }
        }
        match serde_json::from_value::<MessagesValue>(change.value) {
            Ok(value) => read_messages_value(value, &mut notification),
            // serde quotes the value it choked on, which may be a number.
            Err(e) => notification.notes.push(format!(
                "ignored a `messages` change that cannot be read: {}",
                privacy::redact(&e.to_string(), "")
            )),
        }
    }
    Ok(notification)
}

fn read_messages_value(value: MessagesValue, into: &mut Notification) {
    let phone_number_id = value.metadata.phone_number_id;
    for error in &value.errors {
        into.notes.push(format!("the webhook reports error {}: {}", error.code, error.to_status_error("").title));
    }
    for raw in &value.messages {
        match message(&phone_number_id, &value.contacts, raw) {
            Ok(message) => into.messages.push(message),
            Err(reason) => into.notes.push(reason.to_string()),
        }
    }
    for raw in &value.statuses {
        match status(&phone_number_id, raw) {
            Ok(status) => into.statuses.push(status),
            Err(reason) => into.notes.push(reason.to_string()),
        }
    }
}

fn text_of<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Unix seconds, written as a string (as documented) or a number.
fn timestamp(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = match value? {
        Value::String(s) => s.trim().parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp(seconds, 0)
}

fn message(phone_number_id: &str, contacts: &[Contact], raw: &Value) -> Result<InboundMessage, Ignored> {
    let object = raw.as_object().ok_or(Ignored::NotAnObject("message"))?;
    let message_id = text_of(object, "id").ok_or(Ignored::MessageWithoutId)?.to_string();
    let phone =
        text_of(object, "from").ok_or_else(|| Ignored::NoSender { message: privacy::digest(&message_id) })?.to_string();
    let profile_name = contacts
        .iter()
        .find(|c| c.wa_id.as_deref() == Some(phone.as_str()))
        .or_else(|| contacts.first().filter(|_| contacts.len() == 1))
        .and_then(|c| c.profile.as_ref()?.name.clone())
        .filter(|name| !name.trim().is_empty());
    // The documented location and contacts examples have no `type`: the
    // object named after the kind is what counts.
    let kind = text_of(object, "type")
        .map(str::to_string)
        .or_else(|| KNOWN_TYPES.iter().find(|t| object.contains_key(**t)).map(|t| t.to_string()));
    let content = match kind.as_deref() {
        Some(kind) => content(kind, object).unwrap_or_else(|| unsupported(kind, raw, &phone)),
        None => unsupported("unknown", raw, &phone),
    };
    Ok(InboundMessage {
        phone_number_id: phone_number_id.to_string(),
        timestamp: timestamp(object.get("timestamp")).unwrap_or_else(Utc::now),
        context_message_id: object.get("context").and_then(|c| c.get("id")).and_then(Value::as_str).map(str::to_string),
        phone,
        profile_name,
        message_id,
        content,
    })
}

/// Message types the Cloud API documents and [`content`] reads.
const KNOWN_TYPES: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "sticker",
    "document",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
];

fn field<T: DeserializeOwned>(object: &Map<String, Value>, key: &str) -> Option<T> {
    serde_json::from_value(object.get(key)?.clone()).ok()
}

#[derive(Deserialize)]
struct TextObject {
    body: String,
}

#[derive(Deserialize)]
struct MediaObject {
    id: String,
    mime_type: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

impl MediaObject {
    fn media(self) -> Media {
        Media { media_id: self.id, mime_type: self.mime_type, sha256: self.sha256, caption: self.caption }
    }
}

#[derive(Deserialize)]
struct LocationObject {
    latitude: Number,
    longitude: Number,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

/// A number the documentation sometimes writes as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Number(serde_json::Number),
    Text(String),
}

impl Number {
    fn text(&self) -> String {
        match self {
            Number::Number(n) => n.to_string(),
            Number::Text(s) => s.trim().to_string(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        self.text().parse().ok()
    }
}

#[derive(Deserialize)]
struct ContactObject {
    #[serde(default)]
    name: Option<ContactName>,
}

#[derive(Deserialize)]
struct ContactName {
    #[serde(default)]
    formatted_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct Reply {
    id: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct ButtonObject {
    payload: String,
    text: String,
}

#[derive(Deserialize)]
struct ReactionObject {
    message_id: String,
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct OrderObject {
    catalog_id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    product_items: Vec<ProductItem>,
}

#[derive(Deserialize)]
struct ProductItem {
    product_retailer_id: String,
    quantity: Number,
    #[serde(default)]
    item_price: Option<Number>,
    #[serde(default)]
    currency: Option<String>,
}

/// The content of a message of a documented kind, or `None` when its object
/// is not there or not as documented.
fn content(kind: &str, object: &Map<String, Value>) -> Option<MessageContent> {
    Some(match kind {
        "text" => MessageContent::Text { body: field::<TextObject>(object, "text")?.body },
        "image" => MessageContent::Image(field::<MediaObject>(object, "image")?.media()),
        "audio" => MessageContent::Audio(field::<MediaObject>(object, "audio")?.media()),
        "video" => MessageContent::Video(field::<MediaObject>(object, "video")?.media()),
        "sticker" => MessageContent::Sticker(field::<MediaObject>(object, "sticker")?.media()),
        "document" => {
            let document = field::<MediaObject>(object, "document")?;
            MessageContent::Document {
                media_id: document.id,
                mime_type: document.mime_type,
                sha256: document.sha256,
                filename: document.filename,
                caption: document.caption,
            }
        }
        "location" => {
            let location = field::<LocationObject>(object, "location")?;
            MessageContent::Location {
                latitude: location.latitude.as_f64()?,
                longitude: location.longitude.as_f64()?,
                name: location.name,
                address: location.address,
            }
        }
        "contacts" => {
            let contacts = field::<Vec<ContactObject>>(object, "contacts")?;
            MessageContent::Contacts {
                contacts: contacts.into_iter().filter_map(|c| c.name.and_then(contact_name)).collect(),
            }
        }
        "interactive" => {
            let interactive = object.get("interactive")?;
            match interactive.get("type")?.as_str()? {
                "button_reply" => {
                    let reply: Reply = serde_json::from_value(interactive.get("button_reply")?.clone()).ok()?;
                    MessageContent::ButtonReply { id: reply.id, title: reply.title }
                }
                "list_reply" => {
                    let reply: Reply = serde_json::from_value(interactive.get("list_reply")?.clone()).ok()?;
                    MessageContent::ListReply { id: reply.id, title: reply.title, description: reply.description }
                }
                _ => return None,
            }
        }
        "button" => {
            let button = field::<ButtonObject>(object, "button")?;
            MessageContent::Button { payload: button.payload, text: button.text }
        }
        "reaction" => {
            let reaction = field::<ReactionObject>(object, "reaction")?;
            // A removed reaction comes without an emoji (or an empty one).
            MessageContent::Reaction {
                message_id: reaction.message_id,
                emoji: reaction.emoji.filter(|e| !e.is_empty()),
            }
        }
        "order" => {
            let order = field::<OrderObject>(object, "order")?;
            let items = order.product_items.into_iter().map(ordered_item).collect::<Option<Vec<_>>>()?;
            MessageContent::Order { catalog_id: order.catalog_id, text: order.text, items }
        }
        _ => return None,
    })
}

fn contact_name(name: ContactName) -> Option<SharedContact> {
    let name = name.formatted_name.filter(|n| !n.trim().is_empty()).or_else(|| {
        let parts: Vec<String> = [name.first_name, name.last_name].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })?;
    Some(SharedContact { name })
}

fn ordered_item(item: ProductItem) -> Option<OrderedItem> {
    let quantity = item.quantity.text().parse().ok()?;
    let unit_price = match (item.item_price, item.currency) {
        (Some(price), Some(currency)) => Some(Money::new(minor_units(&price.text(), &currency)?, currency)),
        _ => None,
    };
    Some(OrderedItem { product_id: ProductId::new(item.product_retailer_id), quantity, unit_price })
}

/// Currencies without minor units (ISO 4217 exponent 0).
const ZERO_DECIMAL: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// `"12.5"` USD → 1250: decimal text to integer minor units, without floats
/// (half up beyond the currency's precision).
fn minor_units(price: &str, currency: &str) -> Option<i64> {
    let exponent = if ZERO_DECIMAL.contains(&currency) { 0 } else { 2 };
    let (negative, price) = match price.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, price),
    };
    let (whole, fraction) = price.split_once('.').unwrap_or((price, ""));
    if (whole.is_empty() && fraction.is_empty()) || !whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut minor: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut digits = fraction.chars();
    for _ in 0..exponent {
        let digit = digits.next().map_or(0, |c| i64::from(c as u8 - b'0'));
        minor = minor.checked_mul(10)?.checked_add(digit)?;
    }
    if digits.next().is_some_and(|c| c >= '5') {
        minor = minor.checked_add(1)?;
    }
    Some(if negative { -minor } else { minor })
}

fn unsupported(kind: &str, raw: &Value, phone: &str) -> MessageContent {
    let mut raw = raw.clone();
    privacy::scrub(&mut raw, phone);
    MessageContent::Unsupported { raw_type: kind.to_string(), raw }
}

fn status(phone_number_id: &str, raw: &Value) -> Result<StatusUpdate, Ignored> {
    let object = raw.as_object().ok_or(Ignored::NotAnObject("status"))?;
    let message_id = text_of(object, "id").ok_or(Ignored::StatusWithoutId)?.to_string();
    let status = match text_of(object, "status") {
        Some("sent") => DeliveryStatus::Sent,
        Some("delivered") => DeliveryStatus::Delivered,
        Some("read") => DeliveryStatus::Read,
        Some("failed") => DeliveryStatus::Failed,
        other => {
            let status = other.map(str::to_string);
            return Err(Ignored::UnknownStatus { status, message: privacy::digest(&message_id) });
        }
    };
    let recipient = text_of(object, "recipient_id").map(str::to_string);
    let errors: Vec<ApiError> = field(object, "errors").unwrap_or_default();
    let phone = recipient.as_deref().unwrap_or_default();
    Ok(StatusUpdate {
        phone_number_id: phone_number_id.to_string(),
        timestamp: timestamp(object.get("timestamp")).unwrap_or_else(Utc::now),
        errors: errors.iter().map(|e| e.to_status_error(phone)).collect(),
        message_id,
        recipient,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notification(value: Value) -> Notification {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]
        });
        parse(body.to_string().as_bytes()).unwrap()
    }

    fn one_message(message: Value) -> InboundMessage {
        let parsed = notification(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [message]
        }));
        assert_eq!(parsed.messages.len(), 1, "{:?}", parsed.notes);
        parsed.messages.into_iter().next().unwrap()
    }

    #[test]
    fn a_text_message_as_documented() {
        let message = one_message(json!({
            "from": "16505551234",
            "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "timestamp": "1749416383",
            "type": "text",
            "text": {"body": "Does it come in another color?"}
        }));
        assert_eq!(message.phone, "16505551234");
        assert_eq!(message.phone_number_id, "106540352242922");
        assert_eq!(message.profile_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(message.timestamp.timestamp(), 1749416383);
        assert_eq!(message.content, MessageContent::Text { body: "Does it come in another color?".into() });
    }

    #[test]
    fn a_known_kind_that_is_not_as_documented_is_kept() {
        let message = one_message(json!({
            "from": "16505551234", "id": "wamid.X", "timestamp": "1749416383", "type": "text", "text": {"words": 3}
        }));
        let MessageContent::Unsupported { raw_type, raw } = message.content else { panic!() };
        assert_eq!(raw_type, "text");
        assert_eq!(raw["text"]["words"], 3);
        assert!(raw.get("from").is_none());
    }

    #[test]
    fn prices_become_minor_units() {
        assert_eq!(minor_units("12.5", "USD"), Some(1250));
        assert_eq!(minor_units("39.92", "EUR"), Some(3992));
        assert_eq!(minor_units("10", "USD"), Some(1000));
        assert_eq!(minor_units("0.125", "USD"), Some(13));
        assert_eq!(minor_units("1500", "JPY"), Some(1500));
        assert_eq!(minor_units("abc", "USD"), None);
        assert_eq!(minor_units("", "USD"), None);
    }

    #[test]
    fn unknown_statuses_and_other_fields_become_notes() {
        let parsed = notification(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.A", "status": "played", "timestamp": "1749416383", "recipient_id": "16505551234"}]
        }));
        assert!(parsed.statuses.is_empty());
        assert!(parsed.notes[0].contains("played") && !parsed.notes[0].contains("16505551234"), "{:?}", parsed.notes);
        let other = parse(
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"account_update","value":{}}]}]}"#,
        )
        .unwrap();
        assert!(other.notes[0].contains("account_update"));
        assert!(parse(b"{not json").is_err());
    }

    #[test]
    fn what_cannot_be_read_is_noted_without_the_numbers_it_quotes() {
        // A `wa_id` that is not a string: serde's message quotes it.
        let parsed = notification(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": 16505551234_u64}],
            "messages": []
        }));
        assert_eq!(parsed.notes.len(), 1);
        assert!(
            parsed.notes[0].contains("cannot be read") && !parsed.notes[0].contains("16505551234"),
            "{:?}",
            parsed.notes
        );
        let error = parse(br#"{"object": 16505551234}"#).err().unwrap().to_string();
        assert!(!error.contains("16505551234"), "{error}");
    }
}
