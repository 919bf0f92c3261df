//! Conversation events: customer messages, replies and detected intents.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::{BrandId, ConversationId, CustomerRef, OrderId, ProductId};
use crate::whatsapp::{MessageContent, OutboundMessage};

/// `store.chat.message.new`: a customer message, normalized for the sellers.
///
/// Unlike `store.whatsapp.message.received` this is channel-neutral: a seller
/// only needs `text`, and `content` is there for what text cannot carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessageNew {
    /// The conversation.
    pub conversation: ConversationId,
    /// The brand the customer is talking to.
    pub brand: BrandId,
    /// The customer.
    pub customer: CustomerRef,
    /// The channel's message id (for WhatsApp, the gateway's `wm-…` token
    /// for the wamid, which embeds the customer's number).
    pub message_id: String,
    /// The customer's words ([`MessageContent::text`]), trimmed; empty for a
    /// message without words, such as an uncaptioned photo.
    #[serde(default)]
    pub text: String,
    /// The full message.
    pub content: MessageContent,
    /// When the customer sent it.
    pub received_at: DateTime<Utc>,
}

/// Who is answering the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Responder {
    /// The brand's AI seller.
    Ai {
        /// The seller's name, e.g. `Luna`.
        agent: String,
    },
    /// A human seller who took over after an escalation.
    Human {
        /// The seller's id in the sales assistant.
        seller_id: String,
    },
    /// The platform itself: order notices, delivery updates.
    System,
}

/// `store.chat.response`: what to say to the customer.
///
/// The gateway sends each message in order, as one `store.whatsapp.message.send`
/// each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The conversation to answer in.
    pub conversation: ConversationId,
    /// The brand answering.
    pub brand: BrandId,
    /// The customer message being answered, quoted by WhatsApp when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Who answers.
    pub from: Responder,
    /// At least one message.
    pub messages: Vec<OutboundMessage>,
}

impl ChatResponse {
    /// Checks that there is at least one message and that each one passes
    /// [`OutboundMessage::validate`]; the error names the failing message.
    pub fn validate(&self) -> Result<(), String> {
        if self.messages.is_empty() {
            return Err("a chat response needs at least one message".into());
        }
        for (index, message) in self.messages.iter().enumerate() {
            message.validate().map_err(|err| format!("message {index}: {err}"))?;
        }
        Ok(())
    }
}

/// What the customer wants, as far as a seller could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Hello.
    Greeting,
    /// Looking around ("what do you have?").
    Browse,
    /// A question about a product.
    ProductQuestion,
    /// Asks for a suggestion.
    Recommendation,
    /// Wants to add something to the cart.
    AddToCart,
    /// Wants to see the cart.
    ViewCart,
    /// Wants to change or remove cart items.
    ChangeCart,
    /// Wants to buy what is in the cart.
    Checkout,
    /// Asks where an order is.
    OrderStatus,
    /// Is unhappy about something.
    Complaint,
    /// Asks for a person.
    HumanRequest,
    /// Thanks.
    Thanks,
    /// Bye.
    Goodbye,
    /// Could not tell. Also what a newer intent reads as in an older reader.
    #[serde(other)]
    Unknown,
}

/// What a seller pulled out of the message; everything is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IntentEntities {
    /// Search words, e.g. `black running shoes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// A category, e.g. `shoes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// A specific product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    /// A quantity, e.g. for add to cart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// An order the customer refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    /// A position in the list the customer was last shown, from 1: "the
    /// second one" is 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// A lowest price, in minor units of the brand's currency ("over 50").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price_minor: Option<i64>,
    /// A highest price, in minor units of the brand's currency ("under 80").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price_minor: Option<i64>,
}

impl IntentEntities {
    /// Whether nothing was extracted.
    pub fn is_empty(&self) -> bool {
        self == &IntentEntities::default()
    }
}

/// `store.chat.intent.detected`: a seller's reading of one customer message.
///
/// Emitted for analytics and the sales assistant; the seller acts on it
/// itself, nothing waits for this event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatIntentDetected {
    /// The conversation.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The message that was read.
    pub message_id: String,
    /// The main intent.
    pub intent: Intent,
    /// How sure the seller is of `intent`, 0 to 1.
    pub confidence: f32,
    /// 0 is very negative, 0.5 neutral, 1 very positive. Below
    /// [`crate::ESCALATION_SENTIMENT_THRESHOLD`] the seller escalates.
    pub sentiment: f32,
    /// BCP 47 language tag of the message, e.g. `en`, `es`, `pt-BR`.
    pub language: String,
    /// What was extracted.
    #[serde(default, skip_serializing_if = "IntentEntities::is_empty")]
    pub entities: IntentEntities,
    /// What read the message: `rules` (the seller's offline brain) or
    /// `model` (a language model, its answer validated by the seller). Absent
    /// from sellers that do not say. A string rather than an enum so that a
    /// new engine needs no contract change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_intents_read_as_unknown() {
        let intent: Intent = serde_json::from_str("\"haggle\"").unwrap();
        assert_eq!(intent, Intent::Unknown);
        let intent: Intent = serde_json::from_str("\"add_to_cart\"").unwrap();
        assert_eq!(intent, Intent::AddToCart);
    }

    #[test]
    fn responders_are_tagged() {
        let system = serde_json::to_value(Responder::System).unwrap();
        assert_eq!(system, serde_json::json!({"kind": "system"}));
        let luna = serde_json::to_value(Responder::Ai { agent: "Luna".into() }).unwrap();
        assert_eq!(luna, serde_json::json!({"kind": "ai", "agent": "Luna"}));
    }

    #[test]
    fn responses_need_valid_messages() {
        let mut response = ChatResponse {
            conversation: "c".into(),
            brand: "tech".into(),
            in_reply_to: None,
            from: Responder::System,
            messages: vec![],
        };
        assert!(response.validate().unwrap_err().contains("at least one"));
        response.messages = vec![OutboundMessage::text("ok"), OutboundMessage::text("")];
        assert!(response.validate().unwrap_err().starts_with("message 1"));
    }
}
