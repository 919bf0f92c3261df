//! The WhatsApp gateway in the real runtime: signed webhooks shaped like the
//! Cloud API's documented examples (`tests/fixtures/`), the events they
//! publish through the event router, and the Cloud API calls the gateway
//! makes to a fake Cloud API on 127.0.0.1.

mod fake_api;

use std::path::Path;

use agent_store_events::{
    ChatMessageNew, DeliveryStatus, MessageContent, WhatsAppMessageReceived, WhatsAppMessageSend,
    WhatsAppMessageStatus, ext, types,
};
use agent_store_testing::runtime::DeliveryError;
use agent_store_testing::{Harness, data, event};
use anyhow::{Context, Result};
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};
use fake_api::{FakeApi, Reply};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const APP_SECRET: &str = "test-app-secret";
const VERIFY_TOKEN: &str = "test-verify-token";
const ACCESS_TOKEN: &str = "test-access-token";
/// The customer of every fixture, and the digits that must never leave.
const PHONE: &str = "16505551234";
/// Meta's example business number, owned by `fashion` in these tests.
const FASHION_NUMBER: &str = "106540352242922";
/// The phone of the contact card in `contacts.json`.
const CONTACT_PHONE_DIGITS: &str = "9405551234";
/// The id of the message in `text.json`.
const TEXT_WAMID: &str = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ01RgA=";
/// [`PHONE`] as the fixtures' wamids carry it, in base64: a wamid is the
/// number in disguise.
const PHONE_IN_WAMIDS: &str = "MTY1MDU1NTEyMzQ";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The gateway with test secrets; `api` is where its Cloud API is.
fn gateway_with(api_base: &str, allowed: &[&str]) -> Result<Harness> {
    Harness::component("whatsapp-gateway")
        .variable("verify_token", VERIFY_TOKEN)
        .variable("app_secret", APP_SECRET)
        .variable("access_token", ACCESS_TOKEN)
        .variable("api_base", api_base)
        .variable("brand_numbers", &format!("{FASHION_NUMBER}=fashion,100000000000002=tech"))
        .variable("hash_salt", "test-salt")
        .allowed_outbound_hosts(allowed)
        .build()
}

fn gateway(api: &FakeApi) -> Result<Harness> {
    gateway_with(&api.base(), &["http://event-router.spin.internal", &api.origin()])
}

/// A text message webhook from `phone`, with its own message id.
fn text_from(phone: &str, n: usize, body: &str) -> Vec<u8> {
    String::from_utf8(fixture("text"))
        .unwrap()
        .replace(TEXT_WAMID, &format!("wamid.flood.{phone}.{n}"))
        .replace(PHONE, phone)
        .replace("Does it come in another color?", body)
        .into_bytes()
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().method(method).uri(format!("http://localhost{uri}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Bytes::from(body)).unwrap()
}

/// What a call answered, and what the component printed meanwhile.
struct Answer {
    status: u16,
    body: String,
    output: String,
}

async fn call(gateway: &Harness, request: http::Request<Bytes>) -> Result<Answer> {
    let outcome = gateway.call(request).await;
    let response = outcome.result.map_err(|e| anyhow::anyhow!("{e}\n{}", outcome.output))?;
    Ok(Answer {
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(response.body()).into_owned(),
        output: outcome.output,
    })
}

async fn post_webhook(gateway: &Harness, body: &[u8], signature: Option<&str>) -> Result<Answer> {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(signature) = signature {
        headers.push(("x-hub-signature-256", signature));
    }
    call(gateway, request("POST", "/webhooks/whatsapp", &headers, body.to_vec())).await
}

/// Posts a fixture, signed, and returns what it published.
async fn deliver(gateway: &Harness, name: &str) -> Result<Vec<Event>> {
    let body = fixture(name);
    let answer = post_webhook(gateway, &body, Some(&sign(&body, APP_SECRET))).await?;
    assert_eq!(answer.status, 200, "{name}: {}\n{}", answer.body, answer.output);
    Ok(gateway.take_published())
}

fn typed<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T> {
    serde_json::from_value(data(event)).with_context(|| format!("{} data: {}", event.ty(), data(event)))
}

fn extension(event: &Event, name: &str) -> Option<String> {
    event.extension(name).map(ToString::to_string)
}

/// The received and chat events of a single-message webhook, checked for
/// agreement, returning the content.
fn one_message(events: &[Event]) -> Result<(WhatsAppMessageReceived, ChatMessageNew)> {
    let types: Vec<&str> = events.iter().map(|e| e.ty()).collect();
    assert_eq!(types, [types::WHATSAPP_MESSAGE_RECEIVED, types::CHAT_MESSAGE_NEW]);
    let received: WhatsAppMessageReceived = typed(&events[0])?;
    let chat: ChatMessageNew = typed(&events[1])?;
    for event in events {
        assert_eq!(event.source().to_string(), "/agent-store/whatsapp-gateway");
        assert_eq!(extension(event, ext::BRAND).as_deref(), Some("fashion"));
        assert_eq!(extension(event, ext::CONVERSATION).as_deref(), Some(received.conversation.as_str()));
    }
    assert_eq!(received.phone_number_id, FASHION_NUMBER);
    assert!(received.message_id.starts_with("wm-"), "a token, not the wamid: {}", received.message_id);
    assert_eq!(received.brand, "fashion");
    assert!(received.conversation.as_str().starts_with("cv-fashion-"), "{}", received.conversation);
    assert!(received.customer.id.starts_with("cus-"));
    assert_eq!(received.customer.name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(received.timestamp.timestamp(), 1749416383);
    assert_eq!(
        (&chat.conversation, &chat.customer, &chat.message_id),
        (&received.conversation, &received.customer, &received.message_id)
    );
    assert_eq!(chat.content, received.content);
    assert_eq!(chat.text, received.content.text().unwrap_or_default());
    Ok((received, chat))
}

/// Asserts no phone number of the fixtures appears in `text`, not even
/// inside a WhatsApp message id.
fn assert_no_phone(text: &str, what: &str) {
    for digits in [PHONE, &PHONE[1..], CONTACT_PHONE_DIGITS, PHONE_IN_WAMIDS, "wamid."] {
        assert!(!text.contains(digits), "{what} contains a phone number ({digits}):\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_verification_handshake() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let verify = |token: &str| {
        request(
            "GET",
            &format!("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}"),
            &[],
            vec![],
        )
    };
    let ok = call(&gateway, verify(VERIFY_TOKEN)).await?;
    assert_eq!((ok.status, ok.body.as_str()), (200, "1158201444"));
    let wrong = call(&gateway, verify("guess")).await?;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(!wrong.body.contains("1158201444"));
    let incomplete = call(&gateway, request("GET", "/webhooks/whatsapp?hub.mode=subscribe", &[], vec![])).await?;
    assert_eq!(incomplete.status, 400);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn only_correctly_signed_webhooks_are_accepted() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let body = fixture("text");
    let mut tampered = body.clone();
    let at = tampered.windows(5).position(|w| w == b"color").unwrap();
    tampered[at] = b'C';
    let cases = [
        (None, body.clone(), "missing"),
        (Some(sign(&body, "not-the-secret")), body.clone(), "does not match"),
        (Some(sign(&body, APP_SECRET)), tampered, "does not match"),
        (Some("sha256=nothex".to_string()), body.clone(), "not `sha256="),
        (Some(sign(&body, APP_SECRET).replace("sha256=", "sha1=")), body.clone(), "not `sha256="),
    ];
    for (signature, body, reason) in cases {
        let answer = post_webhook(&gateway, &body, signature.as_deref()).await?;
        assert_eq!(answer.status, 401, "{reason}: {}", answer.body);
        assert!(answer.body.contains(reason), "{reason} not in {}", answer.body);
        assert!(gateway.published().is_empty(), "nothing is published for a bad signature");
    }
    assert!(gateway.stored("whatsapp").await?.is_empty(), "nor remembered");
    let good = post_webhook(&gateway, &body, Some(&sign(&body, APP_SECRET))).await?;
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(gateway.published().len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_message_kind_is_published() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    // The message the replies quote and the reactions target, as a token:
    // the same one in every fixture.
    let context = "CONTEXT";
    let mut context_token: Option<String> = None;
    let expected = [
        ("text", json!({"kind": "text", "body": "Does it come in another color?"})),
        (
            "image",
            json!({"kind": "image", "media_id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "NaJiaFmRy3DhZMOWqzQJ8p2CXwqRbJ6I6CnR/uhQ8UY=", "caption": "Something like this?"}),
        ),
        (
            "audio",
            json!({"kind": "audio", "media_id": "1003383421387257", "mime_type": "audio/ogg; codecs=opus", "sha256": "fUZGv1ksOl7JY7Bx4YTddwYBwE4BaVRvrDbCFMVQ53Y="}),
        ),
        (
            "video",
            json!({"kind": "video", "media_id": "1003383421387258", "mime_type": "video/mp4", "sha256": "8Dy5B5IVnB1n2tBL1s58FFvG8Wlo0VwWrLNxBb2TuIY=", "caption": "How it fits"}),
        ),
        (
            "document",
            json!({"kind": "document", "media_id": "1003383421387259", "mime_type": "application/pdf", "sha256": "Rbm4Wq7l4NGmNqFqjRd5eM0J2z1G9Wb0tTKt1QxqVXg=", "filename": "receipt.pdf", "caption": "My receipt"}),
        ),
        (
            "sticker",
            json!({"kind": "sticker", "media_id": "1003383421387260", "mime_type": "image/webp", "sha256": "ve8mTqbMl6jt5tnCaTHTUbb0jUtPBGRAk0ANNs+e8Cs="}),
        ),
        (
            "location",
            json!({"kind": "location", "latitude": 25.7907, "longitude": -80.13, "name": "Miami Beach", "address": "1001 Ocean Dr, Miami Beach, FL 33139"}),
        ),
        ("contacts", json!({"kind": "contacts", "contacts": [{"name": "Carla Mendes"}]})),
        ("button_reply", json!({"kind": "button_reply", "id": "add:fsh-001", "title": "Add to cart"})),
        (
            "list_reply",
            json!({"kind": "list_reply", "id": "fsh-014", "title": "Straw Panama Hat", "description": "USD 29.00"}),
        ),
        ("button", json!({"kind": "button", "payload": "reorder:ord-20250602-0042", "text": "Order again"})),
        ("reaction", json!({"kind": "reaction", "message_id": context, "emoji": "❤️"})),
        ("reaction_removed", json!({"kind": "reaction", "message_id": context})),
        (
            "order",
            json!({"kind": "order", "catalog_id": "794561230011", "text": "These two please", "items": [
                {"product_id": "fsh-001", "quantity": 1, "unit_price": {"amount_minor": 3992, "currency": "USD"}},
                {"product_id": "fsh-014", "quantity": 2, "unit_price": {"amount_minor": 2900, "currency": "USD"}}
            ]}),
        ),
    ];
    let mut conversations = std::collections::BTreeSet::new();
    for (name, mut content) in expected {
        let events = deliver(&gateway, name).await?;
        let (received, chat) = one_message(&events)?;
        let quoted = matches!(name, "button_reply" | "list_reply" | "button" | "order");
        assert_eq!(received.context_message_id.is_some(), quoted, "{name}");
        if let Some(token) = &received.context_message_id {
            assert!(token.starts_with("wm-"), "{name}: {token}");
            assert_eq!(context_token.get_or_insert_with(|| token.clone()), token, "{name}");
        }
        if content["message_id"] == context {
            content["message_id"] = json!(context_token.as_deref().context("a quote came first")?);
        }
        assert_eq!(serde_json::to_value(&received.content)?, content, "{name}");
        for event in &events {
            assert_no_phone(&serde_json::to_string(event)?, name);
        }
        conversations.insert(chat.conversation.to_string());
    }
    assert_eq!(conversations.len(), 1, "one customer, one brand: one conversation");

    // A kind nobody documented is kept and reported, not dropped.
    let events = deliver(&gateway, "unknown").await?;
    let (received, chat) = one_message(&events)?;
    let MessageContent::Unsupported { raw_type, raw } = &received.content else { panic!("{:?}", received.content) };
    assert_eq!(raw_type, "unknown");
    assert_eq!(raw["errors"][0]["code"], 131051);
    assert!(raw.get("from").is_none(), "the sender's number is removed: {raw}");
    assert_eq!(raw["id"].as_str(), Some(received.message_id.as_str()), "and the wamid that encodes it");
    assert_eq!(chat.text, "");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn statuses_are_published_with_their_conversation() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let (text, _) = one_message(&deliver(&gateway, "text").await?)?;
    let events = deliver(&gateway, "statuses").await?;
    let statuses: Vec<WhatsAppMessageStatus> = events.iter().map(typed).collect::<Result<_>>()?;
    assert!(events.iter().all(|e| e.ty() == types::WHATSAPP_MESSAGE_STATUS));
    let progress: Vec<DeliveryStatus> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(progress, [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read]);
    for (status, event) in statuses.iter().zip(&events) {
        assert!(status.message_id.starts_with("wm-"), "{}", status.message_id);
        assert_eq!(status.message_id, statuses[0].message_id, "one message, one token");
        assert_eq!(status.brand, "fashion");
        assert_eq!(status.conversation.as_ref(), Some(&text.conversation));
        assert_eq!(extension(event, ext::CONVERSATION).as_deref(), Some(text.conversation.as_str()));
        assert!(status.errors.is_empty());
        assert_no_phone(&serde_json::to_string(event)?, "status");
    }
    assert_eq!(statuses[2].timestamp.timestamp(), 1749416400);

    let failed: WhatsAppMessageStatus = typed(&deliver(&gateway, "status_failed").await?[0])?;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.errors.len(), 1);
    assert_eq!((failed.errors[0].code, failed.errors[0].title.as_str()), (131047, "Re-engagement message"));
    assert!(failed.errors[0].detail.as_deref().unwrap_or_default().contains("24 hours"));

    // Redelivered statuses are not published twice.
    assert!(deliver(&gateway, "statuses").await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_business_number_decides_the_brand() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let text = String::from_utf8(fixture("text"))?;
    let tech = text.replace(FASHION_NUMBER, "100000000000002");
    let body = tech.as_bytes();
    post_webhook(&gateway, body, Some(&sign(body, APP_SECRET))).await?;
    let events = gateway.take_published();
    assert_eq!(events.len(), 2);
    let chat: ChatMessageNew = typed(&events[1])?;
    assert_eq!(chat.brand, "tech");
    assert!(chat.conversation.as_str().starts_with("cv-tech-"));
    assert_eq!(extension(&events[1], ext::BRAND).as_deref(), Some("tech"));

    // Nobody owns this number: Meta gets its 200, nothing is published, the
    // log says which number to map (and no customer number).
    let unowned = text.replace(FASHION_NUMBER, "999999999999999");
    let answer = post_webhook(&gateway, unowned.as_bytes(), Some(&sign(unowned.as_bytes(), APP_SECRET))).await?;
    assert_eq!(answer.status, 200);
    assert!(gateway.published().is_empty());
    assert!(
        answer.output.contains("999999999999999") && answer.output.contains("whatsapp_brand_numbers"),
        "{}",
        answer.output
    );
    assert_no_phone(&answer.output, "the log");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redeliveries_are_published_once_and_bad_bodies_refused() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let first = deliver(&gateway, "text").await?;
    assert_eq!(first.len(), 2);
    assert!(deliver(&gateway, "text").await?.is_empty(), "Meta's redelivery is recognised");

    let junk = b"{\"object\": \"whatsapp_business_account\", \"entry\": [";
    let answer = post_webhook(&gateway, junk, Some(&sign(junk, APP_SECRET))).await?;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let answer = call(&gateway, request("PUT", "/webhooks/whatsapp", &[], vec![])).await?;
    assert_eq!(answer.status, 405);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn when_publishing_fails_meta_is_told_to_retry() -> Result<()> {
    let api = FakeApi::start().await?;
    // Without the event router in its allowed hosts, publishing fails.
    let gateway = gateway_with(&api.base(), &[&api.origin()])?;
    let body = fixture("text");
    let answer = post_webhook(&gateway, &body, Some(&sign(&body, APP_SECRET))).await?;
    assert_eq!(answer.status, 500, "{}", answer.body);
    let stored = gateway.stored("whatsapp").await?;
    assert!(
        stored.iter().all(|(key, _)| !key.starts_with("seen:")),
        "not marked as seen, so the retry goes out: {stored:?}"
    );
    Ok(())
}

/// A conversation with the fixtures' customer: its id, and the token of
/// the customer's message (`text.json`).
async fn conversation(gateway: &Harness) -> Result<(String, String)> {
    let (received, _) = one_message(&deliver(gateway, "text").await?)?;
    Ok((received.conversation.to_string(), received.message_id))
}

fn response_event(conversation: &str, in_reply_to: &str, messages: Value) -> Event {
    let mut response = event(
        types::CHAT_RESPONSE,
        json!({
            "conversation": conversation,
            "brand": "fashion",
            "in_reply_to": in_reply_to,
            "from": {"kind": "ai", "agent": "Luna"},
            "messages": messages
        }),
    );
    response.set_extension(ext::BRAND, "fashion");
    response.set_extension(ext::CONVERSATION, conversation);
    response
}

fn send_event(conversation: &str, brand: &str, message: Value) -> Event {
    let mut send = event(
        types::WHATSAPP_MESSAGE_SEND,
        json!({ "conversation": conversation, "brand": brand, "message": message }),
    );
    send.set_extension(ext::BRAND, brand);
    send.set_extension(ext::CONVERSATION, conversation);
    send
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_become_cloud_api_messages_in_order() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let (conversation, token) = conversation(&gateway).await?;
    let card = json!({
        "kind": "product_card",
        "product": {
            "id": "fsh-001", "name": "Linen Summer Shirt",
            "price": {"amount_minor": 4990, "currency": "USD"}, "sale_price": {"amount_minor": 3992, "currency": "USD"},
            "image_url": "https://cdn.agent-store.example/fashion/fsh-001.jpg", "description": "Breathable linen."
        },
        "buttons": [{"id": "add:fsh-001", "title": "Add to cart"}, {"id": "sizes:fsh-001", "title": "Size guide"}]
    });
    let messages = json!([
        {"kind": "text", "body": "See https://agent-store.example/sizes", "preview_url": true},
        {"kind": "buttons", "header": "Your cart", "body": "Checkout?", "footer": "Free shipping", "buttons": [{"id": "checkout", "title": "Checkout"}]},
        {"kind": "list", "body": "Which one?", "button_label": "See shirts", "sections": [
            {"title": "Linen", "rows": [{"id": "fsh-001", "title": "Linen Summer Shirt", "description": "USD 39.92"}]},
            {"title": "Cotton", "rows": [{"id": "fsh-007", "title": "Oxford Button-Down"}]}
        ]},
        {"kind": "image", "url": "https://cdn.agent-store.example/fashion/fsh-001-back.jpg", "caption": "The back"},
        card
    ]);
    let response = response_event(&conversation, &token, messages.clone());
    let split = gateway.send(response.clone()).await.events()?;
    assert_eq!(split.len(), 5);
    for (index, send) in split.iter().enumerate() {
        assert_eq!(send.ty(), types::WHATSAPP_MESSAGE_SEND);
        assert_eq!(extension(send, ext::CONVERSATION).as_deref(), Some(conversation.as_str()));
        let data: WhatsAppMessageSend = typed(send)?;
        assert_eq!(serde_json::to_value(&data.message)?, messages[index]);
        assert_eq!(data.reply_to.as_deref(), (index == 0).then_some(token.as_str()), "only the first quotes");
        let delivered = gateway.send(send.clone()).await;
        assert!(delivered.events()?.is_empty(), "nothing to say when WhatsApp takes it");
        assert_no_phone(delivered.output(), "the log");
    }
    let calls = api.requests();
    assert_eq!(calls.len(), 5);
    let mut bodies = Vec::new();
    for call in &calls {
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            ("POST", format!("/v21.0/{FASHION_NUMBER}/messages").as_str())
        );
        assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
        assert_eq!(call.body["messaging_product"], "whatsapp");
        assert_eq!(call.body["recipient_type"], "individual");
        assert_eq!(call.body["to"], PHONE, "the only place the number goes");
        bodies.push(&call.body);
    }
    assert_eq!(bodies[0]["context"], json!({"message_id": TEXT_WAMID}), "the wamid behind the token");
    assert_eq!(bodies[0]["text"], json!({"preview_url": true, "body": "See https://agent-store.example/sizes"}));
    assert_eq!(
        bodies[1]["interactive"],
        json!({
            "type": "button",
            "header": {"type": "text", "text": "Your cart"},
            "body": {"text": "Checkout?"},
            "footer": {"text": "Free shipping"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "checkout", "title": "Checkout"}}]}
        })
    );
    assert_eq!(
        bodies[2]["interactive"],
        json!({
            "type": "list",
            "body": {"text": "Which one?"},
            "action": {"button": "See shirts", "sections": [
                {"title": "Linen", "rows": [{"id": "fsh-001", "title": "Linen Summer Shirt", "description": "USD 39.92"}]},
                {"title": "Cotton", "rows": [{"id": "fsh-007", "title": "Oxford Button-Down"}]}
            ]}
        })
    );
    assert_eq!(
        bodies[3]["image"],
        json!({"link": "https://cdn.agent-store.example/fashion/fsh-001-back.jpg", "caption": "The back"})
    );
    assert_eq!(bodies[4]["type"], "interactive");
    assert_eq!(
        bodies[4]["interactive"],
        json!({
            "type": "button",
            "header": {"type": "image", "image": {"link": "https://cdn.agent-store.example/fashion/fsh-001.jpg"}},
            "body": {"text": "*Linen Summer Shirt*\n~USD 49.90~ *USD 39.92*\n\nBreathable linen."},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "add:fsh-001", "title": "Add to cart"}},
                {"type": "reply", "reply": {"id": "sizes:fsh-001", "title": "Size guide"}}
            ]}
        })
    );
    for body in &bodies[1..] {
        assert!(body.get("context").is_none());
    }

    // A redelivered send event is not sent twice; nor is a redelivered
    // response, whose messages get the same ids again.
    gateway.send(split[0].clone()).await.events()?;
    assert_eq!(api.requests().len(), 5);
    let again = gateway.send(response).await.events()?;
    let ids = |events: &[Event]| events.iter().map(|e| e.id().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&split));
    for send in again {
        assert!(gateway.send(send).await.events()?.is_empty());
    }
    assert_eq!(api.requests().len(), 5);

    // Statuses of what was sent find their conversation through the wamid.
    let wamid = api.answered_ids()[4].clone();
    let status = String::from_utf8(fixture("status_failed"))?
        .replace("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJGMDk4NzY1NDMyMUFCQ0RFRgA=", &wamid)
        .replace(PHONE, "34999999999");
    post_webhook(&gateway, status.as_bytes(), Some(&sign(status.as_bytes(), APP_SECRET))).await?;
    let status: WhatsAppMessageStatus = typed(&gateway.take_published()[0])?;
    assert_eq!(status.conversation.map(|c| c.to_string()), Some(conversation));
    Ok(())
}

fn assert_rejected(sent: &agent_store_testing::Sent, expected: &str) {
    match sent.error() {
        Some(DeliveryError::Status { status: 400, reason }) => {
            assert!(reason.contains(expected), "{expected:?} not in {reason:?}")
        }
        other => panic!("expected a 400 rejection with {expected:?}, got {other:?}\n{}", sent.output()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cloud_api_errors_are_retried_or_reported() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let (conversation, _) = conversation(&gateway).await?;
    let text = json!({"kind": "text", "body": "Hello"});

    for (reply, what) in [
        (Reply::status(503, json!({"error": {"message": "Service unavailable", "code": 2}})), "a 5xx"),
        (Reply::status(429, json!({})), "a 429"),
        (
            Reply::status(
                400,
                json!({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}}),
            ),
            "throttling",
        ),
    ] {
        api.answer_next(reply);
        let sent = gateway.send(send_event(&conversation, "fashion", text.clone())).await;
        assert!(sent.error().is_some_and(|e| !e.is_refusal()), "{what} is retried: {:?}", sent.error());
    }

    // Refused for good: reported as a failed status, with the API's words
    // and without the number WhatsApp quotes back.
    api.answer_next(Reply::status(
        400,
        json!({"error": {
            "message": "(#131047) Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "error_data": {"messaging_product": "whatsapp", "details": format!("More than 24 hours have passed since {PHONE} last replied.")},
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
        }}),
    ));
    let send = send_event(&conversation, "fashion", text.clone());
    let sent = gateway.send(send.clone()).await;
    let failed = sent.one(types::WHATSAPP_MESSAGE_STATUS)?;
    let status: WhatsAppMessageStatus = typed(&failed)?;
    assert_eq!(status.status, DeliveryStatus::Failed);
    assert_eq!(status.message_id, send.id(), "no wamid: the send event says which message");
    assert_eq!(status.errors[0].code, 131047);
    assert_eq!(status.errors[0].title, "(#131047) Re-engagement message");
    assert!(status.errors[0].detail.as_deref().unwrap_or_default().contains("[phone]"), "{:?}", status.errors);
    assert_no_phone(&serde_json::to_string(&failed)?, "the status");
    assert_no_phone(sent.output(), "the log");

    // Nothing is called for what cannot be sent.
    let before = api.requests().len();
    assert_rejected(
        &gateway.send(send_event(&conversation, "fashion", json!({"kind": "text", "body": ""}))).await,
        "empty",
    );
    assert_rejected(
        &gateway.send(send_event("cv-fashion-0000000000000000", "fashion", text.clone())).await,
        "unknown or expired",
    );
    assert_rejected(&gateway.send(send_event(&conversation, "tech", text.clone())).await, "belongs to brand fashion");
    assert_rejected(
        &gateway
            .send(response_event(&conversation, "wm-0", json!([{"kind": "buttons", "body": "x", "buttons": []}])))
            .await,
        "at least one button",
    );
    assert_eq!(api.requests().len(), before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quote_goes_out_as_the_wamid_behind_its_token() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let (conversation, _) = conversation(&gateway).await?;
    // The customer taps a button of a message the store sent: the reply may
    // quote the tap, or the message the tap quoted.
    let (tap, _) = one_message(&deliver(&gateway, "button_reply").await?)?;
    let quoted = tap.context_message_id.context("the tap quotes a message")?;
    let text = json!({"kind": "text", "body": "Added!"});
    for (reply_to, expected) in [
        (
            tap.message_id.as_str(),
            json!({"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ09RgA="}),
        ),
        (quoted.as_str(), json!({"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"})),
        // A wamid as such still works; an unknown token is left out rather
        // than failing the answer.
        ("wamid.AS-IS", json!({"message_id": "wamid.AS-IS"})),
        ("wm-0000000000000000", Value::Null),
    ] {
        let mut send = event(
            types::WHATSAPP_MESSAGE_SEND,
            json!({ "conversation": conversation, "brand": "fashion", "message": text, "reply_to": reply_to }),
        );
        send.set_extension(ext::BRAND, "fashion");
        send.set_extension(ext::CONVERSATION, conversation.as_str());
        let sent = gateway.send(send).await;
        assert!(sent.events()?.is_empty(), "{reply_to}: {:?}\n{}", sent.error(), sent.output());
        let body = api.requests().last().context("a call")?.body.clone();
        assert_eq!(body["context"], expected, "{reply_to}");
        assert_eq!(body["text"]["body"], "Added!");
        assert_no_phone(sent.output(), "the log");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn media_is_fetched_in_two_steps_for_other_components() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    api.add_media("1003383421387256", "image/jpeg", b"\xff\xd8\xff jpeg bytes");
    let answer = call(&gateway, request("GET", "/media/1003383421387256", &[], vec![])).await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let response = gateway.http(request("GET", "/media/1003383421387256", &[], vec![])).await?;
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.body().as_ref(), b"\xff\xd8\xff jpeg bytes");
    let calls = api.requests();
    assert_eq!(calls[0].path, "/v21.0/1003383421387256");
    assert_eq!(calls[1].path, "/download/1003383421387256");
    assert!(calls.iter().all(|c| c.authorization.as_deref() == Some("Bearer test-access-token")));

    assert_eq!(call(&gateway, request("GET", "/media/404", &[], vec![])).await?.status, 404);
    assert_eq!(call(&gateway, request("GET", "/media/..%2Fx", &[], vec![])).await?.status, 400);
    assert_eq!(call(&gateway, request("GET", "/webhooks/whatsapp/media/1", &[], vec![])).await?.status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_phone_number_leaves_the_gateway() -> Result<()> {
    let api = FakeApi::start().await?;
    let gateway = gateway(&api)?;
    let mut seen = String::new();
    let names = [
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "button_reply",
        "list_reply",
        "button",
        "reaction",
        "reaction_removed",
        "order",
        "unknown",
        "statuses",
        "status_failed",
    ];
    for name in names {
        let body = fixture(name);
        let answer = post_webhook(&gateway, &body, Some(&sign(&body, APP_SECRET))).await?;
        seen.push_str(&answer.output);
        seen.push_str(&answer.body);
    }
    for event in gateway.take_published() {
        seen.push_str(&serde_json::to_string(&event)?);
    }
    // The store keeps the number, but not in a key.
    for (key, _) in gateway.stored("whatsapp").await? {
        seen.push_str(&key);
    }
    assert!(seen.contains("Sheena Nelson"), "the scan saw the events");
    assert_no_phone(&seen, "what the gateway published, logged or keyed");
    Ok(())
}

/// A customer sending a hundred messages at once gets `rate_limit` of them
/// to the seller and one note to slow down; every webhook is answered 200 so
/// Meta does not retry the rest, and another customer writing meanwhile is
/// not held back.
#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_customer_is_throttled_and_others_are_not() -> Result<()> {
    // Windows are fixed hours: keep the flood inside one.
    let into_hour = chrono::Utc::now().timestamp() % 3600;
    if into_hour > 3540 {
        tokio::time::sleep(std::time::Duration::from_secs((3601 - into_hour) as u64)).await;
    }
    let api = FakeApi::start().await?;
    let gateway = std::sync::Arc::new(
        Harness::component("whatsapp-gateway")
            .variable("verify_token", VERIFY_TOKEN)
            .variable("app_secret", APP_SECRET)
            .variable("access_token", ACCESS_TOKEN)
            .variable("api_base", &api.base())
            .variable("brand_numbers", &format!("{FASHION_NUMBER}=fashion"))
            .variable("hash_salt", "test-salt")
            .variable("rate_limit", "20/1h")
            .allowed_outbound_hosts(&["http://event-router.spin.internal", &api.origin()])
            .build()?,
    );
    const CALM: &str = "34600000001";
    let mut posts = Vec::new();
    for n in 0..100 {
        let flood = text_from(PHONE, n, "hola, ¿tienen camisas?");
        let calm = (n % 20 == 0).then(|| text_from(CALM, n, "Do you have linen shirts?"));
        for body in std::iter::once(flood).chain(calm) {
            let gateway = gateway.clone();
            posts.push(tokio::spawn(async move {
                let signature = sign(&body, APP_SECRET);
                post_webhook(&gateway, &body, Some(&signature)).await
            }));
        }
    }
    for post in posts {
        let answer = post.await??;
        assert_eq!(answer.status, 200, "{}\n{}", answer.body, answer.output);
        assert_no_phone(&answer.output, "the log");
    }
    let published = gateway.take_published();
    let chats: Vec<ChatMessageNew> =
        published.iter().filter(|e| e.ty() == types::CHAT_MESSAGE_NEW).map(typed).collect::<Result<_>>()?;
    let flooding = chats.iter().find(|c| c.text.starts_with("hola")).context("the flood")?.customer.id.clone();
    let (flooder, calm): (Vec<&ChatMessageNew>, Vec<_>) = chats.iter().partition(|c| c.customer.id == flooding);
    assert!(calm.iter().all(|c| c.text.starts_with("Do you")), "two customers");
    assert_eq!(flooder.len(), 20, "the flooding customer reaches the seller 20 times");
    assert_eq!(calm.len(), 5, "the other customer is not held back");
    let received = published.iter().filter(|e| e.ty() == types::WHATSAPP_MESSAGE_RECEIVED).count();
    assert_eq!(received, 25, "nothing else is forwarded");

    let notes: Vec<&Event> = published.iter().filter(|e| e.ty() == types::WHATSAPP_MESSAGE_SEND).collect();
    assert_eq!(notes.len(), 1, "one note per window");
    let note: WhatsAppMessageSend = typed(notes[0])?;
    assert_eq!(note.conversation, flooder[0].conversation);
    let text = serde_json::to_value(&note.message)?["body"].as_str().unwrap_or_default().to_string();
    assert!(text.starts_with("Estás enviando mensajes"), "in the customer's language: {text}");
    assert_no_phone(&serde_json::to_string(&published)?, "the events");

    // A dropped message redelivered by Meta stays dropped; the note goes out
    // as any other message.
    let again = text_from(PHONE, 99, "hola, ¿tienen camisas?");
    assert_eq!(post_webhook(&gateway, &again, Some(&sign(&again, APP_SECRET))).await?.status, 200);
    assert!(gateway.take_published().is_empty());
    assert!(gateway.send(notes[0].clone()).await.events()?.is_empty());
    let calls = api.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["to"], PHONE);
    assert_eq!(calls[0].body["text"]["body"], text);
    Ok(())
}
