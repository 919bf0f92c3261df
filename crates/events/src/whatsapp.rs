//! WhatsApp messages in both directions and the gateway's events.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use serde_json::Value;

use crate::common::{BrandId, ConversationId, CustomerRef, Money, ProductId};
use crate::product::Product;

/// What a customer sent, one variant per message type of the WhatsApp Cloud API.
///
/// On the wire this is a JSON object with a `kind` tag, e.g.
/// `{"kind": "text", "body": "hi"}`. A `kind` this version does not know (a
/// newer gateway, a new WhatsApp message type) is not an error: it reads as
/// [`MessageContent::Unsupported`] holding the whole object, so an old seller
/// keeps working and can still say "I can't open that".
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain text.
    Text {
        /// What the customer typed.
        body: String,
    },
    /// A photo.
    Image(Media),
    /// A voice note or audio file.
    Audio(Media),
    /// A video.
    Video(Media),
    /// A sticker.
    Sticker(Media),
    /// A file.
    Document {
        /// WhatsApp media id; only the gateway can download it.
        media_id: String,
        /// MIME type as WhatsApp reports it.
        mime_type: String,
        /// SHA-256 of the file, as WhatsApp reports it.
        sha256: Option<String>,
        /// The file name the customer's phone gave it.
        filename: Option<String>,
        /// Text the customer sent with the file.
        caption: Option<String>,
    },
    /// A shared location (a pin or a place).
    Location {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
        /// Place name, when a place rather than a pin was shared.
        name: Option<String>,
        /// Place address, when a place was shared.
        address: Option<String>,
    },
    /// Contact cards. Only the names are kept: the phone numbers and e-mails
    /// of third parties are PII the store has no use for.
    Contacts {
        /// The shared contacts.
        contacts: Vec<SharedContact>,
    },
    /// The customer tapped a reply button of an interactive message.
    ButtonReply {
        /// The [`ReplyButton::id`] we sent.
        id: String,
        /// The button's title, as the customer saw it.
        title: String,
    },
    /// The customer picked a row of an interactive list.
    ListReply {
        /// The [`ListRow::id`] we sent.
        id: String,
        /// The row's title.
        title: String,
        /// The row's description.
        description: Option<String>,
    },
    /// The customer tapped a quick-reply button of a template message.
    Button {
        /// The payload the template defined for the button.
        payload: String,
        /// The button's text.
        text: String,
    },
    /// The customer reacted to a message with an emoji.
    Reaction {
        /// The message reacted to (the gateway's `wm-…` token for its wamid).
        message_id: String,
        /// The emoji; absent when the customer removed their reaction.
        emoji: Option<String>,
    },
    /// An order placed from a WhatsApp catalog message.
    Order {
        /// The WhatsApp catalog id.
        catalog_id: String,
        /// Text the customer sent with the order.
        text: Option<String>,
        /// What was ordered.
        items: Vec<OrderedItem>,
    },
    /// Anything else: kept rather than dropped, so that it can be logged,
    /// answered politely, and supported later without a contract change.
    Unsupported {
        /// The WhatsApp message `type` (e.g. `poll`), or the unknown `kind`.
        raw_type: String,
        /// The original object, with the sender's phone number removed.
        raw: Value,
    },
}

impl MessageContent {
    /// Every `kind` this version knows; anything else becomes `Unsupported`.
    const KINDS: &'static [&'static str] = &[
        "text",
        "image",
        "audio",
        "video",
        "sticker",
        "document",
        "location",
        "contacts",
        "button_reply",
        "list_reply",
        "button",
        "reaction",
        "order",
        "unsupported",
    ];

    /// The customer's own words in this message, if it has any: the text body,
    /// a media caption, the title of the button or list row they tapped, the
    /// note sent with an order. `None` for content without words (a location,
    /// a reaction, an uncaptioned photo) and for empty text.
    pub fn text(&self) -> Option<&str> {
        let words = match self {
            MessageContent::Text { body } => Some(body.as_str()),
            MessageContent::Image(media)
            | MessageContent::Audio(media)
            | MessageContent::Video(media)
            | MessageContent::Sticker(media) => media.caption.as_deref(),
            MessageContent::Document { caption, .. } => caption.as_deref(),
            MessageContent::ButtonReply { title, .. } | MessageContent::ListReply { title, .. } => Some(title.as_str()),
            MessageContent::Button { text, .. } => Some(text.as_str()),
            MessageContent::Order { text, .. } => text.as_deref(),
            MessageContent::Location { .. }
            | MessageContent::Contacts { .. }
            | MessageContent::Reaction { .. }
            | MessageContent::Unsupported { .. } => None,
        };
        words.filter(|w| !w.trim().is_empty())
    }

    /// A photo, voice note, video, sticker or file as a transcript line a
    /// person can act on: `[image image/jpeg, media 1234] the caption`.
    /// WhatsApp's media id lets the gateway fetch it; it says nothing of
    /// the customer. `None` for content that is not media.
    pub fn media_note(&self) -> Option<String> {
        let (media_id, mime_type, caption) = match self {
            MessageContent::Image(media)
            | MessageContent::Audio(media)
            | MessageContent::Video(media)
            | MessageContent::Sticker(media) => (&media.media_id, &media.mime_type, media.caption.as_deref()),
            MessageContent::Document { media_id, mime_type, caption, .. } => (media_id, mime_type, caption.as_deref()),
            _ => return None,
        };
        let mut note = format!("[{} {mime_type}, media {media_id}]", self.kind());
        if let Some(caption) = caption.map(str::trim).filter(|c| !c.is_empty()) {
            note.push(' ');
            note.push_str(caption);
        }
        Some(note)
    }

    /// The `kind` tag, e.g. `text` or `button_reply`: a low-cardinality label
    /// for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageContent::Text { .. } => "text",
            MessageContent::Image(_) => "image",
            MessageContent::Audio(_) => "audio",
            MessageContent::Video(_) => "video",
            MessageContent::Sticker(_) => "sticker",
            MessageContent::Document { .. } => "document",
            MessageContent::Location { .. } => "location",
            MessageContent::Contacts { .. } => "contacts",
            MessageContent::ButtonReply { .. } => "button_reply",
            MessageContent::ListReply { .. } => "list_reply",
            MessageContent::Button { .. } => "button",
            MessageContent::Reaction { .. } => "reaction",
            MessageContent::Order { .. } => "order",
            MessageContent::Unsupported { .. } => "unsupported",
        }
    }
}

/// The wire format of [`MessageContent`], kept apart so that the public type
/// has only the trait impls below, which add the unknown-kind fallback. serde's
/// `remote` derive checks at compile time that it matches `MessageContent`.
#[derive(Serialize, Deserialize)]
#[serde(remote = "MessageContent", tag = "kind", rename_all = "snake_case")]
enum MessageContentRepr {
    Text {
        body: String,
    },
    Image(Media),
    Audio(Media),
    Video(Media),
    Sticker(Media),
    Document {
        media_id: String,
        mime_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    Contacts {
        contacts: Vec<SharedContact>,
    },
    ButtonReply {
        id: String,
        title: String,
    },
    ListReply {
        id: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    Button {
        payload: String,
        text: String,
    },
    Reaction {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    Order {
        catalog_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        items: Vec<OrderedItem>,
    },
    Unsupported {
        raw_type: String,
        raw: Value,
    },
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MessageContentRepr::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let kind = match raw.get("kind") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => return Err(D::Error::custom("message content `kind` must be a string")),
            None => return Err(D::Error::missing_field("kind")),
        };
        if MessageContent::KINDS.contains(&kind.as_str()) {
            // A known kind that fails to parse is a broken event, not a new
            // feature: report it instead of hiding it under `Unsupported`.
            MessageContentRepr::deserialize(raw).map_err(D::Error::custom)
        } else {
            Ok(MessageContent::Unsupported { raw_type: kind, raw })
        }
    }
}

/// An image, audio, video or sticker attachment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Media {
    /// WhatsApp media id; only the gateway holds the token to download it.
    pub media_id: String,
    /// MIME type as WhatsApp reports it, e.g. `image/jpeg`.
    pub mime_type: String,
    /// SHA-256 of the file, as WhatsApp reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Text the customer sent with the media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// A contact card the customer shared: its name only, never its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SharedContact {
    /// The contact's formatted name.
    pub name: String,
}

/// One line of an order placed from a WhatsApp catalog message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedItem {
    /// The catalog's `product_retailer_id`, which is our product id.
    pub product_id: ProductId,
    /// How many.
    pub quantity: u32,
    /// The unit price WhatsApp showed, converted to minor units by the
    /// gateway; informative only, the order processor prices orders itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
}

/// The limits of the WhatsApp Cloud API that [`OutboundMessage::validate`]
/// enforces, in characters (Unicode scalar values). Exposed so that sellers can
/// truncate before they validate.
pub mod limits {
    /// Body of a text message.
    pub const TEXT_BODY: usize = 4096;
    /// Body of an interactive (buttons, list) message or a product card.
    pub const INTERACTIVE_BODY: usize = 1024;
    /// Caption of an image.
    pub const CAPTION: usize = 1024;
    /// Text header of an interactive message.
    pub const HEADER: usize = 60;
    /// Footer of an interactive message.
    pub const FOOTER: usize = 60;
    /// Reply buttons in one message.
    pub const BUTTONS: usize = 3;
    /// Title of a reply button.
    pub const BUTTON_TITLE: usize = 20;
    /// Id of a reply button.
    pub const BUTTON_ID: usize = 256;
    /// Label of the button that opens a list.
    pub const LIST_BUTTON_LABEL: usize = 20;
    /// Sections in a list.
    pub const LIST_SECTIONS: usize = 10;
    /// Rows in a list, all sections together.
    pub const LIST_ROWS: usize = 10;
    /// Title of a list section.
    pub const SECTION_TITLE: usize = 24;
    /// Title of a list row.
    pub const ROW_TITLE: usize = 24;
    /// Description of a list row.
    pub const ROW_DESCRIPTION: usize = 72;
    /// Id of a list row.
    pub const ROW_ID: usize = 200;
}

/// A message for the customer, in terms of what WhatsApp can display.
///
/// Sellers describe the message; the gateway turns it into a Cloud API call.
/// Tagged by `kind` like [`MessageContent`]. Unlike inbound content there is
/// no fallback for unknown kinds: the gateway must refuse what it cannot send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundMessage {
    /// Plain text.
    Text {
        /// Up to [`limits::TEXT_BODY`] characters.
        body: String,
        /// Whether WhatsApp should render a preview of the first URL in `body`.
        #[serde(default, skip_serializing_if = "is_false")]
        preview_url: bool,
    },
    /// Text with one to three reply buttons.
    Buttons {
        /// Optional text header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        /// Up to [`limits::INTERACTIVE_BODY`] characters.
        body: String,
        /// Optional small print under the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        /// One to [`limits::BUTTONS`] buttons.
        buttons: Vec<ReplyButton>,
    },
    /// Text with a button that opens a list of up to ten choices.
    List {
        /// Optional text header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        /// Up to [`limits::INTERACTIVE_BODY`] characters.
        body: String,
        /// Optional small print under the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        /// The label of the button that opens the list.
        button_label: String,
        /// The choices, grouped.
        sections: Vec<ListSection>,
    },
    /// An image fetched by WhatsApp from a public URL.
    Image {
        /// `https` URL WhatsApp can fetch.
        url: String,
        /// Up to [`limits::CAPTION`] characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// A product shown as picture, name, price and description, with optional
    /// buttons (e.g. "Add to cart"). The gateway renders it as an interactive
    /// message with an image header, or an image with a caption when there are
    /// no buttons.
    ProductCard {
        /// The product to show.
        product: ProductSummary,
        /// Up to [`limits::BUTTONS`] buttons; may be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<ReplyButton>,
    },
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl OutboundMessage {
    /// A plain text message without link preview.
    pub fn text(body: impl Into<String>) -> Self {
        OutboundMessage::Text { body: body.into(), preview_url: false }
    }

    /// A text with reply buttons and no header or footer.
    pub fn buttons(body: impl Into<String>, buttons: Vec<ReplyButton>) -> Self {
        OutboundMessage::Buttons { header: None, body: body.into(), footer: None, buttons }
    }

    /// The ids the customer can tap, in order: its reply buttons' or its
    /// list rows'. A tap comes back as [`MessageContent::ButtonReply`] or
    /// [`MessageContent::ListReply`] with the same id.
    pub fn choices(&self) -> Vec<&str> {
        match self {
            OutboundMessage::Buttons { buttons, .. } | OutboundMessage::ProductCard { buttons, .. } => {
                buttons.iter().map(|b| b.id.as_str()).collect()
            }
            OutboundMessage::List { sections, .. } => {
                sections.iter().flat_map(|s| &s.rows).map(|r| r.id.as_str()).collect()
            }
            OutboundMessage::Text { .. } | OutboundMessage::Image { .. } => Vec::new(),
        }
    }

    /// Checks the message against the limits of the WhatsApp Cloud API (see
    /// [`limits`]), so that a seller learns of a message WhatsApp would refuse
    /// when it builds it, not when the customer never receives it. The error
    /// says which rule was broken and by what.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            OutboundMessage::Text { body, .. } => check_text("text body", body, limits::TEXT_BODY),
            OutboundMessage::Buttons { header, body, footer, buttons } => {
                check_header_footer(header.as_deref(), footer.as_deref())?;
                check_text("body", body, limits::INTERACTIVE_BODY)?;
                if buttons.is_empty() {
                    return Err("a buttons message needs at least one button".into());
                }
                check_buttons(buttons)
            }
            OutboundMessage::List { header, body, footer, button_label, sections } => {
                check_header_footer(header.as_deref(), footer.as_deref())?;
                check_text("body", body, limits::INTERACTIVE_BODY)?;
                check_text("list button label", button_label, limits::LIST_BUTTON_LABEL)?;
                check_sections(sections)
            }
            OutboundMessage::Image { url, caption } => {
                if url.trim().is_empty() {
                    return Err("image url is empty".into());
                }
                match caption {
                    Some(caption) => check_len("image caption", caption, limits::CAPTION),
                    None => Ok(()),
                }
            }
            OutboundMessage::ProductCard { product, buttons } => {
                check_text("product name", &product.name, limits::INTERACTIVE_BODY)?;
                if product.image_url.trim().is_empty() {
                    return Err(format!("product card {} has no image url", product.id));
                }
                if let Some(description) = &product.description {
                    check_len("product description", description, limits::INTERACTIVE_BODY)?;
                }
                check_buttons(buttons)
            }
        }
    }
}

fn check_len(what: &str, text: &str, max: usize) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > max {
        Err(format!("{what} is {chars} characters, WhatsApp allows at most {max}: {:?}", ellipsis(text)))
    } else {
        Ok(())
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    check_len(what, text, max)
}

fn ellipsis(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN { text.to_owned() } else { text.chars().take(SHOWN).chain(['…']).collect() }
}

fn check_header_footer(header: Option<&str>, footer: Option<&str>) -> Result<(), String> {
    if let Some(header) = header {
        check_text("header", header, limits::HEADER)?;
    }
    if let Some(footer) = footer {
        check_text("footer", footer, limits::FOOTER)?;
    }
    Ok(())
}

fn check_buttons(buttons: &[ReplyButton]) -> Result<(), String> {
    if buttons.len() > limits::BUTTONS {
        return Err(format!("{} buttons, WhatsApp allows at most {}", buttons.len(), limits::BUTTONS));
    }
    let mut ids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for button in buttons {
        check_text("button id", &button.id, limits::BUTTON_ID)?;
        check_text("button title", &button.title, limits::BUTTON_TITLE)?;
        if !ids.insert(button.id.as_str()) {
            return Err(format!("button id {:?} is used twice", button.id));
        }
        if !titles.insert(button.title.as_str()) {
            return Err(format!("button title {:?} is used twice", button.title));
        }
    }
    Ok(())
}

fn check_sections(sections: &[ListSection]) -> Result<(), String> {
    if sections.is_empty() {
        return Err("a list needs at least one section".into());
    }
    if sections.len() > limits::LIST_SECTIONS {
        return Err(format!("{} list sections, WhatsApp allows at most {}", sections.len(), limits::LIST_SECTIONS));
    }
    let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
    if rows > limits::LIST_ROWS {
        return Err(format!("{rows} list rows, WhatsApp allows at most {} across all sections", limits::LIST_ROWS));
    }
    let mut ids = BTreeSet::new();
    for section in sections {
        // WhatsApp only needs section titles to tell several sections apart.
        if sections.len() > 1 || !section.title.is_empty() {
            check_text("section title", &section.title, limits::SECTION_TITLE)?;
        }
        if section.rows.is_empty() {
            return Err(format!("list section {:?} has no rows", section.title));
        }
        for row in &section.rows {
            check_text("row id", &row.id, limits::ROW_ID)?;
            check_text("row title", &row.title, limits::ROW_TITLE)?;
            if let Some(description) = &row.description {
                check_len("row description", description, limits::ROW_DESCRIPTION)?;
            }
            if !ids.insert(row.id.as_str()) {
                return Err(format!("row id {:?} is used twice", row.id));
            }
        }
    }
    Ok(())
}

/// A reply button. When tapped, the customer's message arrives as
/// [`MessageContent::ButtonReply`] with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplyButton {
    /// What comes back when the button is tapped, e.g. `add:fsh-001`; up to
    /// [`limits::BUTTON_ID`] characters, unique within the message.
    pub id: String,
    /// What the customer sees; up to [`limits::BUTTON_TITLE`] characters.
    pub title: String,
}

impl ReplyButton {
    /// A button with this id and title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self { id: id.into(), title: title.into() }
    }
}

/// A group of rows in a list message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListSection {
    /// Up to [`limits::SECTION_TITLE`] characters; may be empty only when the
    /// list has a single section.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The rows of this section.
    pub rows: Vec<ListRow>,
}

/// One choice in a list message. When picked, the customer's message arrives
/// as [`MessageContent::ListReply`] with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListRow {
    /// Up to [`limits::ROW_ID`] characters, unique within the message.
    pub id: String,
    /// Up to [`limits::ROW_TITLE`] characters.
    pub title: String,
    /// Up to [`limits::ROW_DESCRIPTION`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a product card shows: a product trimmed to what fits in a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSummary {
    /// The catalog id.
    pub id: ProductId,
    /// The product name.
    pub name: String,
    /// The list price.
    pub price: Money,
    /// The price after an active promotion; shown next to a struck-out `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<Money>,
    /// `https` URL of the picture.
    pub image_url: String,
    /// A short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl From<&Product> for ProductSummary {
    fn from(product: &Product) -> Self {
        Self {
            id: product.id.clone(),
            name: product.name.clone(),
            price: product.price.clone(),
            sale_price: product.sale_price.clone(),
            image_url: product.image_url.clone(),
            description: (!product.description.is_empty()).then(|| product.description.clone()),
        }
    }
}

/// `store.whatsapp.message.received`: a customer's message as the webhook
/// delivered it, before any interpretation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppMessageReceived {
    /// The id of the brand's WhatsApp business number (Meta's
    /// `phone_number_id`), which is how the gateway knows the brand. It is an
    /// opaque Meta id, not the customer's phone.
    pub phone_number_id: String,
    /// The brand that owns that number.
    pub brand: BrandId,
    /// The customer's conversation with that brand.
    pub conversation: ConversationId,
    /// The customer.
    pub customer: CustomerRef,
    /// The gateway's `wm-…` token for the WhatsApp message id (a wamid
    /// embeds the customer's number, so it never leaves the gateway).
    pub message_id: String,
    /// When the customer sent it, per WhatsApp.
    pub timestamp: DateTime<Utc>,
    /// What was sent.
    pub content: MessageContent,
    /// The message the customer replied to (swiped on), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_message_id: Option<String>,
}

/// `store.whatsapp.message.send`: asks the gateway to deliver one message.
///
/// There is no phone number: the gateway looks the conversation up and is
/// the only component that knows where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsAppMessageSend {
    /// The conversation to send to.
    pub conversation: ConversationId,
    /// The brand whose business number sends it.
    pub brand: BrandId,
    /// The message.
    pub message: OutboundMessage,
    /// The customer message to quote as the one answered (its `wm-…` token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// Delivery state of an outgoing WhatsApp message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Accepted by WhatsApp.
    Sent,
    /// On the customer's phone.
    Delivered,
    /// Opened by the customer.
    Read,
    /// Not delivered; see the errors.
    Failed,
}

/// An error WhatsApp reported for a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusError {
    /// The Cloud API error code, e.g. `131047` (outside the 24-hour window).
    pub code: i64,
    /// The error title.
    pub title: String,
    /// Details, when WhatsApp gives any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `store.whatsapp.message.status`: WhatsApp reported progress on a message
/// the gateway sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsAppMessageStatus {
    /// The message the status is about (its `wm-…` token).
    pub message_id: String,
    /// The conversation, when the gateway still knows which one sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// The brand whose number sent it.
    pub brand: BrandId,
    /// The new status.
    pub status: DeliveryStatus,
    /// When WhatsApp recorded the status.
    pub timestamp: DateTime<Utc>,
    /// Why it failed; empty unless `status` is `failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StatusError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn media(caption: Option<&str>) -> Media {
        Media {
            media_id: "1234".into(),
            mime_type: "image/jpeg".into(),
            sha256: None,
            caption: caption.map(str::to_owned),
        }
    }

    fn every_kind() -> Vec<MessageContent> {
        vec![
            MessageContent::Text { body: "hi".into() },
            MessageContent::Image(media(Some("this one?"))),
            MessageContent::Audio(media(None)),
            MessageContent::Video(media(None)),
            MessageContent::Sticker(media(None)),
            MessageContent::Document {
                media_id: "1".into(),
                mime_type: "application/pdf".into(),
                sha256: None,
                filename: Some("invoice.pdf".into()),
                caption: None,
            },
            MessageContent::Location { latitude: 40.4, longitude: -3.7, name: None, address: None },
            MessageContent::Contacts { contacts: vec![SharedContact { name: "Ana".into() }] },
            MessageContent::ButtonReply { id: "add:fsh-001".into(), title: "Add to cart".into() },
            MessageContent::ListReply { id: "fsh-002".into(), title: "Linen shirt".into(), description: None },
            MessageContent::Button { payload: "reorder".into(), text: "Order again".into() },
            MessageContent::Reaction { message_id: "wamid.1".into(), emoji: Some("👍".into()) },
            MessageContent::Order { catalog_id: "cat-1".into(), text: None, items: vec![] },
            MessageContent::Unsupported { raw_type: "poll".into(), raw: json!({}) },
        ]
    }

    #[test]
    fn every_kind_is_known_and_round_trips() {
        let all = every_kind();
        assert_eq!(all.len(), MessageContent::KINDS.len());
        for content in all {
            let value = serde_json::to_value(&content).unwrap();
            assert_eq!(value["kind"], content.kind());
            assert!(MessageContent::KINDS.contains(&content.kind()));
            let back: MessageContent = serde_json::from_value(value).unwrap();
            assert_eq!(back, content);
        }
    }

    #[test]
    fn unknown_kinds_are_kept_as_unsupported() {
        let raw = json!({"kind": "poll", "question": "Red or blue?"});
        let content: MessageContent = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(content, MessageContent::Unsupported { raw_type: "poll".into(), raw });
    }

    #[test]
    fn broken_known_kinds_are_errors() {
        let err = serde_json::from_value::<MessageContent>(json!({"kind": "text"})).unwrap_err();
        assert!(err.to_string().contains("body"), "{err}");
        assert!(serde_json::from_value::<MessageContent>(json!({"body": "hi"})).is_err());
    }

    #[test]
    fn text_is_the_customers_words() {
        let words: Vec<_> = every_kind().iter().map(|c| c.text().map(str::to_owned)).collect();
        let expected = [
            Some("hi"),
            Some("this one?"),
            None,
            None,
            None,
            None,
            None,
            None,
            Some("Add to cart"),
            Some("Linen shirt"),
            Some("Order again"),
            None,
            None,
            None,
        ];
        assert_eq!(words, expected.map(|w| w.map(str::to_owned)));
        assert_eq!(MessageContent::Text { body: "  ".into() }.text(), None);
        let captioned = MessageContent::Document {
            media_id: "1".into(),
            mime_type: "application/pdf".into(),
            sha256: None,
            filename: None,
            caption: Some("my receipt".into()),
        };
        assert_eq!(captioned.text(), Some("my receipt"));
    }

    fn button(id: &str, title: &str) -> ReplyButton {
        ReplyButton::new(id, title)
    }

    fn row(id: &str, title: &str) -> ListRow {
        ListRow { id: id.into(), title: title.into(), description: None }
    }

    fn list(sections: Vec<ListSection>) -> OutboundMessage {
        OutboundMessage::List {
            header: None,
            body: "Pick one".into(),
            footer: None,
            button_label: "See options".into(),
            sections,
        }
    }

    fn error(message: OutboundMessage) -> String {
        message.validate().unwrap_err()
    }

    #[test]
    fn choices_are_the_ids_to_tap_in_order() {
        let buttons = OutboundMessage::buttons("Shall I?", vec![button("yes", "Yes"), button("no", "No")]);
        assert_eq!(buttons.choices(), ["yes", "no"]);
        let rows = list(vec![
            ListSection { title: "Shoes".into(), rows: vec![row("s1", "One"), row("s2", "Two")] },
            ListSection { title: "Bags".into(), rows: vec![row("b1", "Three")] },
        ]);
        assert_eq!(rows.choices(), ["s1", "s2", "b1"]);
        assert!(OutboundMessage::text("hi").choices().is_empty());
    }

    #[test]
    fn text_messages_are_limited_to_4096_characters() {
        assert!(OutboundMessage::text("a".repeat(4096)).validate().is_ok());
        // Characters, not bytes: 4096 two-byte letters still fit.
        assert!(OutboundMessage::text("é".repeat(4096)).validate().is_ok());
        let err = error(OutboundMessage::text("a".repeat(4097)));
        assert!(err.contains("4097") && err.contains("4096"), "{err}");
        assert!(error(OutboundMessage::text(" ")).contains("empty"));
    }

    #[test]
    fn buttons_follow_whatsapp_rules() {
        let ok = OutboundMessage::buttons("Want it?", vec![button("yes", "Yes"), button("no", "No")]);
        assert!(ok.validate().is_ok());

        let four = (0..4).map(|i| button(&i.to_string(), &format!("B{i}")));
        let err = error(OutboundMessage::buttons("x", four.collect()));
        assert!(err.contains("4 buttons") && err.contains('3'), "{err}");

        let err = error(OutboundMessage::buttons("x", vec![button("a", "Add this to my cart now")]));
        assert!(err.contains("button title") && err.contains("20"), "{err}");

        assert!(error(OutboundMessage::buttons("x", vec![])).contains("at least one"));
        let err = error(OutboundMessage::buttons("x", vec![button("a", "One"), button("a", "Two")]));
        assert!(err.contains("twice"), "{err}");

        let err = error(OutboundMessage::buttons("a".repeat(1025), vec![button("a", "A")]));
        assert!(err.contains("1024"), "{err}");

        let long_header = OutboundMessage::Buttons {
            header: Some("h".repeat(61)),
            body: "x".into(),
            footer: None,
            buttons: vec![button("a", "A")],
        };
        assert!(error(long_header).contains("header"));
    }

    #[test]
    fn lists_follow_whatsapp_rules() {
        let ok = list(vec![ListSection { title: String::new(), rows: vec![row("1", "One"), row("2", "Two")] }]);
        assert!(ok.validate().is_ok());

        let eleven = (0..11).map(|i| row(&i.to_string(), "Row")).collect();
        let err = error(list(vec![ListSection { title: "All".into(), rows: eleven }]));
        assert!(err.contains("11 list rows") && err.contains("10"), "{err}");

        let err = error(list(vec![ListSection {
            title: String::new(),
            rows: vec![row("1", "A row title that is far too long")],
        }]));
        assert!(err.contains("row title") && err.contains("24"), "{err}");

        let untitled = |id: &str| ListSection { title: String::new(), rows: vec![row(id, "x")] };
        let err = error(list(vec![untitled("1"), untitled("2")]));
        assert!(err.contains("section title is empty"), "{err}");

        assert!(error(list(vec![])).contains("at least one section"));
        let long_label = OutboundMessage::List {
            header: None,
            body: "x".into(),
            footer: None,
            button_label: "Show me all the options".into(),
            sections: vec![untitled("1")],
        };
        assert!(error(long_label).contains("list button label"));
    }

    #[test]
    fn images_and_cards_follow_whatsapp_rules() {
        let image = |caption: usize| OutboundMessage::Image {
            url: "https://cdn.example.com/a.jpg".into(),
            caption: Some("c".repeat(caption)),
        };
        assert!(image(1024).validate().is_ok());
        assert!(error(image(1025)).contains("caption"));

        let card = |buttons: Vec<ReplyButton>| OutboundMessage::ProductCard {
            product: ProductSummary {
                id: "fsh-001".into(),
                name: "Linen shirt".into(),
                price: Money::new(4990, "USD"),
                sale_price: None,
                image_url: "https://cdn.example.com/fsh-001.jpg".into(),
                description: None,
            },
            buttons,
        };
        assert!(card(vec![]).validate().is_ok());
        assert!(card(vec![button("add:fsh-001", "Add to cart")]).validate().is_ok());
        let four = (0..4).map(|i| button(&i.to_string(), "x")).collect();
        assert!(error(card(four)).contains("4 buttons"));
    }

    #[test]
    fn outbound_json_is_compact() {
        let value = serde_json::to_value(OutboundMessage::text("hi")).unwrap();
        assert_eq!(value, json!({"kind": "text", "body": "hi"}));
    }
}
