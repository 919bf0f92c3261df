//! Searches and recommendations: the requests to the catalog, and what the
//! customer is shown when it answers.

use agent_store_events::{
    ConversationId, EscalationReason, Intent, ProductId, ProductQuery, ProductQueryResult, ProductRecommend,
    ProductRecommendResult, RecommendationKind, Speaker,
};
use agent_store_text::Language;

use super::MISUNDERSTANDINGS;
use super::{Out, Reply, Seller};
use crate::answers::Verdict;
use crate::brain::{Ask, Reading, Tap};
use crate::grounded::{self, Facts, Grounded};
use crate::persona::Persona;
use crate::render::Voice;
use crate::state::{Conversation, Pending, PendingKind, ProductInfo, SearchPlan};

impl Seller<'_> {
    /// Asks the catalog, and remembers what to do with the answer.
    pub(super) fn search(
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
            said: if then_add.is_some() || !r.asks.is_empty() { r.said.clone() } else { Vec::new() },
        };
        c.last_query = plan.text.clone();
        c.wanted = r.said.clone();
        self.query(c, conversation, plan, kind, reply);
    }

    pub(super) fn query(
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
            partial: plan.partial,
            limit: Some(self.persona.results),
            conversation: Some(conversation.clone()),
        }));
    }

    pub(super) fn recommend(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        around: Option<ProductId>,
        reply: &mut Reply,
    ) {
        self.ask_recommender(c, conversation, around, None, (None, None), reply);
    }

    /// Advice for a need the customer stated: what fits it, then bestsellers.
    pub(super) fn recommend_for_need(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        need: &str,
        budget: (Option<i64>, Option<i64>),
        reply: &mut Reply,
    ) {
        self.ask_recommender(c, conversation, None, Some(need.to_owned()), budget, reply);
    }

    fn ask_recommender(
        &mut self,
        c: &mut Conversation,
        conversation: &ConversationId,
        around: Option<ProductId>,
        need: Option<String>,
        (min_price_minor, max_price_minor): (Option<i64>, Option<i64>),
        reply: &mut Reply,
    ) {
        let request_id = c.next_id("r", conversation.as_str());
        let cart: Vec<ProductId> =
            c.cart.iter().flat_map(|cart| cart.items.iter().map(|i| i.product_id.clone())).collect();
        let kinds = match &around {
            _ if need.is_some() => vec![RecommendationKind::Fits, RecommendationKind::Popular],
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
            need,
            min_price_minor,
            max_price_minor,
        }));
    }

    /// A product's price, stock and the details asked about, with its card.
    pub(super) fn answer_about(
        &mut self,
        c: &mut Conversation,
        id: &ProductId,
        asks: &[Ask],
        language: Language,
        reply: &mut Reply,
    ) {
        // Not `self.voice`: that would hold `self` while the model is asked.
        let voice = Voice::new(self.persona, language);
        let Some(product) = c.product(id).cloned() else {
            return self.which_product(c, language, reply);
        };
        let (price, was) = voice.price(&product);
        // Named as the card names it, in the customer's language.
        let name = product.name_in(language);
        let mut lead = voice.say(
            "price_answer",
            &[("product", name), ("price", &price), ("was", &was), ("stock", &voice.stock(product.stock))],
        );
        if let Some(promotion) = &product.promotion {
            lead.push_str(&format!(" 🏷️ {promotion}."));
        }
        let mut unsure = false;
        for ask in asks {
            if let Ask::Property(words) = ask {
                let kind = product.variants.as_ref().map(|v| v.kind.as_str());
                let name_of = |key: &str| {
                    if Some(key) == kind {
                        let mut name = crate::variants::kind_name(key, language);
                        if let Some(first) = name.get_mut(0..1) {
                            first.make_ascii_uppercase();
                        }
                        name
                    } else {
                        voice.attribute(key)
                    }
                };
                let verdict = crate::answers::answer(&product, words, name_of);
                let (key, facts) = match &verdict {
                    Verdict::Yes(facts) => ("property_yes", facts.clone()),
                    Verdict::No(facts) => ("property_no", facts.clone()),
                    Verdict::Partly(facts) => ("property_partly", facts.clone()),
                    Verdict::Unknown => ("property_unknown", Vec::new()),
                };
                // The model may only agree with the rules on whether the
                // catalog says anything, so a person is offered alike.
                unsure = facts.is_empty();
                let text = match self.grounded_answer(c, &product, &verdict, language) {
                    Some(grounded) => grounded.text,
                    None => voice.say(key, &[("product", name), ("facts", &facts.join(" · "))]),
                };
                // The answer first, then the product it is about.
                lead = format!("{text}\n{lead}");
            }
            if let Ask::Detail(keys) = ask {
                let keys: Vec<String> = if keys.is_empty() {
                    product.attributes.iter().map(|(k, _)| k.clone()).collect()
                } else {
                    keys.clone()
                };
                let details = voice.highlights(&product, &keys);
                lead.push('\n');
                if details.is_empty() {
                    lead.push_str(&voice.say("detail_missing", &[("product", name)]));
                } else {
                    lead.push_str(&details);
                }
            }
        }
        c.focus = Some(product.id.clone());
        for message in voice.product_card(&lead, &product) {
            reply.say(message);
        }
        if unsure {
            // The catalog does not say: a person can find out.
            let text = voice.say("offer_person", &[]);
            reply.say(voice.buttons(&text, vec![voice.button(Tap::Human, "btn_human")]));
        }
    }

    /// The model's answer to the customer's last message, a question about
    /// `product` the rules answered with `verdict`, when a model is there
    /// and its answer checks out ([`grounded::check`]).
    fn grounded_answer(
        &mut self,
        c: &Conversation,
        product: &ProductInfo,
        verdict: &Verdict,
        language: Language,
    ) -> Option<Grounded> {
        if !self.model.available() {
            return None;
        }
        // A question asked before a search found its product is still the
        // customer's last message when the catalog answers.
        let question = c.transcript.iter().rev().find(|e| matches!(e.from, Speaker::Customer))?;
        let facts = Facts::of(product);
        let prompt = grounded::prompt(self.persona, language, &facts, &question.text);
        let answer = self.model.infer(&prompt, grounded::ANSWER_TOKENS).ok()?;
        let others: Vec<&str> = c
            .products
            .iter()
            .filter(|p| p.id != product.id)
            .flat_map(|p| std::iter::once(&p.name).chain(&p.names))
            .map(String::as_str)
            .filter(|n| !n.trim().is_empty())
            .collect();
        match grounded::check(&answer, &facts, verdict, &others, language) {
            Ok(grounded) => Some(grounded),
            Err(why) => {
                eprintln!("seller: the model's answer about {} was refused, the catalog's is sent: {why}", product.id);
                None
            }
        }
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
        let PendingKind::Search { label, fallback, then_add, asks, recommended, guessed, said } = pending.kind else {
            self.show_products(c, &voice.say("recommend_intro", &[]), &products, 0, &mut reply);
            return self.finish(c, &conversation, None, reply);
        };
        if products.is_empty() {
            if let Some(plan) = fallback {
                let kind =
                    PendingKind::Search { label, fallback: None, then_add: None, asks, recommended, guessed, said };
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
            (Some(quantity), [only]) => {
                let variant = only.variants.as_ref().and_then(|v| crate::variants::named(v, &said));
                self.add(c, &conversation, &only.id, quantity, variant, language, &mut reply)
            }
            (_, [only]) if !asks.is_empty() => {
                let asks: Vec<Ask> = asks.iter().filter_map(|a| ask_from_name(a)).collect();
                self.answer_about(c, &only.id, &asks, language, &mut reply);
            }
            (_, found) if !asks.is_empty() && named(found, &said).is_some() => {
                let id = named(found, &said).map(|p| p.id.clone()).unwrap_or_else(|| found[0].id.clone());
                let asks: Vec<Ask> = asks.iter().filter_map(|a| ask_from_name(a)).collect();
                self.answer_about(c, &id, &asks, language, &mut reply);
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

    pub(super) fn show_products(
        &self,
        c: &mut Conversation,
        intro: &str,
        products: &[ProductInfo],
        more: u32,
        reply: &mut Reply,
    ) {
        let voice = self.voice(c.language);
        if let [only] = products {
            c.focus = Some(only.id.clone());
            c.show(vec![only.id.clone()], false);
            let (price, was) = voice.price(only);
            let lead = format!(
                "{intro}\n{}",
                voice.say(
                    "price_answer",
                    &[
                        ("product", only.name_in(c.language)),
                        ("price", &price),
                        ("was", &was),
                        ("stock", &voice.stock(only.stock))
                    ]
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
}

impl Persona {
    /// The category whose name in some language is `label`.
    fn category_by_label(&self, label: &str) -> Option<&str> {
        self.categories.iter().find(|c| c.names.values().any(|n| n == label)).map(|c| c.id.as_str())
    }
}

/// The one product of several whose name the customer's words name best: the
/// most of its words said, then the fewest left unsaid ("the nova 12" is the
/// Nova 12, not the Nova 12 Pro); `None` on a tie or when none is named.
/// A tag said counts with the name: "the nova 12 … 5G" is the phone, not
/// the Nova 12's case, whose name has fewer words left unsaid.
fn named<'p>(products: &'p [ProductInfo], said: &[String]) -> Option<&'p ProductInfo> {
    // By the name in whichever language fits the words best.
    let fit = |p: &ProductInfo| {
        let (shared, unsaid) = std::iter::once(&p.name)
            .chain(&p.names)
            .map(|name| {
                let name = agent_store_text::tokens(name);
                let shared = name.iter().filter(|w| said.contains(w)).count();
                (shared, std::cmp::Reverse(name.len() - shared))
            })
            .max()
            .unwrap_or((0, std::cmp::Reverse(0)));
        let name_words = p.name_words();
        let tagged = p
            .tags
            .iter()
            .flat_map(|t| agent_store_text::tokens(t))
            .filter(|t| said.contains(t) && !name_words.contains(t))
            .count();
        (shared, shared + tagged, unsaid)
    };
    let mut ranked: Vec<_> = products
        .iter()
        .map(|p| (fit(p), p))
        .filter(|((shared, _, _), _)| *shared > 0)
        .map(|((_, with_tags, unsaid), p)| ((with_tags, unsaid), p))
        .collect();
    ranked.sort_by_key(|(fit, _)| std::cmp::Reverse(*fit));
    match ranked.as_slice() {
        [(best, p), (next, _), ..] if best != next => Some(p),
        [(_, p)] => Some(p),
        _ => None,
    }
}

fn ask_name(ask: &Ask) -> String {
    match ask {
        Ask::Price => "price".into(),
        Ask::Stock => "stock".into(),
        Ask::Detail(keys) => format!("detail:{}", keys.join(",")),
        Ask::Property(words) => format!("property:{}", words.join(" ")),
    }
}

fn ask_from_name(name: &str) -> Option<Ask> {
    if let Some(words) = name.strip_prefix("property:") {
        return Some(Ask::Property(words.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()));
    }
    match name {
        "price" => Some(Ask::Price),
        "stock" => Some(Ask::Stock),
        _ => name
            .strip_prefix("detail:")
            .map(|keys| Ask::Detail(keys.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect())),
    }
}
