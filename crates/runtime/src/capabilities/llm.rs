//! Inference: `fermyon:spin/llm`, with model names mapped to backends.
//!
//! No model is configured by default: the sellers' offline brain needs none,
//! and a component that asks anyway gets a clear `runtime-error` it can fall
//! back from. A component may use only the models its manifest entry lists
//! under `ai_models`, as in Spin.
//!
//! The host maps each logical model name (what a component passes to
//! `infer`, e.g. `chat`) to a backend with `--llm <model>=<backend>`
//! ([`config`]); the backend beside this module is an OpenAI-compatible
//! HTTP endpoint ([`openai`]). Token usage is counted per component, brand
//! and model in [`TokenUsage`], read with [`Models::usage`] (served at
//! `GET /admin/llm/usage`), and each call's tokens are logged.
//!
//! ```
//! use agent_store_runtime::capabilities::llm::config::models_from_specs;
//!
//! let models = models_from_specs(&["chat=openai:http://127.0.0.1:11434/v1?model=llama3.2&timeout=5s".into()])?;
//! assert_eq!(models.describe(), vec![("chat".to_string(), "openai at http://127.0.0.1:11434/v1 (model llama3.2)".to_string())]);
//! assert!(models_from_specs(&["chat=gpt".into()]).is_err());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod config;
pub mod openai;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;
use tracing::Instrument;
use wasmtime::component::{HasData, Linker};

use crate::bindings::fermyon::spin::llm as wit;

/// Sampling settings, with Spin's defaults when the guest passes none.
#[derive(Debug, Clone, PartialEq)]
pub struct InferParams {
    /// Tokens to generate at most.
    pub max_tokens: u32,
    /// Penalty for repeated tokens.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_penalty_last_n_token_count: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Top-k sampling.
    pub top_k: u32,
    /// Top-p (nucleus) sampling.
    pub top_p: f32,
}

impl Default for InferParams {
    fn default() -> Self {
        Self {
            max_tokens: 100,
            repeat_penalty: 1.1,
            repeat_penalty_last_n_token_count: 64,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.9,
        }
    }
}

/// What one inference produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// The generated text.
    pub text: String,
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub generated_tokens: u32,
}

/// What one embedding call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One vector per input text.
    pub embeddings: Vec<Vec<f32>>,
    /// Tokens of the inputs.
    pub prompt_tokens: u32,
}

/// Why a model call failed, as `fermyon:spin/llm` says it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The component may not use the model, or no backend serves it.
    #[error("model not supported")]
    ModelNotSupported,
    /// The backend failed.
    #[error("{0}")]
    Runtime(String),
    /// The input was refused.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl LlmError {
    /// A bounded name for the failure, for spans and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ModelNotSupported => "model_not_supported",
            Self::Runtime(_) => "runtime",
            Self::InvalidInput(_) => "invalid_input",
        }
    }
}

/// A source of inference: a model server, or nothing at all.
#[async_trait]
pub trait LlmBackend: Send + Sync {
    /// Runs inference on `prompt` with `model`.
    async fn infer(&self, model: &str, prompt: &str, params: &InferParams) -> Result<Inference, LlmError>;
    /// Embeds `texts` with `model`.
    async fn embed(&self, model: &str, texts: &[String]) -> Result<Embeddings, LlmError>;

    /// One line for the start-up log: what this backend is, never a secret.
    fn describe(&self) -> String {
        "a custom backend".into()
    }
}

/// The default backend: answers every request with an error that says how
/// to configure a model.
pub struct NoModel;

#[async_trait]
impl LlmBackend for NoModel {
    async fn infer(&self, model: &str, _: &str, _: &InferParams) -> Result<Inference, LlmError> {
        Err(LlmError::Runtime(format!(
            "no model configured for `{model}`: start the host with --llm {model}=<backend> to use one"
        )))
    }

    async fn embed(&self, model: &str, _: &[String]) -> Result<Embeddings, LlmError> {
        self.infer(model, "", &InferParams::default()).await.map(|_| unreachable!())
    }

    fn describe(&self) -> String {
        "none".into()
    }
}

/// What one (component, brand, model) has used so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct UsageRow {
    /// The component that made the calls.
    pub component: String,
    /// `-` when the call was not made for a brand's event (an HTTP route).
    pub brand: String,
    /// The logical model name.
    pub model: String,
    /// Calls that succeeded.
    pub requests: u64,
    /// Calls that failed (after any retries): what fallbacks were used for.
    pub failures: u64,
    /// Prompt tokens used.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated_tokens: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    failures: AtomicU64,
    prompt: AtomicU64,
    generated: AtomicU64,
}

/// Token counts by (component, brand, model), from the `usage` the model
/// servers report.
#[derive(Default)]
pub struct TokenUsage {
    counts: Mutex<HashMap<(String, String, String), Arc<Counters>>>,
}

impl TokenUsage {
    fn counters(&self, component: &str, brand: &str, model: &str) -> Arc<Counters> {
        self.counts
            .lock()
            .unwrap()
            .entry((component.to_string(), brand.to_string(), model.to_string()))
            .or_default()
            .clone()
    }

    /// Counts one successful call and its tokens.
    pub fn record(&self, component: &str, brand: &str, model: &str, prompt: u32, generated: u32) {
        let counters = self.counters(component, brand, model);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        counters.prompt.fetch_add(u64::from(prompt), Ordering::Relaxed);
        counters.generated.fetch_add(u64::from(generated), Ordering::Relaxed);
    }

    /// Counts one failed call.
    pub fn record_failure(&self, component: &str, brand: &str, model: &str) {
        self.counters(component, brand, model).failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Every row, sorted by component, brand and model.
    pub fn snapshot(&self) -> Vec<UsageRow> {
        let mut rows: Vec<_> = self
            .counts
            .lock()
            .unwrap()
            .iter()
            .map(|((component, brand, model), c)| UsageRow {
                component: component.clone(),
                brand: brand.clone(),
                model: model.clone(),
                requests: c.requests.load(Ordering::Relaxed),
                failures: c.failures.load(Ordering::Relaxed),
                prompt_tokens: c.prompt.load(Ordering::Relaxed),
                generated_tokens: c.generated.load(Ordering::Relaxed),
            })
            .collect();
        rows.sort();
        rows
    }
}

/// One model call, as the capability saw it.
#[derive(Debug, Clone, Copy)]
pub struct ModelCall<'a> {
    /// The calling component.
    pub component: &'a str,
    /// The brand of the event being handled, if any.
    pub brand: Option<&'a str>,
    /// The logical model name (one of the component's `ai_models`).
    pub model: &'a str,
    /// Wall time of the call, the backend's retries included.
    pub elapsed: Duration,
    /// Prompt and generated tokens of a call that succeeded; `None` when
    /// it failed.
    pub tokens: Option<(u32, u32)>,
}

/// Told of every model call: the host's metrics, which the runtime does
/// not know of.
pub trait CallObserver: Send + Sync {
    /// One call ended.
    fn observe(&self, call: &ModelCall<'_>);
}

/// The models the host knows, by name.
pub struct Models {
    backends: HashMap<String, Arc<dyn LlmBackend>>,
    fallback: Arc<dyn LlmBackend>,
    /// Token accounting of every call.
    pub usage: TokenUsage,
    observer: Option<Arc<dyn CallObserver>>,
}

impl Default for Models {
    fn default() -> Self {
        Self { backends: HashMap::new(), fallback: Arc::new(NoModel), usage: TokenUsage::default(), observer: None }
    }
}

impl Models {
    /// Tells `observer` of every call from now on.
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Serves `model` with `backend`.
    pub fn with(mut self, model: impl Into<String>, backend: Arc<dyn LlmBackend>) -> Self {
        self.backends.insert(model.into(), backend);
        self
    }

    fn backend(&self, model: &str) -> &Arc<dyn LlmBackend> {
        self.backends.get(model).unwrap_or(&self.fallback)
    }

    /// Token usage so far, one row per (component, brand, model): what
    /// `GET /admin/llm/usage` serves.
    pub fn usage(&self) -> Vec<UsageRow> {
        self.usage.snapshot()
    }

    /// `(model, backend)` for every configured model, sorted, for the
    /// start-up log.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self.backends.iter().map(|(m, b)| (m.clone(), b.describe())).collect();
        all.sort();
        all
    }
}

/// What one invocation may use.
#[derive(Clone)]
pub struct LlmCtx {
    /// Every configured model.
    pub models: Arc<Models>,
    /// The models the component lists in `ai_models`.
    pub allowed: Arc<[String]>,
    /// The calling component, for accounting.
    pub component: Arc<str>,
    /// The brand of the event being handled, for token accounting.
    pub brand: Option<String>,
}

/// `HasData` marker for [`add_to_linker`].
pub struct Llm;

impl HasData for Llm {
    type Data<'a> = &'a mut LlmCtx;
}

/// Adds `fermyon:spin/llm` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LlmCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Llm>(linker, get)?;
    Ok(())
}

impl LlmCtx {
    fn brand(&self) -> &str {
        self.brand.as_deref().unwrap_or("-")
    }

    fn observe(&self, model: &str, started: Instant, tokens: Option<(u32, u32)>) {
        if let Some(observer) = &self.models.observer {
            let brand = self.brand.as_deref();
            let elapsed = started.elapsed();
            observer.observe(&ModelCall { component: &self.component, brand, model, elapsed, tokens });
        }
    }

    fn check_allowed(&self, model: &str) -> Result<(), LlmError> {
        if self.allowed.iter().any(|m| m == model) {
            return Ok(());
        }
        tracing::warn!(component = %self.component, model, "model not listed in the component's ai_models");
        Err(LlmError::InvalidInput(format!(
            "component `{}` may not use model `{model}`: add it to ai_models in its manifest entry",
            self.component
        )))
    }
}

fn to_wit(e: LlmError) -> wit::Error {
    match e {
        LlmError::ModelNotSupported => wit::Error::ModelNotSupported,
        LlmError::Runtime(m) => wit::Error::RuntimeError(m),
        LlmError::InvalidInput(m) => wit::Error::InvalidInput(m),
    }
}

impl wit::Host for &mut LlmCtx {
    async fn infer(
        &mut self,
        model: String,
        prompt: String,
        params: Option<wit::InferencingParams>,
    ) -> Result<Result<wit::InferencingResult, wit::Error>> {
        if let Err(e) = self.check_allowed(&model) {
            return Ok(Err(to_wit(e)));
        }
        let params = params
            .map(|p| InferParams {
                max_tokens: p.max_tokens,
                repeat_penalty: p.repeat_penalty,
                repeat_penalty_last_n_token_count: p.repeat_penalty_last_n_token_count,
                temperature: p.temperature,
                top_k: p.top_k,
                top_p: p.top_p,
            })
            .unwrap_or_default();
        let started = Instant::now();
        let span = tracing::debug_span!(
            "llm.inference",
            otel.kind = "client",
            gen_ai.operation.name = "text_completion",
            gen_ai.request.model = %model,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let result = self.models.backend(&model).infer(&model, &prompt, &params).instrument(span.clone()).await;
        match &result {
            Ok(inference) => {
                span.record("gen_ai.usage.input_tokens", inference.prompt_tokens);
                span.record("gen_ai.usage.output_tokens", inference.generated_tokens);
            }
            Err(e) => {
                span.record("error.type", e.kind());
            }
        }
        self.observe(&model, started, result.as_ref().ok().map(|i| (i.prompt_tokens, i.generated_tokens)));
        Ok(match result {
            Ok(inference) => {
                tracing::info!(
                    component = %self.component,
                    brand = self.brand(),
                    model,
                    prompt_tokens = inference.prompt_tokens,
                    generated_tokens = inference.generated_tokens,
                    "inference"
                );
                self.models.usage.record(
                    &self.component,
                    self.brand(),
                    &model,
                    inference.prompt_tokens,
                    inference.generated_tokens,
                );
                Ok(wit::InferencingResult {
                    text: inference.text,
                    usage: wit::InferencingUsage {
                        prompt_token_count: inference.prompt_tokens,
                        generated_token_count: inference.generated_tokens,
                    },
                })
            }
            Err(e) => {
                self.models.usage.record_failure(&self.component, self.brand(), &model);
                tracing::info!(component = %self.component, brand = self.brand(), model, error = %e, "inference failed");
                Err(to_wit(e))
            }
        })
    }

    async fn generate_embeddings(
        &mut self,
        model: String,
        text: Vec<String>,
    ) -> Result<Result<wit::EmbeddingsResult, wit::Error>> {
        if let Err(e) = self.check_allowed(&model) {
            return Ok(Err(to_wit(e)));
        }
        let started = Instant::now();
        let span = tracing::debug_span!(
            "llm.embeddings",
            otel.kind = "client",
            gen_ai.operation.name = "embeddings",
            gen_ai.request.model = %model,
            gen_ai.usage.input_tokens = tracing::field::Empty,
        );
        let result = self.models.backend(&model).embed(&model, &text).instrument(span.clone()).await;
        if let Ok(embeddings) = &result {
            span.record("gen_ai.usage.input_tokens", embeddings.prompt_tokens);
        }
        self.observe(&model, started, result.as_ref().ok().map(|e| (e.prompt_tokens, 0)));
        Ok(match result {
            Ok(e) => {
                tracing::info!(
                    component = %self.component,
                    brand = self.brand(),
                    model,
                    prompt_tokens = e.prompt_tokens,
                    texts = e.embeddings.len(),
                    "embeddings"
                );
                self.models.usage.record(&self.component, self.brand(), &model, e.prompt_tokens, 0);
                Ok(wit::EmbeddingsResult {
                    embeddings: e.embeddings,
                    usage: wit::EmbeddingsUsage { prompt_token_count: e.prompt_tokens },
                })
            }
            Err(e) => {
                self.models.usage.record_failure(&self.component, self.brand(), &model);
                tracing::info!(component = %self.component, brand = self.brand(), model, error = %e, "embeddings failed");
                Err(to_wit(e))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_model_inference_says_how_to_configure_one() {
        let err = NoModel.infer("llama", "hi", &InferParams::default()).await.unwrap_err();
        assert!(matches!(&err, LlmError::Runtime(m) if m.contains("no model configured for `llama`")), "{err}");
    }

    fn row(component: &str, brand: &str, requests: u64, failures: u64, prompt: u64, generated: u64) -> UsageRow {
        UsageRow {
            component: component.into(),
            brand: brand.into(),
            model: "chat".into(),
            requests,
            failures,
            prompt_tokens: prompt,
            generated_tokens: generated,
        }
    }

    #[test]
    fn usage_is_counted_per_component_brand_and_model() {
        let usage = TokenUsage::default();
        usage.record("seller-fashion", "fashion", "chat", 10, 5);
        usage.record("seller-fashion", "fashion", "chat", 1, 1);
        usage.record_failure("seller-fashion", "fashion", "chat");
        usage.record("seller-tech", "tech", "chat", 3, 0);
        assert_eq!(
            usage.snapshot(),
            vec![row("seller-fashion", "fashion", 2, 1, 11, 6), row("seller-tech", "tech", 1, 0, 3, 0)]
        );
    }
}
