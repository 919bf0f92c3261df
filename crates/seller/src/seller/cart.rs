//! The cart: adding what the customer picked, showing it, changing it.

use agent_store_events::{CartItem, CartItemAdded, ConversationId, ProductId};
use agent_store_text::Language;

use super::{Out, Reply, Seller};
use crate::brain::{CartChange, Reading, Tap};
use crate::state::{Awaiting, Conversation};

impl Seller<'_> {
    pub(super) fn add(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        id: &ProductId,
        quantity: u32,
        language: Language,
        reply: &mut Reply,
    ) {
        let voice = self.voice(language);
        let Some(product) = c.product(id).cloned() else {
            return self.which_product(c, language, reply);
        };
        c.focus = Some(product.id.clone());
        let already =
            c.cart.as_ref().and_then(|cart| cart.items.iter().find(|i| &i.product_id == id)).map_or(0, |i| i.quantity);
        let available = product.stock.saturating_sub(already);
        if available == 0 {
            c.awaiting = Some(Awaiting::Similar { product: product.id.clone() });
            let text = voice.say("sold_out", &[("product", &product.name)]);
            reply.say(
                voice.buttons(&text, vec![voice.button(Tap::Yes, "btn_similar"), voice.button(Tap::Cart, "btn_cart")]),
            );
            return;
        }
        let requested = quantity;
        let quantity = quantity.min(available);
        let item = CartItem {
            product_id: product.id.clone(),
            name: product.name.clone(),
            quantity,
            unit_price: product.effective_price().clone(),
        };
        let cart = c.cart_mut(&product.price.currency);
        if !cart.add(item.clone()) {
            return self.which_product(c, language, reply);
        }
        let cart = cart.clone();
        let subtotal = cart.subtotal.to_string();
        let n = quantity.to_string();
        let key = if quantity < requested { "added_capped" } else { "added" };
        let mut text =
            voice.say(key, &[("quantity", &n), ("available", &n), ("product", &product.name), ("subtotal", &subtotal)]);
        if let Some(note) = self.brand.after_add(&product, language) {
            text.push('\n');
            text.push_str(&note);
        }
        reply.say(voice.buttons(
            &text,
            vec![
                voice.button(Tap::Checkout, "btn_checkout"),
                voice.button(Tap::Categories, "btn_keep"),
                voice.button(Tap::Cart, "btn_cart"),
            ],
        ));
        reply.emit(Out::CartAdded(CartItemAdded {
            conversation: conversation.clone(),
            brand: self.brand_id(),
            customer: c.customer.clone().unwrap_or_default(),
            item,
            cart,
        }));
    }

    pub(super) fn show_cart(&self, c: &mut Conversation, language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        match c.cart.as_ref().filter(|cart| !cart.is_empty()) {
            None => {
                let text = voice.say("cart_empty", &[]);
                reply.say(voice.buttons(
                    &text,
                    vec![voice.button(Tap::Categories, "categories_button"), voice.button(Tap::Popular, "btn_popular")],
                ));
            }
            Some(cart) => {
                let text = voice.cart_text(cart);
                let ids = cart.items.iter().map(|i| i.product_id.clone()).collect();
                reply.say(voice.buttons(
                    &text,
                    vec![
                        voice.button(Tap::Checkout, "btn_checkout"),
                        voice.button(Tap::Categories, "btn_keep"),
                        voice.button(Tap::Edit, "btn_edit"),
                    ],
                ));
                c.show(ids, true);
            }
        }
    }

    pub(super) fn change_cart(&self, c: &mut Conversation, r: &Reading, reply: &mut Reply) {
        let voice = self.voice(r.language);
        let Some(cart) = c.cart.as_ref().filter(|cart| !cart.is_empty()) else {
            reply.text(voice.say("cart_empty", &[]));
            return;
        };
        if r.change == Some(CartChange::Empty) {
            c.cart = None;
            reply.text(voice.say("cart_emptied", &[]));
            return;
        }
        let in_cart = |id: &ProductId| cart.items.iter().any(|i| &i.product_id == id);
        let target = self.target(c, r).filter(|id| in_cart(id)).or_else(|| {
            // "remove it" with one line in the cart is that line.
            (cart.items.len() == 1 && r.words.is_empty() && r.position.is_none())
                .then(|| cart.items[0].product_id.clone())
        });
        let Some(id) = target else {
            let list = voice.edit_list(cart);
            reply.text(voice.say("not_in_cart", &[]));
            reply.say(list);
            return;
        };
        let Some(name) = cart.items.iter().find(|i| i.product_id == id).map(|i| i.name.clone()) else {
            return;
        };
        let cart = c.cart.as_mut().expect("checked above");
        match r.change.unwrap_or(CartChange::Remove) {
            CartChange::SetQuantity(quantity) => {
                let stock = c.products.iter().find(|p| p.id == id).map_or(quantity, |p| p.stock.max(1));
                let quantity = quantity.min(stock);
                if cart.set_quantity(&id, quantity) {
                    reply.text(voice.say("quantity_set", &[("quantity", &quantity.to_string()), ("product", &name)]));
                }
            }
            _ => {
                cart.remove(&id);
                reply.text(voice.say("removed", &[("product", &name)]));
            }
        }
        self.show_cart(c, r.language, reply);
    }
}
