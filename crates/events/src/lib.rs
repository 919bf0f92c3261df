//! The event contract of Agent Store.
//!
//! Every agent (the WhatsApp gateway, the five brand sellers, the sales
//! assistant, the product catalog and the order processor) talks to the others
//! only through [CloudEvents 1.0](https://github.com/cloudevents/spec). This
//! crate is the single place where the shape of those events is written down:
//!
//! * [`types`] — the `type` attribute of every event, plus [`types::ALL`];
//! * [`ext`] — the extension attributes we put on events (`brand`,
//!   `conversation`, `correlation`, `depth`, trace context);
//! * one serde type per event for its `data`, each implementing [`EventData`]
//!   so that the type name travels with the payload;
//! * the building blocks the payloads share ([`Money`], [`Product`], [`Cart`],
//!   [`MessageContent`], [`OutboundMessage`], …);
//! * [`stock`] — the catalog's stock API as the order processor calls it: the
//!   limits of an order's lines and the typed [`StockRefusal`].
//!
//! `docs/events.md` shows a JSON example of every event; a test parses that page
//! and round-trips each example through these types, so the page and the code
//! cannot drift apart.
//!
//! The crate depends on serde, serde_json and chrono only and builds for
//! `wasm32-wasip2`, so host and components share the exact same types.
//!
//! # At a glance
//!
//! ```
//! use agent_store_events::{
//!     ext, source, types, BrandId, EventData, Money, OutboundMessage, ProductQuery,
//! };
//!
//! // A seller asks the catalog for shoes under USD 80.00.
//! let query = ProductQuery {
//!     request_id: "q-7f3a".into(),
//!     brand: Some(BrandId::new("fashion")),
//!     text: Some("running shoes".into()),
//!     max_price_minor: Some(80_00),
//!     in_stock_only: true,
//!     limit: Some(5),
//!     ..ProductQuery::default()
//! };
//!
//! // The payload knows its CloudEvents type; the envelope is the SDK's job.
//! assert_eq!(ProductQuery::TYPE, types::PRODUCT_QUERY);
//! assert_eq!(source("seller-fashion"), "/agent-store/seller-fashion");
//! assert_eq!(ext::CORRELATION, "correlation");
//!
//! // Optional fields left empty are not written, which keeps events small.
//! let data = serde_json::to_value(&query).unwrap();
//! assert_eq!(
//!     data,
//!     serde_json::json!({
//!         "request_id": "q-7f3a",
//!         "brand": "fashion",
//!         "text": "running shoes",
//!         "max_price_minor": 8000,
//!         "in_stock_only": true,
//!         "limit": 5
//!     })
//! );
//! let back: ProductQuery = serde_json::from_value(data).unwrap();
//! assert_eq!(back, query);
//!
//! // Money is integer minor units, never floats.
//! let price = Money::new(49_90, "USD");
//! assert_eq!(price.checked_mul(2), Some(Money::new(99_80, "USD")));
//! assert_eq!(price.to_string(), "USD 49.90");
//!
//! // Outgoing WhatsApp messages are checked against the Cloud API limits
//! // before the gateway ever sees them.
//! let reply = OutboundMessage::text("Those are in stock — want a size guide?");
//! assert!(reply.validate().is_ok());
//! ```

#![deny(missing_docs)]

#[cfg(feature = "http-binding")]
pub mod binding;
mod brand;
mod cart;
mod chat;
mod common;
mod order;
mod product;
mod sales;
pub mod stock;
mod whatsapp;

pub use brand::{
    BrandOnboarded, BrandRemoved, MAX_BRAND, MAX_PERSONA, MAX_VERSION, MAX_WHATSAPP_NUMBER, is_valid_brand,
};
pub use cart::{Cart, CartItem, CartItemAdded};
pub use chat::{ChatIntentDetected, ChatMessageNew, ChatResponse, Intent, IntentEntities, Responder};
pub use common::{BrandId, ConversationId, CustomerRef, DEMO_BRANDS, DemoBrand, Money, OrderId, ProductId};
pub use order::{
    Order, OrderCancelled, OrderConfirmed, OrderCreate, OrderCreated, OrderDelivered, OrderLine, OrderRejected,
    OrderRequestLine, OrderShipped, OrderStatus, PaymentInfo, RejectionReason, ShippingAddress,
};
pub use product::{
    AppliedPromotion, Product, ProductQuery, ProductQueryResult, ProductRecommend, ProductRecommendResult,
    Recommendation, RecommendationKind, VariantOption, Variants, variant_price,
};
pub use sales::{
    ESCALATION_SENTIMENT_THRESHOLD, EscalationAccepted, EscalationReason, EscalationReleased, EscalationWaiting,
    InsightKind, Resolution, SalesEscalate, SalesInsight, Speaker, TranscriptEntry,
};
pub use stock::{LineError, ReservationState, StockRefusal, StockRefused};
pub use whatsapp::{
    DeliveryStatus, ListRow, ListSection, Media, MessageContent, OrderedItem, OutboundMessage, ProductSummary,
    ReplyButton, SharedContact, StatusError, WhatsAppMessageReceived, WhatsAppMessageSend, WhatsAppMessageStatus,
    limits,
};

use serde::{Serialize, de::DeserializeOwned};

/// The `type` attribute of every Agent Store event.
///
/// Names are reverse-DNS-ish and dotted, `store.<area>.<subject>[.<verb>]`, so
/// that broker filters can match on prefixes.
pub mod types {
    /// A customer's message arrived from the WhatsApp Cloud API webhook, as received.
    pub const WHATSAPP_MESSAGE_RECEIVED: &str = "store.whatsapp.message.received";
    /// A request to the gateway to send one message to a conversation.
    pub const WHATSAPP_MESSAGE_SEND: &str = "store.whatsapp.message.send";
    /// A delivery status update (sent, delivered, read, failed) for an outgoing message.
    pub const WHATSAPP_MESSAGE_STATUS: &str = "store.whatsapp.message.status";
    /// A new customer message, normalized for the sellers.
    pub const CHAT_MESSAGE_NEW: &str = "store.chat.message.new";
    /// A reply to the customer, from an AI seller, a human seller or the system.
    pub const CHAT_RESPONSE: &str = "store.chat.response";
    /// The intent, sentiment and entities a seller detected in a customer message.
    pub const CHAT_INTENT_DETECTED: &str = "store.chat.intent.detected";
    /// A product search request to the catalog.
    pub const PRODUCT_QUERY: &str = "store.product.query";
    /// The catalog's answer to a [`PRODUCT_QUERY`].
    pub const PRODUCT_QUERY_RESULT: &str = "store.product.query.result";
    /// A recommendation request to the catalog.
    pub const PRODUCT_RECOMMEND: &str = "store.product.recommend";
    /// The catalog's answer to a [`PRODUCT_RECOMMEND`].
    pub const PRODUCT_RECOMMEND_RESULT: &str = "store.product.recommend.result";
    /// A product went into a customer's cart.
    pub const CART_ITEM_ADDED: &str = "store.cart.item.added";
    /// A request to the order processor to create an order.
    pub const ORDER_CREATE: &str = "store.order.create";
    /// An order was created (validated, priced, stock reserved).
    pub const ORDER_CREATED: &str = "store.order.created";
    /// An order's payment was confirmed.
    pub const ORDER_CONFIRMED: &str = "store.order.confirmed";
    /// An order was handed to a carrier.
    pub const ORDER_SHIPPED: &str = "store.order.shipped";
    /// An order reached the customer.
    pub const ORDER_DELIVERED: &str = "store.order.delivered";
    /// An order was cancelled before it shipped.
    pub const ORDER_CANCELLED: &str = "store.order.cancelled";
    /// An [`ORDER_CREATE`] request was refused; nothing was created.
    pub const ORDER_REJECTED: &str = "store.order.rejected";
    /// A conversation is handed over to a human seller.
    pub const SALES_ESCALATE: &str = "store.sales.escalate";
    /// An insight for the sales team (objection, buying signal, performance…).
    pub const SALES_INSIGHT: &str = "store.sales.insight";
    /// A customer waiting in the escalation queue wrote again: where they stand in it.
    pub const SALES_ESCALATION_WAITING: &str = "store.sales.escalation.waiting";
    /// A human seller took an escalated conversation over.
    pub const SALES_ESCALATION_ACCEPTED: &str = "store.sales.escalation.accepted";
    /// A human seller handed an escalated conversation back to the AI seller.
    pub const SALES_ESCALATION_RELEASED: &str = "store.sales.escalation.released";
    /// A brand's package was deployed into the running store ([`crate::BrandOnboarded`]).
    pub const BRAND_ONBOARDED: &str = "store.brand.onboarded";
    /// A brand's package was removed from the running store ([`crate::BrandRemoved`]).
    pub const BRAND_REMOVED: &str = "store.brand.removed";

    /// Every event type, in the order `docs/events.md` documents them.
    pub const ALL: &[&str] = &[
        WHATSAPP_MESSAGE_RECEIVED,
        WHATSAPP_MESSAGE_SEND,
        WHATSAPP_MESSAGE_STATUS,
        CHAT_MESSAGE_NEW,
        CHAT_RESPONSE,
        CHAT_INTENT_DETECTED,
        PRODUCT_QUERY,
        PRODUCT_QUERY_RESULT,
        PRODUCT_RECOMMEND,
        PRODUCT_RECOMMEND_RESULT,
        CART_ITEM_ADDED,
        ORDER_CREATE,
        ORDER_CREATED,
        ORDER_CONFIRMED,
        ORDER_SHIPPED,
        ORDER_DELIVERED,
        ORDER_CANCELLED,
        ORDER_REJECTED,
        SALES_ESCALATE,
        SALES_INSIGHT,
        SALES_ESCALATION_WAITING,
        SALES_ESCALATION_ACCEPTED,
        SALES_ESCALATION_RELEASED,
        BRAND_ONBOARDED,
        BRAND_REMOVED,
    ];
}

/// The CloudEvents extension attributes Agent Store puts on events.
///
/// CloudEvents requires extension names made of `a-z` and `0-9` only and
/// recommends at most 20 characters; in binary HTTP mode each travels as a
/// `ce-<name>` header. All values are strings.
pub mod ext {
    /// The brand the event belongs to (`fashion`, `tech`, …). Set on every
    /// brand-scoped event so that subscriptions can filter on it: a seller
    /// component subscribes to `store.chat.message.new` *with* `brand = <its
    /// brand>`, which is how a newly deployed brand receives only its traffic.
    pub const BRAND: &str = "brand";
    /// The conversation id ([`crate::ConversationId`]) the event is part of.
    /// Lets the host keep per-conversation ordering and lets logs and traces
    /// be grouped by chat without looking inside `data`.
    pub const CONVERSATION: &str = "conversation";
    /// W3C Trace Context `traceparent`, as the CloudEvents distributed-tracing
    /// extension defines it: every event a component emits while handling an
    /// event carries the trace of that event, so one customer message is one
    /// trace across all agents.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C Trace Context `tracestate`, companion of [`TRACEPARENT`].
    pub const TRACESTATE: &str = "tracestate";
    /// Hop count, a decimal integer: 0 on events that enter from outside
    /// (webhooks, the admin API), and one more than the event being handled on
    /// everything a component emits. The host drops (and dead-letters) events
    /// past its limit, so two components answering each other cannot loop
    /// forever.
    pub const DEPTH: &str = "depth";
    /// Ties a request to its result: a component that answers a request event
    /// (`store.product.query` → `store.product.query.result`, `store.order.create`
    /// → `store.order.created` / `store.order.rejected`, …) copies the request's
    /// `correlation` onto the answer. Request payloads also carry a
    /// `request_id` that the result echoes in its `data`, for consumers that
    /// only look at the payload.
    pub const CORRELATION: &str = "correlation";

    /// Every extension attribute above.
    pub const ALL: &[&str] = &[BRAND, CONVERSATION, TRACEPARENT, TRACESTATE, DEPTH, CORRELATION];

    /// Whether `name` is a valid CloudEvents attribute name: non-empty, `a-z`
    /// and `0-9` only, and no longer than the 20 characters the spec recommends.
    pub fn is_valid_name(name: &str) -> bool {
        !name.is_empty() && name.len() <= 20 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }
}

/// The CloudEvents `specversion` every event carries.
pub const SPEC_VERSION: &str = "1.0";

/// The `datacontenttype` of every event's `data`.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// The prefix of every event `source`: `/agent-store/<component-id>`.
pub const SOURCE_PREFIX: &str = "/agent-store";

/// The CloudEvents `source` of events emitted by `component_id` (the id of the
/// component in `spin.toml`, e.g. `whatsapp-gateway`, `seller-fashion`).
pub fn source(component_id: &str) -> String {
    format!("{SOURCE_PREFIX}/{component_id}")
}

/// The `data` of one event type.
///
/// Implemented by every payload in this crate, so that code can write
/// `emit(ProductQueryResult { .. })` and the event type follows from the
/// payload instead of being repeated (and possibly mistyped) at each call site.
pub trait EventData: Serialize + DeserializeOwned {
    /// The CloudEvents `type` of events whose `data` is `Self`.
    const TYPE: &'static str;
}

macro_rules! event_data {
    ($($payload:ty => $type:path),* $(,)?) => {
        $(impl EventData for $payload {
            const TYPE: &'static str = $type;
        })*
    };
}

event_data! {
    WhatsAppMessageReceived => types::WHATSAPP_MESSAGE_RECEIVED,
    WhatsAppMessageSend => types::WHATSAPP_MESSAGE_SEND,
    WhatsAppMessageStatus => types::WHATSAPP_MESSAGE_STATUS,
    ChatMessageNew => types::CHAT_MESSAGE_NEW,
    ChatResponse => types::CHAT_RESPONSE,
    ChatIntentDetected => types::CHAT_INTENT_DETECTED,
    ProductQuery => types::PRODUCT_QUERY,
    ProductQueryResult => types::PRODUCT_QUERY_RESULT,
    ProductRecommend => types::PRODUCT_RECOMMEND,
    ProductRecommendResult => types::PRODUCT_RECOMMEND_RESULT,
    CartItemAdded => types::CART_ITEM_ADDED,
    OrderCreate => types::ORDER_CREATE,
    OrderCreated => types::ORDER_CREATED,
    OrderConfirmed => types::ORDER_CONFIRMED,
    OrderShipped => types::ORDER_SHIPPED,
    OrderDelivered => types::ORDER_DELIVERED,
    OrderCancelled => types::ORDER_CANCELLED,
    OrderRejected => types::ORDER_REJECTED,
    SalesEscalate => types::SALES_ESCALATE,
    SalesInsight => types::SALES_INSIGHT,
    EscalationWaiting => types::SALES_ESCALATION_WAITING,
    EscalationAccepted => types::SALES_ESCALATION_ACCEPTED,
    EscalationReleased => types::SALES_ESCALATION_RELEASED,
    BrandOnboarded => types::BRAND_ONBOARDED,
    BrandRemoved => types::BRAND_REMOVED,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn type_names_are_unique_and_namespaced() {
        let unique: BTreeSet<_> = types::ALL.iter().collect();
        assert_eq!(unique.len(), types::ALL.len());
        assert_eq!(types::ALL.len(), 25);
        for name in types::ALL {
            assert!(name.starts_with("store."), "{name}");
        }
    }

    #[test]
    fn extension_names_follow_the_cloudevents_rules() {
        for name in ext::ALL {
            assert!(ext::is_valid_name(name), "{name}");
        }
        assert!(!ext::is_valid_name("Brand"));
        assert!(!ext::is_valid_name("brand-id"));
        assert!(!ext::is_valid_name(""));
        assert!(!ext::is_valid_name("averyveryverylongname1"));
    }

    #[test]
    fn sources_are_prefixed() {
        assert_eq!(source("order-processor"), "/agent-store/order-processor");
    }
}
