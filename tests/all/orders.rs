//! Orders through the running host and the repository's own `spin.toml`: a
//! customer buying from the fashion seller, the order processor reserving
//! stock in the product catalog over service chaining, payment and shipping
//! hooks signed as `docs/orders.md` says (with `openssl`, exactly as the
//! page's example), the customer told each step; and fifty simultaneous
//! orders for ten units on the embedded store, and on Redis with RabbitMQ.

use std::collections::BTreeMap;
use std::time::Duration;

use agent_store_events::{
    ChatResponse, OrderCreated, OrderRejected, OutboundMessage, ProductQueryResult, RejectionReason, Responder,
};
use agent_store_tests::{HostBuilder, HostProcess, Tail, demo_env, event, is};
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
/// Fifty orders take a while on two shared cores.
const RUSH_WAIT: Duration = Duration::from_secs(180);

/// fsh-024, the Block-Heel Leather Pumps: ten in `brands/fashion/catalog.json`.
const TEN_IN_STOCK: &str = "fsh-024";
const TEN_IN_STOCK_NAME: &str = "Block-Heel Leather Pumps";

const ORDER_PROCESSOR: &str = "/agent-store/order-processor";
const SELLER: &str = "/agent-store/seller-fashion";

fn demo(name: &str) -> String {
    demo_env().into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
}

/// `X-Agent-Store-Signature` for `body` sent to the `kind` hook, computed by
/// `openssl` as the docs show, with that hook's own secret.
pub(crate) fn signature(kind: &str, body: &str) -> Result<String> {
    use std::io::Write;
    let secret = demo(&format!("SPIN_VARIABLE_ORDERS_{}_HOOK_SECRET", kind.to_uppercase()));
    ensure!(!secret.is_empty(), "demo.env has no secret for the {kind} hook");
    let mut openssl = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-r", "-hmac", &secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running openssl")?;
    openssl.stdin.take().context("openssl stdin")?.write_all(body.as_bytes())?;
    let output = openssl.wait_with_output()?;
    let text = String::from_utf8(output.stdout)?;
    let hex = text.split_whitespace().next().context("openssl printed nothing")?;
    ensure!(hex.len() == 64, "unexpected openssl output {text:?}");
    Ok(format!("sha256={hex}"))
}

pub(crate) async fn hook(host: &HostProcess, kind: &str, body: Value) -> Result<(u16, Value)> {
    let body = body.to_string();
    let response = reqwest::Client::new()
        .post(format!("{}/orders/hooks/{kind}", host.url))
        .header("content-type", "application/json")
        .header("x-agent-store-signature", signature(kind, &body)?)
        .body(body)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await.unwrap_or(Value::Null)))
}

pub(crate) async fn api(host: &HostProcess, method: reqwest::Method, path: &str) -> Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", host.url))
        .bearer_auth(demo("SPIN_VARIABLE_ORDERS_API_TOKEN"))
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await.unwrap_or(Value::Null)))
}

/// A fashion customer writing to Luna, as the WhatsApp gateway would emit it.
struct Customer<'a> {
    host: &'a HostProcess,
    conversation: String,
    sent: u32,
}

impl Customer<'_> {
    async fn send(&mut self, content: Value) -> Result<()> {
        self.sent += 1;
        let text = content.get("body").or(content.get("title")).cloned().unwrap_or(json!(""));
        if content["kind"] == "text" {
            agent_store_tests::customer_wrote(None, text.as_str().unwrap_or_default());
        }
        let mut message = event(
            "store.chat.message.new",
            json!({
                "conversation": self.conversation, "brand": "fashion",
                "customer": {"id": format!("cus-{}", self.conversation), "name": "Ana"},
                "message_id": format!("wamid.{}.{}", self.conversation, self.sent),
                "text": text, "content": content, "received_at": "2026-12-01T12:00:00Z"
            }),
        );
        message.set_extension("brand", "fashion");
        message.set_extension("conversation", self.conversation.as_str());
        let (status, body) = self.host.post_event(&message).await?;
        ensure!(status == 202, "{status}: {body}");
        Ok(())
    }

    async fn tap(&mut self, id: &str, title: &str) -> Result<()> {
        self.send(json!({"kind": "button_reply", "id": id, "title": title})).await
    }
}

/// The texts and choice ids of a chat response.
fn said(event: &Value) -> Result<(String, Vec<String>)> {
    let response: ChatResponse = serde_json::from_value(event["data"].clone())?;
    response.validate().map_err(anyhow::Error::msg)?;
    let mut text = Vec::new();
    let mut ids = Vec::new();
    for message in &response.messages {
        ids.extend(message.choices().into_iter().map(str::to_string));
        match message {
            OutboundMessage::Text { body, .. }
            | OutboundMessage::Buttons { body, .. }
            | OutboundMessage::List { body, .. } => text.push(body.clone()),
            OutboundMessage::ProductCard { product, .. } => text.push(product.name.clone()),
            OutboundMessage::Image { caption, .. } => text.extend(caption.clone()),
        }
    }
    Ok((text.join("\n"), ids))
}

/// The seller's next reply on the tail.
async fn seller_reply(tail: &mut Tail) -> Result<(String, Vec<String>)> {
    let record =
        tail.find(WAIT, |r| is(r, "published", "store.chat.response") && r["event"]["source"] == SELLER).await?;
    said(&record["event"])
}

/// The next step of an order on the tail: the order processor's next
/// `store.order.*` event, which must be of type `ty`, and its next notice to
/// the customer (`from: system`), whichever is published first. A refused
/// change publishes nothing, so anything else first fails the test.
async fn step(tail: &mut Tail, ty: &str) -> Result<(Value, String)> {
    let (mut status, mut notice) = (None, None);
    while status.is_none() || notice.is_none() {
        let record = tail
            .find(WAIT, |r| r["kind"] == "published" && r["event"]["source"] == ORDER_PROCESSOR)
            .await
            .with_context(|| format!("waiting for {ty} and its notice"))?;
        let event = record["event"].clone();
        let event_type = event["type"].as_str().unwrap_or_default();
        if event_type == "store.chat.response" {
            ensure!(notice.is_none(), "a second notice before {ty}: {event}");
            let response: ChatResponse = serde_json::from_value(event["data"].clone())?;
            ensure!(response.from == Responder::System, "{response:?}");
            ensure!(event["brand"] == "fashion", "{event}");
            notice = match &response.messages[..] {
                [OutboundMessage::Text { body, .. }] => Some(body.clone()),
                other => bail!("one text message expected, got {other:?}"),
            };
        } else {
            ensure!(event_type == ty && status.is_none(), "expected {ty}, got {event}");
            status = Some(event);
        }
    }
    Ok((status.unwrap_or_default(), notice.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_from_the_chat_to_delivery_tells_the_customer_each_step() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let conversation = format!("cv-fashion-order-{}", uuid::Uuid::new_v4().simple());
    let mut tail = host.tail(&[("conversation", conversation.as_str())]).await?;
    let mut customer = Customer { host: &host, conversation: conversation.clone(), sent: 0 };

    // The customer finds the sneakers, adds a pair and confirms the checkout.
    customer.send(json!({"kind": "text", "body": "Hi! do you have white sneakers?"})).await?;
    let (text, ids) = seller_reply(&mut tail).await?;
    ensure!(ids.iter().any(|id| id.ends_with("fsh-022")), "the sneakers are offered: {ids:?}\n{text}");
    customer.tap("add:fsh-022", "Add to cart").await?;
    // The sneakers come in sizes: the seller asks which, and the 38 goes in.
    let (text, ids) = seller_reply(&mut tail).await?;
    ensure!(ids.iter().any(|id| id == "variant:fsh-022#38"), "sizes offered: {ids:?}\n{text}");
    customer.tap("variant:fsh-022#38", "38").await?;
    seller_reply(&mut tail).await?;
    customer.tap("checkout", "Checkout").await?;
    let (text, ids) = seller_reply(&mut tail).await?;
    ensure!(ids.iter().any(|id| id == "yes"), "checkout asks for a yes: {ids:?}\n{text}");
    customer.tap("yes", "Place order").await?;

    // Created: priced by the catalog, and the seller tells the customer.
    let record = tail.find(WAIT, |r| is(r, "published", "store.order.create")).await?;
    let request_id = record["event"]["data"]["request_id"].as_str().context("a request id")?.to_string();
    let record = tail
        .find(WAIT, |r| is(r, "published", "store.order.created") || is(r, "published", "store.order.rejected"))
        .await?;
    assert_eq!(record["event"]["type"], "store.order.created", "{record}");
    assert_eq!(record["event"]["correlation"], request_id.as_str());
    let order = serde_json::from_value::<OrderCreated>(record["event"]["data"].clone())?.order;
    assert_eq!(order.total.amount_minor, 4425, "USD 59.00 less the sneaker-boot-edit's 25%");
    assert_eq!(order.conversation.as_str(), conversation);
    let id = order.id.to_string();
    let told = tail
        .find(WAIT, |r| {
            is(r, "published", "store.chat.response")
                && r["event"]["source"] == SELLER
                && r["event"]["data"].to_string().contains(&id)
        })
        .await
        .context("the seller tells the customer the order number")?;
    assert!(said(&told["event"])?.0.contains("USD 44.25"), "{told}");

    // Refused on the way, publishing nothing: a bad signature, steps out of
    // order, a payment of the wrong amount.
    let response = reqwest::Client::new()
        .post(format!("{}/orders/hooks/payment", host.url))
        .header("x-agent-store-signature", "sha256=0000")
        .body(json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_e2e", "amount": order.total}).to_string())
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let shipped =
        json!({"order_id": id, "status": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"});
    let (status, body) = hook(&host, "shipping", shipped.clone()).await?;
    assert_eq!((status, body["error"].as_str()), (409, Some("invalid_transition")), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().ends_with("it is not paid yet"), "{body}");
    let short = json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_e2e", "amount": {"amount_minor": 100, "currency": "USD"}});
    let (status, body) = hook(&host, "payment", short).await?;
    assert_eq!((status, body["error"].as_str()), (422, Some("amount_mismatch")), "{body}");

    // Paid: confirmed, and Luna says so.
    let payment =
        json!({"order_id": id, "status": "paid", "provider": "stripe", "reference": "pi_e2e", "amount": order.total});
    let (status, body) = hook(&host, "payment", payment.clone()).await?;
    assert_eq!((status, &body["status"], &body["changed"]), (200, &json!("confirmed"), &json!(true)), "{body}");
    let (confirmed, text) = step(&mut tail, "store.order.confirmed").await?;
    assert_eq!(confirmed["data"]["payment"]["reference"], "pi_e2e");
    assert!(text.contains(&id) && text.contains("USD 44.25") && text.ends_with("— Luna"), "{text}");
    // The provider retrying its webhook changes nothing; delivery before shipping is refused.
    let (status, body) = hook(&host, "payment", payment).await?;
    assert_eq!((status, &body["changed"]), (200, &json!(false)), "{body}");
    let (status, body) = hook(&host, "shipping", json!({"order_id": id, "status": "delivered"})).await?;
    assert_eq!((status, body["error"].as_str()), (409, Some("invalid_transition")), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("not shipped yet"), "{body}");

    let (status, body) = hook(&host, "shipping", shipped).await?;
    assert_eq!((status, &body["status"]), (200, &json!("shipped")), "{body}");
    let (shipped, text) = step(&mut tail, "store.order.shipped").await?;
    assert_eq!(
        (&shipped["data"]["carrier"], &shipped["data"]["tracking_number"]),
        (&json!("UPS"), &json!("1Z999AA10123456784"))
    );
    assert!(text.contains("UPS") && text.contains("1Z999AA10123456784") && text.ends_with("— Luna"), "{text}");

    let (status, body) = hook(&host, "shipping", json!({"order_id": id, "status": "delivered"})).await?;
    assert_eq!((status, &body["status"]), (200, &json!("delivered")), "{body}");
    let (delivered, text) = step(&mut tail, "store.order.delivered").await?;
    assert_eq!(delivered["data"]["order_id"], id.as_str());
    assert!(text.contains(&id) && text.contains("arrived") && text.ends_with("— Luna"), "{text}");

    // Delivered is final; the orders API tells the whole story.
    let (status, body) = api(&host, reqwest::Method::POST, &format!("/orders/{id}/cancel")).await?;
    assert_eq!((status, body["error"].as_str()), (409, Some("invalid_transition")), "{body}");
    let (status, body) = api(&host, reqwest::Method::GET, &format!("/orders/{id}")).await?;
    assert_eq!(status, 200, "{body}");
    let history: Vec<&str> =
        body["history"].as_array().context("history")?.iter().filter_map(|h| h["status"].as_str()).collect();
    assert_eq!(history, ["created", "confirmed", "shipped", "delivered"]);
    assert_eq!((&body["order"]["status"], &body["request_id"]), (&json!("delivered"), &json!(request_id)));
    let (status, body) = api(&host, reqwest::Method::GET, &format!("/orders?conversation={conversation}")).await?;
    assert_eq!((status, body["orders"][0]["id"].as_str()), (200, Some(id.as_str())), "{body}");
    let unauthorized = reqwest::Client::new().get(format!("{}/orders/{id}", host.url)).send().await?;
    assert_eq!(unauthorized.status(), 401);
    // The catalog's stock API is private: no route reaches it from outside.
    let private = reqwest::Client::new().get(format!("{}/stock/fsh-022", host.url)).send().await?;
    assert_eq!(private.status(), 404);
    Ok(())
}

fn create_event(request_id: &str, conversation: &str, lines: Value) -> cloudevents::Event {
    let mut create = event(
        "store.order.create",
        json!({
            "request_id": request_id,
            "conversation": conversation,
            "brand": "fashion",
            "customer": {"id": "cus-rush", "name": "Ana"},
            "lines": lines,
        }),
    );
    create.set_extension("brand", "fashion");
    create.set_extension("conversation", conversation);
    create.set_extension("correlation", request_id);
    create
}

/// Fifty orders for one unit each of a product with ten in stock, all posted
/// at once: exactly ten are created, forty are refused as out of stock with a
/// message naming the product, and the live stock ends at zero.
async fn fifty_orders_for_ten_units(host: &HostProcess) -> Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tail = host.tail(&[("type", "store.order.*"), ("brand", "fashion")]).await?;

    let posts = (0..50).map(|i| {
        let create = create_event(
            &format!("oc-rush-{run}-{i}"),
            &format!("cv-rush-{run}-{i}"),
            json!([{"product_id": TEN_IN_STOCK, "quantity": 1}]),
        );
        async move { host.post_event(&create).await }
    });
    for (status, body) in futures::future::try_join_all(posts).await? {
        assert_eq!(status, 202, "{body}");
    }

    let mut outcomes: BTreeMap<String, Value> = BTreeMap::new();
    while outcomes.len() < 50 {
        let record = tail
            .find(RUSH_WAIT, |r| {
                // A reader that fell behind missed records: say so rather than wait.
                r.get("missed").is_some()
                    || (r["kind"] == "published"
                        && (r["event"]["type"] == "store.order.created"
                            || r["event"]["type"] == "store.order.rejected"))
            })
            .await
            .with_context(|| format!("{} of 50 outcomes seen", outcomes.len()))?;
        ensure!(record.get("missed").is_none(), "the tail lagged: {record}");
        let request_id = record["event"]["data"]["request_id"].as_str().unwrap_or_default().to_string();
        if request_id.starts_with(&format!("oc-rush-{run}-")) {
            // At least once: a redelivered request may be answered again,
            // but never differently (another order, or created after all).
            let answer = |e: &Value| (e["type"].clone(), e["data"]["order"]["id"].clone());
            if let Some(earlier) = outcomes.insert(request_id, record["event"].clone()) {
                ensure!(
                    answer(&earlier) == answer(&record["event"]),
                    "one answer per request: {earlier} then {record}"
                );
            }
        }
    }
    let created: Vec<OrderCreated> = outcomes
        .values()
        .filter(|e| e["type"] == "store.order.created")
        .map(|e| serde_json::from_value(e["data"].clone()))
        .collect::<Result<_, _>>()?;
    let rejected: Vec<OrderRejected> = outcomes
        .values()
        .filter(|e| e["type"] == "store.order.rejected")
        .map(|e| serde_json::from_value(e["data"].clone()))
        .collect::<Result<_, _>>()?;
    assert_eq!((created.len(), rejected.len()), (10, 40));
    for refusal in &rejected {
        assert!(
            matches!(&refusal.reason, RejectionReason::OutOfStock { product_id, .. } if product_id == TEN_IN_STOCK),
            "{refusal:?}"
        );
        assert!(
            refusal.message.starts_with("Sorry, ") && refusal.message.contains(TEN_IN_STOCK_NAME),
            "a message the seller can relay: {}",
            refusal.message
        );
    }
    let mut ids: Vec<&str> = created.iter().map(|c| c.order.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ten distinct orders");
    assert!(created.iter().all(|c| c.order.lines.len() == 1 && c.order.lines[0].quantity == 1));

    // The catalog's live stock is zero, and the orders API holds the ten.
    let mut tail = host.tail(&[("type", "store.product.query.result")]).await?;
    let mut query = event(
        "store.product.query",
        json!({"request_id": format!("q-{run}"), "brand": "fashion", "text": TEN_IN_STOCK_NAME}),
    );
    query.set_extension("brand", "fashion");
    host.post_event(&query).await?;
    let record = tail.find(WAIT, |r| r["event"]["data"]["request_id"] == format!("q-{run}")).await?;
    let result: ProductQueryResult = serde_json::from_value(record["event"]["data"].clone())?;
    let pumps = result.products.iter().find(|p| p.id == TEN_IN_STOCK).context("the pumps are found")?;
    assert_eq!(pumps.stock, 0, "no oversell");
    let (status, body) = api(host, reqwest::Method::GET, "/orders?brand=fashion&status=created&limit=100").await?;
    assert_eq!(status, 200, "{body}");
    let mut listed: Vec<&str> =
        body["orders"].as_array().context("orders")?.iter().filter_map(|o| o["id"].as_str()).collect();
    listed.sort();
    assert_eq!(listed, ids);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_orders_for_ten_units_on_the_embedded_store() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("embedded").start().await?;
    fifty_orders_for_ten_units(&host).await
}

/// On the production backends: RabbitMQ delivering, Redis holding the
/// counters, each under this test's own prefix.
#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_orders_for_ten_units_on_redis_and_rabbitmq() -> Result<()> {
    let _rabbitmq = agent_store_tests::rabbitmq_shared().await;
    let prefix = format!("t-orders-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let outcome = async {
        let host = HostBuilder::repo_manifest()
            .arg("--broker")
            .arg(agent_store_tests::amqp_url())
            .arg("--broker-prefix")
            .arg(&prefix)
            .arg("--kv")
            .arg(format!("{}#{prefix}", agent_store_tests::redis_url()))
            .start()
            .await?;
        fifty_orders_for_ten_units(&host).await
    }
    .await;
    if let Err(error) = agent_store_tests::remove_prefix(&prefix).await {
        eprintln!("cleaning up after the test: {error:#}");
    }
    outcome
}
