//! Whole conversations with the seller logic, natively: every brand's
//! persona, the real catalog files, the catalog's own search and
//! recommendations answering the seller's requests — everything but wasm and
//! the broker, which `harness.rs` and the end-to-end tests add.

use agent_store_events::{
    BrandId, ChatMessageNew, ChatResponse, CustomerRef, EscalationAccepted, EscalationReason, EscalationReleased,
    EscalationWaiting, Intent, MessageContent, Money, Order, OrderCreated, OrderLine, OrderRejected, OrderStatus,
    OutboundMessage, ProductId, ProductQueryResult, ProductRecommendResult, Recommendation, RejectionReason,
    Resolution,
};
use agent_store_seller::{Brand, Conversation, Model, ModelError, NoModel, Out, Persona, Seller, Standard};
use chrono::{DateTime, Duration, Utc};
use product_catalog::catalog::{Catalog, SearchQuery};
use product_catalog::recommend;

const BRANDS: [(&str, &str); 5] =
    [("fashion", "Luna"), ("tech", "Max"), ("home", "Sofia"), ("beauty", "Bella"), ("gaming", "Pixel")];

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap().to_utc()
}

/// A model that answers from a script, and counts the calls.
struct Scripted {
    answers: Vec<Result<String, ModelError>>,
    calls: usize,
}

impl Model for Scripted {
    fn infer(&mut self, _prompt: &str, _max_tokens: u32) -> Result<String, ModelError> {
        self.calls += 1;
        if self.answers.is_empty() {
            Err(ModelError::Failed("script exhausted".into()))
        } else {
            self.answers.remove(0)
        }
    }
}

/// One customer talking to one brand's seller, with the catalog answering.
struct Chat {
    persona: Persona,
    catalog: Catalog,
    conversation: Conversation,
    id: String,
    n: u32,
    now: DateTime<Utc>,
    /// Catalog answers held back instead of delivered, when set.
    hold: bool,
    held: Vec<Out>,
}

impl Chat {
    fn new(brand: &str) -> Self {
        let persona =
            Persona::parse(&std::fs::read_to_string(root().join(format!("brands/{brand}/persona.toml"))).unwrap())
                .unwrap();
        let text = std::fs::read_to_string(root().join(format!("brands/{brand}/catalog.json"))).unwrap();
        let catalog = Catalog::from_files([(brand, text.as_str())]).unwrap();
        Self {
            persona,
            catalog,
            conversation: Conversation::default(),
            id: format!("cv-{brand}-1"),
            n: 0,
            now: now(),
            hold: false,
            held: Vec::new(),
        }
    }

    fn seller<'a>(&'a self, model: &'a mut dyn Model) -> Seller<'a> {
        Seller { persona: &self.persona, brand: &Standard as &dyn Brand, model, now: self.now }
    }

    fn message(&mut self, content: MessageContent) -> ChatMessageNew {
        self.n += 1;
        self.now += Duration::seconds(5);
        ChatMessageNew {
            conversation: self.id.as_str().into(),
            brand: BrandId::new(self.persona.brand.clone()),
            customer: CustomerRef { id: "cus-1".into(), name: Some("Ana".into()) },
            message_id: format!("wamid.{}", self.n),
            text: content.text().unwrap_or_default().to_owned(),
            content,
            received_at: self.now,
        }
    }

    fn say(&mut self, text: &str) -> Vec<Out> {
        self.say_with(text, &mut NoModel)
    }

    fn say_with(&mut self, text: &str, model: &mut dyn Model) -> Vec<Out> {
        let message = self.message(MessageContent::Text { body: text.into() });
        self.send(&message, model)
    }

    fn tap(&mut self, id: &str, title: &str) -> Vec<Out> {
        let message = self.message(MessageContent::ButtonReply { id: id.into(), title: title.into() });
        self.send(&message, &mut NoModel)
    }

    fn send(&mut self, message: &ChatMessageNew, model: &mut dyn Model) -> Vec<Out> {
        let mut conversation = std::mem::take(&mut self.conversation);
        let outs = self.seller(model).on_message(&mut conversation, message);
        self.conversation = conversation;
        self.answer(outs, model)
    }

    /// Lets the catalog answer the seller's requests, as often as it asks;
    /// the seller handles its answers with `model`.
    fn answer(&mut self, outs: Vec<Out>, model: &mut dyn Model) -> Vec<Out> {
        let mut all = Vec::new();
        let mut queue = outs;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for out in queue {
                check(&out);
                if self.hold && matches!(out, Out::Query(_) | Out::Recommend(_)) {
                    self.held.push(out.clone());
                    all.push(out);
                    continue;
                }
                next.extend(self.catalog_answer(&out, model));
                all.push(out);
            }
            queue = next;
        }
        all
    }

    fn catalog_answer(&mut self, out: &Out, model: &mut dyn Model) -> Vec<Out> {
        let mut conversation = std::mem::take(&mut self.conversation);
        let outs = match out {
            Out::Query(q) => {
                let query = SearchQuery {
                    brand: q.brand.as_ref().map(|b| b.to_string()),
                    text: q.text.clone(),
                    category: q.category.clone(),
                    min_price_minor: q.min_price_minor,
                    max_price_minor: q.max_price_minor,
                    in_stock_only: q.in_stock_only,
                    partial: q.partial,
                    limit: q.limit.map(|l| l as usize),
                };
                let found = self.catalog.search(&query, self.now);
                let result = ProductQueryResult {
                    request_id: q.request_id.clone(),
                    brand: q.brand.clone(),
                    conversation: q.conversation.clone(),
                    products: found
                        .products
                        .iter()
                        .map(|h| self.catalog.product(h.product, h.stock, self.now))
                        .collect(),
                    total: found.total as u32,
                };
                self.seller(model).on_query_result(&mut conversation, &result)
            }
            Out::Recommend(r) => {
                let cart: Vec<String> = r.cart.iter().map(ToString::to_string).collect();
                let request = recommend::Request {
                    brand: r.brand.as_str(),
                    product_id: r.product_id.as_ref().map(ProductId::as_str),
                    cart: &cart,
                    kinds: &r.kinds,
                    limit: r.limit.map(|l| l as usize),
                    need: r.need.as_deref(),
                    price: (r.min_price_minor.is_some() || r.max_price_minor.is_some()).then_some(
                        recommend::PriceRange {
                            min_minor: r.min_price_minor,
                            max_minor: r.max_price_minor,
                            now: self.now,
                        },
                    ),
                };
                let picks = recommend::recommend(&self.catalog, &request, |p| Ok::<u32, ()>(p.stock)).unwrap();
                let result = ProductRecommendResult {
                    request_id: r.request_id.clone(),
                    brand: r.brand.clone(),
                    conversation: r.conversation.clone(),
                    recommendations: picks
                        .iter()
                        .map(|p| Recommendation {
                            product: self.catalog.product(p.product, p.stock, self.now),
                            kind: p.kind,
                            score: p.score,
                        })
                        .collect(),
                };
                self.seller(model).on_recommend_result(&mut conversation, &result)
            }
            _ => Vec::new(),
        };
        self.conversation = conversation;
        outs
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut Seller<'_>, &mut Conversation) -> R) -> R {
        let mut conversation = std::mem::take(&mut self.conversation);
        let mut model = NoModel;
        let persona = self.persona.clone();
        let mut seller = Seller { persona: &persona, brand: &Standard, model: &mut model, now: self.now };
        let r = f(&mut seller, &mut conversation);
        self.conversation = conversation;
        r
    }
}

/// Every response the seller emits must be one WhatsApp takes.
fn check(out: &Out) {
    if let Out::Respond(response) = out {
        assert_eq!(response.validate(), Ok(()), "{response:#?}");
    }
}

fn responses(outs: &[Out]) -> Vec<&ChatResponse> {
    outs.iter().filter_map(|o| if let Out::Respond(r) = o { Some(r) } else { None }).collect()
}

/// Everything the customer reads, one string.
fn said(outs: &[Out]) -> String {
    responses(outs)
        .iter()
        .flat_map(|r| &r.messages)
        .map(|m| match m {
            OutboundMessage::Text { body, .. }
            | OutboundMessage::Buttons { body, .. }
            | OutboundMessage::List { body, .. } => body.clone(),
            OutboundMessage::ProductCard { product, .. } => {
                format!("[card {} {}]", product.id, product.sale_price.as_ref().unwrap_or(&product.price))
            }
            OutboundMessage::Image { caption, .. } => caption.clone().unwrap_or_default(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The ids of every button and list row offered.
fn choices(outs: &[Out]) -> Vec<String> {
    responses(outs).iter().flat_map(|r| &r.messages).flat_map(OutboundMessage::choices).map(str::to_string).collect()
}

fn intent(outs: &[Out]) -> Intent {
    outs.iter().find_map(|o| if let Out::Intent(i) = o { Some(i.intent) } else { None }).expect("an intent event")
}

#[test]
fn every_seller_greets_in_character_in_three_languages() {
    for (brand, agent) in BRANDS {
        for (hello, language) in [("Hi!", "en"), ("¡Hola!", "es"), ("Olá!", "pt")] {
            let mut chat = Chat::new(brand);
            let outs = chat.say(hello);
            assert_eq!(intent(&outs), Intent::Greeting, "{brand} {hello}");
            let text = said(&outs);
            assert!(text.contains(agent) && text.contains("Ana"), "{brand}/{language}: {text}");
            assert_eq!(agent_store_text::detect(&text).map(|l| l.tag()), Some(language), "{brand}: {text}");
            let Some(Out::Intent(detected)) = outs.iter().find(|o| matches!(o, Out::Intent(_))) else { panic!() };
            assert_eq!(detected.language, language);
            assert_eq!(detected.engine.as_deref(), Some("rules"));
            // The greeting offers the brand's categories to browse.
            assert!(choices(&outs).iter().any(|c| c.starts_with("browse:")), "{brand}: {:?}", choices(&outs));
        }
    }
}

#[test]
fn personas_differ_from_each_other() {
    let greetings: Vec<String> = BRANDS.iter().map(|(brand, _)| said(&Chat::new(brand).say("hello"))).collect();
    for (i, a) in greetings.iter().enumerate() {
        for b in &greetings[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert!(greetings[0].contains('✨') && greetings[4].contains("🎮"), "{greetings:?}");
}

#[test]
fn a_purchase_from_search_to_order_number() {
    let mut chat = Chat::new("fashion");
    let outs = chat.say("Hi! do you have linen dresses?");
    let Some(Out::Query(query)) = outs.iter().find(|o| matches!(o, Out::Query(_))) else { panic!("{outs:?}") };
    assert_eq!(query.text.as_deref(), Some("linen dresses"));
    assert_eq!(query.brand.as_ref().unwrap(), "fashion");
    assert_eq!(query.conversation.as_ref().unwrap(), "cv-fashion-1");
    let text = said(&outs);
    assert!(text.starts_with("Hi Ana!"), "the greeting rides along: {text}");
    // The dress is on promotion: the sale price, with the list price.
    assert!(
        text.contains("Linen Wrap Midi Dress") && text.contains("USD 75.65") && text.contains("was USD 89.00"),
        "{text}"
    );
    assert!(choices(&outs).contains(&"product:fsh-001".to_owned()));

    let outs = chat.say("how much is the first one?");
    assert_eq!(intent(&outs), Intent::ProductQuestion);
    assert!(said(&outs).contains("USD 75.65") && said(&outs).contains("in stock"), "{}", said(&outs));

    // The dress comes in sizes: without one, the seller asks with buttons.
    let outs = chat.say("add 2");
    assert!(choices(&outs).contains(&"variant:fsh-001#M".to_owned()), "{}", said(&outs));
    assert!(!outs.iter().any(|o| matches!(o, Out::CartAdded(_))), "no size, nothing added");
    let outs = chat.say("size M please");
    let Some(Out::CartAdded(added)) = outs.iter().find(|o| matches!(o, Out::CartAdded(_))) else { panic!("{outs:?}") };
    assert_eq!((added.item.product_id.as_str(), added.item.quantity), ("fsh-001", 2));
    assert_eq!(added.item.variant.as_deref(), Some("M"));
    assert!(said(&outs).contains("Linen Wrap Midi Dress (size M)"), "{}", said(&outs));
    assert_eq!(added.cart.subtotal, Money::new(2 * 7565, "USD"));
    assert_eq!(chat.conversation.cart.as_ref().unwrap().subtotal, Money::new(15130, "USD"));

    let outs = chat.say("what's in my cart?");
    assert!(said(&outs).contains("2 × Linen Wrap Midi Dress (M) — USD 151.30"), "{}", said(&outs));

    let outs = chat.say("checkout");
    assert!(said(&outs).contains("Total: USD 151.30"), "{}", said(&outs));
    assert!(choices(&outs).contains(&"yes".to_owned()), "confirmation asked with buttons");
    assert!(!outs.iter().any(|o| matches!(o, Out::OrderCreate(_))), "not before the customer confirms");

    let outs = chat.tap("yes", "Place order");
    let Some(Out::OrderCreate(order)) = outs.iter().find(|o| matches!(o, Out::OrderCreate(_))) else {
        panic!("{outs:?}")
    };
    assert_eq!(order.lines.len(), 1);
    assert_eq!((order.lines[0].product_id.as_str(), order.lines[0].quantity), ("fsh-001", 2));
    assert_eq!(order.lines[0].variant.as_deref(), Some("M"), "the size goes into the order");
    assert_eq!(order.expected_total, Some(Money::new(15130, "USD")));
    assert_eq!(order.customer.name.as_deref(), Some("Ana"));
    assert_eq!(order.language.as_deref(), Some("en"));

    let created = OrderCreated {
        request_id: order.request_id.clone(),
        order: Order {
            id: "ord-20261201-0042".into(),
            conversation: order.conversation.clone(),
            brand: order.brand.clone(),
            customer: order.customer.clone(),
            lines: vec![OrderLine {
                product_id: "fsh-001".into(),
                name: "Linen Wrap Midi Dress".into(),
                quantity: 2,
                unit_price: Money::new(7565, "USD"),
                line_total: Money::new(15130, "USD"),
                variant: None,
            }],
            subtotal: Money::new(15130, "USD"),
            discount: Money::new(0, "USD"),
            total: Money::new(15130, "USD"),
            status: OrderStatus::Created,
            created_at: now(),
            shipping: None,
            language: None,
        },
    };
    let outs = chat.with(|seller, c| seller.on_order_created(c, &created));
    assert!(said(&outs).contains("ord-20261201-0042") && said(&outs).contains("USD 151.30"), "{}", said(&outs));
    assert!(chat.conversation.cart.is_none(), "the cart became the order");
    let outs = chat.say("where is my order?");
    assert!(said(&outs).contains("ord-20261201-0042"), "{}", said(&outs));
    // A second delivery of the same answer changes nothing.
    assert!(chat.with(|seller, c| seller.on_order_created(c, &created)).is_empty());
}

#[test]
fn references_the_second_one_it_and_names() {
    let mut chat = Chat::new("fashion");
    chat.say("show me shoes");
    assert_eq!(chat.conversation.shown.len(), 5);
    let second = chat.conversation.shown[1].clone();
    let mut outs = chat.say("add the second one");
    if choices(&outs).iter().any(|c| c.starts_with("variant:")) {
        // Shoes come in sizes: the seller asks, the customer answers.
        outs = chat.say("size 38");
    }
    let Some(Out::CartAdded(added)) = outs.iter().find(|o| matches!(o, Out::CartAdded(_))) else { panic!("{outs:?}") };
    assert_eq!(added.item.product_id, second);

    chat.say("any silk scarf?");
    let outs = chat.say("I'll take it");
    assert!(outs.iter().any(|o| matches!(o, Out::CartAdded(a) if a.item.product_id == "fsh-028")), "{}", said(&outs));
    assert_eq!(chat.conversation.cart.as_ref().unwrap().items.len(), 2);

    let outs = chat.say("remove the shoes");
    assert_eq!(intent(&outs), Intent::ChangeCart);
    let cart = chat.conversation.cart.as_ref().unwrap();
    assert_eq!(cart.items.len(), 1);
    assert_eq!(cart.items[0].product_id, "fsh-028");

    chat.say("make it 3");
    assert_eq!(chat.conversation.cart.as_ref().unwrap().items[0].quantity, 3);
    chat.say("empty my cart");
    assert!(chat.conversation.cart.is_none());
}

#[test]
fn spanish_and_portuguese_customers_are_answered_in_their_language() {
    let mut chat = Chat::new("tech");
    let outs = chat.say("hola, busco un teclado mecánico");
    let text = said(&outs);
    assert!(text.contains("Resultados para") && text.contains("Voltix Keys"), "{text}");
    let outs = chat.say("agrégalo al carrito");
    assert!(said(&outs).contains("Añadido") && !said(&outs).contains("Garantía"), "{}", said(&outs));
    let outs = chat.say("quiero pagar");
    assert!(said(&outs).contains("¿Lo confirmo?"), "{}", said(&outs));

    let mut chat = Chat::new("beauty");
    let outs = chat.say("oi! vocês têm batom vermelho?");
    let text = said(&outs);
    assert!(text.contains("Batom acetinado aveludado") && text.contains("estoque"), "{text}");
    let outs = chat.say("quero esse");
    assert!(said(&outs).contains("carrinho"), "{}", said(&outs));
}

#[test]
fn a_search_that_finds_nothing_tries_wider_then_offers_categories() {
    let mut chat = Chat::new("fashion");
    let outs = chat.say("busco unas botas de gamuza");
    let queries: Vec<_> = outs.iter().filter_map(|o| if let Out::Query(q) = o { Some(q) } else { None }).collect();
    assert_eq!(queries.len(), 2, "the wider second try");
    assert_eq!(queries[1].text.as_deref(), Some("botas"));
    assert!(said(&outs).contains("Botines chelsea de ante"), "{}", said(&outs));

    let outs = chat.say("do you have tuxedos?");
    assert!(
        said(&outs).contains("couldn't find") && choices(&outs).iter().any(|c| c.starts_with("browse:")),
        "{}",
        said(&outs)
    );
}

#[test]
fn recommendations_come_from_the_catalog() {
    let mut chat = Chat::new("gaming");
    let outs = chat.say("what do you recommend?");
    assert!(outs.iter().any(|o| matches!(o, Out::Recommend(_))));
    assert!(said(&outs).contains("GG picks"), "{}", said(&outs));
    chat.say("looking for a wireless controller");
    let outs = chat.tap("similar:gam-012", "Similar");
    let Some(Out::Recommend(r)) = outs.iter().find(|o| matches!(o, Out::Recommend(_))) else { panic!() };
    assert_eq!(r.product_id.as_ref().unwrap(), "gam-012");
    assert!(said(&outs).contains("You might also like"), "{}", said(&outs));
}

#[test]
fn sold_out_products_are_not_added() {
    let mut chat = Chat::new("fashion");
    chat.say("floral maxi dress");
    let outs = chat.say("add it");
    assert!(!outs.iter().any(|o| matches!(o, Out::CartAdded(_))));
    assert!(said(&outs).contains("sold out"), "{}", said(&outs));
    let outs = chat.say("yes");
    assert!(
        outs.iter().any(|o| matches!(o, Out::Recommend(r) if r.product_id.as_ref().is_some_and(|p| p == "fsh-003"))),
        "similar offered"
    );
}

#[test]
fn frustration_escalates_then_silence_until_released() {
    let mut chat = Chat::new("home");
    chat.say("do you sell sofas?");
    chat.say("add the first one");
    let outs = chat.say("This is ridiculous, I've asked three times and nobody helps me!!");
    let Some(Out::Escalate(escalation)) = outs.iter().find(|o| matches!(o, Out::Escalate(_))) else {
        panic!("{outs:?}")
    };
    assert_eq!(escalation.reason, EscalationReason::LowSentiment);
    assert!(escalation.sentiment < 0.3);
    assert!(escalation.cart.as_ref().is_some_and(|c| !c.is_empty()));
    assert!(escalation.transcript.len() >= 5 && escalation.transcript.last().unwrap().text.contains("ridiculous"));
    assert!(escalation.summary.contains("Ana") && escalation.summary.contains("frustrated"), "{}", escalation.summary);
    assert!(said(&outs).contains("colleague"), "the customer is told: {}", said(&outs));

    // Waiting for the person: the message itself gets no answer from the
    // seller; the sales assistant's word of the queue does, the first time,
    // with the place in it. The next one within minutes is not answered.
    let outs = chat.say("are you there?");
    assert!(outs.iter().all(|o| matches!(o, Out::Intent(_))), "the assistant answers: {outs:?}");
    let waiting = |message_id: &str, position: u32| EscalationWaiting {
        escalation_id: escalation.escalation_id.clone(),
        conversation: "cv-home-1".into(),
        brand: "home".into(),
        message_id: message_id.into(),
        position,
        queued: 3,
        queued_at: now(),
    };
    let outs = chat.with(|s, c| s.on_waiting(c, &waiting("m-1", 2)));
    assert!(said(&outs).contains("passed that on") && said(&outs).contains("You're 2nd in line"), "{}", said(&outs));
    chat.say("hello??");
    assert!(chat.with(|s, c| s.on_waiting(c, &waiting("m-2", 1))).is_empty(), "acknowledged once");
    let other = EscalationWaiting { escalation_id: "esc-other".into(), ..waiting("m-3", 1) };
    chat.now += Duration::minutes(4);
    assert!(chat.with(|s, c| s.on_waiting(c, &other)).is_empty(), "not this conversation's escalation");
    let outs = chat.with(|s, c| s.on_waiting(c, &waiting("m-3", 1)));
    assert!(said(&outs).contains("You're next in line"), "minutes later, told again: {}", said(&outs));

    // A human has it: the customer is told who, then the seller listens but says nothing.
    let accepted = EscalationAccepted {
        escalation_id: escalation.escalation_id.clone(),
        conversation: "cv-home-1".into(),
        brand: "home".into(),
        seller_id: "ana.lima".into(),
        accepted_at: now(),
    };
    let outs = chat.with(|s, c| s.on_accepted(c, &accepted));
    assert!(said(&outs).contains("Ana from our team"), "{}", said(&outs));
    assert!(chat.with(|s, c| s.on_accepted(c, &accepted)).is_empty(), "a redelivery says nothing");
    let outs = chat.say("hello? anyone?");
    assert!(outs.iter().all(|o| matches!(o, Out::Intent(_))), "only the reading: {outs:?}");
    assert!(chat.conversation.transcript.last().unwrap().text.contains("anyone"), "still recorded");

    let released = EscalationReleased {
        escalation_id: escalation.escalation_id.clone(),
        conversation: "cv-home-1".into(),
        brand: "home".into(),
        seller_id: "ana.lima".into(),
        resolution: Resolution::ReturnedToAi,
        note: None,
        released_at: now(),
    };
    let outs = chat.with(|s, c| s.on_released(c, &released));
    assert!(said(&outs).contains("back"), "{}", said(&outs));
    let outs = chat.say("what's in my cart?");
    assert!(said(&outs).contains("Nube Bouclé 3-Seater Sofa"), "answers again: {}", said(&outs));
}

#[test]
fn people_complex_requests_and_confusion_escalate() {
    let cases = [
        ("can I talk to a human please?", EscalationReason::CustomerRequest),
        ("quiero hablar con una persona", EscalationReason::CustomerRequest),
        ("I want a refund for my last order", EscalationReason::ComplexQuery),
        ("vocês fazem preço de atacado para 100 unidades?", EscalationReason::ComplexQuery),
    ];
    for (text, reason) in cases {
        let mut chat = Chat::new("beauty");
        let outs = chat.say(text);
        assert!(outs.iter().any(|o| matches!(o, Out::Escalate(e) if e.reason == reason)), "{text}: {outs:?}");
        assert!(chat.conversation.escalation.is_some());
    }
    let mut chat = Chat::new("beauty");
    let outs = chat.say("???");
    assert!(!outs.iter().any(|o| matches!(o, Out::Escalate(_))), "once is forgiven");
    assert!(said(&outs).contains("didn't get that"));
    let outs = chat.say("hmm ...");
    assert!(
        outs.iter().any(|o| matches!(o, Out::Escalate(e) if e.reason == EscalationReason::RepeatedMisunderstanding)),
        "{outs:?}"
    );
}

#[test]
fn a_rejected_order_is_explained_with_a_way_out() {
    let mut chat = Chat::new("fashion");
    chat.say("sunglasses");
    chat.say("add it");
    chat.say("checkout");
    let outs = chat.say("yes");
    let Some(Out::OrderCreate(order)) = outs.iter().find(|o| matches!(o, Out::OrderCreate(_))) else {
        panic!("{outs:?}")
    };
    let rejected = OrderRejected {
        request_id: order.request_id.clone(),
        conversation: order.conversation.clone(),
        brand: "fashion".into(),
        reason: RejectionReason::TotalMismatch { expected: Money::new(4500, "USD"), actual: Money::new(4900, "USD") },
        message: "The price of the sunglasses changed since you saw it, so the order was not placed.".into(),
    };
    let outs = chat.with(|s, c| s.on_order_rejected(c, &rejected));
    let text = said(&outs);
    assert!(text.contains("price of the sunglasses changed") && text.contains("USD 49.00"), "{text}");
    let outs = chat.tap("yes", "Place order");
    let Some(Out::OrderCreate(again)) = outs.iter().find(|o| matches!(o, Out::OrderCreate(_))) else {
        panic!("{outs:?}")
    };
    assert_eq!(again.expected_total, Some(Money::new(4900, "USD")));
    assert_ne!(again.request_id, order.request_id, "a new request");
    // The old request's answer is stale now.
    assert!(chat.with(|s, c| s.on_order_rejected(c, &rejected)).is_empty());
}

#[test]
fn stale_unknown_and_repeated_events_are_ignored() {
    let mut chat = Chat::new("tech");
    chat.hold = true;
    chat.say("power bank");
    let Some(Out::Query(query)) = chat.held.first().cloned() else { panic!() };
    let result = ProductQueryResult {
        request_id: "q-nobody-asked".into(),
        brand: Some("tech".into()),
        conversation: Some("cv-tech-1".into()),
        products: vec![],
        total: 0,
    };
    assert!(chat.with(|s, c| s.on_query_result(c, &result)).is_empty(), "unknown request id");
    chat.now += Duration::minutes(30);
    let late = ProductQueryResult { request_id: query.request_id.clone(), ..result };
    assert!(chat.with(|s, c| s.on_query_result(c, &late)).is_empty(), "stale");

    let message = chat.message(MessageContent::Text { body: "hi".into() });
    let first = chat.send(&message, &mut NoModel);
    assert!(!first.is_empty());
    assert!(chat.send(&message, &mut NoModel).is_empty(), "a redelivered message is handled once");
}

#[test]
fn photos_get_a_polite_answer_and_do_not_count_as_misunderstood() {
    let mut chat = Chat::new("home");
    for _ in 0..3 {
        let message = chat.message(MessageContent::Image(agent_store_events::Media {
            media_id: "1".into(),
            mime_type: "image/jpeg".into(),
            sha256: None,
            caption: None,
        }));
        let outs = chat.send(&message, &mut NoModel);
        assert!(said(&outs).contains("can't see photos"), "{}", said(&outs));
        assert_eq!(choices(&outs).first().map(String::as_str), Some("human"), "a person offered first");
        assert!(!outs.iter().any(|o| matches!(o, Out::Escalate(_))));
    }
}

#[test]
fn the_model_reads_and_rewords_when_it_checks_out() {
    let mut chat = Chat::new("fashion");
    let mut model = Scripted {
        answers: vec![
            Ok(r#"Sure! {"intent": "browse", "language": "en", "sentiment": 0.7, "confidence": 0.93, "query": "white sneakers", "item": null, "quantity": null, "max_price": 70, "beyond_scope": false}"#.into()),
        ],
        calls: 0,
    };
    let outs = chat.say_with("got anything like white kicks under 70 bucks?", &mut model);
    let Some(Out::Intent(detected)) = outs.iter().find(|o| matches!(o, Out::Intent(_))) else { panic!() };
    assert_eq!(detected.engine.as_deref(), Some("model"));
    assert_eq!(detected.confidence, 0.93);
    let Some(Out::Query(query)) = outs.iter().find(|o| matches!(o, Out::Query(_))) else { panic!() };
    assert_eq!((query.text.as_deref(), query.max_price_minor), (Some("white sneakers"), Some(7000)));
    assert!(said(&outs).contains("Canvas Low-Top Sneakers"));

    // Rewording: kept when the numbers survive, dropped when they do not.
    let mut model = Scripted {
        answers: vec![
            Ok(r#"{"intent": "thanks", "language": "en", "sentiment": 0.9}"#.into()),
            Ok("You're so welcome, darling ✨ Anything else for your wardrobe?".into()),
        ],
        calls: 0,
    };
    let outs = chat.say_with("thank you!", &mut model);
    assert_eq!(model.calls, 2);
    assert!(said(&outs).contains("darling"), "{}", said(&outs));
}

#[test]
fn without_a_usable_model_the_offline_brain_answers() {
    for answer in [
        Err(ModelError::Failed("timed out after 8s".to_owned())),
        Ok("I think the customer wants shoes".to_owned()),
        Ok(r#"{"intent": "buy_everything"}"#.to_owned()),
        Ok(r#"{"intent": "browse", "sentiment": 7}"#.to_owned()),
        Ok(r#"{"intent": "browse", "item": 9}"#.to_owned()),
        Ok(r#"{"intent": "browse", "query": "<script>alert(1)</script>"}"#.to_owned()),
    ] {
        let mut chat = Chat::new("tech");
        let mut model = Scripted { answers: vec![answer.clone(), Err(ModelError::Failed("down".into()))], calls: 0 };
        let outs = chat.say_with("do you have noise cancelling headphones?", &mut model);
        let Some(Out::Intent(detected)) = outs.iter().find(|o| matches!(o, Out::Intent(_))) else { panic!() };
        assert_eq!(detected.engine.as_deref(), Some("rules"), "{answer:?}");
        assert_eq!(detected.intent, Intent::Browse);
        assert!(said(&outs).contains("Voltix Aura ANC"), "{answer:?}: {}", said(&outs));
    }
    // A model that never mentioned a person cannot talk a request for one away.
    let mut chat = Chat::new("tech");
    let mut model = Scripted { answers: vec![Ok(r#"{"intent": "greeting"}"#.into())], calls: 0 };
    let outs = chat.say_with("I want to talk to a human", &mut model);
    assert!(outs.iter().any(|o| matches!(o, Out::Escalate(_))));
}

#[test]
fn a_size_asked_for_and_written_as_a_number_is_the_size_not_a_bulk_order() {
    let mut chat = Chat::new("fashion");
    chat.say("hola, busco zapatillas blancas");
    let outs = chat.tap("add:fsh-022", "Añadir");
    assert!(choices(&outs).contains(&"variant:fsh-022#39".to_owned()), "{:?}", choices(&outs));
    let outs = chat.say("39");
    assert!(!outs.iter().any(|o| matches!(o, Out::Escalate(_))), "{}", said(&outs));
    let added = outs.iter().find_map(|o| if let Out::CartAdded(a) = o { Some(&a.item) } else { None });
    let added = added.unwrap_or_else(|| panic!("added: {}", said(&outs)));
    assert_eq!((added.quantity, added.variant.as_deref()), (1, Some("39")), "{added:?}");
    assert!(said(&outs).contains("(talla 39)"), "{}", said(&outs));
    // A real bulk order still goes to a person.
    let mut chat = Chat::new("fashion");
    chat.say("hola, busco zapatillas blancas");
    let outs = chat.say("quiero 39 zapatillas");
    assert!(outs.iter().any(|o| matches!(o, Out::Escalate(_))), "{}", said(&outs));
}

/// What the customer reads, and the offers, after each message.
fn ask(chat: &mut Chat, text: &str) -> (String, Vec<String>, Vec<Out>) {
    let outs = chat.say(text);
    (said(&outs), choices(&outs), outs)
}

#[test]
fn product_questions_are_answered_from_the_catalog_in_three_languages() {
    // (brand, what was shown first, the question, the product, words of the answer)
    for (brand, first, question, product, answer) in [
        (
            "tech",
            None,
            "does the nova 12 support 5G?",
            "tec-009",
            "Yes! Here's what our catalog says: Connectivity: 5G",
        ),
        (
            "tech",
            None,
            "¿el smartwatch es resistente al agua?",
            "tec-007",
            "¡Sí! Esto dice nuestro catálogo: Resistencia al agua: 5 ATM",
        ),
        (
            "gaming",
            Some("controle sem fio"),
            "esse controle funciona no celular?",
            "gam-012",
            "Sim! Nosso catálogo diz: Plataforma:",
        ),
        ("beauty", Some("batom"), "o batom tem no tom Cherry?", "bty-015", "Sim! Nosso catálogo diz: Tom: Cherry"),
        (
            "fashion",
            None,
            "is the linen wrap dress machine washable?",
            "fsh-001",
            "Here's what our catalog says about that: Care: machine wash cold",
        ),
        (
            "beauty",
            Some("sérum vitamina c"),
            "¿es apto para piel sensible?",
            "bty-002",
            "Esto dice nuestro catálogo sobre eso: Tipo de piel:",
        ),
    ] {
        let mut chat = Chat::new(brand);
        if let Some(first) = first {
            chat.say(first);
        }
        let (text, offers, outs) = ask(&mut chat, question);
        assert_eq!(intent(&outs), Intent::ProductQuestion, "{brand}: {question}");
        assert!(text.contains(answer), "{brand}: {question} → {text}");
        assert!(text.contains(&format!("[card {product}")), "{brand}: the product card: {text}");
        assert!(!offers.contains(&"human".to_owned()), "{brand}: answered, no person needed: {offers:?}");
    }
}

#[test]
fn what_the_catalog_does_not_say_is_not_guessed_and_a_person_is_offered() {
    for (brand, first, question, words) in [
        (
            "beauty",
            "vitamin c serum",
            "is it cruelty free?",
            "Our catalog doesn't say that about Vitamin C 15% Brightening Serum",
        ),
        // Named in the question, and found by most of its words.
        (
            "beauty",
            "hi",
            "is the vitamin c serum cruelty free?",
            "Our catalog doesn't say that about Vitamin C 15% Brightening Serum",
        ),
        (
            "home",
            "silla de rattan",
            "¿es fácil de montar?",
            "Nuestro catálogo no dice eso de Silla de comedor de ratán",
        ),
        (
            "home",
            "cadeira de rattan",
            "essa cadeira vem montada?",
            "Nosso catálogo não diz isso sobre Cadeira de jantar de rattan",
        ),
    ] {
        let mut chat = Chat::new(brand);
        chat.say(first);
        let (text, offers, outs) = ask(&mut chat, question);
        assert_eq!(intent(&outs), Intent::ProductQuestion, "{brand}: {question}");
        assert!(text.contains(words), "{brand}: {question} → {text}");
        assert!(offers.contains(&"human".to_owned()), "{brand}: a person offered: {offers:?}");
        assert!(!outs.iter().any(|o| matches!(o, Out::Escalate(_))), "{brand}: offered, not forced");
    }
}

/// A model that answers questions about a product with `answer`, reads no
/// message (the rules do), and keeps every prompt it was given.
struct Grounding {
    answer: String,
    prompts: Vec<String>,
}

impl Grounding {
    fn new(answer: serde_json::Value) -> Self {
        Self { answer: answer.to_string(), prompts: Vec::new() }
    }
}

impl Model for Grounding {
    fn infer(&mut self, prompt: &str, _max_tokens: u32) -> Result<String, ModelError> {
        self.prompts.push(prompt.to_owned());
        if prompt.contains("A customer asks about one product") {
            Ok(self.answer.clone())
        } else {
            Err(ModelError::Failed("reads no messages".into()))
        }
    }
}

#[test]
fn with_a_model_product_questions_are_answered_from_the_catalogs_facts() {
    use serde_json::json;
    // (brand, what was shown first, the question, the product, a fact the
    // prompt carries, the model's answer, whether a person is offered)
    for (brand, first, question, product, fact, answer, unsure) in [
        (
            "tech",
            "hi",
            "does the nova 12 support 5G and wireless charging?",
            "tec-009",
            "- battery: 4,800 mAh, 45 W wired, 15 W wireless\n",
            json!({"verdict": "yes", "answer": "Yes to both! 5G, and 15 W wireless charging ⚡", "evidence": ["5G", "15 W wireless"]}),
            false,
        ),
        (
            "tech",
            "hola",
            "¿el smartwatch es resistente al agua?",
            "tec-007",
            "- water_resistance: 5 ATM\n",
            json!({"verdict": "yes", "answer": "¡Sí! Aguanta hasta 5 ATM, la ducha no es problema 💧", "evidence": ["5 ATM"]}),
            false,
        ),
        (
            "gaming",
            "controle sem fio",
            "esse controle funciona no celular?",
            "gam-012",
            "- platform: PC, PixelForge Deck, phones, tablets, smart TVs\n",
            json!({"verdict": "yes", "answer": "Sim! Ele conecta no celular por Bluetooth 🎮", "evidence": ["phones", "Bluetooth 5.2"]}),
            false,
        ),
        (
            "beauty",
            "vitamin c serum",
            "is it cruelty free?",
            "bty-002",
            "- fragrance_free: yes\n",
            json!({"verdict": "unknown", "answer": "Our catalog doesn't say whether it's cruelty free, and I won't guess 💛"}),
            true,
        ),
    ] {
        let mut chat = Chat::new(brand);
        chat.say(first);
        let mut model = Grounding::new(answer.clone());
        let outs = chat.say_with(question, &mut model);
        let (text, offers) = (said(&outs), choices(&outs));
        assert_eq!(intent(&outs), Intent::ProductQuestion, "{brand}: {question}");
        let answered = answer["answer"].as_str().unwrap();
        assert!(text.contains(answered), "{brand}: {question} → {text}");
        assert!(text.contains(&format!("[card {product}")), "{brand}: the product card: {text}");
        assert_eq!(offers.contains(&"human".to_owned()), unsure, "{brand}: a person offered: {offers:?}");
        let prompt = model.prompts.iter().find(|p| p.contains("A customer asks about one product")).unwrap();
        assert!(prompt.contains(fact) && prompt.contains(question), "{brand}: {prompt}");
    }
}

#[test]
fn a_model_answer_that_invents_or_turns_the_catalog_round_gives_way_to_the_catalogs() {
    use serde_json::json;
    // (brand, first, question, the model's answer, the catalog's answer sent)
    for (brand, first, question, answer, instead) in [
        (
            "tech",
            "hi",
            "does the nova 12 support 5G?",
            json!({"verdict": "yes", "answer": "Yes, 5G! And this week only USD 299.00 🔥", "evidence": ["5G"]}),
            "Yes! Here's what our catalog says: Connectivity: 5G",
        ),
        (
            "tech",
            "hola",
            "¿el smartwatch es resistente al agua?",
            json!({"verdict": "no", "answer": "No, no es resistente al agua.", "evidence": ["5 ATM"]}),
            "¡Sí! Esto dice nuestro catálogo: Resistencia al agua: 5 ATM",
        ),
        (
            "beauty",
            "vitamin c serum",
            "is it cruelty free?",
            json!({"verdict": "yes", "answer": "Yes, 100% cruelty free!", "evidence": ["cruelty free: yes"]}),
            "Our catalog doesn't say that about Vitamin C 15% Brightening Serum",
        ),
        (
            "home",
            "cadeira de rattan",
            "essa cadeira vem montada?",
            json!({"verdict": "unknown", "answer": "Não sei, mas chega em 2 dias com frete grátis 🚚"}),
            "Nosso catálogo não diz isso sobre Cadeira de jantar de rattan",
        ),
        (
            "fashion",
            "linen wrap dress",
            "is it machine washable?",
            json!({"verdict": "yes", "answer": "Yes! Wash it at 60 degrees.", "evidence": ["machine wash cold"]}),
            "Here's what our catalog says about that: Care: machine wash cold",
        ),
    ] {
        let mut chat = Chat::new(brand);
        chat.say(first);
        let mut model = Grounding::new(answer.clone());
        let outs = chat.say_with(question, &mut model);
        let text = said(&outs);
        assert!(
            model.prompts.iter().any(|p| p.contains("A customer asks about one product")),
            "{brand}: {question} asked: {text}"
        );
        assert!(text.contains(instead), "{brand}: {question} → {text}");
        assert!(!text.contains(answer["answer"].as_str().unwrap()), "{brand}: refused: {text}");
    }
}

#[test]
fn a_stated_need_becomes_advice_from_the_recommender_in_three_languages() {
    for (brand, message, need_word, first_pick) in [
        ("beauty", "I have dry skin, which moisturiser should I use?", "dry", None),
        ("beauty", "tengo la piel grasa, ¿qué limpiador me recomiendas?", "grasa", None),
        ("fashion", "I need something to wear to a beach wedding", "wedding", Some("fsh-001")),
        ("fashion", "qual tênis combina com um vestido de festa?", "festa", None),
        ("gaming", "¿qué juego me recomiendas si me gustan los de terror?", "terror", None),
        ("gaming", "what's a good game for playing with friends on the couch?", "couch", None),
        ("home", "o que fica bem numa sala pequena?", "sala", None),
        ("tech", "preciso de um fone bom pra academia", "academia", None),
    ] {
        let mut chat = Chat::new(brand);
        let outs = chat.say(message);
        assert_eq!(intent(&outs), Intent::Recommendation, "{brand}: {message}");
        let request = outs
            .iter()
            .find_map(|o| if let Out::Recommend(r) = o { Some(r) } else { None })
            .unwrap_or_else(|| panic!("{brand}: a recommendation request for {message}: {}", said(&outs)));
        let need = request.need.as_deref().unwrap_or_default();
        assert!(need.contains(need_word), "{brand}: the need travels: {need:?}");
        assert!(request.kinds.contains(&agent_store_events::RecommendationKind::Fits), "{request:?}");
        let offers = choices(&outs);
        assert!(offers.iter().any(|c| c.starts_with("product:")), "{brand}: products shown: {}", said(&outs));
        if let Some(first) = first_pick {
            let shown: Vec<&String> = offers.iter().filter(|c| c.starts_with("product:")).collect();
            assert_eq!(shown[0], &format!("product:{first}"), "{brand}: {first} first: {offers:?}");
        }
    }
}

#[test]
fn what_and_which_questions_are_not_questions_about_a_product() {
    for (brand, text, expected) in [
        ("home", "o que você recomenda?", Intent::Recommendation),
        ("tech", "¿qué me recomiendas?", Intent::Recommendation),
        ("beauty", "any recommendations?", Intent::Recommendation),
    ] {
        let mut chat = Chat::new(brand);
        chat.say("hi");
        assert_eq!(intent(&chat.say(text)), expected, "{brand}: {text}");
    }
}

/// One product in the cart in two sizes: a change by name asks which line,
/// a change that names the size takes that line, never the first one.
#[test]
fn a_product_in_two_sizes_is_changed_by_the_size_named_in_three_languages() {
    // Named in the customer's language: "el vestido de lino" is the catalog's
    // Spanish name of the Linen Wrap Midi Dress.
    for (hello, add_m, add_l, remove, which, remove_l, removed) in [
        (
            "Hi! do you have linen dresses?",
            "add it, size M",
            "add it, size L",
            "remove the linen dress",
            "Which one do you mean?",
            "remove the linen dress size L",
            "Linen Wrap Midi Dress (L)",
        ),
        (
            "hola, ¿tienen vestidos de lino?",
            "añádelo, talla M",
            "añádelo, talla L",
            "quita el vestido de lino",
            "¿Cuál quieres decir?",
            "quita el vestido de lino talla L",
            "(L)",
        ),
        (
            "olá, vocês têm vestidos de linho?",
            "adiciona, tamanho M",
            "adiciona, tamanho L",
            "por favor, tira do meu carrinho o vestido de linho",
            "Qual deles você quer dizer?",
            "por favor, tira do meu carrinho o vestido de linho tamanho L",
            "(L)",
        ),
    ] {
        let mut chat = Chat::new("fashion");
        chat.say(hello);
        chat.tap("product:fsh-001", "Linen Wrap Midi Dress");
        for add in [add_m, add_l] {
            let outs = chat.say(add);
            assert!(outs.iter().any(|o| matches!(o, Out::CartAdded(_))), "{add}: {}", said(&outs));
        }
        let sizes = |chat: &Chat| -> Vec<String> {
            let cart = chat.conversation.cart.as_ref().expect("a cart");
            cart.items.iter().map(|i| i.variant.clone().unwrap_or_default()).collect()
        };
        assert_eq!(sizes(&chat), ["M", "L"], "{hello}");

        let outs = chat.say(remove);
        assert!(said(&outs).contains(which) && said(&outs).contains("M, L"), "{remove}: {}", said(&outs));
        assert_eq!(sizes(&chat), ["M", "L"], "nothing taken out before the customer says which");
        assert!(choices(&outs).contains(&"remove:fsh-001#L".to_owned()), "{:?}", choices(&outs));

        let outs = chat.say(remove_l);
        assert_eq!(sizes(&chat), ["M"], "{remove_l}: {}", said(&outs));
        assert!(said(&outs).contains(removed), "{}", said(&outs));
    }
}

/// A budget said with a need bounds the advice: the price travels with the
/// need, and nothing above it is offered, in three languages.
#[test]
fn a_budget_said_with_a_need_bounds_the_advice() {
    for (message, max) in [
        ("I have oily skin, which cleanser should I use? under 20 dollars", 2000),
        ("tengo la piel grasa, ¿qué limpiador me recomiendas? menos de 20 dólares", 2000),
        ("tenho pele oleosa, qual limpador você recomenda? até 20 dólares", 2000),
    ] {
        let mut chat = Chat::new("beauty");
        let outs = chat.say(message);
        let request = outs
            .iter()
            .find_map(|o| if let Out::Recommend(r) = o { Some(r) } else { None })
            .unwrap_or_else(|| panic!("a recommendation request for {message}: {}", said(&outs)));
        assert!(request.need.is_some(), "{request:?}");
        assert_eq!(request.max_price_minor, Some(max), "{message}: {request:?}");
        let shown: Vec<String> = choices(&outs).into_iter().filter(|c| c.starts_with("product:")).collect();
        assert!(!shown.is_empty(), "{message}: {}", said(&outs));
        for offer in shown {
            let id = offer.trim_start_matches("product:");
            let product = chat.catalog.get(id).unwrap();
            let (price, _) = chat.catalog.effective_price(product, chat.now);
            assert!(price.amount_minor <= max, "{message}: {id} at {} offered", price.amount_minor);
        }
    }
}

#[test]
fn a_variant_with_its_own_price_is_priced_at_it_from_the_card_to_the_order_in_three_languages() {
    for (text, pick, tb, label) in [
        (
            "do you have the airbook laptop?",
            "the 1 TB one",
            "1 TB (USD 1034.10)",
            "Voltix Airbook 14 Laptop (storage 1 TB)",
        ),
        (
            "¿tienen el portátil airbook?",
            "el de 1 TB",
            "1 TB (USD 1034.10)",
            "Voltix Airbook 14 Laptop (almacenamiento 1 TB)",
        ),
        (
            "vocês têm o notebook airbook?",
            "o de 1 TB",
            "1 TB (USD 1034.10)",
            "Voltix Airbook 14 Laptop (armazenamento 1 TB)",
        ),
    ] {
        let mut chat = Chat::new("tech");
        // One product found: its card, which prices each storage (a 10 %
        // promotion runs on the laptop, and on its 1 TB too).
        let outs = chat.say(text);
        let card = outs
            .iter()
            .filter_map(|o| if let Out::Respond(r) = o { Some(r) } else { None })
            .flat_map(|r| &r.messages)
            .find_map(|m| {
                if let OutboundMessage::ProductCard { product, .. } = m { product.description.clone() } else { None }
            })
            .unwrap_or_else(|| panic!("{text}: a card: {outs:?}"));
        assert!(card.contains("512 GB USD 899.10 · 1 TB USD 1034.10"), "{text}: {card}");
        // Which one: each with its price.
        let outs = chat.tap("add:tec-013", "Add");
        assert!(said(&outs).contains(tb), "{text}: {}", said(&outs));
        let outs = chat.say(pick);
        let added = outs.iter().find_map(|o| if let Out::CartAdded(a) = o { Some(a) } else { None });
        let added = added.unwrap_or_else(|| panic!("{text}: added: {}", said(&outs)));
        assert_eq!(added.item.variant.as_deref(), Some("1 TB"));
        assert_eq!(added.item.unit_price, Money::new(103410, "USD"));
        assert_eq!(added.cart.subtotal, Money::new(103410, "USD"));
        assert!(said(&outs).contains(label), "{text}: {}", said(&outs));
        let outs = chat.say("checkout");
        assert!(said(&outs).contains("USD 1034.10"), "{text}: {}", said(&outs));
        let outs = chat.tap("yes", "Place order");
        let Some(Out::OrderCreate(order)) = outs.iter().find(|o| matches!(o, Out::OrderCreate(_))) else {
            panic!("{text}: {outs:?}")
        };
        assert_eq!(order.expected_total, Some(Money::new(103410, "USD")));
        assert_eq!(order.lines[0].variant.as_deref(), Some("1 TB"));
    }
}
