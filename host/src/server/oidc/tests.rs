//! The verifier against a fake issuer on 127.0.0.1 that signs with the test
//! keys of `tests/fixtures/oidc` (test-only keys, public by being there).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::Value;

use super::*;

const ISSUER_KEY: &str = include_str!("../../../../tests/fixtures/oidc/issuer-key.pem");
const ATTACKER_KEY: &str = include_str!("../../../../tests/fixtures/oidc/attacker-key.pem");
const AUDIENCE: &str = "agent-store";
const TRIGGER: &str = "system:serviceaccount:agent-store:product-catalog-0-oidc-eventing.knative.dev-trigger";

/// A fake OIDC issuer: discovery and JWKS, counting key fetches, failing on
/// demand.
#[derive(Clone, Default)]
struct Issuer {
    url: Arc<Mutex<String>>,
    /// `(kid, private key)` whose public halves the JWKS serves.
    keys: Arc<Mutex<Vec<(String, &'static str)>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Issuer {
    async fn start(keys: &[(&str, &'static str)]) -> Self {
        async fn discovery(State(issuer): State<Issuer>) -> Json<Value> {
            let url = issuer.url();
            Json(json!({ "issuer": url, "jwks_uri": format!("{url}/openid/v1/jwks") }))
        }
        async fn jwks(State(issuer): State<Issuer>) -> Response {
            issuer.fetches.fetch_add(1, Ordering::SeqCst);
            if issuer.down.load(Ordering::SeqCst) {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            let keys: Vec<Jwk> = issuer.keys.lock().unwrap().iter().map(|(kid, pem)| public(kid, pem)).collect();
            Json(json!({ "keys": keys })).into_response()
        }
        let issuer = Issuer::default();
        *issuer.keys.lock().unwrap() = keys.iter().map(|(kid, pem)| (kid.to_string(), *pem)).collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *issuer.url.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/openid/v1/jwks", get(jwks))
            .with_state(issuer.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        issuer
    }

    fn url(&self) -> String {
        self.url.lock().unwrap().clone()
    }

    fn options(&self) -> OidcOptions {
        OidcOptions { issuer: Some(self.url()), audience: Some(AUDIENCE.into()), ..Default::default() }
    }

    /// A verifier for this issuer, its keys fetched, refreshing at most
    /// every `interval`.
    async fn verifier(&self, options: OidcOptions, interval: Duration) -> Verifier {
        let mut verifier = options.verifier().unwrap().unwrap();
        verifier.min_refresh_interval = interval;
        verifier.prefetch().await.unwrap();
        verifier
    }

    /// Claims Knative's dispatcher would send: ours, valid for an hour.
    fn claims(&self) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({ "iss": self.url(), "aud": [AUDIENCE], "sub": TRIGGER, "iat": now, "nbf": now, "exp": now + 3600 })
    }
}

fn public(kid: &str, pem: &str) -> Jwk {
    let mut jwk =
        Jwk::from_encoding_key(&EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk
}

fn sign(kid: &str, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    headers
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

fn is_unauthorized(result: Result<String, Refusal>, because: &str) {
    match result {
        Err(Refusal::Unauthorized(reason)) => assert!(reason.contains(because), "{because}: {reason}"),
        other => panic!("expected a 401 because {because}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sender_token_of_the_issuer_for_us_is_taken_and_every_forgery_refused() {
    let issuer = Issuer::start(&[("k1", ISSUER_KEY)]).await;
    let verifier = issuer.verifier(issuer.options(), MIN_REFRESH_INTERVAL).await;
    let claims = issuer.claims();

    assert_eq!(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &claims))).await, Ok(TRIGGER.to_string()));

    is_unauthorized(verifier.verify(&HeaderMap::new()).await, "Authorization: Bearer");
    is_unauthorized(verifier.verify(&bearer("not-a-jwt")).await, "not a JWT");
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ATTACKER_KEY, &claims))).await, "signature");
    let now = jsonwebtoken::get_current_timestamp();
    let expired = with(with(claims.clone(), "exp", json!(now - 600)), "nbf", json!(now - 4200));
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &expired))).await, "expired");
    let early = with(claims.clone(), "nbf", json!(now + 600));
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &early))).await, "not valid yet");
    let elsewhere = with(claims.clone(), "aud", json!(["broker-ingress"]));
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &elsewhere))).await, "another audience");
    let foreign = with(claims.clone(), "iss", json!("https://evil.example"));
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &foreign))).await, "another issuer");
    let mut anonymous = claims.clone();
    anonymous.as_object_mut().unwrap().remove("sub");
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &anonymous))).await, "required claim");
    let mut forever = claims.clone();
    forever.as_object_mut().unwrap().remove("exp");
    is_unauthorized(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &forever))).await, "required claim");

    // The classic confusion: HMAC keyed with something public.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let hmac = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"k1").unwrap()).unwrap();
    is_unauthorized(verifier.verify(&bearer(&hmac)).await, "HS256");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = None;
    let unnamed = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(ISSUER_KEY.as_bytes()).unwrap());
    is_unauthorized(verifier.verify(&bearer(&unnamed.unwrap())).await, "kid");
    is_unauthorized(verifier.verify(&bearer(&"x".repeat(MAX_TOKEN + 1))).await, "too long");
}

#[tokio::test]
async fn only_the_allowed_senders_deliver() {
    let issuer = Issuer::start(&[("k1", ISSUER_KEY)]).await;
    let options = OidcOptions {
        subjects: vec!["system:serviceaccount:agent-store:*".into(), "system:serviceaccount:ops:replayer".into()],
        ..issuer.options()
    };
    let verifier = issuer.verifier(options, MIN_REFRESH_INTERVAL).await;
    let token = |sub: &str| bearer(&sign("k1", ISSUER_KEY, &with(issuer.claims(), "sub", json!(sub))));

    assert!(verifier.verify(&token(TRIGGER)).await.is_ok());
    assert!(verifier.verify(&token("system:serviceaccount:ops:replayer")).await.is_ok());
    for other in [
        "system:serviceaccount:ops:replayer-2",
        "system:serviceaccount:agent-store-evil:x",
        "system:serviceaccount:default:default",
    ] {
        match verifier.verify(&token(other)).await {
            Err(Refusal::Forbidden(reason)) => assert!(reason.contains(other), "{reason}"),
            result => panic!("{other}: {result:?}"),
        }
    }
}

#[tokio::test]
async fn an_unknown_key_is_fetched_again_but_never_more_than_once_an_interval() {
    let issuer = Issuer::start(&[("k1", ISSUER_KEY)]).await;
    let interval = Duration::from_millis(500);
    let verifier = issuer.verifier(issuer.options(), interval).await;
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

    // Forgeries naming keys nobody has, many at once: no fetch within the
    // interval of the one at start.
    let forged: Vec<_> = (0..50).map(|i| bearer(&sign(&format!("nope-{i}"), ATTACKER_KEY, &issuer.claims()))).collect();
    let results = futures::future::join_all(forged.iter().map(|headers| verifier.verify(headers))).await;
    for result in results {
        is_unauthorized(result, "not one of the issuer's");
    }
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "an unknown kid right after a fetch fetches nothing");

    // The issuer rotates to a new key: once the interval is over, the
    // first token naming it fetches the keys again (once, for all of them).
    issuer.keys.lock().unwrap().push(("k2".into(), ATTACKER_KEY));
    tokio::time::sleep(interval).await;
    let rotated: Vec<_> = (0..20).map(|_| bearer(&sign("k2", ATTACKER_KEY, &issuer.claims()))).collect();
    let results = futures::future::join_all(rotated.iter().map(|headers| verifier.verify(headers))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_issuer_out_of_reach_means_try_again_unless_the_key_is_known() {
    let issuer = Issuer::start(&[("k1", ISSUER_KEY)]).await;
    let interval = Duration::from_millis(200);
    let verifier = issuer.verifier(issuer.options(), interval).await;
    issuer.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(interval).await;

    let unknown = bearer(&sign("k2", ISSUER_KEY, &issuer.claims()));
    match verifier.verify(&unknown).await {
        Err(refusal @ Refusal::Unavailable(_)) => {
            let response = refusal.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
        other => panic!("expected a 503, got {other:?}"),
    }
    // Within the interval the failure is remembered, not retried.
    assert!(matches!(verifier.verify(&unknown).await, Err(Refusal::Unavailable(_))));
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // A key fetched before stays good while the issuer is away.
    assert!(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &issuer.claims()))).await.is_ok());

    // A host that starts while the issuer is away answers 503, not 200 nor 401.
    let mut cold = issuer.options().verifier().unwrap().unwrap();
    cold.min_refresh_interval = interval;
    assert!(cold.prefetch().await.is_err());
    let known = bearer(&sign("k1", ISSUER_KEY, &issuer.claims()));
    assert!(matches!(cold.verify(&known).await, Err(Refusal::Unavailable(_))));
    issuer.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(interval).await;
    assert!(cold.verify(&known).await.is_ok());
}

#[tokio::test]
async fn the_keys_come_from_the_jwks_given_or_the_discovery_document_of_the_issuer() {
    let issuer = Issuer::start(&[("k1", ISSUER_KEY)]).await;
    // The discovery document must name the issuer it is fetched for.
    let wrong = OidcOptions { issuer: Some(format!("{}/", issuer.url())), ..issuer.options() };
    let error = wrong.verifier().unwrap().unwrap().prefetch().await.unwrap_err();
    assert!(format!("{error:#}").contains("names the issuer"), "{error:#}");

    // With the JWKS given, discovery is not read: an issuer whose discovery
    // is elsewhere (as on managed clusters) works.
    let options = OidcOptions {
        issuer: Some("https://oidc.example/id/123".into()),
        jwks: Some(format!("{}/openid/v1/jwks", issuer.url())),
        ..issuer.options()
    };
    let verifier = issuer.verifier(options, MIN_REFRESH_INTERVAL).await;
    let claims = with(issuer.claims(), "iss", json!("https://oidc.example/id/123"));
    assert!(verifier.verify(&bearer(&sign("k1", ISSUER_KEY, &claims))).await.is_ok());
}

#[test]
fn options_are_checked_before_anything_is_fetched() {
    let base = OidcOptions {
        issuer: Some("https://kubernetes.default.svc.cluster.local".into()),
        audience: Some(AUDIENCE.into()),
        ..Default::default()
    };
    assert!(OidcOptions::default().verifier().unwrap().is_none());
    assert!(base.verifier().unwrap().is_some());
    for (broken, because) in [
        (OidcOptions { audience: None, ..base.clone() }, "--knative-oidc-audience"),
        (OidcOptions { issuer: None, ..base.clone() }, "--knative-oidc-issuer"),
        (OidcOptions { issuer: Some("http://kubernetes.default.svc".into()), ..base.clone() }, "https://"),
        (OidcOptions { jwks: Some("http://10.0.0.1/openid/v1/jwks".into()), ..base.clone() }, "https://"),
        (OidcOptions { subjects: vec!["*".into()], ..base.clone() }, "names nobody"),
        (OidcOptions { ca_file: Some("/nonexistent/ca.crt".into()), ..base.clone() }, "ca-file"),
        (OidcOptions { token_file: Some("/nonexistent/token".into()), ..base.clone() }, "token-file"),
    ] {
        let error = broken.verifier().map(|_| ()).unwrap_err();
        assert!(format!("{error:#}").contains(because), "{because}: {error:#}");
    }
    assert!(Subject::parse("system:serviceaccount:a:*").unwrap().allows("system:serviceaccount:a:b"));
    assert!(!Subject::parse("system:serviceaccount:a:b").unwrap().allows("system:serviceaccount:a:bc"));
}
