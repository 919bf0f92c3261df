//! The sales assistant in the real runtime: escalations and chat events in,
//! the sellers' API over its HTTP handler, insights and published events
//! out.
//!
//! What the API publishes goes to the harness's event router, which keeps
//! it to be read back. A broker outage is a desk whose event router cannot
//! be reached (the outbound request is refused), sharing the same state.

use std::sync::Arc;

use agent_store_events::{
    EscalationAccepted, EscalationReleased, EscalationWaiting, InsightKind, SalesInsight, ext, types,
};
use agent_store_runtime::capabilities::llm::{Embeddings, InferParams, Inference, LlmBackend, LlmError, Models};
use agent_store_testing::{Harness, data, event};
use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::{Duration, Utc};
use cloudevents::{AttributesReader, Event};
use serde_json::{Value, json};

/// Tokens of the sellers these tests use.
const TOKENS: &str = "tok-ana=ana,tok-bruno=bruno,tok-carla=carla,tok-davi=davi,tok-eva=eva";

/// Where the API publishes.
const ROUTER: &str = "http://event-router.spin.internal";

struct Desk {
    h: Harness,
}

fn desk() -> Result<Desk> {
    desk_with(Models::default(), &[ROUTER])
}

fn desk_with(models: Models, allowed: &[&str]) -> Result<Desk> {
    let h = Harness::component("sales-assistant")
        .variable("api_tokens", TOKENS)
        .allowed_outbound_hosts(allowed)
        .models(models)
        .build()?;
    Ok(Desk { h })
}

/// A desk with some of its bounds (`escalation_ttl`, `max_queued`…) set.
fn desk_bounded(variables: &[(&str, &str)]) -> Result<Desk> {
    let mut builder =
        Harness::component("sales-assistant").variable("api_tokens", TOKENS).allowed_outbound_hosts(&[ROUTER]);
    for (name, value) in variables {
        builder = builder.variable(name, value);
    }
    Ok(Desk { h: builder.build()? })
}

/// The hand-backs among `events`: (escalation id, note), checked for what
/// every hand-back carries.
fn hand_backs(events: &[Event]) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for event in events.iter().filter(|e| e.ty() == types::SALES_ESCALATION_RELEASED) {
        let released: EscalationReleased = serde_json::from_value(data(event))?;
        assert_eq!(released.seller_id, "sales-assistant", "nobody took it");
        assert_eq!(serde_json::to_value(released.resolution)?, "unresolved");
        assert_eq!(event.id(), format!("expired:{}", released.escalation_id), "one id per hand-back");
        assert_eq!(event.extension(ext::BRAND).map(|v| v.to_string()), Some(released.brand.to_string()));
        assert_eq!(event.extension(ext::CONVERSATION).map(|v| v.to_string()), Some(released.conversation.to_string()));
        found.push((released.escalation_id, released.note.unwrap_or_default()));
    }
    Ok(found)
}

/// A response's status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Desk {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Result<Answer> {
        let mut request = http::Request::builder().method(method).uri(format!("http://localhost{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let response = self.h.http(request.header("content-type", "application/json").body(body)?).await?;
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    async fn get(&self, path: &str, token: &str) -> Result<Answer> {
        self.call("GET", path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Result<Answer> {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Delivers an event and returns what the assistant emitted.
    async fn send(&self, event: Event) -> Result<Vec<Event>> {
        self.h.send(event).await.events()
    }

    fn published(&self) -> Vec<Event> {
        self.h.published()
    }

    /// Copies this desk's state into `other`, as if both were replicas on one store.
    async fn copy_state_to(&self, other: &Desk) -> Result<()> {
        for (key, value) in self.h.stored("sales").await? {
            other.h.store("sales", &key, &value).await?;
        }
        Ok(())
    }

    fn published_of(&self, ty: &str) -> Vec<Event> {
        self.published().into_iter().filter(|e| e.ty() == ty).collect()
    }
}

fn on(mut e: Event, brand: &str, conversation: &str) -> Event {
    e.set_extension(ext::BRAND, brand);
    e.set_extension(ext::CONVERSATION, conversation);
    e
}

fn escalate(
    id: &str,
    brand: &str,
    conversation: &str,
    sentiment: f32,
    cart_minor: Option<i64>,
    minutes_ago: i64,
) -> Event {
    let mut data = json!({
        "escalation_id": id,
        "conversation": conversation,
        "brand": brand,
        "customer": { "id": format!("cus-{conversation}"), "name": "Ana Maria" },
        "reason": "low_sentiment",
        "sentiment": sentiment,
        "summary": "The customer is upset.",
        "escalated_at": (Utc::now() - Duration::minutes(minutes_ago)).to_rfc3339(),
    });
    if let Some(amount) = cart_minor {
        data["cart"] = json!({
            "items": [{ "product_id": "fsh-001", "name": "Linen Shirt", "quantity": 1, "unit_price": { "amount_minor": amount, "currency": "USD" } }],
            "subtotal": { "amount_minor": amount, "currency": "USD" }
        });
    }
    on(event(types::SALES_ESCALATE, data), brand, conversation)
}

fn message(brand: &str, conversation: &str, id: &str, text: &str) -> Event {
    let data = json!({
        "conversation": conversation,
        "brand": brand,
        "customer": { "id": format!("cus-{conversation}"), "name": "Ana Maria" },
        "message_id": id,
        "text": text,
        "content": { "kind": "text", "body": text },
        "received_at": Utc::now().to_rfc3339(),
    });
    on(event(types::CHAT_MESSAGE_NEW, data), brand, conversation)
}

fn ai_reply(brand: &str, conversation: &str, text: &str) -> Event {
    let data = json!({
        "conversation": conversation,
        "brand": brand,
        "from": { "kind": "ai", "agent": "Luna" },
        "messages": [{ "kind": "text", "body": text }],
    });
    on(event(types::CHAT_RESPONSE, data), brand, conversation)
}

fn insight_of(event: &Event) -> Result<SalesInsight> {
    serde_json::from_value(data(event)).context("a SalesInsight")
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().into_iter().flatten().filter_map(|e| e["escalation_id"].as_str().map(str::to_string)).collect()
}

// -- queue ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_is_ordered_by_priority() -> Result<()> {
    let desk = desk()?;
    // calm, big cart, fresh: 0.5×0.3 + 0.3×1 = 0.45
    desk.send(escalate("esc-cart", "fashion", "cv-1", 0.7, Some(30_000), 0)).await?;
    // furious, no cart, fresh: 0.5×0.95 = 0.475
    desk.send(escalate("esc-angry", "fashion", "cv-2", 0.05, None, 0)).await?;
    // calm, small cart, waiting 40 minutes: 0.5×0.3 + 0.3×0.05 + 0.2 = 0.365
    desk.send(escalate("esc-waiting", "tech", "cv-3", 0.7, Some(1_000), 40)).await?;
    // calm, nothing, fresh: 0.15
    desk.send(escalate("esc-calm", "home", "cv-4", 0.7, None, 0)).await?;

    let answer = desk.get("/sales/escalations", "tok-ana").await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(ids(&answer.body["queued"]), ["esc-angry", "esc-cart", "esc-waiting", "esc-calm"]);
    assert_eq!(answer.body["queued"][0]["priority"], 0.475);
    assert_eq!(answer.body["seller_id"], "ana");
    assert_eq!(answer.body["mine"], json!([]));

    // A customer who writes while waiting is told their place in that order,
    // not in the order they asked.
    for (brand, conversation, escalation, place) in
        [("tech", "cv-3", "esc-waiting", 3), ("fashion", "cv-2", "esc-angry", 1)]
    {
        let emitted = desk.send(message(brand, conversation, &format!("wamid.{conversation}"), "hello?")).await?;
        assert_eq!(emitted.len(), 1, "{conversation}: {emitted:?}");
        assert_eq!(emitted[0].ty(), types::SALES_ESCALATION_WAITING);
        assert_eq!(emitted[0].extension(ext::CONVERSATION).map(|v| v.to_string()).as_deref(), Some(conversation));
        let waiting: EscalationWaiting = serde_json::from_value(data(&emitted[0]))?;
        assert_eq!(
            (waiting.escalation_id.as_str(), waiting.position, waiting.queued, waiting.message_id.as_str()),
            (escalation, place, 4, format!("wamid.{conversation}").as_str())
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_escalation_is_queued_once() -> Result<()> {
    let desk = desk()?;
    let first = desk.send(escalate("esc-1", "fashion", "cv-1", 0.2, None, 0)).await?;
    let again = desk.send(escalate("esc-1", "fashion", "cv-1", 0.2, None, 0)).await?;
    let queue = desk.get("/sales/escalations", "tok-ana").await?;
    assert_eq!(ids(&queue.body["queued"]), ["esc-1"]);
    // Both deliveries answer with the same insight, so nothing is lost if
    // the first answer was.
    assert_eq!(first.len(), 1);
    assert_eq!(insight_of(&first[0])?.insight_id, insight_of(&again[0])?.insight_id);
    let analytics = desk.get("/sales/analytics", "tok-ana").await?;
    assert_eq!(analytics.body["brands"]["fashion"]["escalations"], 1, "{}", analytics.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_escalations_are_refused() -> Result<()> {
    let desk = desk()?;
    for bad in [escalate("", "fashion", "cv-1", 0.2, None, 0), escalate("esc/../x", "fashion", "cv-1", 0.2, None, 0)] {
        let sent = desk.h.send(bad).await;
        let error = sent.error().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("escalation_id"), "{error}");
    }
    let sent = desk.h.send(event(types::SALES_ESCALATE, json!({ "escalation_id": "x" }))).await;
    assert!(sent.error().is_some(), "a payload that does not fit is refused");
    Ok(())
}

// -- the API's door ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_api_needs_a_seller_token() -> Result<()> {
    let desk = desk()?;
    for token in [None, Some("nope"), Some("tok-ana2"), Some("")] {
        let answer = desk.call("GET", "/sales/escalations", token, None).await?;
        assert_eq!(answer.status, 401, "{token:?}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap_or_default().contains("Bearer"), "{}", answer.body);
    }
    assert_eq!(desk.get("/sales/escalations", "tok-ana").await?.status, 200);
    assert_eq!(desk.get("/sales/nothing-here", "tok-ana").await?.status, 404);
    assert_eq!(desk.get("/sales/escalations/esc-missing", "tok-ana").await?.status, 404);
    assert_eq!(desk.call("DELETE", "/sales/escalations", Some("tok-ana"), None).await?.status, 405);
    Ok(())
}

/// Sellers scoped to brands next to one with an old, unscoped token.
const SCOPED_TOKENS: &str = "tok-fiona=fiona:fashion,tok-tomas=tomas:tech+gaming,tok-ana=ana";

#[tokio::test(flavor = "multi_thread")]
async fn a_seller_sees_and_acts_on_only_their_brands() -> Result<()> {
    let desk = Desk {
        h: Harness::component("sales-assistant")
            .variable("api_tokens", SCOPED_TOKENS)
            .allowed_outbound_hosts(&[ROUTER])
            .build()?,
    };
    desk.send(message("tech", "cv-t", "wamid.t1", "My laptop arrived broken, I want my money back")).await?;
    desk.send(escalate("esc-tech", "tech", "cv-t", 0.1, Some(160_000), 0)).await?;
    desk.send(message("fashion", "cv-f", "wamid.f1", "Do you have this in blue?")).await?;
    desk.send(escalate("esc-fashion", "fashion", "cv-f", 0.4, None, 0)).await?;

    // Fiona works for fashion: the tech escalation does not exist for her,
    // whatever she asks, and asking changes nothing.
    let queue = desk.get("/sales/escalations", "tok-fiona").await?;
    assert_eq!(ids(&queue.body["queued"]), ["esc-fashion"], "{}", queue.body);
    for path in ["/sales/escalations/esc-tech", "/sales/escalations/esc-tech/suggestions"] {
        let answer = desk.get(path, "tok-fiona").await?;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        let wrong_id = desk.get("/sales/escalations/esc-nope", "tok-fiona").await?.body;
        assert_eq!(answer.body.to_string(), wrong_id.to_string().replace("esc-nope", "esc-tech"), "like a wrong id");
        assert!(!answer.body.to_string().contains("money back"), "no transcript: {}", answer.body);
    }
    let accept = desk.post("/sales/escalations/esc-tech/accept", "tok-fiona", json!({})).await?;
    assert_eq!(accept.status, 404, "{}", accept.body);
    assert!(desk.published_of(types::SALES_ESCALATION_ACCEPTED).is_empty());
    assert_eq!(ids(&desk.get("/sales/escalations", "tok-tomas").await?.body["queued"]), ["esc-tech"], "still queued");

    // Tomas takes it; Fiona can neither answer the customer nor hand it back.
    assert_eq!(desk.post("/sales/escalations/esc-tech/accept", "tok-tomas", json!({})).await?.status, 200);
    let reply =
        desk.post("/sales/escalations/esc-tech/reply", "tok-fiona", json!({ "text": "Hi, Fiona here" })).await?;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let release =
        desk.post("/sales/escalations/esc-tech/release", "tok-fiona", json!({ "resolution": "resolved" })).await?;
    assert_eq!(release.status, 404, "{}", release.body);
    assert!(desk.published_of(types::CHAT_RESPONSE).is_empty());
    assert_eq!(desk.post("/sales/escalations/esc-fashion/accept", "tok-fiona", json!({})).await?.status, 200);
    assert_eq!(ids(&desk.get("/sales/escalations", "tok-tomas").await?.body["queued"]), Vec::<String>::new());

    // Her analytics are fashion's and her own; an unscoped token sees all.
    let mine = desk.get("/sales/analytics", "tok-fiona").await?.body;
    let brands: Vec<&String> = mine["brands"].as_object().context("brands")?.keys().collect();
    assert_eq!(brands, ["fashion"], "{mine}");
    let sellers: Vec<&String> = mine["sellers"].as_object().context("sellers")?.keys().collect();
    assert_eq!(sellers, ["fiona"], "{mine}");
    assert_eq!(mine["queue"]["in_progress"], 1, "{mine}");
    let all = desk.get("/sales/analytics", "tok-ana").await?.body;
    assert_eq!(all["brands"].as_object().map(|b| b.len()), Some(2), "{all}");
    assert_eq!(all["queue"]["in_progress"], 2, "{all}");
    // The old token=seller form still means every brand.
    desk.send(escalate("esc-home", "home", "cv-h", 0.4, None, 0)).await?;
    assert_eq!(ids(&desk.get("/sales/escalations", "tok-ana").await?.body["queued"]), ["esc-home"]);
    assert_eq!(desk.get("/sales/escalations/esc-home", "tok-ana").await?.status, 200);
    assert_eq!(desk.get("/sales/escalations/esc-fashion", "tok-ana").await?.status, 403, "Fiona's, not hidden");
    for scoped in ["tok-fiona", "tok-tomas"] {
        assert_eq!(ids(&desk.get("/sales/escalations", scoped).await?.body["queued"]), Vec::<String>::new());
        assert_eq!(desk.get("/sales/escalations/esc-home", scoped).await?.status, 404);
    }
    Ok(())
}

// -- accepting ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn of_sellers_accepting_at_once_exactly_one_wins() -> Result<()> {
    let desk = Arc::new(desk()?);
    desk.send(escalate("esc-race", "gaming", "cv-race", 0.1, None, 0)).await?;
    let tokens = ["tok-ana", "tok-bruno", "tok-carla", "tok-davi", "tok-eva"];
    let calls: Vec<_> = tokens
        .iter()
        .map(|token| {
            let desk = desk.clone();
            let token = token.to_string();
            tokio::spawn(async move { desk.post("/sales/escalations/esc-race/accept", &token, json!({})).await })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut winner = None;
    for (call, token) in calls.into_iter().zip(tokens) {
        let answer = call.await??;
        if answer.status == 200 {
            winner = Some(token.trim_start_matches("tok-").to_string());
        } else {
            assert!(answer.body["error"].as_str().unwrap_or_default().contains("another seller"), "{}", answer.body);
        }
        statuses.push(answer.status);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409]);
    let winner = winner.context("a winner")?;

    let accepted = desk.published_of(types::SALES_ESCALATION_ACCEPTED);
    assert_eq!(accepted.len(), 1, "one accept, one event");
    let payload: EscalationAccepted = serde_json::from_value(data(&accepted[0]))?;
    assert_eq!((payload.escalation_id.as_str(), payload.seller_id.as_str()), ("esc-race", winner.as_str()));
    assert_eq!(accepted[0].source().to_string(), "/agent-store/sales-assistant");
    assert_eq!(accepted[0].extension(ext::BRAND).map(|v| v.to_string()).as_deref(), Some("gaming"));
    assert_eq!(accepted[0].extension(ext::CONVERSATION).map(|v| v.to_string()).as_deref(), Some("cv-race"));

    // The winner sees it as theirs; the queue is empty for everyone.
    let queue = desk.get("/sales/escalations", &format!("tok-{winner}")).await?;
    assert_eq!(ids(&queue.body["mine"]), ["esc-race"]);
    assert_eq!(ids(&queue.body["queued"]), Vec::<String>::new());
    // Accepting again is harmless for the winner and publishes nothing.
    assert_eq!(desk.post("/sales/escalations/esc-race/accept", &format!("tok-{winner}"), json!({})).await?.status, 200);
    assert_eq!(desk.published_of(types::SALES_ESCALATION_ACCEPTED).len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accept_that_cannot_be_published_puts_the_escalation_back() -> Result<()> {
    // The same escalation on a desk that cannot reach the event router…
    let down = desk_with(Models::default(), &[])?;
    down.send(escalate("esc-1", "home", "cv-1", 0.2, None, 0)).await?;
    let answer = down.post("/sales/escalations/esc-1/accept", "tok-ana", json!({})).await?;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body["error"].as_str().unwrap_or_default().contains("try again"), "{}", answer.body);
    let queue = down.get("/sales/escalations", "tok-bruno").await?;
    assert_eq!(ids(&queue.body["queued"]), ["esc-1"], "still waiting for someone");
    assert_eq!(ids(&down.get("/sales/escalations", "tok-ana").await?.body["mine"]), Vec::<String>::new());

    // …and once the router is back, another seller takes it.
    let up = desk()?;
    down.copy_state_to(&up).await?;
    assert_eq!(up.post("/sales/escalations/esc-1/accept", "tok-bruno", json!({})).await?.status, 200);
    assert_eq!(up.published_of(types::SALES_ESCALATION_ACCEPTED).len(), 1);
    Ok(())
}

// -- working the conversation --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_human_sees_the_transcript_from_before_the_escalation_and_replies() -> Result<()> {
    let desk = desk()?;
    desk.send(message("fashion", "cv-7", "wamid.1", "Hi, do you have linen shirts?")).await?;
    desk.send(ai_reply("fashion", "cv-7", "Yes! The Linen Shirt is USD 39.92.")).await?;
    desk.send(message("fashion", "cv-7", "wamid.2", "That's way too expensive")).await?;
    desk.send(message("fashion", "cv-7", "wamid.2", "That's way too expensive")).await?; // redelivered
    desk.send(escalate("esc-7", "fashion", "cv-7", 0.2, Some(3_992), 1)).await?;

    // Not accepted yet: a reply is refused.
    let early = desk.post("/sales/escalations/esc-7/reply", "tok-ana", json!({ "text": "Hello" })).await?;
    assert_eq!(early.status, 409, "{}", early.body);

    assert_eq!(desk.post("/sales/escalations/esc-7/accept", "tok-ana", json!({})).await?.status, 200);
    let detail = desk.get("/sales/escalations/esc-7", "tok-ana").await?;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let lines: Vec<(&str, &str)> = detail.body["transcript"]
        .as_array()
        .context("a transcript")?
        .iter()
        .map(|l| (l["from"].as_str().unwrap_or_default(), l["text"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        lines,
        [
            ("customer", "Hi, do you have linen shirts?"),
            ("ai", "Yes! The Linen Shirt is USD 39.92."),
            ("customer", "That's way too expensive")
        ]
    );
    assert_eq!(detail.body["escalation"]["status"], "accepted");
    assert_eq!(detail.body["escalation"]["cart"]["subtotal"]["amount_minor"], 3992);
    assert_eq!(detail.body["suggestions"]["objections"][0]["kind"], "price");
    // Another seller may not look into an accepted conversation.
    assert_eq!(desk.get("/sales/escalations/esc-7", "tok-bruno").await?.status, 403);
    assert_eq!(desk.post("/sales/escalations/esc-7/reply", "tok-bruno", json!({ "text": "Hi" })).await?.status, 403);

    let answer = desk
        .post(
            "/sales/escalations/esc-7/reply",
            "tok-ana",
            json!({ "text": " I can offer the Cotton Shirt at USD 24.90. " }),
        )
        .await?;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let responses = desk.published_of(types::CHAT_RESPONSE);
    assert_eq!(responses.len(), 1);
    assert_eq!(
        data(&responses[0]),
        json!({
            "conversation": "cv-7",
            "brand": "fashion",
            "from": { "kind": "human", "seller_id": "ana" },
            "messages": [{ "kind": "text", "body": "I can offer the Cotton Shirt at USD 24.90." }]
        })
    );
    assert_eq!(responses[0].id(), answer.body["event_id"].as_str().unwrap_or_default());
    assert_eq!(responses[0].extension(ext::CONVERSATION).map(|v| v.to_string()).as_deref(), Some("cv-7"));

    // Bad replies are refused with the reason.
    for body in [json!({ "text": "  " }), json!({ "text": "x".repeat(5000) }), json!({ "words": "hi" })] {
        assert_eq!(desk.post("/sales/escalations/esc-7/reply", "tok-ana", body).await?.status, 400);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_message_into_an_accepted_escalation_brings_an_objection_insight() -> Result<()> {
    let desk = desk()?;
    desk.send(escalate("esc-9", "tech", "cv-9", 0.25, None, 0)).await?;
    // Before anyone accepts, messages are recorded and bring no insight:
    // only the customer's place in the queue, for their AI seller to tell.
    let waiting = desk.send(message("tech", "cv-9", "wamid.a", "hello?")).await?;
    assert_eq!(waiting.iter().map(|e| e.ty()).collect::<Vec<_>>(), [types::SALES_ESCALATION_WAITING]);
    desk.post("/sales/escalations/esc-9/accept", "tok-carla", json!({})).await?;

    let emitted = desk.send(message("tech", "cv-9", "wamid.b", "¿Cuándo llega? El envío tarda demasiado")).await?;
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0].ty(), types::SALES_INSIGHT);
    assert_eq!(emitted[0].extension(ext::CONVERSATION).map(|v| v.to_string()).as_deref(), Some("cv-9"));
    let insight = insight_of(&emitted[0])?;
    assert_eq!(insight.kind, InsightKind::Objection);
    assert_eq!(insight.title, "Objection: delivery");
    assert_eq!(insight.escalation_id.as_deref(), Some("esc-9"));
    assert_eq!(insight.seller_id.as_deref(), Some("carla"));
    assert!(insight.detail.contains("Déjame revisar el envío más rápido"), "a Spanish draft: {}", insight.detail);
    // Ids only: neither the customer's name nor their words.
    let text = data(&emitted[0]).to_string();
    assert!(!text.contains("Ana Maria") && !text.contains("tarda demasiado") && !text.contains("cus-cv-9"), "{text}");

    let plain = desk.send(message("tech", "cv-9", "wamid.c", "ok")).await?;
    assert_eq!(insight_of(&plain[0])?.kind, InsightKind::Escalation, "no objection: a fresh draft");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn suggestions_follow_the_objection_and_the_language() -> Result<()> {
    let desk = desk()?;
    let cases = [
        ("price", "en", "This is too expensive", "I understand, price matters."),
        ("price", "es", "Es muy caro, ¿tienen descuento?", "Entiendo, el precio es importante."),
        ("price", "pt", "Está muito caro, tem desconto?", "Entendo, o preço é importante."),
        ("quality", "en", "Is the quality good? The last one broke", "Good question, quality matters to us too."),
        ("quality", "es", "La calidad es mala, se rompió", "Buena pregunta, la calidad también nos importa."),
        ("quality", "pt", "A qualidade é boa? O meu quebrou", "Boa pergunta, a qualidade também importa para nós."),
        ("delivery", "en", "How long does shipping take?", "I hear you, you need it on time."),
        ("delivery", "es", "¿Cuándo llega el envío?", "Te entiendo, lo necesitas a tiempo."),
        ("delivery", "pt", "Qual o prazo de entrega?", "Entendo, você precisa disso no prazo."),
        ("trust", "en", "Is this a scam? Can I get a refund?", "That's a fair question."),
        ("trust", "es", "¿Es una estafa? No sé si confiar", "Es una pregunta justa."),
        ("trust", "pt", "Isso é golpe? Tem garantia?", "É uma pergunta justa."),
    ];
    for (n, (kind, language, text, draft)) in cases.into_iter().enumerate() {
        let conversation = format!("cv-s{n}");
        desk.send(message("beauty", &conversation, &format!("wamid.s{n}"), text)).await?;
        desk.send(escalate(&format!("esc-s{n}"), "beauty", &conversation, 0.4, None, 0)).await?;
        let answer = desk.get(&format!("/sales/escalations/esc-s{n}/suggestions"), "tok-ana").await?;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let s = &answer.body;
        assert_eq!(s["objections"][0]["kind"], kind, "{text}: {s}");
        assert!(!s["objections"][0]["strategy"].as_str().unwrap_or_default().is_empty());
        assert_eq!(s["language"], language, "{text}");
        assert_eq!(s["drafts"][0]["source"], "template");
        assert!(s["drafts"][0]["text"].as_str().unwrap_or_default().starts_with(draft), "{text}: {s}");
        assert!(s["model_error"].as_str().unwrap_or_default().contains("no model configured"), "{s}");
    }
    Ok(())
}

/// A model that always answers the same.
struct Scripted(Result<String, LlmError>);

#[async_trait::async_trait]
impl LlmBackend for Scripted {
    async fn infer(&self, _: &str, prompt: &str, _: &InferParams) -> Result<Inference, LlmError> {
        assert!(prompt.contains("Customer: Es muy caro"), "the prompt has the conversation: {prompt}");
        self.0.clone().map(|text| Inference { text, prompt_tokens: 50, generated_tokens: 12 })
    }

    async fn embed(&self, _: &str, _: &[String]) -> Result<Embeddings, LlmError> {
        Err(LlmError::ModelNotSupported)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_model_its_draft_comes_first_and_the_templates_stay() -> Result<()> {
    let desk = desk_with(
        Models::default().with("chat", Arc::new(Scripted(Ok("Te entiendo. ¿Vemos una opción más económica?".into())))),
        &[ROUTER],
    )?;
    desk.send(message("home", "cv-m", "wamid.m", "Es muy caro")).await?;
    let emitted = desk.send(escalate("esc-m", "home", "cv-m", 0.2, None, 0)).await?;
    assert!(insight_of(&emitted[0])?.detail.contains("Suggested reply (model): Te entiendo."));
    let s = desk.get("/sales/escalations/esc-m/suggestions", "tok-ana").await?.body;
    assert_eq!(s["drafts"][0], json!({ "text": "Te entiendo. ¿Vemos una opción más económica?", "source": "model" }));
    assert_eq!(s["drafts"][1]["source"], "template");
    assert!(s.get("model_error").is_none(), "{s}");
    let usage = desk.h.models().usage();
    assert_eq!(usage.len(), 2, "the event (brand home) and the API call (no brand): {usage:?}");
    assert!(usage.iter().all(|row| row.component == "sales-assistant" && row.prompt_tokens == 50));

    let failing = desk_with(
        Models::default()
            .with("chat", Arc::new(Scripted(Err(LlmError::Runtime("the model server timed out after 8s".into()))))),
        &[ROUTER],
    )?;
    failing.send(message("home", "cv-f", "wamid.f", "Es muy caro")).await?;
    failing.send(escalate("esc-f", "home", "cv-f", 0.2, None, 0)).await?;
    let s = failing.get("/sales/escalations/esc-f/suggestions", "tok-ana").await?.body;
    assert_eq!(s["model_error"], "the model server timed out after 8s");
    assert_eq!(s["drafts"][0]["source"], "template", "the templates stand in: {s}");
    Ok(())
}

// -- release and analytics ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn releasing_hands_back_with_resolution_and_note() -> Result<()> {
    let desk = desk()?;
    desk.send(escalate("esc-r", "beauty", "cv-r", 0.2, None, 3)).await?;
    desk.post("/sales/escalations/esc-r/accept", "tok-eva", json!({})).await?;
    assert_eq!(
        desk.post("/sales/escalations/esc-r/release", "tok-eva", json!({ "resolution": "won" })).await?.status,
        400
    );
    assert_eq!(
        desk.post("/sales/escalations/esc-r/release", "tok-ana", json!({ "resolution": "resolved" })).await?.status,
        403
    );

    let answer = desk
        .post(
            "/sales/escalations/esc-r/release",
            "tok-eva",
            json!({ "resolution": "resolved", "note": "Explained the return policy." }),
        )
        .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["escalation"]["status"], "released");
    let released = desk.published_of(types::SALES_ESCALATION_RELEASED);
    assert_eq!(released.len(), 1);
    let payload: EscalationReleased = serde_json::from_value(data(&released[0]))?;
    assert_eq!(payload.seller_id, "eva");
    assert_eq!(payload.note.as_deref(), Some("Explained the return policy."));
    assert_eq!(serde_json::to_value(payload.resolution)?, "resolved");

    // The release carries a performance insight with the running figures.
    let insights: Vec<SalesInsight> =
        desk.published_of(types::SALES_INSIGHT).iter().map(insight_of).collect::<Result<_>>()?;
    let performance = insights.iter().find(|i| i.kind == InsightKind::Performance).context("a performance insight")?;
    assert_eq!(performance.seller_id.as_deref(), Some("eva"));
    assert!(performance.metrics["time_to_accept_s"] >= 180.0, "{:?}", performance.metrics);
    assert_eq!(performance.metrics["seller_released"], 1.0);

    // Done: no more replies, no second release, gone from the seller's list.
    assert_eq!(desk.post("/sales/escalations/esc-r/reply", "tok-eva", json!({ "text": "hi" })).await?.status, 409);
    assert_eq!(
        desk.post("/sales/escalations/esc-r/release", "tok-eva", json!({ "resolution": "sold" })).await?.status,
        409
    );
    assert_eq!(desk.post("/sales/escalations/esc-r/accept", "tok-ana", json!({})).await?.status, 409);
    assert_eq!(desk.get("/sales/escalations", "tok-eva").await?.body["mine"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_count_rates_times_resolutions_and_conversions() -> Result<()> {
    let desk = desk()?;
    for (conversation, id) in [("cv-a1", "m1"), ("cv-a2", "m2"), ("cv-a3", "m3"), ("cv-a4", "m4")] {
        desk.send(message("fashion", conversation, id, "hola")).await?;
    }
    desk.send(message("fashion", "cv-a1", "m5", "hola otra vez")).await?; // same conversation
    desk.send(escalate("esc-a", "fashion", "cv-a1", 0.2, Some(5_000), 2)).await?;
    desk.post("/sales/escalations/esc-a/accept", "tok-ana", json!({})).await?;
    desk.post("/sales/escalations/esc-a/reply", "tok-ana", json!({ "text": "Hola, soy Ana." })).await?;
    // The reply comes back through the broker as the assistant subscribes to responses.
    let reply = desk.published_of(types::CHAT_RESPONSE).pop().context("the reply")?;
    desk.send(reply.clone()).await?;
    desk.send(reply).await?; // redelivered: counted once

    let order = json!({
        "request_id": "r-1",
        "order": {
            "id": "ord-1", "conversation": "cv-a1", "brand": "fashion", "customer": { "id": "cus-cv-a1" },
            "lines": [], "subtotal": { "amount_minor": 5000, "currency": "USD" },
            "discount": { "amount_minor": 0, "currency": "USD" }, "total": { "amount_minor": 5000, "currency": "USD" },
            "status": "created", "created_at": Utc::now().to_rfc3339()
        }
    });
    let emitted = desk.send(on(event(types::ORDER_CREATED, order.clone()), "fashion", "cv-a1")).await?;
    assert_eq!(insight_of(&emitted[0])?.kind, InsightKind::BuyingSignal);
    assert!(desk.send(on(event(types::ORDER_CREATED, order), "fashion", "cv-a1")).await?.is_empty(), "converted once");
    desk.post("/sales/escalations/esc-a/release", "tok-ana", json!({ "resolution": "sold" })).await?;

    let report = desk.get("/sales/analytics", "tok-bruno").await?.body;
    let fashion = &report["brands"]["fashion"];
    assert_eq!(fashion["conversations"], 4, "{report}");
    assert_eq!(fashion["escalations"], 1);
    assert_eq!(fashion["escalation_rate"], 0.25);
    assert_eq!(fashion["by_reason"], json!({ "low_sentiment": 1 }));
    assert_eq!(fashion["accepted"], 1);
    assert!(fashion["avg_time_to_accept_s"].as_f64().unwrap_or_default() >= 120.0, "{report}");
    assert_eq!(fashion["resolutions"], json!({ "sold": 1 }));
    assert_eq!((fashion["conversions"].clone(), fashion["conversion_rate"].clone()), (json!(1), json!(1.0)));
    let ana = &report["sellers"]["ana"];
    assert_eq!(
        (ana["accepted"].clone(), ana["replies"].clone(), ana["released"].clone()),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(ana["conversions"], 1);
    assert_eq!(report["queue"]["waiting"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_conversations_are_forgotten_escalated_ones_are_kept() -> Result<()> {
    let desk = desk()?;
    let old = (Utc::now() - Duration::hours(3)).to_rfc3339();
    let quiet = json!({ "brand": "tech", "last_at": old, "transcript": [], "seen": [], "counted": true });
    desk.h.store("sales", "conv/cv-quiet", quiet.to_string().as_bytes()).await?;
    desk.send(escalate("esc-old", "tech", "cv-open", 0.2, None, 200)).await?;
    let open = json!({ "brand": "tech", "last_at": old, "transcript": [], "seen": [], "counted": true, "escalation_id": "esc-old" });
    desk.h.store("sales", "conv/cv-open", open.to_string().as_bytes()).await?;

    desk.send(message("tech", "cv-new", "wamid.n", "hi")).await?;
    let keys: Vec<String> = desk.h.stored("sales").await?.into_iter().map(|(k, _)| k).collect();
    assert!(!keys.contains(&"conv/cv-quiet".to_string()), "{keys:?}");
    assert!(keys.contains(&"conv/cv-open".to_string()), "an open escalation keeps its conversation: {keys:?}");
    assert!(keys.contains(&"conv/cv-new".to_string()));
    Ok(())
}

// -- bounds ------------------------------------------------------------------------------

/// A queued escalation nobody takes expires after `escalation_ttl`: it
/// leaves the queue, cannot be accepted any more, and the AI seller gets the
/// conversation back, told again until it speaks. Whichever comes first
/// expires it: the customer writing, a seller looking, or the clean-up.
#[tokio::test(flavor = "multi_thread")]
async fn a_queued_escalation_expires_and_the_ai_seller_takes_the_conversation_back() -> Result<()> {
    let desk = desk_bounded(&[("escalation_ttl", "1s")])?;
    desk.send(escalate("esc-wait", "tech", "cv-w", 0.2, None, 0)).await?;
    desk.send(escalate("esc-api", "home", "cv-a", 0.2, None, 0)).await?;
    desk.send(escalate("esc-swept", "gaming", "cv-s", 0.2, None, 0)).await?;
    assert_eq!(ids(&desk.get("/sales/escalations", "tok-ana").await?.body["queued"]).len(), 3);
    // The clean-up runs now, with nothing due, and not again for a while.
    assert!(desk.send(message("beauty", "cv-other", "wamid.o1", "hi")).await?.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The customer writes into the silence: the AI seller is told…
    let emitted = desk.send(message("tech", "cv-w", "wamid.w1", "hello? anyone?")).await?;
    let backs = hand_backs(&emitted)?;
    assert_eq!(backs.len(), 1, "{backs:?}");
    assert_eq!(backs[0].0, "esc-wait");
    assert!(backs[0].1.contains("expired"), "{backs:?}");
    // …and told again while it has not spoken, in case that was lost…
    let again = desk.send(message("tech", "cv-w", "wamid.w2", "hello??")).await?;
    assert_eq!(hand_backs(&again)?.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["esc-wait"]);
    // …but not once it has the conversation again.
    desk.send(ai_reply("tech", "cv-w", "I'm back! Anything else I can help you with?")).await?;
    assert!(hand_backs(&desk.send(message("tech", "cv-w", "wamid.w3", "ok")).await?)?.is_empty());

    // A seller looking at one expires it, and publishes the hand-back.
    let detail = desk.get("/sales/escalations/esc-api", "tok-ana").await?;
    assert_eq!(detail.body["escalation"]["status"], "expired", "{}", detail.body);
    let published = hand_backs(&desk.published_of(types::SALES_ESCALATION_RELEASED))?;
    assert_eq!(published.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["esc-api"]);

    // The clean-up finds the one nobody touched.
    let long_ago = json!({ "at": (Utc::now() - Duration::hours(1)).to_rfc3339(), "after": null });
    desk.h.store("sales", "sweep", long_ago.to_string().as_bytes()).await?;
    let swept = hand_backs(&desk.send(message("beauty", "cv-other", "wamid.o2", "hi again")).await?)?;
    assert_eq!(swept.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["esc-swept"]);

    assert_eq!(ids(&desk.get("/sales/escalations", "tok-ana").await?.body["queued"]), Vec::<String>::new());
    let detail = desk.get("/sales/escalations/esc-wait", "tok-ana").await?;
    let escalation = &detail.body["escalation"];
    assert_eq!((escalation["status"].as_str(), escalation["expiry"].as_str()), (Some("expired"), Some("unanswered")));
    let accept = desk.post("/sales/escalations/esc-wait/accept", "tok-ana", json!({})).await?;
    assert_eq!(accept.status, 409, "{}", accept.body);
    assert!(accept.body["error"].as_str().unwrap_or_default().contains("expired"), "{}", accept.body);
    assert!(desk.published_of(types::SALES_ESCALATION_ACCEPTED).is_empty());
    let report = desk.get("/sales/analytics", "tok-ana").await?.body;
    for brand in ["tech", "home", "gaming"] {
        assert_eq!(report["brands"][brand]["expired"], 1, "{brand}: {report}");
    }
    assert_eq!(report["queue"]["waiting"], 0);
    let index = desk.h.stored("sales").await?.into_iter().find(|(k, _)| k == "index/queued");
    assert_eq!(index.map(|(_, v)| serde_json::from_slice::<Vec<String>>(&v)).transpose()?, Some(Vec::new()));
    Ok(())
}

/// At most `max_queued` escalations wait: one more goes back to its AI
/// seller at once, on every delivery, and never into the queue.
#[tokio::test(flavor = "multi_thread")]
async fn the_queue_is_bounded() -> Result<()> {
    let desk = desk_bounded(&[("max_queued", "3")])?;
    for n in 0..3 {
        let emitted = desk.send(escalate(&format!("esc-{n}"), "fashion", &format!("cv-{n}"), 0.2, None, 0)).await?;
        assert_eq!(emitted[0].ty(), types::SALES_INSIGHT, "queued: {n}");
    }
    for n in 3..6 {
        let emitted = desk.send(escalate(&format!("esc-{n}"), "fashion", &format!("cv-{n}"), 0.2, None, 0)).await?;
        let backs = hand_backs(&emitted)?;
        assert_eq!(backs.len(), 1, "{n}: {emitted:?}");
        assert!(backs[0].1.contains("full"), "{backs:?}");
    }
    let redelivered = desk.send(escalate("esc-4", "fashion", "cv-4", 0.2, None, 0)).await?;
    assert_eq!(hand_backs(&redelivered)?.len(), 1, "a redelivery hands back again, it does not queue");
    let queue = desk.get("/sales/escalations", "tok-ana").await?;
    assert_eq!(ids(&queue.body["queued"]).len(), 3, "{}", queue.body);
    let stored = desk.h.stored("sales").await?;
    let index = stored.iter().find(|(k, _)| k == "index/queued").context("the queue")?;
    assert_eq!(serde_json::from_slice::<Vec<String>>(&index.1)?.len(), 3);
    assert_eq!(desk.get("/sales/analytics", "tok-ana").await?.body["brands"]["fashion"]["expired"], 3);

    // A place frees up when a seller takes one.
    assert_eq!(desk.post("/sales/escalations/esc-0/accept", "tok-ana", json!({})).await?.status, 200);
    let emitted = desk.send(escalate("esc-6", "fashion", "cv-6", 0.2, None, 0)).await?;
    assert_eq!(emitted[0].ty(), types::SALES_INSIGHT);
    Ok(())
}

/// How long a quiet conversation is kept is the `conversation_ttl` variable.
#[tokio::test(flavor = "multi_thread")]
async fn how_long_quiet_conversations_are_kept_is_a_setting() -> Result<()> {
    let desk = desk_bounded(&[("conversation_ttl", "4h")])?;
    let old = (Utc::now() - Duration::hours(3)).to_rfc3339();
    let older = (Utc::now() - Duration::hours(5)).to_rfc3339();
    for (key, at) in [("conv/cv-3h", &old), ("conv/cv-5h", &older)] {
        let quiet = json!({ "brand": "tech", "last_at": at, "transcript": [], "seen": [], "counted": true });
        desk.h.store("sales", key, quiet.to_string().as_bytes()).await?;
    }
    desk.send(message("tech", "cv-new", "wamid.n", "hi")).await?;
    let keys: Vec<String> = desk.h.stored("sales").await?.into_iter().map(|(k, _)| k).collect();
    assert!(keys.contains(&"conv/cv-3h".to_string()), "kept within 4 hours: {keys:?}");
    assert!(!keys.contains(&"conv/cv-5h".to_string()), "{keys:?}");

    let bad = desk_bounded(&[("escalation_ttl", "soon")])?;
    let sent = bad.h.send(message("tech", "cv-x", "wamid.x", "hi")).await;
    assert!(sent.error().map(|e| e.to_string()).unwrap_or_default().contains("escalation_ttl"), "named");
    assert_eq!(bad.get("/sales/escalations", "tok-ana").await?.status, 500);
    Ok(())
}

// -- what the sellers' console shows ---------------------------------------------------

fn status(conversation: &str, status: &str, at: chrono::DateTime<Utc>) -> Event {
    let data = json!({
        "message_id": "wm-0123", "conversation": conversation, "brand": "fashion",
        "status": status, "timestamp": at.to_rfc3339(),
    });
    on(event(types::WHATSAPP_MESSAGE_STATUS, data), "fashion", conversation)
}

fn statuses(detail: &Value) -> Vec<(String, Option<String>)> {
    detail["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| (l["from"].as_str().unwrap_or_default().to_string(), l["status"].as_str().map(str::to_string)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_detail_has_product_cards_the_cart_orders_and_delivery_marks() -> Result<()> {
    let desk = desk()?;
    desk.send(message("fashion", "cv-9", "wamid.9", "White sneakers?")).await?;
    let card = json!({
        "conversation": "cv-9", "brand": "fashion", "from": { "kind": "ai", "agent": "Luna" },
        "messages": [
            { "kind": "text", "body": "Here you go:" },
            { "kind": "product_card", "product": { "id": "fsh-022", "name": "White Sneakers",
              "price": { "amount_minor": 5990, "currency": "USD" }, "image_url": "https://cdn.example/fsh-022.jpg" } }
        ],
    });
    desk.send(on(event(types::CHAT_RESPONSE, card), "fashion", "cv-9")).await?;
    let item = |id: &str, minor: i64| json!({ "product_id": id, "name": id, "quantity": 1, "unit_price": { "amount_minor": minor, "currency": "USD" } });
    let added = json!({
        "conversation": "cv-9", "brand": "fashion", "customer": { "id": "cus-cv-9" }, "item": item("fsh-022", 5990),
        "cart": { "items": [item("fsh-001", 3992), item("fsh-022", 5990)], "subtotal": { "amount_minor": 9982, "currency": "USD" } },
    });
    desk.send(on(event(types::CART_ITEM_ADDED, added), "fashion", "cv-9")).await?;
    desk.send(message("fashion", "cv-9", "wamid.10", "This is taking forever!!")).await?;
    desk.send(escalate("esc-9", "fashion", "cv-9", 0.1, Some(3_992), 0)).await?;

    let detail = desk.get("/sales/escalations/esc-9", "tok-ana").await?;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let body = &detail.body;
    assert_eq!(body["transcript"][1]["text"], "Here you go:\n[product: White Sneakers]", "{body}");
    assert_eq!(body["transcript"][1]["products"][0]["id"], "fsh-022", "the card, as a card: {body}");
    assert_eq!(body["transcript"][1]["products"][0]["price"]["amount_minor"], 5990);
    assert!(body["transcript"][0].get("products").is_none());
    // The cart as it last changed, not as the escalation carried it.
    assert_eq!(body["cart"]["subtotal"]["amount_minor"], 9982, "{body}");
    assert_eq!(body["orders"], json!([]));
    let line = |from: &str, status: Option<&str>| (from.to_string(), status.map(str::to_string));
    assert_eq!(statuses(body), [line("customer", None), line("ai", Some("sent")), line("customer", None)]);

    // WhatsApp reports: delivered, then read; an older report changes nothing.
    let after = Utc::now() + Duration::seconds(2);
    desk.send(status("cv-9", "delivered", after)).await?;
    let detail = desk.get("/sales/escalations/esc-9?suggestions=false", "tok-ana").await?;
    assert_eq!(statuses(&detail.body)[1].1.as_deref(), Some("delivered"), "{}", detail.body);
    desk.send(status("cv-9", "read", after)).await?;
    desk.send(status("cv-9", "delivered", after - Duration::minutes(5))).await?;
    desk.send(status("cv-9", "failed", after)).await?;
    let detail = desk.get("/sales/escalations/esc-9?suggestions=false", "tok-ana").await?;
    assert_eq!(statuses(&detail.body)[1].1.as_deref(), Some("read"), "{}", detail.body);

    // A status or a cart of a conversation the assistant never saw starts none.
    desk.send(status("cv-unknown", "read", after)).await?;
    desk.send(added_cart("cv-stray")).await?;
    let keys: Vec<String> = desk.h.stored("sales").await?.into_iter().map(|(k, _)| k).collect();
    assert!(!keys.iter().any(|k| k.contains("cv-unknown") || k.contains("cv-stray")), "{keys:?}");

    // An order placed in the conversation.
    let order = json!({
        "request_id": "req-9",
        "order": {
            "id": "ord-9", "conversation": "cv-9", "brand": "fashion", "customer": { "id": "cus-cv-9" },
            "lines": [{ "product_id": "fsh-022", "name": "White Sneakers", "quantity": 2,
                        "unit_price": { "amount_minor": 5990, "currency": "USD" }, "line_total": { "amount_minor": 11980, "currency": "USD" } }],
            "subtotal": { "amount_minor": 11980, "currency": "USD" }, "discount": { "amount_minor": 0, "currency": "USD" },
            "total": { "amount_minor": 11980, "currency": "USD" }, "status": "created", "created_at": Utc::now().to_rfc3339(),
        }
    });
    desk.send(on(event(types::ORDER_CREATED, order.clone()), "fashion", "cv-9")).await?;
    desk.send(on(event(types::ORDER_CREATED, order), "fashion", "cv-9")).await?; // redelivered
    let detail = desk.get("/sales/escalations/esc-9?suggestions=false", "tok-ana").await?;
    assert_eq!(
        detail.body["orders"],
        json!([{ "id": "ord-9", "status": "created", "items": 2, "total": { "amount_minor": 11980, "currency": "USD" },
                 "created_at": detail.body["orders"][0]["created_at"] }]),
        "{}",
        detail.body
    );
    Ok(())
}

fn added_cart(conversation: &str) -> Event {
    let item = json!({ "product_id": "p", "name": "P", "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "USD" } });
    let data = json!({
        "conversation": conversation, "brand": "fashion", "customer": { "id": "c" }, "item": item,
        "cart": { "items": [item], "subtotal": { "amount_minor": 100, "currency": "USD" } },
    });
    on(event(types::CART_ITEM_ADDED, data), "fashion", conversation)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_page_is_public_and_the_api_it_calls_is_not() -> Result<()> {
    let desk = desk()?;
    for (path, kind) in [("/sales/console", "text/html"), ("/sales/console/console.js", "text/javascript")] {
        let request =
            http::Request::builder().method("GET").uri(format!("http://localhost{path}")).body(Bytes::new())?;
        let response = desk.h.http(request).await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(header("content-type").starts_with(kind), "{path}: {}", header("content-type"));
        assert!(header("content-security-policy").contains("script-src 'self'"), "{path}");
    }
    assert_eq!(desk.call("GET", "/sales/escalations", None, None).await?.status, 401);
    assert_eq!(desk.call("GET", "/sales/analytics", None, None).await?.status, 401);
    Ok(())
}
