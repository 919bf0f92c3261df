//! Hot swap as an operator does it: `agent-store deploy`, `components`,
//! `rollback` and `remove` (real processes) and the admin API behind them,
//! against a running host. Two versions of the probe answer differently:
//! each is the probe's `.wasm` with its own custom section (so its sha256,
//! the version, differs) and its own `PROBE_TAG`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_store_tests::{
    HostBuilder, HostProcess, TEST_TOKEN, amqp_url, event, host_binary_path, private_dir, rabbitmq_shared, redis_url,
    remove_prefix, wasm_dir,
};
use anyhow::{Context, Result, bail};
use cloudevents::AttributesWriter;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The probe, at a route, subscribed to `test.#`, tagged `tag`.
fn probe_manifest(source: &Path, tag: &str, extra: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "swap-app"

[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.probe]
source = "{}"
allowed_outbound_hosts = ["http://event-router.spin.internal"]
environment = {{ PROBE_TAG = "{tag}" }}
{extra}

[component.probe.tool.agent-store]
subscribe = [{{ type = "test.env" }}, {{ type = "test.sleep" }}]
emits = ["test.#"]
concurrency = 4
timeout = "5s"
"#,
        source.display()
    )
}

/// The probe's `.wasm` with a custom section naming `tag`: the same
/// behaviour, another version.
fn probe_version(dir: &Path, tag: &str) -> Result<PathBuf> {
    let mut bytes = std::fs::read(wasm_dir().join("test_probe.wasm"))?;
    let name = b"agent-store-test-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0);
    leb128(&mut bytes, payload.len());
    bytes.extend_from_slice(&payload);
    let path = dir.join(format!("probe-{tag}.wasm"));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A directory with `spin.toml` for version `tag` of the probe.
struct Version {
    dir: tempfile::TempDir,
    digest: String,
}

impl Version {
    fn new(tag: &str, extra: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let wasm = probe_version(dir.path(), tag)?;
        let digest = sha256(&std::fs::read(&wasm)?);
        std::fs::write(dir.path().join("spin.toml"), probe_manifest(&wasm, tag, extra))?;
        Ok(Self { dir, digest })
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("spin.toml")
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the CLI against `host`; returns (success, stdout + stderr).
async fn cli(host: &HostProcess, args: &[&str]) -> Result<(bool, String)> {
    let output = tokio::process::Command::new(host_binary_path())
        .args(args)
        .arg("--host")
        .arg(&host.url)
        .arg("--token")
        .arg(TEST_TOKEN)
        .env("AGENT_STORE_LOG_FORMAT", "text")
        .output()
        .await?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text))
}

/// Which version answers an event now: the tag of its reply.
async fn tag_of(host: &HostProcess, id: &str) -> Result<String> {
    let mut tail = host.tail(&[("type", "test.reply")]).await?;
    let mut ask = event("test.env", json!({ "name": "PROBE_TAG" }));
    ask.set_id(id);
    let (status, body) = host.post_event(&ask).await?;
    assert_eq!(status, 202, "{body}");
    let reply = tail.find(WAIT, |r| r["kind"] == "published" && r["event"]["id"] == format!("{id}-reply")).await?;
    Ok(reply["event"]["data"]["value"].as_str().unwrap_or_default().to_string())
}

async fn admin(host: &HostProcess, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", host.url)).bearer_auth(TEST_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn running_version(host: &HostProcess) -> Result<String> {
    let (status, body) = admin(host, reqwest::Method::GET, "/admin/components/probe", None).await?;
    assert_eq!(status, 200, "{body}");
    Ok(body["component"]["version"].as_str().unwrap_or_default().to_string())
}

async fn start(v1: &Version, extra_args: &[&str]) -> Result<HostProcess> {
    let mut builder = HostBuilder::new(v1.manifest()).arg("--kv").arg("memory");
    for arg in extra_args {
        builder = builder.arg(*arg);
    }
    builder.start().await
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_upgrade_list_rollback_and_remove_through_the_cli() -> Result<()> {
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let host = start(&v1, &[]).await?;
    assert_eq!(tag_of(&host, "before").await?, "v1");

    let manifest = v2.manifest();
    let (ok, out) = cli(&host, &["deploy", "probe", "--manifest", manifest.to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    assert!(out.contains(&format!("probe: {} serving (was {})", &v2.digest[..12], &v1.digest[..12])), "{out}");
    assert!(out.contains("uploading") && out.contains("100%"), "progress is shown: {out}");
    assert_eq!(tag_of(&host, "after-deploy").await?, "v2");
    // The route serves the new version too: one table.
    let routed = reqwest::get(format!("{}/probe/hello", host.url)).await?;
    assert!(routed.status().as_u16() < 500);

    let (ok, out) = cli(&host, &["components"]).await?;
    assert!(ok, "{out}");
    assert!(out.contains("probe") && out.contains(&v2.digest[..12]) && out.contains("running"), "{out}");
    let (ok, out) = cli(&host, &["components", "probe"]).await?;
    assert!(ok && out.contains(&v1.digest[..12]) && out.contains("manifest"), "history shows v1: {out}");

    let (ok, out) = cli(&host, &["rollback", "probe"]).await?;
    assert!(ok, "{out}");
    assert_eq!(tag_of(&host, "after-rollback").await?, "v1");
    let (ok, out) = cli(&host, &["rollback", "probe", "--to", &v2.digest[..8]]).await?;
    assert!(ok, "{out}");
    assert_eq!(tag_of(&host, "after-rollback-to").await?, "v2");

    let (ok, out) = cli(&host, &["remove", "probe"]).await?;
    assert!(ok, "{out}");
    assert_eq!(reqwest::get(format!("{}/probe/hello", host.url)).await?.status(), 404, "its route is gone");
    let (ok, out) = cli(&host, &["components", "probe"]).await?;
    assert!(ok && out.contains("removed"), "{out}");
    let (ok, out) = cli(&host, &["deploy", "probe", "--manifest", manifest.to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    assert!(out.contains("already on the host"), "nothing is uploaded twice: {out}");
    assert_eq!(tag_of(&host, "redeployed").await?, "v2");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refused_deploy_leaves_the_running_version_untouched() -> Result<()> {
    // The store keeps a secret from the probe.
    let v1 = Version::new("v1", "[variables]\nprobe_secret = { default = \"s3cret\", secret = true }")?;
    let host = start(&v1, &[]).await?;
    let work = tempfile::tempdir()?;
    let put = |bytes: Vec<u8>| {
        let url = format!("{}/admin/blobs/{}", host.url, sha256(&bytes));
        async move {
            let response = reqwest::Client::new().put(url).bearer_auth(TEST_TOKEN).body(bytes).send().await?;
            anyhow::ensure!(response.status().is_success(), "upload: {}", response.status());
            anyhow::Ok(())
        }
    };
    let probe = std::fs::read(probe_version(work.path(), "v9")?)?;
    put(probe.clone()).await?;
    let not_a_component = b"\0asm this is not a component".to_vec();
    put(not_a_component.clone()).await?;
    let forbidden = std::fs::read(wasm_dir().join("test_forbidden_import.wasm"))?;
    put(forbidden.clone()).await?;
    let source = |bytes: &[u8]| json!({ "probe": sha256(bytes) });
    let intruder = r#"
spin_manifest_version = 2
[application]
name = "intruder"
[[trigger.http]]
route = "/probe/..."
component = "intruder"
[component.intruder]
source = "intruder.wasm"
"#;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "not a component",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", ""), "sources": source(&not_a_component) }),
            422,
            "probe",
        ),
        (
            "a forbidden import",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", ""), "sources": source(&forbidden) }),
            422,
            "wasi:sockets",
        ),
        (
            "an invalid manifest entry",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", "").replace("timeout = \"5s\"", "timeout = \"soon\""), "sources": source(&probe) }),
            422,
            "timeout",
        ),
        (
            "a route collision",
            json!({ "manifest": intruder, "sources": { "intruder": sha256(&probe) } }),
            409,
            "/probe/...",
        ),
        (
            "another component's key-value store",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", "key_value_stores = [\"orders\"]"), "sources": source(&probe) }),
            422,
            "orders",
        ),
        (
            "a file outside the package",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", "files = [{ source = \"../../etc\", destination = \"/etc\" }]"), "sources": source(&probe) }),
            422,
            "..",
        ),
        (
            "a path escape in the uploaded files",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", ""), "sources": source(&probe), "files": { "../../escape": sha256(&probe) } }),
            422,
            "inside the package",
        ),
        (
            "one of the store's secrets",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", "variables = { steal = \"{{ probe_secret }}\" }\n[variables]\nprobe_secret = { required = true }"), "sources": source(&probe) }),
            422,
            "probe_secret",
        ),
        (
            "a brand package listening to every brand",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", "").replace("[[trigger.http]]", "[application.tool.agent-store.brand]\nname = \"evil\"\nwhatsapp_number = \"100000000000099\"\ncatalog = \"c.json\"\npersona = \"p.toml\"\n[[trigger.http]]"), "sources": source(&probe) }),
            422,
            "brand = \"evil\"",
        ),
        (
            "a source that was never uploaded",
            json!({ "manifest": probe_manifest(Path::new("x.wasm"), "bad", ""), "sources": { "probe": "0".repeat(64) } }),
            422,
            "was not uploaded",
        ),
    ];
    for (what, request, status, needle) in cases {
        let (got, body) = admin(&host, reqwest::Method::POST, "/admin/deploys", Some(request)).await?;
        assert_eq!(got, status, "{what}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{what}: expected {needle:?} in {error:?}");
        assert_eq!(running_version(&host).await?, v1.digest, "{what} changed the running version");
    }
    // Without the token, or with a wrong one: nothing is read.
    for token in [None, Some("wrong")] {
        let mut request = reqwest::Client::new()
            .post(format!("{}/admin/deploys", host.url))
            .json(&json!({ "manifest": "", "sources": {} }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await?.status(), 401);
        let mut upload = reqwest::Client::new().put(format!("{}/admin/blobs/{}", host.url, sha256(b"x"))).body("x");
        if let Some(token) = token {
            upload = upload.bearer_auth(token);
        }
        assert_eq!(upload.send().await?.status(), 401);
    }
    // An upload whose bytes are not what its name says is refused.
    let response = reqwest::Client::new()
        .put(format!("{}/admin/blobs/{}", host.url, sha256(b"one")))
        .bearer_auth(TEST_TOKEN)
        .body("two")
        .send()
        .await?;
    assert_eq!(response.status(), 422);
    // The CLI says why and exits non-zero.
    let broken = work.path().join("spin.toml");
    std::fs::write(
        &broken,
        probe_manifest(&work.path().join("probe-v9.wasm"), "v9", "key_value_stores = [\"orders\"]"),
    )?;
    let (ok, out) = cli(&host, &["deploy", "probe", "--manifest", broken.to_str().unwrap()]).await?;
    assert!(!ok && out.contains("orders"), "{out}");
    let (ok, out) = cli(&host, &["rollback", "probe"]).await?;
    assert!(!ok && out.contains("no earlier version"), "{out}");
    assert_eq!(tag_of(&host, "still-v1").await?, "v1");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_host_runs_the_deployed_version_until_reset() -> Result<()> {
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let data = private_dir()?;
    let builder = || HostBuilder::new(v1.manifest()).arg("--kv").arg("memory").data_dir(data.path());
    let host = builder().start().await?;
    let (ok, out) = cli(&host, &["deploy", "--manifest", v2.manifest().to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    host.stop().await?;

    let host = builder().start().await?;
    assert_eq!(running_version(&host).await?, v2.digest);
    assert_eq!(tag_of(&host, "restarted").await?, "v2");
    // The manifest's version can still be rolled back to, without its file.
    let (ok, out) = cli(&host, &["rollback", "probe", "--to", &v1.digest[..12]]).await?;
    assert!(ok, "{out}");
    assert_eq!(tag_of(&host, "rolled-back").await?, "v1");
    let (ok, out) = cli(&host, &["rollback", "probe"]).await?;
    assert!(ok, "{out}");
    host.stop().await?;

    let host = builder().arg("--reset-deploys").start().await?;
    assert_eq!(running_version(&host).await?, v1.digest, "--reset-deploys starts from the manifest");
    Ok(())
}

/// A component the manifest does not have, deployed since (a new brand's
/// seller), can be the one a host serves alone (`up --components`), as a
/// Knative Service for it starts from the deployed version.
#[tokio::test(flavor = "multi_thread")]
async fn a_deployed_component_can_be_served_alone_after_a_restart() -> Result<()> {
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let extra = std::fs::read_to_string(v2.manifest())?
        .replace("[component.probe", "[component.extra")
        .replace("component = \"probe\"", "component = \"extra\"")
        .replace("route = \"/probe/...\"", "route = \"/extra/...\"");
    let package = v2.dir.path().join("extra.toml");
    std::fs::write(&package, extra)?;
    let data = private_dir()?;
    let builder = || HostBuilder::new(v1.manifest()).arg("--kv").arg("memory").data_dir(data.path());
    let host = builder().start().await?;
    let (ok, out) = cli(&host, &["deploy", "--manifest", package.to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    host.stop().await?;

    let host = builder().arg("--components").arg("extra").start().await?;
    let (status, body) = admin(&host, reqwest::Method::GET, "/admin/components", None).await?;
    assert_eq!(status, 200, "{body}");
    let running: Vec<&str> = body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["state"] == "running")
        .filter_map(|c| c["component"].as_str())
        .collect();
    assert_eq!(running, ["extra"], "{body}");
    let served = reqwest::get(format!("{}/extra/hello", host.url)).await?;
    assert_eq!(served.text().await?, "hello from probe at /extra/hello");
    assert_eq!(reqwest::get(format!("{}/probe/hello", host.url)).await?.status(), 404, "probe is not on this host");
    Ok(())
}

/// A steady stream of events while the probe is switched ten times between
/// two versions: every event is handled exactly once, by one of them.
#[tokio::test(flavor = "multi_thread")]
async fn swapping_ten_times_under_load_handles_every_event_exactly_once() -> Result<()> {
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let host = start(&v1, &[]).await?;
    let (ok, out) = cli(&host, &["deploy", "probe", "--manifest", v2.manifest().to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    let mut tail = host.tail(&[("type", "test.reply")]).await?;

    const EVENTS: usize = 400;
    let url = host.url.clone();
    let sender = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for n in 0..EVENTS {
            let mut ask = event("test.env", json!({ "name": "PROBE_TAG" }));
            ask.set_id(format!("load-{n}"));
            ask.set_extension("conversation", format!("cv-{}", n % 16));
            let response = client
                .post(format!("{url}/events"))
                .header("content-type", "application/cloudevents+json")
                .bearer_auth(TEST_TOKEN)
                .body(serde_json::to_vec(&ask)?)
                .send()
                .await?;
            anyhow::ensure!(response.status() == 202, "event {n}: {}", response.status());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::Ok(())
    });
    for swap in 0..10 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let to = if swap % 2 == 0 { &v1.digest } else { &v2.digest };
        let (status, body) =
            admin(&host, reqwest::Method::POST, "/admin/components/probe/rollback", Some(json!({ "to": to }))).await?;
        assert_eq!(status, 200, "swap {swap}: {body}");
    }
    sender.await??;

    let mut replies: HashMap<String, Vec<String>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while replies.len() < EVENTS && tokio::time::Instant::now() < deadline {
        let Some(record) = tail.next(Duration::from_secs(5)).await? else { continue };
        if record["kind"] != "published" {
            continue;
        }
        let id = record["event"]["id"].as_str().unwrap_or_default().trim_end_matches("-reply").to_string();
        let tag = record["event"]["data"]["value"].as_str().unwrap_or_default().to_string();
        replies.entry(id).or_default().push(tag);
    }
    let missing: Vec<usize> = (0..EVENTS).filter(|n| !replies.contains_key(&format!("load-{n}"))).collect();
    if !missing.is_empty() {
        bail!("{} events never handled, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
    }
    let twice: Vec<_> = replies.iter().filter(|(_, tags)| tags.len() != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let by_tag = |tag: &str| replies.values().filter(|t| t[0] == tag).count();
    assert_eq!(by_tag("v1") + by_tag("v2"), EVENTS);
    assert!(by_tag("v1") > 0 && by_tag("v2") > 0, "both versions served");
    assert!(host.dead_letters().await?.is_empty(), "nothing dead-lettered by a swap");
    Ok(())
}

/// What was queued for a component when it is removed is kept and
/// delivered when it comes back; what it was handling finishes on its
/// version. On the memory broker and on RabbitMQ.
async fn removed_components_keep_their_queue(host: &HostProcess, v2: &Version) -> Result<()> {
    assert_eq!(tag_of(host, "queue-before").await?, "v1");
    let mut tail = host.tail(&[("type", "test.reply")]).await?;
    let mut slow = event("test.sleep", json!({ "ms": 2500 }));
    slow.set_id("slow");
    slow.set_extension("conversation", "cv-queue");
    assert_eq!(host.post_event(&slow).await?.0, 202);
    for n in 0..20 {
        let mut ask = event("test.env", json!({ "name": "PROBE_TAG" }));
        ask.set_id(format!("queued-{n}"));
        // One conversation: these wait behind the slow one, in order.
        ask.set_extension("conversation", "cv-queue");
        assert_eq!(host.post_event(&ask).await?.0, 202);
    }
    // Well inside the slow one: it has started, the rest wait behind it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (ok, out) = cli(host, &["remove", "probe"]).await?;
    assert!(ok, "{out}");
    let mut seen: HashMap<String, String> = HashMap::new();
    // Until the slow one is done, then a while longer: what else comes
    // was handled before the removal took effect.
    let mut quiet = WAIT;
    while let Some(record) = tail.next(quiet).await? {
        let id = record["event"]["id"].as_str().unwrap_or_default().to_string();
        let tag = record["event"]["data"]["value"].as_str().unwrap_or_default().to_string();
        assert!(seen.insert(id.clone(), tag).is_none(), "{id} handled twice");
        if seen.contains_key("slow-reply") {
            quiet = Duration::from_millis(700);
        }
    }
    assert_eq!(seen.get("slow-reply").map(String::as_str), Some("v1"), "in flight: finished on its version");
    assert!(seen.len() < 21, "a removed component kept handling its queue: {seen:?}");
    let (ok, out) = cli(host, &["deploy", "probe", "--manifest", v2.manifest().to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    while seen.len() < 21 {
        let record = tail.next(WAIT).await?.with_context(|| format!("only {} of 21 handled: {seen:?}", seen.len()))?;
        let id = record["event"]["id"].as_str().unwrap_or_default().to_string();
        let tag = record["event"]["data"]["value"].as_str().unwrap_or_default().to_string();
        assert_eq!(tag, "v2", "{id}: after the deploy, the new version");
        assert!(seen.insert(id.clone(), tag).is_none(), "{id} handled twice");
    }
    assert!(host.dead_letters().await.unwrap_or_default().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn in_memory_a_removed_components_queue_waits_for_its_return() -> Result<()> {
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let host = start(&v1, &[]).await?;
    removed_components_keep_their_queue(&host, &v2).await
}

#[tokio::test(flavor = "multi_thread")]
async fn on_rabbitmq_a_removed_components_queue_waits_for_its_return() -> Result<()> {
    let _shared = rabbitmq_shared().await;
    let prefix = format!("swap-{}", uuid::Uuid::new_v4().simple());
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let host = start(&v1, &["--broker", &amqp_url(), "--broker-prefix", &prefix]).await?;
    let result = removed_components_keep_their_queue(&host, &v2).await;
    drop(host);
    remove_prefix(&prefix).await?;
    result
}

/// `up --watch`: a change to a watched file runs the build command and
/// deploys the result in place; a failing build leaves the running version.
#[tokio::test(flavor = "multi_thread")]
async fn up_watch_rebuilds_and_deploys_in_place() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let v1 = probe_version(dir.path(), "v1")?;
    let v2 = probe_version(dir.path(), "v2")?;
    let live = dir.path().join("probe.wasm");
    std::fs::copy(&v1, &live)?;
    // The "build" copies whichever version `next.txt` names over the source.
    let build = format!(
        "[component.probe.build]\ncommand = \"test -s next.txt && cp $(cat next.txt) {}\"\nwatch = [\"src/*.txt\"]",
        live.display()
    );
    let write_manifest = |tag: &str| {
        std::fs::write(dir.path().join("spin.toml"), format!("{}\n{build}\n", probe_manifest(&live, tag, "")))
    };
    write_manifest("v1")?;
    std::fs::create_dir_all(dir.path().join("src"))?;
    std::fs::write(dir.path().join("src/lib.txt"), "one")?;
    let host = HostBuilder::new(dir.path().join("spin.toml")).arg("--kv").arg("memory").arg("--watch").start().await?;
    assert_eq!(tag_of(&host, "watch-before").await?, "v1");

    // A broken build: the running version stays.
    std::fs::write(dir.path().join("next.txt"), "")?;
    std::fs::write(dir.path().join("src/lib.txt"), "two")?;
    host.wait_for_log("watch: not deployed", WAIT).await?;
    assert_eq!(tag_of(&host, "watch-broken").await?, "v1");

    std::fs::write(dir.path().join("next.txt"), v2.display().to_string())?;
    write_manifest("v2")?;
    std::fs::write(dir.path().join("src/lib.txt"), "three")?;
    host.wait_for_log("watch: deployed", WAIT).await?;
    assert_eq!(tag_of(&host, "watch-after").await?, "v2");
    assert_eq!(running_version(&host).await?, sha256(&std::fs::read(&v2)?));
    Ok(())
}

type ChatLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// The chat's next output line for which `wanted` gives a value, every
/// line read kept in `log` for the failure message.
async fn line_where<T>(lines: &mut ChatLines, log: &mut Vec<String>, wanted: impl Fn(&str) -> Option<T>) -> Result<T> {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            log.push(line.clone());
            if let Some(value) = wanted(&line) {
                return Ok(value);
            }
        }
        bail!("the chat ended")
    })
    .await;
    match found {
        Ok(result) => result.with_context(|| log.join("\n")),
        Err(_) => bail!("not in the chat's output within {WAIT:?}:\n{}", log.join("\n")),
    }
}

/// The chat's number for the choice labelled with one of `labels`
/// (`  [2] Add to cart`, or a list row cut short, `[1] Ridgeline Trail
/// Running… — USD 111.20`), and the label found.
async fn choice(lines: &mut ChatLines, labels: &[&str], log: &mut Vec<String>) -> Result<(String, String)> {
    line_where(lines, log, |line| {
        let (number, label) = line.trim().strip_prefix('[')?.split_once("] ")?;
        let cut = label.split(" — ").next().unwrap_or(label).strip_suffix('…');
        let names = |l: &&str| label.contains(*l) || cut.is_some_and(|cut| cut.len() >= 8 && l.starts_with(cut));
        (number.chars().all(|c| c.is_ascii_digit()) && labels.iter().any(names))
            .then(|| (number.to_string(), label.to_string()))
    })
    .await
    .with_context(|| format!("no choice {labels:?}"))
}

/// A sixth brand that was not in the store at start: deployed into the
/// running store as a package, it sells over the WhatsApp webhook from "hi"
/// to a paid order; removed, its number says it is out of service.
#[tokio::test(flavor = "multi_thread")]
async fn the_sports_brand_joins_the_running_store_and_sells_over_whatsapp() -> Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let package = agent_store_tests::workspace_root().join("brands/sports/spin.toml");
    let wasm = wasm_dir();
    let (ok, out) =
        cli(&host, &["deploy", "--manifest", package.to_str().unwrap(), "--wasm-dir", wasm.to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    assert!(out.contains("seller-sports:") && out.contains("catalog.json"), "{out}");

    let chat = |phone: &str| {
        tokio::process::Command::new(host_binary_path())
            .args(["chat", "--brand", "sports", "--brand-numbers", "100000000000006=sports"])
            .args(["--phone", phone, "--url", &host.url, "--poll-ms", "100"])
            .current_dir(agent_store_tests::workspace_root())
            .env("AGENT_STORE_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
    };
    let mut customer = chat("+34 600 000 066")?;
    let mut stdin = customer.stdin.take().context("stdin")?;
    let mut lines = tokio::io::BufReader::new(customer.stdout.take().context("stdout")?).lines();
    let mut log = Vec::new();
    let mut say = async |text: &str| -> Result<()> {
        stdin.write_all(format!("{text}\n").as_bytes()).await?;
        Ok(())
    };
    say("hi!").await?;
    let greeting = line_where(&mut lines, &mut log, |line| line.contains("Leo").then(|| line.to_string()))
        .await
        .context("Leo never greeted")?;
    assert!(greeting.starts_with("sports: "), "{greeting}");

    say("trail running shoes").await?;
    let (number, label) = choice(&mut lines, &["Add to cart", "Ridgeline Trail Running Shoes"], &mut log).await?;
    say(&number).await?;
    if !label.contains("Add to cart") {
        let (number, _) = choice(&mut lines, &["Add to cart"], &mut log).await?;
        say(&number).await?;
    }
    let (number, _) = choice(&mut lines, &["Checkout"], &mut log).await?;
    say(&number).await?;
    let (number, _) = choice(&mut lines, &["Place order"], &mut log).await?;
    say(&number).await?;
    let order = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            log.push(line.clone());
            if let Some(at) = line.find("ord-") {
                let id: String = line[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                return anyhow::Ok(id);
            }
        }
        bail!("the chat ended")
    })
    .await
    .with_context(|| format!("no order number:\n{}", log.join("\n")))??;

    let (status, body) = crate::orders::api(&host, reqwest::Method::GET, &format!("/orders/{order}")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["order"]["brand"], "sports", "{body}");
    assert!(body["order"]["lines"][0]["product_id"].as_str().unwrap_or_default().starts_with("spt-"), "{body}");
    let paid = json!({"order_id": order, "status": "paid", "provider": "stripe", "reference": "pi_sports", "amount": body["order"]["total"]});
    let (status, body) = crate::orders::hook(&host, "payment", paid).await?;
    assert_eq!((status, &body["status"]), (200, &json!("confirmed")), "{body}");
    // The order processor tells the customer, on the sports number.
    line_where(&mut lines, &mut log, |line| {
        (line.contains(&order) && line.to_lowercase().contains("payment")).then_some(())
    })
    .await
    .context("the customer hears the payment")?;
    say("/quit").await?;
    drop(say);
    let _ = tokio::time::timeout(WAIT, customer.wait()).await;

    // Removed: the number answers that it is out of service, not silence.
    let (ok, out) = cli(&host, &["remove", "seller-sports"]).await?;
    assert!(ok, "{out}");
    let mut late = chat("+34 600 000 067")?;
    let mut stdin = late.stdin.take().context("stdin")?;
    let mut lines = tokio::io::BufReader::new(late.stdout.take().context("stdout")?).lines();
    stdin.write_all(b"hello?\n").await?;
    let mut log = Vec::new();
    let answer = line_where(&mut lines, &mut log, |line| line.starts_with("sports: ").then(|| line.to_string()))
        .await
        .context("silence from a removed brand's number")?;
    assert!(answer.to_lowercase().contains("no longer in service"), "{answer}");
    Ok(())
}

/// A team's deploy token (`--deployer`) changes its own components only.
#[tokio::test(flavor = "multi_thread")]
async fn a_deployer_token_changes_its_own_components_only() -> Result<()> {
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let host = start(
        &v1,
        &["--deployer", "probes=probe-team-token-0001:probe", "--deployer", "others=other-team-token-0001:seller-*"],
    )
    .await?;
    let as_team = |token: &'static str, args: &[&str]| {
        let mut command = tokio::process::Command::new(host_binary_path());
        command.args(args).args(["--host", &host.url, "--token", token]);
        async move {
            let output = command.output().await?;
            let text =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            anyhow::Ok((output.status.success(), text))
        }
    };
    let manifest = v2.manifest();
    let deploy = ["deploy", "probe", "--manifest", manifest.to_str().unwrap()];
    let (ok, out) = as_team("other-team-token-0001", &deploy).await?;
    assert!(!ok && out.contains("403") && out.contains("may not change `probe`"), "{out}");
    let (ok, out) = as_team("other-team-token-0001", &["remove", "probe"]).await?;
    assert!(!ok && out.contains("403"), "{out}");
    assert_eq!(running_version(&host).await?, v1.digest, "another team changed nothing");

    let (ok, out) = as_team("probe-team-token-0001", &deploy).await?;
    assert!(ok, "{out}");
    assert_eq!(tag_of(&host, "team-deployed").await?, "v2");
    let (ok, out) = as_team("probe-team-token-0001", &["rollback", "probe"]).await?;
    assert!(ok, "{out}");
    // A team token is no admin token: a replay would run any component.
    let response = reqwest::Client::new()
        .get(format!("{}/admin/dead-letters", host.url))
        .bearer_auth("probe-team-token-0001")
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let response = reqwest::Client::new()
        .post(format!("{}/admin/dead-letters/replay", host.url))
        .bearer_auth("probe-team-token-0001")
        .json(&json!({ "all": true, "components": ["probe"] }))
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let (status, _) = host.post_event_as(&event("test.env", json!({})), Some("probe-team-token-0001")).await?;
    assert_eq!(status, 401, "a deploy token publishes nothing");
    Ok(())
}

/// Replicas of one store: hosts on one RabbitMQ that share one Redis, each
/// started on `manifest`, with `extra` arguments.
async fn replica(manifest: &Path, prefix: &str, extra: &[&str]) -> Result<HostProcess> {
    let mut builder = HostBuilder::new(manifest)
        .arg("--broker")
        .arg(amqp_url())
        .arg("--broker-prefix")
        .arg(prefix)
        .arg("--kv")
        .arg(format!("{}#{prefix}", redis_url()));
    for arg in extra {
        builder = builder.arg(*arg);
    }
    builder.start().await
}

/// Waits until `host` sees `count` replicas, each running `version` of the
/// probe when one is given (what the others run is as fresh as their last
/// heartbeat).
async fn replica_versions(host: &HostProcess, count: usize, version: Option<&str>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = admin(host, reqwest::Method::GET, "/admin/components/probe", None).await?;
        assert_eq!(status, 200, "{body}");
        let replicas: HashMap<String, Option<String>> = body["component"]["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (r["host"].as_str().unwrap_or_default().to_string(), r["version"].as_str().map(String::from)))
            .collect();
        if replicas.len() == count && version.is_none_or(|v| replicas.values().all(|r| r.as_deref() == Some(v))) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{} does not see {count} replicas running {version:?}: {body}", host.url);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Which version answers `n` events sent to the first host, whichever
/// replica takes each from the shared queue.
async fn tags_across(hosts: &[&HostProcess], label: &str, n: usize) -> Result<HashMap<String, usize>> {
    let mut tails = Vec::new();
    for host in hosts {
        tails.push(host.tail(&[("type", "test.reply")]).await?);
    }
    for i in 0..n {
        let mut ask = event("test.env", json!({ "name": "PROBE_TAG" }));
        ask.set_id(format!("{label}-{i}"));
        assert_eq!(hosts[0].post_event(&ask).await?.0, 202);
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < n {
        if tokio::time::Instant::now() > deadline {
            bail!("only {} of {n} {label} events answered: {seen:?}", seen.len());
        }
        for tail in &mut tails {
            while let Some(record) = tail.next(Duration::from_millis(50)).await? {
                let id = record["event"]["id"].as_str().unwrap_or_default();
                if record["kind"] == "published" && id.starts_with(&format!("{label}-")) {
                    let tag = record["event"]["data"]["value"].as_str().unwrap_or_default().to_string();
                    assert!(seen.insert(id.to_string(), tag).is_none(), "{id} answered twice");
                }
            }
        }
    }
    let mut tags = HashMap::new();
    for tag in seen.into_values() {
        *tags.entry(tag).or_default() += 1;
    }
    Ok(tags)
}

/// Two hosts on one RabbitMQ and one Redis converge on a deploy sent to
/// one of them; a third started later comes up on it; a rollback sent to
/// that third reaches the other two.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_converge_on_a_deploy_sent_to_one_of_them() -> Result<()> {
    let _shared = rabbitmq_shared().await;
    let prefix = format!("replicas-{}", uuid::Uuid::new_v4().simple());
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    let result = async {
        let a = replica(&v1.manifest(), &prefix, &[]).await?;
        let b = replica(&v1.manifest(), &prefix, &[]).await?;
        replica_versions(&a, 2, Some(&v1.digest)).await?;
        replica_versions(&b, 2, Some(&v1.digest)).await?;

        let (ok, out) = cli(&a, &["deploy", "probe", "--manifest", v2.manifest().to_str().unwrap()]).await?;
        assert!(ok, "{out}");
        // `deploy` returns once every replica runs the new version, and says so.
        assert_eq!(out.matches(&format!("replica ")).count(), 2, "one line per replica: {out}");
        assert!(!out.contains("did not confirm"), "{out}");
        for host in [&a, &b] {
            assert_eq!(running_version(host).await?, v2.digest, "{} switched", host.url);
            replica_versions(host, 2, Some(&v2.digest)).await?;
        }
        assert_eq!(tags_across(&[&a, &b], "after-deploy", 20).await?, HashMap::from([("v2".to_string(), 20)]));

        // A replica started later, on the manifest's v1, comes up on v2.
        let c = replica(&v1.manifest(), &prefix, &[]).await?;
        assert_eq!(running_version(&c).await?, v2.digest, "a later replica runs the deployed version");
        replica_versions(&a, 3, Some(&v2.digest)).await?;

        let (ok, out) = cli(&c, &["rollback", "probe"]).await?;
        assert!(ok, "{out}");
        assert_eq!(out.matches("replica ").count(), 3, "{out}");
        for host in [&a, &b, &c] {
            assert_eq!(running_version(host).await?, v1.digest, "{} rolled back", host.url);
        }
        let (ok, out) = cli(&b, &["components", "probe"]).await?;
        assert!(ok && out.contains(&v2.digest[..12]) && out.contains("rollback"), "the shared history: {out}");
        assert_eq!(tags_across(&[&a, &b, &c], "after-rollback", 20).await?, HashMap::from([("v1".to_string(), 20)]));
        anyhow::Ok(())
    }
    .await;
    remove_prefix(&prefix).await?;
    result
}

/// A cutover that one replica refuses (its own manifest serves the route
/// the new version asks for), or that one cannot prepare in time (it
/// hangs), is aborted on every replica: both keep the old version, and
/// the next deploy goes through.
#[tokio::test(flavor = "multi_thread")]
async fn a_cutover_one_replica_cannot_take_changes_no_replica() -> Result<()> {
    let _shared = rabbitmq_shared().await;
    let prefix = format!("replicas-{}", uuid::Uuid::new_v4().simple());
    let (v1, v2) = (Version::new("v1", "")?, Version::new("v2", "")?);
    // v3 also serves /other/...; replica B's own manifest already does.
    let v3 = Version::new("v3", "")?;
    let v3_manifest = std::fs::read_to_string(v3.manifest())?;
    std::fs::write(v3.manifest(), v3_manifest + "\n[[trigger.http]]\nroute = \"/other/...\"\ncomponent = \"probe\"\n")?;
    let b_manifest = v1.dir.path().join("b.toml");
    let other = format!(
        "\n[[trigger.http]]\nroute = \"/other/...\"\ncomponent = \"other\"\n\n[component.other]\nsource = \"{}\"\n",
        wasm_dir().join("test_probe.wasm").display()
    );
    std::fs::write(&b_manifest, std::fs::read_to_string(v1.manifest())? + &other)?;
    let result = async {
        let a = replica(&v1.manifest(), &prefix, &["--cutover-timeout", "3s"]).await?;
        let b = replica(&b_manifest, &prefix, &["--cutover-timeout", "3s"]).await?;
        replica_versions(&a, 2, None).await?;

        let (ok, out) = cli(&a, &["deploy", "probe", "--manifest", v3.manifest().to_str().unwrap()]).await?;
        assert!(!ok, "B refuses: {out}");
        assert!(out.contains("refused") && out.contains("/other/...") && out.contains("nothing changed"), "{out}");
        for host in [&a, &b] {
            assert_eq!(running_version(host).await?, v1.digest, "{} kept v1", host.url);
        }

        // B hangs: it cannot prepare within the timeout.
        let pid = b.pid().context("B's pid")?.to_string();
        std::process::Command::new("kill").args(["-STOP", &pid]).status()?;
        let hung = cli(&a, &["deploy", "probe", "--manifest", v2.manifest().to_str().unwrap()]).await;
        std::process::Command::new("kill").args(["-CONT", &pid]).status()?;
        let (ok, out) = hung?;
        assert!(!ok, "B cannot prepare: {out}");
        assert!(out.contains("did not prepare within 3s") && out.contains("nothing changed"), "{out}");
        assert_eq!(running_version(&a).await?, v1.digest);
        // B, woken, reads the prepare and the abort it slept through.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(running_version(&b).await?, v1.digest, "B kept v1 after waking");
        assert_eq!(tags_across(&[&a, &b], "after-abort", 10).await?, HashMap::from([("v1".to_string(), 10)]));

        // With both able, the same deploy goes through on both.
        let (ok, out) = cli(&a, &["deploy", "probe", "--manifest", v2.manifest().to_str().unwrap()]).await?;
        assert!(ok, "{out}");
        for host in [&a, &b] {
            assert_eq!(running_version(host).await?, v2.digest, "{} switched", host.url);
        }
        anyhow::Ok(())
    }
    .await;
    remove_prefix(&prefix).await?;
    result
}

/// `seller-fashion` whose English greeting names the store `name` (four
/// letters, as "Luna"): the same seller, another version, whose greeting
/// says which it is.
fn fashion_version(dir: &Path, name: &str) -> Result<(PathBuf, String)> {
    let mut bytes = std::fs::read(wasm_dir().join("seller_fashion.wasm"))?;
    let (from, to) = (b"your stylist at Luna Fashion".as_slice(), format!("your stylist at {name} Fashion"));
    assert_eq!(from.len(), to.len(), "the same length keeps the data segment valid");
    let at: Vec<usize> = bytes.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the persona's English greeting is in the component once");
    bytes[at[0]..at[0] + from.len()].copy_from_slice(to.as_bytes());
    let path = dir.join(format!("seller-fashion-{name}.wasm"));
    std::fs::write(&path, &bytes)?;
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "fashion-{name}"

[[trigger.http]]
route = {{ private = true }}
component = "seller-fashion"

[component.seller-fashion]
source = "{}"
key_value_stores = ["seller-fashion"]
ai_models = ["chat"]

[component.seller-fashion.tool.agent-store]
subscribe = [
  {{ type = "store.chat.message.new", brand = "fashion" }},
  {{ type = "store.product.query.result", brand = "fashion" }},
  {{ type = "store.product.recommend.result", brand = "fashion" }},
  {{ type = "store.order.created", brand = "fashion" }},
  {{ type = "store.order.rejected", brand = "fashion" }},
  {{ type = "store.sales.escalation.*", brand = "fashion" }},
]
concurrency = 5
emits = ["store.chat.response", "store.chat.intent.detected", "store.product.query", "store.product.recommend",
  "store.cart.item.added", "store.order.create", "store.sales.escalate"]
"#,
        path.display()
    );
    let manifest_path = dir.join(format!("fashion-{name}.toml"));
    std::fs::write(&manifest_path, manifest)?;
    Ok((manifest_path, sha256(&bytes)))
}

/// Customers greet Luna while `seller-fashion` is swapped ten times
/// between two versions that greet differently: every message is handled
/// once, and each answer is the one of the version that ran it.
#[tokio::test(flavor = "multi_thread")]
async fn seller_fashion_swapped_ten_times_under_customers_answers_each_once_from_its_version() -> Result<()> {
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let work = tempfile::tempdir()?;
    let (nova, nova_digest) = fashion_version(work.path(), "Nova")?;
    let luna_digest = sha256(&std::fs::read(wasm_dir().join("seller_fashion.wasm"))?);
    let (ok, out) = cli(&host, &["deploy", "seller-fashion", "--manifest", nova.to_str().unwrap()]).await?;
    assert!(ok, "{out}");
    let mut tail = host.tail(&[("brand", "fashion")]).await?;

    const CUSTOMERS: usize = 200;
    let url = host.url.clone();
    let customers = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for n in 0..CUSTOMERS {
            let conversation = format!("cv-swap-{n}");
            let mut message = event(
                "store.chat.message.new",
                json!({
                    "conversation": conversation, "brand": "fashion",
                    "customer": {"id": format!("cus-swap-{n}"), "name": "Ana"},
                    "message_id": format!("wamid.swap.{n}"),
                    "text": "hi", "content": {"kind": "text", "body": "hi"}, "received_at": "2026-12-01T12:00:00Z"
                }),
            );
            message.set_extension("brand", "fashion");
            message.set_extension("conversation", conversation.as_str());
            let response = client
                .post(format!("{url}/events"))
                .header("content-type", "application/cloudevents+json")
                .bearer_auth(TEST_TOKEN)
                .body(serde_json::to_vec(&message)?)
                .send()
                .await?;
            anyhow::ensure!(response.status() == 202, "customer {n}: {}", response.status());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::Ok(())
    });
    for swap in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let to = if swap % 2 == 0 { &luna_digest } else { &nova_digest };
        let (status, body) =
            admin(&host, reqwest::Method::POST, "/admin/components/seller-fashion/rollback", Some(json!({ "to": to })))
                .await?;
        assert_eq!(status, 200, "swap {swap}: {body}");
    }
    customers.await??;

    // Per conversation: the versions that ran its message, and the stores
    // its answers named.
    let mut ran: HashMap<String, Vec<String>> = HashMap::new();
    let mut answered: HashMap<String, Vec<String>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while answered.len() < CUSTOMERS && tokio::time::Instant::now() < deadline {
        let Some(record) = tail.next(Duration::from_secs(5)).await? else { continue };
        let event = &record["event"];
        let conversation = event["data"]["conversation"].as_str().unwrap_or_default().to_string();
        if !conversation.starts_with("cv-swap-") {
            continue;
        }
        if record["kind"] == "delivered"
            && record["component"] == "seller-fashion"
            && event["type"] == "store.chat.message.new"
        {
            ran.entry(conversation).or_default().push(record["version"].as_str().unwrap_or_default().to_string());
        } else if record["kind"] == "published"
            && event["type"] == "store.chat.response"
            && event["source"] == "/agent-store/seller-fashion"
        {
            let text = event["data"].to_string();
            let store = ["Luna Fashion", "Nova Fashion"].into_iter().find(|s| text.contains(s)).unwrap_or("neither");
            answered.entry(conversation).or_default().push(store.to_string());
        }
    }
    assert_eq!(answered.len(), CUSTOMERS, "every customer answered");
    let mut by_version = HashMap::new();
    for (conversation, stores) in &answered {
        let versions = ran.get(conversation).cloned().unwrap_or_default();
        assert_eq!(versions.len(), 1, "{conversation}: handled once, not {versions:?}");
        assert_eq!(stores.len(), 1, "{conversation}: answered once, not {stores:?}");
        let expected = if versions[0] == luna_digest {
            "Luna Fashion"
        } else {
            assert_eq!(versions[0], nova_digest, "{conversation}: an unknown version");
            "Nova Fashion"
        };
        assert_eq!(stores[0], expected, "{conversation}: answered by the version that ran it");
        *by_version.entry(expected).or_insert(0) += 1;
    }
    assert!(by_version.len() == 2, "both versions served: {by_version:?}");
    // The gateway dead-letters the answers: these customers never wrote
    // over WhatsApp, so it has no number to send to. The seller, nothing.
    let dead: Vec<Value> =
        host.dead_letters().await?.into_iter().filter(|d| d["component"] != "whatsapp-gateway").collect();
    assert!(dead.is_empty(), "nothing dead-lettered by a swap: {dead:#?}");
    Ok(())
}
