//! The cart: adding what the customer picked, showing it, changing it.

use agent_store_events::{CartItem, CartItemAdded, ConversationId, ProductId};
use agent_store_text::Language;

use super::{Out, Reply, Seller};
use crate::brain::{CartChange, Reading, Tap};
use crate::state::{Awaiting, Choosing, Conversation};

impl Seller<'_> {
    #[expect(clippy::too_many_arguments, reason = "one add, all of it said by the customer")]
    pub(super) fn add(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        id: &ProductId,
        quantity: u32,
        variant: Option<String>,
        language: Language,
        reply: &mut Reply,
    ) {
        let voice = self.voice(language);
        let Some(product) = c.product(id).cloned() else {
            return self.which_product(c, language, reply);
        };
        c.focus = Some(product.id.clone());
        // A product sold in sizes, colours or shades goes in the cart as one of
        // them: the one named now, else one named while searching for it.
        let variant = variant.or_else(|| crate::variants::named(product.variants.as_ref()?, &c.wanted));
        let (variant, stock) = match &product.variants {
            None => (None, product.stock),
            Some(variants) => match variant.as_deref().and_then(|v| variants.option(v)) {
                Some(option) => (Some(option.value.clone()), option.stock),
                None if variants.options.len() == 1 => {
                    (Some(variants.options[0].value.clone()), variants.options[0].stock)
                }
                None => {
                    if product.stock == 0 {
                        return self.sold_out(c, &product.name, &product.id, language, reply);
                    }
                    c.choosing = Some(Choosing { product: product.id.clone(), quantity });
                    return reply.say(voice.variant_choice(&product, variant.as_deref()));
                }
            },
        };
        let label = voice.variant_label(&product, variant.as_deref());
        let already = c
            .cart
            .as_ref()
            .and_then(|cart| cart.items.iter().find(|i| &i.product_id == id && i.variant == variant))
            .map_or(0, |i| i.quantity);
        let available = stock.saturating_sub(already);
        if available == 0 {
            if product.stock > 0 && variant.is_some() {
                // Another size or colour is still there.
                c.choosing = Some(Choosing { product: product.id.clone(), quantity });
                reply.text(voice.say("variant_sold_out", &[("product", &label)]));
                return reply.say(voice.variant_choice(&product, None));
            }
            return self.sold_out(c, &label, &product.id, language, reply);
        }
        let requested = quantity;
        let quantity = quantity.min(available);
        let item = CartItem {
            product_id: product.id.clone(),
            name: product.name.clone(),
            quantity,
            unit_price: product.effective_price_of(variant.as_deref()).clone(),
            variant,
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
            voice.say(key, &[("quantity", &n), ("available", &n), ("product", &label), ("subtotal", &subtotal)]);
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

    fn sold_out(&self, c: &mut Conversation, name: &str, id: &ProductId, language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        c.awaiting = Some(Awaiting::Similar { product: id.clone() });
        let text = voice.say("sold_out", &[("product", name)]);
        reply.say(
            voice.buttons(&text, vec![voice.button(Tap::Yes, "btn_similar"), voice.button(Tap::Cart, "btn_cart")]),
        );
    }

    /// The variant of product `id` the message names, if it has variants.
    pub(super) fn variant_named(&self, c: &Conversation, id: &ProductId, r: &Reading) -> Option<String> {
        let variants = c.product(id)?.variants.as_ref()?;
        crate::variants::named(variants, &r.said).or_else(|| {
            let spec = r.spec.as_deref()?;
            variants
                .options
                .iter()
                .find(|o| agent_store_text::tokens(&o.value).join(" ") == spec)
                .map(|o| o.value.clone())
        })
    }

    /// "In M: only 3 left", after a question about a product in a variant.
    pub(super) fn variant_stock(
        &self,
        c: &Conversation,
        id: &ProductId,
        value: &str,
        language: Language,
        reply: &mut Reply,
    ) {
        let Some(product) = c.product(id) else { return };
        let Some(option) = product.variants.as_ref().and_then(|v| v.option(value)) else { return };
        let voice = self.voice(language);
        let label = voice.variant_label(product, Some(&option.value));
        reply.text(format!("{label}: {}.", voice.stock(option.stock)));
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
        // A tapped line of a product in several variants: `<product>#<variant>`.
        if let Some(Tap::Remove(line)) = &r.tap
            && let Some((id, variant)) = line.split_once('#')
        {
            let kept: Vec<_> = cart
                .items
                .iter()
                .filter(|i| !(i.product_id.as_str() == id && i.variant.as_deref() == Some(variant)))
                .cloned()
                .collect();
            let removed =
                cart.items.iter().find(|i| i.product_id.as_str() == id && i.variant.as_deref() == Some(variant));
            if let Some(removed) = removed {
                let name = format!("{} ({variant})", removed.name);
                if let Some(new) = agent_store_events::Cart::from_items(kept, cart.subtotal.currency.clone()) {
                    c.cart = Some(new);
                    reply.text(voice.say("removed", &[("product", &name)]));
                }
                return self.show_cart(c, r.language, reply);
            }
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
        // The product in several sizes (colours, shades): the line the
        // message names, or the question which one, never the first.
        let lines: Vec<&CartItem> = cart.items.iter().filter(|i| i.product_id == id).collect();
        if lines.len() > 1 {
            let named = self.variant_named(c, &id, r);
            let Some(line) = line_named(&lines, named.as_deref(), &r.said) else {
                let variants: Vec<&str> = lines.iter().filter_map(|l| l.variant.as_deref()).collect();
                let question = voice.say("which_line", &[("product", &name), ("variants", &variants.join(", "))]);
                reply.text(question);
                if !matches!(r.change, Some(CartChange::SetQuantity(_))) {
                    let these = lines.into_iter().cloned().collect();
                    if let Some(these) = agent_store_events::Cart::from_items(these, cart.subtotal.currency.clone()) {
                        reply.say(voice.edit_list(&these));
                    }
                }
                return;
            };
            let variant = line.variant.clone();
            let label = format!("{name} ({})", variant.as_deref().unwrap_or_default());
            let mut items = cart.items.clone();
            let at = items.iter().position(|i| i.product_id == id && i.variant == variant).expect("a line of the cart");
            let said = match r.change.unwrap_or(CartChange::Remove) {
                CartChange::SetQuantity(quantity) if quantity > 0 => {
                    let stock = c.products.iter().find(|p| p.id == id).map_or(quantity, |p| p.stock.max(1));
                    let quantity = quantity.min(stock);
                    items[at].quantity = quantity;
                    voice.say("quantity_set", &[("quantity", &quantity.to_string()), ("product", &label)])
                }
                _ => {
                    items.remove(at);
                    voice.say("removed", &[("product", &label)])
                }
            };
            if let Some(new) = agent_store_events::Cart::from_items(items, cart.subtotal.currency.clone()) {
                c.cart = Some(new);
                reply.text(said);
            }
            return self.show_cart(c, r.language, reply);
        }
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

/// The line of `lines` (one product in several variants) that the message
/// names: the variant read from it, or one whose words it says ("the M",
/// "the black one").
fn line_named<'a>(lines: &[&'a CartItem], named: Option<&str>, said: &[String]) -> Option<&'a CartItem> {
    if let Some(named) = named {
        return lines.iter().find(|l| l.variant.as_deref() == Some(named)).copied();
    }
    lines
        .iter()
        .find(|l| {
            let words = agent_store_text::tokens(l.variant.as_deref().unwrap_or_default());
            !words.is_empty() && said.windows(words.len()).any(|w| w == words.as_slice())
        })
        .copied()
}
