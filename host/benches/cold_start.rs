//! Cold start, from spawning the process to the first `200` from `/readyz`
//! (row 9 of issue 13's table; `cargo xtask bench` prints it with the rest):
//!
//! - **the whole store** (`agent-store up` on the repository's spin.toml,
//!   every component) from a precompiled cache (what `agent-store compile`
//!   puts in an image);
//! - **one seller alone** (`up --components seller-fashion`, as a Knative
//!   pod scaled from zero starts one agent) from the precompiled cache, and
//!   compiling from its `.wasm` (an empty cache each round);
//! - **the whole store compiling every component** (an empty cache each
//!   round);
//! - **stock Spin** (`spin up`) on the same spin.toml and the same `.wasm`
//!   files, to its first HTTP answer on the webhook route, after one start
//!   not timed (Spin keeps compiled components in a cache of its own).
//!
//! Run with `cargo bench -p agent-store --bench cold_start`; the figures are
//! in `BENCHMARKS.md`. Components come from `AGENT_STORE_WASM_DIR`, or else
//! `<workspace>/target/wasm32-wasip2/release/`. Spin comes from `SPIN`, else
//! `spin` on `PATH`; without one its row says it skipped. Without `--bench`
//! (as `cargo test --all-targets` runs it) only the one seller runs, once
//! each way: the whole store compiles for minutes in a test build.

#[path = "support/report.rs"]
mod report;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use report::{Row, record};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn wasm_dir() -> PathBuf {
    std::env::var_os("AGENT_STORE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/wasm32-wasip2/release"))
}

fn manifest() -> PathBuf {
    root().join("spin.toml")
}

/// `agent-store <verb>` on the repository's manifest: every component, or
/// only `component`.
fn command(verb: &str, component: Option<&str>, data_dir: &Path, cache_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agent-store"));
    command.args(["--log-format", "json", verb, "--kv", "memory"]);
    if let Some(component) = component {
        command.args(["--components", component]);
    }
    command
        .arg("--manifest")
        .arg(manifest())
        .arg("--wasm-dir")
        .arg(wasm_dir())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--cache-dir")
        .arg(cache_dir)
        .env("AGENT_STORE_LOG", "info")
        .envs(demo_env());
    command
}

/// The demo values of the variables spin.toml requires (`demo.env`).
fn demo_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("demo.env")).expect("demo.env at the workspace root");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// One GET over a fresh connection: the status line, once something answers.
fn answer(address: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply.lines().next().map(str::to_string)
}

/// Polls until `ready` holds for an answer; the time since `started`.
fn wait(started: Instant, address: &str, path: &str, ready: impl Fn(&str) -> bool) -> Duration {
    loop {
        if answer(address, path).is_some_and(|status| ready(&status)) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(600), "no answer from {address}{path} after ten minutes");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts the host and returns the time to its first ready answer.
fn start(component: Option<&str>, data_dir: &Path, cache_dir: &Path) -> Duration {
    let started = Instant::now();
    let mut child = command("up", component, data_dir, cache_dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent-store starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut address = None;
    let mut said = Vec::new();
    for line in stderr.lines() {
        let line = line.expect("a log line");
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(found) = json.get("address").and_then(|a| a.as_str())
        {
            address = Some(found.to_string());
            break;
        }
        said.push(line);
    }
    let address = address.unwrap_or_else(|| panic!("the host did not say where it listens:\n{}", said.join("\n")));
    let ready = wait(started, &address, "/readyz", |status| status.starts_with("HTTP/1.1 200"));
    let _ = child.kill();
    let _ = child.wait();
    ready
}

/// `spin up` of the repository's spin.toml and runtime-config.toml, copied
/// into `app` (so its stores start empty) with the repository's `brands/`
/// and this build's components linked in: the time to its first HTTP
/// answer on the webhook route.
fn spin_start(spin: &Path, app: &Path) -> Duration {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("port").port();
    let address = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(app.join("spin-output.log")).expect("a log file");
    let started = Instant::now();
    let mut command = Command::new(spin);
    command
        .arg("up")
        .arg("--from")
        .arg(app.join("spin.toml"))
        .arg("--runtime-config-file")
        .arg(app.join("runtime-config.toml"))
        .args(["--listen", &address])
        .current_dir(app)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .process_group(0);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SPIN_") {
            command.env_remove(name);
        }
    }
    let mut child = command.envs(demo_env()).spawn().expect("spin up starts");
    let token = demo_env().into_iter().find(|(k, _)| k == "SPIN_VARIABLE_WHATSAPP_VERIFY_TOKEN").map(|(_, v)| v);
    let path =
        format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={}&hub.challenge=7", token.unwrap_or_default());
    let ready = wait(started, &address, &path, |_| true);
    // `spin up` runs the app in a child of its own: end the whole group.
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    let _ = child.wait();
    ready
}

fn spin_app(dir: &Path) -> PathBuf {
    let app = dir.join("spin-app");
    std::fs::create_dir_all(app.join("target/wasm32-wasip2")).expect("the app folder");
    for file in ["spin.toml", "runtime-config.toml"] {
        std::fs::copy(root().join(file), app.join(file)).expect("the manifest copies");
    }
    std::os::unix::fs::symlink(root().join("brands"), app.join("brands")).expect("brands/ links");
    std::os::unix::fs::symlink(wasm_dir(), app.join("target/wasm32-wasip2/release")).expect("the components link");
    app
}

/// The Spin CLI, as the tests find it: `SPIN`, else `spin` on `PATH`.
fn spin_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "SPIN={} is not a file", path.display());
        return Some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("spin")).find(|p| p.is_file())
}

/// Minimum, median and maximum, printed.
fn summary(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let (min, p50, max) = (samples[0], samples[samples.len() / 2], samples[samples.len() - 1]);
    println!("{name:<48} n={:<3} min {min:>9.1?}  p50 {p50:>9.1?}  max {max:>9.1?}", samples.len());
    (min, p50, max)
}

fn ms((min, p50, max): (Duration, Duration, Duration)) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!("{:.1} ms ({:.1}–{:.1})", ms(p50), ms(min), ms(max))
}

fn secs((min, p50, max): (Duration, Duration, Duration)) -> String {
    format!("{:.2} s ({:.2}–{:.2})", p50.as_secs_f64(), min.as_secs_f64(), max.as_secs_f64())
}

fn compile(component: Option<&str>, dir: &Path, cache: &Path) {
    let compiled = command("compile", component, &dir.join("compile"), cache).output().expect("compile runs");
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = if bench { 10 } else { 1 };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let seller_cache = dir.path().join("seller-cache");
    compile(Some("seller-fashion"), dir.path(), &seller_cache);

    println!("cold start of seller-fashion alone (`up --components seller-fashion`), process start to /readyz");
    let (mut cached, mut fresh) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        cached.push(start(Some("seller-fashion"), &dir.path().join(format!("cached-{round}")), &seller_cache));
        fresh.push(start(
            Some("seller-fashion"),
            &dir.path().join(format!("fresh-{round}")),
            &dir.path().join(format!("empty-{round}")),
        ));
    }
    let cached = summary("from the precompiled cache", cached);
    let fresh = summary("compiling from the .wasm", fresh);
    record(Row {
        row: "9b",
        measure: "cold start to /readyz, one seller alone (--components seller-fashion), compiled cache",
        figure: ms(cached),
        baseline: format!("compiling it: {}", secs(fresh)),
        ratio: Some(fresh.1.as_secs_f64() / cached.1.as_secs_f64()),
        goal: "≤ 20 ms",
        met: bench.then_some(cached.1 <= Duration::from_millis(20)),
    });
    if !bench {
        println!("the whole store and Spin start with --bench only");
        return;
    }

    println!("cold start of the whole store (`up`, every component of spin.toml), process start to /readyz");
    let store_cache = dir.path().join("store-cache");
    compile(None, dir.path(), &store_cache);
    let whole: Vec<Duration> =
        (0..rounds).map(|round| start(None, &dir.path().join(format!("store-{round}")), &store_cache)).collect();
    let whole = summary("from the precompiled cache", whole);
    let compiling: Vec<Duration> = (0..3)
        .map(|round| {
            start(
                None,
                &dir.path().join(format!("store-fresh-{round}")),
                &dir.path().join(format!("store-empty-{round}")),
            )
        })
        .collect();
    let compiling = summary("compiling every component", compiling);

    let spin = spin_binary().map(|spin| {
        let app = spin_app(dir.path());
        let first = spin_start(&spin, &app);
        println!("spin up, first start (not counted): {first:.1?}");
        let samples = (0..5).map(|_| spin_start(&spin, &app)).collect();
        summary("stock Spin, `spin up` to its first answer", samples)
    });
    if spin.is_none() {
        println!("no Spin CLI (SPIN, or spin on PATH): the Spin start is skipped");
    }
    record(Row {
        row: "9a",
        measure: "cold start to /readyz, the whole store (10 components), compiled cache",
        figure: ms(whole),
        baseline: spin
            .map(|s| format!("spin up to its first answer: {}", ms(s)))
            .unwrap_or_else(|| "Spin skipped".into()),
        ratio: spin.map(|s| s.1.as_secs_f64() / whole.1.as_secs_f64()),
        goal: "≤ 50 ms",
        met: Some(whole.1 <= Duration::from_millis(50)),
    });
    record(Row {
        row: "9c",
        measure: "cold start to /readyz, the whole store compiling every component",
        figure: secs(compiling),
        baseline: format!("from the compiled cache: {}", ms(whole)),
        ratio: Some(compiling.1.as_secs_f64() / whole.1.as_secs_f64()),
        goal: "— (reported)",
        met: None,
    });
}
