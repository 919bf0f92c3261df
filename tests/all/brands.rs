//! A brand joins the running store and leaves it: `store.brand.onboarded`
//! and `store.brand.removed`, as the host publishes them when a brand's
//! package is deployed or removed, delivered to the real shared components
//! (the WhatsApp gateway, the product catalog, the order processor, the
//! sales assistant) in the real runtime, each with its sandbox from the
//! repository's `spin.toml`. Nothing restarts in between: the same loaded
//! components and stores serve the five built-in brands and the new one.
//!
//! The new brand is `sports` of `tests/fixtures/brands/sports/`, on the
//! number 100000000000006; fashion keeps 100000000000001 from the
//! `whatsapp_brand_numbers` default.

use agent_store_events::{ChatMessageNew, ChatResponse, OutboundMessage, WhatsAppMessageSend, ext, types};
use agent_store_testing::{Harness, data, event, workspace_root};
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use cloudevents::{AttributesReader, AttributesWriter, Event};
use serde_json::{Value, json};

const SPORTS_NUMBER: &str = "100000000000006";
const FASHION_NUMBER: &str = "100000000000001";
const APP_SECRET: &str = "brands-app-secret";
const CUSTOMER: &str = "34600000042";
const CATALOG: &str = "http://product-catalog.spin.internal";
const ROUTER: &str = "http://event-router.spin.internal";
const SANDBOX: &str = "http://whatsapp-sandbox.spin.internal";

fn fixture(name: &str) -> Result<String> {
    let path = workspace_root().join("tests/fixtures/brands/sports").join(name);
    std::fs::read_to_string(&path).with_context(|| path.display().to_string())
}

fn sports_catalog() -> Result<Value> {
    Ok(serde_json::from_str(&fixture("catalog.json")?)?)
}

/// `store.brand.onboarded` as the host publishes it.
fn onboarded(brand: &str, number: &str, catalog: Value, persona: &str, version: &str) -> Event {
    let mut e = event(
        types::BRAND_ONBOARDED,
        json!({ "brand": brand, "whatsapp_number": number, "catalog": catalog, "persona": persona, "version": version }),
    );
    e.set_source("/agent-store/host");
    e.set_extension(ext::BRAND, brand);
    e
}

fn sports_onboarded() -> Result<Event> {
    Ok(onboarded("sports", SPORTS_NUMBER, sports_catalog()?, &fixture("persona.toml")?, "sha256:sports-1"))
}

fn removed(brand: &str, number: &str) -> Event {
    let mut e = event(types::BRAND_REMOVED, json!({ "brand": brand, "whatsapp_number": number }));
    e.set_source("/agent-store/host");
    e.set_extension(ext::BRAND, brand);
    e
}

/// Delivers `event` and expects it taken, with nothing emitted.
async fn accepted(component: &Harness, event: Event) -> Result<()> {
    let sent = component.send(event).await;
    let events = sent.events()?;
    ensure!(events.is_empty(), "nothing to emit, got {events:?}");
    Ok(())
}

/// Delivers `event` and expects it refused as a bad event (a dead letter);
/// returns the reason.
async fn refused(component: &Harness, event: Event) -> Result<String> {
    let sent = component.send(event).await;
    let error = sent.error().with_context(|| format!("must be refused, emitted {:?}", sent.events()))?;
    let reason = error.to_string();
    ensure!(sent.delivery.result.as_ref().is_err_and(|e| e.is_refusal()), "refused for good, not retried: {reason}");
    Ok(reason)
}

// -- the WhatsApp gateway ---------------------------------------------------------------

fn gateway() -> Result<Harness> {
    Harness::component("whatsapp-gateway").variable("app_secret", APP_SECRET).variable("hash_salt", "salt").build()
}

/// A signed webhook with one text message from [`CUSTOMER`] to `number`;
/// returns what the gateway published.
async fn write_to(gateway: &Harness, number: &str, wamid: &str, text: &str) -> Result<Vec<Event>> {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000006", "phone_number_id": number},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": "1749416383", "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string();
    let signature = agent_store::cli::chat::signature(APP_SECRET, body.as_bytes());
    let request = http::Request::post("http://localhost/webhooks/whatsapp")
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(Bytes::from(body))?;
    let response = gateway.http(request).await?;
    ensure!(response.status() == 200, "the webhook answered {}", response.status());
    Ok(gateway.take_published())
}

fn brand_of(event: &Event) -> Option<String> {
    event.extension(ext::BRAND).map(|v| v.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_serves_an_onboarded_number_and_answers_for_a_removed_one() -> Result<()> {
    let gateway = gateway()?;
    let sandbox = Harness::component("whatsapp-sandbox").build()?;
    gateway.chain(&sandbox);

    assert!(write_to(&gateway, SPORTS_NUMBER, "wamid.s0", "hola").await?.is_empty(), "nobody's number yet");

    accepted(&gateway, sports_onboarded()?).await?;
    let learned = gateway.stored("whatsapp-brands").await?;
    accepted(&gateway, sports_onboarded()?).await?;
    assert_eq!(gateway.stored("whatsapp-brands").await?, learned, "the same version twice is the same state");

    let published = write_to(&gateway, SPORTS_NUMBER, "wamid.s1", "quiero zapatillas de trail").await?;
    let chat: Vec<&Event> = published.iter().filter(|e| e.ty() == types::CHAT_MESSAGE_NEW).collect();
    assert_eq!(chat.len(), 1, "{published:?}");
    let message: ChatMessageNew = serde_json::from_value(data(chat[0]))?;
    assert_eq!((message.brand.as_str(), brand_of(chat[0]).as_deref()), ("sports", Some("sports")));
    assert_eq!(message.text, "quiero zapatillas de trail");
    // The built-in brands are as they were.
    let fashion = write_to(&gateway, FASHION_NUMBER, "wamid.f1", "hello").await?;
    assert!(fashion.iter().any(|e| e.ty() == types::CHAT_MESSAGE_NEW && brand_of(e).as_deref() == Some("fashion")));

    accepted(&gateway, removed("sports", SPORTS_NUMBER)).await?;
    let retired = gateway.stored("whatsapp-brands").await?;
    accepted(&gateway, removed("sports", SPORTS_NUMBER)).await?;
    assert_eq!(gateway.stored("whatsapp-brands").await?, retired, "a removal redelivered changes nothing");

    let published = write_to(&gateway, SPORTS_NUMBER, "wamid.s2", "hello, are you there?").await?;
    let types: Vec<&str> = published.iter().map(|e| e.ty()).collect();
    assert_eq!(types, [types::WHATSAPP_MESSAGE_SEND], "an answer, and nothing for a seller");
    let answer: WhatsAppMessageSend = serde_json::from_value(data(&published[0]))?;
    let OutboundMessage::Text { body, .. } = &answer.message else { panic!("a text answer: {answer:?}") };
    assert!(body.contains("no longer in service"), "{body}");
    // A customer who keeps writing gets the same answer event, sent once.
    let again = write_to(&gateway, SPORTS_NUMBER, "wamid.s3", "hello??").await?;
    assert_eq!(again.iter().map(|e| e.id()).collect::<Vec<_>>(), [published[0].id()]);

    // The answer really goes out, from the brand's number to the customer.
    accepted(&gateway, published[0].clone()).await?;
    let inbox = sandbox
        .http(http::Request::get(format!("{SANDBOX}/sandbox/whatsapp/messages?to={CUSTOMER}")).body(Bytes::new())?)
        .await?;
    let inbox: Value = serde_json::from_slice(inbox.body())?;
    let texts: Vec<String> = inbox["messages"].as_array().into_iter().flatten().map(|m| m.to_string()).collect();
    assert!(texts.iter().any(|m| m.contains("no longer in service") && m.contains(SPORTS_NUMBER)), "{inbox}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_package_takes_another_brands_number() -> Result<()> {
    let gateway = gateway()?;
    let persona = fixture("persona.toml")?;
    // fashion's number, from the whatsapp_brand_numbers variable.
    let evil = onboarded("evil", FASHION_NUMBER, json!({ "brand": "evil" }), &persona, "v1");
    assert!(refused(&gateway, evil).await?.contains("belongs to brand fashion"));
    // A learned brand's number.
    accepted(&gateway, sports_onboarded()?).await?;
    let evil = onboarded("evil", SPORTS_NUMBER, json!({ "brand": "evil" }), &persona, "v1");
    assert!(refused(&gateway, evil).await?.contains("belongs to brand sports"));
    // A built-in brand's name with a number of its own.
    let fashion = onboarded("fashion", "100000000000099", json!({ "brand": "fashion" }), &persona, "v1");
    assert!(refused(&gateway, fashion).await?.contains("brand_numbers"));
    // An event whose brand extension says another brand than its data.
    let mut lying = onboarded("evil", "100000000000098", json!({ "brand": "evil" }), &persona, "v1");
    lying.set_extension(ext::BRAND, "fashion");
    assert!(refused(&gateway, lying).await?.contains("brand extension"));
    // An event cannot retire a configured brand.
    assert!(refused(&gateway, removed("fashion", FASHION_NUMBER)).await?.contains("brand_numbers"));

    let fashion = write_to(&gateway, FASHION_NUMBER, "wamid.f1", "hello").await?;
    assert!(fashion.iter().any(|e| e.ty() == types::CHAT_MESSAGE_NEW && brand_of(e).as_deref() == Some("fashion")));
    let sports = write_to(&gateway, SPORTS_NUMBER, "wamid.s1", "hello").await?;
    assert!(sports.iter().any(|e| e.ty() == types::CHAT_MESSAGE_NEW && brand_of(e).as_deref() == Some("sports")));
    assert!(write_to(&gateway, "100000000000098", "wamid.e1", "hello").await?.is_empty(), "nobody's");
    Ok(())
}

// -- the product catalog and the order processor ---------------------------------------

async fn search(catalog: &Harness, brand: Option<&str>, text: &str) -> Result<Vec<String>> {
    let mut query = event(types::PRODUCT_QUERY, json!({ "request_id": "q-1", "brand": brand, "text": text }));
    if let Some(brand) = brand {
        query.set_extension(ext::BRAND, brand);
    }
    let result = catalog.send(query).await.one(types::PRODUCT_QUERY_RESULT)?;
    let ids = data(&result)["products"].as_array().into_iter().flatten().map(|p| p["id"].to_string()).collect();
    Ok(ids)
}

fn order_request(request_id: &str, brand: &str, product: &str) -> Event {
    let mut request = event(
        types::ORDER_CREATE,
        json!({
            "request_id": request_id,
            "conversation": format!("cv-{brand}-1"),
            "brand": brand,
            "customer": {"id": "cus-1", "name": "Ana"},
            "language": "en",
            "lines": [{"product_id": product, "quantity": 2}],
        }),
    );
    request.set_extension(ext::BRAND, brand);
    request.set_extension(ext::CONVERSATION, format!("cv-{brand}-1"));
    request.set_extension(ext::CORRELATION, request_id);
    request
}

async fn stock(catalog: &Harness, product: &str) -> Result<Value> {
    let response = catalog.http(http::Request::get(format!("{CATALOG}/stock/{product}")).body(Bytes::new())?).await?;
    Ok(serde_json::from_slice(response.body())?)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_onboarded_brand_is_searched_ordered_and_spoken_for_then_withdrawn() -> Result<()> {
    let catalog = Harness::component("product-catalog").build()?;
    let orders = Harness::component("order-processor")
        .variable("payment_hook_secret", "pay-secret")
        .variable("shipping_hook_secret", "ship-secret")
        .variable("api_token", "orders-token")
        .allowed_outbound_hosts(&[CATALOG, ROUTER])
        .build()?;
    orders.chain(&catalog);

    assert!(search(&catalog, Some("sports"), "running shoes").await?.is_empty(), "not onboarded yet");

    accepted(&catalog, sports_onboarded()?).await?;
    let kept = catalog.stored("catalog").await?;
    accepted(&catalog, sports_onboarded()?).await?;
    assert_eq!(catalog.stored("catalog").await?, kept, "the same version twice is the same state");
    accepted(&orders, sports_onboarded()?).await?;
    accepted(&orders, sports_onboarded()?).await?;

    // Searched like any brand, in its customers' words, and across brands.
    assert_eq!(search(&catalog, Some("sports"), "zapatillas").await?, ["\"spt-001\"", "\"spt-002\""]);
    assert!(search(&catalog, None, "bottle").await?.contains(&"\"spt-003\"".to_string()));
    assert!(!search(&catalog, Some("fashion"), "vestido").await?.is_empty(), "fashion as before");
    let mut recommend =
        event(types::PRODUCT_RECOMMEND, json!({ "request_id": "r-1", "brand": "sports", "product_id": "spt-001" }));
    recommend.set_extension(ext::BRAND, "sports");
    let picks = data(&catalog.send(recommend).await.one(types::PRODUCT_RECOMMEND_RESULT)?);
    assert!(picks["recommendations"].to_string().contains("spt-00"), "{picks}");

    // Ordered: the catalog reserves and prices, the order processor creates.
    let created = orders.send(order_request("oc-sports", "sports", "spt-001")).await.one(types::ORDER_CREATED)?;
    let order = &data(&created)["order"];
    assert_eq!((order["brand"].as_str(), order["total"]["amount_minor"].as_i64()), (Some("sports"), Some(2 * 8990)));
    assert_eq!(stock(&catalog, "spt-001").await?["reserved"], 2);

    // Paid: the customer is told in the brand's voice, signed by its seller.
    let id = order["id"].as_str().context("an order id")?.to_string();
    let payment =
        json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_s", "amount": order["total"]})
            .to_string();
    let signature = agent_store::cli::chat::signature("pay-secret", payment.as_bytes());
    let response = orders
        .http(
            http::Request::post("http://localhost/orders/hooks/payment")
                .header("content-type", "application/json")
                .header("x-agent-store-signature", signature)
                .body(Bytes::from(payment))?,
        )
        .await?;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
    let notice = orders.take_published().into_iter().find(|e| e.ty() == types::CHAT_RESPONSE).context("a notice")?;
    let notice: ChatResponse = serde_json::from_value(data(&notice))?;
    let OutboundMessage::Text { body, .. } = &notice.messages[0] else { panic!("a text notice") };
    assert!(body.contains(&id) && body.ends_with("— Leo"), "{body}");

    // Removed: no longer offered, nor orderable; its stock counters stay.
    accepted(&catalog, removed("sports", SPORTS_NUMBER)).await?;
    accepted(&catalog, removed("sports", SPORTS_NUMBER)).await?;
    assert!(search(&catalog, Some("sports"), "zapatillas").await?.is_empty());
    assert!(!search(&catalog, None, "bottle").await?.iter().any(|id| id.contains("spt-")));
    let rejected = orders.send(order_request("oc-late", "sports", "spt-003")).await.one(types::ORDER_REJECTED)?;
    assert_eq!(data(&rejected)["reason"]["kind"], "unknown_product", "{}", data(&rejected));
    let counters = catalog.stored("catalog").await?;
    assert!(counters.iter().any(|(key, _)| key == "reserved:spt-001" || key == "sold:spt-001"), "{counters:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_catalog_or_persona_is_refused_and_changes_nothing() -> Result<()> {
    let catalog = Harness::component("product-catalog").build()?;
    let persona = fixture("persona.toml")?;
    let good = sports_catalog()?;
    let mut dangling = good.clone();
    dangling["products"][0]["related"] = json!(["spt-999"]);
    let mut stolen_id = good.clone();
    stolen_id["products"][0]["id"] = json!("fsh-001");
    let mut wrong_currency = good.clone();
    wrong_currency["products"][1]["price"]["currency"] = json!("EUR");
    for (bad, why) in [
        (dangling, "spt-999"),
        (stolen_id, "fsh-001"),
        (wrong_currency, "EUR"),
        (json!({ "brand": "sports" }), "invalid JSON"),
        (json!({ "brand": "fashion", "display_name": "x", "currency": "USD", "products": [] }), "declares brand"),
    ] {
        let reason = refused(&catalog, onboarded("sports", SPORTS_NUMBER, bad, &persona, "v-bad")).await?;
        assert!(reason.contains(why), "{why}: {reason}");
    }
    // A built-in brand's catalog cannot be replaced by a package.
    let mut fashion = good.clone();
    fashion["brand"] = json!("fashion");
    assert!(
        refused(&catalog, onboarded("fashion", "100000000000099", fashion, &persona, "v1")).await?.contains("mounted")
    );
    assert!(catalog.stored("catalog").await?.is_empty(), "nothing kept: {:?}", catalog.stored("catalog").await?);
    assert!(search(&catalog, Some("sports"), "zapatillas").await?.is_empty());
    assert_eq!(
        search(&catalog, Some("fashion"), "Linen").await?,
        search(&Harness::component("product-catalog").build()?, Some("fashion"), "Linen").await?
    );

    // The order processor reads the persona, and refuses one it cannot sign with.
    let orders = Harness::component("order-processor").build()?;
    let impostor = persona.replace("brand = \"sports\"", "brand = \"fashion\"");
    assert!(
        refused(&orders, onboarded("sports", SPORTS_NUMBER, good.clone(), &impostor, "v1")).await?.contains("fashion")
    );
    assert!(refused(&orders, onboarded("fashion", FASHION_NUMBER, good, &persona, "v1")).await?.contains("built-in"));
    assert!(orders.stored("orders").await?.is_empty());
    Ok(())
}

// -- the sales assistant ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_sales_assistant_queues_an_onboarded_brands_escalation() -> Result<()> {
    // It keeps no brand list: a human seller of every brand (or of `sports`)
    // sees the new brand's escalations as soon as its seller escalates.
    let desk = Harness::component("sales-assistant")
        .variable("api_tokens", "tok-all=ana,tok-sports=leo:sports,tok-fashion=fiona:fashion")
        .allowed_outbound_hosts(&[ROUTER])
        .build()?;
    let mut escalate = event(
        types::SALES_ESCALATE,
        json!({
            "escalation_id": "esc-sports-1",
            "conversation": "cv-sports-1",
            "brand": "sports",
            "customer": { "id": "cus-1", "name": "Ana" },
            "reason": "customer_request",
            "sentiment": 0.4,
            "summary": "Wants help choosing trail shoes.",
            "escalated_at": chrono::Utc::now().to_rfc3339(),
        }),
    );
    escalate.set_extension(ext::BRAND, "sports");
    escalate.set_extension(ext::CONVERSATION, "cv-sports-1");
    desk.send(escalate).await.events()?;
    for (token, sees) in [("tok-all", true), ("tok-sports", true), ("tok-fashion", false)] {
        let request = http::Request::get("http://localhost/sales/escalations")
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::new())?;
        let answer: Value = serde_json::from_slice(desk.http(request).await?.body())?;
        assert_eq!(answer["queued"].to_string().contains("esc-sports-1"), sees, "{token}: {answer}");
    }
    Ok(())
}
