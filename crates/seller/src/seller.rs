//! One seller's turn: an event in, the conversation updated, events out.
//!
//! [`Seller`] is pure logic over a [`Conversation`]: the component loads the
//! conversation from the key-value store, calls one of the `on_*` methods,
//! saves it and sends what came out ([`Out`]). Native tests drive it the
//! same way, without wasm.
//!
//! One `impl Seller` per part of the job, each in its own file: `turn` (a
//! customer message: read it, act on it), `results` (searches and
//! recommendations, and the catalog's answers), `cart`, `orders` (checkout
//! and the order processor's answers) and `escalation`. This file has what
//! they share: the reply being written and how it is finished.

mod cart;
mod escalation;
mod orders;
mod results;
mod turn;

use chrono::{DateTime, Utc};

use agent_store_events::{
    BrandId, CartItemAdded, ChatIntentDetected, ChatResponse, ConversationId, CustomerRef, OrderCreate,
    OutboundMessage, ProductQuery, ProductRecommend, Responder, SalesEscalate, Speaker,
};
use agent_store_text::Language;

use crate::model::{self, Model};
use crate::persona::Persona;
use crate::render::{Voice, valid};
use crate::state::{Conversation, ProductInfo};
use crate::text::truncate;

/// Transcript lines sent with an escalation.
const ESCALATION_TRANSCRIPT: usize = 12;
/// Misunderstood messages in a row before a person takes over.
const MISUNDERSTANDINGS: u32 = 2;

/// What a brand does differently from the shared seller. Every method has
/// a default, so a brand without quirks uses [`Standard`].
pub trait Brand {
    /// A line added after a product goes into the cart.
    fn after_add(&self, _product: &ProductInfo, _language: Language) -> Option<String> {
        None
    }
}

/// A brand with no quirks.
#[derive(Debug, Default)]
pub struct Standard;

impl Brand for Standard {}

/// An event the seller emits.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Messages to the customer (`store.chat.response`).
    Respond(ChatResponse),
    /// How the customer's message was read (`store.chat.intent.detected`).
    Intent(ChatIntentDetected),
    /// A product search (`store.product.query`).
    Query(ProductQuery),
    /// A request for recommendations (`store.product.recommend`).
    Recommend(ProductRecommend),
    /// A product put in the cart (`store.cart.item.added`).
    CartAdded(CartItemAdded),
    /// The cart to be placed as an order (`store.order.create`).
    OrderCreate(OrderCreate),
    /// The conversation handed to a person (`store.sales.escalate`).
    Escalate(SalesEscalate),
}

impl Out {
    /// The request id of a request (it becomes the `correlation`).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Out::Query(q) => Some(&q.request_id),
            Out::Recommend(r) => Some(&r.request_id),
            Out::OrderCreate(o) => Some(&o.request_id),
            _ => None,
        }
    }
}

/// A seller handling one event.
pub struct Seller<'a> {
    /// The brand's seller: its name, voice, categories and lines.
    pub persona: &'a Persona,
    /// What the brand does differently.
    pub brand: &'a dyn Brand,
    /// The model to read messages and reword replies with, while it answers
    /// ([`NoModel`](crate::NoModel) for none).
    pub model: &'a mut dyn Model,
    /// The time of this event; timestamps and staleness are reckoned from it.
    pub now: DateTime<Utc>,
}

/// The reply being written during one event.
struct Reply {
    messages: Vec<OutboundMessage>,
    events: Vec<Out>,
    /// Whether the first message is conversation (not facts) the model may
    /// say in the seller's own words.
    polish: bool,
}

impl Reply {
    fn new() -> Self {
        Self { messages: Vec::new(), events: Vec::new(), polish: false }
    }

    fn say(&mut self, message: OutboundMessage) {
        self.messages.push(message);
    }

    fn text(&mut self, text: impl Into<String>) {
        self.messages.push(OutboundMessage::text(text));
    }

    fn emit(&mut self, out: Out) {
        self.events.push(out);
    }
}

impl Seller<'_> {
    fn voice(&self, language: Language) -> Voice<'_> {
        Voice::new(self.persona, language)
    }

    fn brand_id(&self) -> BrandId {
        BrandId::new(self.persona.brand.clone())
    }

    /// Validates the messages, lets the model reword conversation, records
    /// what was said and wraps it all up.
    fn finish(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        in_reply_to: Option<&str>,
        reply: Reply,
    ) -> Vec<Out> {
        let Reply { messages, mut events, polish } = reply;
        let mut messages: Vec<OutboundMessage> = messages.into_iter().filter_map(valid).collect();
        if !messages.is_empty()
            && let Some(hello) = c.hello.take()
        {
            prepend(&mut messages, &hello);
            messages = messages.into_iter().filter_map(valid).collect();
        }
        if polish {
            self.polish(c.language, &mut messages);
        }
        if messages.is_empty() {
            return events;
        }
        for message in &messages {
            c.record(Speaker::Ai, &message_text(message), self.now);
        }
        events.push(Out::Respond(ChatResponse {
            conversation: conversation.clone(),
            brand: self.brand_id(),
            in_reply_to: in_reply_to.map(str::to_owned),
            from: Responder::Ai { agent: self.persona.agent.clone() },
            messages,
        }));
        events
    }

    /// The first message in the seller's own words, when a model is there
    /// and its rewording checks out.
    fn polish(&mut self, language: Language, messages: &mut [OutboundMessage]) {
        if !self.model.available() {
            return;
        }
        let Some(first) = messages.first_mut() else { return };
        let (OutboundMessage::Text { body, .. } | OutboundMessage::Buttons { body, .. }) = first else {
            return;
        };
        let prompt = model::phrase_prompt(self.persona, language, body);
        if let Ok(answer) = self.model.infer(&prompt, model::PHRASE_TOKENS)
            && let Some(better) = model::phrase(&answer, body, language)
        {
            let original = std::mem::replace(body, better);
            if first.validate().is_err() {
                let (OutboundMessage::Text { body, .. } | OutboundMessage::Buttons { body, .. }) = first else {
                    return;
                };
                *body = original;
            }
        }
    }

    fn category_name(&self, id: &str, language: Language) -> String {
        self.persona.category(id).and_then(|c| c.names.get(&language).cloned()).unwrap_or_else(|| id.to_owned())
    }
}

/// The words of an outgoing message, for the transcript.
fn message_text(message: &OutboundMessage) -> String {
    match message {
        OutboundMessage::Text { body, .. }
        | OutboundMessage::Buttons { body, .. }
        | OutboundMessage::List { body, .. } => body.clone(),
        OutboundMessage::Image { caption, .. } => caption.clone().unwrap_or_else(|| "[image]".into()),
        OutboundMessage::ProductCard { product, .. } => {
            format!("[{}: {}]", product.name, product.sale_price.as_ref().unwrap_or(&product.price))
        }
    }
}

/// " Ana" for greetings, or "" without a usable name.
fn name_of(customer: Option<&CustomerRef>) -> String {
    customer
        .and_then(|c| c.name.as_deref())
        .and_then(|n| n.split_whitespace().next())
        .filter(|n| n.chars().all(|ch| ch.is_alphabetic() || ch == '-' || ch == '\''))
        .map(|n| format!(" {}", truncate(n, 20)))
        .unwrap_or_default()
}

/// Puts `line` before the first message's words.
fn prepend(messages: &mut [OutboundMessage], line: &str) {
    if let Some(
        OutboundMessage::Text { body, .. } | OutboundMessage::Buttons { body, .. } | OutboundMessage::List { body, .. },
    ) = messages.first_mut()
    {
        *body = format!("{line} {body}");
    }
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}
