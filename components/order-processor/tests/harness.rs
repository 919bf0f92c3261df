//! The order processor in the real runtime, with the real product catalog
//! chained to it at `product-catalog.spin.internal` (its own key-value store,
//! the real brand files), and what it publishes through
//! `event-router.spin.internal` recorded by the harness, as the host would
//! publish it.

use agent_store_events::{
    ChatResponse, OrderCreated, OrderRejected, OutboundMessage, RejectionReason, Responder, ext, types,
};
use agent_store_testing::{Harness, data, event};
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};
use order_processor::auth::sign;
use serde_json::{Value, json};

const PAYMENT_SECRET: &str = "test-payment-secret";
const SHIPPING_SECRET: &str = "test-shipping-secret";
const API_TOKEN: &str = "test-api-token";

const CATALOG: &str = "http://product-catalog.spin.internal";
const ROUTER: &str = "http://event-router.spin.internal";

struct App {
    orders: Harness,
    catalog: Harness,
}

fn catalog() -> Result<Harness> {
    Harness::component("product-catalog").build()
}

/// The order processor as the manifest configures it, reaching `hosts`.
fn order_processor(hosts: &[&str]) -> Result<Harness> {
    order_processor_signed_with(hosts, PAYMENT_SECRET, SHIPPING_SECRET)
}

fn order_processor_signed_with(hosts: &[&str], payment: &str, shipping: &str) -> Result<Harness> {
    Harness::component("order-processor")
        .variable("payment_hook_secret", payment)
        .variable("shipping_hook_secret", shipping)
        .variable("api_token", API_TOKEN)
        .allowed_outbound_hosts(hosts)
        .build()
}

/// The secret the provider of a kind of hook signs with.
fn secret_of(kind: &str) -> &'static str {
    match kind {
        "payment" => PAYMENT_SECRET,
        _ => SHIPPING_SECRET,
    }
}

impl App {
    fn new() -> Result<Self> {
        let catalog = catalog()?;
        let orders = order_processor(&[CATALOG, ROUTER])?;
        orders.chain(&catalog);
        Ok(Self { orders, catalog })
    }

    fn published(&self) -> Vec<Event> {
        self.orders.take_published()
    }

    async fn create(&self, data: Value) -> Result<Event> {
        let mut request = event(types::ORDER_CREATE, data.clone());
        request.set_extension(ext::CORRELATION, data["request_id"].as_str().unwrap_or_default().to_string());
        request.set_extension(ext::BRAND, data["brand"].as_str().unwrap_or_default().to_string());
        request.set_extension(ext::CONVERSATION, data["conversation"].as_str().unwrap_or_default().to_string());
        let sent = self.orders.send(request).await;
        let events = sent.events()?;
        ensure!(events.len() == 1, "one answer, got {events:?}\n{}", sent.output());
        Ok(events[0].clone())
    }

    async fn created(&self, data: Value) -> Result<OrderCreated> {
        let answer = self.create(data).await?;
        ensure!(answer.ty() == types::ORDER_CREATED, "expected created, got {}: {}", answer.ty(), data_of(&answer));
        Ok(serde_json::from_value(data_of(&answer))?)
    }

    async fn rejected(&self, data: Value) -> Result<OrderRejected> {
        let answer = self.create(data).await?;
        ensure!(answer.ty() == types::ORDER_REJECTED, "expected rejected, got {}: {}", answer.ty(), data_of(&answer));
        Ok(serde_json::from_value(data_of(&answer))?)
    }

    async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(u16, Value)> {
        let mut builder = http::Request::builder().method(method).uri(format!("http://localhost{path}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self.orders.http(builder.body(Bytes::copy_from_slice(body))?).await?;
        Ok((response.status().as_u16(), serde_json::from_slice(response.body()).unwrap_or(Value::Null)))
    }

    /// A hook posted with a valid signature.
    async fn hook(&self, kind: &str, body: Value) -> Result<(u16, Value)> {
        self.hook_signed_with(kind, secret_of(kind), body).await
    }

    /// A hook posted signed with `secret`.
    async fn hook_signed_with(&self, kind: &str, secret: &str, body: Value) -> Result<(u16, Value)> {
        let body = body.to_string();
        let signature = sign(secret.as_bytes(), body.as_bytes());
        let headers = [("content-type", "application/json"), ("x-agent-store-signature", signature.as_str())];
        self.request("POST", &format!("/orders/hooks/{kind}"), &headers, body.as_bytes()).await
    }

    async fn api(&self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Value)> {
        let bearer = format!("Bearer {API_TOKEN}");
        self.request(method, path, &[("authorization", bearer.as_str())], body).await
    }

    async fn stock(&self, product: &str) -> Result<Value> {
        let request = http::Request::get(format!("{CATALOG}/stock/{product}")).body(Bytes::new())?;
        let response = self.catalog.http(request).await?;
        Ok(serde_json::from_slice(response.body())?)
    }
}

fn data_of(event: &Event) -> Value {
    data(event)
}

fn order_request(request_id: &str, brand: &str, lines: Value) -> Value {
    json!({
        "request_id": request_id,
        "conversation": format!("cv-{brand}-1"),
        "brand": brand,
        "customer": {"id": "cus-1", "name": "Ana"},
        "lines": lines,
    })
}

/// The notices published for the customer, as (text, from) pairs.
fn notices(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.ty() == types::CHAT_RESPONSE)
        .map(|e| {
            let response: ChatResponse = serde_json::from_value(data(e)).expect("a chat response");
            assert_eq!(response.from, Responder::System);
            assert!(response.validate().is_ok());
            match &response.messages[..] {
                [OutboundMessage::Text { body, .. }] => body.clone(),
                other => panic!("one text message expected: {other:?}"),
            }
        })
        .collect()
}

fn types_of(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.ty().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_priced_by_the_catalog_and_holds_stock() -> Result<()> {
    let app = App::new()?;
    let mut request = order_request(
        "oc-1",
        "fashion",
        json!([{"product_id": "fsh-001", "quantity": 1}, {"product_id": "fsh-024", "quantity": 2}, {"product_id": "fsh-001", "quantity": 1}]),
    );
    request["expected_total"] = json!({"amount_minor": 2 * 7565 + 2 * 9900, "currency": "USD"});
    let answer = app.create(request.clone()).await?;
    assert_eq!(answer.ty(), types::ORDER_CREATED);
    assert_eq!(answer.source().to_string(), "/agent-store/order-processor");
    for (name, value) in [(ext::CORRELATION, "oc-1"), (ext::BRAND, "fashion"), (ext::CONVERSATION, "cv-fashion-1")] {
        assert_eq!(answer.extension(name).map(|v| v.to_string()).as_deref(), Some(value), "{name}");
    }
    let created: OrderCreated = serde_json::from_value(data(&answer))?;
    let order = &created.order;
    assert_eq!(created.request_id, "oc-1");
    assert!(order.id.as_str().starts_with("ord-"));
    assert_eq!(order.lines.len(), 2, "the two dress lines merge");
    assert_eq!((order.lines[0].name.as_str(), order.lines[0].quantity), ("Linen Wrap Midi Dress", 2));
    assert_eq!(order.lines[0].unit_price.amount_minor, 7565, "the promotion applies");
    assert_eq!(order.total.amount_minor, 2 * 7565 + 2 * 9900);
    assert_eq!(order.subtotal, order.total);
    assert!(order.discount.is_zero());
    assert_eq!(app.stock("fsh-024").await?["reserved"], 2);

    // Redelivered: the same order, no second reservation.
    let again: OrderCreated = serde_json::from_value(data(&app.create(request).await?))?;
    assert_eq!(again, created);
    assert_eq!(app.stock("fsh-024").await?["reserved"], 2);
    let stored = app.orders.stored("orders").await?;
    assert_eq!(stored.iter().filter(|(k, _)| k.starts_with("order:")).count(), 1);
    assert!(app.published().is_empty(), "the seller tells the customer about a new order");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_orders_say_why_in_the_customers_language() -> Result<()> {
    let app = App::new()?;
    let rejected = app.rejected(order_request("oc-empty", "tech", json!([]))).await?;
    assert_eq!(rejected.reason, RejectionReason::EmptyOrder);

    let rejected =
        app.rejected(order_request("oc-many", "tech", json!([{"product_id": "tec-001", "quantity": 21}]))).await?;
    assert_eq!(rejected.reason, RejectionReason::InvalidQuantity { product_id: "tec-001".into(), quantity: 21 });

    let rejected =
        app.rejected(order_request("oc-zero", "tech", json!([{"product_id": "tec-001", "quantity": 0}]))).await?;
    assert!(matches!(rejected.reason, RejectionReason::InvalidQuantity { quantity: 0, .. }));

    let rejected =
        app.rejected(order_request("oc-made-up", "tech", json!([{"product_id": "tec-999", "quantity": 1}]))).await?;
    assert_eq!(rejected.reason, RejectionReason::UnknownProduct { product_id: "tec-999".into() });

    // Another brand's product is unknown to this brand.
    let rejected =
        app.rejected(order_request("oc-cross", "tech", json!([{"product_id": "fsh-001", "quantity": 1}]))).await?;
    assert_eq!(rejected.reason, RejectionReason::UnknownProduct { product_id: "fsh-001".into() });

    // tec-014 has 2 left: the message offers them, in Spanish.
    let mut request = order_request("oc-short", "tech", json!([{"product_id": "tec-014", "quantity": 3}]));
    request["language"] = json!("es-MX");
    let rejected = app.rejected(request).await?;
    assert_eq!(rejected.reason, RejectionReason::OutOfStock { product_id: "tec-014".into(), available: 2 });
    assert!(
        rejected.message.starts_with("Lo siento, solo quedan 2 de Voltix Creator 16 Laptop"),
        "{}",
        rejected.message
    );
    assert_eq!((rejected.conversation.as_str(), rejected.brand.as_str()), ("cv-tech-1", "tech"));

    // A total that changed since the customer saw it: refused, stock released.
    let mut request = order_request("oc-stale", "tech", json!([{"product_id": "tec-014", "quantity": 1}]));
    request["expected_total"] = json!({"amount_minor": 179900, "currency": "USD"});
    let rejected = app.rejected(request.clone()).await?;
    let RejectionReason::TotalMismatch { expected, actual } = &rejected.reason else {
        panic!("{:?}", rejected.reason);
    };
    assert_eq!((expected.amount_minor, actual.amount_minor), (179900, 161910), "wfh-bundle takes 10% off");
    assert_eq!(app.stock("tec-014").await?["available"], 2, "the reservation was released");
    // The same request again gets the same answer, even though nothing changed.
    assert_eq!(app.rejected(request).await?, rejected);

    // Nothing stored but the answers.
    let stored = app.orders.stored("orders").await?;
    assert!(
        stored.iter().all(|(k, _)| k.starts_with("request:")),
        "{:?}",
        stored.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    Ok(())
}

/// A `request_id` is not a key to someone else's order: the same id from
/// another conversation or customer, or asking for something else in the
/// same conversation (a seller whose state expired numbers from 1 again),
/// is a new order; only the very same request gets the same answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_id_used_again_never_returns_someone_elses_order() -> Result<()> {
    let app = App::new()?;
    let mut ana = order_request("oc-1", "home", json!([{"product_id": "hom-001", "quantity": 1}]));
    ana["shipping"] =
        json!({"name": "Ana", "line1": "Rua A 1", "city": "Lisboa", "postal_code": "1000-001", "country": "PT"});
    let first = app.created(ana.clone()).await?.order;

    let mut bruno = order_request("oc-1", "home", json!([{"product_id": "hom-001", "quantity": 1}]));
    bruno["conversation"] = json!("cv-home-2");
    bruno["customer"] = json!({"id": "cus-2", "name": "Bruno"});
    let mut same_customer_elsewhere = ana.clone();
    same_customer_elsewhere["conversation"] = json!("cv-home-3");
    let mut later_in_the_conversation = ana.clone();
    later_in_the_conversation["lines"] = json!([{"product_id": "hom-017", "quantity": 2}]);
    let mut seen = vec![first.id.to_string()];
    for (what, request) in
        [("bruno", bruno), ("ana elsewhere", same_customer_elsewhere), ("ana later", later_in_the_conversation)]
    {
        let answer = app.create(request.clone()).await?;
        let text = data_of(&answer).to_string();
        assert!(!text.contains(first.id.as_str()), "{what} got Ana's order: {text}");
        assert!(what.starts_with("ana") || !text.contains("Rua A 1"), "{what} got Ana's address: {text}");
        let order = app.created(request.clone()).await?.order;
        assert!(!seen.contains(&order.id.to_string()), "{what}: a new order, not {seen:?}");
        assert_eq!(order.conversation.as_str(), request["conversation"].as_str().unwrap_or_default(), "{what}");
        assert_eq!(order.customer.id, request["customer"]["id"].as_str().unwrap_or_default(), "{what}");
        seen.push(order.id.to_string());
    }
    assert_eq!(app.stock("hom-001").await?["reserved"], 3, "three orders hold a unit each");

    // Ana's own request again is a redelivery: her order, nothing more held.
    assert_eq!(app.created(ana).await?.order, first);
    assert_eq!(app.stock("hom-001").await?["reserved"], 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_bad_events() -> Result<()> {
    let app = App::new()?;
    for data in [
        json!({"request_id": "oc-x", "brand": "tech"}),
        order_request("", "tech", json!([{"product_id": "tec-001", "quantity": 1}])),
        order_request("oc-neg", "tech", json!([{"product_id": "tec-001", "quantity": -1}])),
    ] {
        let sent = app.orders.send(event(types::ORDER_CREATE, data.clone())).await;
        assert!(sent.error().is_some(), "{data} must be refused: {:?}", sent.events());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_move_the_order_and_tell_the_customer() -> Result<()> {
    let app = App::new()?;
    let mut request = order_request("oc-life", "gaming", json!([{"product_id": "gam-020", "quantity": 2}]));
    request["language"] = json!("pt-BR");
    let order = app.created(request).await?.order;
    let id = order.id.to_string();
    let stock_before = app.stock("gam-020").await?;
    assert_eq!(stock_before["reserved"], 2);

    let payment =
        json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_1", "amount": order.total});
    let (status, body) = app.hook("payment", payment.clone()).await?;
    assert_eq!((status, &body["status"], &body["changed"]), (200, &json!("confirmed"), &json!(true)), "{body}");
    let events = app.published();
    assert_eq!(types_of(&events), [types::ORDER_CONFIRMED, types::CHAT_RESPONSE]);
    for event in &events {
        assert_eq!(event.extension(ext::BRAND).map(|v| v.to_string()).as_deref(), Some("gaming"));
        assert_eq!(event.extension(ext::CONVERSATION).map(|v| v.to_string()).as_deref(), Some("cv-gaming-1"));
    }
    let text = &notices(&events)[0];
    assert!(
        text.starts_with("GG! 🎮 Pagamento garantido") && text.contains(&id) && text.ends_with("— Pixel"),
        "{text}"
    );
    let stock = app.stock("gam-020").await?;
    assert_eq!((&stock["sold"], &stock["reserved"]), (&json!(2), &json!(0)), "paid units are sold");

    // The provider retries: nothing changes, nothing is published again.
    let (status, body) = app.hook("payment", payment).await?;
    assert_eq!((status, &body["changed"]), (200, &json!(false)));
    assert!(app.published().is_empty());

    let shipped = json!({"order_id": id, "status": "shipped", "carrier": "DHL", "tracking_number": "JD0142", "tracking_url": "https://dhl.example/JD0142"});
    let (status, body) = app.hook("shipping", shipped).await?;
    assert_eq!((status, &body["status"]), (200, &json!("shipped")), "{body}");
    let events = app.published();
    assert_eq!(types_of(&events), [types::ORDER_SHIPPED, types::CHAT_RESPONSE]);
    assert_eq!(data(&events[0])["tracking_number"], "JD0142");
    let text = &notices(&events)[0];
    assert!(text.contains("DHL") && text.contains("JD0142") && text.contains("https://dhl.example/JD0142"), "{text}");

    let (status, body) = app.hook("shipping", json!({"order_id": id, "status": "delivered"})).await?;
    assert_eq!((status, &body["status"]), (200, &json!("delivered")), "{body}");
    let events = app.published();
    assert_eq!(types_of(&events), [types::ORDER_DELIVERED, types::CHAT_RESPONSE]);
    assert!(notices(&events)[0].starts_with("Pedido"), "Portuguese: {:?}", notices(&events));

    // Delivered is final.
    let (status, body) = app.api("POST", &format!("/orders/{id}/cancel"), b"").await?;
    assert_eq!((status, body["error"].as_str()), (409, Some("invalid_transition")), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("returned"), "{body}");

    let (status, body) = app.api("GET", &format!("/orders/{id}"), b"").await?;
    assert_eq!(status, 200);
    assert_eq!(body["order"]["status"], "delivered");
    let history: Vec<&str> = body["history"].as_array().unwrap().iter().filter_map(|h| h["status"].as_str()).collect();
    assert_eq!(history, ["created", "confirmed", "shipped", "delivered"]);
    assert_eq!(body["payment"]["reference"], "pi_1");
    assert_eq!(body["shipment"]["carrier"], "DHL");
    assert!(body.get("outbox").is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_hooks_are_refused_and_change_nothing() -> Result<()> {
    let app = App::new()?;
    let order =
        app.created(order_request("oc-wrong", "home", json!([{"product_id": "hom-017", "quantity": 1}]))).await?.order;
    let id = order.id.to_string();

    // Unsigned, wrongly signed, signed with another secret, or a body changed after signing.
    let body =
        json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_9", "amount": order.total})
            .to_string();
    let good = sign(PAYMENT_SECRET.as_bytes(), body.as_bytes());
    let other = sign(b"not-the-secret", body.as_bytes());
    let tampered = body.replace("pi_9", "pi_0");
    for (headers, payload) in [
        (vec![], body.as_str()),
        (vec![("x-agent-store-signature", "sha256=00")], body.as_str()),
        (vec![("x-agent-store-signature", other.as_str())], body.as_str()),
        (vec![("x-agent-store-signature", good.as_str())], tampered.as_str()),
    ] {
        let (status, response) = app.request("POST", "/orders/hooks/payment", &headers, payload.as_bytes()).await?;
        assert_eq!((status, response["error"].as_str()), (401, Some("bad_signature")), "{headers:?}");
    }

    // Shipping before payment.
    let (status, body) = app
        .hook("shipping", json!({"order_id": id, "status": "shipped", "carrier": "UPS", "tracking_number": "1Z"}))
        .await?;
    assert_eq!((status, body["error"].as_str()), (409, Some("invalid_transition")), "{body}");
    assert_eq!(body["message"], format!("order {id} is created, it cannot become shipped: it is not paid yet"));
    assert_eq!((&body["from"], &body["to"]), (&json!("created"), &json!("shipped")));
    // A payment that does not pay the total; one missing its amount; a shipment without tracking.
    let (status, body) = app
        .hook("payment", json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_9", "amount": {"amount_minor": 1, "currency": "USD"}}))
        .await?;
    assert_eq!((status, body["error"].as_str()), (422, Some("amount_mismatch")), "{body}");
    let (status, _) = app
        .hook("payment", json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_9"}))
        .await?;
    assert_eq!(status, 422);
    let (status, _) = app
        .hook("payment", json!({"order_id": id, "status": "refunded", "provider": "stripe", "reference": "pi_9"}))
        .await?;
    assert_eq!(status, 400);
    let (status, body) = app
        .hook(
            "payment",
            json!({"order_id": "ord-nope", "status": "paid", "provider": "x", "reference": "y", "amount": order.total}),
        )
        .await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_order")));

    assert!(app.published().is_empty());
    let (_, body) = app.api("GET", &format!("/orders/{id}"), b"").await?;
    assert_eq!(body["order"]["status"], "created");
    assert_eq!(app.stock("hom-017").await?["reserved"], 1);
    Ok(())
}

/// A carrier holds the shipping secret only: what it signs is refused on the
/// payment hook, so it cannot mark an order paid (nor cancel its payment),
/// and a payment provider cannot ship. One secret for both hooks is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_carrier_cannot_mark_an_order_paid() -> Result<()> {
    let app = App::new()?;
    let order = app
        .created(order_request("oc-carrier", "home", json!([{"product_id": "hom-017", "quantity": 1}])))
        .await?
        .order;
    let id = order.id.to_string();
    let paid = json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_forged", "amount": order.total});
    let (status, body) = app.hook_signed_with("payment", SHIPPING_SECRET, paid.clone()).await?;
    assert_eq!((status, body["error"].as_str()), (401, Some("bad_signature")), "{body}");
    let cancelled = json!({"order_id": id, "status": "cancelled", "provider": "stripe", "reference": "pi_forged"});
    let (status, _) = app.hook_signed_with("payment", SHIPPING_SECRET, cancelled).await?;
    assert_eq!(status, 401);
    let (_, stored) = app.api("GET", &format!("/orders/{id}"), b"").await?;
    assert_eq!(stored["order"]["status"], "created", "{stored}");
    assert!(stored.get("payment").is_none(), "{stored}");
    let stock = app.stock("hom-017").await?;
    assert_eq!((&stock["reserved"], &stock["sold"]), (&json!(1), &json!(0)), "{stock}");
    assert!(app.published().is_empty(), "nobody is told of a payment that did not happen");

    // Paid for real, then a payment provider tries to ship it.
    assert_eq!(app.hook("payment", paid).await?.0, 200);
    app.published();
    let shipped = json!({"order_id": id, "status": "shipped", "carrier": "UPS", "tracking_number": "1Z"});
    let (status, _) = app.hook_signed_with("shipping", PAYMENT_SECRET, shipped.clone()).await?;
    assert_eq!(status, 401);
    assert_eq!(app.hook("shipping", shipped).await?.0, 200, "the carrier's own signature works");

    // Both hooks signed with one secret would let a carrier sign payments.
    let one_secret = App {
        orders: order_processor_signed_with(&[CATALOG, ROUTER], PAYMENT_SECRET, PAYMENT_SECRET)?,
        catalog: catalog()?,
    };
    one_secret.orders.chain(&one_secret.catalog);
    for kind in ["payment", "shipping"] {
        let (status, body) = one_secret.hook_signed_with(kind, PAYMENT_SECRET, json!({"order_id": id})).await?;
        assert_eq!((status, body["error"].as_str()), (500, Some("misconfigured")), "{kind}: {body}");
    }
    Ok(())
}

/// A payment of the wrong amount is refused without saying what the right
/// one is.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_amount_does_not_learn_the_total() -> Result<()> {
    let app = App::new()?;
    let order =
        app.created(order_request("oc-probe", "tech", json!([{"product_id": "tec-014", "quantity": 1}]))).await?.order;
    let total = order.total.amount_minor;
    let (status, body) = app
        .hook("payment", json!({"order_id": order.id, "status": "paid", "provider": "stripe", "reference": "pi_p", "amount": {"amount_minor": 1, "currency": "USD"}}))
        .await?;
    assert_eq!((status, body["error"].as_str()), (422, Some("amount_mismatch")), "{body}");
    let text = body.to_string();
    for told in [total.to_string(), format!("{:.2}", total as f64 / 100.0)] {
        assert!(!text.contains(&told), "the 422 tells the total ({told}): {text}");
    }
    assert!(body.get("expected").is_none(), "{body}");
    let (_, stored) = app.api("GET", &format!("/orders/{}", order.id), b"").await?;
    assert_eq!(stored["order"]["status"], "created");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_gives_the_stock_back() -> Result<()> {
    let app = App::new()?;
    // Cancelled while awaiting payment, through the API.
    let first =
        app.created(order_request("oc-c1", "beauty", json!([{"product_id": "bty-029", "quantity": 4}]))).await?.order;
    assert_eq!(app.stock("bty-029").await?["available"], 5);
    let (status, body) = app
        .api("POST", &format!("/orders/{}/cancel", first.id), br#"{"reason": "the customer found it cheaper"}"#)
        .await?;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")), "{body}");
    let events = app.published();
    assert_eq!(types_of(&events), [types::ORDER_CANCELLED, types::CHAT_RESPONSE]);
    assert_eq!(data(&events[0])["reason"], "the customer found it cheaper");
    let text = &notices(&events)[0];
    assert!(
        text.contains("the customer found it cheaper") && !text.contains("refund") && text.ends_with("— Bella"),
        "{text}"
    );
    assert_eq!(app.stock("bty-029").await?["available"], 9);
    let (status, body) = app.api("POST", &format!("/orders/{}/cancel", first.id), b"").await?;
    assert_eq!((status, &body["changed"]), (200, &json!(false)), "cancelling twice is cancelling once");

    // Cancelled after payment, by the payment provider: sold units return, refund promised.
    let second =
        app.created(order_request("oc-c2", "beauty", json!([{"product_id": "bty-029", "quantity": 3}]))).await?.order;
    let paid = json!({"order_id": second.id, "status": "paid", "provider": "mercadopago", "reference": "mp-1", "amount": second.total});
    assert_eq!(app.hook("payment", paid).await?.0, 200);
    assert_eq!(app.stock("bty-029").await?["sold"], 3);
    app.published();
    let (status, body) = app
        .hook(
            "payment",
            json!({"order_id": second.id, "status": "cancelled", "provider": "mercadopago", "reference": "mp-1"}),
        )
        .await?;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")), "{body}");
    let text = &notices(&app.published())[0];
    assert!(text.contains("the payment was not completed") && text.contains("refunded"), "{text}");
    let stock = app.stock("bty-029").await?;
    assert_eq!((&stock["sold"], &stock["reserved"], &stock["available"]), (&json!(0), &json!(0), &json!(9)));

    // A cancelled order cannot be paid.
    let late = json!({"order_id": first.id, "status": "paid", "provider": "stripe", "reference": "pi_late", "amount": first.total});
    let (status, body) = app.hook("payment", late).await?;
    assert_eq!((status, body["error"].as_str()), (409, Some("invalid_transition")), "{body}");
    Ok(())
}

/// A publish that fails after the change is saved: the events wait in the
/// order's outbox, and the provider's retry publishes them, once.
#[tokio::test(flavor = "multi_thread")]
async fn events_survive_a_failed_publish() -> Result<()> {
    let app = App::new()?;
    // The same component, unable to reach the event router.
    let cut_off = App { orders: order_processor(&[CATALOG])?, catalog: catalog()? };
    cut_off.orders.chain(&cut_off.catalog);
    let order = cut_off
        .created(order_request("oc-outbox", "tech", json!([{"product_id": "tec-001", "quantity": 1}])))
        .await?
        .order;
    let payment = json!({"order_id": order.id, "status": "paid", "provider": "stripe", "reference": "pi_o", "amount": order.total});
    let (status, body) = cut_off.hook("payment", payment.clone()).await?;
    assert_eq!(status, 503, "the provider must retry: {body}");
    let (_, stored) = cut_off.api("GET", &format!("/orders/{}", order.id), b"").await?;
    assert_eq!(stored["order"]["status"], "confirmed", "the change is saved with its events");

    // The router is back (the same store, seen by a connected instance).
    for (key, value) in cut_off.orders.stored("orders").await? {
        app.orders.store("orders", &key, &value).await?;
    }
    let (status, body) = app.hook("payment", payment.clone()).await?;
    assert_eq!((status, &body["changed"]), (200, &json!(false)), "{body}");
    assert_eq!(types_of(&app.published()), [types::ORDER_CONFIRMED, types::CHAT_RESPONSE]);
    assert_eq!(app.hook("payment", payment).await?.0, 200);
    assert!(app.published().is_empty(), "published once");
    Ok(())
}

/// A call that died while publishing an order's events leaves its claim:
/// changes wait for it while it holds (503 with `Retry-After` after a
/// while), and once it has lapsed the next change publishes the events
/// first, then its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_claim_left_by_a_dead_call_holds_until_it_lapses() -> Result<()> {
    let app = App::new()?;
    let cut_off = App { orders: order_processor(&[CATALOG])?, catalog: catalog()? };
    cut_off.orders.chain(&cut_off.catalog);
    let order = cut_off
        .created(order_request("oc-claim", "tech", json!([{"product_id": "tec-001", "quantity": 1}])))
        .await?
        .order;
    let payment = json!({"order_id": order.id, "status": "paid", "provider": "stripe", "reference": "pi_c", "amount": order.total});
    assert_eq!(cut_off.hook("payment", payment).await?.0, 503);
    let key = format!("order:{}", order.id);
    let mut stored: Value = serde_json::from_slice(
        &cut_off.orders.stored("orders").await?.into_iter().find(|(k, _)| *k == key).context("the order")?.1,
    )?;
    assert_eq!(stored["outbox"].as_array().map(Vec::len), Some(2), "{stored}");
    for (key, value) in cut_off.orders.stored("orders").await? {
        app.orders.store("orders", &key, &value).await?;
    }

    let claim = |seconds: i64| json!({"by": "a-call-that-died", "until": (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()});
    stored["publishing"] = claim(60);
    app.orders.store("orders", &key, stored.to_string().as_bytes()).await?;
    let path = format!("/orders/{}/cancel", order.id);
    let started = std::time::Instant::now();
    let bearer = format!("Bearer {API_TOKEN}");
    let response = app
        .orders
        .http(
            http::Request::post(format!("http://localhost{path}")).header("authorization", bearer).body(Bytes::new())?,
        )
        .await?;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert!(started.elapsed() >= std::time::Duration::from_secs(4), "it waited for the claim first");
    assert!(app.published().is_empty(), "nothing is published behind the holder's back");

    stored["publishing"] = claim(-1);
    app.orders.store("orders", &key, stored.to_string().as_bytes()).await?;
    let (status, body) = app.api("POST", &path, b"").await?;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")), "{body}");
    let events = app.published();
    assert_eq!(
        types_of(&events),
        [types::ORDER_CONFIRMED, types::CHAT_RESPONSE, types::ORDER_CANCELLED, types::CHAT_RESPONSE],
        "the payment's events first, then the cancellation's"
    );
    let (_, body) = app.api("GET", &format!("/orders/{}", order.id), b"").await?;
    assert!(body.get("publishing").is_none() && body.get("outbox").is_none(), "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_orders_api_lists_and_reads_with_a_token() -> Result<()> {
    let app = App::new()?;
    let mut ids = Vec::new();
    for (i, brand) in ["tech", "tech", "home"].iter().enumerate() {
        let product = if *brand == "tech" { "tec-001" } else { "hom-001" };
        let order = app
            .created(order_request(&format!("oc-list-{i}"), brand, json!([{"product_id": product, "quantity": 1}])))
            .await?
            .order;
        ids.push(order.id.to_string());
    }
    let (status, body) = app.request("GET", "/orders", &[], b"").await?;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));
    let (status, _) = app.request("GET", "/orders", &[("authorization", "Bearer nope")], b"").await?;
    assert_eq!(status, 401);
    let (status, _) = app.request("POST", &format!("/orders/{}/cancel", ids[0]), &[], b"").await?;
    assert_eq!(status, 401, "cancelling needs the token too");

    let (status, body) = app.api("GET", "/orders?brand=tech&status=created&limit=1", b"").await?;
    assert_eq!(status, 200, "{body}");
    let first = body["orders"].as_array().unwrap();
    assert_eq!(first.len(), 1);
    let cursor = body["next_cursor"].as_str().expect("a second page").to_string();
    let (_, body) = app
        .api(
            "GET",
            &format!(
                "/orders?brand=tech&status=created&limit=1&cursor={}",
                cursor.replace('+', "%2B").replace('|', "%7C")
            ),
            b"",
        )
        .await?;
    let second = body["orders"].as_array().unwrap();
    assert_eq!(second.len(), 1);
    assert!(body.get("next_cursor").is_none());
    let mut listed = vec![first[0]["id"].as_str().unwrap(), second[0]["id"].as_str().unwrap()];
    listed.sort();
    let mut tech = ids[..2].to_vec();
    tech.sort();
    assert_eq!(listed, tech);

    let (_, body) = app.api("GET", "/orders?conversation=cv-home-1", b"").await?;
    assert_eq!(body["orders"][0]["id"], json!(ids[2]));
    let (status, body) = app.api("GET", "/orders?status=lost", b"").await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let (status, body) = app.api("GET", "/orders/ord-missing", b"").await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_order")));
    let (status, _) = app.api("DELETE", &format!("/orders/{}", ids[0]), b"").await?;
    assert_eq!(status, 404);
    Ok(())
}

/// Prices, names and totals a request carries are not read: the catalog
/// prices every line.
#[tokio::test(flavor = "multi_thread")]
async fn prices_in_the_request_are_ignored() -> Result<()> {
    let app = App::new()?;
    let mut request = order_request(
        "oc-cheap",
        "fashion",
        json!([{"product_id": "fsh-024", "quantity": 2, "unit_price": {"amount_minor": 1, "currency": "USD"}, "name": "Free shoes"}]),
    );
    request["total"] = json!({"amount_minor": 2, "currency": "USD"});
    request["subtotal"] = json!({"amount_minor": 2, "currency": "USD"});
    let order = app.created(request).await?.order;
    assert_eq!(
        (order.lines[0].name.as_str(), order.lines[0].unit_price.amount_minor),
        ("Block-Heel Leather Pumps", 9900)
    );
    assert_eq!((order.subtotal.amount_minor, order.total.amount_minor), (19800, 19800));
    let (_, stored) = app.api("GET", &format!("/orders/{}", order.id), b"").await?;
    assert_eq!(stored["order"]["total"]["amount_minor"], 19800);
    Ok(())
}

/// The same request delivered several times at once (a broker redelivering
/// while the first delivery still runs): one order, one reservation, and
/// every answer the same. A delivery that finds the reservation being made
/// fails retryably, and its retry gets the answer.
#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_deliveries_of_one_request_make_one_order() -> Result<()> {
    let app = std::sync::Arc::new(App::new()?);
    let request = order_request("oc-dup", "tech", json!([{"product_id": "tec-001", "quantity": 3}]));
    let deliveries: Vec<_> = (0..6)
        .map(|_| {
            let (app, request) = (app.clone(), request.clone());
            tokio::spawn(async move { app.orders.send(event(types::ORDER_CREATE, request)).await })
        })
        .collect();
    let mut answers: Vec<OrderCreated> = Vec::new();
    for delivery in deliveries {
        let sent = delivery.await?;
        match sent.error() {
            None => answers.push(serde_json::from_value(data(&sent.one(types::ORDER_CREATED)?))?),
            Some(error) => {
                assert!(!error.is_refusal(), "{error}\n{}", sent.output());
                answers.push(app.created(request.clone()).await?);
            }
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let stock = app.stock("tec-001").await?;
    assert_eq!(stock["reserved"], 3, "{stock}");
    let stored = app.orders.stored("orders").await?;
    assert_eq!(stored.iter().filter(|(k, _)| k.starts_with("order:")).count(), 1);
    Ok(())
}

/// A payment and a cancellation of one order arriving together: whichever
/// wins, the order ends cancelled with all its units back, the customer is
/// promised a refund exactly when the payment went through first, and hears
/// of each change once, the cancellation last.
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_racing_a_cancellation_leaves_order_and_stock_agreeing() -> Result<()> {
    let app = std::sync::Arc::new(App::new()?);
    for round in 0..4 {
        let order = app
            .created(order_request(
                &format!("oc-race-{round}"),
                "home",
                json!([{"product_id": "hom-001", "quantity": 2}]),
            ))
            .await?
            .order;
        let id = order.id.to_string();
        let pay = {
            let (app, id, total) = (app.clone(), id.clone(), order.total.clone());
            tokio::spawn(async move {
                let body = json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": format!("pi_{id}"), "amount": total});
                app.hook("payment", body).await
            })
        };
        let cancel = {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move { app.api("POST", &format!("/orders/{id}/cancel"), b"").await })
        };
        let (paid, body) = pay.await??;
        let (cancelled, cancel_body) = cancel.await??;
        assert_eq!(cancelled, 200, "cancelling a created or confirmed order succeeds: {cancel_body}");
        assert!(
            paid == 200
                || (paid == 409
                    && ["invalid_transition", "stock_refused"].contains(&body["error"].as_str().unwrap_or_default())),
            "round {round}: {paid} {body}"
        );

        let (_, stored) = app.api("GET", &format!("/orders/{id}"), b"").await?;
        assert_eq!(stored["order"]["status"], "cancelled", "round {round}: {stored}");
        let stock = app.stock("hom-001").await?;
        assert_eq!((&stock["sold"], &stock["reserved"]), (&json!(0), &json!(0)), "round {round}: {stock}");

        let events = app.published();
        // Each event once: a notice published again after a later one would
        // reach the customer last, saying what is no longer true.
        let mut ids: Vec<&str> = events.iter().map(|e| e.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), events.len(), "round {round}: {:?}", types_of(&events));
        let confirmed = types_of(&events).iter().any(|t| t == types::ORDER_CONFIRMED);
        assert_eq!(confirmed, paid == 200, "round {round}: {:?}", types_of(&events));
        let cancellation = notices(&events).into_iter().last().unwrap_or_default();
        assert_eq!(cancellation.contains("refunded"), confirmed, "round {round}: {cancellation}");
    }
    Ok(())
}
