//! What a seller remembers about one conversation, kept in its key-value
//! store under `conversation:<id>` (the host expires it after 24 hours).
//!
//! Everything is bounded: the transcript, the products remembered, the
//! requests in flight, the message ids already handled. A conversation that
//! goes on for days cannot grow its state without limit.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use agent_store_events::{
    Cart, CustomerRef, EscalationReason, Money, Product, ProductId, Speaker, TranscriptEntry, Variants,
};
use agent_store_text::Language;

use crate::text::{fingerprint, truncate};

/// Lines of transcript kept (and sent with an escalation).
pub const TRANSCRIPT_LINES: usize = 20;
/// Characters kept of each transcript line.
const TRANSCRIPT_CHARS: usize = 500;
/// Products remembered for references ("the shoes", "the second one").
const PRODUCTS_KEPT: usize = 30;
/// Handled message ids remembered, to ignore redeliveries.
const SEEN_KEPT: usize = 50;
/// Requests to the catalog in flight at once; older ones are forgotten.
const PENDING_KEPT: usize = 4;
/// Variants remembered of a product (the catalog allows as many).
const MAX_VARIANTS: usize = 30;
/// Words of a message kept to read a variant in once the catalog answers.
pub const WORDS_KEPT: usize = 40;
/// How long a catalog answer is awaited; a later one is stale and ignored.
pub const PENDING_TTL: Duration = Duration::minutes(10);

/// One conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    /// The language the customer writes in.
    pub language: Language,
    /// The customer, as the last message named them.
    pub customer: Option<CustomerRef>,
    /// The recent messages, oldest first.
    pub transcript: Vec<TranscriptEntry>,
    /// The cart; `None` until something is added.
    pub cart: Option<Cart>,
    /// The ids of the list last shown, in the order shown.
    pub shown: Vec<ProductId>,
    /// Whether `shown` is the cart (so "the second one" is a cart line).
    pub shown_is_cart: bool,
    /// Products seen in this conversation, most recent first.
    pub products: Vec<ProductInfo>,
    /// The product being talked about ("it", "this one").
    pub focus: Option<ProductId>,
    /// Catalog requests awaiting their result.
    pub pending: Vec<Pending>,
    /// A question the seller asked and awaits an answer to.
    pub awaiting: Option<Awaiting>,
    /// The order requested or placed last.
    pub order: Option<OrderNote>,
    /// Set while a human seller has (or is about to take) the conversation.
    pub escalation: Option<EscalationNote>,
    /// Messages in a row the seller did not understand.
    pub misunderstood: u32,
    /// A counter for the ids this conversation generates.
    pub seq: u32,
    /// Fingerprints of the message ids already handled.
    pub seen: Vec<String>,
    /// Whether the seller has introduced itself.
    pub greeted: bool,
    /// What the customer searched for last.
    pub last_query: Option<String>,
    /// A hello to put before the next reply ("Hi! Do you have…" is
    /// answered when the catalog is).
    pub hello: Option<String>,
    /// The words of the last search ("white sneakers in size 38"), where a
    /// size, colour or shade may have been named before the product was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wanted: Vec<String>,
    /// A product waiting for the customer to choose its size, colour or shade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choosing: Option<Choosing>,
}

/// A product the customer wants, once they say which variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choosing {
    /// The product.
    pub product: ProductId,
    /// How many to put in the cart.
    pub quantity: u32,
}

/// What a seller keeps of a product the catalog sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductInfo {
    /// The catalog id (`fsh-001`).
    pub id: ProductId,
    /// The name customers see.
    pub name: String,
    /// Its names in the languages of [`NAME_LANGUAGES`], by position (an
    /// empty one where the catalog gives none in that language), which
    /// customers may call it by and which it is shown by in their language;
    /// empty when the catalog gives no other name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The catalog category id (`shoes`).
    pub category: String,
    /// The catalog's description, cut to 300 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The list price.
    pub price: Money,
    /// The price while a promotion runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<Money>,
    /// The running promotion's label, quoted when the product is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<String>,
    /// Units available when the catalog answered.
    pub stock: u32,
    /// The main picture's URL; empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    /// The first eight catalog tags, which customers may name it by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Up to sixteen of the words customers call it by (`batom`, `labial`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Up to twelve attributes (`color` → `navy`), values cut to 120
    /// characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
    /// The sizes, colours or shades it comes in, with the units of each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Variants>,
}

impl ProductInfo {
    /// What one unit costs now.
    pub fn effective_price(&self) -> &Money {
        self.sale_price.as_ref().unwrap_or(&self.price)
    }

    /// What one unit of `variant` costs now: its own price when the catalog
    /// gives it one (a larger storage), else the product's.
    pub fn effective_price_of(&self, variant: Option<&str>) -> &Money {
        agent_store_events::variant_price(self.variants.as_ref(), variant).unwrap_or_else(|| self.effective_price())
    }

    /// Its name in `language`: the catalog's English name when it gives
    /// none in that language.
    pub fn name_in(&self, language: Language) -> &str {
        NAME_LANGUAGES
            .iter()
            .position(|tag| *tag == language.tag())
            .and_then(|slot| self.names.get(slot))
            .map(String::as_str)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&self.name)
    }

    /// The words of its names, English first: what "the linen dress", "el
    /// vestido de lino" or "o vestido de linho" are matched against.
    pub fn name_words(&self) -> Vec<String> {
        std::iter::once(&self.name).chain(&self.names).flat_map(|n| agent_store_text::tokens(n)).collect()
    }

    /// Whether some variant costs something else than the product.
    pub fn has_variant_prices(&self) -> bool {
        self.variants.as_ref().is_some_and(|v| v.options.iter().any(|o| o.price.is_some()))
    }
}

/// The languages of [`ProductInfo::names`], in order.
const NAME_LANGUAGES: [&str; 2] = ["es", "pt"];

impl From<&Product> for ProductInfo {
    fn from(product: &Product) -> Self {
        Self {
            id: product.id.clone(),
            name: product.name.clone(),
            // By position, so that each name's language is known; the
            // state written before was in this order too (a map's, es < pt).
            names: match product.names.is_empty() {
                true => Vec::new(),
                false => {
                    NAME_LANGUAGES.iter().map(|tag| product.names.get(*tag).cloned().unwrap_or_default()).collect()
                }
            },
            category: product.category.clone(),
            description: truncate(&product.description, 300),
            price: product.price.clone(),
            sale_price: product.sale_price.clone(),
            promotion: product.promotion.as_ref().map(|p| p.label.clone()),
            stock: product.stock,
            image_url: product.image_url.clone(),
            tags: product.tags.iter().take(8).cloned().collect(),
            keywords: product.keywords.iter().take(16).cloned().collect(),
            attributes: product.attributes.iter().take(12).map(|(k, v)| (k.clone(), truncate(v, 120))).collect(),
            variants: product.variants.clone().map(|mut v| {
                v.options.truncate(MAX_VARIANTS);
                v
            }),
        }
    }
}

/// A catalog request in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The request's id, matched against the result's.
    pub request_id: String,
    /// When it was sent; an answer after [`PENDING_TTL`] is stale.
    pub at: DateTime<Utc>,
    /// What to do with the answer.
    pub kind: PendingKind,
}

/// What to do with a catalog answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingKind {
    /// Show the products found.
    Search {
        /// What the customer asked for, as shown back to them.
        label: String,
        /// A wider search to try when this one finds nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fallback: Option<SearchPlan>,
        /// Put the product in the cart when exactly one is found.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then_add: Option<u32>,
        /// Answer these product questions about what is found.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        asks: Vec<String>,
        /// Introduce the products as recommendations.
        #[serde(default)]
        recommended: bool,
        /// The message had no words asking to search: finding nothing then
        /// means the seller did not understand.
        #[serde(default)]
        guessed: bool,
        /// The message's words (at most [`WORDS_KEPT`]), where the size or
        /// colour of the product found may be named.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        said: Vec<String>,
    },
    /// Show the recommendations.
    Recommend {
        /// Recommendations around this product ("similar").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        around: Option<ProductId>,
    },
}

/// A product search as the seller plans it, before it becomes a
/// `store.product.query`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPlan {
    /// The words to search for, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The catalog category to search in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// A lowest price, in minor units of the brand's currency ("over 50").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price_minor: Option<i64>,
    /// A highest price, in minor units of the brand's currency ("under 80").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price_minor: Option<i64>,
    /// Most of the words will do (a question names the product with some).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// A yes/no question the seller asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Awaiting {
    /// "Shall I place it?" for the cart at this total.
    Checkout {
        /// The total the customer was shown; a cart that changed since is
        /// confirmed again.
        total: Money,
    },
    /// "Shall I show you something similar?"
    Similar {
        /// The product the suggestions are to be like.
        product: ProductId,
    },
    /// "I can place it with N instead": set the line to N and check out.
    Quantity {
        /// The cart line to change.
        product: ProductId,
        /// The quantity to set it to, one the order processor accepts.
        quantity: u32,
    },
    /// "Shall I place it at the new total?"
    NewTotal {
        /// The total the order processor came to.
        total: Money,
    },
    /// "Shall I try again or would you rather talk to a person?"
    Retry,
}

/// The order requested or placed last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderNote {
    /// The `store.order.create` request's id, matched against the answer's.
    pub request_id: String,
    /// When it was requested: a checkout soon after waits for the answer.
    pub at: DateTime<Utc>,
    /// Set once `store.order.created` arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The total asked for, then the total the order came to.
    pub total: Money,
}

/// An escalation in progress: the seller is silent until it is released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationNote {
    /// The escalation's id, as sent in `store.sales.escalate`.
    pub id: String,
    /// Why a person was asked for.
    pub reason: EscalationReason,
    /// When the seller escalated, or when a person took over a conversation
    /// the seller had not escalated.
    pub at: DateTime<Utc>,
    /// The human seller who accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human: Option<String>,
    /// When the customer was last told, while waiting, that a person is coming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl Conversation {
    /// The key-value key of conversation `id`.
    pub fn key(id: &str) -> String {
        format!("conversation:{id}")
    }

    /// A new id for a request of this conversation, `<prefix>-<conversation>-<n>`.
    pub fn next_id(&mut self, prefix: &str, conversation: &str) -> String {
        self.seq += 1;
        format!("{prefix}-{conversation}-{}", self.seq)
    }

    /// Remembers that message `id` was handled; `false` if it already was
    /// (a redelivery, to be ignored).
    pub fn first_time(&mut self, message_id: &str) -> bool {
        let tag = fingerprint(message_id);
        if self.seen.contains(&tag) {
            return false;
        }
        self.seen.push(tag);
        if self.seen.len() > SEEN_KEPT {
            self.seen.remove(0);
        }
        true
    }

    /// Adds a line to the transcript, dropping the oldest beyond the limit.
    pub fn record(&mut self, from: Speaker, text: &str, at: DateTime<Utc>) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.transcript.push(TranscriptEntry { from, text: truncate(text, TRANSCRIPT_CHARS), at });
        if self.transcript.len() > TRANSCRIPT_LINES {
            let extra = self.transcript.len() - TRANSCRIPT_LINES;
            self.transcript.drain(..extra);
        }
    }

    /// Remembers products the catalog sent, most recent first.
    pub fn remember(&mut self, products: &[ProductInfo]) {
        for product in products.iter().rev() {
            self.products.retain(|p| p.id != product.id);
            self.products.insert(0, product.clone());
        }
        self.products.truncate(PRODUCTS_KEPT);
    }

    /// A remembered product.
    pub fn product(&self, id: &ProductId) -> Option<&ProductInfo> {
        self.products.iter().find(|p| &p.id == id)
    }

    /// Shows `ids` as the current list.
    pub fn show(&mut self, ids: Vec<ProductId>, is_cart: bool) {
        self.shown = ids;
        self.shown_is_cart = is_cart;
    }

    /// Records a catalog request, forgetting stale and surplus ones.
    pub fn expect(&mut self, pending: Pending) {
        let now = pending.at;
        self.pending.retain(|p| now - p.at < PENDING_TTL);
        self.pending.push(pending);
        if self.pending.len() > PENDING_KEPT {
            self.pending.remove(0);
        }
    }

    /// Takes the request `request_id` if it is still awaited and fresh.
    pub fn take_pending(&mut self, request_id: &str, now: DateTime<Utc>) -> Option<Pending> {
        let index = self.pending.iter().position(|p| p.request_id == request_id)?;
        let pending = self.pending.remove(index);
        (now - pending.at < PENDING_TTL).then_some(pending)
    }

    /// The cart, created empty in `currency` if there is none yet.
    pub fn cart_mut(&mut self, currency: &str) -> &mut Cart {
        self.cart.get_or_insert_with(|| Cart::new(currency))
    }

    /// Whether the cart has something in it.
    pub fn has_cart(&self) -> bool {
        self.cart.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// Whether a human seller has the conversation (or it waits for one).
    pub fn is_escalated(&self) -> bool {
        self.escalation.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z").unwrap().to_utc()
    }

    #[test]
    fn the_transcript_is_bounded() {
        let mut c = Conversation::default();
        for i in 0..30 {
            c.record(Speaker::Customer, &format!("message {i}"), now());
        }
        c.record(Speaker::Ai, "   ", now());
        assert_eq!(c.transcript.len(), TRANSCRIPT_LINES);
        assert_eq!(c.transcript[0].text, "message 10");
        c.record(Speaker::Customer, &"x".repeat(2000), now());
        assert_eq!(c.transcript.last().unwrap().text.chars().count(), TRANSCRIPT_CHARS);
    }

    #[test]
    fn redeliveries_are_recognised_without_keeping_the_id() {
        let mut c = Conversation::default();
        assert!(c.first_time("wamid.ABC"));
        assert!(!c.first_time("wamid.ABC"));
        assert!(c.first_time("wamid.DEF"));
        assert!(!c.seen.iter().any(|s| s.contains("ABC")));
    }

    #[test]
    fn stale_and_unknown_requests_are_not_taken() {
        let mut c = Conversation::default();
        let pending =
            |id: &str, at| Pending { request_id: id.into(), at, kind: PendingKind::Recommend { around: None } };
        c.expect(pending("old", now() - Duration::minutes(30)));
        assert!(c.take_pending("old", now()).is_none(), "stale");
        c.expect(pending("older", now() - Duration::minutes(30)));
        c.expect(pending("fresh", now()));
        assert_eq!(c.pending.len(), 1, "stale requests are dropped as new ones come");
        assert!(c.take_pending("nope", now()).is_none());
        assert!(c.take_pending("fresh", now()).is_some());
        assert!(c.take_pending("fresh", now()).is_none(), "only once");
        for i in 0..10 {
            c.expect(pending(&i.to_string(), now()));
        }
        assert_eq!(c.pending.len(), PENDING_KEPT);
    }
}
