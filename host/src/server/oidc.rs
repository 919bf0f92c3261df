//! Knative Eventing's sender identity. With the `authentication-oidc`
//! feature on, a sender (a Trigger's dispatcher, a Broker giving up to its
//! dead-letter sink) asks the Kubernetes API for a service-account token
//! whose audience is the subscriber's, and sends it as `Authorization:
//! Bearer <JWT>`. [`Verifier`] checks such a token against the cluster's OIDC
//! issuer: an asymmetric signature by a key of the issuer's JWKS, `iss`,
//! `aud`, `exp` and `nbf`, then the subject
//! (`system:serviceaccount:<namespace>:<name>`) against the allowed ones.
//!
//! Keys are fetched at start and cached. A token naming a key the cache
//! lacks (`kid`, as after a key rotation) makes the host fetch them again,
//! but at most once per [`MIN_REFRESH_INTERVAL`] however many such tokens
//! come, so that forged tokens cannot make the host hammer the issuer. When
//! the issuer cannot be reached and the key is not known, the answer is 503:
//! the sender retries, where a 401 would dead-letter a genuine delivery.
//!
//! There is no shared secret to compare here, so nothing to compare in
//! constant time: a token is worth its signature. The token itself is never
//! logged, only why it was refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use clap::Args;
use futures::StreamExt;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde::Deserialize;
use serde_json::json;

/// However many tokens name an unknown key, the keys are fetched again at
/// most this often: the issuer (the Kubernetes API server) is shared by the
/// whole cluster, and a forger must not be able to flood it through us.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Keys older than this are fetched again at the next token, so that a key
/// the issuer dropped stops being trusted within it. Kubernetes rotates its
/// service-account keys rarely; a quarter of an hour costs nothing.
const MAX_KEY_AGE: Duration = Duration::from_secs(15 * 60);

/// A fetch of the discovery document or the keys that takes longer has
/// failed; the delivery waiting on it gets a 503 and comes again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Discovery documents and key sets are a few KiB; more is not one.
const MAX_DOCUMENT: usize = 256 * 1024;

/// Kubernetes service-account tokens are about 1 KiB; a bearer many times
/// that is not one, and is refused before any parsing.
const MAX_TOKEN: usize = 16 * 1024;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY: u64 = 30;

/// What a Kubernetes service-account issuer signs with (RS256 unless its key
/// is an EC one). HMAC is never accepted: it would turn a public key into a
/// shared secret anyone can sign with.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// How `agent-store up` is told to verify Knative's sender tokens.
#[derive(Debug, Clone, Default, Args)]
pub struct OidcOptions {
    /// With `--broker knative`: take deliveries (`/events/deliver/*`,
    /// `/events/dead-letter`) only with a valid Knative Eventing OIDC sender
    /// token (the `authentication-oidc` feature). URL is the issuer the
    /// tokens name in `iss`: `kubectl get --raw
    /// /.well-known/openid-configuration` shows it. Needs
    /// `--knative-oidc-audience`.
    #[arg(long = "knative-oidc-issuer", env = "AGENT_STORE_KNATIVE_OIDC_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,

    /// The audience tokens must be for: the one the Triggers give their
    /// subscriber (`spec.subscriber.audience`) and the Broker its dead-letter
    /// sink (`spec.delivery.deadLetterSink.audience`).
    #[arg(long = "knative-oidc-audience", env = "AGENT_STORE_KNATIVE_OIDC_AUDIENCE", value_name = "AUDIENCE")]
    pub audience: Option<String>,

    /// Where the issuer's signing keys are (a JWKS), e.g.
    /// `https://kubernetes.default.svc/openid/v1/jwks`; by default the
    /// `jwks_uri` of the issuer's `/.well-known/openid-configuration`.
    #[arg(long = "knative-oidc-jwks", env = "AGENT_STORE_KNATIVE_OIDC_JWKS", value_name = "URL")]
    pub jwks: Option<String>,

    /// A sender that may deliver: a token subject
    /// (`system:serviceaccount:<namespace>:<name>`), or a prefix of one
    /// ending in `*` (`system:serviceaccount:agent-store:*`). Repeatable;
    /// comma-separated in the environment. A valid token of any other
    /// subject gets 403. Without any, every subject the issuer vouches for
    /// with our audience may deliver.
    #[arg(
        long = "knative-oidc-subject",
        env = "AGENT_STORE_KNATIVE_OIDC_SUBJECTS",
        value_delimiter = ',',
        value_name = "SUBJECT"
    )]
    pub subjects: Vec<String>,

    /// PEM certificates to trust, besides the usual roots, when fetching the
    /// issuer's keys (in a pod:
    /// `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`).
    #[arg(long = "knative-oidc-ca-file", env = "AGENT_STORE_KNATIVE_OIDC_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// A file holding the bearer token the host shows when fetching the
    /// issuer's keys, read again at every fetch (in a pod:
    /// `/var/run/secrets/kubernetes.io/serviceaccount/token`; the API server
    /// serves its keys to service accounts, not always to anonymous callers).
    #[arg(long = "knative-oidc-token-file", env = "AGENT_STORE_KNATIVE_OIDC_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

impl OidcOptions {
    /// Whether any OIDC option is given.
    pub fn given(&self) -> bool {
        self.issuer.is_some()
            || self.audience.is_some()
            || self.jwks.is_some()
            || !self.subjects.is_empty()
            || self.ca_file.is_some()
            || self.token_file.is_some()
    }

    /// The verifier these options describe, checked; `None` when no OIDC
    /// option is given. Fetches nothing yet.
    pub fn verifier(&self) -> Result<Option<Verifier>> {
        if !self.given() {
            return Ok(None);
        }
        let (Some(issuer), Some(audience)) = (&self.issuer, &self.audience) else {
            bail!("Knative OIDC needs both --knative-oidc-issuer and --knative-oidc-audience");
        };
        if audience.is_empty() {
            bail!("--knative-oidc-audience is empty");
        }
        let source = match &self.jwks {
            Some(jwks) => KeySource::Jwks(fetchable(jwks).context("--knative-oidc-jwks")?),
            None => {
                let discovery = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                KeySource::Discovery(fetchable(&discovery).context("--knative-oidc-issuer")?)
            }
        };
        let subjects = self.subjects.iter().map(|s| Subject::parse(s)).collect::<Result<Vec<_>>>()?;
        let mut client = reqwest::Client::builder().timeout(FETCH_TIMEOUT);
        if let Some(path) = &self.ca_file {
            let pem =
                std::fs::read(path).with_context(|| format!("reading --knative-oidc-ca-file {}", path.display()))?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--knative-oidc-ca-file {} is not PEM certificates", path.display()))?
            {
                client = client.add_root_certificate(certificate);
            }
        }
        if let Some(path) = &self.token_file {
            read_token_file(path).context("--knative-oidc-token-file")?;
        }
        let client = client.build().context("building the HTTP client for the OIDC issuer")?;
        Ok(Some(Verifier {
            issuer: issuer.clone(),
            audience: audience.clone(),
            subjects,
            source,
            token_file: self.token_file.clone(),
            client,
            min_refresh_interval: MIN_REFRESH_INTERVAL,
            keys: RwLock::default(),
            refresh: tokio::sync::Mutex::default(),
        }))
    }
}

/// A URL the host may fetch keys from: `https://`, or `http://` on this
/// machine only (a test issuer), since keys fetched in the clear over a
/// network could be anyone's.
fn fetchable(url: &str) -> Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => bail!("`{url}` must be an https:// URL (keys fetched in the clear could be anyone's)"),
    }
}

fn read_token_file(path: &Path) -> Result<String> {
    let token = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(token.trim().to_string())
}

/// An allowed sender.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Exact(String),
    Prefix(String),
}

impl Subject {
    fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        match spec.strip_suffix('*') {
            _ if spec.is_empty() || spec == "*" => {
                bail!("--knative-oidc-subject `{spec}` names nobody: give a subject or a prefix ending in `*`")
            }
            Some(prefix) => Ok(Self::Prefix(prefix.to_string())),
            None => Ok(Self::Exact(spec.to_string())),
        }
    }

    fn allows(&self, subject: &str) -> bool {
        match self {
            Self::Exact(exact) => subject == exact,
            Self::Prefix(prefix) => subject.starts_with(prefix.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
enum KeySource {
    /// The issuer's discovery document, which names the JWKS.
    Discovery(Url),
    Jwks(Url),
}

/// One signing key of the issuer.
#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    /// The algorithm the issuer says the key is for, when it says.
    algorithm: Option<Algorithm>,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, Key>,
    fetched: Option<Instant>,
}

impl Keys {
    fn fresh(&self) -> bool {
        self.fetched.is_some_and(|at| at.elapsed() < MAX_KEY_AGE)
    }
}

/// The state of fetching: one fetch at a time, and when the last began.
#[derive(Default)]
struct Refresh {
    last_attempt: Option<Instant>,
    /// Why the last fetch failed, while it is the last.
    last_error: Option<String>,
}

/// Why a delivery's token was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one that is not a valid token of the issuer for us: 401.
    Unauthorized(String),
    /// A valid token of a sender that may not deliver: 403.
    Forbidden(String),
    /// The issuer's keys cannot be had right now: 503, try again.
    Unavailable(String),
}

impl Refusal {
    pub fn reason(&self) -> &str {
        match self {
            Self::Unauthorized(reason) | Self::Forbidden(reason) | Self::Unavailable(reason) => reason,
        }
    }

    fn unauthorized(reason: impl Into<String>) -> Self {
        Self::Unauthorized(reason.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = (status, Json(json!({ "error": self.reason() }))).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(MIN_REFRESH_INTERVAL.as_secs()));
            }
            Self::Forbidden(_) => {}
        }
        response
    }
}

/// The claims read from a token once `jsonwebtoken` has checked the rest.
/// Optional here so that a token without one fails `jsonwebtoken`'s check
/// of required claims, which says so, rather than deserialization.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Checks Knative's sender tokens; see the module documentation.
pub struct Verifier {
    issuer: String,
    audience: String,
    subjects: Vec<Subject>,
    source: KeySource,
    token_file: Option<PathBuf>,
    client: reqwest::Client,
    min_refresh_interval: Duration,
    keys: RwLock<Keys>,
    refresh: tokio::sync::Mutex<Refresh>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subjects", &self.subjects)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Whether some subject restriction is configured.
    pub fn restricts_subjects(&self) -> bool {
        !self.subjects.is_empty()
    }

    /// Fetches the keys now, as at start; how many there are.
    pub async fn prefetch(&self) -> Result<usize> {
        let mut refresh = self.refresh.lock().await;
        refresh.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                let count = keys.len();
                *self.keys.write().unwrap() = Keys { by_id: keys, fetched: Some(Instant::now()) };
                refresh.last_error = None;
                Ok(count)
            }
            Err(e) => {
                refresh.last_error = Some(format!("{e:#}"));
                Err(e)
            }
        }
    }

    /// The subject of the request's token, if the token is one the issuer
    /// signed for our audience, in date, from an allowed sender.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        let Some(token) = super::auth::bearer(headers) else {
            return Err(Refusal::unauthorized(
                "deliveries need Knative's OIDC sender token: Authorization: Bearer <token>",
            ));
        };
        if token.len() > MAX_TOKEN {
            return Err(Refusal::unauthorized("the bearer token is too long to be a sender token"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::unauthorized("the token is not a JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(Refusal::unauthorized(format!(
                "the token is signed with {:?}, which the issuer does not use",
                header.alg
            )));
        }
        let Some(kid) = header.kid.as_deref() else {
            return Err(Refusal::unauthorized("the token names no signing key (kid)"));
        };
        let key = self.key(kid).await?;
        if key.algorithm.is_some_and(|algorithm| algorithm != header.alg) {
            return Err(Refusal::unauthorized("the token's algorithm is not its key's"));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| Refusal::Unauthorized(why(e.kind()).into()))?
            .claims;
        let subject = claims
            .sub
            .ok_or_else(|| Refusal::Unauthorized(why(&ErrorKind::MissingRequiredClaim("sub".into())).into()))?;
        if !self.subjects.is_empty() && !self.subjects.iter().any(|allowed| allowed.allows(&subject)) {
            return Err(Refusal::Forbidden(format!("the sender `{subject}` may not deliver to this host")));
        }
        Ok(subject)
    }

    /// The key `kid`, fetching the keys again when it is unknown or the
    /// cache is old, no more often than `min_refresh_interval`.
    async fn key(&self, kid: &str) -> Result<Key, Refusal> {
        let cached = |keys: &Keys| (keys.by_id.get(kid).cloned(), keys.fresh());
        if let (Some(key), true) = cached(&self.keys.read().unwrap()) {
            return Ok(key);
        }
        // One fetch at a time: tokens that wait here find its result.
        let mut refresh = self.refresh.lock().await;
        let (stale, fresh) = cached(&self.keys.read().unwrap());
        if let (Some(key), true) = (&stale, fresh) {
            return Ok(key.clone());
        }
        if let Some(last) = refresh.last_attempt
            && last.elapsed() < self.min_refresh_interval
        {
            return match (stale, &refresh.last_error) {
                (Some(key), _) => Ok(key),
                (None, Some(error)) => Err(unreachable(error)),
                (None, None) => Err(Refusal::unauthorized("the token's signing key is not one of the issuer's")),
            };
        }
        refresh.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                refresh.last_error = None;
                let found = keys.get(kid).cloned();
                tracing::info!(keys = keys.len(), "fetched the Knative OIDC issuer's keys");
                *self.keys.write().unwrap() = Keys { by_id: keys, fetched: Some(Instant::now()) };
                found.ok_or_else(|| Refusal::unauthorized("the token's signing key is not one of the issuer's"))
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(error, "could not fetch the Knative OIDC issuer's keys");
                refresh.last_error = Some(error.clone());
                // A key we had is still the issuer's as far as we can know.
                stale.ok_or_else(|| unreachable(&error))
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>> {
        let jwks = match &self.source {
            KeySource::Jwks(url) => url.clone(),
            KeySource::Discovery(url) => {
                let discovery: Discovery = self.get_json(url).await?;
                // OpenID Connect Discovery 1.0, 4.3: the document must name
                // the issuer it was fetched for.
                if discovery.issuer != self.issuer {
                    bail!(
                        "{url} names the issuer `{}`, not `{}`: give the issuer tokens name in `iss`, or the keys \
                         with --knative-oidc-jwks",
                        discovery.issuer,
                        self.issuer
                    );
                }
                fetchable(&discovery.jwks_uri).with_context(|| format!("the jwks_uri of {url}"))?
            }
        };
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = self.get_json(&jwks).await?;
        // A key this crate cannot read (another type, an encryption key) is
        // skipped, not a reason to distrust the others.
        let keys: HashMap<String, Key> = set
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let decoding = DecodingKey::from_jwk(&jwk).ok()?;
                let algorithm = jwk.common.key_algorithm.and_then(|a| Algorithm::try_from(a).ok());
                Some((kid, Key { decoding, algorithm }))
            })
            .collect();
        if keys.is_empty() {
            bail!("{jwks} holds no signing key with a key id");
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T> {
        let mut request = self.client.get(url.clone()).header(header::ACCEPT, "application/json");
        if let Some(path) = &self.token_file {
            request = request.bearer_auth(read_token_file(path)?);
        }
        let response = request.send().await.with_context(|| format!("fetching {url}"))?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.with_context(|| format!("reading {url}"))?);
            if body.len() > MAX_DOCUMENT {
                bail!("{url} sent more than {MAX_DOCUMENT} bytes");
            }
        }
        serde_json::from_slice(&body).with_context(|| format!("{url} did not send the expected JSON"))
    }
}

fn unreachable(error: &str) -> Refusal {
    Refusal::Unavailable(format!("the OIDC issuer's keys cannot be fetched now, try again: {error}"))
}

/// Why `jsonwebtoken` refused a token, in words that help whoever wired
/// the Trigger and tell a forger nothing the token did not.
fn why(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::InvalidSignature => "the token's signature is not its key's",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp, iss, aud, sub)",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not its key's",
        _ => "the token is not a valid sender token",
    }
}

#[cfg(test)]
mod tests;
