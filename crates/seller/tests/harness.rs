//! The five seller components and the sports package's in the real runtime
//! (`agent-store-testing`), with the real product catalog component answering
//! their searches, and a fake OpenAI-compatible server on 127.0.0.1 behind
//! the host's own `--llm chat=openai:…` backend for the model path.
//!
//! Needs the components built: `cargo xtask build` (or the `cargo build
//! --target wasm32-wasip2 --release -p seller-<brand> -p product-catalog`
//! they come from).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use agent_store_events::{
    CartItemAdded, ChatIntentDetected, ChatResponse, OrderCreate, OutboundMessage, ProductQuery, SalesEscalate, ext,
    types,
};
use agent_store_runtime::capabilities::llm::config::models_from_specs;
use agent_store_seller::Conversation;
use agent_store_testing::{Harness, data, event};
use anyhow::{Context, Result, bail};
use cloudevents::{AttributesReader, Event};
use serde_json::{Value, json};

const BRANDS: [(&str, &str); 5] =
    [("fashion", "Luna"), ("tech", "Max"), ("home", "Sofia"), ("beauty", "Bella"), ("gaming", "Pixel")];

/// A search per brand and a product it must show.
const SEARCHES: [(&str, &str, &str); 5] = [
    ("fashion", "do you have white sneakers?", "fsh-022"),
    ("tech", "busco un teclado mecánico", "tec-016"),
    ("home", "vocês têm luminária de mesa?", "hom-013"),
    ("beauty", "do you have vitamin c serum?", "bty-002"),
    ("gaming", "¿tienen juegos de fútbol?", "gam-006"),
];

fn seller(brand: &str) -> Result<Harness> {
    Harness::component(&format!("seller-{brand}")).build()
}

fn catalog() -> Result<Harness> {
    Harness::component("product-catalog").build()
}

/// The sports seller, a brand package's component: the harness reads the
/// store's spin.toml, which does not name it, so its sandbox is the one
/// `brands/sports/spin.toml` gives it, set by hand (the manifest crate's
/// tests hold the package to these values).
fn sports_seller() -> Result<Harness> {
    Harness::builder("seller_sports")
        .id("seller-sports")
        .key_value_stores(&["seller-sports"])
        .ai_models(&["chat"])
        .build()
}

/// The catalog as it is once the sports package is deployed: the store's
/// spin.toml keeps the package's catalog out of its files, so it is mounted
/// here.
fn catalog_with_sports() -> Result<Harness> {
    Harness::component("product-catalog").mount_dir("brands/sports", "/brands/sports").build()
}

/// One customer talking to one seller, the catalog answering its searches.
struct Chat {
    brand: &'static str,
    conversation: String,
    seller: Harness,
    catalog: Harness,
    n: u32,
}

impl Chat {
    fn new(brand: &'static str, seller: Harness, catalog: Harness) -> Self {
        Self { brand, conversation: format!("cv-{brand}-{}", uuid()), seller, catalog, n: 0 }
    }

    fn message(&mut self, content: Value) -> Event {
        self.n += 1;
        let text = content.get("body").or(content.get("title")).and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut message = event(
            types::CHAT_MESSAGE_NEW,
            json!({
                "conversation": self.conversation,
                "brand": self.brand,
                "customer": {"id": "cus-test", "name": "Ana"},
                "message_id": format!("wamid.{}.{}", self.conversation, self.n),
                "text": text,
                "content": content,
                "received_at": "2026-12-01T12:00:00Z",
            }),
        );
        message.set_extension(ext::BRAND, self.brand);
        message.set_extension(ext::CONVERSATION, self.conversation.as_str());
        message
    }

    /// Sends an event to the seller; every catalog request it makes is sent
    /// to the catalog component and its answer back to the seller.
    async fn deliver(&self, first: Event) -> Result<Vec<Event>> {
        let mut all = Vec::new();
        let mut to_seller = vec![first];
        while let Some(event) = to_seller.pop() {
            let sent = self.seller.send(event).await;
            for out in sent.events()? {
                check(&out, self.brand)?;
                if [types::PRODUCT_QUERY, types::PRODUCT_RECOMMEND].contains(&out.ty()) {
                    let answer = self.catalog.send(out.clone()).await;
                    to_seller.extend(answer.events()?);
                }
                all.push(out);
            }
        }
        Ok(all)
    }

    async fn say(&mut self, text: &str) -> Result<Vec<Event>> {
        let message = self.message(json!({"kind": "text", "body": text}));
        self.deliver(message).await
    }

    async fn tap(&mut self, id: &str, title: &str) -> Result<Vec<Event>> {
        let message = self.message(json!({"kind": "button_reply", "id": id, "title": title}));
        self.deliver(message).await
    }

    async fn state(&self) -> Result<Conversation> {
        let key = Conversation::key(&self.conversation);
        let stored = self.seller.stored(&format!("seller-{}", self.brand)).await?;
        let (_, bytes) =
            stored.iter().find(|(k, _)| *k == key).with_context(|| format!("{key} is not stored: {stored:?}"))?;
        Ok(serde_json::from_slice(bytes)?)
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// What every seller event must be: from the seller, for its brand and the
/// conversation; responses WhatsApp would take.
fn check(event: &Event, brand: &str) -> Result<()> {
    if *event.source() != format!("/agent-store/seller-{brand}") {
        bail!("{} from {}", event.ty(), event.source());
    }
    if event.extension(ext::BRAND).map(|v| v.to_string()).as_deref() != Some(brand) {
        bail!("{} without the brand extension", event.ty());
    }
    if event.extension(ext::CONVERSATION).is_none() {
        bail!("{} without the conversation extension", event.ty());
    }
    if event.ty() == types::CHAT_RESPONSE {
        let response: ChatResponse = serde_json::from_value(data(event))?;
        response.validate().map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn of<T: serde::de::DeserializeOwned>(events: &[Event], ty: &str) -> Result<Vec<T>> {
    events.iter().filter(|e| e.ty() == ty).map(|e| Ok(serde_json::from_value(data(e))?)).collect()
}

fn one<T: serde::de::DeserializeOwned>(events: &[Event], ty: &str) -> Result<T> {
    let mut all: Vec<T> = of(events, ty)?;
    if all.len() != 1 {
        bail!("expected one {ty}, got {:?}", events.iter().map(|e| e.ty().to_owned()).collect::<Vec<_>>());
    }
    Ok(all.remove(0))
}

/// Everything the customer reads.
fn said(events: &[Event]) -> Result<String> {
    let responses: Vec<ChatResponse> = of(events, types::CHAT_RESPONSE)?;
    Ok(responses
        .iter()
        .flat_map(|r| &r.messages)
        .map(|m| match m {
            OutboundMessage::Text { body, .. }
            | OutboundMessage::Buttons { body, .. }
            | OutboundMessage::List { body, .. } => body.clone(),
            OutboundMessage::ProductCard { product, .. } => format!("[card {}]", product.id),
            OutboundMessage::Image { caption, .. } => caption.clone().unwrap_or_default(),
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn choices(events: &[Event]) -> Result<Vec<String>> {
    let responses: Vec<ChatResponse> = of(events, types::CHAT_RESPONSE)?;
    Ok(responses.iter().flat_map(|r| &r.messages).flat_map(OutboundMessage::choices).map(str::to_string).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_seller_greets_in_character_in_three_languages() -> Result<()> {
    for (brand, agent) in BRANDS {
        for hello in ["Hi!", "¡Hola!", "Oi!"] {
            let mut chat = Chat::new(brand, seller(brand)?, catalog()?);
            let events = chat.say(hello).await?;
            let intent: ChatIntentDetected = one(&events, types::CHAT_INTENT_DETECTED)?;
            assert_eq!(intent.intent, agent_store_events::Intent::Greeting);
            let response: ChatResponse = one(&events, types::CHAT_RESPONSE)?;
            assert_eq!(response.from, agent_store_events::Responder::Ai { agent: agent.into() });
            let text = said(&events)?;
            assert!(text.contains(agent) && text.contains("Ana"), "{brand}: {text}");
            assert_eq!(
                agent_store_text::detect(&text).map(|l| l.tag()),
                Some(intent.language.as_str()),
                "{brand}: {text}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_seller_sells_from_search_to_order_number() -> Result<()> {
    for (brand, text, product) in SEARCHES {
        sells(Chat::new(brand, seller(brand)?, catalog()?), text, product).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sports_package_seller_greets_and_sells() -> Result<()> {
    for hello in ["Hi!", "¡Hola!", "Oi!"] {
        let mut chat = Chat::new("sports", sports_seller()?, catalog_with_sports()?);
        let events = chat.say(hello).await?;
        let intent: ChatIntentDetected = one(&events, types::CHAT_INTENT_DETECTED)?;
        assert_eq!(intent.intent, agent_store_events::Intent::Greeting);
        let response: ChatResponse = one(&events, types::CHAT_RESPONSE)?;
        assert_eq!(response.from, agent_store_events::Responder::Ai { agent: "Leo".into() });
        let text = said(&events)?;
        assert!(text.contains("Leo") && text.contains("Ana"), "{text}");
        assert_eq!(agent_store_text::detect(&text).map(|l| l.tag()), Some(intent.language.as_str()), "{text}");
    }
    let chat = Chat::new("sports", sports_seller()?, catalog_with_sports()?);
    sells(chat, "¿tienen zapatillas de trail?", "spt-001").await
}

/// A search that must offer `product`, then add to cart, checkout and the
/// order number, in one conversation.
async fn sells(mut chat: Chat, text: &str, product: &str) -> Result<()> {
    let brand = chat.brand;
    let events = chat.say(text).await?;
    let query_event = events.iter().find(|e| e.ty() == types::PRODUCT_QUERY).context("a product query")?;
    let query: ProductQuery = serde_json::from_value(data(query_event))?;
    assert_eq!(
        query_event.extension(ext::CORRELATION).map(|v| v.to_string()),
        Some(query.request_id.clone()),
        "{brand}: correlation"
    );
    assert_eq!(query.conversation.as_ref().map(|c| c.as_str()), Some(chat.conversation.as_str()));
    assert!(
        choices(&events)?.iter().any(|c| c.ends_with(product)),
        "{brand}: {product} offered in {:?}\n{}",
        choices(&events)?,
        said(&events)?
    );
    assert!(said(&events)?.contains("USD"), "prices shown");

    let mut events = chat.tap(&format!("add:{product}"), "Add").await?;
    // A product in sizes: the seller asks which, with a button per size.
    if let Some(size) = choices(&events)?.into_iter().find(|c| c.starts_with("variant:")) {
        events = chat.tap(&size, "Size").await?;
    }
    let added: CartItemAdded = one(&events, types::CART_ITEM_ADDED)?;
    assert_eq!(added.item.product_id.as_str(), product);
    let state = chat.state().await?;
    assert_eq!(state.cart.as_ref().map(|c| c.items.len()), Some(1), "{brand}: the cart is stored");

    let events = chat.tap("checkout", "Checkout").await?;
    assert!(choices(&events)?.contains(&"yes".to_owned()), "{brand}: asks to confirm");
    let events = chat.tap("yes", "Place order").await?;
    let create_event = events.iter().find(|e| e.ty() == types::ORDER_CREATE).context("order.create")?;
    let create: OrderCreate = serde_json::from_value(data(create_event))?;
    assert_eq!(create_event.extension(ext::CORRELATION).map(|v| v.to_string()), Some(create.request_id.clone()));
    assert_eq!(create.expected_total, Some(added.cart.subtotal.clone()));

    let mut created = event(
        types::ORDER_CREATED,
        json!({
            "request_id": create.request_id,
            "order": {
                "id": "ord-20261201-0099", "conversation": chat.conversation, "brand": brand,
                "customer": {"id": "cus-test"}, "lines": [], "subtotal": added.cart.subtotal,
                "discount": {"amount_minor": 0, "currency": "USD"}, "total": added.cart.subtotal,
                "status": "created", "created_at": "2026-12-01T12:01:00Z"
            }
        }),
    );
    created.set_extension(ext::BRAND, brand);
    created.set_extension(ext::CONVERSATION, chat.conversation.as_str());
    let events = chat.deliver(created).await?;
    assert!(said(&events)?.contains("ord-20261201-0099"), "{brand}: {}", said(&events)?);
    assert!(chat.state().await?.cart.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn frustration_escalates_then_silence_until_release() -> Result<()> {
    for (brand, _) in BRANDS {
        let mut chat = Chat::new(brand, seller(brand)?, catalog()?);
        chat.say("hello").await?;
        let events = chat.say("This is ridiculous, worst service ever, nobody helps me!!").await?;
        let escalation: SalesEscalate = one(&events, types::SALES_ESCALATE)?;
        assert_eq!(escalation.reason, agent_store_events::EscalationReason::LowSentiment);
        assert!(escalation.sentiment < agent_store_events::ESCALATION_SENTIMENT_THRESHOLD);
        assert!(!escalation.transcript.is_empty() && !escalation.summary.is_empty());
        assert!(said(&events)?.contains("colleague"), "{brand}: the customer is told");

        let mut accepted = event(
            types::SALES_ESCALATION_ACCEPTED,
            json!({"escalation_id": escalation.escalation_id, "conversation": chat.conversation, "brand": brand, "seller_id": "ana.lima", "accepted_at": "2026-12-01T12:02:00Z"}),
        );
        accepted.set_extension(ext::BRAND, brand);
        let joined = chat.deliver(accepted).await?;
        assert!(said(&joined)?.contains("Ana"), "{brand}: the customer hears who joined");
        let events = chat.say("hello?? is anyone there").await?;
        assert_eq!(
            events.iter().map(|e| e.ty()).collect::<Vec<_>>(),
            [types::CHAT_INTENT_DETECTED],
            "{brand}: silent while a human has it"
        );
        assert!(chat.state().await?.transcript.iter().any(|t| t.text.contains("anyone there")), "still recorded");

        let mut released = event(
            types::SALES_ESCALATION_RELEASED,
            json!({"escalation_id": escalation.escalation_id, "conversation": chat.conversation, "brand": brand, "seller_id": "ana.lima", "resolution": "returned_to_ai", "released_at": "2026-12-01T12:09:00Z"}),
        );
        released.set_extension(ext::BRAND, brand);
        let events = chat.deliver(released).await?;
        assert_eq!(of::<ChatResponse>(&events, types::CHAT_RESPONSE)?.len(), 1, "{brand}: back");
        let events = chat.say("show me what you have").await?;
        assert!(events.iter().any(|e| e.ty() == types::CHAT_RESPONSE), "{brand}: answering again");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_results_and_other_brands_are_ignored_and_bad_events_refused() -> Result<()> {
    let chat = Chat::new("fashion", seller("fashion")?, catalog()?);
    let mut stray = event(
        types::PRODUCT_QUERY_RESULT,
        json!({"request_id": "q-nobody", "brand": "fashion", "conversation": "cv-unknown", "products": [], "total": 0}),
    );
    stray.set_extension(ext::BRAND, "fashion");
    let sent = chat.seller.send(stray).await;
    assert!(sent.events()?.is_empty(), "{}", sent.output());

    let mut wrong = event(
        types::CHAT_MESSAGE_NEW,
        json!({"conversation": "c", "brand": "tech", "customer": {"id": "x"}, "message_id": "m", "text": "hi", "content": {"kind": "text", "body": "hi"}, "received_at": "2026-12-01T12:00:00Z"}),
    );
    wrong.set_extension(ext::BRAND, "tech");
    assert!(chat.seller.send(wrong).await.error().is_some(), "another brand's message is a bad event");
    let broken = event(types::CHAT_MESSAGE_NEW, json!({"text": 1}));
    assert!(chat.seller.send(broken).await.error().is_some());
    Ok(())
}

// ---------------------------------------------------------------------------
// The model path, through a fake OpenAI-compatible server.

/// How the fake server behaves.
const ANSWER: u8 = 0;
const SLOW: u8 = 1;
const FAIL: u8 = 2;

struct FakeServer {
    url: String,
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
}

/// A chat-completions endpoint on 127.0.0.1: reads answer with a JSON
/// reading, rewordings with a line in Luna's voice; or it is slow, or it
/// fails, as `mode` says.
async fn fake_openai() -> Result<FakeServer> {
    use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
    let mode = Arc::new(AtomicU8::new(ANSWER));
    let calls = Arc::new(AtomicUsize::new(0));
    async fn complete(
        State((mode, calls)): State<(Arc<AtomicU8>, Arc<AtomicUsize>)>,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        calls.fetch_add(1, Ordering::SeqCst);
        match mode.load(Ordering::SeqCst) {
            SLOW => tokio::time::sleep(Duration::from_secs(5)).await,
            FAIL => {
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": {"message": "the model crashed"}})));
            }
            _ => {}
        }
        let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
        let content = if prompt.ends_with("JSON:") {
            r#"{"intent": "browse", "language": "en", "sentiment": 0.8, "confidence": 0.95, "query": "white sneakers", "max_price": 70, "beyond_scope": false}"#
        } else {
            "Hey gorgeous ✨ so glad you're here!"
        };
        (
            StatusCode::OK,
            Json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": "fake",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            })),
        )
    }
    let app = Router::new().route("/v1/chat/completions", post(complete)).with_state((mode.clone(), calls.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(FakeServer { url, mode, calls })
}

fn seller_with_model(server: &FakeServer) -> Result<Harness> {
    let spec = format!("chat=openai:{}?model=fake&timeout=1s&retries=0", server.url);
    Harness::component("seller-fashion").models(models_from_specs(&[spec])?).build()
}

fn engine(events: &[Event]) -> Result<String> {
    let intent: ChatIntentDetected = one(events, types::CHAT_INTENT_DETECTED)?;
    Ok(intent.engine.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_model_the_seller_reads_through_it() -> Result<()> {
    let server = fake_openai().await?;
    let seller = seller_with_model(&server)?;
    let mut chat = Chat::new("fashion", seller, catalog()?);
    let events = chat.say("got anything like white kicks for under 70 bucks?").await?;
    assert_eq!(engine(&events)?, "model");
    let query: ProductQuery = one(&events, types::PRODUCT_QUERY)?;
    assert_eq!((query.text.as_deref(), query.max_price_minor), (Some("white sneakers"), Some(7000)));
    assert!(choices(&events)?.iter().any(|c| c.ends_with("fsh-022")), "{}", said(&events)?);
    assert!(server.calls.load(Ordering::SeqCst) >= 1);
    let usage = chat.seller.models().usage();
    assert!(usage.iter().any(|row| row.component == "seller-fashion" && row.prompt_tokens >= 100), "{usage:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_model_falls_back_once_then_is_left_alone() -> Result<()> {
    let server = fake_openai().await?;
    server.mode.store(SLOW, Ordering::SeqCst);
    let mut chat = Chat::new("fashion", seller_with_model(&server)?, catalog()?);
    let events = chat.say("do you have white sneakers?").await?;
    // The fake answers after 5 s: the host's 1 s timeout gave up on it.
    assert_eq!(engine(&events)?, "rules");
    assert!(
        choices(&events)?.iter().any(|c| c.ends_with("fsh-022")),
        "the offline brain sold anyway: {}",
        said(&events)?
    );
    let calls = server.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 1);

    let events = chat.say("how much is it?").await?;
    assert_eq!(engine(&events)?, "rules");
    assert_eq!(server.calls.load(Ordering::SeqCst), calls, "a failing model is not asked again right away");
    let health = chat.seller.stored("seller-fashion").await?;
    let (_, bytes) = health.iter().find(|(k, _)| k == "model:chat").context("the model's health is stored")?;
    let health: agent_store_seller::Health = serde_json::from_slice(bytes)?;
    assert_eq!(health.failures, 1);
    assert!(health.paused_until.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_model_falls_back_to_the_offline_brain() -> Result<()> {
    let server = fake_openai().await?;
    server.mode.store(FAIL, Ordering::SeqCst);
    let mut chat = Chat::new("fashion", seller_with_model(&server)?, catalog()?);
    let events = chat.say("Hi Luna!").await?;
    assert_eq!(engine(&events)?, "rules");
    assert!(said(&events)?.contains("Luna"), "{}", said(&events)?);
    assert_eq!(server.calls.load(Ordering::SeqCst), 1, "one call, no rewording attempt after the failure");
    let events = chat.say("show me white sneakers").await?;
    assert_eq!(engine(&events)?, "rules");
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);
    Ok(())
}
