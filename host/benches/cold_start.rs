//! Cold start of one agent, as a Knative pod scaled from zero starts it:
//! `agent-store up --components seller-fashion`, from process start to the
//! first `200` from `/readyz`,
//!
//! - from a precompiled cache (what `agent-store compile` puts in the
//!   image), and
//! - compiling from the `.wasm` (an empty cache each round),
//!
//! in one run, side by side. Run with `cargo bench -p agent-store --bench
//! cold_start`; the figures are in `BENCHMARKS.md`. Components come from
//! `AGENT_STORE_WASM_DIR`, or else `<workspace>/target/wasm32-wasip2/release/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wasm_dir() -> PathBuf {
    std::env::var_os("AGENT_STORE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"))
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spin.toml")
}

fn command(verb: &str, data_dir: &Path, cache_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agent-store"));
    command
        .args(["--log-format", "json", verb, "--components", "seller-fashion", "--kv", "memory"])
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
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo.env"))
        .expect("demo.env at the workspace root");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Starts the agent and returns the time to its first ready answer.
fn start(data_dir: &Path, cache_dir: &Path) -> Duration {
    let started = Instant::now();
    let mut child = command("up", data_dir, cache_dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent-store starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut address = None;
    for line in stderr.lines() {
        let line = line.expect("a log line");
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
            if let Some(found) = json.get("address").and_then(|a| a.as_str()) {
                address = Some(found.to_string());
                break;
            }
        }
    }
    let address = address.expect("the host said where it listens");
    let ready = loop {
        let answered = std::net::TcpStream::connect(&address).ok().and_then(|mut stream| {
            use std::io::{Read, Write};
            write!(stream, "GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).ok()?;
            Some(reply.starts_with("HTTP/1.1 200"))
        });
        if answered == Some(true) {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "not ready after two minutes");
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    ready
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = samples[samples.len() / 2];
    println!(
        "{name:<40} n={:<3} min {:>9.1?}  p50 {:>9.1?}  max {:>9.1?}",
        samples.len(),
        samples[0],
        p50,
        samples[samples.len() - 1]
    );
    p50
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") { 10 } else { 1 };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let precompiled = dir.path().join("image-cache");
    let compiled = command("compile", &dir.path().join("compile"), &precompiled).output().expect("compile runs");
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));

    println!("cold start of seller-fashion alone (`up --components seller-fashion`), process start to /readyz");
    let mut cached = Vec::new();
    let mut fresh = Vec::new();
    for round in 0..rounds {
        cached.push(start(&dir.path().join(format!("cached-{round}")), &precompiled));
        fresh.push(start(&dir.path().join(format!("fresh-{round}")), &dir.path().join(format!("empty-{round}"))));
    }
    let cached = summary("from the precompiled cache", cached);
    let fresh = summary("compiling from the .wasm", fresh);
    println!("compiling / precompiled: {:.1}x", fresh.as_secs_f64() / cached.as_secs_f64());
}
