//! The turn: a customer message read (by the offline brain or the model), the
//! intent detected, then acted on.

use agent_store_events::{
    ChatIntentDetected, ChatMessageNew, ConversationId, ESCALATION_SENTIMENT_THRESHOLD, EscalationReason, Intent,
    ProductId, Speaker,
};
use agent_store_text::{Language, same_word, tokens};

use super::{MISUNDERSTANDINGS, name_of, round2};
use super::{Out, Reply, Seller};
use crate::brain::{self, CartChange, Context, Position, Reading, Tap};
use crate::model;
use crate::state::{Conversation, SearchPlan};

impl Seller<'_> {
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
        let (mut reading, engine) = self.read_with_model(c, message, offline);
        // Asked which size, "39" is the size, not 39 of them.
        if let Some(choosing) = &c.choosing
            && let Some(value) = self.variant_named(c, &choosing.product, &reading)
            && reading.quantity.is_some_and(|q| tokens(&value).contains(&q.to_string()))
        {
            reading.number_is_the_variant();
        }
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
        // A person has the conversation, or is coming: listen, say nothing
        // here. While one is coming the sales assistant, which holds the
        // queue, answers with the customer's place in it (`on_waiting`).
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

    /// Does what the reading asks: a tap or an answer to the seller's question
    /// first, else by intent.
    fn act(&mut self, c: &mut Conversation, conversation: &ConversationId, r: &Reading, reply: &mut Reply) {
        // A size, colour or shade asked for: the answer, tapped or written,
        // puts the product in the cart; anything else moves on.
        let choosing = c.choosing.take();
        if let Some(Tap::Variant(id, value)) = &r.tap {
            let quantity = choosing.filter(|ch| ch.product.as_str() == id).map_or(1, |ch| ch.quantity);
            return self.add(c, conversation, &ProductId::new(id), quantity, Some(value.clone()), r.language, reply);
        }
        if let Some(choosing) = choosing
            && r.tap.is_none()
            && !matches!(
                r.intent,
                Intent::Checkout | Intent::ViewCart | Intent::ChangeCart | Intent::OrderStatus | Intent::Complaint
            )
            && let Some(value) = self.variant_named(c, &choosing.product, r)
        {
            let quantity = r.quantity.unwrap_or(choosing.quantity);
            return self.add(c, conversation, &choosing.product, quantity, Some(value), r.language, reply);
        }
        if let Some(tap) = &r.tap {
            return self.act_on_tap(c, conversation, tap, r, reply);
        }
        if let Some(yes) = r.answer
            && let Some(awaiting) = c.awaiting.take()
        {
            return self.answer(c, conversation, awaiting, yes, r.language, reply);
        }
        match r.intent {
            Intent::Greeting => self.greet(c, r, reply),
            Intent::Browse => match &r.search {
                Some(plan) => self.search(c, conversation, plan, r, false, reply),
                None => {
                    let voice = self.voice(r.language);
                    let text = voice.say("browse_prompt", &[("example", self.persona.example(r.language))]);
                    reply.say(voice.categories(&text));
                }
            },
            Intent::Recommendation => self.recommend_for(c, conversation, r, reply),
            Intent::ProductQuestion => match self.target(c, r) {
                Some(id) => {
                    self.answer_about(c, &id, &r.asks, r.language, reply);
                    if let Some(value) = self.variant_named(c, &id, r) {
                        self.variant_stock(c, &id, &value, r.language, reply);
                    }
                }
                None => self.search_or_ask(c, conversation, r, reply),
            },
            Intent::AddToCart => match self.target(c, r) {
                Some(id) => {
                    let variant = self.variant_named(c, &id, r);
                    self.add(c, conversation, &id, r.quantity.unwrap_or(1), variant, r.language, reply)
                }
                None => self.search_or_ask(c, conversation, r, reply),
            },
            Intent::ViewCart => self.show_cart(c, r.language, reply),
            Intent::ChangeCart => self.change_cart(c, r, reply),
            Intent::Checkout => self.checkout(c, r.language, reply),
            Intent::OrderStatus => self.order_status(c, r.language, reply),
            Intent::Complaint => self.hear_complaint(r, reply),
            Intent::Thanks | Intent::Goodbye => self.thank_or_part(c, r, reply),
            Intent::HumanRequest | Intent::Unknown => self.not_understood(r, reply),
        }
    }

    /// A hello back, with the cart's total when there is one.
    fn greet(&self, c: &mut Conversation, r: &Reading, reply: &mut Reply) {
        let voice = self.voice(r.language);
        let name = name_of(c.customer.as_ref());
        c.greeted = true;
        reply.polish = true;
        match c.cart.as_ref().filter(|cart| !cart.is_empty()) {
            Some(cart) => {
                let text = voice.say("greeting_back", &[("name", &name), ("total", &cart.subtotal.to_string())]);
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

    /// Recommendations: for the words asked, around the product pointed at, or
    /// the best sellers.
    fn recommend_for(&mut self, c: &mut Conversation, conversation: &ConversationId, r: &Reading, reply: &mut Reply) {
        if let Some(need) = &r.need {
            // A budget said with the need ("under 30 dollars") bounds the advice.
            let budget = r.search.as_ref().map_or((None, None), |s| (s.min_price_minor, s.max_price_minor));
            return self.recommend_for_need(c, conversation, need, budget, reply);
        }
        match (&r.search, r.position, c.focus.clone()) {
            (Some(plan), _, _) => self.search(c, conversation, plan, r, true, reply),
            (None, Some(_), _) | (None, None, Some(_)) if r.focus || r.position.is_some() => {
                let around = self.target(c, r);
                self.recommend(c, conversation, around, reply);
            }
            _ => self.recommend(c, conversation, None, reply),
        }
    }

    /// No product pointed at: search for the words, or ask which one.
    fn search_or_ask(&mut self, c: &mut Conversation, conversation: &ConversationId, r: &Reading, reply: &mut Reply) {
        match &r.search {
            Some(plan) => self.search(c, conversation, plan, r, false, reply),
            None => self.which_product(c, r.language, reply),
        }
    }

    fn hear_complaint(&self, r: &Reading, reply: &mut Reply) {
        let voice = self.voice(r.language);
        reply.polish = true;
        let text = voice.say("complaint", &[]);
        reply.say(
            voice.buttons(&text, vec![voice.button(Tap::Human, "btn_human"), voice.button(Tap::Cart, "btn_cart")]),
        );
    }

    /// Thanks or goodbye, with a way to the checkout when the cart is not empty.
    fn thank_or_part(&self, c: &Conversation, r: &Reading, reply: &mut Reply) {
        let voice = self.voice(r.language);
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

    /// What the seller can do, for a message it could not read; for a photo
    /// or a voice note, that a person can see or hear it.
    fn not_understood(&self, r: &Reading, reply: &mut Reply) {
        let voice = self.voice(r.language);
        if r.wordless {
            let text = voice.say("media", &[]);
            reply.say(voice.buttons(
                &text,
                vec![voice.button(Tap::Human, "btn_human"), voice.button(Tap::Categories, "categories_button")],
            ));
            return;
        }
        let text = voice.say("unknown", &[("example", self.persona.example(r.language))]);
        reply.say(voice.buttons(
            &text,
            vec![
                voice.button(Tap::Categories, "categories_button"),
                voice.button(Tap::Cart, "btn_cart"),
                voice.button(Tap::Human, "btn_human"),
            ],
        ));
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
            Tap::Add(id) => self.add(c, conversation, &ProductId::new(id), 1, None, language, reply),
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
            // Escalation happened before acting; a variant was chosen above.
            Tap::Human | Tap::Variant(..) => {}
        }
    }

    /// The product a message points at: a tapped one, "the second one", a
    /// name, "it", or the only one shown.
    pub(super) fn target(&self, c: &Conversation, r: &Reading) -> Option<ProductId> {
        if let Some(Tap::Product(id) | Tap::Add(id) | Tap::Similar(id) | Tap::Remove(id) | Tap::Variant(id, _)) = &r.tap
        {
            return Some(ProductId::new(id));
        }
        if let Some(spec) = &r.spec
            && let Some(id) = by_spec(c, spec)
        {
            return Some(id);
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
                (p.id.clone(), p.name_words(), loose)
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

    pub(super) fn which_product(&self, c: &Conversation, language: Language, reply: &mut Reply) {
        let voice = self.voice(language);
        if c.shown.is_empty() && c.products.is_empty() {
            let text = voice.say("nothing_shown", &[("example", self.persona.example(language))]);
            reply.say(voice.categories(&text));
        } else {
            reply.text(voice.say("which_product", &[]));
        }
    }
}

/// The product shown (else seen) whose name or variants carry a capacity:
/// "the 256 GB one".
fn by_spec(c: &Conversation, spec: &str) -> Option<ProductId> {
    let spec = tokens(spec);
    let carries = |text: &str| tokens(text).windows(spec.len()).any(|w| w == spec.as_slice());
    let fits = |p: &crate::state::ProductInfo| {
        carries(&p.name) || p.variants.as_ref().is_some_and(|v| v.options.iter().any(|o| carries(&o.value)))
    };
    let shown = c.shown.iter().filter_map(|id| c.product(id));
    let mut found: Vec<&ProductId> = shown.filter(|p| fits(p)).map(|p| &p.id).collect();
    if found.is_empty() {
        found = c.products.iter().filter(|p| fits(p)).map(|p| &p.id).collect();
    }
    match found.as_slice() {
        [only] => Some((*only).clone()),
        _ => None,
    }
}

/// What a message says, for the transcript.
fn transcript_text(message: &ChatMessageNew) -> String {
    if let Some(note) = message.content.media_note() {
        return note;
    }
    if !message.text.trim().is_empty() {
        return message.text.clone();
    }
    format!("[{}]", message.content.kind())
}
