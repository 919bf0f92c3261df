//! A client of one host's admin API, shared by the commands that talk to a
//! running host: `deploy`, `components`, `rollback`, `remove`, `dlq --url`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::HostArgs;

/// A client of one host's admin API.
pub(super) struct Admin {
    /// The host's base URL, without a trailing `/`.
    pub(super) base: String,
    pub(super) token: String,
    pub(super) http: reqwest::Client,
}

impl Admin {
    pub(super) fn new(host: &HostArgs) -> Result<Self> {
        Ok(Self {
            base: host.url.trim_end_matches('/').to_string(),
            token: host.token()?,
            http: reqwest::Client::new(),
        })
    }

    /// Sends `request` with the token; the answer's JSON, or the host's
    /// `error` with its status.
    pub(super) async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response =
            request.bearer_auth(&self.token).send().await.with_context(|| {
                format!("cannot reach the host at {}: is `agent-store up` running there?", self.base)
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&body).unwrap_or_else(|_| json!({ "error": body }));
        if !status.is_success() {
            let reason = value.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            bail!("refused ({}): {reason}", status.as_u16());
        }
        Ok(value)
    }

    /// `base` joined with `segments`, each percent-encoded: an id may hold
    /// any character (a Knative dead letter's is its event's id).
    pub(super) fn url(&self, segments: &[&str]) -> Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.base).with_context(|| format!("`{}` is not a URL", self.base))?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("`{}` cannot be a base URL", self.base))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}
