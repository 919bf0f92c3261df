//! `agent-store up --watch`: like `spin watch`, but without a restart. When
//! a file of a component's `[component.<id>.build] watch` globs changes, its
//! `command` runs and the new build is deployed in place, through the same
//! checks and switch as `agent-store deploy`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agent_store_manifest::Manifest;
use anyhow::{Context, Result, bail};

use super::deploy::{files_of, source_of};
use crate::app::App;
use crate::app::swap::DeployRequest;
use crate::deploy::Contents;

/// How often the watched files are looked at: polling, so that it works the
/// same on every filesystem (bind mounts, network shares) without a watcher.
const POLL: Duration = Duration::from_millis(500);

/// What a component's watched files looked like: their paths and times.
type Fingerprint = Vec<(PathBuf, Option<SystemTime>)>;

/// Watches every component of the manifest that has `build.watch` globs.
pub fn spawn(app: Arc<App>, manifest_path: PathBuf, wasm_dir: Option<PathBuf>) {
    // The files as they are before the host serves: a change made once it
    // answers is a change, however late the watching task first runs.
    let mut seen: HashMap<String, Fingerprint> = scan(&manifest_path).unwrap_or_else(|error| {
        tracing::warn!(error = %format!("{error:#}"), "watch: reading the manifest");
        HashMap::new()
    });
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            match scan(&manifest_path) {
                Ok(now) => {
                    for (id, fingerprint) in now {
                        let changed = seen.get(&id).is_some_and(|before| *before != fingerprint);
                        seen.insert(id.clone(), fingerprint);
                        if changed {
                            rebuild_and_deploy(&app, &manifest_path, &id, wasm_dir.as_deref()).await;
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %format!("{error:#}"), "watch: reading the manifest"),
            }
        }
    });
}

/// Each watched component's files, as they are now.
fn scan(manifest_path: &Path) -> Result<HashMap<String, Fingerprint>> {
    let manifest = Manifest::load(manifest_path)?;
    let mut all = HashMap::new();
    for (id, entry) in &manifest.component {
        let Some(build) = &entry.build else { continue };
        let globs: Vec<String> = build
            .get("watch")
            .and_then(|w| w.as_array())
            .map(|w| w.iter().filter_map(|g| g.as_str().map(String::from)).collect())
            .unwrap_or_default();
        if globs.is_empty() {
            continue;
        }
        let dir = workdir(&manifest, build);
        let mut fingerprint = Vec::new();
        for pattern in globs {
            for path in glob::glob(&dir.join(&pattern).to_string_lossy())?.flatten() {
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                fingerprint.push((path, modified));
            }
        }
        fingerprint.sort();
        all.insert(id.clone(), fingerprint);
    }
    Ok(all)
}

fn workdir(manifest: &Manifest, build: &toml::Value) -> PathBuf {
    match build.get("workdir").and_then(|w| w.as_str()) {
        Some(workdir) => manifest.root.join(workdir),
        None => manifest.root.clone(),
    }
}

async fn rebuild_and_deploy(app: &Arc<App>, manifest_path: &Path, id: &str, wasm_dir: Option<&Path>) {
    tracing::info!(component = id, "watch: sources changed, rebuilding");
    match rebuild(app, manifest_path, id, wasm_dir).await {
        Ok(version) => tracing::info!(component = id, version = &version[..12], "watch: deployed"),
        Err(error) => {
            tracing::warn!(component = id, error = %format!("{error:#}"), "watch: not deployed, the running version stays")
        }
    }
}

async fn rebuild(app: &Arc<App>, manifest_path: &Path, id: &str, wasm_dir: Option<&Path>) -> Result<String> {
    let manifest = Manifest::load(manifest_path)?;
    let entry = manifest.component.get(id).with_context(|| format!("`{id}` left the manifest"))?;
    let build = entry.build.as_ref().context("no [build] table")?;
    if let Some(command) = build.get("command").and_then(|c| c.as_str()) {
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(workdir(&manifest, build))
            .output()
            .await
            .with_context(|| format!("running `{command}`"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
            bail!("`{command}` failed ({}):\n{}", output.status, tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
    }
    let mut contents = Contents::default();
    let keep = |bytes: &[u8]| -> Result<String> {
        let digest = agent_store_runtime::cache::digest(bytes);
        app.put_blob(&digest, bytes)?;
        Ok(digest)
    };
    let source = source_of(&manifest, id, wasm_dir)?;
    contents.sources.insert(id.to_string(), keep(&std::fs::read(&source)?)?);
    for relative in files_of(&manifest, &[id.to_string()])? {
        contents.files.insert(relative.clone(), keep(&std::fs::read(manifest.root.join(&relative))?)?);
    }
    let request =
        DeployRequest { manifest: std::fs::read_to_string(manifest_path)?, components: vec![id.to_string()], contents };
    let switched = app.deploy(request).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(switched.first().map(|s| s.version.clone()).unwrap_or_default())
}
