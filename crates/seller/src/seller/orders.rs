//! Checkout and orders: the confirmation, the `store.order.create` request, and
//! what the customer hears when the order processor answers.

use agent_store_events::{
    ConversationId, Money, OrderCreate, OrderCreated, OrderRejected, OrderRequestLine, ProductId, RejectionReason,
};
use agent_store_text::Language;

use super::{Out, Reply, Seller};
use crate::brain::Tap;
use crate::state::{Awaiting, Conversation, OrderNote};
use crate::text::truncate;

impl Seller<'_> {
    pub(super) fn checkout(&self, c: &mut Conversation, language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        if let Some(order) = &c.order
            && order.order_id.is_none()
            && self.now - order.at < chrono::Duration::minutes(2)
        {
            reply.text(voice.say("order_status_pending", &[]));
            return;
        }
        let Some(cart) = c.cart.as_ref().filter(|cart| !cart.is_empty()) else {
            let text = voice.say("checkout_empty", &[]);
            reply.say(voice.buttons(
                &text,
                vec![voice.button(Tap::Categories, "categories_button"), voice.button(Tap::Popular, "btn_popular")],
            ));
            return;
        };
        let total = cart.subtotal.clone();
        let text = voice.say("checkout_confirm", &[("lines", &voice.cart_lines(cart)), ("total", &total.to_string())]);
        reply.say(
            voice.buttons(&text, vec![voice.button(Tap::Yes, "btn_confirm"), voice.button(Tap::Edit, "btn_edit")]),
        );
        c.awaiting = Some(Awaiting::Checkout { total });
    }

    /// Yes or no to the question the seller asked.
    pub(super) fn answer(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        awaiting: Awaiting,
        yes: bool,
        language: Language,
        reply: &mut Reply,
    ) {
        let voice = self.voice(language);
        match (awaiting, yes) {
            (Awaiting::Checkout { total }, true) => {
                let current = c.cart.as_ref().map(|cart| cart.subtotal.clone());
                if current.as_ref() == Some(&total) {
                    self.place_order(c, conversation, total, language, reply);
                } else {
                    // The cart changed since the customer saw the total.
                    self.checkout(c, language, reply);
                }
            }
            (Awaiting::Quantity { product, quantity }, true) => {
                if let Some(cart) = c.cart.as_mut()
                    && cart.set_quantity(&product, quantity)
                {
                    let total = cart.subtotal.clone();
                    self.place_order(c, conversation, total, language, reply);
                } else {
                    self.checkout(c, language, reply);
                }
            }
            (Awaiting::NewTotal { total }, true) => self.place_order(c, conversation, total, language, reply),
            (Awaiting::Retry, true) => match c.cart.as_ref().filter(|cart| !cart.is_empty()) {
                Some(cart) => {
                    let total = cart.subtotal.clone();
                    self.place_order(c, conversation, total, language, reply);
                }
                None => reply.text(voice.say("checkout_empty", &[])),
            },
            (Awaiting::Similar { product }, true) => self.recommend(c, conversation, Some(product), reply),
            (
                Awaiting::Checkout { .. } | Awaiting::Quantity { .. } | Awaiting::NewTotal { .. } | Awaiting::Retry,
                false,
            ) => {
                reply.polish = true;
                reply.text(voice.say("checkout_cancelled", &[]));
            }
            (Awaiting::Similar { .. }, false) => {
                reply.polish = true;
                reply.text(voice.say("acknowledge", &[]));
            }
        }
    }

    pub(super) fn place_order(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        total: Money,
        language: Language,
        reply: &mut Reply,
    ) {
        let Some(cart) = c.cart.as_ref().filter(|cart| !cart.is_empty()) else {
            return reply.text(self.voice(language).say("checkout_empty", &[]));
        };
        let lines = cart
            .items
            .iter()
            .map(|i| OrderRequestLine {
                product_id: i.product_id.clone(),
                quantity: i.quantity,
                variant: i.variant.clone(),
            })
            .collect();
        let request_id = c.next_id("oc", conversation.as_str());
        c.order =
            Some(OrderNote { request_id: request_id.clone(), at: self.now, order_id: None, total: total.clone() });
        reply.emit(Out::OrderCreate(OrderCreate {
            request_id,
            conversation: conversation.clone(),
            brand: self.brand_id(),
            customer: c.customer.clone().unwrap_or_default(),
            lines,
            expected_total: Some(total),
            shipping: None,
            notes: None,
            language: Some(language.tag().into()),
        }));
        reply.text(self.voice(language).say("placing", &[]));
    }

    pub(super) fn order_status(&self, c: &Conversation, language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        match &c.order {
            Some(OrderNote { order_id: Some(order), total, .. }) => {
                reply.text(voice.say("order_status_known", &[("order", order), ("total", &total.to_string())]));
            }
            Some(_) => reply.text(voice.say("order_status_pending", &[])),
            None => {
                let text = voice.say("order_status_unknown", &[]);
                reply.say(voice.buttons(&text, vec![voice.button(Tap::Human, "btn_human")]));
            }
        }
    }

    /// The order went through.
    pub fn on_order_created(&mut self, c: &mut Conversation, created: &OrderCreated) -> Vec<Out> {
        // Only the answer to the request in flight, and only once: a
        // redelivered `store.order.created` must not announce it twice.
        let Some(note) = c.order.as_mut().filter(|o| o.request_id == created.request_id && o.order_id.is_none()) else {
            return Vec::new();
        };
        let order = &created.order;
        note.order_id = Some(order.id.to_string());
        note.total = order.total.clone();
        c.cart = None;
        c.awaiting = None;
        c.shown.clear();
        if c.is_escalated() {
            return Vec::new();
        }
        let mut reply = Reply::new();
        let mut text = self
            .voice(c.language)
            .say("order_created", &[("order", order.id.as_str()), ("total", &order.total.to_string())]);
        // Which size, colour or shade was ordered, when it matters.
        if order.lines.iter().any(|l| l.variant.is_some()) {
            for line in &order.lines {
                text.push_str(&format!("\n• {} × {}", line.quantity, line.name));
                if let Some(variant) = &line.variant {
                    text.push_str(&format!(" ({variant})"));
                }
            }
        }
        reply.text(text);
        self.finish(c, &order.conversation, None, reply)
    }

    /// The order was refused: say why, and offer a way out.
    pub fn on_order_rejected(&mut self, c: &mut Conversation, rejected: &OrderRejected) -> Vec<Out> {
        if c.order.as_ref().is_none_or(|o| o.request_id != rejected.request_id) {
            return Vec::new();
        }
        c.order = None;
        if c.is_escalated() {
            return Vec::new();
        }
        let voice = self.voice(c.language);
        let mut reply = Reply::new();
        let name_of_product = |id: &ProductId| {
            c.cart
                .as_ref()
                .and_then(|cart| cart.items.iter().find(|i| &i.product_id == id))
                .map(|i| i.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let mut text = truncate(rejected.message.trim(), 600);
        let buttons;
        match &rejected.reason {
            RejectionReason::OutOfStock { product_id, available } if *available > 0 => {
                let name = name_of_product(product_id);
                text.push_str("\n\n");
                text.push_str(
                    &voice.say("order_rejected_quantity", &[("available", &available.to_string()), ("product", &name)]),
                );
                c.awaiting = Some(Awaiting::Quantity { product: product_id.clone(), quantity: *available });
                buttons = vec![voice.button(Tap::Yes, "btn_yes"), voice.button(Tap::Edit, "btn_edit")];
            }
            RejectionReason::InvalidQuantity { product_id, .. } => {
                let name = name_of_product(product_id);
                text.push_str("\n\n");
                text.push_str(&voice.say("order_rejected_quantity", &[("available", "1"), ("product", &name)]));
                c.awaiting = Some(Awaiting::Quantity { product: product_id.clone(), quantity: 1 });
                buttons = vec![voice.button(Tap::Yes, "btn_yes"), voice.button(Tap::Edit, "btn_edit")];
            }
            RejectionReason::OutOfStock { product_id, .. } | RejectionReason::UnknownProduct { product_id } => {
                let name = name_of_product(product_id);
                if let Some(cart) = c.cart.as_mut() {
                    cart.remove(product_id);
                }
                text.push_str("\n\n");
                text.push_str(&voice.say("order_rejected_sold_out", &[("product", &name)]));
                c.awaiting = Some(Awaiting::Similar { product: product_id.clone() });
                buttons = vec![voice.button(Tap::Yes, "btn_similar"), voice.button(Tap::Cart, "btn_cart")];
            }
            RejectionReason::TotalMismatch { expected, actual } => {
                text.push_str("\n\n");
                text.push_str(&voice.say(
                    "order_rejected_total",
                    &[("actual", &actual.to_string()), ("expected", &expected.to_string())],
                ));
                c.awaiting = Some(Awaiting::NewTotal { total: actual.clone() });
                buttons = vec![voice.button(Tap::Yes, "btn_confirm"), voice.button(Tap::Edit, "btn_edit")];
            }
            RejectionReason::EmptyOrder => {
                c.cart = None;
                text.push_str("\n\n");
                text.push_str(&voice.say("cart_empty", &[]));
                buttons =
                    vec![voice.button(Tap::Categories, "categories_button"), voice.button(Tap::Popular, "btn_popular")];
            }
            RejectionReason::Other { .. } => {
                text.push_str("\n\n");
                text.push_str(&voice.say("order_rejected_other", &[]));
                c.awaiting = Some(Awaiting::Retry);
                buttons = vec![voice.button(Tap::Yes, "btn_yes"), voice.button(Tap::Human, "btn_human")];
            }
        }
        reply.say(voice.buttons(text.trim(), buttons));
        self.finish(c, &rejected.conversation, None, reply)
    }
}
