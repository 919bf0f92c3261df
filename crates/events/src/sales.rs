//! Escalations to human sellers and insights for the sales team.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cart::Cart;
use crate::common::{BrandId, ConversationId, CustomerRef};

/// Sentiment below which a seller hands the conversation to a human (0 is
/// very negative, 1 very positive). Shared so that every brand escalates alike.
pub const ESCALATION_SENTIMENT_THRESHOLD: f32 = 0.3;

/// Why a conversation was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// Sentiment fell below [`ESCALATION_SENTIMENT_THRESHOLD`].
    LowSentiment,
    /// A question the AI seller should not answer alone (custom orders,
    /// warranty disputes, bulk pricing…).
    ComplexQuery,
    /// The customer asked for a person.
    CustomerRequest,
    /// The AI seller failed to understand the customer several times running.
    RepeatedMisunderstanding,
    /// Anything else, see the summary. Also what a newer reason reads as in an
    /// older reader.
    #[serde(other)]
    Other,
}

/// Who said a line of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The customer.
    Customer,
    /// The AI seller.
    Ai,
    /// A human seller.
    Human,
}

/// One line of a conversation transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Who said it.
    pub from: Speaker,
    /// What was said, as text (media shown as their caption or a placeholder).
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// `store.sales.escalate`: a conversation needs a human seller.
///
/// Self-contained, so that the human picking it up sees why, the recent
/// transcript and the cart without asking the seller component anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesEscalate {
    /// Unique id of this escalation; the sales assistant's queue is keyed by it
    /// and a redelivered event does not queue twice.
    pub escalation_id: String,
    /// The conversation to take over.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The customer.
    pub customer: CustomerRef,
    /// Why now.
    pub reason: EscalationReason,
    /// The customer's sentiment at the time, 0 to 1.
    pub sentiment: f32,
    /// The situation in a few sentences, for the human seller.
    pub summary: String,
    /// The recent messages, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<TranscriptEntry>,
    /// The cart, if the customer has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<Cart>,
    /// When the seller escalated.
    pub escalated_at: DateTime<Utc>,
}

/// `store.sales.escalation.waiting`: a customer whose escalation is still in
/// the queue wrote again. The assistant holds the queue, so it says where the
/// customer stands; the AI seller tells them, in its voice and their language
/// (at most every few minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationWaiting {
    /// The escalation waiting.
    pub escalation_id: String,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The customer message that prompted it.
    pub message_id: String,
    /// The place in the queue, from 1 (next to be taken).
    pub position: u32,
    /// How many escalations wait in all, this one included.
    pub queued: u32,
    /// When the escalation entered the queue.
    pub queued_at: DateTime<Utc>,
}

/// `store.sales.escalation.accepted`: a human seller took the conversation
/// over; the AI seller stays silent in it until it is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationAccepted {
    /// The escalation accepted.
    pub escalation_id: String,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The human seller who has it now.
    pub seller_id: String,
    /// When.
    pub accepted_at: DateTime<Utc>,
}

/// How an escalation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The customer bought (or the order went through) with the human's help.
    Sold,
    /// The problem was solved without a sale.
    Resolved,
    /// Handed back to the AI seller to carry on.
    ReturnedToAi,
    /// The customer left or the problem stayed unsolved.
    Unresolved,
    /// Anything else; also what a newer resolution reads as in an older reader.
    #[serde(other)]
    Other,
}

/// `store.sales.escalation.released`: the human seller gave the conversation
/// back; the AI seller answers it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationReleased {
    /// The escalation released.
    pub escalation_id: String,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The human seller who had it.
    pub seller_id: String,
    /// How it ended.
    pub resolution: Resolution,
    /// A note for the AI seller picking the conversation back up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When.
    pub released_at: DateTime<Utc>,
}

/// What an insight is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsightKind {
    /// A customer objection and how to handle it (price, shipping time…).
    Objection,
    /// The customer is close to buying.
    BuyingSignal,
    /// About an escalation: suggestions for the human seller.
    Escalation,
    /// How a seller, a brand or the store performs.
    Performance,
    /// Something changing over time (a product suddenly asked about).
    Trend,
}

/// `store.sales.insight`: something the sales team should know.
///
/// Analytics events: no customer PII, only ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesInsight {
    /// Unique id of this insight.
    pub insight_id: String,
    /// The brand it is about.
    pub brand: BrandId,
    /// The conversation it is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// The escalation it is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_id: Option<String>,
    /// The human seller it is about (a performance insight), or who has the
    /// escalation. A staff id from the sales assistant's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    /// What kind of insight.
    pub kind: InsightKind,
    /// One line.
    pub title: String,
    /// The insight, or the suggested reply, in full.
    pub detail: String,
    /// Named figures backing it, e.g. `conversion_rate` → `0.12`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// When it was generated.
    pub generated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_escalation_reasons_read_as_other() {
        let reason: EscalationReason = serde_json::from_str("\"legal_threat\"").unwrap();
        assert_eq!(reason, EscalationReason::Other);
        let reason: EscalationReason = serde_json::from_str("\"repeated_misunderstanding\"").unwrap();
        assert_eq!(reason, EscalationReason::RepeatedMisunderstanding);
    }
}
