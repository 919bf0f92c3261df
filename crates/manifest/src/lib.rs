//! The application manifest: a standard Spin manifest (version 2), read the
//! way Spin reads it, plus the `[component.<id>.tool.agent-store]` table that
//! Spin ignores and that holds each component's event subscriptions.
//!
//! Parsing only reads the file; [`Manifest::validate`] checks everything that
//! can be checked before a component is compiled, so a bad manifest fails at
//! start with a message that says what and where.

#![deny(missing_docs)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Where components receive events (the SDK's delivery path); no route may
/// cover it. The same value as `agent_store_events::binding::DELIVERY_PATH`.
pub const DELIVERY_PATH: &str = "/.agent-store/deliver";

/// The tool table's name under `[component.<id>.tool]`.
pub const TOOL_TABLE: &str = "agent-store";

/// Without a `concurrency` of its own, a component handles this many events
/// at once: the seed's target concurrency for the catalog and the gateway.
pub const DEFAULT_CONCURRENCY: usize = 50;

/// How long one event may run before the host stops it. Generous for an LLM
/// round trip, short enough that a stuck component does not hold its queue.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Linear memory one instance may grow to. Catalog search and JSON handling
/// stay well under this; a runaway allocation fails that event only.
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = 128;

/// The largest `memory_limit_mb`: a 32-bit linear memory (every
/// `wasm32-wasip2` component's) cannot grow past 4 GiB, so a larger limit
/// is a mistake, and one past 2^44 MiB would not even fit in bytes.
pub const MAX_MEMORY_LIMIT_MB: u64 = 4096;

/// A parsed `spin.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Always 2: the only version read.
    pub spin_manifest_version: u32,
    /// `[application]`.
    pub application: Application,
    /// `[variables]`: the application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// `[[trigger.http]]` and friends.
    #[serde(default)]
    pub trigger: Triggers,
    /// `[component.<id>]`, by id.
    #[serde(default)]
    pub component: BTreeMap<String, ComponentEntry>,
    /// The directory the manifest lives in: relative paths start here.
    #[serde(skip)]
    pub root: PathBuf,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Application {
    /// The application's name.
    pub name: String,
    /// Its version, free text.
    #[serde(default)]
    pub version: Option<String>,
    /// What it is, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// `[application.tool.*]`: tables of tools, ours among them.
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Value>,
}

/// `[application.tool.agent-store]`: settings of the whole application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTool {
    /// Per-store settings, e.g. `seller-fashion = { ttl = "24h" }`.
    #[serde(default)]
    pub key_value: BTreeMap<String, StoreSpec>,
    /// A brand's package (`brands/<brand>/spin.toml`): the brand the
    /// manifest brings into a running store.
    #[serde(default)]
    pub brand: Option<BrandPackage>,
}

/// `[application.tool.agent-store.brand]`: what the shared components need
/// to serve a brand that joins the store at runtime (`docs/hot-swap.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandPackage {
    /// The brand, as its events' `brand` extension names it.
    pub name: String,
    /// The WhatsApp Cloud API `phone_number_id` of the brand's number.
    pub whatsapp_number: String,
    /// Its `catalog.json`, relative to the manifest.
    pub catalog: String,
    /// Its seller's `persona.toml`, relative to the manifest.
    pub persona: String,
}

/// Settings of one key-value store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// Entries written to the store expire after this long.
    #[serde(default)]
    pub ttl: Option<String>,
}

/// An application variable, as Spin declares it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The value when the environment gives none.
    #[serde(default)]
    pub default: Option<String>,
    /// Without a value from anywhere, the host refuses to start.
    #[serde(default)]
    pub required: bool,
    /// Secret values are never written to a log.
    #[serde(default)]
    pub secret: bool,
    /// What it is for, for people.
    #[serde(default)]
    pub description: Option<String>,
}

/// The triggers: HTTP routes only.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Triggers {
    /// `[[trigger.http]]`.
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

/// One `[[trigger.http]]`: a route to a component.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTrigger {
    /// An optional name.
    #[serde(default)]
    pub id: Option<String>,
    /// Where requests come in.
    pub route: Route,
    /// The component that handles them.
    pub component: String,
}

/// A trigger route: a path pattern, or `{ private = true }` for a component
/// that only other components reach (Spin's local service chaining).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Route {
    /// A path pattern such as `/orders/...`.
    Path(String),
    /// Reached only by other components.
    Private {
        /// Always `true` in a valid manifest.
        private: bool,
    },
}

/// `[component.<id>]`: one component and its sandbox.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentEntry {
    /// Its `.wasm`.
    pub source: Source,
    /// What it is, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Files it sees, read-only.
    #[serde(default)]
    pub files: Vec<FileMount>,
    /// Patterns taken out of `files`.
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// Where its outgoing HTTP may go (`https://api.example.com`).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// The key-value stores it may open, by label.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Environment variables it sees.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Its variables: templates over the application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The models it may run inference on.
    #[serde(default)]
    pub ai_models: Vec<String>,
    /// `[component.<id>.build]`, for `spin build` and `up --watch`.
    #[serde(default)]
    pub build: Option<toml::Value>,
    /// `[component.<id>.tool.*]`: tables of tools, ours among them.
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Value>,
}

/// Where a component's `.wasm` is.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// A path relative to the manifest.
    Path(String),
    /// A URL with its digest (refused: not supported).
    Remote {
        /// Where to download it from.
        url: String,
        /// Its expected digest.
        digest: String,
    },
}

/// Spin's `files` entry: a glob relative to the application, mounted at the
/// same relative path in the guest, or a directory mounted at a destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileMount {
    /// A glob such as `brands/*/catalog.json`.
    Pattern(String),
    /// A file or directory mounted at a guest path.
    Placement {
        /// The path in the application.
        source: String,
        /// The absolute guest path.
        destination: String,
    },
}

/// `[component.<id>.tool.agent-store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStoreTool {
    /// The events this component receives.
    #[serde(default)]
    pub subscribe: Vec<SubscriptionSpec>,
    /// Events in flight at once (also the broker's prefetch).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Per-event time limit, e.g. `"10s"` or `"500ms"`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Linear memory limit of one instance, in MiB.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
    /// This component routes events under `spin up`; the host's broker does
    /// its work instead, so the host does not load it.
    #[serde(default)]
    pub router: bool,
    /// The event types this component may emit, as patterns like those of
    /// `subscribe` (`store.order.*`). What it emits beyond them is refused
    /// and dead-lettered with the reason; a component that declares none
    /// may emit nothing.
    #[serde(default)]
    pub emits: Vec<String>,
    /// How Knative scales this agent, and how many events one replica
    /// takes at once (the host uses that as its `concurrency`).
    #[serde(default)]
    pub scale: Option<Scale>,
}

/// `scale = { min = 0, max = 10, concurrency = 5 }`: the agent's replicas
/// (Knative's min-scale and max-scale; 0 scales to zero) and the events one
/// replica takes at once (Knative's target and container concurrency).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Replicas kept running; 0 lets the agent scale to zero.
    #[serde(default)]
    pub min: u32,
    /// At most this many replicas ([`Scale::DEFAULT_MAX`] when not given).
    #[serde(default)]
    pub max: Option<u32>,
    /// Events one replica takes at once.
    #[serde(default)]
    pub concurrency: Option<usize>,
}

impl Scale {
    /// At most this many replicas when `max` is not given.
    pub const DEFAULT_MAX: u32 = 10;

    /// The most replicas.
    pub fn max(&self) -> u32 {
        self.max.unwrap_or(Self::DEFAULT_MAX)
    }
}

impl BrandPackage {
    fn validate(&self) -> Result<()> {
        if self.name.is_empty()
            || self.name.len() > 32
            || !self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("name = {:?}: a brand is 1 to 32 of a-z, 0-9 and `-`", self.name);
        }
        if self.whatsapp_number.is_empty()
            || self.whatsapp_number.len() > 32
            || !self.whatsapp_number.chars().all(|c| c.is_ascii_digit())
        {
            bail!("whatsapp_number = {:?}: a WhatsApp phone_number_id is digits only", self.whatsapp_number);
        }
        for (key, path) in [("catalog", &self.catalog), ("persona", &self.persona)] {
            let relative = Path::new(path);
            if relative.is_absolute() || relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                bail!("{key} = {path:?}: a path inside the package (relative, no `..`)");
            }
        }
        Ok(())
    }
}

/// One subscription: an event type (`store.order.*` ends in a wildcard for
/// any one more segment, `store.#` for any number) and exact-match filters on
/// other attributes, such as `brand = "fashion"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// The event type pattern.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Exact-match filters on other attributes.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads and parses `path`; relative paths in it are resolved against
    /// its directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading manifest {}", path.display()))?;
        let mut manifest = Self::parse(&text).with_context(|| format!("parsing manifest {}", path.display()))?;
        manifest.root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(manifest)
    }

    /// Parses manifest text; [`Manifest::root`] is left empty.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text)?;
        if manifest.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version = {} is not supported: Agent Store reads Spin manifest version 2",
                manifest.spin_manifest_version
            );
        }
        Ok(manifest)
    }

    /// `[application.tool.agent-store]`.
    pub fn app_tool(&self) -> Result<AppTool> {
        match self.application.tool.get(TOOL_TABLE) {
            None => Ok(AppTool::default()),
            Some(value) => value.clone().try_into().with_context(|| format!("[application.tool.{TOOL_TABLE}]")),
        }
    }

    /// Checks what can be checked without compiling anything.
    pub fn validate(&self) -> Result<()> {
        for (label, spec) in &self.app_tool()?.key_value {
            if let Some(ttl) = &spec.ttl {
                parse_duration(ttl)
                    .with_context(|| format!("[application.tool.{TOOL_TABLE}.key_value] {label}.ttl"))?;
            }
        }
        if let Some(brand) = &self.app_tool()?.brand {
            brand.validate().with_context(|| format!("[application.tool.{TOOL_TABLE}.brand]"))?;
        }
        for name in self.variables.keys() {
            check_variable_name(name).with_context(|| format!("[variables] {name}"))?;
        }
        let mut routes = HashSet::new();
        for trigger in &self.trigger.http {
            if !self.component.contains_key(&trigger.component) {
                bail!(
                    "[[trigger.http]] route {:?} names component `{}`, which has no [component.{}] table",
                    trigger.route,
                    trigger.component,
                    trigger.component
                );
            }
            if let Route::Path(path) = &trigger.route {
                let pattern = RoutePattern::parse(path)
                    .with_context(|| format!("[[trigger.http]] for `{}`", trigger.component))?;
                if pattern.matches(DELIVERY_PATH).is_some() {
                    bail!(
                        "[[trigger.http]] route `{path}` of `{}` covers {DELIVERY_PATH}, where components receive \
                         events: a route must never be a way to deliver one (use a narrower route)",
                        trigger.component
                    );
                }
                if !routes.insert(path.clone()) {
                    bail!("[[trigger.http]] route `{path}` is declared twice");
                }
            }
        }
        for (id, entry) in &self.component {
            self.validate_component(id, entry).with_context(|| format!("[component.{id}]"))?;
        }
        Ok(())
    }

    fn validate_component(&self, id: &str, entry: &ComponentEntry) -> Result<()> {
        check_component_id(id)?;
        if let Source::Remote { url, .. } = &entry.source {
            bail!("source = {{ url = {url:?} }}: remote sources are not supported, use a local path");
        }
        for name in entry.variables.keys() {
            check_variable_name(name).with_context(|| format!("variables.{name}"))?;
        }
        for (name, template) in &entry.variables {
            for reference in template_references(template)? {
                if !self.variables.contains_key(&reference) {
                    bail!("variables.{name} refers to {{{{ {reference} }}}}, which is not declared in [variables]");
                }
            }
        }
        for label in &entry.key_value_stores {
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                bail!("key_value_stores: `{label}` is not a valid store label");
            }
        }
        let tool = self.tool(id)?;
        if tool.concurrency == Some(0) || tool.scale.is_some_and(|s| s.concurrency == Some(0)) {
            bail!("tool.{TOOL_TABLE}.concurrency must be at least 1");
        }
        if let Some(scale) = tool.scale {
            if tool.concurrency.is_some() && scale.concurrency.is_some() && tool.concurrency != scale.concurrency {
                bail!("tool.{TOOL_TABLE}: `concurrency` and `scale.concurrency` disagree; keep one");
            }
            if scale.max() == 0 || scale.min > scale.max() {
                bail!("tool.{TOOL_TABLE}.scale: min = {} and max = {}: 0 ≤ min ≤ max, max ≥ 1", scale.min, scale.max());
            }
        }
        if let Some(timeout) = &tool.timeout {
            parse_duration(timeout).with_context(|| format!("tool.{TOOL_TABLE}.timeout"))?;
        }
        if let Some(mb) = tool.memory_limit_mb
            && mb > MAX_MEMORY_LIMIT_MB
        {
            bail!("tool.{TOOL_TABLE}.memory_limit_mb = {mb} is more than a component can use ({MAX_MEMORY_LIMIT_MB})");
        }
        for sub in &tool.subscribe {
            validate_subscription(sub).with_context(|| format!("tool.{TOOL_TABLE}.subscribe"))?;
        }
        for pattern in &tool.emits {
            validate_type_pattern(pattern).with_context(|| format!("tool.{TOOL_TABLE}.emits"))?;
        }
        Ok(())
    }

    /// The component's `[component.<id>.tool.agent-store]` table.
    pub fn tool(&self, id: &str) -> Result<AgentStoreTool> {
        let Some(entry) = self.component.get(id) else {
            bail!("no component `{id}`");
        };
        match entry.tool.get(TOOL_TABLE) {
            None => Ok(AgentStoreTool::default()),
            Some(value) => value.clone().try_into().with_context(|| format!("[component.{id}.tool.{TOOL_TABLE}]")),
        }
    }

    /// The path of the component's Wasm file.
    pub fn source_path(&self, id: &str) -> Result<PathBuf> {
        match &self.component.get(id).context("no such component")?.source {
            Source::Path(path) => Ok(self.root.join(path)),
            Source::Remote { url, .. } => bail!("remote source {url} is not supported"),
        }
    }

    /// Components that some trigger or subscription needs; Spin loads only
    /// components a trigger names, and so do we, plus event subscribers.
    pub fn active_components(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        for trigger in &self.trigger.http {
            if !ids.contains(&trigger.component) {
                ids.push(trigger.component.clone());
            }
        }
        for id in self.component.keys() {
            if !ids.contains(id) && !self.tool(id)?.subscribe.is_empty() {
                ids.push(id.clone());
            }
        }
        Ok(ids)
    }
}

impl AgentStoreTool {
    /// The one brand every subscription is filtered to, if there is one: a
    /// brand's own component, which may then emit only that brand's events.
    pub fn brand(&self) -> Option<&str> {
        let mut brands = self.subscribe.iter().map(|s| s.attributes.get("brand").map(String::as_str));
        let first = brands.next()??;
        brands.all(|b| b == Some(first)).then_some(first)
    }

    /// Events it handles at once: `scale.concurrency`, or `concurrency`.
    pub fn concurrency(&self) -> usize {
        self.concurrency.or(self.scale.and_then(|s| s.concurrency)).unwrap_or(DEFAULT_CONCURRENCY)
    }

    /// Its scale, with the concurrency the host uses.
    pub fn scale(&self) -> Scale {
        let scale = self.scale.unwrap_or_default();
        Scale { concurrency: Some(self.concurrency()), ..scale }
    }

    /// How long one event may run.
    pub fn timeout(&self) -> Duration {
        self.timeout.as_deref().and_then(|t| parse_duration(t).ok()).unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The linear memory one instance may grow to.
    pub fn memory_limit_bytes(&self) -> u64 {
        // Saturating: a manifest that was not validated must not wrap a huge
        // limit around to a tiny one.
        self.memory_limit_mb.unwrap_or(DEFAULT_MEMORY_LIMIT_MB).saturating_mul(1024 * 1024)
    }
}

/// An event type pattern: dot-separated segments, `*` for one whole
/// segment, `#` for any number at the end.
fn validate_type_pattern(pattern: &str) -> Result<()> {
    if pattern.is_empty() {
        bail!("an event type pattern cannot be empty");
    }
    let segments: Vec<&str> = pattern.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let wildcard = *segment == "*" || *segment == "#";
        if segment.is_empty() || (segment.contains(['*', '#']) && !wildcard) {
            bail!("type `{pattern}`: `*` and `#` must be whole segments");
        }
        if *segment == "#" && i != segments.len() - 1 {
            bail!("type `{pattern}`: `#` may only end a pattern");
        }
    }
    Ok(())
}

fn validate_subscription(sub: &SubscriptionSpec) -> Result<()> {
    if sub.event_type.is_empty() {
        bail!("a subscription needs a `type`");
    }
    validate_type_pattern(&sub.event_type)?;
    for name in sub.attributes.keys() {
        if matches!(name.as_str(), "id" | "time" | "data" | "specversion") {
            bail!("attribute `{name}` cannot be used as a subscription filter");
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            bail!("`{name}` is not a CloudEvents attribute name (lowercase letters and digits)");
        }
    }
    Ok(())
}

fn check_component_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    if !ok {
        bail!("`{id}` is not a valid component id (kebab-case: lowercase letters, digits and single dashes)");
    }
    Ok(())
}

fn check_variable_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!("`{name}` is not a valid variable name (lowercase letters, digits and `_`, starting with a letter)");
    }
    Ok(())
}

/// The application variables a template such as `"https://{{ host }}"` uses.
pub fn template_references(template: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unterminated `{{{{` in {template:?}");
        };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// Expands `{{ name }}` references with `lookup`.
pub fn expand_template(template: &str, mut lookup: impl FnMut(&str) -> Result<String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").context("unterminated `{{`")?;
        out.push_str(&lookup(after[..end].trim())?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `"250ms"`, `"10s"`, `"2m"`, `"24h"`, `"7d"`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map(|i| text.split_at(i)).unwrap_or((text, "s"));
    let n: u64 =
        number.parse().with_context(|| format!("`{text}` is not a duration like \"500ms\", \"10s\" or \"2m\""))?;
    let seconds_per = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("`{text}`: unknown unit `{unit}` (use ms, s, m, h or d)"),
    };
    let seconds = n.checked_mul(seconds_per).with_context(|| format!("`{text}` is too long a duration"))?;
    Ok(Duration::from_secs(seconds))
}

/// A Spin route: literal segments, `:name` captures, and a trailing `/...`
/// wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
    trailing_wildcard: bool,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

/// What a route matched: named captures and the path after the matched part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// `(name, value)` of each `:name` segment.
    pub captures: Vec<(String, String)>,
    /// What the trailing wildcard matched, with a leading `/`.
    pub path_info: String,
}

impl RoutePattern {
    /// Parses a route such as `/orders/:id/...`.
    pub fn parse(route: &str) -> Result<Self> {
        if !route.starts_with('/') {
            bail!("route `{route}` must start with `/`");
        }
        let (body, trailing_wildcard) = match route.strip_suffix("/...") {
            Some(body) => (body, true),
            None if route == "/..." => ("", true),
            None => (route, false),
        };
        let mut segments = Vec::new();
        for part in body.split('/').filter(|p| !p.is_empty()) {
            if part == "..." {
                bail!("route `{route}`: `...` may only end a route");
            }
            segments.push(match part.strip_prefix(':') {
                Some(name) if !name.is_empty() => Segment::Capture(name.to_string()),
                Some(_) => bail!("route `{route}`: `:` must be followed by a name"),
                None => Segment::Literal(part.to_string()),
            });
        }
        Ok(Self { segments, trailing_wildcard, text: route.to_string() })
    }

    /// The route as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// More literal segments win over fewer; an exact route beats a wildcard.
    pub fn specificity(&self) -> (usize, usize, bool) {
        let literals = self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        (self.segments.len(), literals, !self.trailing_wildcard)
    }

    /// What the route makes of `path`, if it matches.
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() < self.segments.len() || (!self.trailing_wildcard && parts.len() != self.segments.len()) {
            return None;
        }
        let mut captures = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(lit) if lit == part => {}
                Segment::Literal(_) => return None,
                Segment::Capture(name) => captures.push((name.clone(), (*part).to_string())),
            }
        }
        let rest = &parts[self.segments.len()..];
        let path_info = if rest.is_empty() { String::new() } else { format!("/{}", rest.join("/")) };
        Some(RouteMatch { captures, path_info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"

[variables]
api_host = { default = "api.example.com" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/hello/..."
component = "hello"

[[trigger.http]]
route = { private = true }
component = "worker"

[component.hello]
source = "hello.wasm"
allowed_outbound_hosts = ["https://{{ api_host }}"]

[component.hello.variables]
auth = "Bearer {{ token }}"

[component.worker]
source = "worker.wasm"
key_value_stores = ["work"]

[component.worker.tool.agent-store]
subscribe = [{ type = "store.product.query" }, { type = "store.order.*", brand = "tech" }]
concurrency = 5
timeout = "2s"
"#;

    #[test]
    fn scale_gives_the_replicas_and_the_concurrency() -> Result<()> {
        let with = |line: &str| Manifest::parse(&MANIFEST.replace("concurrency = 5", line));
        let m = with("scale = { min = 0, max = 10, concurrency = 7 }")?;
        m.validate()?;
        let tool = m.tool("worker")?;
        assert_eq!(tool.concurrency(), 7, "the host uses scale.concurrency");
        assert_eq!((tool.scale().min, tool.scale().max()), (0, 10));
        let m = with("concurrency = 5\nscale = { min = 1 }")?;
        assert_eq!((m.tool("worker")?.scale().max(), m.tool("worker")?.scale().concurrency), (10, Some(5)));
        for (bad, why) in [
            ("concurrency = 5\nscale = { concurrency = 6 }", "disagree"),
            ("scale = { min = 3, max = 2 }", "min"),
            ("scale = { max = 0 }", "max"),
            ("scale = { concurrency = 0 }", "at least 1"),
        ] {
            let error = with(bad).and_then(|m| m.validate()).expect_err(bad);
            assert!(format!("{error:#}").contains(why), "{bad}: {error:#}");
        }
        assert!(with("scale = { minimum = 1 }").and_then(|m| m.validate()).is_err(), "a typo is refused");
        Ok(())
    }

    #[test]
    fn parses_and_validates_a_spin_manifest() -> Result<()> {
        let m = Manifest::parse(MANIFEST)?;
        m.validate()?;
        let tool = m.tool("worker")?;
        assert_eq!(tool.concurrency(), 5);
        assert_eq!(tool.timeout(), Duration::from_secs(2));
        assert_eq!(tool.subscribe[1].attributes.get("brand").map(String::as_str), Some("tech"));
        assert_eq!(m.tool("hello")?.concurrency(), DEFAULT_CONCURRENCY);
        assert_eq!(m.active_components()?, vec!["hello".to_string(), "worker".to_string()]);
        assert_eq!(m.trigger.http[1].route, Route::Private { private: true });
        Ok(())
    }

    #[test]
    fn refuses_unknown_tool_keys_and_undeclared_variables() {
        let bad = MANIFEST.replace("concurrency = 5", "concurency = 5");
        let err = format!("{:#}", Manifest::parse(&bad).unwrap().validate().unwrap_err());
        assert!(err.contains("concurency"), "{err}");

        let bad = MANIFEST.replace("Bearer {{ token }}", "Bearer {{ tokne }}");
        let err = format!("{:#}", Manifest::parse(&bad).unwrap().validate().unwrap_err());
        assert!(err.contains("tokne") && err.contains("[component.hello]"), "{err}");

        let bad = MANIFEST.replace("component = \"worker\"", "component = \"wroker\"");
        let err = format!("{:#}", Manifest::parse(&bad).unwrap().validate().unwrap_err());
        assert!(err.contains("wroker"), "{err}");
    }

    #[test]
    fn memory_limits_past_what_a_component_can_use_are_refused() -> Result<()> {
        // Found by the manifest fuzz target: 2^44 MiB and more overflowed
        // `memory_limit_bytes` (a panic in a debug build, a limit wrapped
        // to zero in release).
        let huge = MANIFEST.replace("timeout = \"2s\"", "timeout = \"2s\"\nmemory_limit_mb = 17592186044416");
        let m = Manifest::parse(&huge)?;
        let err = format!("{:#}", m.validate().unwrap_err());
        assert!(err.contains("memory_limit_mb") && err.contains("[component.worker]"), "{err}");
        assert_eq!(m.tool("worker")?.memory_limit_bytes(), u64::MAX);

        let most = MANIFEST.replace("timeout = \"2s\"", "timeout = \"2s\"\nmemory_limit_mb = 4096");
        let m = Manifest::parse(&most)?;
        m.validate()?;
        assert_eq!(m.tool("worker")?.memory_limit_bytes(), 4 << 30);
        Ok(())
    }

    #[test]
    fn routes_match_like_spin() -> Result<()> {
        let wild = RoutePattern::parse("/hello/...")?;
        assert_eq!(wild.matches("/hello").unwrap().path_info, "");
        assert_eq!(wild.matches("/hello/a/b").unwrap().path_info, "/a/b");
        assert!(wild.matches("/other").is_none());

        let exact = RoutePattern::parse("/orders/:id")?;
        let m = exact.matches("/orders/42").unwrap();
        assert_eq!(m.captures, vec![("id".to_string(), "42".to_string())]);
        assert!(exact.matches("/orders/42/x").is_none());
        assert!(exact.specificity() > RoutePattern::parse("/orders/...")?.specificity());
        assert!(RoutePattern::parse("/.../x").is_err());
        Ok(())
    }

    #[test]
    fn templates_and_durations() -> Result<()> {
        let out = expand_template("https://{{ host }}:{{port}}", |name| Ok(name.to_uppercase()))?;
        assert_eq!(out, "https://HOST:PORT");
        assert_eq!(parse_duration("250ms")?, Duration::from_millis(250));
        assert_eq!(parse_duration("2m")?, Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        // Found by the manifest fuzz target: minutes, hours and days past
        // u64 seconds overflowed (a panic in a debug build, a short timeout
        // in release).
        let err = format!("{:#}", parse_duration("307445734561825861m").unwrap_err());
        assert!(err.contains("too long"), "{err}");
        assert!(parse_duration("213503982334602d").is_err());
        assert_eq!(parse_duration("307445734561825860m")?, Duration::from_secs(307_445_734_561_825_860 * 60));
        Ok(())
    }
}
