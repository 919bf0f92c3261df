//! An OpenAI-compatible model server as an LLM backend: `POST
//! {base}/chat/completions` for `infer` and `POST {base}/embeddings` for
//! `generate-embeddings`. The same protocol is spoken by OpenAI, Azure
//! OpenAI (with an `api-key` header and an `api-version`), Ollama, vLLM and
//! the llama.cpp server, so one backend covers them all.
//!
//! Every call has one time budget (`timeout`) that covers waiting for a free
//! request slot (`concurrency`), every attempt and the backoff between them:
//! a component waiting for a reply never waits longer, whatever the server
//! does. Only failures that may pass are retried (connection errors, 408,
//! 429, 5xx); a refused key or a bad request is answered at once.
//!
//! The API key is read from the environment once, at start; it goes into a
//! request header and nowhere else: not in logs, not in errors (a server
//! that echoes it back has it scrubbed from the message we relay).

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use reqwest::Url;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{Embeddings, InferParams, Inference, LlmBackend, LlmError};

/// The first pause before a retry; it doubles each time (with jitter).
const RETRY_BASE: Duration = Duration::from_millis(250);

/// A `Retry-After` longer than this is not waited for: the budget is
/// seconds, and a server that asks for more will not be ready in time.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An answer larger than this is refused. Chat completions are a few KiB;
/// embeddings of a large batch (1,536 floats per text) reach some MiB.
const MAX_RESPONSE: usize = 32 * 1024 * 1024;

/// What a relayed server message is cut to: enough to say what is wrong.
const MAX_MESSAGE: usize = 300;

/// Which dialect of the protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAI and everything that copies its API (Ollama, vLLM, llama.cpp).
    OpenAi,
    /// Azure OpenAI: the URL names a deployment, `api-version` is required.
    Azure,
}

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI and most servers).
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

/// An API key and the environment variable it came from. Its `Debug` shows
/// the variable's name only.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The environment variable the key was read from.
    pub env: String,
    value: String,
}

impl ApiKey {
    /// A key read from `env`.
    pub fn new(env: impl Into<String>, value: impl Into<String>) -> Self {
        Self { env: env.into(), value: value.into() }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(${})", self.env)
    }
}

/// One endpoint, as `--llm` describes it (see `docs/llm.md`).
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// OpenAI or Azure OpenAI.
    pub flavor: Flavor,
    /// Up to and without `/chat/completions`: `https://api.openai.com/v1`,
    /// `https://<resource>.openai.azure.com/openai/deployments/<deployment>`.
    pub base_url: Url,
    /// The server's model name; the logical name when `None`.
    pub model: Option<String>,
    /// The server's model for embeddings; `model` when `None`.
    pub embedding_model: Option<String>,
    /// The API key, if the server needs one.
    pub key: Option<ApiKey>,
    /// How the key is sent.
    pub auth: Auth,
    /// Sent as the `api-version` query parameter (Azure needs one).
    pub api_version: Option<String>,
    /// The whole budget of one call, retries and queueing included.
    pub timeout: Duration,
    /// Requests in flight to this server at once.
    pub concurrency: usize,
    /// Extra attempts after a retryable failure.
    pub retries: u32,
}

/// An OpenAI-compatible chat and embeddings backend.
pub struct OpenAi {
    config: OpenAiConfig,
    chat_url: Url,
    embeddings_url: Url,
    client: reqwest::Client,
    permits: Semaphore,
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    error: LlmError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: LlmError) -> Self {
        Self { error, retryable: false, retry_after: None }
    }
}

impl OpenAi {
    /// A backend for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        let endpoint = |path: &str| -> Result<Url> {
            let mut url = config.base_url.clone();
            url.set_query(None);
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}/{path}"));
            if let Some(version) = &config.api_version {
                url.query_pairs_mut().append_pair("api-version", version);
            }
            Ok(url)
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("agent-store/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            .build()
            .context("building the HTTP client of the model server")?;
        Ok(Self {
            chat_url: endpoint("chat/completions")?,
            embeddings_url: endpoint("embeddings")?,
            client,
            permits: Semaphore::new(config.concurrency.max(1)),
            config,
        })
    }

    /// What it was built from.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The server's name for `model`.
    fn remote_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.config.model.as_deref().unwrap_or(model)
    }

    /// Posts `body` to `url` within the time budget, retrying what may pass.
    async fn post(&self, url: &Url, body: &Value) -> Result<Value, LlmError> {
        self.within_budget(|| self.attempt(url, body)).await
    }

    /// Runs `attempt` under the call's rules: one request slot, retries of
    /// what may pass, and one deadline over all of it. Apart from the HTTP
    /// exchange so that those rules are tested on their own, in virtual time.
    async fn within_budget<F, A>(&self, mut attempt: F) -> Result<Value, LlmError>
    where
        F: FnMut() -> A,
        A: Future<Output = Result<Value, Failure>>,
    {
        let timeout = self.config.timeout;
        let deadline = Instant::now() + timeout;
        let timed_out =
            |what: &str| LlmError::Runtime(format!("{} timed out after {}{what}", self.server(), human(timeout)));
        let _permit = match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
            Ok(permit) => permit.map_err(|_| LlmError::Runtime("the model backend is shutting down".into()))?,
            Err(_) => {
                return Err(timed_out(&format!(
                    " waiting for one of its {} request slots (raise `concurrency`)",
                    self.config.concurrency
                )));
            }
        };
        let mut retries = 0;
        loop {
            let failure = match tokio::time::timeout_at(deadline, attempt()).await {
                Err(_) => return Err(timed_out("")),
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(failure)) => failure,
            };
            if !failure.retryable || retries >= self.config.retries {
                return Err(failure.error);
            }
            let pause = failure.retry_after.filter(|d| *d <= MAX_RETRY_AFTER).unwrap_or_else(|| backoff(retries));
            if Instant::now() + pause >= deadline {
                // No time left to try again: the real failure says more than
                // a timeout would.
                return Err(failure.error);
            }
            retries += 1;
            tracing::debug!(url = %self.config.base_url, retries, error = %failure.error, "retrying the model server");
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(&self, url: &Url, body: &Value) -> Result<Value, Failure> {
        let mut request = self.client.post(url.clone()).json(body);
        if let Some(key) = &self.config.key {
            request = match self.config.auth {
                Auth::Bearer => request.bearer_auth(&key.value),
                Auth::ApiKeyHeader => request.header("api-key", &key.value),
            };
        }
        let mut response = request.send().await.map_err(|e| {
            // Connection failures are worth another try; the error text of
            // reqwest names the URL (which holds no secret), never headers.
            Failure {
                error: LlmError::Runtime(format!("{} is unreachable: {}", self.server(), source_chain(&e))),
                retryable: true,
                retry_after: None,
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() > MAX_RESPONSE => {
                    return Err(Failure::fatal(LlmError::Runtime(format!(
                        "{} answered more than {} MiB",
                        self.server(),
                        MAX_RESPONSE >> 20
                    ))));
                }
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    let error =
                        LlmError::Runtime(format!("{} broke off its answer: {}", self.server(), source_chain(&e)));
                    return Err(Failure { error, retryable: true, retry_after: None });
                }
            }
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Failure::fatal(LlmError::Runtime(format!("{} answered something that is not JSON: {e}", self.server())))
            });
        }
        let message = self.scrub(&server_message(&bytes));
        let answered = format!("{} answered {status}: {message}", self.server());
        Err(match status.as_u16() {
            400 | 413 | 422 => Failure::fatal(LlmError::InvalidInput(answered)),
            401 | 403 => Failure::fatal(LlmError::Runtime(match &self.config.key {
                Some(key) => format!("{answered} (check the key in ${})", key.env),
                None => format!("{answered} (it needs a key: add key_env=<VARIABLE> to --llm)"),
            })),
            404 if is_unknown_model(&bytes, &message) => {
                tracing::info!(url = %self.config.base_url, %message, "the model server does not know the model");
                Failure::fatal(LlmError::ModelNotSupported)
            }
            408 | 429 | 500..=599 => Failure { error: LlmError::Runtime(answered), retryable: true, retry_after },
            _ => Failure::fatal(LlmError::Runtime(answered)),
        })
    }

    /// The server as errors name it: its base URL (no query, no secret).
    fn server(&self) -> String {
        format!("the model server at {}", self.config.base_url)
    }

    /// Removes the key from text a server sent back.
    fn scrub(&self, text: &str) -> String {
        match &self.config.key {
            Some(key) if !key.value.is_empty() => text.replace(&key.value, "[redacted]"),
            _ => text.to_string(),
        }
    }
}

#[async_trait]
impl LlmBackend for OpenAi {
    async fn infer(&self, model: &str, prompt: &str, params: &InferParams) -> Result<Inference, LlmError> {
        // top_k and the repeat penalties have no OpenAI equivalent, and
        // OpenAI refuses parameters it does not know: they are not sent.
        let body = json!({
            "model": self.remote_model(model),
            "messages": [{ "role": "user", "content": prompt }],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        });
        let answer = self.post(&self.chat_url, &body).await?;
        let text = answer["choices"][0]["message"]["content"].as_str().ok_or_else(|| {
            LlmError::Runtime(format!("{} answered without choices[0].message.content", self.server()))
        })?;
        Ok(Inference {
            text: text.to_string(),
            prompt_tokens: tokens(&answer["usage"]["prompt_tokens"]),
            generated_tokens: tokens(&answer["usage"]["completion_tokens"]),
        })
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Embeddings, LlmError> {
        if texts.is_empty() {
            return Ok(Embeddings { embeddings: Vec::new(), prompt_tokens: 0 });
        }
        let remote = self.config.embedding_model.as_deref().unwrap_or_else(|| self.remote_model(model));
        let answer = self.post(&self.embeddings_url, &json!({ "model": remote, "input": texts })).await?;
        let malformed = || LlmError::Runtime(format!("{} answered embeddings without data[].embedding", self.server()));
        let mut data: Vec<(u64, Vec<f32>)> = Vec::new();
        for (position, item) in answer["data"].as_array().ok_or_else(malformed)?.iter().enumerate() {
            let vector = item["embedding"].as_array().ok_or_else(malformed)?;
            let vector = vector
                .iter()
                .map(|x| x.as_f64().map(|x| x as f32))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(malformed)?;
            data.push((item["index"].as_u64().unwrap_or(position as u64), vector));
        }
        if data.len() != texts.len() {
            return Err(LlmError::Runtime(format!(
                "{} answered {} embeddings for {} texts",
                self.server(),
                data.len(),
                texts.len()
            )));
        }
        data.sort_by_key(|(index, _)| *index);
        Ok(Embeddings {
            embeddings: data.into_iter().map(|(_, v)| v).collect(),
            prompt_tokens: tokens(&answer["usage"]["prompt_tokens"]),
        })
    }

    fn describe(&self) -> String {
        let flavor = match self.config.flavor {
            Flavor::OpenAi => "openai",
            Flavor::Azure => "azure",
        };
        let mut text = format!("{flavor} at {}", self.config.base_url);
        if let Some(model) = &self.config.model {
            text.push_str(&format!(" (model {model})"));
        }
        text
    }
}

fn tokens(value: &Value) -> u32 {
    value.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(0)
}

/// 250 ms, 500 ms, 1 s… each with up to a quarter more at random, so that
/// callers rejected together do not come back together.
fn backoff(attempt: u32) -> Duration {
    let base = RETRY_BASE.saturating_mul(1 << attempt.min(6));
    base + base.mul_f64(rand::random::<f64>() / 4.0)
}

/// The error message of an OpenAI (`{"error": {"message"}}`), Ollama
/// (`{"error": "..."}`) or vLLM (`{"message"}`) error body, else the body.
fn server_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(json) => [&json["error"]["message"], &json["error"], &json["message"], &json["detail"]]
            .into_iter()
            .find_map(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| json.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = text.trim();
    if text.is_empty() {
        return "(no message)".into();
    }
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A 404 about the model (OpenAI's `model_not_found`, Ollama's "model … not
/// found", vLLM's "The model … does not exist") rather than a wrong URL.
fn is_unknown_model(body: &[u8], message: &str) -> bool {
    let code = serde_json::from_slice::<Value>(body).ok().and_then(|j| j["error"]["code"].as_str().map(str::to_string));
    let message = message.to_ascii_lowercase();
    code.as_deref() == Some("model_not_found")
        || (message.contains("model") && (message.contains("not found") || message.contains("does not exist")))
}

/// `8s`, `1500ms`: durations as `--llm` writes them.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests;
