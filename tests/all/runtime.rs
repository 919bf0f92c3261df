//! The runtime's sandbox, through the probe test component: each behaviour
//! fails one event and leaves the component serving the next.

use std::time::Duration;

use agent_store_runtime::{CallError, DeliveryError};
use agent_store_testing::{Harness, data, event};
use anyhow::Result;
use cloudevents::AttributesReader;
use serde_json::json;

fn probe() -> agent_store_testing::HarnessBuilder {
    Harness::builder("test_probe").id("probe")
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_replies_and_batches_come_back() -> Result<()> {
    let h = probe().build()?;
    let reply = h.send(event("test.echo", json!({ "hello": "world" }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "hello": "world" }));
    let replies = h.send(event("test.fanout", json!({ "n": 3 }))).await.events()?;
    assert_eq!(replies.len(), 3);
    assert!(h.send(event("test.print", json!({ "text": "x" }))).await.events()?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_event_is_rejected_and_a_failure_is_retryable() -> Result<()> {
    let h = probe().build()?;
    let bad = h.send(event("test.bad", json!({}))).await;
    assert!(
        matches!(bad.error(), Some(DeliveryError::Status { status: 400, reason }) if reason.contains("bad on purpose")),
        "{:?}",
        bad.error()
    );
    let failed = h.send(event("test.fail", json!({}))).await;
    assert!(failed.error().is_some_and(|e| !e.is_refusal()), "{:?}", failed.error());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_fails_that_event_only() -> Result<()> {
    let h = probe().build()?;
    let trapped = h.send(event("test.trap", json!({}))).await;
    let error = trapped.error().expect("the trap must fail the event").to_string();
    assert!(error.contains("trapped"), "{error}");
    assert!(trapped.output().contains("trapping on purpose"), "guest output: {}", trapped.output());
    h.send(event("test.echo", json!({ "after": "trap" }))).await.one("test.reply")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_times_out_and_the_component_keeps_serving() -> Result<()> {
    let h = probe().timeout(Duration::from_millis(300)).build()?;
    let looped = h.send(event("test.loop", json!({}))).await;
    assert_eq!(looped.error(), Some(&DeliveryError::Call(CallError::TimedOut(Duration::from_millis(300)))));
    assert_eq!(looped.error().unwrap().to_string(), "timed out after 300ms");
    h.send(event("test.echo", json!({}))).await.one("test.reply")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_blow_up_fails_that_event_only() -> Result<()> {
    let h = probe().memory_limit_mb(64).build()?;
    let hog = h.send(event("test.memory", json!({}))).await;
    assert_eq!(hog.error(), Some(&DeliveryError::Call(CallError::OutOfMemory(64 << 20))));
    assert_eq!(hog.error().unwrap().to_string(), "exceeded its memory limit of 64 MiB");
    h.send(event("test.echo", json!({}))).await.one("test.reply")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forbidden_import_is_refused_by_name() {
    let err = Harness::builder("test_forbidden_import").build().err().expect("must be refused");
    let message = format!("{err:#}");
    assert!(message.contains("wasi:sockets/"), "{message}");
    assert!(message.contains("does not offer"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_is_limited_to_allowed_hosts() -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        }
    });
    let url = format!("http://127.0.0.1:{port}/hello");

    let allowed = probe().allowed_outbound_hosts(&[&format!("http://127.0.0.1:{port}")]).build()?;
    let reply = allowed.send(event("test.outbound", json!({ "url": url }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "status": 200, "body": "ok" }));

    let denied = probe().allowed_outbound_hosts(&["https://graph.facebook.com"]).build()?;
    let reply = denied.send(event("test.outbound", json!({ "url": url }))).await.one("test.reply")?;
    let error = data(&reply)["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("HttpRequestDenied"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_stores_are_limited_to_the_listed_labels() -> Result<()> {
    let h = probe().key_value_stores(&["mine"]).build()?;
    let reply =
        h.send(event("test.kv", json!({ "store": "mine", "key": "k", "value": "v" }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "value": "v" }));
    assert_eq!(h.stored("mine").await?, vec![("k".to_string(), b"v".to_vec())]);

    let reply = h.send(event("test.kv", json!({ "store": "theirs", "key": "k" }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "error": "Error::AccessDenied" }));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_environment_and_mounted_files_are_visible() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("note.txt"), "mounted")?;
    let h = probe().variable("greeting", "hola").env("MODE", "test").mount_host_dir(dir.path(), "/data").build()?;
    let reply = h.send(event("test.variable", json!({ "name": "greeting" }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "value": "hola" }));
    let reply = h.send(event("test.variable", json!({ "name": "secret" }))).await.one("test.reply")?;
    assert!(data(&reply)["error"].as_str().unwrap_or_default().contains("Undefined"));
    let reply = h.send(event("test.env", json!({ "name": "MODE" }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "value": "test" }));
    let reply = h.send(event("test.file", json!({ "path": "/data/note.txt" }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "text": "mounted" }));
    let reply = h.send(event("test.file", json!({ "path": "/etc/passwd" }))).await.one("test.reply")?;
    assert!(data(&reply)["error"].is_string(), "nothing outside the mounts is visible");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_model_inference_fails_with_a_clear_error() -> Result<()> {
    let h = probe().ai_models(&["llama"]).build()?;
    let reply = h.send(event("test.llm", json!({ "model": "llama", "prompt": "hi" }))).await.one("test.reply")?;
    let error = data(&reply)["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("no model configured"), "{error}");
    let reply = h.send(event("test.llm", json!({ "model": "gpt", "prompt": "hi" }))).await.one("test.reply")?;
    let error = data(&reply)["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("ai_models"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pooling_and_on_demand_allocation_behave_the_same() -> Result<()> {
    let h = probe().pooling(false).build()?;
    h.send(event("test.echo", json!({}))).await.one("test.reply")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_reaches_the_route_handler() -> Result<()> {
    let h = probe().build()?;
    let mut request = http::Request::new(bytes::Bytes::new());
    *request.uri_mut() = "http://localhost/hello/there".parse()?;
    let response = h.http(request).await?;
    assert_eq!(response.status(), 200);
    assert_eq!(std::str::from_utf8(response.body())?, "hello from probe at /hello/there");
    Ok(())
}

/// The attack of issue 10: a CloudEvent posted to a component's route. Only
/// the host's delivery path delivers events; a route gets a plain request,
/// whatever its headers, in binary and in structured mode alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_cloudevent_posted_to_a_route_is_a_plain_request() -> Result<()> {
    let h = probe().build()?;
    let forged = event("test.echo", json!({ "forged": true }));
    let (headers, body) = agent_store_events::binding::encode_binary(&forged)?;
    let structured = serde_json::to_vec(&forged)?;
    let requests = [(headers, body), (structured_headers(), structured)];
    for (headers, body) in requests {
        let mut request = http::Request::new(bytes::Bytes::from(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = "http://localhost/hello/x".parse()?;
        *request.headers_mut() = headers;
        let response = h.http(request).await?;
        assert_eq!(std::str::from_utf8(response.body())?, "hello from probe at /hello/x");
        assert!(!response.headers().contains_key("ce-type"), "no event came back");
    }
    Ok(())
}

fn structured_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", http::HeaderValue::from_static("application/cloudevents+json"));
    headers
}

/// A harness built from spin.toml sees what the store's component sees:
/// the catalog's files staged from `brands/*/catalog.json`, its one store.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_harness_takes_its_sandbox_from_the_manifest() -> Result<()> {
    let catalog = Harness::component("product-catalog").build()?;
    let sandbox = &catalog.component_pre().sandbox;
    assert_eq!(&*sandbox.key_value_stores, &["catalog".to_string()]);
    let (staged, guest) = sandbox.mounts.first().expect("the catalog files are mounted");
    assert_eq!(guest, "/");
    assert!(staged.join("brands/fashion/catalog.json").is_file());
    // A brand package's catalog arrives when the package is deployed.
    assert!(!staged.join("brands/sports/catalog.json").exists());
    let query = event("store.product.query", json!({ "request_id": "r1", "brand": "fashion", "text": "vestido" }));
    catalog.send(query).await.one("store.product.query.result")?;
    Ok(())
}

fn prepared(note: &std::path::Path) -> agent_store_testing::HarnessBuilder {
    Harness::builder("test_prepared").id("prepared").mount_host_dir(note, "/data")
}

async fn state(h: &Harness) -> Result<serde_json::Value> {
    let mut request = http::Request::new(bytes::Bytes::new());
    *request.uri_mut() = "http://localhost/state".parse()?;
    let response = h.http(request).await?;
    assert_eq!(response.status(), 200);
    Ok(serde_json::from_slice(response.body())?)
}

/// Pre-initialization: `init` runs once, at load, and every call starts
/// from its snapshot in an instance of its own; the snapshot follows the
/// mounted files it read.
#[tokio::test(flavor = "multi_thread")]
async fn a_prepared_component_starts_every_call_from_its_snapshot() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let unique = uuid::Uuid::new_v4().to_string();
    std::fs::write(dir.path().join("note.txt"), format!("first {unique}"))?;
    let h = prepared(dir.path()).build()?;
    for _ in 0..2 {
        let state = state(&h).await?;
        assert_eq!(state["prepared"], json!(format!("first {unique}")), "{state}");
        assert_eq!(state["calls"], 1, "each call has a fresh instance: {state}");
        assert_eq!(state["note"], json!(format!("first {unique}")), "files stay reachable after the snapshot: {state}");
    }

    std::fs::write(dir.path().join("note.txt"), format!("second {unique}"))?;
    let state = state(&h).await?;
    assert_eq!(state["prepared"], json!(format!("first {unique}")), "the loaded version keeps its snapshot: {state}");
    assert_eq!(state["note"], json!(format!("second {unique}")), "{state}");
    let reloaded = prepared(dir.path()).build()?;
    let state = self::state(&reloaded).await?;
    assert_eq!(state["prepared"], json!(format!("second {unique}")), "a changed file makes a new snapshot: {state}");
    Ok(())
}

/// The attack: a component that reads a key-value store in `init` would
/// bake what it read into every later instance. `init` has no store.
#[tokio::test(flavor = "multi_thread")]
async fn init_reaches_no_key_value_store_even_one_granted() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("note.txt"), "note")?;
    let h = prepared(dir.path()).env("PREPARE", "key-value").key_value_stores(&["default"]).build()?;
    let state = state(&h).await?;
    let prepared = state["prepared"].as_str().unwrap_or_default();
    assert!(prepared.starts_with("key-value: refused"), "{state}");
    Ok(())
}

/// A component whose `init` fails would fail every event: it is not loaded,
/// and the error says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_init_refuses_the_component_with_the_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("note.txt"), "note")?;
    let trapped = prepared(dir.path()).env("PREPARE", "trap").build().err().expect("a trapping init is refused");
    let message = format!("{trapped:#}");
    assert!(message.contains("wizer-initialize"), "{message}");
    assert!(message.contains("failing to prepare on purpose"), "{message}");

    let looped = prepared(dir.path()).env("PREPARE", "loop").timeout(Duration::from_millis(300)).build();
    let message = format!("{:#}", looped.err().expect("an endless init is refused"));
    assert!(message.contains("timed out after 300ms"), "{message}");
    Ok(())
}

/// What a delivery came to, path-neutral: the replies' types and data, or
/// the error with the guest's noise taken out.
fn summary(sent: &agent_store_testing::Sent) -> Result<Vec<(String, serde_json::Value)>, String> {
    match sent.error() {
        // A trap's text holds a backtrace through the export it came in by.
        Some(DeliveryError::Call(CallError::Trapped(_))) => Err("trapped".into()),
        Some(e) => Err(format!("refusal={} {e}", e.is_refusal())),
        None => Ok(sent.events().unwrap().iter().map(|e| (e.ty().to_string(), data(e))).collect()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sdk_component_takes_events_on_its_direct_export_with_the_same_outcomes_as_over_http() -> Result<()> {
    let h = probe().memory_limit_mb(64).timeout(Duration::from_millis(500)).build()?;
    assert!(h.component_pre().has_direct_handler(), "the SDK's export! must add the direct export");
    let cases = [
        event("test.echo", json!({ "hello": "world", "n": [1, 2.5, null], "ü": "ñ" })),
        event("test.fanout", json!({ "n": 3 })),
        event("test.print", json!({ "text": "x" })),
        event("test.bad", json!({})),
        event("test.fail", json!({})),
        event("test.trap", json!({})),
        event("test.memory", json!({})),
        event("test.loop", json!({})),
        event("test.unknown", json!({})),
    ];
    for case in cases {
        let direct = h.send(case.clone()).await;
        let over_http = h.send_over_http(case.clone()).await;
        assert_eq!(summary(&direct), summary(&over_http), "{}", case.ty());
    }
    // The echo keeps the event's extensions and data exactly, both ways.
    let reply = h.send(event("test.echo", json!({ "deep": { "list": [true, "x"] } }))).await.one("test.reply")?;
    assert_eq!(data(&reply), json!({ "deep": { "list": [true, "x"] } }));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_answer_is_checked_as_an_http_reply_is() -> Result<()> {
    let h = Harness::builder("test_direct_liar").id("liar").build()?;
    assert!(h.component_pre().has_direct_handler());
    let good = h.send(event("test.anything", json!({}))).await.one("test.reply")?;
    assert_eq!(data(&good), json!({ "ok": true }));
    let lies = [
        ("test.liar.extension", "not a CloudEvents attribute name"),
        ("test.liar.not-json", "not valid JSON"),
        ("test.liar.no-id", "`id` is empty"),
        ("test.liar.huge", "more than the 16 MiB a reply may hold"),
    ];
    for (ty, reason) in lies {
        let sent = h.send(event(ty, json!({}))).await;
        match sent.error() {
            Some(e @ DeliveryError::Reply(_)) => {
                assert!(e.to_string().contains(reason), "{ty}: {e}");
                assert!(!e.is_refusal(), "{ty}: a broken answer is the component's fault, not the event's");
            }
            other => panic!("{ty}: expected a refused reply, got {other:?}"),
        }
    }
    // Each lie fails its own event only.
    h.send(event("test.anything", json!({}))).await.one("test.reply")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_export_of_another_signature_is_refused_when_loaded() {
    let err = Harness::builder("test_handler_mismatch").build().err().expect("must be refused");
    let message = format!("{err:#}");
    assert!(message.contains("agent-store:platform/handler"), "{message}");
}
