//! One seller's turn: an event in, the conversation updated, events out.
//!
//! [`Seller`] is pure logic over a [`Conversation`]: the component loads the
//! conversation from the key-value store, calls one of the `on_*` methods,
//! saves it and sends what came out ([`Out`]). Native tests drive it the
//! same way, without wasm.

use chrono::{DateTime, Utc};

use agent_store_events::{
    BrandId, CartItem, CartItemAdded, ChatIntentDetected, ChatMessageNew, ChatResponse, ConversationId, CustomerRef,
    ESCALATION_SENTIMENT_THRESHOLD, EscalationAccepted, EscalationReason, EscalationReleased, Intent, Money,
    OrderCreate, OrderCreated, OrderRejected, OrderRequestLine, OutboundMessage, ProductId, ProductQuery,
    ProductQueryResult, ProductRecommend, ProductRecommendResult, RecommendationKind, RejectionReason, Responder,
    SalesEscalate, Speaker,
};
use agent_store_text::{Language, same_word, tokens};

use crate::brain::{self, Ask, CartChange, Context, Position, Reading, Tap};
use crate::model::{self, Model};
use crate::persona::Persona;
use crate::render::{Voice, valid};
use crate::state::{Awaiting, Conversation, EscalationNote, OrderNote, Pending, PendingKind, ProductInfo, SearchPlan};
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
    Respond(ChatResponse),
    Intent(ChatIntentDetected),
    Query(ProductQuery),
    Recommend(ProductRecommend),
    CartAdded(CartItemAdded),
    OrderCreate(OrderCreate),
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
    pub persona: &'a Persona,
    pub brand: &'a dyn Brand,
    pub model: &'a mut dyn Model,
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

    /// A customer message.
    pub fn on_message(&mut self, c: &mut Conversation, message: &ChatMessageNew) -> Vec<Out> {
        if !c.first_time(&message.message_id) {
            return Vec::new();
        }
        c.customer = Some(message.customer.clone());
        c.record(Speaker::Customer, &transcript_text(message), self.now);
        let context = Context {
            language: c.language,
            shown: c.shown.len(),
            has_cart: c.has_cart(),
            awaiting_answer: c.awaiting.is_some(),
        };
        let offline = brain::understand(self.persona, &message.content, &message.text, &context);
        let (reading, engine) = self.read_with_model(c, message, offline);
        if !reading.wordless {
            c.language = reading.language;
        }
        let conversation = message.conversation.clone();
        let mut reply = Reply::new();
        reply.emit(Out::Intent(ChatIntentDetected {
            conversation: conversation.clone(),
            brand: self.brand_id(),
            message_id: message.message_id.clone(),
            intent: reading.intent,
            confidence: round2(reading.confidence),
            sentiment: round2(reading.sentiment),
            language: reading.language.tag().into(),
            entities: reading.entities(),
            engine: Some(engine.into()),
        }));
        // A person has the conversation: listen, say nothing.
        if c.is_escalated() {
            return reply.events;
        }
        if let Some(reason) = self.escalation_reason(c, &reading) {
            self.escalate(c, &conversation, reason, reading.sentiment, &mut reply);
            return self.finish(c, &conversation, Some(&message.message_id), reply);
        }
        if reading.answer.is_none() {
            c.awaiting = None;
        }
        // A search guessed from words the seller does not know is judged
        // when the catalog answers: finding nothing then is not understanding.
        let guessed = reading.search.is_some() && reading.confidence < 0.7 && reading.tap.is_none();
        if reading.intent == Intent::Unknown && !reading.wordless {
            c.misunderstood += 1;
        } else if !guessed {
            c.misunderstood = 0;
        }
        self.act(c, &conversation, &reading, &mut reply);
        if reading.greets && reading.intent != Intent::Greeting && !c.greeted {
            let name = name_of(c.customer.as_ref());
            c.hello = Some(self.voice(reading.language).say("hello", &[("name", &name)]));
            c.greeted = true;
        }
        self.finish(c, &conversation, Some(&message.message_id), reply)
    }

    /// Asks the model to read the message, when there is one and the
    /// message is words (a tap needs no reading).
    fn read_with_model(
        &mut self,
        c: &Conversation,
        message: &ChatMessageNew,
        offline: Reading,
    ) -> (Reading, &'static str) {
        if offline.tap.is_some() || offline.wordless || !self.model.available() {
            return (offline, "rules");
        }
        let prompt = model::read_prompt(self.persona, c, &message.text);
        match self.model.infer(&prompt, model::READ_TOKENS) {
            Ok(answer) => match model::read(&answer, &offline, c.shown.len()) {
                Some(reading) => (reading, "model"),
                None => (offline, "rules"),
            },
            Err(_) => (offline, "rules"),
        }
    }

    fn escalation_reason(&self, c: &Conversation, reading: &Reading) -> Option<EscalationReason> {
        if reading.intent == Intent::HumanRequest {
            Some(EscalationReason::CustomerRequest)
        } else if reading.sentiment < ESCALATION_SENTIMENT_THRESHOLD {
            Some(EscalationReason::LowSentiment)
        } else if reading.beyond_scope {
            Some(EscalationReason::ComplexQuery)
        } else if reading.intent == Intent::Unknown && !reading.wordless && c.misunderstood + 1 >= MISUNDERSTANDINGS {
            Some(EscalationReason::RepeatedMisunderstanding)
        } else {
            None
        }
    }

    fn act(&mut self, c: &mut Conversation, conversation: &ConversationId, r: &Reading, reply: &mut Reply) {
        let voice = self.voice(r.language);
        if let Some(tap) = &r.tap {
            return self.act_on_tap(c, conversation, tap, r, reply);
        }
        if let Some(yes) = r.answer
            && let Some(awaiting) = c.awaiting.take()
        {
            return self.answer(c, conversation, awaiting, yes, r.language, reply);
        }
        match r.intent {
            Intent::Greeting => {
                let name = name_of(c.customer.as_ref());
                c.greeted = true;
                reply.polish = true;
                match c.cart.as_ref().filter(|cart| !cart.is_empty()) {
                    Some(cart) => {
                        let text =
                            voice.say("greeting_back", &[("name", &name), ("total", &cart.subtotal.to_string())]);
                        reply.say(voice.buttons(
                            &text,
                            vec![
                                voice.button(Tap::Checkout, "btn_checkout"),
                                voice.button(Tap::Cart, "btn_cart"),
                                voice.button(Tap::Categories, "btn_keep"),
                            ],
                        ));
                    }
                    None => {
                        let text = voice.say("greeting", &[("name", &name)]);
                        reply.say(voice.categories(&text));
                    }
                }
            }
            Intent::Browse => match &r.search {
                Some(plan) => self.search(c, conversation, plan, r, false, reply),
                None => {
                    let text = voice.say("browse_prompt", &[("example", self.persona.example(r.language))]);
                    reply.say(voice.categories(&text));
                }
            },
            Intent::Recommendation => match (&r.search, r.position, c.focus.clone()) {
                (Some(plan), _, _) => self.search(c, conversation, plan, r, true, reply),
                (None, Some(_), _) | (None, None, Some(_)) if r.focus || r.position.is_some() => {
                    let around = self.target(c, r);
                    self.recommend(c, conversation, around, reply);
                }
                _ => self.recommend(c, conversation, None, reply),
            },
            Intent::ProductQuestion => match self.target(c, r) {
                Some(id) => self.answer_about(c, &id, &r.asks, r.language, reply),
                None => match &r.search {
                    Some(plan) => self.search(c, conversation, plan, r, false, reply),
                    None => self.which_product(c, r.language, reply),
                },
            },
            Intent::AddToCart => match self.target(c, r) {
                Some(id) => self.add(c, conversation, &id, r.quantity.unwrap_or(1), r.language, reply),
                None => match &r.search {
                    Some(plan) => self.search(c, conversation, plan, r, false, reply),
                    None => self.which_product(c, r.language, reply),
                },
            },
            Intent::ViewCart => self.show_cart(c, r.language, reply),
            Intent::ChangeCart => self.change_cart(c, r, reply),
            Intent::Checkout => self.checkout(c, r.language, reply),
            Intent::OrderStatus => self.order_status(c, r.language, reply),
            Intent::Complaint => {
                reply.polish = true;
                let text = voice.say("complaint", &[]);
                reply.say(
                    voice.buttons(
                        &text,
                        vec![voice.button(Tap::Human, "btn_human"), voice.button(Tap::Cart, "btn_cart")],
                    ),
                );
            }
            Intent::Thanks | Intent::Goodbye => {
                reply.polish = true;
                let name = name_of(c.customer.as_ref());
                let (plain, with_cart) = match r.intent {
                    Intent::Goodbye => ("goodbye", "goodbye_cart"),
                    _ if r.confidence < 0.6 => ("acknowledge", "acknowledge"),
                    _ => ("thanks", "thanks_cart"),
                };
                match c.cart.as_ref().filter(|cart| !cart.is_empty()) {
                    Some(cart) => {
                        let text = voice.say(with_cart, &[("name", &name), ("total", &cart.subtotal.to_string())]);
                        reply.say(voice.buttons(
                            &text,
                            vec![voice.button(Tap::Checkout, "btn_checkout"), voice.button(Tap::Cart, "btn_cart")],
                        ));
                    }
                    None => reply.text(voice.say(plain, &[("name", &name)])),
                }
            }
            Intent::HumanRequest | Intent::Unknown => {
                let key = if r.wordless { "media" } else { "unknown" };
                let text = voice.say(key, &[("example", self.persona.example(r.language))]);
                reply.say(voice.buttons(
                    &text,
                    vec![
                        voice.button(Tap::Categories, "categories_button"),
                        voice.button(Tap::Cart, "btn_cart"),
                        voice.button(Tap::Human, "btn_human"),
                    ],
                ));
            }
        }
    }

    fn act_on_tap(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        tap: &Tap,
        r: &Reading,
        reply: &mut Reply,
    ) {
        let language = r.language;
        let voice = self.voice(language);
        match tap {
            Tap::Product(id) => self.answer_about(c, &ProductId::new(id), &[], language, reply),
            Tap::Add(id) => self.add(c, conversation, &ProductId::new(id), 1, language, reply),
            Tap::Similar(id) => self.recommend(c, conversation, Some(ProductId::new(id)), reply),
            Tap::Popular => self.recommend(c, conversation, None, reply),
            Tap::Remove(id) => {
                let reading =
                    Reading { change: Some(CartChange::Remove), tap: Some(Tap::Remove(id.clone())), ..r.clone() };
                self.change_cart(c, &reading, reply);
            }
            Tap::Browse(category) => {
                let plan = SearchPlan { category: Some(category.clone()), ..SearchPlan::default() };
                self.search(c, conversation, &plan, r, false, reply);
            }
            Tap::Categories => {
                let text = voice.say("browse_prompt", &[("example", self.persona.example(language))]);
                reply.say(voice.categories(&text));
            }
            Tap::Cart => self.show_cart(c, language, reply),
            Tap::Edit => match c.cart.as_ref().filter(|cart| !cart.is_empty()) {
                Some(cart) => reply.say(voice.edit_list(cart)),
                None => reply.text(voice.say("cart_empty", &[])),
            },
            Tap::Checkout => self.checkout(c, language, reply),
            Tap::Yes | Tap::No => match c.awaiting.take() {
                Some(awaiting) => self.answer(c, conversation, awaiting, matches!(tap, Tap::Yes), language, reply),
                None if matches!(tap, Tap::Yes) => self.checkout(c, language, reply),
                None => reply.text(voice.say("checkout_cancelled", &[])),
            },
            // Escalation happened before acting.
            Tap::Human => {}
        }
    }

    /// The product a message points at: a tapped one, "the second one", a
    /// name, "it", or the only one shown.
    fn target(&self, c: &Conversation, r: &Reading) -> Option<ProductId> {
        if let Some(Tap::Product(id) | Tap::Add(id) | Tap::Similar(id) | Tap::Remove(id)) = &r.tap {
            return Some(ProductId::new(id));
        }
        if let Some(position) = r.position {
            let index = match position {
                Position::Nth(n) => (n as usize).checked_sub(1)?,
                Position::Last => c.shown.len().checked_sub(1)?,
            };
            return c.shown.get(index).cloned();
        }
        if r.focus
            && let Some(focus) = &c.focus
        {
            return Some(focus.clone());
        }
        if !r.words.is_empty() {
            return self.by_name(c, &r.words);
        }
        if let Some(focus) = &c.focus {
            return Some(focus.clone());
        }
        if c.shown.len() == 1 {
            return c.shown.first().cloned();
        }
        None
    }

    /// The remembered product (cart lines first) whose name, category or
    /// tags the words name best.
    fn by_name(&self, c: &Conversation, words: &[String]) -> Option<ProductId> {
        let in_cart =
            |id: &ProductId| c.cart.as_ref().is_some_and(|cart| cart.items.iter().any(|i| &i.product_id == id));
        let mut best: Option<(usize, bool, ProductId)> = None;
        let mut candidates: Vec<(ProductId, Vec<String>, Vec<String>)> = c
            .products
            .iter()
            .map(|p| {
                let mut loose = tokens(&p.category);
                loose.extend(p.tags.iter().flat_map(|t| tokens(t)));
                if let Some(category) = self.persona.category(&p.category) {
                    loose.extend(category.words.iter().flat_map(|w| tokens(w)));
                }
                (p.id.clone(), tokens(&p.name), loose)
            })
            .collect();
        // Cart lines the catalog's answer no longer covers still have names.
        if let Some(cart) = &c.cart {
            for item in &cart.items {
                if !candidates.iter().any(|(id, _, _)| id == &item.product_id) {
                    candidates.push((item.product_id.clone(), tokens(&item.name), Vec::new()));
                }
            }
        }
        for (id, name, loose) in candidates {
            let score: usize = words
                .iter()
                .map(|w| {
                    if name.iter().any(|n| same_word(n, w)) {
                        2
                    } else if loose.iter().any(|n| same_word(n, w)) {
                        1
                    } else {
                        0
                    }
                })
                .sum();
            // Every word must say something about the product.
            let all = words.iter().all(|w| name.iter().chain(&loose).any(|n| same_word(n, w)));
            if score == 0 || !all {
                continue;
            }
            let better = match &best {
                None => true,
                Some((s, cart, _)) => score > *s || (score == *s && in_cart(&id) && !cart),
            };
            if better {
                best = Some((score, in_cart(&id), id));
            }
        }
        best.map(|(_, _, id)| id)
    }

    fn which_product(&self, c: &Conversation, language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        if c.shown.is_empty() && c.products.is_empty() {
            let text = voice.say("nothing_shown", &[("example", self.persona.example(language))]);
            reply.say(voice.categories(&text));
        } else {
            reply.text(voice.say("which_product", &[]));
        }
    }

    /// Asks the catalog, and remembers what to do with the answer.
    fn search(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        plan: &SearchPlan,
        r: &Reading,
        recommended: bool,
        reply: &mut Reply,
    ) {
        let label = plan
            .text
            .clone()
            .or_else(|| plan.category.as_ref().map(|id| self.category_name(id, r.language)))
            .unwrap_or_default();
        let then_add = (r.intent == Intent::AddToCart).then(|| r.quantity.unwrap_or(1));
        let asks = r.asks.iter().map(ask_name).collect();
        let kind = PendingKind::Search {
            label,
            fallback: r.fallback.clone(),
            then_add,
            asks,
            recommended,
            guessed: r.confidence < 0.7 && r.tap.is_none(),
        };
        c.last_query = plan.text.clone();
        self.query(c, conversation, plan, kind, reply);
    }

    fn query(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        plan: &SearchPlan,
        kind: PendingKind,
        reply: &mut Reply,
    ) {
        let request_id = c.next_id("q", conversation.as_str());
        c.expect(Pending { request_id: request_id.clone(), at: self.now, kind });
        reply.emit(Out::Query(ProductQuery {
            request_id,
            brand: Some(self.brand_id()),
            text: plan.text.clone(),
            category: plan.category.clone(),
            min_price_minor: plan.min_price_minor,
            max_price_minor: plan.max_price_minor,
            in_stock_only: false,
            limit: Some(self.persona.results),
            conversation: Some(conversation.clone()),
        }));
    }

    fn recommend(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        around: Option<ProductId>,
        reply: &mut Reply,
    ) {
        let request_id = c.next_id("r", conversation.as_str());
        let cart: Vec<ProductId> =
            c.cart.iter().flat_map(|cart| cart.items.iter().map(|i| i.product_id.clone())).collect();
        let kinds = match &around {
            Some(_) => vec![RecommendationKind::Related, RecommendationKind::Complementary],
            None if !cart.is_empty() => vec![RecommendationKind::Complementary, RecommendationKind::Popular],
            None => vec![RecommendationKind::Popular],
        };
        c.expect(Pending {
            request_id: request_id.clone(),
            at: self.now,
            kind: PendingKind::Recommend { around: around.clone() },
        });
        reply.emit(Out::Recommend(ProductRecommend {
            request_id,
            brand: self.brand_id(),
            conversation: Some(conversation.clone()),
            product_id: around,
            cart,
            kinds,
            limit: Some(self.persona.results),
        }));
    }

    /// A product's price, stock and the details asked about, with its card.
    fn answer_about(&self, c: &mut Conversation, id: &ProductId, asks: &[Ask], language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        let Some(product) = c.product(id).cloned() else {
            return self.which_product(c, language, reply);
        };
        let (price, was) = voice.price(&product);
        let mut lead = voice.say(
            "price_answer",
            &[("product", &product.name), ("price", &price), ("was", &was), ("stock", &voice.stock(product.stock))],
        );
        if let Some(promotion) = &product.promotion {
            lead.push_str(&format!(" 🏷️ {promotion}."));
        }
        for ask in asks {
            if let Ask::Detail(keys) = ask {
                let keys: Vec<String> = if keys.is_empty() {
                    product.attributes.iter().map(|(k, _)| k.clone()).collect()
                } else {
                    keys.clone()
                };
                let details = voice.highlights(&product, &keys);
                lead.push('\n');
                if details.is_empty() {
                    lead.push_str(&voice.say("detail_missing", &[("product", &product.name)]));
                } else {
                    lead.push_str(&details);
                }
            }
        }
        c.focus = Some(product.id.clone());
        for message in voice.product_card(&lead, &product) {
            reply.say(message);
        }
    }

    fn add(
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

    fn show_cart(&self, c: &mut Conversation, language: Language, reply: &mut Reply) {
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

    fn change_cart(&self, c: &mut Conversation, r: &Reading, reply: &mut Reply) {
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

    fn checkout(&self, c: &mut Conversation, language: Language, reply: &mut Reply) {
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
    fn answer(
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

    fn place_order(
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
            .map(|i| OrderRequestLine { product_id: i.product_id.clone(), quantity: i.quantity })
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

    fn order_status(&self, c: &Conversation, language: Language, reply: &mut Reply) {
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

    /// Hands the conversation to a person and tells the customer.
    fn escalate(
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
    fn summary(&self, c: &Conversation, reason: EscalationReason, sentiment: f32) -> String {
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

    /// The catalog's answer to a search.
    pub fn on_query_result(&mut self, c: &mut Conversation, result: &ProductQueryResult) -> Vec<Out> {
        let Some(pending) = c.take_pending(&result.request_id, self.now) else {
            return Vec::new();
        };
        let products: Vec<ProductInfo> = result.products.iter().map(ProductInfo::from).collect();
        c.remember(&products);
        if c.is_escalated() {
            return Vec::new();
        }
        let conversation = result.conversation.clone().unwrap_or_default();
        let language = c.language;
        let voice = self.voice(language);
        let mut reply = Reply::new();
        let PendingKind::Search { label, fallback, then_add, asks, recommended, guessed } = pending.kind else {
            self.show_products(c, &voice.say("recommend_intro", &[]), &products, 0, &mut reply);
            return self.finish(c, &conversation, None, reply);
        };
        if products.is_empty() {
            if let Some(plan) = fallback {
                let kind = PendingKind::Search { label, fallback: None, then_add: None, asks, recommended, guessed };
                self.query(c, &conversation, &plan, kind, &mut reply);
                return reply.events;
            }
            if recommended {
                // Nothing fits the words: the best sellers are still a
                // recommendation.
                self.recommend(c, &conversation, None, &mut reply);
                return reply.events;
            }
            if guessed {
                c.misunderstood += 1;
                if c.misunderstood >= MISUNDERSTANDINGS {
                    self.escalate(c, &conversation, EscalationReason::RepeatedMisunderstanding, 0.5, &mut reply);
                    return self.finish(c, &conversation, None, reply);
                }
            }
            let text = voice.say("no_results", &[("query", &label)]);
            reply.say(voice.categories(&text));
            return self.finish(c, &conversation, None, reply);
        }
        if guessed {
            c.misunderstood = 0;
        }
        let more = result.total.saturating_sub(products.len() as u32);
        match (then_add, products.as_slice()) {
            (Some(quantity), [only]) => self.add(c, &conversation, &only.id, quantity, language, &mut reply),
            (_, [only]) if !asks.is_empty() => {
                let asks: Vec<Ask> = asks.iter().filter_map(|a| ask_from_name(a)).collect();
                self.answer_about(c, &only.id, &asks, language, &mut reply);
            }
            _ => {
                let intro = if recommended || label.is_empty() {
                    voice.say("recommend_intro", &[])
                } else if self.persona.category_by_label(&label).is_some() {
                    voice.say("category_intro", &[("category", &label)])
                } else {
                    voice.say("search_intro", &[("query", &label)])
                };
                self.show_products(c, &intro, &products, more, &mut reply);
            }
        }
        self.finish(c, &conversation, None, reply)
    }

    /// The catalog's recommendations.
    pub fn on_recommend_result(&mut self, c: &mut Conversation, result: &ProductRecommendResult) -> Vec<Out> {
        let Some(pending) = c.take_pending(&result.request_id, self.now) else {
            return Vec::new();
        };
        let products: Vec<ProductInfo> = result.recommendations.iter().map(|r| ProductInfo::from(&r.product)).collect();
        c.remember(&products);
        if c.is_escalated() {
            return Vec::new();
        }
        let conversation = result.conversation.clone().unwrap_or_default();
        let voice = self.voice(c.language);
        let mut reply = Reply::new();
        if products.is_empty() {
            let text = voice.say("no_recommendations", &[]);
            reply.say(voice.categories(&text));
        } else {
            let key = match pending.kind {
                PendingKind::Recommend { around: Some(_) } => "similar_intro",
                _ => "recommend_intro",
            };
            let intro = voice.say(key, &[]);
            self.show_products(c, &intro, &products, 0, &mut reply);
        }
        self.finish(c, &conversation, None, reply)
    }

    fn show_products(&self, c: &mut Conversation, intro: &str, products: &[ProductInfo], more: u32, reply: &mut Reply) {
        let voice = self.voice(c.language);
        if let [only] = products {
            c.focus = Some(only.id.clone());
            c.show(vec![only.id.clone()], false);
            let (price, was) = voice.price(only);
            let lead = format!(
                "{intro}\n{}",
                voice.say(
                    "price_answer",
                    &[("product", &only.name), ("price", &price), ("was", &was), ("stock", &voice.stock(only.stock))]
                )
            );
            for message in voice.product_card(&lead, only) {
                reply.say(message);
            }
            return;
        }
        let shown = &products[..products.len().min(agent_store_events::limits::LIST_ROWS)];
        c.focus = None;
        c.show(shown.iter().map(|p| p.id.clone()).collect(), false);
        reply.say(voice.product_list(intro, shown, more));
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
        let text = self
            .voice(c.language)
            .say("order_created", &[("order", order.id.as_str()), ("total", &order.total.to_string())]);
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

impl Persona {
    /// The category whose name in some language is `label`.
    fn category_by_label(&self, label: &str) -> Option<&str> {
        self.categories.iter().find(|c| c.names.values().any(|n| n == label)).map(|c| c.id.as_str())
    }
}

/// What a message says, for the transcript.
fn transcript_text(message: &ChatMessageNew) -> String {
    if !message.text.trim().is_empty() {
        return message.text.clone();
    }
    format!("[{}]", message.content.kind())
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

fn ask_name(ask: &Ask) -> String {
    match ask {
        Ask::Price => "price".into(),
        Ask::Stock => "stock".into(),
        Ask::Detail(keys) => format!("detail:{}", keys.join(",")),
    }
}

fn ask_from_name(name: &str) -> Option<Ask> {
    match name {
        "price" => Some(Ask::Price),
        "stock" => Some(Ask::Stock),
        _ => name
            .strip_prefix("detail:")
            .map(|keys| Ask::Detail(keys.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect())),
    }
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}
