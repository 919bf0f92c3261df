//! `--llm <model>=<backend>`: which backend answers each logical model.
//!
//! ```text
//! chat=none
//! chat=openai:https://api.openai.com/v1?model=gpt-4o-mini&key_env=OPENAI_API_KEY&timeout=8s&concurrency=4&retries=1
//! chat=openai:http://127.0.0.1:11434/v1?model=llama3.2
//! chat=azure:https://acme.openai.azure.com/openai/deployments/gpt-4o-mini?api_version=2024-10-21&key_env=AZURE_OPENAI_API_KEY
//! ```
//!
//! The query holds our options, not the server's: every one is checked and
//! removed, and an unknown one is an error, so that a typo is found at start
//! rather than silently ignored. `docs/llm.md` is the user's reference.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Url;

use super::openai::{ApiKey, Auth, Flavor, OpenAi, OpenAiConfig};
use super::{LlmBackend, Models, NoModel};
use agent_store_manifest::parse_duration;

/// A customer is waiting for the reply: after this the sellers answer with
/// their offline brain instead, which is better than a late answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests in flight per endpoint. Hosted APIs rate-limit per key and a
/// local server (Ollama, llama.cpp) serves a few at a time; queueing here
/// (within the timeout) is cheaper than a pile of 429s.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// One more try after a 5xx, 429 or connection error: most are momentary,
/// and the timeout bounds the total anyway.
pub const DEFAULT_RETRIES: u32 = 1;

const MAX_CONCURRENCY: usize = 1024;
const MAX_RETRIES: u32 = 10;

const OPTIONS: &[&str] =
    &["model", "embedding_model", "key_env", "auth", "api_version", "timeout", "concurrency", "retries"];

/// What one `--llm` value asks for.
#[derive(Debug, Clone)]
pub enum BackendSpec {
    /// No backend: the offline fallback answers.
    None,
    /// An OpenAI-compatible HTTP endpoint.
    OpenAi(OpenAiConfig),
}

/// Builds the host's models from `--llm` values, reading API keys from the
/// process environment. Every error names the value it is about.
pub fn models_from_specs(specs: &[String]) -> Result<Models> {
    models_with_env(specs, &|name| std::env::var(name).ok())
}

/// [`models_from_specs`] with another environment (for tests).
pub fn models_with_env(specs: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Models> {
    let mut models = Models::default();
    let mut seen = HashMap::new();
    for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let (model, backend) = parse_spec(spec, env).with_context(|| format!("--llm {}", redact(spec)))?;
        if let Some(previous) = seen.insert(model.clone(), spec) {
            bail!("--llm: model `{model}` is configured twice ({} and {})", redact(previous), redact(spec));
        }
        let backend: Arc<dyn LlmBackend> = match backend {
            BackendSpec::None => Arc::new(NoModel),
            BackendSpec::OpenAi(config) => Arc::new(OpenAi::new(config)?),
        };
        models = models.with(model, backend);
    }
    Ok(models)
}

/// Parses `<model>=<backend>`.
pub fn parse_spec(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, BackendSpec)> {
    let Some((model, backend)) = spec.split_once('=') else {
        bail!("expected <model>=<backend>, e.g. chat=openai:https://api.openai.com/v1?model=gpt-4o-mini");
    };
    let model = model.trim();
    if model.is_empty() || model.contains(char::is_whitespace) {
        bail!("`{model}` is not a model name: use the name components pass to infer, e.g. `chat`");
    }
    let backend = backend.trim();
    if backend == "none" {
        return Ok((model.to_string(), BackendSpec::None));
    }
    let flavor = match backend.split_once(':') {
        Some(("openai", _)) => Flavor::OpenAi,
        Some(("azure", _)) => Flavor::Azure,
        _ => bail!(
            "unknown backend `{backend}`: use `none`, `openai:<base URL>` or `azure:<deployment URL>` (see docs/llm.md)"
        ),
    };
    let url = backend.split_once(':').map(|(_, url)| url).unwrap_or_default();
    Ok((model.to_string(), BackendSpec::OpenAi(parse_endpoint(flavor, url, env)?)))
}

fn parse_endpoint(flavor: Flavor, url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<OpenAiConfig> {
    let mut base_url = Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    if !matches!(base_url.scheme(), "http" | "https") {
        bail!("the URL must be http:// or https://, not {}://", base_url.scheme());
    }
    if !base_url.username().is_empty() || base_url.password().is_some() {
        bail!("the URL must not hold credentials: put the key in an environment variable and name it with key_env=");
    }
    if base_url.fragment().is_some() {
        bail!("the URL must not have a #fragment");
    }
    let mut options: HashMap<String, String> = HashMap::new();
    for (name, value) in base_url.query_pairs() {
        if !OPTIONS.contains(&name.as_ref()) {
            bail!("unknown option `{name}`: the options are {}", OPTIONS.join(", "));
        }
        if options.insert(name.to_string(), value.to_string()).is_some() {
            bail!("option `{name}` is given twice");
        }
    }
    base_url.set_query(None);
    let non_empty = |name: &str| -> Result<Option<String>> {
        match options.get(name) {
            Some(value) if value.trim().is_empty() => bail!("option `{name}` is empty"),
            value => Ok(value.map(|v| v.trim().to_string())),
        }
    };

    let key = match non_empty("key_env")? {
        None => None,
        Some(name) => {
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                bail!("key_env=`{name}` is not an environment variable name");
            }
            match env(&name) {
                Some(value) if !value.trim().is_empty() => Some(ApiKey::new(name, value.trim())),
                _ => bail!("key_env={name}: the environment variable {name} is not set (or is empty)"),
            }
        }
    };
    let auth = match non_empty("auth")?.as_deref() {
        None if flavor == Flavor::Azure => Auth::ApiKeyHeader,
        None | Some("bearer") => Auth::Bearer,
        Some("api-key") => Auth::ApiKeyHeader,
        Some(other) => bail!("auth={other}: use `bearer` (Authorization: Bearer) or `api-key` (an api-key header)"),
    };
    let api_version = non_empty("api_version")?;
    if flavor == Flavor::Azure && api_version.is_none() {
        bail!("azure needs api_version=<version>, e.g. api_version=2024-10-21");
    }
    let timeout = match non_empty("timeout")? {
        Some(text) => parse_duration(&text).context("option `timeout`")?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        bail!("timeout must be more than 0");
    }
    let concurrency = match non_empty("concurrency")? {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
            .with_context(|| format!("concurrency={text}: use a number from 1 to {MAX_CONCURRENCY}"))?,
        None => DEFAULT_CONCURRENCY,
    };
    let retries = match non_empty("retries")? {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_RETRIES)
            .with_context(|| format!("retries={text}: use a number from 0 to {MAX_RETRIES}"))?,
        None => DEFAULT_RETRIES,
    };
    Ok(OpenAiConfig {
        flavor,
        base_url,
        model: non_empty("model")?,
        embedding_model: non_empty("embedding_model")?,
        key,
        auth,
        api_version,
        timeout,
        concurrency,
        retries,
    })
}

/// A spec as errors show it. Keys never appear in a spec (only the name of
/// their variable), but a URL with credentials is refused, and the refusal
/// must not print them: user:password is cut out.
fn redact(spec: &str) -> String {
    match (spec.find("://"), spec.find('@')) {
        (Some(scheme), Some(at)) if at > scheme && !spec[scheme + 3..at].contains('/') => {
            format!("{}://[redacted]@{}", &spec[..scheme], &spec[at + 1..])
        }
        _ => spec.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "OPENAI_API_KEY" => Some("sk-secret-123".into()),
            "EMPTY" => Some(" ".into()),
            _ => None,
        }
    }

    fn parse(spec: &str) -> Result<(String, BackendSpec)> {
        parse_spec(spec, &env)
    }

    fn openai(spec: &str) -> OpenAiConfig {
        match parse(spec).unwrap() {
            (_, BackendSpec::OpenAi(config)) => config,
            other => panic!("{other:?}"),
        }
    }

    fn error(spec: &str) -> String {
        format!("{:#}", models_with_env(&[spec.to_string()], &env).err().expect(spec))
    }

    #[test]
    fn a_full_openai_spec() {
        let config = openai(
            "chat=openai:https://api.openai.com/v1?model=gpt-4o-mini&key_env=OPENAI_API_KEY&timeout=8s&concurrency=2&retries=3",
        );
        assert_eq!(config.flavor, Flavor::OpenAi);
        assert_eq!(config.base_url.as_str(), "https://api.openai.com/v1");
        assert_eq!(config.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(config.key, Some(ApiKey::new("OPENAI_API_KEY", "sk-secret-123")));
        assert_eq!(config.auth, Auth::Bearer);
        assert_eq!((config.timeout, config.concurrency, config.retries), (Duration::from_secs(8), 2, 3));
        assert!(!format!("{config:?}").contains("sk-secret"), "Debug must not show the key");
    }

    #[test]
    fn defaults_for_a_local_server() {
        let config = openai("chat=openai:http://127.0.0.1:11434/v1");
        assert_eq!((config.model, config.key), (None, None));
        assert_eq!(
            (config.timeout, config.concurrency, config.retries),
            (DEFAULT_TIMEOUT, DEFAULT_CONCURRENCY, DEFAULT_RETRIES)
        );
    }

    #[test]
    fn azure_sends_an_api_key_header_and_needs_a_version() {
        let config = openai(
            "chat=azure:https://acme.openai.azure.com/openai/deployments/gpt4o?api_version=2024-10-21&key_env=OPENAI_API_KEY",
        );
        assert_eq!(config.flavor, Flavor::Azure);
        assert_eq!(config.auth, Auth::ApiKeyHeader);
        assert_eq!(config.api_version.as_deref(), Some("2024-10-21"));
        assert!(error("chat=azure:https://acme.openai.azure.com/openai/deployments/gpt4o").contains("api_version"));
        let v1 = openai("chat=openai:https://acme.openai.azure.com/openai/v1?auth=api-key&model=gpt-4o");
        assert_eq!(v1.auth, Auth::ApiKeyHeader);
    }

    #[test]
    fn none_is_a_backend_and_the_default() {
        let models = models_with_env(&["chat=none".into(), " ".into()], &env).unwrap();
        assert_eq!(models.describe(), vec![("chat".to_string(), "none".to_string())]);
        assert!(models_with_env(&[], &env).unwrap().describe().is_empty());
    }

    #[test]
    fn bad_specs_fail_with_what_and_where() {
        for (spec, expected) in [
            ("chat", "<model>=<backend>"),
            ("=none", "not a model name"),
            ("chat=gpt4", "unknown backend `gpt4`"),
            ("chat=openai:not a url", "not a URL"),
            ("chat=openai:ftp://x/v1", "http:// or https://"),
            ("chat=openai:http://x/v1?modle=a", "unknown option `modle`"),
            ("chat=openai:http://x/v1?model=a&model=b", "given twice"),
            ("chat=openai:http://x/v1?key_env=MISSING", "MISSING is not set"),
            ("chat=openai:http://x/v1?key_env=EMPTY", "EMPTY is not set"),
            ("chat=openai:http://x/v1?key_env=a-b", "not an environment variable name"),
            ("chat=openai:http://x/v1?timeout=soon", "timeout"),
            ("chat=openai:http://x/v1?timeout=0s", "more than 0"),
            ("chat=openai:http://x/v1?concurrency=0", "1 to 1024"),
            ("chat=openai:http://x/v1?retries=-1", "0 to 10"),
            ("chat=openai:http://x/v1?auth=basic", "auth=basic"),
            ("chat=openai:http://x/v1?model=", "option `model` is empty"),
        ] {
            let message = error(spec);
            assert!(message.contains(expected), "{spec}: expected {expected:?} in {message:?}");
            assert!(message.starts_with("--llm "), "{message}");
        }
        let twice = format!("{:#}", models_with_env(&["chat=none".into(), "chat=none".into()], &env).err().unwrap());
        assert!(twice.contains("configured twice"), "{twice}");
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_being_printed() {
        let message = error("chat=openai:https://me:hunter2@api.example.com/v1");
        assert!(message.contains("must not hold credentials"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
