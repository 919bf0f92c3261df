//! The escalation flow through the running host, with the repository's
//! manifest: a stand-in for the AI seller posts the chat events and the
//! escalation to `/events`; human sellers work it through the sales
//! assistant's API; what they do comes out as events on the broker.
//!
//! The brand is `acme`, which no seller component serves, so that only the
//! stand-in speaks for the AI seller (brands are open: any id works).

use std::time::Duration;

use agent_store_tests::{HostBuilder, HostProcess, event, is};
use anyhow::{Context, Result};
use cloudevents::AttributesReader;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const CONVERSATION: &str = "cv-acme-e2e";

/// Now, in RFC 3339, read off a new event's `time` (this crate has no
/// clock library of its own).
fn now() -> String {
    event("clock", Value::Null).time().map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn on_conversation(mut e: cloudevents::Event) -> cloudevents::Event {
    e.set_extension("brand", "acme");
    e.set_extension("conversation", CONVERSATION);
    e
}

async fn post(host: &HostProcess, e: cloudevents::Event) -> Result<()> {
    let (status, body) = host.post_event(&on_conversation(e)).await?;
    anyhow::ensure!(status == 202, "{status}: {body}");
    Ok(())
}

async fn api(
    host: &HostProcess,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", host.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_human_takes_over_an_escalated_conversation_and_hands_it_back() -> Result<()> {
    let host = HostBuilder::repo_manifest()
        .arg("--kv")
        .arg("memory")
        .env("SPIN_VARIABLE_SALES_API_TOKENS", "tok-ana=ana,tok-bruno=bruno")
        .start()
        .await?;
    let mut tail = host.tail(&[("conversation", CONVERSATION)]).await?;

    // The stand-in seller: a frustrated customer, the AI's answer, an escalation.
    let customer = json!({ "id": "cus-acme-1", "name": "Marta" });
    agent_store_tests::customer_wrote(None, "Is this a scam? I paid and want a refund!!");
    post(
        &host,
        event(
            "store.chat.message.new",
            json!({
                "conversation": CONVERSATION, "brand": "acme", "customer": customer, "message_id": "wamid.e2e.1",
                "text": "Is this a scam? I paid and want a refund!!",
                "content": { "kind": "text", "body": "Is this a scam? I paid and want a refund!!" },
                "received_at": now()
            }),
        ),
    )
    .await?;
    post(
        &host,
        event(
            "store.chat.response",
            json!({
                "conversation": CONVERSATION, "brand": "acme", "from": { "kind": "ai", "agent": "Acme" },
                "messages": [{ "kind": "text", "body": "I'm sorry! Let me get a person to help you." }]
            }),
        ),
    )
    .await?;
    // The assistant keeps the transcript before any escalation: wait until
    // both lines are in before escalating.
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let record = tail.find(WAIT, |r| r["kind"] == "delivered" && r["component"] == "sales-assistant").await?;
        delivered.push(record["event"]["type"].as_str().unwrap_or_default().to_string());
    }
    delivered.sort();
    assert_eq!(delivered, ["store.chat.message.new", "store.chat.response"]);
    post(
        &host,
        event(
            "store.sales.escalate",
            json!({
                "escalation_id": "esc-acme-e2e", "conversation": CONVERSATION, "brand": "acme", "customer": customer,
                "reason": "low_sentiment", "sentiment": 0.1, "summary": "The customer fears a scam and wants a refund.",
                "escalated_at": now()
            }),
        ),
    )
    .await?;
    let queued = tail.find(WAIT, |r| is(r, "published", "store.sales.insight")).await?;
    assert_eq!(queued["event"]["data"]["kind"], "escalation", "{queued}");
    assert_eq!(queued["event"]["data"]["escalation_id"], "esc-acme-e2e");

    // The API is for sellers only.
    let (status, _) = api(&host, reqwest::Method::GET, "/sales/escalations", None, None).await?;
    assert_eq!(status, 401);
    let (status, queue) = api(&host, reqwest::Method::GET, "/sales/escalations", Some("tok-ana"), None).await?;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue["queued"][0]["escalation_id"], "esc-acme-e2e", "{queue}");

    // Two sellers accept at once: one gets it.
    let accept = |token: &'static str| {
        let url = format!("{}/sales/escalations/esc-acme-e2e/accept", host.url);
        async move { reqwest::Client::new().post(url).bearer_auth(token).send().await.map(|r| r.status().as_u16()) }
    };
    let (ana, bruno) = tokio::join!(accept("tok-ana"), accept("tok-bruno"));
    let (ana, bruno) = (ana?, bruno?);
    let mut statuses = [ana, bruno];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "ana {ana}, bruno {bruno}");
    let (seller, token) = if ana == 200 { ("ana", "tok-ana") } else { ("bruno", "tok-bruno") };
    let accepted = tail.find(WAIT, |r| is(r, "published", "store.sales.escalation.accepted")).await?;
    assert_eq!(accepted["event"]["data"]["seller_id"], seller);
    assert_eq!(accepted["event"]["brand"], "acme");

    // The conversation, the cart and the suggestions.
    let (status, detail) =
        api(&host, reqwest::Method::GET, "/sales/escalations/esc-acme-e2e", Some(token), None).await?;
    assert_eq!(status, 200, "{detail}");
    let transcript = detail["transcript"].as_array().context("a transcript")?;
    assert_eq!(transcript.len(), 2, "{detail}");
    assert_eq!(transcript[0]["from"], "customer");
    let (status, suggestions) =
        api(&host, reqwest::Method::GET, "/sales/escalations/esc-acme-e2e/suggestions", Some(token), None).await?;
    assert_eq!(status, 200, "{suggestions}");
    assert_eq!(suggestions["objections"][0]["kind"], "trust", "{suggestions}");
    assert_eq!(suggestions["language"], "en");
    let draft = suggestions["drafts"][0]["text"].as_str().context("a draft")?.to_string();

    // The human's reply goes out to the customer as a chat response.
    let (status, sent) = api(
        &host,
        reqwest::Method::POST,
        "/sales/escalations/esc-acme-e2e/reply",
        Some(token),
        Some(json!({ "text": draft })),
    )
    .await?;
    assert_eq!(status, 202, "{sent}");
    let reply = tail
        .find(WAIT, |r| is(r, "published", "store.chat.response") && r["event"]["data"]["from"]["kind"] == "human")
        .await?;
    assert_eq!(reply["event"]["data"]["from"]["seller_id"], seller);
    assert_eq!(reply["event"]["data"]["messages"][0]["body"], draft.as_str());
    assert_eq!(reply["event"]["id"], sent["event_id"]);
    // The assistant hears its own reply back from the broker (the transcript
    // and the seller's figures come from there).
    tail.find(WAIT, |r| {
        is(r, "delivered", "store.chat.response")
            && r["component"] == "sales-assistant"
            && r["event"]["id"] == sent["event_id"]
    })
    .await?;

    // Handed back to the AI seller, with how it ended.
    let (status, released) = api(
        &host,
        reqwest::Method::POST,
        "/sales/escalations/esc-acme-e2e/release",
        Some(token),
        Some(json!({ "resolution": "resolved", "note": "Order verified; refund policy explained." })),
    )
    .await?;
    assert_eq!(status, 200, "{released}");
    let event = tail.find(WAIT, |r| is(r, "published", "store.sales.escalation.released")).await?;
    assert_eq!(event["event"]["data"]["resolution"], "resolved");
    assert_eq!(event["event"]["data"]["note"], "Order verified; refund policy explained.");
    let performance = tail
        .find(WAIT, |r| is(r, "published", "store.sales.insight") && r["event"]["data"]["kind"] == "performance")
        .await?;
    assert_eq!(performance["event"]["data"]["seller_id"], seller);

    let (_, analytics) = api(&host, reqwest::Method::GET, "/sales/analytics", Some("tok-ana"), None).await?;
    let acme = &analytics["brands"]["acme"];
    assert_eq!((acme["conversations"].clone(), acme["escalations"].clone()), (json!(1), json!(1)), "{analytics}");
    assert_eq!(acme["resolutions"], json!({ "resolved": 1 }));
    assert_eq!(analytics["sellers"][seller]["replies"], 1, "the reply came back through the broker: {analytics}");
    Ok(())
}
