//! The sales assistant: the queue of escalations to human sellers, the API
//! they work through, reply suggestions and sales insights.
//!
//! Events in (see `docs/sales-assistant.md`):
//! - `store.sales.escalate` queues an escalation (once per `escalation_id`)
//!   and emits an `escalation` insight with a strategy and a reply draft;
//! - `store.chat.message.new` and `store.chat.response` keep a bounded
//!   transcript of every conversation of the last hour, so that it exists
//!   when an escalation arrives; a customer message into an accepted
//!   escalation emits an `objection` (or `escalation`) insight;
//!   a customer message into a queued one emits
//!   `store.sales.escalation.waiting` with the customer's place in the queue,
//!   which their AI seller tells them;
//! - `store.chat.intent.detected` records the customer's language;
//! - `store.order.created` in an escalated conversation is a conversion;
//! - `store.cart.item.added`, `store.order.created` and
//!   `store.whatsapp.message.status` keep what the sellers' console shows
//!   beside the transcript: the cart, the orders, delivered and read marks.
//!
//! The sellers' console, a web page over the API, is in [`console`].
//!
//! The HTTP API under `/sales` is in [`api`]. State lives in the `sales`
//! key-value store ([`store`]); every decision that two invocations could
//! race on is a compare-and-swap.

pub mod analytics;
pub mod api;
pub mod auth;
pub mod console;
pub mod insight;
pub mod model;
pub mod queue;
pub mod settings;
pub mod store;
pub mod suggest;

use agent_store_events::{
    CartItemAdded, ChatIntentDetected, ChatMessageNew, ChatResponse, EventData, OrderCreated, OutboundMessage,
    Responder, SalesEscalate, Speaker, WhatsAppMessageStatus, ext, types,
};
use agent_store_sdk::{AttributesReader, Error, Event, Incoming, Result};
use chrono::{DateTime, Duration, Utc};

use model::{Conversation, Escalation, Expiry, OrderNote, Status};
use settings::Settings;
use store::{Store, Update};
use suggest::{DraftError, Situation, Suggestions};

/// The component id in `spin.toml`.
pub const ID: &str = "sales-assistant";

/// The logical model the manifest entry lists in `ai_models`.
pub const MODEL: &str = "chat";

/// Longest escalation id accepted: it becomes part of keys and URLs.
const MAX_ID: usize = 128;

/// The queue index: ids of queued escalations.
pub const QUEUE: &str = "index/queued";
/// Ids of accepted escalations (every seller's).
pub const ACTIVE: &str = "index/accepted";

/// How often old conversations are looked for, at most.
const SWEEP_EVERY: Duration = Duration::minutes(5);
/// Records one sweep reads at most; the next sweep carries on from there.
const SWEEP_BUDGET: usize = 200;
/// Released and expired escalations are kept this long for the record, then
/// dropped (the analytics counters stay).
const KEEP_RELEASED: Duration = Duration::days(30);

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    let now = Utc::now();
    let settings = Settings::load()?;
    match event.ty() {
        types::SALES_ESCALATE => on_escalate(&event, &settings, now),
        types::CHAT_MESSAGE_NEW => on_message(&event, &settings, now),
        types::CHAT_RESPONSE => on_response(&event, &settings, now),
        types::CHAT_INTENT_DETECTED => on_intent(&event, &settings, now),
        types::ORDER_CREATED => on_order(&event, now),
        types::CART_ITEM_ADDED => on_cart(&event),
        types::WHATSAPP_MESSAGE_STATUS => on_status(&event),
        other => Err(Error::bad_event(format!("{ID} does not handle {other} events"))),
    }
}

/// An id that can be part of a key and a URL path segment.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'='));
    match ok {
        true => Ok(()),
        false => Err(Error::bad_event(format!(
            "{what} `{}` must be 1 to {MAX_ID} letters, digits or - _ . : =",
            model::truncate(id, MAX_ID)
        ))),
    }
}

fn on_escalate(event: &Incoming, settings: &Settings, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let escalate: SalesEscalate = event.data()?;
    check_id("escalation_id", &escalate.escalation_id)?;
    let store = Store::open()?;
    let id = escalate.escalation_id.clone();
    let (created, mut escalation) = store.update(&Escalation::key(&id), |current: Option<Escalation>| {
        Ok(match current {
            // A redelivery: the first delivery queued it.
            Some(existing) => Update::Keep((false, existing)),
            None => {
                let escalation =
                    Escalation { escalate: escalate.clone(), queued_at: now, state: Status::Queued, converted: false };
                Update::Write(escalation.clone(), (true, escalation))
            }
        })
    })?;
    if created {
        analytics::escalated(&store, &escalation)?;
    }
    // On every delivery while it waits, so a redelivery finishes what a
    // failed one began.
    if escalation.state == Status::Queued {
        let expiry = if escalation.is_due(now, settings.escalation_ttl) {
            Some((Expiry::Unanswered, Some(settings.escalation_ttl)))
        } else if !queue::enqueue(&store, &id, settings.max_queued)? {
            Some((Expiry::QueueFull, None))
        } else {
            None
        };
        if let Some((cause, ttl)) = expiry {
            queue::expire(&store, &id, cause, ttl, now)?;
            escalation = store.get(&Escalation::key(&id))?.unwrap_or(escalation);
        }
    }
    let conversation = store.update(&Conversation::key(&escalate.conversation), |current| {
        let mut conversation = Conversation::current_or_new(current, &escalate.brand, now, settings.conversation_ttl);
        conversation.escalation_id = Some(id.clone());
        conversation.merge(&escalate.transcript);
        Ok(Update::Write(conversation.clone(), conversation))
    })?;
    if matches!(escalation.state, Status::Expired { .. }) {
        return Ok(queue::handed_back(&escalation)?.into_iter().collect());
    }
    if escalation.state != Status::Queued {
        return Ok(Vec::new());
    }
    // Emitted again on a redelivery, with the same insight id, so that a
    // crash between storing and answering loses nothing.
    let suggestions = suggestions(&escalation, Some(&conversation));
    Ok(vec![emit(event, &insight::escalation(&escalation, &suggestions, now), &escalation)?])
}

/// What the customer sent, as a transcript line: their words, or the kind
/// of message (`[image]`) when it has none.
fn customer_text(message: &ChatMessageNew) -> String {
    // A photo or voice note is named with its media id, for the person to open.
    if let Some(note) = message.content.media_note() {
        return note;
    }
    if !message.text.trim().is_empty() {
        return message.text.clone();
    }
    match message.content.text() {
        Some(text) => text.to_string(),
        None => {
            let kind = serde_json::to_value(&message.content).ok().and_then(|v| v["kind"].as_str().map(str::to_string));
            format!("[{}]", kind.unwrap_or_else(|| "message".into()))
        }
    }
}

fn on_message(event: &Incoming, settings: &Settings, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let message: ChatMessageNew = event.data()?;
    let store = Store::open()?;
    let text = customer_text(&message);
    let (conversation, added, first) = store.update(&Conversation::key(&message.conversation), |current| {
        let mut conversation = Conversation::current_or_new(current, &message.brand, now, settings.conversation_ttl);
        let added = conversation.record(&message.message_id, Speaker::Customer, &text, message.received_at);
        let first = !conversation.counted;
        conversation.counted = true;
        Ok(match added || first {
            true => Update::Write(conversation.clone(), (conversation, added, first)),
            false => Update::Keep((conversation, added, first)),
        })
    })?;
    if first {
        analytics::conversation_started(&store, message.brand.as_str())?;
    }
    let mut out = sweep(&store, settings, now).unwrap_or_else(|e| {
        // Housekeeping must not fail the message it rides on.
        eprintln!("{ID}: sweeping old conversations failed: {e}");
        Vec::new()
    });
    let Some(id) = conversation.escalation_id.as_deref().filter(|_| added) else {
        return Ok(out);
    };
    let Some(mut escalation) = store.get::<Escalation>(&Escalation::key(id))? else {
        return Ok(out);
    };
    if escalation.is_due(now, settings.escalation_ttl) {
        queue::expire(&store, id, Expiry::Unanswered, Some(settings.escalation_ttl), now)?;
        escalation = store.get(&Escalation::key(id))?.unwrap_or(escalation);
    }
    match &escalation.state {
        // The customer writes to nobody until the AI seller has it back.
        Status::Expired { expired_at, .. } if !conversation.ai_spoke_since(*expired_at) => {
            if let Some(back) = queue::handed_back(&escalation)?
                && !out.iter().any(|e| e.id() == back.id())
            {
                out.push(back);
            }
        }
        // Still waiting: the AI seller tells the customer where they stand.
        Status::Queued => {
            if let Some(waiting) = queue::waiting(&store, &escalation, &message.message_id, now)? {
                out.push(emit(event, &waiting, &escalation)?);
            }
        }
        Status::Accepted { .. } => {
            let suggestions = suggestions(&escalation, Some(&conversation));
            let in_message = suggest::objections_in(&text);
            let insight = insight::message(&escalation, &message.message_id, &in_message, &suggestions, now);
            out.push(emit(event, &insight, &escalation)?);
        }
        _ => {}
    }
    Ok(out)
}

/// A reply as a transcript line.
fn response_text(response: &ChatResponse) -> String {
    let lines: Vec<String> = response
        .messages
        .iter()
        .map(|m| match m {
            OutboundMessage::Text { body, .. } => body.clone(),
            OutboundMessage::Buttons { body, .. } | OutboundMessage::List { body, .. } => body.clone(),
            OutboundMessage::Image { caption, .. } => caption.clone().unwrap_or_else(|| "[image]".into()),
            OutboundMessage::ProductCard { product, .. } => format!("[product: {}]", product.name),
        })
        .collect();
    lines.join("\n")
}

fn on_response(event: &Incoming, settings: &Settings, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let response: ChatResponse = event.data()?;
    let (speaker, human) = match &response.from {
        Responder::Human { seller_id } => (Speaker::Human, Some(seller_id.clone())),
        Responder::Ai { .. } | Responder::System => (Speaker::Ai, None),
    };
    let at = event.event().time().copied().unwrap_or(now);
    let text = response_text(&response);
    let cards: Vec<_> = response
        .messages
        .iter()
        .filter_map(|m| match m {
            OutboundMessage::ProductCard { product, .. } => Some(product.clone()),
            _ => None,
        })
        .collect();
    let store = Store::open()?;
    let added = store.update(&Conversation::key(&response.conversation), |current| {
        let mut conversation = Conversation::current_or_new(current, &response.brand, now, settings.conversation_ttl);
        Ok(match conversation.record(event.id(), speaker, &text, at) {
            true => {
                conversation.show_cards(at, cards.iter().cloned());
                Update::Write(conversation, true)
            }
            false => Update::Keep(false),
        })
    })?;
    if let (true, Some(seller)) = (added, human) {
        analytics::replied(&store, &seller)?;
    }
    Ok(Vec::new())
}

fn on_intent(event: &Incoming, settings: &Settings, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let intent: ChatIntentDetected = event.data()?;
    let store = Store::open()?;
    store.update(&Conversation::key(&intent.conversation), |current| {
        let mut conversation = Conversation::current_or_new(current, &intent.brand, now, settings.conversation_ttl);
        Ok(match conversation.language.as_deref() == Some(intent.language.as_str()) {
            true => Update::Keep(()),
            false => {
                conversation.language = Some(model::truncate(&intent.language, 16));
                Update::Write(conversation, ())
            }
        })
    })?;
    Ok(Vec::new())
}

fn on_order(event: &Incoming, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let created: OrderCreated = event.data()?;
    let order = &created.order;
    let store = Store::open()?;
    // Shown beside the transcript; a conversation the assistant does not
    // have is not started for it.
    let conversation = store.update(&Conversation::key(&order.conversation), |current: Option<Conversation>| {
        let Some(mut conversation) = current else { return Ok(Update::Keep(None)) };
        Ok(match conversation.note_order(OrderNote::from(order)) {
            true => Update::Write(conversation.clone(), Some(conversation)),
            false => Update::Keep(Some(conversation)),
        })
    })?;
    let Some(conversation) = conversation else {
        return Ok(Vec::new());
    };
    let Some(id) = conversation.escalation_id else {
        return Ok(Vec::new());
    };
    let converted = store.update(&Escalation::key(&id), |current: Option<Escalation>| {
        Ok(match current {
            Some(mut escalation) if !escalation.converted => {
                escalation.converted = true;
                Update::Write(escalation.clone(), Some(escalation))
            }
            _ => Update::Keep(None),
        })
    })?;
    let Some(escalation) = converted else {
        return Ok(Vec::new());
    };
    analytics::converted(&store, &escalation)?;
    let total = order.total.amount_minor as f64 / 100.0;
    Ok(vec![emit(event, &insight::converted(&escalation, order.id.as_str(), total, now), &escalation)?])
}

/// The cart as it changes, for the console; a conversation the assistant
/// does not have is not started for it.
fn on_cart(event: &Incoming) -> Result<Vec<Event>> {
    let added: CartItemAdded = event.data()?;
    let store = Store::open()?;
    store.update(&Conversation::key(&added.conversation), |current: Option<Conversation>| {
        Ok(match current {
            Some(mut conversation) if conversation.cart.as_ref() != Some(&added.cart) => {
                conversation.cart = Some(added.cart.clone());
                Update::Write(conversation, ())
            }
            _ => Update::Keep(()),
        })
    })?;
    Ok(Vec::new())
}

/// WhatsApp's delivered and read statuses, for the console's marks.
fn on_status(event: &Incoming) -> Result<Vec<Event>> {
    let status: WhatsAppMessageStatus = event.data()?;
    let Some(conversation) = &status.conversation else { return Ok(Vec::new()) };
    let store = Store::open()?;
    store.update(&Conversation::key(conversation), |current: Option<Conversation>| {
        let Some(mut conversation) = current else { return Ok(Update::Keep(())) };
        Ok(match conversation.receipts.record(status.status, status.timestamp) {
            true => Update::Write(conversation, ()),
            false => Update::Keep(()),
        })
    })?;
    Ok(Vec::new())
}

/// An event answering `event`, with the escalation's brand and conversation.
fn emit<T: EventData>(event: &Incoming, data: &T, escalation: &Escalation) -> Result<Event> {
    let mut out = event.reply(data)?;
    out.set_extension(ext::BRAND, escalation.escalate.brand.to_string());
    out.set_extension(ext::CONVERSATION, escalation.escalate.conversation.to_string());
    Ok(out)
}

/// Suggestions for an escalation from the conversation as it stands.
pub fn suggestions(escalation: &Escalation, conversation: Option<&Conversation>) -> Suggestions {
    let escalate = &escalation.escalate;
    let transcript = match conversation {
        Some(c) if !c.transcript.is_empty() => &c.transcript,
        _ => &escalate.transcript,
    };
    let situation = Situation {
        brand: escalate.brand.as_str(),
        reason: escalate.reason,
        summary: &escalate.summary,
        transcript,
        cart: escalate.cart.as_ref(),
        language_tag: conversation.and_then(|c| c.language.as_deref()),
    };
    suggest::suggest(&situation, model_draft)
}

/// A reply draft from the `chat` model; the error says why there is none
/// (no model configured, a timeout…) and the templates stand in.
fn model_draft(prompt: &str) -> std::result::Result<String, DraftError> {
    use spin_sdk::llm;
    let params = llm::InferencingParams { max_tokens: 200, temperature: 0.4, ..Default::default() };
    llm::infer_with_options(llm::InferencingModel::Other(MODEL), prompt, params).map(|result| result.text).map_err(
        |e| match e {
            llm::Error::ModelNotSupported => DraftError::Unsupported(MODEL),
            llm::Error::RuntimeError(m) | llm::Error::InvalidInput(m) => DraftError::Failed(m),
        },
    )
}

/// Adds `id` to (or removes it from) the id list at `key`.
pub fn index(store: &Store, key: &str, id: &str, add: bool) -> Result<()> {
    store.update(key, |current: Option<Vec<String>>| {
        let mut ids = current.unwrap_or_default();
        let present = ids.iter().any(|i| i == id);
        Ok(match (add, present) {
            (true, false) => {
                ids.push(id.to_string());
                Update::Write(ids, ())
            }
            (false, true) => {
                ids.retain(|i| i != id);
                Update::Write(ids, ())
            }
            _ => Update::Keep(()),
        })
    })
}

/// Where the last sweep stopped and when it ran.
#[derive(serde::Serialize, serde::Deserialize)]
struct SweepMark {
    at: DateTime<Utc>,
    /// The key to carry on after; `None` starts from the beginning.
    after: Option<String>,
}

/// Forgets conversations that went quiet `conversation_ttl` ago or more and
/// escalations released or expired more than [`KEEP_RELEASED`] ago, expires
/// queued escalations that waited out `escalation_ttl` (returning their
/// hand-backs), and takes stale ids off the queue; a bounded number of
/// records at a time, at most every [`SWEEP_EVERY`]: components have no
/// timers, so the chat traffic itself drives the housekeeping.
fn sweep(store: &Store, settings: &Settings, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let claimed = store.update("sweep", |mark: Option<SweepMark>| {
        Ok(match mark {
            Some(mark) if now - mark.at < SWEEP_EVERY => Update::Keep(None),
            mark => {
                let after = mark.and_then(|m| m.after);
                Update::Write(SweepMark { at: now, after: after.clone() }, Some(after))
            }
        })
    })?;
    let Some(after) = claimed else { return Ok(Vec::new()) };
    let mut keys: Vec<String> = store.keys("conv/")?;
    keys.extend(store.keys("esc/")?);
    keys.sort();
    let start = after.map(|a| keys.partition_point(|k| *k <= a)).unwrap_or(0);
    let batch: Vec<&String> = keys[start..].iter().take(SWEEP_BUDGET).collect();
    let mut handed_back = Vec::new();
    for key in &batch {
        if key.starts_with("conv/") {
            let Some(conversation) = store.get::<Conversation>(key)? else { continue };
            if now - conversation.last_at < settings.conversation_ttl {
                continue;
            }
            let open = match &conversation.escalation_id {
                Some(id) => store.get::<Escalation>(&Escalation::key(id))?.is_some_and(|e| e.state.is_open()),
                None => false,
            };
            if !open {
                store.delete(key)?;
            }
            continue;
        }
        let Some(escalation) = store.get::<Escalation>(key)? else { continue };
        match escalation.state {
            Status::Queued if escalation.is_due(now, settings.escalation_ttl) => {
                let id = escalation.id();
                if let Some(expired) = queue::expire(store, id, Expiry::Unanswered, Some(settings.escalation_ttl), now)?
                {
                    handed_back.extend(queue::handed_back(&expired)?);
                }
            }
            Status::Released { released_at: at, .. } | Status::Expired { expired_at: at, .. }
                if now - at > KEEP_RELEASED =>
            {
                store.delete(key)?;
            }
            _ => {}
        }
    }
    queue::tidy(store)?;
    let next = (batch.len() == SWEEP_BUDGET).then(|| batch.last().map(|k| k.to_string())).flatten();
    store.put("sweep", &SweepMark { at: now, after: next })?;
    Ok(handed_back)
}

agent_store_sdk::export!(id: "sales-assistant", events: handle, http: api::route);
