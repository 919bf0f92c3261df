//! The OpenAI backend against a fake OpenAI-compatible server on 127.0.0.1:
//! a real HTTP server whose answers each test scripts.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::*;
use crate::bindings::fermyon::spin::llm as wit;
use crate::capabilities::llm::{LlmCtx, Models, UsageRow};

const KEY: &str = "sk-test-4f1c9a";

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Value,
    delay: Duration,
    /// Held until this many requests have been in flight at once, so that
    /// a test of the concurrency limit does not depend on how fast the
    /// requests arrive.
    gate: usize,
}

fn ok(body: Value) -> Reply {
    Reply { status: 200, body, delay: Duration::ZERO, gate: 0 }
}

fn status(status: u16, body: Value) -> Reply {
    Reply { status, body, delay: Duration::ZERO, gate: 0 }
}

fn completion(text: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion }
    })
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body: Value,
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Fake {
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Fake {
    /// Starts a server answering the `n`th request (from 0) with `script(n)`.
    async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> (Self, String) {
        let fake = Fake {
            script: Arc::new(script),
            seen: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let app = axum::Router::new().fallback(answer).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(fake): State<Fake>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let n = {
        let mut seen = fake.seen.lock().unwrap();
        seen.push(Seen { uri: uri.to_string(), headers, body: serde_json::from_slice(&body).unwrap_or(Value::Null) });
        seen.len() - 1
    };
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = (fake.script)(n);
    while fake.max_in_flight.load(Ordering::SeqCst) < reply.gate {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(reply.delay).await;
    fake.in_flight.fetch_sub(1, Ordering::SeqCst);
    (StatusCode::from_u16(reply.status).unwrap(), axum::Json(reply.body)).into_response()
}

fn config(url: &str) -> OpenAiConfig {
    OpenAiConfig {
        flavor: Flavor::OpenAi,
        base_url: Url::parse(url).unwrap(),
        model: Some("test-model".into()),
        embedding_model: None,
        key: Some(ApiKey::new("TEST_LLM_KEY", KEY)),
        auth: Auth::Bearer,
        api_version: None,
        // Generous: a loaded machine must not turn a retry into a timeout.
        // The tests about the budget set their own.
        timeout: Duration::from_secs(60),
        concurrency: 4,
        retries: 1,
    }
}

fn backend(config: OpenAiConfig) -> OpenAi {
    OpenAi::new(config).unwrap()
}

async fn infer(backend: &OpenAi) -> Result<Inference, LlmError> {
    backend.infer("chat", "Say hi", &InferParams::default()).await
}

fn runtime_message(result: Result<Inference, LlmError>) -> String {
    match result {
        Err(LlmError::Runtime(message)) => message,
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_completion_comes_back_with_its_usage() {
    let (fake, url) = Fake::start(|_| ok(completion("Hi there!", 12, 3))).await;
    let inference = infer(&backend(config(&url))).await.unwrap();
    assert_eq!(inference, Inference { text: "Hi there!".into(), prompt_tokens: 12, generated_tokens: 3 });

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/v1/chat/completions");
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(seen[0].body["model"], "test-model", "the server's model name, not the logical one");
    assert_eq!(seen[0].body["messages"], json!([{ "role": "user", "content": "Say hi" }]));
    assert_eq!(seen[0].body["max_tokens"], 100);
    assert!(seen[0].body.get("top_k").is_none(), "OpenAI refuses parameters it does not know");
}

#[tokio::test]
async fn without_a_model_option_the_logical_name_is_sent() {
    let (fake, url) = Fake::start(|_| ok(completion("ok", 1, 1))).await;
    let backend = backend(OpenAiConfig { model: None, key: None, ..config(&url) });
    infer(&backend).await.unwrap();
    let seen = fake.seen();
    assert_eq!(seen[0].body["model"], "chat");
    assert!(seen[0].headers.get("authorization").is_none(), "no key, no header");
}

#[tokio::test]
async fn usage_is_counted_per_component_and_brand_through_the_capability() {
    let (_fake, url) = Fake::start(|n| ok(completion("ok", 10 + n as u64, 2))).await;
    let models = Arc::new(Models::default().with("chat", Arc::new(backend(config(&url)))));
    let ctx = |component: &str, brand: Option<&str>| LlmCtx {
        models: models.clone(),
        allowed: Arc::from(vec!["chat".to_string()]),
        component: Arc::from(component),
        brand: brand.map(str::to_string),
    };
    for (component, brand) in
        [("seller-fashion", Some("fashion")), ("seller-fashion", Some("fashion")), ("sales-assistant", None)]
    {
        let mut ctx = ctx(component, brand);
        let result = wit::Host::infer(&mut &mut ctx, "chat".into(), "hi".into(), None).await.unwrap();
        assert_eq!(result.unwrap().text, "ok");
    }
    // A model the component may not use is refused before any server is asked.
    let mut ctx = ctx("seller-fashion", Some("fashion"));
    let refused = wit::Host::infer(&mut &mut ctx, "other".into(), "hi".into(), None).await.unwrap();
    assert!(matches!(refused, Err(wit::Error::InvalidInput(_))), "{refused:?}");

    let row = |component: &str, brand: &str, prompt, requests| UsageRow {
        component: component.into(),
        brand: brand.into(),
        model: "chat".into(),
        requests,
        failures: 0,
        prompt_tokens: prompt,
        generated_tokens: 2 * requests,
    };
    assert_eq!(models.usage(), vec![row("sales-assistant", "-", 12, 1), row("seller-fashion", "fashion", 10 + 11, 2)]);
}

#[tokio::test]
async fn a_500_is_retried_and_the_retry_succeeds() {
    let (fake, url) = Fake::start(|n| {
        if n == 0 {
            status(500, json!({ "error": { "message": "overloaded" } }))
        } else {
            ok(completion("second time lucky", 5, 4))
        }
    })
    .await;
    let inference = infer(&backend(config(&url))).await.unwrap();
    assert_eq!(inference.text, "second time lucky");
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn retries_stop_at_the_limit_with_the_servers_message() {
    let (fake, url) = Fake::start(|_| status(503, json!({ "error": { "message": "the engine is warming up" } }))).await;
    let message = runtime_message(infer(&backend(OpenAiConfig { retries: 2, ..config(&url) })).await);
    assert_eq!(fake.seen().len(), 3, "one try and two retries");
    assert!(message.contains("503") && message.contains("the engine is warming up"), "{message}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_the_budget_in_the_message() {
    // The answer would come after an hour: only the time budget ends the call.
    let (fake, url) =
        Fake::start(|_| Reply { delay: Duration::from_secs(3600), ..ok(completion("too late", 1, 1)) }).await;
    let backend = backend(OpenAiConfig { timeout: Duration::from_millis(300), ..config(&url) });
    let message = runtime_message(infer(&backend).await);
    assert!(message.contains("timed out after 300ms"), "{message}");
    assert_eq!(fake.seen().len(), 1, "a timeout is not retried: the budget is spent");
}

#[tokio::test]
async fn a_refused_key_is_not_retried_and_never_shown() {
    // Some servers echo the key they refused; it must not reach the guest.
    let (fake, url) = Fake::start(|_| {
        status(
            401,
            json!({ "error": { "message": format!("Incorrect API key provided: {KEY}"), "code": "invalid_api_key" } }),
        )
    })
    .await;
    let message = runtime_message(infer(&backend(OpenAiConfig { retries: 3, ..config(&url) })).await);
    assert_eq!(fake.seen().len(), 1, "a 401 is not retried");
    assert!(message.contains("401") && message.contains("$TEST_LLM_KEY"), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
}

#[tokio::test]
async fn bad_requests_and_unknown_models_map_to_their_errors() {
    let (_fake, url) = Fake::start(|n| match n {
        0 => status(400, json!({ "error": { "message": "maximum context length is 8192 tokens" } })),
        1 => {
            status(404, json!({ "error": { "message": "The model `nope` does not exist", "code": "model_not_found" } }))
        }
        2 => status(404, json!({ "error": "model \"llama9\" not found, try pulling it first" })),
        _ => status(404, json!({ "error": "page not found" })),
    })
    .await;
    let backend = backend(config(&url));
    match infer(&backend).await {
        Err(LlmError::InvalidInput(m)) => assert!(m.contains("maximum context length"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(infer(&backend).await, Err(LlmError::ModelNotSupported), "OpenAI's model_not_found");
    assert_eq!(infer(&backend).await, Err(LlmError::ModelNotSupported), "Ollama's model not found");
    let message = runtime_message(infer(&backend).await);
    assert!(message.contains("404"), "a wrong URL is a runtime error: {message}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_runtime_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let message = runtime_message(infer(&backend(OpenAiConfig { retries: 0, ..config(&url) })).await);
    assert!(message.contains("unreachable"), "{message}");
}

#[tokio::test]
async fn concurrency_is_limited_per_endpoint() {
    // Each request is held until two have been in flight together, then a
    // while longer: a third would arrive meanwhile if the limit leaked.
    let (fake, url) =
        Fake::start(|_| Reply { delay: Duration::from_millis(100), gate: 2, ..ok(completion("ok", 1, 1)) }).await;
    let backend = Arc::new(backend(OpenAiConfig { concurrency: 2, ..config(&url) }));
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move { infer(&backend).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().text, "ok");
    }
    assert_eq!(fake.seen().len(), 6);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 2, "never more than `concurrency` at once");
}

/// The budget's rules on their own, around attempts the test scripts: no
/// server, and nothing that depends on how fast the machine is.
mod budget {
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn backend(timeout: Duration, retries: u32) -> OpenAi {
        super::backend(OpenAiConfig { timeout, retries, concurrency: 1, ..config("http://127.0.0.1:9/v1") })
    }

    fn retryable(retry_after: Option<Duration>) -> Failure {
        Failure { error: LlmError::Runtime("the model server answered 503: busy".into()), retryable: true, retry_after }
    }

    fn message(result: Result<Value, LlmError>) -> String {
        match result {
            Err(LlmError::Runtime(message)) => message,
            other => panic!("expected a runtime error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn waiting_for_a_slot_counts_against_the_timeout() {
        let backend = backend(Duration::from_millis(300), 1);
        // Another call holds the only slot for longer than the budget.
        let _held = backend.permits.acquire().await.unwrap();
        let attempts = AtomicU32::new(0);
        let result = backend
            .within_budget(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Ok(json!({})) }
            })
            .await;
        let message = message(result);
        assert!(message.contains("timed out after 300ms") && message.contains("1 request slots"), "{message}");
        assert_eq!(attempts.load(Ordering::SeqCst), 0, "nothing is sent without a slot");
    }

    #[tokio::test]
    async fn the_time_spent_waiting_for_a_slot_is_not_given_again_to_the_attempts() {
        // The slot frees 600 ms after the call took its deadline (a biased
        // `join!` polls the call first, so the releasing timer starts later),
        // leaving at most 400 ms of the budget. The server asks to come back
        // in 500 ms, which no longer fits: one attempt, and its failure. A
        // budget restarted at the slot would try again.
        let backend = backend(Duration::from_secs(1), 3);
        let held = backend.permits.acquire().await.unwrap();
        let attempts = AtomicU32::new(0);
        let call = backend.within_budget(|| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err(retryable(Some(Duration::from_millis(500)))) }
        });
        let release = async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            drop(held);
        };
        let (result, ()) = tokio::join!(biased; call, release);
        let message = message(result);
        assert!(message.contains("503: busy"), "the real failure, not a bare timeout: {message}");
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_stop_where_the_budget_ends_with_the_real_failure() {
        // Pauses of at least 250 ms and then 500 ms: within 600 ms a third
        // attempt can never start, whatever the retry limit.
        let backend = backend(Duration::from_millis(600), 10);
        let attempts = AtomicU32::new(0);
        let result = backend
            .within_budget(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(retryable(None)) }
            })
            .await;
        let message = message(result);
        assert!(message.contains("503: busy"), "{message}");
        let attempts = attempts.load(Ordering::SeqCst);
        assert!((1..=2).contains(&attempts), "{attempts} attempts");
    }

    #[tokio::test]
    async fn a_short_retry_after_is_honoured_up_to_the_retry_limit() {
        let backend = backend(Duration::from_secs(60), 2);
        let attempts = AtomicU32::new(0);
        let result = backend
            .within_budget(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(retryable(Some(Duration::from_millis(10)))) }
            })
            .await;
        assert!(message(result).contains("503: busy"));
        assert_eq!(attempts.load(Ordering::SeqCst), 3, "one try and two retries");
    }

    #[tokio::test]
    async fn an_attempt_that_never_ends_is_cut_at_the_deadline() {
        let backend = backend(Duration::from_millis(200), 5);
        let attempts = AtomicU32::new(0);
        let result = backend
            .within_budget(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                std::future::pending()
            })
            .await;
        let message = message(result);
        assert!(message.contains("timed out after 200ms") && !message.contains("slots"), "{message}");
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "a timeout is not retried");
    }
}

#[tokio::test]
async fn embeddings_come_back_in_input_order() {
    let (fake, url) = Fake::start(|_| {
        ok(json!({
            "object": "list",
            "data": [
                { "object": "embedding", "index": 1, "embedding": [0.5, 0.25] },
                { "object": "embedding", "index": 0, "embedding": [1.0, -1.0] }
            ],
            "usage": { "prompt_tokens": 7, "total_tokens": 7 }
        }))
    })
    .await;
    let backend = backend(OpenAiConfig { embedding_model: Some("text-embedding-3-small".into()), ..config(&url) });
    let result = backend.embed("chat", &["first".into(), "second".into()]).await.unwrap();
    assert_eq!(result, Embeddings { embeddings: vec![vec![1.0, -1.0], vec![0.5, 0.25]], prompt_tokens: 7 });
    let seen = fake.seen();
    assert_eq!(seen[0].uri, "/v1/embeddings");
    assert_eq!(seen[0].body, json!({ "model": "text-embedding-3-small", "input": ["first", "second"] }));
    assert_eq!(backend.embed("chat", &[]).await.unwrap().embeddings.len(), 0);
    assert_eq!(fake.seen().len(), 1, "nothing to embed, nothing sent");
}

#[tokio::test]
async fn azure_gets_an_api_key_header_and_the_api_version() {
    let (fake, url) = Fake::start(|_| ok(completion("hola", 3, 1))).await;
    let base = url.replace("/v1", "/openai/deployments/gpt4o");
    let backend = backend(OpenAiConfig {
        flavor: Flavor::Azure,
        auth: Auth::ApiKeyHeader,
        api_version: Some("2024-10-21".into()),
        model: None,
        ..config(&base)
    });
    assert_eq!(infer(&backend).await.unwrap().text, "hola");
    let seen = fake.seen();
    assert_eq!(seen[0].uri, "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21");
    assert_eq!(seen[0].headers["api-key"], KEY);
    assert!(seen[0].headers.get("authorization").is_none());
    assert!(backend.describe().starts_with("azure at http://127.0.0.1:"), "{}", backend.describe());
}
