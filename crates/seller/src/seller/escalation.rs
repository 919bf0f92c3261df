//! Handing the conversation to a person, and taking it back.

use agent_store_events::{
    ConversationId, EscalationAccepted, EscalationReason, EscalationReleased, SalesEscalate, Speaker,
};

use super::{ESCALATION_TRANSCRIPT, MISUNDERSTANDINGS, round2};
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
        c.escalation = Some(EscalationNote { id, reason, at: self.now, human: None });
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

    /// A person took the conversation over: from now on, silence.
    pub fn on_accepted(&mut self, c: &mut Conversation, accepted: &EscalationAccepted) -> Vec<Out> {
        let note = c.escalation.get_or_insert_with(|| EscalationNote {
            id: accepted.escalation_id.clone(),
            reason: EscalationReason::Other,
            at: accepted.accepted_at,
            human: None,
        });
        note.human = Some(accepted.seller_id.clone());
        Vec::new()
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
