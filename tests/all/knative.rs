//! The host as Knative runs it (`--broker knative`): Triggers push
//! deliveries to `/events/deliver/<component>`, emitted events go to the
//! Broker's ingress. The ingress is a fake on 127.0.0.1 (there is no
//! cluster here) that keeps what it is sent, or refuses it on demand; so is
//! the cluster's OIDC issuer, which vouches for Knative's senders.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_store_events::ProductQueryResult;
use agent_store_tests::{HostBuilder, HostProcess, TEST_TOKEN, event, host_binary_path};
use anyhow::{Result, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cloudevents::{AttributesReader, Event};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Default)]
struct Ingress {
    received: Arc<Mutex<Vec<Event>>>,
    /// The status it answers every post with, taking nothing; 0: takes them.
    refusing: Arc<AtomicU16>,
}

impl Ingress {
    async fn start(&self) -> Result<String> {
        async fn take(State(ingress): State<Ingress>, headers: HeaderMap, body: Bytes) -> StatusCode {
            if let Ok(status) = StatusCode::from_u16(ingress.refusing.load(Ordering::SeqCst)) {
                return status;
            }
            match agent_store_events::binding::decode(&headers, body.to_vec()) {
                Ok(events) => {
                    ingress.received.lock().unwrap().extend(events);
                    StatusCode::ACCEPTED
                }
                Err(_) => StatusCode::BAD_REQUEST,
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/store/default", listener.local_addr()?);
        let app = axum::Router::new().route("/store/default", axum::routing::post(take)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    async fn wait_for(&self, ty: &str) -> Result<Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = self.received.lock().unwrap().iter().find(|e| e.ty() == ty) {
                return Ok(found.clone());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the ingress got no {ty}: {:?}", self.types());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// From now on answers every post with `status` (`None`: takes them).
    fn refuse(&self, status: Option<u16>) {
        self.refusing.store(status.unwrap_or(0), Ordering::SeqCst);
    }

    fn types(&self) -> Vec<String> {
        self.received.lock().unwrap().iter().map(|e| e.ty().to_string()).collect()
    }
}

/// The private half of the fake issuer's signing key, and of the key a
/// forger signs with: test keys made for these tests (tests/fixtures/oidc).
const ISSUER_KEY: &str = include_str!("../fixtures/oidc/issuer-key.pem");
const ATTACKER_KEY: &str = include_str!("../fixtures/oidc/attacker-key.pem");
const ISSUER_KID: &str = "test-key";
/// What the Triggers of deploy/knative give as their subscriber's audience.
const AUDIENCE: &str = "agent-store";
/// The identity Knative gives the Trigger `product-catalog-0`.
const TRIGGER: &str = "system:serviceaccount:agent-store:product-catalog-0-oidc-eventing.knative.dev-trigger";

/// The cluster's OIDC issuer as the host sees it: a discovery document and
/// the public half of [`ISSUER_KEY`] as its JWKS.
struct Issuer {
    url: String,
}

impl Issuer {
    async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/openid/v1/jwks") });
        let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_rsa_pem(ISSUER_KEY.as_bytes())?, Algorithm::RS256)?;
        jwk.common.key_id = Some(ISSUER_KID.into());
        let jwks = json!({ "keys": [jwk] });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route("/openid/v1/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url })
    }

    /// What Knative's dispatcher sends for the Trigger: a token for our
    /// audience, valid for an hour.
    fn claims(&self) -> Value {
        claims(&self.url)
    }
}

fn claims(issuer: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({ "iss": issuer, "aud": [AUDIENCE], "sub": TRIGGER, "iat": now, "nbf": now, "exp": now + 3600 })
}

/// `claims` signed with `key` under the issuer's key id.
fn sign(key: &str, claims: &Value) -> Result<String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(ISSUER_KID.into());
    Ok(jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(key.as_bytes())?)?)
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

async fn knative_host(ingress: &Ingress) -> Result<HostProcess> {
    knative_host_with(ingress, HostBuilder::repo_manifest(), &[]).await
}

async fn knative_host_with(ingress: &Ingress, builder: HostBuilder, args: &[&str]) -> Result<HostProcess> {
    knative_host_on(ingress, builder, "memory", args).await
}

/// A host on Knative whose key-value stores (dead letters, idempotency
/// records) are `kv`.
async fn knative_host_on(ingress: &Ingress, builder: HostBuilder, kv: &str, args: &[&str]) -> Result<HostProcess> {
    let sink = ingress.start().await?;
    let builder = builder.arg("--kv").arg(kv).arg("--broker").arg("knative").env("K_SINK", &sink);
    args.iter().fold(builder, |builder, arg| builder.arg(*arg)).start().await
}

/// Posts `event` the way a Trigger delivers it (binary mode).
async fn deliver(host: &HostProcess, component: &str, event: &Event) -> Result<(u16, Value)> {
    deliver_with(host, &format!("/events/deliver/{component}"), event, HeaderMap::new()).await
}

/// Posts `event` to `path` with `extra` headers (a token, a `Host`).
async fn deliver_with(host: &HostProcess, path: &str, event: &Event, extra: HeaderMap) -> Result<(u16, Value)> {
    let (headers, body) = agent_store_events::binding::encode_binary(event)?;
    let response = reqwest::Client::new()
        .post(format!("{}{path}", host.url))
        .headers(headers)
        .headers(extra)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

fn bearer(token: &str) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse()?);
    Ok(headers)
}

fn addressed_to(host: &str) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert("host", host.parse()?);
    Ok(headers)
}

/// The request ids of the catalog results the Broker got: which deliveries
/// ran the component.
fn answered(ingress: &Ingress) -> Vec<String> {
    let received = ingress.received.lock().unwrap();
    received
        .iter()
        .filter(|e| e.ty() == "store.product.query.result")
        .filter_map(|e| match e.data() {
            Some(cloudevents::Data::Json(value)) => value["request_id"].as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

fn query(id: &str) -> Event {
    let mut query = event(
        "store.product.query",
        json!({ "request_id": id, "brand": "tech", "text": "laptop", "in_stock_only": true, "limit": 2 }),
    );
    query.set_extension("brand", "tech");
    query
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_delivery_runs_the_component_and_its_result_goes_to_the_broker() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;

    // What comes in through /events goes to the Knative Broker, not to a
    // component: the Broker's Triggers decide who gets it.
    let posted = query("q-ingress");
    let (status, body) = host.post_event(&posted).await?;
    assert_eq!(status, 202, "{body}");
    let published = ingress.wait_for("store.product.query").await?;
    assert_eq!(published.id(), posted.id());
    assert!(ingress.types().iter().all(|t| t == "store.product.query"), "no component ran: {:?}", ingress.types());

    let (status, body) = deliver(&host, "product-catalog", &query("q-pushed")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["emitted"], 1);
    let result = ingress.wait_for("store.product.query.result").await?;
    assert_eq!(result.source().to_string(), "/agent-store/product-catalog");
    assert_eq!(result.extension("brand").map(|v| v.to_string()).as_deref(), Some("tech"));
    let data: ProductQueryResult = match result.data() {
        Some(cloudevents::Data::Json(value)) => serde_json::from_value(value.clone())?,
        other => bail!("result data is not JSON: {other:?}"),
    };
    assert_eq!(data.request_id, "q-pushed");
    assert!(!data.products.is_empty());
    assert!(data.products.iter().all(|p| p.brand.as_str() == "tech" && p.stock > 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_answered_so_that_knative_retries_only_what_can_succeed() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;

    // An event the subscription does not take (a Trigger filter is coarser
    // than ours): done, nothing run.
    let stray = event("store.order.create", json!({}));
    let (status, body) = deliver(&host, "product-catalog", &stray).await?;
    assert_eq!((status, &body["emitted"]), (200, &json!(0)), "{body}");

    let (status, body) = deliver(&host, "no-such-component", &query("q-1")).await?;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("no-such-component"), "{body}");

    let response = reqwest::Client::new()
        .post(format!("{}/events/deliver/product-catalog", host.url))
        .header("ce-specversion", "1.0")
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status(), 400, "a delivery without ce-id/ce-type is malformed");

    // The component succeeds but the Broker does not take its result: the
    // delivery must fail so that Knative brings it again.
    ingress.refuse(Some(503));
    let (status, body) = deliver(&host, "product-catalog", &query("q-refused")).await?;
    assert_eq!(status, 503, "{body}");
    assert!(body["failed"][0]["reason"].as_str().unwrap().contains("ingress"), "{body}");
    ingress.refuse(None);
    let (status, body) = deliver(&host, "product-catalog", &query("q-refused")).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn what_knative_gives_up_on_is_kept_with_its_reason() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;

    // What the Broker's dead-letter sink posts: the event as it was, plus
    // the extensions Knative adds to say where it failed and how.
    let mut failed = query("q-dead");
    failed.set_extension("knativeerrorcode", "503");
    failed.set_extension(
        "knativeerrordest",
        "http://agent-store.agent-store.svc.cluster.local/events/deliver/product-catalog",
    );
    failed.set_extension("knativeerrordata", "eyJlcnJvciI6InJldHJ5In0=");
    let (headers, body) = agent_store_events::binding::encode_binary(&failed)?;
    let client = reqwest::Client::new();
    let response = client.post(format!("{}/events/dead-letter", host.url)).headers(headers).body(body).send().await?;
    assert_eq!(response.status(), 200);

    let listing = format!("{}/admin/dead-letters", host.url);
    assert_eq!(client.get(&listing).send().await?.status(), 401, "dead letters are for the admin only");
    let body: Value = client.get(&listing).bearer_auth(TEST_TOKEN).send().await?.json().await?;
    let letters = body["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{body}");
    let letter = &letters[0];
    assert_eq!(letter["event"]["id"], failed.id());
    assert_eq!(letter["event"]["data"]["request_id"], "q-dead", "the event is kept whole: {letter}");
    assert_eq!(letter["component"], "product-catalog");
    let reason = letter["reason"].as_str().unwrap();
    assert!(reason.contains("answered 503") && reason.contains(r#"{"error":"retry"}"#), "{reason}");
    Ok(())
}

/// What the Broker's dead-letter sink posts when `component`'s Trigger
/// gave up on `event`: the event plus Knative's `knativeerror*` extensions.
fn given_up(event: &Event, component: &str) -> Event {
    let mut dead = event.clone();
    dead.set_extension("knativeerrorcode", "503");
    dead.set_extension(
        "knativeerrordest",
        format!("http://{component}.agent-store.svc.cluster.local/events/deliver/{component}"),
    );
    dead.set_extension("knativeerrordata", "eyJlcnJvciI6InJldHJ5In0=");
    dead
}

/// `agent-store dlq --url` on Knative, where the dead letters are in Redis
/// and reachable only through a host's admin API: listed, shown, replayed
/// to the Broker's ingress with their own ids and without Knative's error
/// extensions, kept when the ingress fails, purged; and nothing of it for
/// a caller without the admin token.
#[tokio::test(flavor = "multi_thread")]
async fn dlq_replays_knative_dead_letters_to_the_broker_with_their_own_ids() -> Result<()> {
    let sandbox = crate::broker::Sandbox::new().await?;
    let ingress = Ingress::default();
    let host = knative_host_on(&ingress, HostBuilder::repo_manifest(), &sandbox.kv(), &[]).await?;

    // Knative's dead letters are not where `--broker` can read them.
    let lost = tokio::process::Command::new(host_binary_path())
        .args(["dlq", "list", "--broker", "knative"])
        .env_remove("AGENT_STORE_URL")
        .output()
        .await?;
    let said = String::from_utf8_lossy(&lost.stderr);
    assert!(!lost.status.success() && said.contains("--url") && said.contains("--broker amqp://"), "{said}");

    // The catalog's Trigger delivered the query and the catalog answered;
    // the seller's Trigger gave up on the same event.
    let asked = query("q-dead");
    let (status, body) = deliver(&host, "product-catalog", &asked).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        deliver_with(&host, "/events/dead-letter", &given_up(&asked, "seller-tech"), HeaderMap::new()).await?;
    assert_eq!(status, 200, "{body}");

    let listed = host.dlq(TEST_TOKEN, &["list", "--json"]).await?.json()?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().unwrap_or_default().to_string();
    assert!(id.ends_with(asked.id()), "the store key, ending in the event id: {id}");
    assert_eq!(listed[0]["event_id"], asked.id());
    assert_eq!(listed[0]["type"], "store.product.query");
    assert_eq!(listed[0]["component"], "seller-tech");
    assert!(listed[0]["reason"].as_str().unwrap_or_default().contains("answered 503"), "{}", listed[0]);
    let table = host.dlq(TEST_TOKEN, &["list"]).await?;
    assert!(table.ok && table.stdout.starts_with("ID ") && table.stdout.contains(&id), "{table:?}");

    let shown = host.dlq(TEST_TOKEN, &["show", &id, "--json"]).await?.json()?;
    assert_eq!(shown[0]["event"]["data"]["request_id"], "q-dead", "{shown:?}");
    assert_eq!(shown[0]["event"]["knativeerrorcode"], "503", "kept as Knative gave it: {shown:?}");
    let unknown = host.dlq(TEST_TOKEN, &["show", "no-such-letter"]).await?;
    assert!(!unknown.ok && unknown.stderr.contains("(404): no dead letter no-such-letter"), "{unknown:?}");

    // The attacker, without the admin token, neither reads, replays nor
    // purges them.
    for args in [&["list"][..], &["show", &id], &["replay", &id], &["replay", "--all"], &["purge"]] {
        let refused = host.dlq("not-the-admin-token", args).await?;
        assert!(!refused.ok && refused.stderr.contains("(401)"), "{args:?}: {refused:?}");
    }
    let client = reqwest::Client::new();
    let api = format!("{}/admin/dead-letters", host.url);
    let calls = [
        client.get(format!("{api}/{id}")),
        client.post(format!("{api}/replay")).json(&json!({ "all": true })),
        client.delete(&api),
    ];
    for call in calls {
        assert_eq!(call.send().await?.status(), 401);
    }
    let forged = client.post(format!("{api}/replay")).bearer_auth("x").json(&json!({ "ids": [id] })).send().await?;
    assert_eq!(forged.status(), 401);
    assert!(!ingress.types().contains(&"store.product.query".to_string()), "nothing was replayed");

    // An ingress that fails: the letter stays, and the command says why.
    ingress.refuse(Some(500));
    let failed = host.dlq(TEST_TOKEN, &["replay", &id]).await?;
    assert!(!failed.ok, "{failed:?}");
    assert!(failed.stderr.contains("500") && failed.stderr.contains(&format!("{id} is kept")), "{}", failed.stderr);
    assert_eq!(host.dlq(TEST_TOKEN, &["list", "--json"]).await?.json()?.len(), 1);
    ingress.refuse(None);

    let replayed = host.dlq(TEST_TOKEN, &["replay", &id, "--json"]).await?.json()?;
    assert_eq!(replayed, vec![json!({ "replayed": id, "component": "seller-tech" })]);
    let again = ingress.wait_for("store.product.query").await?;
    assert_eq!(again.id(), asked.id(), "the same id, so that who handled it recognises it");
    assert_eq!(again.data(), asked.data());
    let extensions: Vec<&str> = again.iter_extensions().map(|(name, _)| name).collect();
    assert!(extensions.iter().all(|name| !name.starts_with("knativeerror")), "{extensions:?}");
    assert!(extensions.contains(&"brand"), "its own extensions stay: {extensions:?}");
    assert!(host.dlq(TEST_TOKEN, &["list", "--json"]).await?.json()?.is_empty(), "replayed, so no longer kept");

    // The replay reaches every Trigger of its type: the catalog, which
    // handled it, answers from its record without running again.
    let (status, body) = deliver(&host, "product-catalog", &again).await?;
    assert_eq!((status, &body["emitted"]), (200, &json!(0)), "{body}");
    assert_eq!(answered(&ingress), vec!["q-dead".to_string()]);

    for n in 0..2 {
        let dead = given_up(&query(&format!("q-purged-{n}")), "seller-home");
        let (status, body) = deliver_with(&host, "/events/dead-letter", &dead, HeaderMap::new()).await?;
        assert_eq!(status, 200, "{body}");
    }
    let purged = host.dlq(TEST_TOKEN, &["purge", "--component", "seller-fashion", "--json"]).await?.json()?;
    assert_eq!(purged, vec![json!({ "purged": 0, "component": "seller-fashion" })]);
    assert_eq!(host.dlq(TEST_TOKEN, &["purge", "--json"]).await?.json()?, vec![json!({ "purged": 2 })]);
    assert!(host.dlq(TEST_TOKEN, &["list", "--json"]).await?.json()?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pull_brokers_refuse_pushed_deliveries_and_knative_needs_a_sink() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let (status, body) = deliver(&host, "product-catalog", &query("q-1")).await?;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("--broker knative"), "{body}");

    let refusal =
        HostBuilder::repo_manifest().arg("--kv").arg("memory").arg("--broker").arg("knative").expect_failure().await?;
    assert!(refusal.contains("K_SINK"), "{refusal}");

    // Knative's tokens on a host that takes no pushed deliveries are a
    // misconfiguration, and so is half of them.
    let refusal = HostBuilder::repo_manifest()
        .arg("--knative-oidc-issuer")
        .arg("https://issuer.example")
        .expect_failure()
        .await?;
    assert!(refusal.contains("--knative-oidc-audience"), "{refusal}");
    let refusal = HostBuilder::repo_manifest()
        .arg("--knative-oidc-issuer")
        .arg("https://issuer.example")
        .arg("--knative-oidc-audience")
        .arg(AUDIENCE)
        .expect_failure()
        .await?;
    assert!(refusal.contains("--broker knative"), "{refusal}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_oidc_on_only_the_broker_s_senders_deliver() -> Result<()> {
    let ingress = Ingress::default();
    let issuer = Issuer::start().await?;
    let oidc = [
        "--knative-oidc-issuer",
        &issuer.url,
        "--knative-oidc-audience",
        AUDIENCE,
        "--knative-oidc-subject",
        "system:serviceaccount:agent-store:*",
    ];
    let host = knative_host_with(&ingress, HostBuilder::repo_manifest(), &oidc).await?;
    host.wait_for_log("need an OIDC sender token", WAIT).await?;

    let valid = issuer.claims();
    let now = jsonwebtoken::get_current_timestamp();
    let expired = with(with(valid.clone(), "exp", json!(now - 600)), "nbf", json!(now - 4200));
    let forgeries = [
        ("no token", None, 401),
        ("a token signed by another key", Some(sign(ATTACKER_KEY, &valid)?), 401),
        ("an expired token", Some(sign(ISSUER_KEY, &expired)?), 401),
        (
            "a token for the broker ingress",
            Some(sign(ISSUER_KEY, &with(valid.clone(), "aud", json!(["broker"])))?),
            401,
        ),
        (
            "a token of another namespace's service account",
            Some(sign(ISSUER_KEY, &with(valid.clone(), "sub", json!("system:serviceaccount:default:default")))?),
            403,
        ),
    ];
    for (n, (what, token, expected)) in forgeries.iter().enumerate() {
        let headers = match token {
            Some(token) => bearer(token)?,
            None => HeaderMap::new(),
        };
        let path = "/events/deliver/product-catalog";
        let (status, body) = deliver_with(&host, path, &query(&format!("q-forged-{n}")), headers.clone()).await?;
        assert_eq!(status, *expected, "a delivery with {what}: {body}");
        let (status, body) = deliver_with(&host, "/events/dead-letter", &query("q-dead"), headers).await?;
        assert_eq!(status, *expected, "a dead letter with {what}: {body}");
    }
    // Deliveries answer before the event's results are lost or kept: had a
    // forgery run the catalog, its result would be with the Broker by now.
    assert_eq!(answered(&ingress), Vec::<String>::new(), "a forged delivery ran the component");
    assert!(host.dead_letters().await?.is_empty(), "a forged dead letter was kept");

    let (status, body) =
        deliver_with(&host, "/events/deliver/product-catalog", &query("q-signed"), bearer(&sign(ISSUER_KEY, &valid)?)?)
            .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answered(&ingress), vec!["q-signed".to_string()]);
    let (status, body) =
        deliver_with(&host, "/events/dead-letter", &query("q-dead"), bearer(&sign(ISSUER_KEY, &valid)?)?).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(host.dead_letters().await?.len(), 1);

    let signed = sign(ISSUER_KEY, &valid)?;
    let signature = signed.rsplit('.').next().unwrap_or_default();
    assert!(host.logs().iter().all(|line| !line.contains(signature)), "a token was logged");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_issuer_out_of_reach_deliveries_wait_rather_than_fail() -> Result<()> {
    // An address nothing listens on: the cluster's issuer, down.
    let issuer = format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?);
    let ingress = Ingress::default();
    let oidc = ["--knative-oidc-issuer", &issuer, "--knative-oidc-audience", AUDIENCE];
    let host = knative_host_with(&ingress, HostBuilder::repo_manifest(), &oidc).await?;
    host.wait_for_log("could not be fetched", WAIT).await?;

    let token = sign(ISSUER_KEY, &claims(&issuer))?;
    let response = reqwest::Client::new()
        .post(format!("{}/events/deliver/product-catalog", host.url))
        .bearer_auth(&token)
        .headers(agent_store_events::binding::encode_binary(&query("q-wait"))?.0)
        .send()
        .await?;
    assert_eq!(response.status(), 503, "Knative retries a 503; a 401 would dead-letter a genuine delivery");
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(answered(&ingress), Vec::<String>::new());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_oidc_deliveries_are_served_only_on_cluster_local_names() -> Result<()> {
    let ingress = Ingress::default();
    // On all addresses, as in a pod, so that requests may name any host.
    let host = knative_host_with(&ingress, HostBuilder::repo_manifest().listen("0.0.0.0:0"), &[]).await?;
    let warning = host.wait_for_log("not authenticated", WAIT).await?;
    assert_eq!(warning["level"], "WARN", "{warning}");

    // Through the public ingress a request names the Service's public
    // domain: refused, whatever it carries.
    for public in ["agent-store.agent-store.example.com", "agent-store.agent-store.svc.cluster.local.evil.example"] {
        let (status, body) =
            deliver_with(&host, "/events/deliver/product-catalog", &query("q-public"), addressed_to(public)?).await?;
        assert_eq!(status, 403, "{public}: {body}");
        let (status, body) =
            deliver_with(&host, "/events/dead-letter", &query("q-public"), addressed_to(public)?).await?;
        assert_eq!(status, 403, "{public}: {body}");
    }
    assert_eq!(answered(&ingress), Vec::<String>::new(), "a delivery from outside ran the component");
    assert!(host.dead_letters().await?.is_empty());

    // What a Trigger's subscriber and the Broker's dead-letter sink resolve to.
    let local = addressed_to("agent-store.agent-store.svc.cluster.local")?;
    let (status, body) =
        deliver_with(&host, "/events/deliver/product-catalog", &query("q-local"), local.clone()).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answered(&ingress), vec!["q-local".to_string()]);
    let (status, body) = deliver_with(&host, "/events/dead-letter", &query("q-local"), local).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

/// Knative delivers at least once: the same event pushed again (same
/// source and id) is answered without running its component again, and its
/// outputs are not posted twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_event_does_not_run_its_component_twice() -> Result<()> {
    let ingress = Ingress::default();
    let host = knative_host(&ingress).await?;
    let once = query("q-once");
    for attempt in 0..3 {
        let (status, body) = deliver(&host, "product-catalog", &once).await?;
        assert_eq!(status, 200, "attempt {attempt}: {body}");
    }
    // Outputs are posted before a delivery is answered: this is final.
    assert_eq!(answered(&ingress), vec!["q-once".to_string()], "one run, one result");
    let (status, body) = deliver(&host, "product-catalog", &query("q-next")).await?;
    assert_eq!((status, &body["emitted"]), (200, &json!(1)), "{body}");
    assert_eq!(answered(&ingress), vec!["q-once".to_string(), "q-next".to_string()]);
    Ok(())
}

/// The `dead-letters` Service of agents.yaml: a host with no component
/// keeps what Knative gives up on, and lists it; it runs nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_with_no_components_is_the_dead_letter_sink() -> Result<()> {
    let ingress = Ingress::default();
    let builder = HostBuilder::repo_manifest().listen("0.0.0.0:0");
    let host = knative_host_with(&ingress, builder, &["--no-components"]).await?;
    let local = addressed_to("dead-letters.agent-store.svc.cluster.local")?;
    let (status, body) = deliver_with(&host, "/events/dead-letter", &query("q-gave-up"), local.clone()).await?;
    assert_eq!(status, 200, "{body}");
    let dead = host.dead_letters().await?;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["event"]["data"]["request_id"], "q-gave-up", "{dead:?}");
    let (status, body) = deliver_with(&host, "/events/deliver/product-catalog", &query("q-run"), local).await?;
    assert_eq!(status, 404, "no component runs here: {body}");
    assert_eq!(answered(&ingress), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn the_committed_knative_manifests_are_the_ones_spin_toml_gives() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = tokio::process::Command::new(host_binary_path())
        .args(["knative", "manifests", "--manifest"])
        .arg(root.join("spin.toml"))
        .output()
        .await?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let generated = String::from_utf8(output.stdout)?;
    let committed = std::fs::read_to_string(root.join("deploy/knative/agents.yaml"))?;
    assert!(
        generated == committed,
        "deploy/knative/agents.yaml is stale: run `agent-store knative manifests > deploy/knative/agents.yaml`"
    );
    let documents: Vec<&str> = generated.split("---\n").skip(1).collect();
    let triggers_of = |component: &str| -> Vec<&str> {
        let uri = format!("uri: /events/deliver/{component}\n");
        documents.iter().copied().filter(|d| d.contains("kind: Trigger") && d.contains(&uri)).collect()
    };
    // A Service per agent, delivered to by its own Triggers, which filter
    // on exact attributes only: the RabbitMQ broker applies nothing else.
    for component in ["product-catalog", "order-processor", "sales-assistant", "whatsapp-gateway"] {
        assert!(generated.contains(&format!("kind: Service\nmetadata:\n  name: {component}\n")), "{component}");
        assert!(!triggers_of(component).is_empty(), "{component}");
    }
    assert!(!generated.contains("filters:") && !generated.contains("prefix:"), "only spec.filter.attributes");
    for brand in ["fashion", "tech", "home", "beauty", "gaming"] {
        let triggers = triggers_of(&format!("seller-{brand}"));
        // chat message, query and recommend results, order created and
        // rejected, and the three escalation events the wildcard stands for
        // (waiting, accepted, released).
        assert_eq!(triggers.len(), 8, "seller-{brand}");
        assert!(triggers.iter().all(|t| t.contains(&format!("brand: \"{brand}\""))), "seller-{brand}");
        assert!(triggers.iter().all(|t| t.contains("name: dead-letters")), "seller-{brand}: its dead letters");
    }
    assert!(!generated.contains("name: whatsapp-sandbox"), "the local sandbox is not deployed");

    // Every manifest of deploy/knative against the real CRD schemas, when
    // the validator the project's machines carry is there.
    let validator = root.join("../shared/tools/validate-k8s");
    if !validator.exists() {
        eprintln!("SKIPPED: schema validation of deploy/knative: {} is not here", validator.display());
        return Ok(());
    }
    let checked = tokio::process::Command::new(&validator).arg("-q").arg(root.join("deploy/knative")).output().await?;
    let said = format!("{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert!(checked.status.success() && !said.contains("WARN"), "validate-k8s deploy/knative:\n{said}");
    Ok(())
}
