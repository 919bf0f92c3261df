//! Handing the conversation to a person, and taking it back.

use agent_store_events::{
    ConversationId, EscalationAccepted, EscalationReason, EscalationReleased, EscalationWaiting, SalesEscalate, Speaker,
};

use agent_store_text::Language;

use super::{ESCALATION_TRANSCRIPT, MISUNDERSTANDINGS, round2};

/// How often a customer waiting for a person hears that their message is
/// passed on: often enough not to feel ignored, rarely enough not to nag.
const WAITING_NOTICE_EVERY: chrono::Duration = chrono::Duration::minutes(3);

/// "ana.lopez@store" → "Ana": what the customer is told of a human seller,
/// from their seller id (letters, digits and `. _ - @`).
fn first_name(seller_id: &str, language: Language) -> String {
    let first = seller_id.split(['.', '_', '-', '@']).find(|part| !part.is_empty()).unwrap_or(seller_id);
    let mut chars = first.chars();
    match chars.next() {
        Some(c) if first.chars().all(char::is_alphabetic) => c.to_uppercase().chain(chars).collect(),
        // An id that is no name (digits, a code) is not worth reading out.
        _ => match language {
            Language::En => "A colleague",
            Language::Es => "Un compañero",
            Language::Pt => "Um colega",
        }
        .to_owned(),
    }
}
/// A place in the queue as the customer's language says it in
/// `place_nth`: "2nd" in English, the bare number in Spanish and Portuguese
/// ("el puesto 2", "a posição 2").
fn position_in(n: u32, language: Language) -> String {
    match language {
        Language::En => {
            let suffix = match (n % 10, n % 100) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            };
            format!("{n}{suffix}")
        }
        Language::Es | Language::Pt => n.to_string(),
    }
}

use super::{Out, Reply, Seller};
use crate::brain::Tap;
use crate::state::{Conversation, EscalationNote, OrderNote};
use crate::text::truncate;

impl Seller<'_> {
    /// Hands the conversation to a person and tells the customer.
    pub(super) fn escalate(
        &self,
        c: &mut Conversation,
        conversation: &ConversationId,
        reason: EscalationReason,
        sentiment: f32,
        reply: &mut Reply,
    ) {
        let id = c.next_id("esc", conversation.as_str());
        let summary = self.summary(c, reason, sentiment);
        let start = c.transcript.len().saturating_sub(ESCALATION_TRANSCRIPT);
        reply.emit(Out::Escalate(SalesEscalate {
            escalation_id: id.clone(),
            conversation: conversation.clone(),
            brand: self.brand_id(),
            customer: c.customer.clone().unwrap_or_default(),
            reason,
            sentiment: round2(sentiment),
            summary,
            transcript: c.transcript[start..].to_vec(),
            cart: c.cart.clone().filter(|cart| !cart.is_empty()),
            escalated_at: self.now,
        }));
        c.escalation = Some(EscalationNote { id, reason, at: self.now, human: None, acknowledged_at: None });
        c.awaiting = None;
        c.pending.clear();
        reply.polish = true;
        reply.text(self.voice(c.language).say("escalated", &[]));
    }

    /// A few sentences for the human seller, in English (the team's language).
    pub(super) fn summary(&self, c: &Conversation, reason: EscalationReason, sentiment: f32) -> String {
        let who = c.customer.as_ref().and_then(|cu| cu.name.clone()).unwrap_or_else(|| "The customer".into());
        let why = match reason {
            EscalationReason::CustomerRequest => "asked to talk to a person".to_owned(),
            EscalationReason::LowSentiment => format!("is frustrated (sentiment {sentiment:.2})"),
            EscalationReason::ComplexQuery => "asked for something only a person can handle (refund, return, bulk or custom order, a placed order, a legal or warranty claim)".to_owned(),
            EscalationReason::RepeatedMisunderstanding => format!("was not understood {MISUNDERSTANDINGS} times in a row"),
            EscalationReason::Other => "needs a person".to_owned(),
        };
        let mut summary = format!("{who} (writing in {}) {why}.", c.language.name());
        if let Some(last) = c.transcript.iter().rev().find(|e| e.from == Speaker::Customer) {
            summary.push_str(&format!(" Last message: \u{201c}{}\u{201d}.", truncate(&last.text, 200)));
        }
        if let Some(cart) = c.cart.as_ref().filter(|cart| !cart.is_empty()) {
            summary.push_str(&format!(" Cart: {} item(s), {}.", cart.item_count(), cart.subtotal));
        }
        if let Some(query) = &c.last_query {
            summary.push_str(&format!(" Last search: \u{201c}{query}\u{201d}."));
        }
        if let Some(OrderNote { order_id: Some(order), .. }) = &c.order {
            summary.push_str(&format!(" Last order: {order}."));
        }
        summary
    }

    /// While a person is coming, the sales assistant says where the customer
    /// stands in the queue each time they write: the customer is told, for
    /// the first such message and then at most once every
    /// [`WAITING_NOTICE_EVERY`]. Silence once the person is there, and for an
    /// escalation this conversation no longer waits on.
    pub fn on_waiting(&mut self, c: &mut Conversation, waiting: &EscalationWaiting) -> Vec<Out> {
        let Some(note) = c.escalation.as_mut().filter(|note| note.id == waiting.escalation_id) else {
            return Vec::new();
        };
        if note.human.is_some() || note.acknowledged_at.is_some_and(|at| self.now - at < WAITING_NOTICE_EVERY) {
            return Vec::new();
        }
        note.acknowledged_at = Some(self.now);
        let voice = self.voice(c.language);
        let place = match waiting.position {
            0 | 1 => voice.say("place_next", &[]),
            n => voice.say("place_nth", &[("position", &position_in(n, c.language))]),
        };
        let mut reply = Reply::new();
        reply.text(voice.say("waiting", &[("place", &place)]));
        self.finish(c, &waiting.conversation, Some(&waiting.message_id), reply)
    }

    /// A person took the conversation over: the customer is told who, then
    /// the seller is silent.
    pub fn on_accepted(&mut self, c: &mut Conversation, accepted: &EscalationAccepted) -> Vec<Out> {
        let note = c.escalation.get_or_insert_with(|| EscalationNote {
            id: accepted.escalation_id.clone(),
            reason: EscalationReason::Other,
            at: accepted.accepted_at,
            human: None,
            acknowledged_at: None,
        });
        if note.human.as_deref() == Some(accepted.seller_id.as_str()) {
            // A redelivery: announced already.
            return Vec::new();
        }
        note.human = Some(accepted.seller_id.clone());
        let mut reply = Reply::new();
        let voice = self.voice(c.language);
        reply.text(voice.say("human_joined", &[("human", &first_name(&accepted.seller_id, c.language))]));
        self.finish(c, &accepted.conversation, None, reply)
    }

    /// The person handed the conversation back.
    pub fn on_released(&mut self, c: &mut Conversation, released: &EscalationReleased) -> Vec<Out> {
        if c.escalation.take().is_none() {
            return Vec::new();
        }
        c.misunderstood = 0;
        c.awaiting = None;
        let mut reply = Reply::new();
        reply.polish = true;
        let voice = self.voice(c.language);
        reply.say(voice.buttons(
            &voice.say("resumed", &[]),
            vec![voice.button(Tap::Categories, "categories_button"), voice.button(Tap::Cart, "btn_cart")],
        ));
        self.finish(c, &released.conversation, None, reply)
    }
}
