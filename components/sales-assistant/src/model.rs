//! What the assistant keeps: escalations with their state, recent
//! conversations with a bounded transcript, and the queue's priority.

use agent_store_events::{
    BrandId, Cart, ConversationId, DeliveryStatus, Money, Order, ProductSummary, Resolution, SalesEscalate, Speaker,
    TranscriptEntry,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Lines of transcript kept per conversation: what a human reads before
/// answering, not an archive.
pub const MAX_TRANSCRIPT: usize = 40;

/// Characters kept of one line.
pub const MAX_LINE: usize = 1000;

/// Message ids remembered per conversation, so that a redelivered message
/// is not written twice.
const MAX_SEEN: usize = 64;

/// Product cards kept per conversation (the console shows them as cards).
const MAX_CARDS: usize = 20;

/// Orders kept per conversation, the latest ones.
const MAX_ORDERS: usize = 10;

/// WhatsApp stamps statuses in whole seconds: a status stamped within this
/// long before a line was sent may still be about it.
const RECEIPT_SLACK: Duration = Duration::seconds(1);

/// Where an escalation is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Queued,
    Accepted {
        seller_id: String,
        accepted_at: DateTime<Utc>,
    },
    Released {
        seller_id: String,
        accepted_at: DateTime<Utc>,
        released_at: DateTime<Utc>,
        resolution: Resolution,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// No seller took it: the AI seller has the conversation back.
    Expired {
        expired_at: DateTime<Utc>,
        cause: Expiry,
    },
}

/// Why a queued escalation went back to the AI seller unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// It waited its whole lifetime (`escalation_ttl`) without a seller.
    Unanswered,
    /// The queue was full (`max_queued`) when it came.
    QueueFull,
}

impl Expiry {
    /// What the AI seller is told, as the release note.
    pub fn note(self) -> &'static str {
        match self {
            Expiry::Unanswered => "No seller accepted the escalation in time; it expired.",
            Expiry::QueueFull => "The queue of escalations was full; the escalation was not queued.",
        }
    }
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Accepted { .. } => "accepted",
            Status::Released { .. } => "released",
            Status::Expired { .. } => "expired",
        }
    }

    /// Whether a seller has it or may still take it.
    pub fn is_open(&self) -> bool {
        matches!(self, Status::Queued | Status::Accepted { .. })
    }

    /// The human seller who has (or had) it.
    pub fn seller(&self) -> Option<&str> {
        match self {
            Status::Queued | Status::Expired { .. } => None,
            Status::Accepted { seller_id, .. } | Status::Released { seller_id, .. } => Some(seller_id),
        }
    }
}

/// One escalation, keyed `esc/<escalation_id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    pub escalate: SalesEscalate,
    /// When the assistant queued it.
    pub queued_at: DateTime<Utc>,
    pub state: Status,
    /// An order was created in the conversation after the escalation.
    #[serde(default)]
    pub converted: bool,
}

impl Escalation {
    pub fn key(escalation_id: &str) -> String {
        format!("esc/{escalation_id}")
    }

    pub fn id(&self) -> &str {
        &self.escalate.escalation_id
    }

    /// How urgent it is, 0 to 1; see [`priority`].
    pub fn priority(&self, now: DateTime<Utc>) -> f64 {
        priority(self.escalate.sentiment, self.escalate.cart.as_ref(), now - self.escalate.escalated_at)
    }

    /// How long the customer has waited for a person (until now, or until
    /// a seller accepted, or until it expired).
    pub fn waited(&self, now: DateTime<Utc>) -> Duration {
        let until = match &self.state {
            Status::Queued => now,
            Status::Accepted { accepted_at, .. } | Status::Released { accepted_at, .. } => *accepted_at,
            Status::Expired { expired_at, .. } => *expired_at,
        };
        (until - self.escalate.escalated_at).max(Duration::zero())
    }

    /// Whether it is queued and has waited `ttl` since the assistant queued
    /// it (the assistant's clock, not the seller's `escalated_at`).
    pub fn is_due(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        self.state == Status::Queued && now - self.queued_at >= ttl
    }
}

/// Cart value that counts as "large": a cart worth this much or more weighs
/// fully. In minor units of any currency, which is rough across currencies
/// and fine for ordering one store's queue.
const LARGE_CART_MINOR: f64 = 20_000.0;

/// A wait that counts as "long": a customer waiting this long or more
/// weighs fully.
const LONG_WAIT_MINUTES: f64 = 30.0;

/// Priority of an escalation, 0 to 1, higher first:
///
/// `0.5 × (1 − sentiment) + 0.3 × min(cart / 200.00, 1) + 0.2 × min(wait / 30 min, 1)`
///
/// An unhappy customer comes first, a large cart next, and waiting raises
/// everyone so that nobody waits forever behind newer, angrier customers.
pub fn priority(sentiment: f32, cart: Option<&Cart>, waited: Duration) -> f64 {
    let unhappiness = 1.0 - f64::from(sentiment.clamp(0.0, 1.0));
    let cart = cart.map(|c| c.subtotal.amount_minor.max(0) as f64 / LARGE_CART_MINOR).unwrap_or(0.0).min(1.0);
    let wait = (waited.num_seconds().max(0) as f64 / 60.0 / LONG_WAIT_MINUTES).min(1.0);
    0.5 * unhappiness + 0.3 * cart + 0.2 * wait
}

/// A recent conversation, keyed `conv/<conversation>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub brand: BrandId,
    pub last_at: DateTime<Utc>,
    #[serde(default)]
    pub transcript: Vec<TranscriptEntry>,
    /// Ids of the messages already in the transcript.
    #[serde(default)]
    pub seen: Vec<String>,
    /// Counted in the brand's conversations (once per conversation).
    #[serde(default)]
    pub counted: bool,
    /// The customer's language as the seller detected it (`es`, `pt-BR`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The latest escalation of this conversation, whatever its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_id: Option<String>,
    /// The product cards sellers showed, each at the time of its line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<Card>,
    /// The customer's cart as it last changed (`store.cart.item.added`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<Cart>,
    /// Orders placed in the conversation, the latest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<OrderNote>,
    /// What WhatsApp reported of the messages sent to the customer.
    #[serde(default, skip_serializing_if = "Receipts::is_empty")]
    pub receipts: Receipts,
}

/// A product card a seller showed, at the time of the line that showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub at: DateTime<Utc>,
    pub product: ProductSummary,
}

/// An order of the conversation, as a human seller needs to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderNote {
    pub id: String,
    pub status: String,
    pub items: u32,
    pub total: Money,
    pub created_at: DateTime<Utc>,
}

impl From<&Order> for OrderNote {
    fn from(order: &Order) -> Self {
        let status = serde_json::to_value(order.status).ok().and_then(|v| v.as_str().map(str::to_string));
        Self {
            id: order.id.to_string(),
            status: status.unwrap_or_else(|| "created".into()),
            items: order.lines.iter().map(|l| l.quantity).sum(),
            total: order.total.clone(),
            created_at: order.created_at,
        }
    }
}

/// The latest times WhatsApp said a message to the customer was delivered
/// and read. Statuses name WhatsApp's message, which only the gateway can
/// tie to a line, so a line counts as delivered (read) when a delivered
/// (read) status came for a message sent no earlier than it: WhatsApp
/// delivers a chat's messages in order, and opening the chat reads all of
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

impl Receipts {
    pub fn is_empty(&self) -> bool {
        self.delivered_at.is_none() && self.read_at.is_none()
    }

    /// Takes in a status; `false` if it changes nothing (a failure, or an
    /// older status than one already known).
    pub fn record(&mut self, status: DeliveryStatus, at: DateTime<Utc>) -> bool {
        let mark = match status {
            DeliveryStatus::Delivered => &mut self.delivered_at,
            DeliveryStatus::Read => &mut self.read_at,
            DeliveryStatus::Sent | DeliveryStatus::Failed => return false,
        };
        if mark.is_some_and(|known| known >= at) {
            return false;
        }
        *mark = Some(at);
        true
    }

    /// How far a message sent at `sent` got: `read`, `delivered` or `sent`.
    pub fn of(&self, sent: DateTime<Utc>) -> &'static str {
        let covers = |mark: Option<DateTime<Utc>>| mark.is_some_and(|m| sent <= m + RECEIPT_SLACK);
        if covers(self.read_at) {
            "read"
        } else if covers(self.delivered_at) {
            "delivered"
        } else {
            "sent"
        }
    }
}

impl Conversation {
    pub fn key(conversation: &ConversationId) -> String {
        format!("conv/{conversation}")
    }

    pub fn new(brand: BrandId, now: DateTime<Utc>) -> Self {
        Self {
            brand,
            last_at: now,
            transcript: Vec::new(),
            seen: Vec::new(),
            counted: false,
            language: None,
            escalation_id: None,
            cards: Vec::new(),
            cart: None,
            orders: Vec::new(),
            receipts: Receipts::default(),
        }
    }

    /// Keeps the cards a line at `at` showed, while their line is kept.
    pub fn show_cards(&mut self, at: DateTime<Utc>, products: impl IntoIterator<Item = ProductSummary>) {
        self.cards.extend(products.into_iter().map(|product| Card { at, product }));
        let oldest = self.transcript.first().map(|line| line.at);
        self.cards.retain(|card| oldest.is_none_or(|oldest| card.at >= oldest));
        self.cards.sort_by_key(|card| card.at);
        if self.cards.len() > MAX_CARDS {
            self.cards.drain(..self.cards.len() - MAX_CARDS);
        }
    }

    /// The cards the line at `at` showed.
    pub fn cards_at(&self, at: DateTime<Utc>) -> impl Iterator<Item = &ProductSummary> {
        self.cards.iter().filter(move |card| card.at == at).map(|card| &card.product)
    }

    /// Adds an order, or updates the one with its id; `false` if nothing changed.
    pub fn note_order(&mut self, note: OrderNote) -> bool {
        match self.orders.iter_mut().find(|o| o.id == note.id) {
            Some(known) if *known == note => return false,
            Some(known) => *known = note,
            None => self.orders.push(note),
        }
        self.orders.sort_by_key(|o| o.created_at);
        if self.orders.len() > MAX_ORDERS {
            self.orders.drain(..self.orders.len() - MAX_ORDERS);
        }
        true
    }

    /// The stored conversation, or a fresh one if there is none or it went
    /// quiet `retention` ago or more (an escalated conversation is never
    /// forgotten this way).
    pub fn current_or_new(
        stored: Option<Conversation>,
        brand: &BrandId,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Conversation {
        match stored {
            Some(c) if c.escalation_id.is_some() || now - c.last_at < retention => c,
            _ => Conversation::new(brand.clone(), now),
        }
    }

    /// Whether the AI seller has written in the conversation since `at`.
    pub fn ai_spoke_since(&self, at: DateTime<Utc>) -> bool {
        self.transcript.iter().any(|line| line.from == Speaker::Ai && line.at > at)
    }

    /// Adds a line unless `id` is already in; `false` if it was.
    pub fn record(&mut self, id: &str, from: Speaker, text: &str, at: DateTime<Utc>) -> bool {
        if self.seen.iter().any(|s| s == id) {
            return false;
        }
        self.seen.push(id.to_string());
        if self.seen.len() > MAX_SEEN {
            self.seen.drain(..self.seen.len() - MAX_SEEN);
        }
        self.last_at = self.last_at.max(at);
        let text = text.trim();
        if !text.is_empty() {
            self.transcript.push(TranscriptEntry { from, text: truncate(text, MAX_LINE), at });
            // Deliveries may arrive out of order: keep the lines in time order.
            self.transcript.sort_by_key(|e| e.at);
            if self.transcript.len() > MAX_TRANSCRIPT {
                self.transcript.drain(..self.transcript.len() - MAX_TRANSCRIPT);
            }
        }
        true
    }

    /// Adds what the escalation brought that is not here yet (the seller's
    /// transcript covers the time before the assistant saw the chat).
    pub fn merge(&mut self, lines: &[TranscriptEntry]) {
        for line in lines {
            let known = self.transcript.iter().any(|e| e.from == line.from && e.text == truncate(&line.text, MAX_LINE));
            if !known {
                self.transcript.push(TranscriptEntry { text: truncate(&line.text, MAX_LINE), ..line.clone() });
            }
        }
        self.transcript.sort_by_key(|e| e.at);
        if self.transcript.len() > MAX_TRANSCRIPT {
            self.transcript.drain(..self.transcript.len() - MAX_TRANSCRIPT);
        }
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_events::{CartItem, Money};

    fn cart(amount_minor: i64) -> Cart {
        let item = CartItem {
            product_id: "p".into(),
            name: "P".into(),
            quantity: 1,
            unit_price: Money::new(amount_minor, "USD"),
            variant: None,
        };
        Cart::from_items(vec![item], "USD").unwrap()
    }

    #[test]
    fn priority_weighs_sentiment_cart_and_waiting() {
        let zero = Duration::zero();
        assert_eq!(priority(1.0, None, zero), 0.0);
        assert!((priority(0.0, None, zero) - 0.5).abs() < 1e-9);
        assert!((priority(1.0, Some(&cart(10_000)), zero) - 0.15).abs() < 1e-9, "half a large cart");
        assert!((priority(1.0, Some(&cart(1_000_000)), zero) - 0.3).abs() < 1e-9, "capped");
        assert!((priority(1.0, None, Duration::minutes(15)) - 0.1).abs() < 1e-9);
        assert!((priority(0.0, Some(&cart(20_000)), Duration::hours(5)) - 1.0).abs() < 1e-9);
        // A furious customer outranks a calm one with a big cart, while a
        // big cart outweighs a small difference in mood; a long wait catches up.
        assert!(priority(0.05, None, zero) > priority(0.7, Some(&cart(30_000)), zero));
        assert!(priority(0.4, Some(&cart(20_000)), zero) > priority(0.2, None, zero));
        assert!(priority(0.5, None, Duration::minutes(30)) > priority(0.2, None, zero));
        // Out-of-range input does not escape the 0..1 range.
        assert_eq!(priority(7.0, Some(&cart(-5)), Duration::minutes(-3)), 0.0);
    }

    #[test]
    fn transcripts_are_bounded_ordered_and_deduplicated() {
        let start = Utc::now();
        let mut c = Conversation::new("tech".into(), start);
        assert!(c.record("m1", Speaker::Customer, "hello", start));
        assert!(!c.record("m1", Speaker::Customer, "hello", start), "a redelivery");
        assert!(c.record("m0", Speaker::Ai, "earlier", start - Duration::seconds(5)));
        assert_eq!(c.transcript[0].text, "earlier", "sorted by time");
        for i in 0..100 {
            c.record(&format!("x{i}"), Speaker::Customer, &"y".repeat(5000), start + Duration::seconds(i));
        }
        assert_eq!(c.transcript.len(), MAX_TRANSCRIPT);
        assert!(c.seen.len() <= MAX_SEEN);
        assert_eq!(c.transcript[0].text.chars().count(), MAX_LINE + 1, "cut, with an ellipsis");
    }

    #[test]
    fn receipts_mark_the_lines_sent_before_them() {
        let sent = Utc::now();
        let mut receipts = Receipts::default();
        assert_eq!(receipts.of(sent), "sent");
        assert!(!receipts.record(DeliveryStatus::Sent, sent), "sent is what a line is anyway");
        assert!(!receipts.record(DeliveryStatus::Failed, sent));
        // WhatsApp's whole seconds: a status stamped in the second the line went out.
        let second = sent - Duration::milliseconds(400);
        assert!(receipts.record(DeliveryStatus::Delivered, second));
        assert_eq!(receipts.of(sent), "delivered");
        assert_eq!(receipts.of(sent + Duration::seconds(5)), "sent", "a later line is not delivered yet");
        assert!(!receipts.record(DeliveryStatus::Delivered, second - Duration::seconds(9)), "an older status");
        assert!(receipts.record(DeliveryStatus::Read, sent + Duration::seconds(2)));
        assert_eq!(receipts.of(sent), "read");
        assert_eq!(receipts.of(sent + Duration::seconds(2)), "read");
        assert_eq!(receipts.of(sent + Duration::seconds(30)), "sent");
    }

    fn product(id: &str) -> ProductSummary {
        ProductSummary {
            id: id.into(),
            name: format!("Product {id}"),
            price: Money::new(1000, "USD"),
            sale_price: None,
            image_url: "https://example.com/p.jpg".into(),
            description: None,
        }
    }

    #[test]
    fn cards_and_orders_are_kept_by_line_and_bounded() {
        let start = Utc::now();
        let mut c = Conversation::new("fashion".into(), start);
        c.record("r1", Speaker::Ai, "[product: Product a]", start);
        c.show_cards(start, [product("a"), product("b")]);
        assert_eq!(c.cards_at(start).map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(c.cards_at(start + Duration::seconds(1)).count(), 0);
        for i in 0..30 {
            c.show_cards(start + Duration::seconds(i), [product(&format!("p{i}"))]);
        }
        assert_eq!(c.cards.len(), MAX_CARDS);
        // The line scrolled out: its cards go with it.
        for i in 0..MAX_TRANSCRIPT as i64 {
            c.record(&format!("m{i}"), Speaker::Customer, "hi", start + Duration::seconds(100 + i));
        }
        c.show_cards(start + Duration::seconds(200), [product("z")]);
        assert_eq!(c.cards.len(), 1, "{:?}", c.cards);

        let order = |id: &str, status: &str| OrderNote {
            id: id.into(),
            status: status.into(),
            items: 1,
            total: Money::new(500, "USD"),
            created_at: start,
        };
        assert!(c.note_order(order("o1", "created")));
        assert!(!c.note_order(order("o1", "created")), "a redelivery");
        assert!(c.note_order(order("o1", "confirmed")));
        assert_eq!(c.orders.len(), 1);
        for i in 0..20 {
            c.note_order(order(&format!("x{i}"), "created"));
        }
        assert_eq!(c.orders.len(), MAX_ORDERS);
    }

    #[test]
    fn records_written_before_the_console_still_read() {
        let old = r#"{"brand":"tech","last_at":"2026-01-01T00:00:00Z","transcript":[],"seen":[]}"#;
        let c: Conversation = serde_json::from_str(old).unwrap();
        assert!(c.cards.is_empty() && c.orders.is_empty() && c.cart.is_none() && c.receipts.is_empty());
    }

    #[test]
    fn quiet_conversations_are_forgotten_unless_escalated() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        let old = Conversation { last_at: now - Duration::hours(2), ..Conversation::new("home".into(), now) };
        let mut fresh = Conversation::current_or_new(Some(old.clone()), &"home".into(), now, hour);
        assert_eq!(fresh.last_at, now);
        let kept = Conversation::current_or_new(Some(old.clone()), &"home".into(), now, Duration::hours(3));
        assert_eq!(kept.last_at, old.last_at, "a longer retention keeps it");
        fresh = Conversation::current_or_new(
            Some(Conversation { escalation_id: Some("e".into()), ..old }),
            &"home".into(),
            now,
            hour,
        );
        assert_eq!(fresh.escalation_id.as_deref(), Some("e"));
    }
}
