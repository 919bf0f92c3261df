//! A component that does, on demand, whatever a host test needs to see:
//! each `test.*` event type asks for one behaviour, and the reply (type
//! `test.reply`) reports what happened.

use agent_store_sdk::spin_sdk::wit::wasi::keyvalue as kv;
use agent_store_sdk::spin_sdk::{http, key_value, llm, variables};
use agent_store_sdk::{AttributesWriter, Error, Event, EventBuilder, EventBuilderV10, Incoming, Result};
use serde_json::{Value, json};

fn reply(event: &Incoming, data: Value) -> Result<Event> {
    let mut builder = EventBuilderV10::new()
        .id(format!("{}-reply", event.id()))
        .source("/agent-store/probe")
        .ty("test.reply")
        .data("application/json", data);
    if let Some(conversation) = event.conversation() {
        builder = builder.extension("conversation", conversation);
    }
    if let Some(brand) = event.brand() {
        builder = builder.extension("brand", brand);
    }
    builder.build().map_err(Error::failed)
}

fn field<'a>(data: &'a Value, name: &str) -> &'a str {
    data.get(name).and_then(Value::as_str).unwrap_or_default()
}

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    // A pure subscriber, for routing tests: takes every event, answers none.
    if std::env::var("PROBE_SINK").is_ok() {
        return Ok(Vec::new());
    }
    let data: Value = event.data().unwrap_or(Value::Null);
    match event.ty() {
        "test.echo" => Ok(vec![reply(&event, data)?]),
        "test.fanout" => {
            let n = data.get("n").and_then(Value::as_u64).unwrap_or(2);
            (0..n).map(|i| reply(&event, json!({ "i": i }))).collect()
        }
        // Answers with another event of its own type: an endless chain, which
        // the host must cut at its hop limit.
        "test.bounce" => {
            let mut next = reply(&event, data)?;
            next.set_type("test.bounce");
            next.set_id(format!("{}-b", event.id()));
            Ok(vec![next])
        }
        // Publishes through the event router, as a route does, another
        // event of its own type that claims hop 0: an endless chain unless
        // the host carries on the hop count of the event being handled.
        "test.republish" => {
            let mut next = reply(&event, data)?;
            next.set_type("test.republish");
            next.set_id(format!("{}-r", event.id()));
            next.set_extension("depth", 0i64);
            agent_store_sdk::publish(&[next]).await?;
            Ok(Vec::new())
        }
        "test.bad" => Err(Error::bad_event("this event is bad on purpose")),
        "test.fail" => Err(Error::failed("this event fails on purpose")),
        "test.trap" => {
            eprintln!("about to trap");
            panic!("trapping on purpose")
        }
        "test.loop" => {
            let mut i: u64 = 0;
            loop {
                i = std::hint::black_box(i.wrapping_add(1));
            }
        }
        "test.memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 * 1024 * 1024]);
                std::hint::black_box(&hoard);
            }
        }
        "test.print" => {
            println!("{}", field(&data, "text"));
            Ok(Vec::new())
        }
        "test.outbound" => {
            let url = field(&data, "url");
            let outcome = match http::send::<_, http::Response>(http::Request::get(url).build()).await {
                Ok(response) => json!({
                    "status": *response.status(),
                    "body": String::from_utf8_lossy(response.body()),
                }),
                Err(e) => json!({ "error": e.to_string() }),
            };
            Ok(vec![reply(&event, outcome)?])
        }
        "test.kv" => {
            let outcome = match key_value::Store::open(field(&data, "store")) {
                Ok(store) => {
                    let key = field(&data, "key");
                    if let Some(value) = data.get("value").and_then(Value::as_str) {
                        store.set(key, value.as_bytes()).map_err(Error::failed)?;
                    }
                    let read = store.get(key).map_err(Error::failed)?;
                    json!({ "value": read.map(|v| String::from_utf8_lossy(&v).into_owned()) })
                }
                Err(e) => json!({ "error": format!("{e:?}") }),
            };
            Ok(vec![reply(&event, outcome)?])
        }
        "test.variable" => {
            let outcome = match variables::get(field(&data, "name")) {
                Ok(value) => json!({ "value": value }),
                Err(e) => json!({ "error": format!("{e:?}") }),
            };
            Ok(vec![reply(&event, outcome)?])
        }
        "test.file" => {
            let outcome = match std::fs::read_to_string(field(&data, "path")) {
                Ok(text) => json!({ "text": text }),
                Err(e) => json!({ "error": e.to_string() }),
            };
            Ok(vec![reply(&event, outcome)?])
        }
        "test.env" => Ok(vec![reply(&event, json!({ "value": std::env::var(field(&data, "name")).ok() }))?]),
        // Holds its lane for a while, so that what comes after it queues.
        "test.sleep" => {
            let ms = data.get("ms").and_then(Value::as_u64).unwrap_or(1000);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(vec![reply(&event, json!({ "value": std::env::var("PROBE_TAG").ok() }))?])
        }
        "test.llm" => {
            let model = llm::InferencingModel::Other(field(&data, "model"));
            let outcome = match llm::infer(model, field(&data, "prompt")) {
                Ok(result) => json!({ "text": result.text, "generated": result.usage.generated_token_count }),
                Err(e) => json!({ "error": format!("{e:?}") }),
            };
            Ok(vec![reply(&event, outcome)?])
        }
        // A side effect to count: adds one to `key` (the event id by
        // default) in `store`, atomically, so that a test sees how many
        // times the host really ran the component for one event.
        "test.count" => {
            let store = data.get("store").and_then(Value::as_str).unwrap_or("counts");
            let key =
                data.get("key").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| event.id().to_string());
            let bucket = kv::store::open(store).map_err(|e| Error::failed(format!("{e:?}")))?;
            kv::atomics::increment(&bucket, &key, 1).map_err(|e| Error::failed(format!("{e:?}")))?;
            if data.get("reply").and_then(Value::as_bool).unwrap_or(false) {
                return Ok(vec![reply(&event, json!({ "counted": key }))?]);
            }
            Ok(Vec::new())
        }
        // Appends the event's `seq` to the list kept for its conversation:
        // the order the component saw a conversation's events in.
        "test.sequence" => {
            let store = key_value::Store::open(data.get("store").and_then(Value::as_str).unwrap_or("counts"))
                .map_err(Error::failed)?;
            let key = format!("seq:{}", event.conversation().unwrap_or_default());
            let seq = data.get("seq").and_then(Value::as_u64).unwrap_or_default();
            let mut seen = store.get(&key).map_err(Error::failed)?.unwrap_or_default();
            if !seen.is_empty() {
                seen.push(b',');
            }
            seen.extend_from_slice(seq.to_string().as_bytes());
            store.set(&key, &seen).map_err(Error::failed)?;
            if let Some(ms) = data.get("sleep_ms").and_then(Value::as_u64) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            Ok(Vec::new())
        }
        // Fails (retryably) until `key` exists in `store`: a poison event
        // that a fix, then a replay from the dead-letter queue, gets through.
        "test.fail-unless" => {
            let store = key_value::Store::open(field(&data, "store")).map_err(Error::failed)?;
            if !store.exists(field(&data, "key")).map_err(Error::failed)? {
                return Err(Error::failed(format!("`{}` is not set yet", field(&data, "key"))));
            }
            Ok(vec![reply(&event, json!({ "fixed": true }))?])
        }
        // A stand-in seller for the WhatsApp tests: answers every customer
        // message with a product card that quotes what the customer said.
        "store.chat.message.new" => stand_in_seller(&event),
        other => Err(Error::bad_event(format!("probe does not know {other}"))),
    }
}

/// The product card the stand-in seller answers with; its description
/// repeats the customer's words, so a test sees which message it answers.
fn stand_in_seller(event: &Incoming) -> Result<Vec<Event>> {
    use agent_store_sdk::events::{
        ChatMessageNew, ChatResponse, Money, OutboundMessage, ProductSummary, ReplyButton, Responder,
    };
    let message: ChatMessageNew = event.data()?;
    let said: String = message.text.chars().take(200).collect();
    let card = OutboundMessage::ProductCard {
        product: ProductSummary {
            id: "fsh-001".into(),
            name: "Linen Summer Shirt".into(),
            price: Money::new(4990, "USD"),
            sale_price: Some(Money::new(3992, "USD")),
            image_url: "https://cdn.agent-store.example/fashion/fsh-001.jpg".into(),
            description: Some(format!("You said: {said}")),
        },
        buttons: vec![ReplyButton::new("add:fsh-001", "Add to cart"), ReplyButton::new("more:shirts", "Show me more")],
    };
    let response = ChatResponse {
        conversation: message.conversation,
        brand: message.brand,
        in_reply_to: Some(message.message_id),
        from: Responder::Ai { agent: "Probe".into() },
        messages: vec![card],
    };
    Ok(vec![event.reply(&response)?])
}

/// Plain HTTP: `POST /publish` publishes the body's events through the
/// router, anything else says hello.
async fn route(request: http::Request) -> http::Response {
    if request.path().ends_with("/publish") {
        let headers: Vec<(String, String)> =
            request.headers().map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string())).collect();
        let events: Vec<Event> = match serde_json::from_slice(request.body()) {
            Ok(events) => events,
            Err(e) => return http::Response::new(400, format!("bad events: {e}")),
        };
        return match agent_store_sdk::publish(&events).await {
            Ok(()) => http::Response::new(202, format!("published {}", events.len())),
            Err(e) => http::Response::new(502, format!("{e} ({} headers)", headers.len())),
        };
    }
    http::Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("hello from probe at {}", request.path()))
        .build()
}

agent_store_sdk::export!(id: "probe", events: handle, http: route);
