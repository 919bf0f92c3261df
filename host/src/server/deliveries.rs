//! Knative deliveries come from the broker only. `POST
//! /events/deliver/<component>` and `POST /events/dead-letter` run
//! components and keep dead letters on the word of whoever calls them, so
//! with `--broker knative` one of two rules guards them (docs/security.md, "Knative deliveries"):
//!
//! * with `--knative-oidc-*`, every request carries a Knative Eventing OIDC
//!   sender token that [`Verifier`] takes: 401 without or with a bad one,
//!   403 for a sender not allowed, 503 while the issuer's keys are out of reach;
//! * without, only requests addressed to a cluster-local name of the
//!   Service (`<service>.<namespace>.svc[.cluster.local]`, what a Trigger's
//!   subscriber and a Broker's dead-letter sink resolve to) are served; 403
//!   for anything else. Knative publishes those names on its cluster-local
//!   gateway only, never on the public one, so a request that came in from
//!   outside the cluster names the Service by its public domain and is
//!   refused, even on a public Service (the one that also serves the
//!   webhook). Anyone inside the cluster can still deliver: that is the
//!   trust this mode rests on, and why the host warns about it at start.
//!
//! Both refuse before the body is read.

use std::net::SocketAddr;

use anyhow::{Result, bail};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;

use super::ServerState;
use super::oidc::{OidcOptions, Refusal, Verifier};

/// Kubernetes' default cluster domain.
const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// How `agent-store up` guards Knative deliveries.
#[derive(Debug, Clone, Args)]
pub struct DeliveryOptions {
    #[command(flatten)]
    pub oidc: OidcOptions,

    /// With `--broker knative` and no `--knative-oidc-issuer`: the cluster's
    /// DNS domain. Deliveries are then served only when addressed to
    /// `<service>.<namespace>.svc` or `<service>.<namespace>.svc.<domain>`.
    #[arg(
        long = "knative-cluster-domain",
        env = "AGENT_STORE_KNATIVE_CLUSTER_DOMAIN",
        default_value = DEFAULT_CLUSTER_DOMAIN,
        value_name = "DOMAIN"
    )]
    pub cluster_domain: String,
}

/// Who may deliver.
#[derive(Debug)]
pub enum DeliveryGate {
    /// Senders with a Knative OIDC token.
    Oidc(Box<Verifier>),
    /// Requests addressed to a cluster-local name of the Service.
    ClusterLocal { domain: String },
}

impl DeliveryGate {
    /// The gate for these options, checked; `None` for the brokers that
    /// take no pushed deliveries. Fetches nothing yet.
    pub fn from_options(options: &DeliveryOptions, knative: bool) -> Result<Option<Self>> {
        let verifier = options.oidc.verifier()?;
        if !knative {
            if verifier.is_some() {
                bail!("--knative-oidc-* verify Knative's deliveries: they need --broker knative");
            }
            return Ok(None);
        }
        let domain = options.cluster_domain.trim().trim_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            bail!("--knative-cluster-domain is empty");
        }
        Ok(Some(match verifier {
            Some(verifier) => Self::Oidc(Box::new(verifier)),
            None => Self::ClusterLocal { domain },
        }))
    }

    /// Says at start which rule guards deliveries, and fetches the issuer's
    /// keys. An issuer out of reach does not stop the host: it is the
    /// Kubernetes API, a blip at start should not take the webhook down
    /// with it, and deliveries get 503 (Knative retries) until it answers.
    pub async fn announce(&self) {
        match self {
            Self::Oidc(verifier) => {
                if !verifier.restricts_subjects() {
                    tracing::warn!(
                        "Knative OIDC without --knative-oidc-subject: any workload that gets a token for the audience \
                         `{}` may deliver events; allow the Triggers' service accounts only",
                        verifier.audience()
                    );
                }
                match verifier.prefetch().await {
                    Ok(keys) => tracing::info!(
                        issuer = verifier.issuer(),
                        audience = verifier.audience(),
                        keys,
                        "Knative deliveries need an OIDC sender token"
                    ),
                    Err(e) => tracing::warn!(
                        issuer = verifier.issuer(),
                        error = %format!("{e:#}"),
                        "the Knative OIDC issuer's keys could not be fetched: deliveries get 503 until they are"
                    ),
                }
            }
            Self::ClusterLocal { domain } => tracing::warn!(
                "Knative deliveries are not authenticated (no --knative-oidc-issuer): /events/deliver/* and \
                 /events/dead-letter are served only to requests addressed to a cluster-local name \
                 (*.svc.{domain}), so anyone inside the cluster can make components run and fill the dead \
                 letters; turn on Knative's OIDC sender tokens when the broker supports them \
                 (docs/security.md, Knative deliveries)"
            ),
        }
    }

    async fn admit(&self, headers: &HeaderMap, uri: &Uri, peer: Option<SocketAddr>) -> Result<(), Refusal> {
        match self {
            Self::Oidc(verifier) => verifier.verify(headers).await.map(drop),
            Self::ClusterLocal { domain } => {
                let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
                // An absolute-form request names its target twice: both must
                // be cluster-local.
                let names = host.into_iter().chain(uri.authority().map(|a| a.as_str()));
                if host.is_some() && names.clone().all(|name| addressed_locally(name, domain, peer)) {
                    Ok(())
                } else {
                    Err(Refusal::Forbidden(format!(
                        "deliveries come from the Knative broker only: this request is addressed to `{}`, not to \
                         a cluster-local Service name (<service>.<namespace>.svc.{domain})",
                        host.unwrap_or_default()
                    )))
                }
            }
        }
    }
}

/// The name a request is addressed to (a `Host` value), without its port.
fn host_name(value: &str) -> &str {
    match value.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => value,
    }
}

/// `<service>.<namespace>.svc[.<domain>]`, or this machine's own name when
/// the request comes from this machine (a test, a port-forward).
fn addressed_locally(host: &str, domain: &str, peer: Option<SocketAddr>) -> bool {
    if super::guard::is_local(host) {
        return peer.is_some_and(|peer| peer.ip().is_loopback());
    }
    let name = host_name(host.trim()).trim_end_matches('.').to_ascii_lowercase();
    let service = name.strip_suffix(&format!(".svc.{domain}")).or_else(|| name.strip_suffix(".svc"));
    service.and_then(|s| s.split_once('.')).is_some_and(|(service, namespace)| {
        let label = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        label(service) && label(namespace)
    })
}

/// The middleware in front of the delivery routes.
pub(super) async fn admit(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let Some(gate) = &state.deliveries else {
        return next.run(request).await;
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    match gate.admit(request.headers(), request.uri(), peer).await {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let path = request.uri().path();
            match &refusal {
                Refusal::Unavailable(reason) => tracing::warn!(path, reason, "delivery deferred"),
                refused => tracing::info!(path, reason = refused.reason(), "delivery refused"),
            }
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cluster_local_names_of_a_service_are_local() {
        let pod: Option<SocketAddr> = Some("127.0.0.1:41000".parse().unwrap());
        for ok in [
            "agent-store.agent-store.svc.cluster.local",
            "agent-store.agent-store.svc.cluster.local:80",
            "AGENT-STORE.agent-store.svc.cluster.local.",
            "agent-store.agent-store.svc",
            "product-catalog.agent-store.svc.cluster.local:8443",
        ] {
            assert!(addressed_locally(ok, "cluster.local", pod), "{ok}");
        }
        for bad in [
            "agent-store.agent-store.example.com",
            "agent-store.agent-store.svc.cluster.local.evil.example",
            "agent-store.svc.cluster.local",
            "a.b.c.svc.cluster.local",
            "agent-store.agent-store",
            "evil.example/x.y.svc",
            "",
        ] {
            assert!(!addressed_locally(bad, "cluster.local", pod), "{bad}");
        }
        assert!(addressed_locally("agent-store.store.svc.corp.internal", "corp.internal", pod));
        assert!(!addressed_locally("agent-store.store.svc.cluster.local", "corp.internal", pod));
        // This machine's names only from this machine.
        assert!(addressed_locally("127.0.0.1:3000", "cluster.local", pod));
        assert!(!addressed_locally("localhost:3000", "cluster.local", Some("10.1.2.3:5000".parse().unwrap())));
        assert!(!addressed_locally("localhost:3000", "cluster.local", None));
    }
}
