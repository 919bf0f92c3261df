//! `agent-store deploy`, `components`, `rollback` and `remove`: hot swap
//! from the command line, over the admin API (`docs/hot-swap.md`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use agent_store_manifest::{FileMount, Manifest};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use super::HostArgs;
use super::admin::Admin;
use crate::deploy::Contents;

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    host: HostArgs,

    /// The component to deploy; without one, every component the manifest runs.
    component: Option<String>,

    /// The manifest describing it: the store's spin.toml or a brand's package.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,

    /// Where built components are when the manifest's `source` path does
    /// not exist (a `CARGO_TARGET_DIR` elsewhere).
    #[arg(long, env = "AGENT_STORE_WASM_DIR")]
    wasm_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ComponentsArgs {
    #[command(flatten)]
    host: HostArgs,

    /// One component, with its version history.
    component: Option<String>,

    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    host: HostArgs,

    component: String,

    /// The version to go back to (at least 4 characters of it); by default
    /// the one before the current.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    host: HostArgs,

    component: String,
}

impl Admin {
    /// Uploads a file unless the host has it, showing progress.
    async fn upload(&self, name: &str, bytes: Vec<u8>) -> Result<String> {
        let digest = agent_store_runtime::cache::digest(&bytes);
        let url = format!("{}/admin/blobs/{digest}", self.base);
        let head =
            self.http.head(&url).bearer_auth(&self.token).send().await.with_context(|| {
                format!("cannot reach the host at {}: is `agent-store up` running there?", self.base)
            })?;
        if head.status().is_success() {
            println!("  {name}: {} already on the host", &digest[..12]);
            return Ok(digest);
        }
        if head.status() == reqwest::StatusCode::UNAUTHORIZED {
            bail!("refused (401): the admin token is wrong");
        }
        let total = bytes.len();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(256 << 10).map(|c| Ok(c.to_vec())).collect();
        let name_shown = name.to_string();
        let mut sent = 0usize;
        let progress = futures::stream::iter(chunks).inspect_ok(move |chunk| {
            sent += chunk.len();
            print!("\r  uploading {name_shown} ({}) {:>3}%", size(total), sent * 100 / total.max(1));
            let _ = std::io::stdout().flush();
        });
        let request = self
            .http
            .put(&url)
            .header("content-type", "application/octet-stream")
            .header("content-length", total)
            .body(reqwest::Body::wrap_stream(progress));
        self.call(request).await?;
        println!(" done");
        Ok(digest)
    }
}

use futures::TryStreamExt;

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

pub async fn deploy(args: DeployArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    manifest.validate().with_context(|| format!("{} is not a valid manifest", args.manifest.display()))?;
    let ids: Vec<String> = match &args.component {
        Some(id) => {
            if !manifest.component.contains_key(id) {
                bail!("{} has no [component.{id}]", args.manifest.display());
            }
            vec![id.clone()]
        }
        None => {
            let mut ids = Vec::new();
            for id in manifest.active_components()? {
                if !manifest.tool(&id)?.router {
                    ids.push(id);
                }
            }
            ids
        }
    };
    let admin = Admin::new(&args.host)?;
    println!("deploying {} from {} to {}", ids.join(", "), args.manifest.display(), admin.base);
    let mut contents = Contents::default();
    for id in &ids {
        let path = source_of(&manifest, id, args.wasm_dir.as_deref())?;
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| id.clone());
        contents.sources.insert(id.clone(), admin.upload(&name, bytes).await?);
    }
    for relative in files_of(&manifest, &ids)? {
        let bytes = std::fs::read(manifest.root.join(&relative)).with_context(|| format!("reading {relative}"))?;
        let digest = admin.upload(&relative, bytes).await?;
        contents.files.insert(relative, digest);
    }
    let text = std::fs::read_to_string(&args.manifest)?;
    let request = json!({
        "manifest": text,
        "components": args.component.iter().collect::<Vec<_>>(),
        "sources": contents.sources,
        "files": contents.files,
    });
    println!("  checking, compiling and switching on the host…");
    let answer = admin.call(admin.http.post(format!("{}/admin/deploys", admin.base)).json(&request)).await?;
    for switched in answer["deployed"].as_array().into_iter().flatten() {
        println!(
            "  {}: {} serving (was {}), ready in {} ms, switched in {} ms",
            switched["component"].as_str().unwrap_or("?"),
            short(&switched["version"]),
            short(&switched["previous"]),
            switched["prepare_ms"],
            switched["switch_ms"],
        );
        print_replicas(switched);
    }
    Ok(())
}

/// With several replicas, one line each: the version it confirmed.
fn print_replicas(switched: &Value) {
    let replicas = switched["replicas"].as_array().cloned().unwrap_or_default();
    if replicas.len() < 2 {
        return;
    }
    for replica in replicas {
        let host = replica["host"].as_str().unwrap_or("?");
        match replica["version"].as_str() {
            Some(_) => println!("    replica {host}: {}", short(&replica["version"])),
            None => println!("    replica {host}: did not confirm (it takes the new version when it restarts)"),
        }
    }
}

pub async fn components(args: ComponentsArgs) -> Result<()> {
    let admin = Admin::new(&args.host)?;
    let url = match &args.component {
        Some(id) => format!("{}/admin/components/{id}", admin.base),
        None => format!("{}/admin/components", admin.base),
    };
    let answer = admin.call(admin.http.get(url)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let list: Vec<Value> = match &args.component {
        Some(_) => vec![answer["component"].clone()],
        None => answer["components"].as_array().cloned().unwrap_or_default(),
    };
    println!("{:<20} {:<12} {:<8} {:<9} {:<25} REPLICAS", "COMPONENT", "VERSION", "STATE", "ORIGIN", "SINCE");
    for c in &list {
        let replicas: Vec<String> = c["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{}={}", r["host"].as_str().unwrap_or("?"), short(&r["version"])))
            .collect();
        println!(
            "{:<20} {:<12} {:<8} {:<9} {:<25} {}",
            c["component"].as_str().unwrap_or("?"),
            short(&c["version"]),
            c["state"].as_str().unwrap_or("?"),
            c["origin"].as_str().unwrap_or("?"),
            c["since"].as_str().unwrap_or("-"),
            replicas.join(" "),
        );
        if let Some(history) = c["history"].as_array() {
            println!("  history (oldest first):");
            for entry in history {
                println!(
                    "    {}  {:<8}  {}",
                    short(&entry["version"]),
                    entry["origin"].as_str().unwrap_or("?"),
                    entry["at"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

pub async fn rollback(args: RollbackArgs) -> Result<()> {
    let admin = Admin::new(&args.host)?;
    let url = format!("{}/admin/components/{}/rollback", admin.base, args.component);
    let answer = admin.call(admin.http.post(url).json(&json!({ "to": args.to }))).await?;
    let switched = &answer["rolled_back"];
    println!(
        "{}: {} serving (was {}), switched in {} ms",
        args.component,
        short(&switched["version"]),
        short(&switched["previous"]),
        switched["switch_ms"]
    );
    print_replicas(switched);
    Ok(())
}

pub async fn remove(args: RemoveArgs) -> Result<()> {
    let admin = Admin::new(&args.host)?;
    let url = format!("{}/admin/components/{}", admin.base, args.component);
    let answer = admin.call(admin.http.delete(url)).await?;
    println!("{}: removed (was {}); its history is kept for a later deploy", args.component, short(&answer["version"]));
    Ok(())
}

fn short(value: &Value) -> String {
    value.as_str().map(|v| v.chars().take(12).collect()).unwrap_or_else(|| "-".into())
}

/// The component's `.wasm`, where the host would look for it.
pub(crate) fn source_of(manifest: &Manifest, id: &str, wasm_dir: Option<&Path>) -> Result<PathBuf> {
    crate::app::locate_source(manifest, id, wasm_dir).map_err(|e| anyhow::anyhow!("{e:#}; or pass --wasm-dir"))
}

/// Every file the deployed components mount, and the brand's catalog and
/// persona, relative to the manifest.
pub(crate) fn files_of(manifest: &Manifest, ids: &[String]) -> Result<Vec<String>> {
    let mut files = BTreeMap::new();
    let root = &manifest.root;
    let mut add = |path: &Path| -> Result<()> {
        let relative = path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        crate::deploy::check_relative(&relative)?;
        files.insert(relative, ());
        Ok(())
    };
    for id in ids {
        for mount in &manifest.component[id].files {
            match mount {
                FileMount::Pattern(pattern) => {
                    for path in glob::glob(&root.join(pattern).to_string_lossy())? {
                        let path = path?;
                        if path.is_file() {
                            add(&path)?;
                        }
                    }
                }
                FileMount::Placement { source, .. } => {
                    let path = root.join(source);
                    if path.is_dir() {
                        for file in walk(&path)? {
                            add(&file)?;
                        }
                    } else {
                        add(&path)?;
                    }
                }
            }
        }
    }
    if let Some(brand) = manifest.app_tool()?.brand {
        add(&root.join(&brand.catalog))?;
        add(&root.join(&brand.persona))?;
    }
    Ok(files.into_keys().collect())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}
