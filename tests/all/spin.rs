//! Stock Spin runs the store, as the README's "Run it under Spin" says: a
//! real `spin up` on the repository's `spin.toml` and `runtime-config.toml`
//! with the built components, real HTTP over loopback, and a fake WhatsApp
//! Cloud API on 127.0.0.1 as the only stand-in. Under Spin the
//! `event-router` component is the broker, and every event between
//! components goes through Spin's service chaining.
//!
//! It needs a `spin` binary: `SPIN=/path/to/spin`, or `spin` on `PATH`
//! (`.ci/run` puts `../shared/bin` there). Without one the test says that it
//! skipped, and why, and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_store_tests::{demo_env, wasm_dir, workspace_root};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::whatsapp::{FakeCloudApi, text_webhook};

/// Spin compiles every component on its first start (its cache keeps them
/// for the next): a dozen components on a busy 2-core machine take a while.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// The router answers a post once the whole cascade is done, and Spin
/// writes a component's output as it comes: a line is late only by a moment.
const HOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Spin stops in well under a second; past this it is stuck.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// The fashion brand's business number in spin.toml's `whatsapp_brand_numbers`.
const FASHION_NUMBER: &str = "100000000000001";

/// The Spin CLI to test with, if there is one: `SPIN` names it, else the
/// first `spin` on `PATH`. A `SPIN` that names nothing is an error, not a
/// reason to skip: someone asked for that binary.
fn spin_binary() -> Result<Option<PathBuf>> {
    if let Some(path) = std::env::var_os("SPIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        ensure!(path.is_file(), "SPIN={} is not a file", path.display());
        return Ok(Some(path));
    }
    let Some(paths) = std::env::var_os("PATH") else { return Ok(None) };
    Ok(std::env::split_paths(&paths).map(|dir| dir.join("spin")).find(|p| p.is_file()))
}

/// A `spin up` of the repository, killed when dropped.
struct Spin {
    url: String,
    /// The application's folder: its `.spin/` holds the stores and logs.
    app: tempfile::TempDir,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Spin {
    /// Runs the repository's `spin.toml` and `runtime-config.toml`, copied
    /// unchanged into a folder of their own so that the stores (`.spin/`)
    /// start empty and the repository's are left alone. The manifest's
    /// relative paths resolve there as in the repository: `brands/` is the
    /// repository's, and `target/wasm32-wasip2/release/` is where this build
    /// put the components (`CARGO_TARGET_DIR` may be anywhere).
    async fn up(spin: &Path, variables: &[(String, String)]) -> Result<Self> {
        let root = workspace_root();
        let app = tempfile::tempdir()?;
        for file in ["spin.toml", "runtime-config.toml"] {
            std::fs::copy(root.join(file), app.path().join(file)).with_context(|| file.to_string())?;
        }
        std::os::unix::fs::symlink(root.join("brands"), app.path().join("brands"))?;
        std::fs::create_dir_all(app.path().join("target/wasm32-wasip2"))?;
        std::os::unix::fs::symlink(wasm_dir(), app.path().join("target/wasm32-wasip2/release"))?;

        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(spin);
        command
            .arg("up")
            .arg("--from")
            .arg(app.path().join("spin.toml"))
            .arg("--runtime-config-file")
            .arg(app.path().join("runtime-config.toml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(app.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // `spin up` runs the app in a process of its own (`spin trigger
            // http`), which outlives it if it alone is killed: the test ends
            // the whole group.
            .process_group(0)
            .kill_on_drop(true);
        // The caller's Spin settings (SPIN_ALWAYS_BUILD, its own variables)
        // are not the test's.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SPIN_") {
                command.env_remove(name);
            }
        }
        command.envs(variables.iter().cloned());
        let mut child = command.spawn().with_context(|| format!("starting {}", spin.display()))?;

        let output = Arc::new(Mutex::new(Vec::new()));
        for mut stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let sink = output.clone();
            tokio::spawn(async move {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                    sink.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
        let mut spin = Self { url, app, child, output };
        spin.wait_until_serving().await?;
        Ok(spin)
    }

    /// Any answer from the router's route means Spin serves the app: it
    /// listens only once every component is ready.
    async fn wait_until_serving(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("spin up exited with {status}:\n{}", self.output());
            }
            if client.get(format!("{}/events", self.url)).send().await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("spin up did not serve within {START_TIMEOUT:?}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// What a component wrote to `stream` (`stdout`, `stderr`), as Spin
    /// keeps it.
    fn component_output(&self, id: &str, stream: &str) -> String {
        std::fs::read_to_string(self.app.path().join(format!(".spin/logs/{id}_{stream}.txt"))).unwrap_or_default()
    }

    /// The router's deliveries and failures, for a failing test's message.
    fn router_log(&self) -> String {
        let (out, err) =
            (self.component_output("event-router", "stdout"), self.component_output("event-router", "stderr"));
        format!("event-router stdout:\n{out}\nevent-router stderr:\n{err}")
    }

    /// What a delivery of `what` (an event type, optionally followed by
    /// the event's id) to `component` emitted, from the router's log lines
    /// after the first `skip`; waits for the line to be written.
    async fn hop(&self, skip: usize, what: &str, component: &str) -> Result<String> {
        let prefix = format!("delivered {what} ");
        let to = |line: &str| [" ", ":"].iter().any(|end| line.contains(&format!(" → {component}{end}")));
        let deadline = tokio::time::Instant::now() + HOP_TIMEOUT;
        loop {
            let log = self.component_output("event-router", "stdout");
            let found =
                log.lines().skip(skip).find(|l| l.starts_with(&prefix) && to(l)).map(|line| {
                    line.split_once(": emitted ").map(|(_, emitted)| emitted.to_string()).unwrap_or_default()
                });
            if let Some(emitted) = found {
                return Ok(emitted);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the router did not deliver {what} to {component}:\n{}", self.router_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn post_webhook(&self, body: Vec<u8>, secret: &str) -> Result<(u16, String)> {
        crate::whatsapp::post_webhook_to(&self.url, body, secret).await
    }

    /// Stops Spin as Ctrl-C would, so that it stops its app process too.
    async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("spin up already exited")?;
        signal_group("TERM", pid);
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                signal_group("KILL", pid);
                bail!("spin up did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}", self.output());
            }
        }
        Ok(())
    }
}

impl Drop for Spin {
    /// A test that fails leaves no Spin behind.
    fn drop(&mut self) {
        // Until it is waited for, the group leader keeps its id: the group
        // is still this Spin's.
        if let Some(pid) = self.child.id() {
            signal_group("KILL", pid);
        }
    }
}

/// Sends `signal` to the process group `pgid` (`kill` rather than a libc
/// binding, as the test support does).
fn signal_group(signal: &str, pgid: u32) {
    let _ = std::process::Command::new("kill").arg(format!("-{signal}")).arg("--").arg(format!("-{pgid}")).status();
}

/// demo.env's values, as the README's `set -a; . ./demo.env; set +a` gives
/// them to `spin up`, but with the Cloud API at `api`.
fn variables(api: &FakeCloudApi) -> Vec<(String, String)> {
    let mut variables: Vec<(String, String)> =
        demo_env().into_iter().filter(|(name, _)| !name.starts_with("SPIN_VARIABLE_WHATSAPP_API_")).collect();
    variables.push(("SPIN_VARIABLE_WHATSAPP_API_BASE".into(), format!("{}/v21.0", api.origin)));
    variables.push(("SPIN_VARIABLE_WHATSAPP_API_ORIGIN".into(), api.origin.clone()));
    variables
}

fn demo_value(name: &str) -> String {
    demo_env().into_iter().find(|(n, _)| n == name).map(|(_, v)| v).unwrap_or_else(|| panic!("{name} in demo.env"))
}

/// The deliveries of a router's answer as `(component, type, emitted)`.
fn deliveries(answer: &Value) -> Vec<(String, String, Vec<String>)> {
    answer["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let emitted = d["emitted"].as_array().into_iter().flatten();
            (
                d["component"].as_str().unwrap_or_default().to_string(),
                d["type"].as_str().unwrap_or_default().to_string(),
                emitted.filter_map(Value::as_str).map(str::to_string).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_spin_up_runs_the_store_and_a_seller_answers_a_whatsapp_customer() -> Result<()> {
    let Some(spin) = spin_binary()? else {
        eprintln!(
            "SKIPPED: stock_spin_up_runs_the_store_and_a_seller_answers_a_whatsapp_customer did not run: \
             no `spin` on PATH and SPIN is not set (put a Spin 4.x CLI on PATH or set SPIN=/path/to/spin)"
        );
        return Ok(());
    };
    let api = FakeCloudApi::start().await?;
    let spin = Spin::up(&spin, &variables(&api)).await?;

    // The README's product query, posted to Spin's /events as it shows it:
    // the catalog answers, and its answer reaches the fashion seller.
    let answer = reqwest::Client::new()
        .post(format!("{}/events", spin.url))
        .header("ce-specversion", "1.0")
        .header("ce-id", "q-1")
        .header("ce-source", "/readme")
        .header("ce-type", "store.product.query")
        .header("ce-brand", "fashion")
        .header("content-type", "application/json")
        .body(r#"{"request_id": "q-1", "brand": "fashion", "text": "vestido", "in_stock_only": true, "limit": 3}"#)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let answer: Value = answer.json().await?;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    let routed = deliveries(&answer);
    let result = "store.product.query.result".to_string();
    assert!(
        routed.contains(&("product-catalog".into(), "store.product.query".into(), vec![result.clone()])),
        "the catalog answers the query: {answer}"
    );
    assert!(
        routed.iter().any(|(to, ty, _)| to == "seller-fashion" && *ty == result),
        "the answer reaches the fashion seller: {answer}"
    );
    assert!(answer["deliveries"].as_array().unwrap().iter().all(|d| d.get("error").is_none()), "{answer}");
    let emitted = spin.hop(0, "store.product.query q-1", "product-catalog").await?;
    assert_eq!(emitted, result);

    // A customer writes to the fashion number. A forged webhook is refused; a
    // signed one goes from the gateway to the router, which delivers it to
    // Luna, the fashion seller, and her catalog query to the catalog, all
    // through Spin's service chaining; her answer goes back to the gateway,
    // which calls the Cloud API.
    const PHONE: &str = "34622333444";
    let before = spin.component_output("event-router", "stdout").lines().count();
    let webhook = || text_webhook(PHONE, "wamid.SPININ1", "Hi! I'm looking for a dress");
    let (status, body) = spin.post_webhook(webhook(), "not-the-app-secret").await?;
    assert_eq!(status, 401, "{body}");
    let (status, body) = spin.post_webhook(webhook(), &demo_value("SPIN_VARIABLE_WHATSAPP_APP_SECRET")).await?;
    assert_eq!(status, 200, "{body}");

    for (ty, to, emits) in [
        ("store.chat.message.new", "seller-fashion", "store.product.query"),
        ("store.product.query", "product-catalog", "store.product.query.result"),
        ("store.product.query.result", "seller-fashion", "store.chat.response"),
        ("store.chat.response", "whatsapp-gateway", "store.whatsapp.message.send"),
    ] {
        let emitted = spin.hop(before, ty, to).await?;
        assert!(emitted.split(", ").any(|e| e == emits), "{ty} → {to} emitted {emitted}, not {emits}");
    }

    let calls = api.wait_for(1).await.with_context(|| spin.router_log())?;
    assert_eq!(calls.len(), 1, "one answer to one message: {calls:#?}");
    let call = &calls[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", format!("/v21.0/{FASHION_NUMBER}/messages").as_str())
    );
    let bearer = format!("Bearer {}", demo_value("SPIN_VARIABLE_WHATSAPP_ACCESS_TOKEN"));
    assert_eq!(call.headers.get("authorization"), Some(&bearer));
    assert_eq!(call.body["to"], PHONE, "{:#}", call.body);
    // The dresses the catalog found, as a list to choose from.
    assert_eq!(call.body["interactive"]["type"], "list", "{:#}", call.body);
    let rows = call.body["interactive"]["action"]["sections"][0]["rows"].as_array().cloned().unwrap_or_default();
    assert!(!rows.is_empty(), "{:#}", call.body);
    for row in &rows {
        let id = row["id"].as_str().unwrap_or_default();
        assert!(id.starts_with("product:fsh-"), "a fashion product: {row}");
    }
    spin.stop().await?;
    Ok(())
}

/// Stock Spin refuses a manifest whose components open a key-value store
/// the runtime configuration does not declare: every label of spin.toml must
/// be in runtime-config.toml, each in a file of its own under `.spin/`.
#[test]
fn runtime_config_declares_every_key_value_store_of_the_manifest() -> Result<()> {
    let root = workspace_root();
    let manifest = agent_store_manifest::Manifest::load(&root.join("spin.toml"))?;
    let used: BTreeSet<String> = manifest.component.values().flat_map(|c| c.key_value_stores.iter().cloned()).collect();
    let config: toml::Table = toml::from_str(&std::fs::read_to_string(root.join("runtime-config.toml"))?)?;
    let stores = config.get("key_value_store").and_then(toml::Value::as_table).context("[key_value_store.*]")?;
    let declared: BTreeSet<String> = stores.keys().cloned().collect();
    let missing: Vec<_> = used.difference(&declared).collect();
    assert!(missing.is_empty(), "runtime-config.toml lacks {missing:?}");
    let mut paths = BTreeSet::new();
    for (label, store) in stores {
        assert_eq!(store.get("type").and_then(toml::Value::as_str), Some("spin"), "{label}");
        let path = store.get("path").and_then(toml::Value::as_str).with_context(|| format!("{label}: no path"))?;
        // Without a path Spin keeps the store in memory: it would be lost at
        // every restart.
        assert!(path.starts_with(".spin/") && path.ends_with(".db"), "{label}: {path}");
        assert!(paths.insert(path), "{label} shares {path}");
    }
    Ok(())
}
