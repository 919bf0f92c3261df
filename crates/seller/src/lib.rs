//! The selling logic every brand's AI seller shares.
//!
//! A brand's seller is a small crate in `brands/<brand>/`: its personality
//! and settings in `persona.toml` ([`Persona`]), anything it does differently
//! as a [`Brand`], and one call to [`handle`]:
//!
//! ```no_run
//! use agent_store_sdk::{Event, Incoming, Result};
//!
//! // In brands/fashion/src/lib.rs this is `include_str!("../persona.toml")`.
//! const PERSONA: &str = include_str!("../../../brands/fashion/persona.toml");
//!
//! async fn handle(event: Incoming) -> Result<Vec<Event>> {
//!     agent_store_seller::handle(PERSONA, &agent_store_seller::Standard, event).await
//! }
//!
//! agent_store_sdk::export!(id: "seller-fashion", events: handle, init: agent_store_seller::prepare);
//! # fn main() {}
//! ```
//!
//! What a seller does with each event (subscribed with its brand only):
//!
//! | event | the seller |
//! |---|---|
//! | `store.chat.message.new` | reads it ([`brain`], or the model when one is configured), emits `store.chat.intent.detected`, then answers, searches (`store.product.query` / `.recommend`), fills the cart (`store.cart.item.added`), checks out (`store.order.create`) or escalates (`store.sales.escalate`) |
//! | `store.product.query.result`, `store.product.recommend.result` | shows the products asked for, if the request is still awaited |
//! | `store.order.created` / `.rejected` | tells the customer the order number, or why not and what else it can do |
//! | `store.sales.escalation.waiting` | tells a customer waiting for a person their place in the queue (at most every 3 minutes) |
//! | `store.sales.escalation.accepted` / `.released` | goes silent in the conversation / takes it back |
//!
//! The conversation (language, transcript, cart, what was shown, requests in
//! flight, escalation) lives in the key-value store `seller-<brand>`, which
//! the host expires after 24 hours. The logic is pure ([`Seller`] over a
//! [`Conversation`]); this module only loads, calls and saves, so everything
//! else runs natively in tests.

#![deny(missing_docs)]

pub mod answers;
pub mod brain;
pub mod classifier;
pub mod grounded;
pub mod lexicon;
pub mod model;
pub mod persona;
pub mod render;
pub mod seller;
pub mod sentiment;
pub mod state;
pub mod text;
pub mod variants;

pub use agent_store_text::Language;
pub use model::{Health, Model, ModelError, NoModel};
pub use persona::{Persona, PersonaError};
pub use seller::{Brand, Out, Seller, Standard};
pub use state::{Conversation, ProductInfo};

use agent_store_events::{
    ChatMessageNew, EscalationAccepted, EscalationReleased, EscalationWaiting, OrderCreated, OrderRejected,
    ProductQueryResult, ProductRecommendResult, ext, types,
};
use agent_store_sdk::{Error, Event, Incoming, Result};
use chrono::{DateTime, Utc};
use spin_sdk::key_value::Store;

/// Work every seller would otherwise redo per event: the intent
/// classifier ([`classifier::Classifier::embedded`]) learned from the
/// corpus, which took about 20 ms. A brand passes it as its `init`
/// (`export!(…, init: agent_store_seller::prepare)`): the host runs it once
/// per version at load and snapshots the result. Under `spin up`, where
/// nothing runs it, the first message that needs the classifier learns it.
pub fn prepare() {
    let _ = classifier::Classifier::embedded();
}

/// Handles one event for the seller described by `persona_toml`.
pub async fn handle(persona_toml: &str, brand: &dyn Brand, event: Incoming) -> Result<Vec<Event>> {
    let persona = Persona::parse(persona_toml)?;
    let store = Store::open(&format!("seller-{}", persona.brand))
        .map_err(|e| Error::failed(format!("opening the key-value store seller-{}: {e}", persona.brand)))?;
    let now = Utc::now();
    let mut model = SpinModel::load(&store, now);
    let mut seller = Seller { persona: &persona, brand, model: &mut model, now };
    let ty = event.ty().to_owned();

    // Each arm names the conversation the event is about and what to do;
    // events for another brand or a conversation this seller does not know
    // are not errors: they are simply not this seller's business.
    let outs = match ty.as_str() {
        types::CHAT_MESSAGE_NEW => {
            let message: ChatMessageNew = event.data()?;
            if message.brand != persona.brand.as_str() {
                return Err(Error::bad_event(format!(
                    "seller-{} got a message for brand {}",
                    persona.brand, message.brand
                )));
            }
            with_conversation(&store, message.conversation.as_str(), true, |c| seller.on_message(c, &message))?
        }
        types::PRODUCT_QUERY_RESULT => {
            let result: ProductQueryResult = event.data()?;
            match conversation_of(&event, result.conversation.as_ref().map(|c| c.as_str())) {
                Some(id) if result.brand.as_ref().is_none_or(|b| b == persona.brand.as_str()) => {
                    with_conversation(&store, &id, false, |c| seller.on_query_result(c, &result))?
                }
                _ => Vec::new(),
            }
        }
        types::PRODUCT_RECOMMEND_RESULT => {
            let result: ProductRecommendResult = event.data()?;
            match conversation_of(&event, result.conversation.as_ref().map(|c| c.as_str())) {
                Some(id) if result.brand == persona.brand.as_str() => {
                    with_conversation(&store, &id, false, |c| seller.on_recommend_result(c, &result))?
                }
                _ => Vec::new(),
            }
        }
        types::ORDER_CREATED => {
            let created: OrderCreated = event.data()?;
            let id = created.order.conversation.to_string();
            with_conversation(&store, &id, false, |c| seller.on_order_created(c, &created))?
        }
        types::ORDER_REJECTED => {
            let rejected: OrderRejected = event.data()?;
            let id = rejected.conversation.to_string();
            with_conversation(&store, &id, false, |c| seller.on_order_rejected(c, &rejected))?
        }
        types::SALES_ESCALATION_ACCEPTED => {
            let accepted: EscalationAccepted = event.data()?;
            let id = accepted.conversation.to_string();
            with_conversation(&store, &id, true, |c| seller.on_accepted(c, &accepted))?
        }
        types::SALES_ESCALATION_WAITING => {
            let waiting: EscalationWaiting = event.data()?;
            let id = waiting.conversation.to_string();
            with_conversation(&store, &id, false, |c| seller.on_waiting(c, &waiting))?
        }
        types::SALES_ESCALATION_RELEASED => {
            let released: EscalationReleased = event.data()?;
            let id = released.conversation.to_string();
            with_conversation(&store, &id, false, |c| seller.on_released(c, &released))?
        }
        // The subscription is `store.sales.escalation.*`: a newer kind of
        // escalation event is not ours to refuse.
        other if other.starts_with("store.sales.escalation.") => Vec::new(),
        other => {
            return Err(Error::bad_event(format!("seller-{} does not handle {other} events", persona.brand)));
        }
    };
    model.save(&store)?;
    outs.into_iter().map(|out| to_event(&event, &persona.brand, out)).collect()
}

/// The conversation an answer is for: its payload says, else the envelope.
fn conversation_of(event: &Incoming, from_data: Option<&str>) -> Option<String> {
    from_data.map(str::to_owned).or_else(|| event.conversation()).filter(|c| !c.is_empty())
}

/// Loads conversation `id`, runs `f` on it and saves it. Without a stored
/// conversation `f` runs only when `create` (a new customer message): an
/// answer for a conversation that expired is dropped.
fn with_conversation(
    store: &Store,
    id: &str,
    create: bool,
    f: impl FnOnce(&mut Conversation) -> Vec<Out>,
) -> Result<Vec<Out>> {
    let key = Conversation::key(id);
    let stored = store.get(&key).map_err(|e| Error::failed(format!("reading {key}: {e}")))?;
    let mut conversation = match stored {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            // A state this version cannot read is started afresh rather than
            // failing every message of the conversation forever.
            eprintln!("seller: conversation state unreadable, starting afresh: {e}");
            Conversation::default()
        }),
        None if create => Conversation::default(),
        None => return Ok(Vec::new()),
    };
    let before = conversation.clone();
    let outs = f(&mut conversation);
    if conversation != before {
        let bytes = serde_json::to_vec(&conversation).map_err(Error::failed)?;
        store.set(&key, &bytes).map_err(|e| Error::failed(format!("writing {key}: {e}")))?;
    }
    Ok(outs)
}

/// An [`Out`] as a CloudEvent: requests carry their `correlation`, and every
/// event the brand and conversation, whatever the event being handled had.
fn to_event(incoming: &Incoming, brand: &str, out: Out) -> Result<Event> {
    let (mut event, conversation) = match &out {
        Out::Respond(p) => (incoming.reply(p)?, p.conversation.to_string()),
        Out::Intent(p) => (incoming.reply(p)?, p.conversation.to_string()),
        Out::CartAdded(p) => (incoming.reply(p)?, p.conversation.to_string()),
        Out::Escalate(p) => (incoming.reply(p)?, p.conversation.to_string()),
        Out::Query(p) => {
            (incoming.request(p, &p.request_id)?, p.conversation.as_ref().map(ToString::to_string).unwrap_or_default())
        }
        Out::Recommend(p) => {
            (incoming.request(p, &p.request_id)?, p.conversation.as_ref().map(ToString::to_string).unwrap_or_default())
        }
        Out::OrderCreate(p) => (incoming.request(p, &p.request_id)?, p.conversation.to_string()),
    };
    if out.request_id().is_none() {
        // Only requests correlate; a reply to a result is a new message.
        event.remove_extension(ext::CORRELATION);
    }
    event.set_extension(ext::BRAND, brand.to_owned());
    if !conversation.is_empty() {
        event.set_extension(ext::CONVERSATION, conversation);
    }
    Ok(event)
}

/// The host's `chat` model behind the [`Health`] kept in the store: asked
/// only when it has not failed lately, every call's start and outcome
/// written down (so that a call the host's time limit cut short is noticed
/// by the next invocation).
struct SpinModel<'a> {
    store: &'a Store,
    health: Health,
    now: DateTime<Utc>,
    changed: bool,
}

impl<'a> SpinModel<'a> {
    fn load(store: &'a Store, now: DateTime<Utc>) -> Self {
        let health = store
            .get(model::HEALTH_KEY)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { store, health, now, changed: false }
    }

    fn save(&self, store: &Store) -> Result<()> {
        if self.changed {
            let bytes = serde_json::to_vec(&self.health).map_err(Error::failed)?;
            store
                .set(model::HEALTH_KEY, &bytes)
                .map_err(|e| Error::failed(format!("writing {}: {e}", model::HEALTH_KEY)))?;
        }
        Ok(())
    }

    fn write(&mut self) {
        self.changed = true;
        if let Ok(bytes) = serde_json::to_vec(&self.health) {
            // Best effort: losing this write only delays noticing a failure.
            let _ = self.store.set(model::HEALTH_KEY, &bytes);
        }
    }
}

impl Model for SpinModel<'_> {
    fn available(&self) -> bool {
        self.health.clone().available(self.now)
    }

    fn infer(&mut self, prompt: &str, max_tokens: u32) -> std::result::Result<String, ModelError> {
        if !self.health.available(self.now) {
            self.changed = true;
            return Err(ModelError::Resting);
        }
        self.health.started(self.now);
        self.write();
        let params = spin_sdk::llm::InferencingParams {
            max_tokens,
            temperature: 0.2,
            ..spin_sdk::llm::InferencingParams::default()
        };
        let result =
            spin_sdk::llm::infer_with_options(spin_sdk::llm::InferencingModel::Other(model::MODEL), prompt, params);
        // The call may have taken a while: time the outcome from its end.
        self.now = Utc::now();
        match result {
            Ok(answer) => {
                self.health.succeeded();
                self.write();
                Ok(answer.text)
            }
            Err(e) => {
                let error = e.to_string();
                eprintln!("seller: the {} model failed, the offline brain answers: {error}", model::MODEL);
                self.health.failed(self.now, &error);
                self.write();
                Err(ModelError::Failed(error))
            }
        }
    }
}
