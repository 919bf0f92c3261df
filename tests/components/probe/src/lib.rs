//! A component that does, on demand, whatever a host test needs to see:
//! each `test.*` event type asks for one behaviour, and the reply (type
//! `test.reply`) reports what happened.

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
    builder.build().map_err(Error::failed)
}

fn field<'a>(data: &'a Value, name: &str) -> &'a str {
    data.get(name).and_then(Value::as_str).unwrap_or_default()
}

async fn handle(event: Incoming) -> Result<Vec<Event>> {
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
        "test.llm" => {
            let model = llm::InferencingModel::Other(field(&data, "model"));
            let outcome = match llm::infer(model, field(&data, "prompt")) {
                Ok(result) => json!({ "text": result.text, "generated": result.usage.generated_token_count }),
                Err(e) => json!({ "error": format!("{e:?}") }),
            };
            Ok(vec![reply(&event, outcome)?])
        }
        other => Err(Error::bad_event(format!("probe does not know {other}"))),
    }
}

/// Plain HTTP: `POST /publish` publishes the body's events through the
/// router, anything else says hello.
async fn route(request: http::Request) -> http::Response {
    if request.path().ends_with("/publish") {
        let headers: Vec<(String, String)> = request
            .headers()
            .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
            .collect();
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
