//! The LLM capability through the running host: `--llm chat=openai:…`
//! pointed at a fake OpenAI-compatible server on 127.0.0.1, and the probe
//! component calling `fermyon:spin/llm` the way the sellers and the sales
//! assistant do. Shows the model path, the errors the components fall back
//! on when the server is slow, failing or refuses the key, and the token
//! usage the host counts per component and brand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_store_tests::{HostBuilder, TEST_TOKEN, event, is, test_app};
use anyhow::{Context, Result};
use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);

/// The key the host reads from the environment; it must never show.
const KEY: &str = "sk-e2e-0b9f7c1d";

const LLM_APP: &str = r#"
spin_manifest_version = 2
[application]
name = "llm-app"

[component.probe]
source = "{{wasm}}/test_probe.wasm"
ai_models = ["chat", "hasty", "unconfigured"]

[component.probe.tool.agent-store]
subscribe = [{ type = "test.#" }]
emits = ["test.#"]
concurrency = 4
timeout = "10s"
"#;

/// What a fake model completes a prompt with.
pub(crate) type Completer = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A fake OpenAI-compatible chat-completions server. It answers by the
/// prompt: `slow` never (it waits until the client gives up), `fail` is a
/// 500, `unauthorized` a 401 that echoes the key it got, anything else a
/// completion: its [`Completer`]'s, or a hello.
pub(crate) struct FakeModel {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<(String, Value, String)>>>,
}

impl FakeModel {
    async fn start() -> Result<Self> {
        Self::completing(Arc::new(|_: &str| "Hello from the fake model".to_owned())).await
    }

    /// A fake whose completions `complete` writes.
    pub(crate) async fn completing(complete: Completer) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/v1", listener.local_addr()?);
        let requests: Arc<Mutex<Vec<(String, Value, String)>>> = Arc::default();
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, complete) = (seen.clone(), complete.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, seen, complete).await;
                });
            }
        });
        Ok(Self { url, requests })
    }

    fn requests(&self) -> Vec<(String, Value, String)> {
        self.requests.lock().unwrap().clone()
    }

    /// Every prompt the fake was sent, oldest first.
    pub(crate) fn prompts(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|(_, body, _)| body["messages"][0]["content"].as_str().map(str::to_owned))
            .collect()
    }
}

/// One HTTP/1.1 exchange (the client is told to close afterwards).
async fn serve(
    mut stream: tokio::net::TcpStream,
    seen: Arc<Mutex<Vec<(String, Value, String)>>>,
    complete: Completer,
) -> Result<()> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the client closed early");
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the client closed early");
        buffer.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
    let authorization = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("authorization:").then(|| l[14..].trim().to_string()))
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null);
    seen.lock().unwrap().push((path, body.clone(), authorization.clone()));

    let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
    let (status, answer) = match prompt.as_str() {
        "slow" => {
            // Only the host's time budget can end this call: no timing to
            // assert, and a budget that did not hold fails the test.
            let mut rest = [0u8; 1024];
            while stream.read(&mut rest).await? > 0 {}
            return Ok(());
        }
        "fail" => (500, json!({ "error": { "message": "the GPU caught fire", "type": "server_error" } })),
        "unauthorized" => {
            (401, json!({ "error": { "message": format!("Incorrect API key provided: {authorization}") } }))
        }
        _ => (200, completion(&complete(&prompt))),
    };
    let text = answer.to_string();
    let response = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        if status == 200 { "OK" } else { "Error" },
        text.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16 }
    })
}

/// Asks the probe to infer with `model` and returns its report.
async fn infer(
    host: &agent_store_tests::HostProcess,
    tail: &mut agent_store_tests::Tail,
    model: &str,
    prompt: &str,
) -> Result<Value> {
    infer_for(host, tail, None, model, prompt).await
}

/// [`infer`] for an event of `brand`.
async fn infer_for(
    host: &agent_store_tests::HostProcess,
    tail: &mut agent_store_tests::Tail,
    brand: Option<&str>,
    model: &str,
    prompt: &str,
) -> Result<Value> {
    let mut ask = event("test.llm", json!({ "model": model, "prompt": prompt }));
    if let Some(brand) = brand {
        ask = EventBuilderV10::from(ask).extension("brand", brand).build()?;
    }
    let reply_id = format!("{}-reply", ask.id());
    let (status, body) = host.post_event(&ask).await?;
    anyhow::ensure!(status == 202, "{status}: {body}");
    let record = tail.find(WAIT, |r| is(r, "published", "test.reply") && r["event"]["id"] == reply_id).await?;
    Ok(record["event"]["data"].clone())
}

/// `GET /admin/llm/usage`: the host's token counts, one row per component,
/// brand and model.
async fn usage(host: &agent_store_tests::HostProcess) -> Result<Vec<Value>> {
    let client = reqwest::Client::new();
    let url = format!("{}/admin/llm/usage", host.url);
    let refused = client.get(&url).send().await?;
    anyhow::ensure!(refused.status() == 401, "the usage needs the admin token: {}", refused.status());
    let answer: Value = client.get(&url).bearer_auth(TEST_TOKEN).send().await?.error_for_status()?.json().await?;
    answer["usage"].as_array().cloned().context("usage rows")
}

fn usage_row(component: &str, brand: &str, model: &str, counts: [u64; 4]) -> Value {
    let [requests, failures, prompt_tokens, generated_tokens] = counts;
    json!({
        "component": component, "brand": brand, "model": model,
        "requests": requests, "failures": failures,
        "prompt_tokens": prompt_tokens, "generated_tokens": generated_tokens,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_model_answers_through_the_host() -> Result<()> {
    let fake = FakeModel::start().await?;
    let app = test_app(LLM_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml"))
        .arg("--kv")
        .arg("memory")
        .arg("--llm")
        .arg(format!("chat=openai:{}?model=test&key_env=AGENT_STORE_TEST_LLM_KEY", fake.url))
        .env("AGENT_STORE_TEST_LLM_KEY", KEY)
        .start()
        .await?;
    host.wait_for_log("LLM backend", WAIT).await?;
    let mut tail = host.tail(&[("type", "test.reply")]).await?;

    let answer = infer_for(&host, &mut tail, Some("fashion"), "chat", "Say hello").await?;
    assert_eq!(answer, json!({ "text": "Hello from the fake model", "generated": 7 }));
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let (path, body, authorization) = &requests[0];
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(body["model"], "test", "the server's model name");
    assert_eq!(body["messages"], json!([{ "role": "user", "content": "Say hello" }]));
    assert_eq!(authorization, &format!("Bearer {KEY}"));

    // A model listed in ai_models but given no backend is the default `none`.
    let answer = infer(&host, &mut tail, "unconfigured", "hi").await?;
    assert!(
        answer["error"].as_str().unwrap_or_default().contains("no model configured for `unconfigured`"),
        "{answer}"
    );
    infer_for(&host, &mut tail, Some("fashion"), "chat", "Again").await?;
    infer_for(&host, &mut tail, Some("tech"), "chat", "Hi").await?;

    // Tokens are counted per component, brand and model (the fake reports
    // 9 prompt and 7 completion tokens a call), failures too, and every
    // call's tokens are in the log.
    assert_eq!(
        usage(&host).await?,
        vec![
            usage_row("probe", "-", "unconfigured", [0, 1, 0, 0]),
            usage_row("probe", "fashion", "chat", [2, 0, 18, 14]),
            usage_row("probe", "tech", "chat", [1, 0, 9, 7]),
        ]
    );
    // The same calls on `/metrics`, by brand and model: this app's
    // manifest names no brand, so its events' brands read `other`.
    let metrics = reqwest::get(format!("{}/metrics", host.url)).await?.text().await?;
    for line in [
        r#"agent_store_llm_tokens_total{brand="other",model="chat",kind="prompt"} 27"#,
        r#"agent_store_llm_tokens_total{brand="other",model="chat",kind="generated"} 21"#,
        r#"agent_store_llm_calls_total{brand="other",model="chat",outcome="ok"} 3"#,
        r#"agent_store_llm_calls_total{brand="none",model="unconfigured",outcome="failed"} 1"#,
        r#"agent_store_llm_call_duration_seconds_count{brand="other",model="chat"} 3"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let logged = host.log_lines("inference");
    assert!(
        logged.iter().any(|l| l["brand"] == "tech" && l["prompt_tokens"] == 9 && l["generated_tokens"] == 7),
        "{logged:?}"
    );
    assert!(!host.logs().join("\n").contains(KEY), "the key is never logged");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_failing_or_refusing_model_gives_errors_to_fall_back_on() -> Result<()> {
    let fake = FakeModel::start().await?;
    let app = test_app(LLM_APP)?;
    let host = HostBuilder::new(app.path().join("spin.toml"))
        .arg("--kv")
        .arg("memory")
        // Two models in one variable: `hasty` has a short budget for the
        // server that never answers; `chat` a budget no loaded machine can
        // spend on one retry, so that the counts below are certain.
        .env(
            "AGENT_STORE_LLM",
            &format!(
                "chat=openai:{url}?model=test&key_env=AGENT_STORE_TEST_LLM_KEY&timeout=8s&retries=1,\
                 hasty=openai:{url}?model=test&timeout=700ms&retries=1",
                url = fake.url
            ),
        )
        .env("AGENT_STORE_TEST_LLM_KEY", KEY)
        .start()
        .await?;
    let mut tail = host.tail(&[("type", "test.reply")]).await?;

    // The probe reports the guest's error with `{:?}`: `Error::RuntimeError("…")`.
    let slow = infer(&host, &mut tail, "hasty", "slow").await?;
    let error = slow["error"].as_str().context("an error")?;
    assert!(error.contains("RuntimeError(") && error.contains("timed out after 700ms"), "{error}");

    let before = fake.requests().len();
    let failing = infer(&host, &mut tail, "chat", "fail").await?;
    let error = failing["error"].as_str().context("an error")?;
    assert!(
        error.contains("RuntimeError(") && error.contains("500") && error.contains("the GPU caught fire"),
        "{error}"
    );
    assert_eq!(fake.requests().len() - before, 2, "a 500 is tried again once");

    let before = fake.requests().len();
    let refused = infer(&host, &mut tail, "chat", "unauthorized").await?;
    let error = refused["error"].as_str().context("an error")?;
    assert!(
        error.contains("RuntimeError(") && error.contains("401") && error.contains("$AGENT_STORE_TEST_LLM_KEY"),
        "{error}"
    );
    assert!(!error.contains(KEY), "the echoed key is scrubbed: {error}");
    assert_eq!(fake.requests().len() - before, 1, "a 401 is not retried");

    // And the host still answers with the model afterwards.
    let fine = infer(&host, &mut tail, "chat", "hello again").await?;
    assert_eq!(fine["text"], "Hello from the fake model");
    assert_eq!(
        usage(&host).await?,
        vec![usage_row("probe", "-", "chat", [1, 2, 9, 7]), usage_row("probe", "-", "hasty", [0, 1, 0, 0])]
    );
    assert!(!host.logs().join("\n").contains(KEY), "the key is never logged");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_llm_option_stops_the_host_before_it_listens() -> Result<()> {
    let app = test_app(LLM_APP)?;
    let manifest = app.path().join("spin.toml");
    let output = HostBuilder::new(&manifest).arg("--llm").arg("chat=gpt-4").expect_failure().await?;
    assert!(output.contains("--llm chat=gpt-4") && output.contains("unknown backend"), "{output}");
    let output = HostBuilder::new(&manifest)
        .env("AGENT_STORE_LLM", "chat=openai:https://api.openai.com/v1?key_env=AGENT_STORE_TEST_NO_SUCH_KEY")
        .expect_failure()
        .await?;
    assert!(output.contains("AGENT_STORE_TEST_NO_SUCH_KEY is not set"), "{output}");
    assert!(!output.contains("Agent Store is up"), "{output}");
    Ok(())
}
