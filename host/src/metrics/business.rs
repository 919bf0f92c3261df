//! The business view, read off the events that pass the ingress: no
//! component counts anything for it.
//!
//! A conversation ([`ConversationId`](agent_store_events::ConversationId))
//! is one customer's chat with one brand, for good; what a store calls a
//! conversation *started* is a customer writing after a silence. We take
//! WhatsApp's own measure: a customer message opens a 24-hour customer
//! service window, and a message in a conversation whose last customer
//! message was more than [`WINDOW`] ago starts a new one. The host keeps a
//! hash of each conversation id it saw in the window (never the id), per
//! process: a restarted host, or a conversation whose messages two
//! gateway replicas publish, counts a start again. Conversion (orders ÷
//! conversations started) is computed in PromQL from these counters.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use agent_store_events::types;
use cloudevents::{Data, Event};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Label;

/// A customer service window, as WhatsApp counts them.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Conversations remembered at most (some 40 bytes each); past it the ones
/// silent for longest are forgotten first, and counted again if they return.
const MAX_CONVERSATIONS: usize = 200_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BrandLabel {
    pub brand: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub brand: Label,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub brand: Label,
    pub status: &'static str,
}

/// `EscalationReason` as it is written in the event.
const ESCALATION_REASONS: &[&str] =
    &["low_sentiment", "complex_query", "customer_request", "repeated_misunderstanding", "other"];

/// `DeliveryStatus` as it is written in the event.
const DELIVERY_STATUSES: &[&str] = &["sent", "delivered", "read", "failed"];

pub struct Business {
    customer_messages: Family<BrandLabel, Counter>,
    conversations: Family<BrandLabel, Counter>,
    orders: Family<BrandLabel, Counter>,
    escalations: Family<ReasonLabels, Counter>,
    whatsapp_sent: Family<BrandLabel, Counter>,
    whatsapp_statuses: Family<StatusLabels, Counter>,
    windows: Windows,
}

impl Business {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let business = Self {
            customer_messages: Family::default(),
            conversations: Family::default(),
            orders: Family::default(),
            escalations: Family::default(),
            whatsapp_sent: Family::default(),
            whatsapp_statuses: Family::default(),
            windows: Windows::default(),
        };
        registry.register(
            "customer_messages",
            "Customer messages for the sellers (store.chat.message.new), by brand",
            business.customer_messages.clone(),
        );
        registry.register(
            "conversations_started",
            "Customer messages that open a conversation: the first of a conversation, or the first after 24 hours of silence (WhatsApp's customer service window), by brand",
            business.conversations.clone(),
        );
        registry.register("orders_created", "Orders created (store.order.created), by brand", business.orders.clone());
        registry.register(
            "escalations",
            "Conversations handed to a human seller (store.sales.escalate), by brand and reason",
            business.escalations.clone(),
        );
        registry.register(
            "whatsapp_messages_sent",
            "Messages the store asked the WhatsApp gateway to send (store.whatsapp.message.send), by brand",
            business.whatsapp_sent.clone(),
        );
        registry.register(
            "whatsapp_delivery_statuses",
            "Delivery statuses WhatsApp reported for the store's messages (store.whatsapp.message.status), by brand and status",
            business.whatsapp_statuses.clone(),
        );
        business
    }

    /// Creates `brand`'s series at zero.
    pub(super) fn zero(&self, brand: &Label) {
        let by_brand = BrandLabel { brand: brand.clone() };
        for family in [&self.customer_messages, &self.conversations, &self.orders, &self.whatsapp_sent] {
            let _ = family.get_or_create(&by_brand);
        }
        for reason in ESCALATION_REASONS {
            let _ = self.escalations.get_or_create(&ReasonLabels { brand: brand.clone(), reason });
        }
        for status in DELIVERY_STATUSES {
            let _ = self.whatsapp_statuses.get_or_create(&StatusLabels { brand: brand.clone(), status });
        }
    }

    /// Reads one event that passed the ingress; `ty` is its type's label.
    pub(super) fn saw(&self, event: &Event, ty: &'static str, brand: &Label) {
        let by_brand = || BrandLabel { brand: brand.clone() };
        match ty {
            types::CHAT_MESSAGE_NEW => {
                self.customer_messages.get_or_create(&by_brand()).inc();
                let conversation = event.extension(agent_store_events::ext::CONVERSATION);
                if let Some(conversation) = conversation
                    && self.windows.opens(&conversation.to_string(), Instant::now())
                {
                    self.conversations.get_or_create(&by_brand()).inc();
                }
            }
            types::ORDER_CREATED => {
                self.orders.get_or_create(&by_brand()).inc();
            }
            types::SALES_ESCALATE => {
                let reason = field(event, "reason", ESCALATION_REASONS);
                self.escalations.get_or_create(&ReasonLabels { brand: brand.clone(), reason }).inc();
            }
            types::WHATSAPP_MESSAGE_SEND => {
                self.whatsapp_sent.get_or_create(&by_brand()).inc();
            }
            types::WHATSAPP_MESSAGE_STATUS => {
                let status = field(event, "status", DELIVERY_STATUSES);
                self.whatsapp_statuses.get_or_create(&StatusLabels { brand: brand.clone(), status }).inc();
            }
            _ => {}
        }
    }
}

/// The top-level string field `name` of the event's JSON data, if it is
/// one of `values`; else `other`.
fn field(event: &Event, name: &str, values: &[&'static str]) -> &'static str {
    let value = match event.data() {
        Some(Data::Json(json)) => json.get(name).and_then(|v| v.as_str()).map(str::to_string),
        Some(Data::Binary(bytes)) => serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get(name)?.as_str().map(str::to_string)),
        Some(Data::String(text)) => {
            serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| v.get(name)?.as_str().map(str::to_string))
        }
        None => None,
    };
    value.and_then(|v| values.iter().find(|known| **known == v).copied()).unwrap_or("other")
}

/// When each conversation last had a customer message, by a keyed hash of
/// its id.
struct Windows {
    hasher: RandomState,
    last: Mutex<HashMap<u64, Instant>>,
}

impl Default for Windows {
    fn default() -> Self {
        Self { hasher: RandomState::new(), last: Mutex::new(HashMap::new()) }
    }
}

impl Windows {
    /// Whether a customer message at `now` opens a conversation.
    fn opens(&self, conversation: &str, now: Instant) -> bool {
        let key = self.hasher.hash_one(conversation);
        let mut last = self.last.lock().unwrap();
        if last.len() >= MAX_CONVERSATIONS && !last.contains_key(&key) {
            last.retain(|_, at| now.duration_since(*at) < WINDOW);
            if last.len() >= MAX_CONVERSATIONS {
                // Still full of live windows: forget the quieter half.
                let mut ages: Vec<Instant> = last.values().copied().collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                last.retain(|_, at| *at > cut);
                tracing::warn!(
                    "more than {MAX_CONVERSATIONS} conversations in 24 hours: conversations_started may count some twice"
                );
            }
        }
        match last.insert(key, now) {
            Some(before) => now.duration_since(before) >= WINDOW,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_starts_again_after_a_day_of_silence() {
        let windows = Windows::default();
        let t0 = Instant::now();
        assert!(windows.opens("c-1", t0));
        assert!(!windows.opens("c-1", t0 + Duration::from_secs(3600)));
        assert!(windows.opens("c-2", t0 + Duration::from_secs(3600)));
        // The window counts from the last customer message.
        assert!(!windows.opens("c-1", t0 + Duration::from_secs(3600) + WINDOW - Duration::from_secs(1)));
        assert!(windows.opens("c-1", t0 + Duration::from_secs(3600) + WINDOW * 2));
    }
}
