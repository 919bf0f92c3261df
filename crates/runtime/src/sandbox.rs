//! What one component may do, read from its manifest entry: the stores,
//! hosts, variables, files and models it is granted, and its limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent_store_manifest::{self as manifest, Manifest, expand_template};
use anyhow::{Context, Result};

use crate::capabilities::outbound_http::AllowedHosts;
use crate::capabilities::variables::{AppVariables, ComponentVariables};
use crate::mounts;

/// One component's sandbox.
#[derive(Clone)]
pub struct Sandbox {
    /// Where outgoing HTTP may go (`allowed_outbound_hosts`).
    pub allowed_hosts: Arc<AllowedHosts>,
    /// The key-value stores it may open (`key_value_stores`).
    pub key_value_stores: Arc<[String]>,
    /// The variables it declares, with their values.
    pub variables: ComponentVariables,
    /// The models it may run inference on (`ai_models`).
    pub ai_models: Arc<[String]>,
    /// Its environment variables (`environment`).
    pub environment: Vec<(String, String)>,
    /// `(host directory, guest path)`, mounted read-only (`files`).
    pub mounts: Vec<(PathBuf, String)>,
    /// How long one call may run.
    pub timeout: Duration,
    /// The linear memory one instance may grow to, in bytes.
    pub memory_limit: u64,
    /// Calls it runs at once; more wait for a turn.
    pub concurrency: usize,
}

impl Default for Sandbox {
    /// Nothing granted, the default limits.
    fn default() -> Self {
        Self {
            allowed_hosts: Arc::default(),
            key_value_stores: Arc::from(Vec::new()),
            variables: ComponentVariables::default(),
            ai_models: Arc::from(Vec::new()),
            environment: Vec::new(),
            mounts: Vec::new(),
            timeout: manifest::DEFAULT_TIMEOUT,
            memory_limit: manifest::DEFAULT_MEMORY_LIMIT_MB * 1024 * 1024,
            concurrency: manifest::DEFAULT_CONCURRENCY,
        }
    }
}

impl Sandbox {
    /// The sandbox `[component.<id>]` describes. Files matched by glob
    /// patterns are staged under `staging/<id>/`; `allowed_outbound_hosts`
    /// templates are expanded with the application `variables`.
    pub fn from_manifest(manifest: &Manifest, id: &str, variables: &AppVariables, staging: &Path) -> Result<Self> {
        let what = || format!("component `{id}`");
        let entry = manifest.component.get(id).with_context(|| format!("no component `{id}` in the manifest"))?;
        let tool = manifest.tool(id)?;
        let hosts = entry
            .allowed_outbound_hosts
            .iter()
            .map(|h| expand_template(h, |name| variables.get(name)))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
        Ok(Self {
            allowed_hosts: Arc::new(AllowedHosts::parse(&hosts).with_context(what)?),
            key_value_stores: entry.key_value_stores.clone().into(),
            variables: variables.for_component(manifest, id)?,
            ai_models: entry.ai_models.clone().into(),
            environment: entry.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            mounts: mounts::resolve(&manifest.root, id, entry, staging).with_context(what)?,
            timeout: tool.timeout(),
            memory_limit: tool.memory_limit_bytes(),
            concurrency: tool.concurrency(),
        })
    }
}
