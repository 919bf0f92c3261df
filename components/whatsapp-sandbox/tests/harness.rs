//! The WhatsApp sandbox in the real runtime: Cloud API calls in (the way
//! the gateway makes them, through service chaining), the people's side
//! out (through the public route), and the gateway chained to it as in the
//! local store.

use agent_store_events::{ChatMessageNew, types};
use agent_store_testing::{Harness, data, event};
use anyhow::Result;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// How the gateway reaches the sandbox in the local store.
const CHAINED: &str = "http://whatsapp-sandbox.spin.internal";
/// How people reach it.
const PUBLIC: &str = "http://127.0.0.1:3000/sandbox/whatsapp";

/// The sandbox as the local store runs it (`demo.env` turns it on).
fn sandbox() -> Result<Harness> {
    sandbox_with(Some("on"))
}

fn sandbox_with(enabled: Option<&str>) -> Result<Harness> {
    let mut builder =
        Harness::builder("whatsapp_sandbox").id("whatsapp-sandbox").key_value_stores(&["whatsapp-sandbox"]);
    if let Some(enabled) = enabled {
        builder = builder.variable("enabled", enabled);
    }
    builder.build()
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

async fn answer(harness: &Harness, request: http::Request<Bytes>) -> Result<(u16, Value)> {
    let response = harness.http(request).await?;
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    Ok((response.status().as_u16(), body))
}

async fn send(harness: &Harness, base: &str, token: Option<&str>, body: &Value) -> Result<(u16, Value)> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer.as_str()));
    }
    let url = format!("{base}/v21.0/100000000000001/messages");
    answer(harness, request("POST", &url, &headers, body.to_string())).await
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"preview_url": false, "body": body}})
}

async fn inbox(harness: &Harness, query: &str) -> Result<(u16, Value)> {
    answer(harness, request("GET", &format!("{PUBLIC}/messages?{query}"), &[], Bytes::new())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn it_answers_like_the_cloud_api_and_keeps_each_message() -> Result<()> {
    let sandbox = sandbox()?;
    let (status, answer) = send(&sandbox, CHAINED, Some("any-token"), &text("+34 600 000 001", "Hi Ana!")).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messaging_product"], "whatsapp");
    assert_eq!(answer["contacts"], json!([{"input": "+34 600 000 001", "wa_id": "34600000001"}]));
    let first_id = answer["messages"][0]["id"].as_str().unwrap_or_default().to_string();
    assert!(first_id.starts_with("wamid.") && !first_id.contains("34600000001"), "{first_id}");
    // Through the public route too, and to another customer.
    send(&sandbox, PUBLIC, Some("any-token"), &text("34600000001", "Second")).await?;
    send(&sandbox, CHAINED, Some("any-token"), &text("34600000002", "For someone else")).await?;

    let (status, page) = inbox(&sandbox, "to=%2B34600000001").await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["last_seq"], 2);
    let messages = page["messages"].as_array().unwrap();
    let seqs: Vec<u64> = messages.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(messages[0]["id"], first_id.as_str());
    assert_eq!(messages[0]["phone_number_id"], "100000000000001");
    assert_eq!(messages[0]["message"], text("+34 600 000 001", "Hi Ana!"));
    assert_eq!(messages[1]["message"]["text"]["body"], "Second");

    let (_, after) = inbox(&sandbox, "to=34600000001&after=1").await?;
    assert_eq!(after["messages"].as_array().map(Vec::len), Some(1));
    let (_, none) = inbox(&sandbox, "to=34600000001&limit=0").await?;
    assert_eq!((none["last_seq"].as_u64(), none["messages"].as_array().map(Vec::len)), (Some(2), Some(0)));
    let (_, other) = inbox(&sandbox, "to=34600000002").await?;
    assert_eq!(other["messages"][0]["message"]["text"]["body"], "For someone else");
    assert_eq!(inbox(&sandbox, "after=1").await?.0, 400);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn it_refuses_what_the_cloud_api_would() -> Result<()> {
    let sandbox = sandbox()?;
    let (status, answer) = send(&sandbox, CHAINED, None, &text("34600000001", "x")).await?;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], 190);
    let card_without_buttons = json!({
        "messaging_product": "whatsapp", "to": "34600000001", "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "x"}, "action": {"buttons": []}}
    });
    for (body, reason) in [
        (json!({"to": "34600000001", "text": {"body": "x"}}), "messaging_product"),
        (text("34600000001", ""), "text.body"),
        (card_without_buttons, "0 buttons"),
    ] {
        let (status, answer) = send(&sandbox, CHAINED, Some("t"), &body).await?;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], 100);
        let details = answer["error"]["error_data"]["details"].as_str().unwrap_or_default();
        assert!(details.contains(reason), "{reason:?} not in {details:?}");
    }
    let (_, page) = inbox(&sandbox, "to=34600000001").await?;
    assert_eq!(page["last_seq"], 0, "nothing refused is kept");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn media_goes_up_on_the_people_side_and_down_in_two_steps() -> Result<()> {
    let sandbox = sandbox()?;
    let upload = request("POST", &format!("{PUBLIC}/media"), &[("content-type", "image/png")], &b"\x89PNG fake"[..]);
    let (status, uploaded) = answer(&sandbox, upload).await?;
    assert_eq!(status, 200, "{uploaded}");
    let id = uploaded["id"].as_str().unwrap().to_string();
    assert!(id.len() >= 15 && id.chars().all(|c| c.is_ascii_digit()), "{id}");

    let auth = [("authorization", "Bearer t")];
    let (status, info) =
        answer(&sandbox, request("GET", &format!("{CHAINED}/v21.0/{id}"), &auth, Bytes::new())).await?;
    assert_eq!(status, 200, "{info}");
    assert_eq!(
        (info["mime_type"].as_str(), info["file_size"].as_u64(), info["id"].as_str()),
        (Some("image/png"), Some(9), Some(id.as_str()))
    );
    let url = info["url"].as_str().unwrap();
    assert_eq!(url, format!("{CHAINED}/download/{id}"), "a URL the caller can reach the same way");
    let file = sandbox.http(request("GET", url, &auth, Bytes::new())).await?;
    assert_eq!((file.status().as_u16(), file.headers()["content-type"].to_str()?), (200, "image/png"));
    assert_eq!(file.body().as_ref(), b"\x89PNG fake");
    assert_eq!(sandbox.http(request("GET", url, &[], Bytes::new())).await?.status(), 401);

    let (status, _) = answer(&sandbox, request("GET", &format!("{CHAINED}/v21.0/7999"), &auth, Bytes::new())).await?;
    assert_eq!(status, 400, "an unknown id, as the Cloud API answers it");
    Ok(())
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"demo-app-secret").unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_sends_to_it_in_the_local_store() -> Result<()> {
    let sandbox = sandbox()?;
    let gateway = Harness::component("whatsapp-gateway")
        .variable("verify_token", "demo-verify-token")
        .variable("app_secret", "demo-app-secret")
        .variable("access_token", "demo-access-token")
        .variable("api_base", "http://whatsapp-sandbox.spin.internal/v21.0")
        .variable("brand_numbers", "100000000000001=fashion")
        .variable("hash_salt", "demo-salt")
        .allowed_outbound_hosts(&["http://event-router.spin.internal", "http://whatsapp-sandbox.spin.internal"])
        .build()?;
    gateway.chain(&sandbox);

    let webhook = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": "100000000000001"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34600000001"}],
            "messages": [{"from": "34600000001", "id": "wamid.CHAT1", "timestamp": "1749416383", "type": "text", "text": {"body": "hola"}}]
        }}]}]
    })
    .to_string();
    let posted = request(
        "POST",
        "http://127.0.0.1:3000/webhooks/whatsapp",
        &[("x-hub-signature-256", &sign(webhook.as_bytes()))],
        webhook,
    );
    assert_eq!(gateway.http(posted).await?.status(), 200);
    let published = gateway.take_published();
    let chat: ChatMessageNew = serde_json::from_value(data(&published[1]))?;

    let mut response = event(
        types::CHAT_RESPONSE,
        json!({"conversation": chat.conversation, "brand": "fashion", "from": {"kind": "ai", "agent": "Luna"},
               "messages": [{"kind": "text", "body": "¡Hola Ana!"}]}),
    );
    response.set_extension("brand", "fashion");
    response.set_extension("conversation", chat.conversation.as_str());
    for send in gateway.send(response).await.events()? {
        let sent = gateway.send(send).await;
        assert!(sent.events()?.is_empty(), "{}", sent.output());
    }
    let (_, page) = inbox(&sandbox, "to=34600000001").await?;
    assert_eq!(page["messages"][0]["message"]["text"]["body"], "¡Hola Ana!");
    assert_eq!(page["messages"][0]["phone_number_id"], "100000000000001");

    // And a photo the customer sent reaches other components through the gateway.
    let upload = request("POST", &format!("{PUBLIC}/media"), &[("content-type", "image/jpeg")], &b"jpeg"[..]);
    let id = answer(&sandbox, upload).await?.1["id"].as_str().unwrap().to_string();
    let media = gateway
        .http(request("GET", &format!("http://whatsapp-gateway.spin.internal/media/{id}"), &[], Bytes::new()))
        .await?;
    assert_eq!((media.status().as_u16(), media.body().as_ref()), (200, &b"jpeg"[..]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn anywhere_but_the_local_store_it_is_not_there() -> Result<()> {
    // spin.toml's default is `off`, and a deployment that does not declare
    // the variable at all is off too.
    for enabled in [Some("off"), None] {
        let sandbox = sandbox_with(enabled)?;
        let (status, answer) = send(&sandbox, CHAINED, Some("any-token"), &text("34600000001", "Hi")).await?;
        assert_eq!(status, 404, "{answer}");
        assert!(answer["error"]["error_data"]["details"].as_str().unwrap_or_default().contains("sandbox is off"));
        let upload = request("POST", &format!("{PUBLIC}/media"), &[("content-type", "image/jpeg")], &b"jpeg"[..]);
        assert_eq!(answer_status(&sandbox, upload).await?, 404);
        assert_eq!(inbox(&sandbox, "to=34600000001").await?.0, 404);
        assert!(sandbox.stored("whatsapp-sandbox").await?.is_empty(), "nothing kept");
    }
    Ok(())
}

async fn answer_status(harness: &Harness, request: http::Request<Bytes>) -> Result<u16> {
    Ok(answer(harness, request).await?.0)
}
