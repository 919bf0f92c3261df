//! Outgoing HTTP: wasmtime-wasi-http does the protocol; this module decides,
//! through its `send_request` hook, where a component may go.
//!
//! `allowed_outbound_hosts` is read the way Spin reads it: `scheme://host:port`
//! entries where the scheme, the host's leftmost labels (`*.example.com`) or
//! the port may be `*`, and a missing port means the scheme's default.
//! Requests to `<component>.spin.internal` never leave the host: they reach
//! that component in-process (Spin's local service chaining), and the event
//! router's address publishes events (see [`InternalRequests`]).

use std::sync::Arc;

use anyhow::{Result, bail};
use async_trait::async_trait;
use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use tracing::Instrument;
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

/// The suffix Spin gives components reached by service chaining.
pub const INTERNAL_SUFFIX: &str = ".spin.internal";

/// Request bodies a component sends in-process are read whole; this bounds
/// them (a batch of a few hundred events fits).
const MAX_INTERNAL_BODY: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com`.
    Subdomains(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// A component's `allowed_outbound_hosts`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    rules: Vec<Rule>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses entries whose templates are already expanded.
    pub fn parse(entries: &[String]) -> Result<Self> {
        let mut rules = Vec::new();
        for entry in entries {
            rules.push(
                Self::parse_entry(entry).map_err(|e| anyhow::anyhow!("allowed_outbound_hosts entry {entry:?}: {e}"))?,
            );
        }
        Ok(Self { rules })
    }

    fn parse_entry(entry: &str) -> Result<Rule> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("must start with a scheme, e.g. \"https://api.example.com\"");
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!(
                "must not contain a path: allow the host, e.g. \"{scheme}://{}\"",
                rest.split('/').next().unwrap_or("")
            );
        }
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            other => bail!("scheme `{other}` is not supported (use http, https or *)"),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || port.is_empty() => (host, Some(port)),
            _ => (rest, None),
        };
        let host = match host {
            "" => bail!("has no host"),
            "*" => HostPattern::Any,
            h if h.starts_with("*.") => HostPattern::Subdomains(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => bail!("`*` may only stand for whole leftmost labels, as in *.example.com"),
            h => HostPattern::Exact(h.to_ascii_lowercase()),
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => PortPattern::Exact(p.parse().map_err(|_| anyhow::anyhow!("port `{p}` is not a number"))?),
            None => match scheme.as_deref().and_then(default_port) {
                Some(p) => PortPattern::Exact(p),
                None => bail!("needs a port when the scheme is `*`"),
            },
        };
        Ok(Rule { scheme, host, port })
    }

    /// Whether any host beyond `*.spin.internal` is allowed: a call there
    /// is a side effect the host cannot take back.
    pub fn reaches_outside(&self) -> bool {
        self.rules.iter().any(|rule| match &rule.host {
            HostPattern::Any => true,
            HostPattern::Exact(host) => !host.ends_with(INTERNAL_SUFFIX),
            HostPattern::Subdomains(suffix) => !suffix.ends_with(INTERNAL_SUFFIX),
        })
    }

    /// Whether a request to `uri` is allowed.
    pub fn allows(&self, uri: &Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else { return false };
        let Some(host) = uri.host() else { return false };
        let host = host.to_ascii_lowercase();
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else { return false };
        self.rules.iter().any(|rule| {
            rule.scheme.as_deref().is_none_or(|s| s == scheme)
                && match &rule.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Subdomains(suffix) => host.ends_with(suffix.as_str()) && host.len() > suffix.len(),
                }
                && match rule.port {
                    PortPattern::Any => true,
                    PortPattern::Exact(p) => p == port,
                }
        })
    }
}

/// Where requests to `*.spin.internal` go: the running application.
#[async_trait]
pub trait InternalRequests: Send + Sync {
    /// `target` is the component id in front of `.spin.internal`; `caller`
    /// the component making the request.
    async fn handle(&self, caller: &str, target: &str, request: http::Request<Bytes>) -> Result<http::Response<Bytes>>;
}

/// The `send_request` policy of one invocation.
pub struct OutboundHooks {
    /// The calling component.
    pub component: Arc<str>,
    /// Its `allowed_outbound_hosts`.
    pub allowed: Arc<AllowedHosts>,
    /// Where its `*.spin.internal` requests go.
    pub internal: Option<Arc<dyn InternalRequests>>,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let _ = fut;
        let uri = request.uri().clone();
        if !self.allowed.allows(&uri) {
            tracing::warn!(
                component = %self.component,
                url = %redact_query(&uri),
                "outbound request denied: the host is not in the component's allowed_outbound_hosts"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let internal_target = internal_target(&uri);
        // The response future runs as a task of its own: it takes the
        // caller's span along, so that what the request leads to (a publish,
        // a chained component's writes) stays in the caller's trace.
        let span = tracing::debug_span!(
            "http.client",
            otel.kind = "client",
            otel.name = format!("{} {}", request.method(), uri.host().unwrap_or_default()),
            http.request.method = %request.method(),
            server.address = uri.host().unwrap_or_default(),
            url.full = %redact_query(&uri),
            http.response.status_code = tracing::field::Empty,
        );
        match (internal_target, self.internal.clone()) {
            (Some(target), Some(internal)) => {
                let caller = self.component.clone();
                Box::new(Instrument::instrument(
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = http_body_util::Limited::new(body, MAX_INTERNAL_BODY)
                            .collect()
                            .await
                            .map_err(|_| {
                                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(MAX_INTERNAL_BODY as u64))
                            })?
                            .to_bytes();
                        let response = internal
                        .handle(&caller, &target, http::Request::from_parts(parts, body))
                        .await
                        .map_err(|e| {
                            tracing::warn!(component = %caller, target, error = %format!("{e:#}"), "in-process request failed");
                            wasmtime_wasi_http::Error::InternalError(Some(format!("{e:#}")))
                        })?;
                        let response = response.map(|b| Full::new(b).map_err(|never| match never {}).boxed_unsync());
                        Ok((response, Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>))
                    },
                    span,
                ))
            }
            (Some(target), None) => {
                tracing::warn!(component = %self.component, target, "no in-process target for a .spin.internal request");
                Box::new(async { Err(wasmtime_wasi_http::Error::DestinationNotFound) })
            }
            (None, _) => Box::new(Instrument::instrument(
                async move {
                    let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                    tracing::Span::current().record("http.response.status_code", response.status().as_u16());
                    Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
                },
                span,
            )),
        }
    }
}

/// The component a `*.spin.internal` URL names. Host names are
/// case-insensitive, and so is this: `EVENT-ROUTER.SPIN.INTERNAL` must stay
/// in-process too, never reach DNS.
pub fn internal_target(uri: &Uri) -> Option<String> {
    let host = uri.host()?.to_ascii_lowercase();
    host.strip_suffix(INTERNAL_SUFFIX).map(str::to_string)
}

/// Query strings can carry tokens; logs get the URL without them.
fn redact_query(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or("?"),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn only_hosts_beyond_spin_internal_reach_outside() {
        assert!(!allowed(&[]).reaches_outside());
        assert!(!allowed(&["http://event-router.spin.internal", "http://*.spin.internal"]).reaches_outside());
        assert!(allowed(&["http://event-router.spin.internal", "https://graph.facebook.com"]).reaches_outside());
        assert!(allowed(&["*://*:*"]).reaches_outside());
    }

    #[test]
    fn hosts_ports_and_schemes_match_like_spin() {
        let a = allowed(&["https://graph.facebook.com", "http://127.0.0.1:*", "https://*.openai.com:8443"]);
        assert!(a.allows(&uri("https://graph.facebook.com/v21.0/123/messages")));
        assert!(a.allows(&uri("https://graph.facebook.com:443/x")));
        assert!(!a.allows(&uri("http://graph.facebook.com/x")), "scheme must match");
        assert!(!a.allows(&uri("https://graph.facebook.com:8443/x")), "default port only");
        assert!(!a.allows(&uri("https://evil.com/?u=graph.facebook.com")));
        assert!(a.allows(&uri("http://127.0.0.1:9999/")));
        assert!(a.allows(&uri("https://api.openai.com:8443/")));
        assert!(!a.allows(&uri("https://openai.com:8443/")), "the wildcard needs a label");
        assert!(!AllowedHosts::default().allows(&uri("https://example.com/")));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        let err = AllowedHosts::parse(&["graph.facebook.com".to_string()]).unwrap_err().to_string();
        assert!(err.contains("scheme"), "{err}");
        let err = AllowedHosts::parse(&["https://graph.facebook.com/v21.0".to_string()]).unwrap_err().to_string();
        assert!(err.contains("path"), "{err}");
        let err = AllowedHosts::parse(&["ftp://x.com".to_string()]).unwrap_err().to_string();
        assert!(err.contains("ftp"), "{err}");
        assert!(AllowedHosts::parse(&["*://*:*".to_string()]).is_ok());
    }

    #[test]
    fn internal_addresses_match_whatever_their_case() {
        assert_eq!(internal_target(&uri("http://event-router.SPIN.INTERNAL/publish")).as_deref(), Some("event-router"));
        assert_eq!(internal_target(&uri("http://Seller-Fashion.Spin.Internal/")).as_deref(), Some("seller-fashion"));
        assert_eq!(internal_target(&uri("http://spin.internal.evil.com/")), None);
    }

    #[test]
    fn logged_urls_lose_their_query() {
        assert_eq!(redact_query(&uri("https://a.com/p?access_token=x")), "https://a.com/p");
    }
}
