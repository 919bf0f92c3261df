//! spin.toml as the host reads it (`agent_store_manifest`): parsed at start
//! and on every hot swap, from a file a deployer (or a brand team's
//! pipeline) writes.
//!
//! Inputs: the repository's own spin.toml with lines deleted, moved,
//! duplicated, edited or inserted from a dictionary of manifest lines;
//! manifests generated table by table, most of them valid, with values at
//! the edges (huge numbers, odd routes, wildcards, templates); and either
//! of these with bytes mutated.
//!
//! Invariants beyond not panicking: `validate` never panics on anything
//! `parse` accepts, nor does any accessor the host calls; on a manifest
//! `validate` accepts, every trigger names a component, no route covers the
//! delivery path, every `timeout` means what it says (not the default), and
//! each route matches a path made from it.

use agent_store_manifest::{
    DELIVERY_PATH, Manifest, Route, RoutePattern, expand_template, parse_duration, template_references,
};
use arbitrary::{Result, Unstructured};

use crate::engine::{Path, Target, show};
use crate::inputs::{self, word};

/// The target.
pub const TARGET: Target = Target {
    name: "manifest",
    about: "Manifest::parse then validate and every accessor, on mutated and generated spin.toml files",
    run,
    must_reach: &["valid", "invalid", "unparsable"],
};

/// The application manifest of this repository.
const SPIN_TOML: &str = include_str!("../../../../spin.toml");

/// Lines a manifest may hold, valid and not.
const LINES: &[&str] = &[
    "spin_manifest_version = 2",
    "spin_manifest_version = 1",
    "spin_manifest_version = 4294967298",
    "[application]",
    "name = \"agent-store\"",
    "[application.tool.agent-store.key_value]",
    "seller-fashion = { ttl = \"24h\" }",
    "seller-fashion = { ttl = \"99999999999999999999d\" }",
    "seller-fashion = { ttl = \"307445734561825861m\" }",
    "seller-fashion = { ttl = \"213503982334601d\" }",
    "seller-fashion = { ttl = \"24 h\" }",
    "seller-fashion = { age = \"1h\" }",
    "[variables]",
    "api_host = { default = \"api.example.com\" }",
    "token = { required = true, secret = true }",
    "Bad-Name = { default = \"x\" }",
    "x = { default = \"a\", unknown = 1 }",
    "[[trigger.http]]",
    "route = \"/...\"",
    "route = \"/.agent-store/...\"",
    "route = \"/.agent-store/deliver\"",
    "route = \"/:x/...\"",
    "route = \"/:/x\"",
    "route = \"/a/.../b\"",
    "route = \"orders\"",
    "route = \"\"",
    "route = { private = true }",
    "route = { private = false }",
    "component = \"order-processor\"",
    "component = \"missing\"",
    "[component.order-processor]",
    "[component.Bad_Id]",
    "[component.a--b]",
    "[component.\"\"]",
    "source = \"x.wasm\"",
    "source = { url = \"https://example.com/x.wasm\", digest = \"sha256:00\" }",
    "files = [\"brands/*/catalog.json\", { source = \"a\", destination = \"/b\" }]",
    "exclude_files = [\"**/*.tmp\"]",
    "allowed_outbound_hosts = [\"https://{{ api_host }}\", \"http://*.spin.internal\", \"{{ unterminated\"]",
    "key_value_stores = [\"default\", \"bad label\", \"\"]",
    "environment = { A = \"b\" }",
    "ai_models = [\"llama2-chat\"]",
    "[component.order-processor.variables]",
    "auth = \"Bearer {{ token }}\"",
    "auth = \"{{ undeclared }}\"",
    "auth = \"{{ unterminated\"",
    "auth = \"}}{{ token }}{{\"",
    "[component.order-processor.tool.agent-store]",
    "subscribe = [{ type = \"store.order.*\" }]",
    "subscribe = [{ type = \"store.#\", brand = \"fashion\" }, { type = \"store.chat.response\", brand = \"tech\" }]",
    "subscribe = [{ type = \"#.x\" }, { type = \"a.*b\" }, { type = \"\" }]",
    "subscribe = [{ type = \"a.b\", id = \"x\" }, { type = \"a\", Brand = \"x\" }]",
    "subscribe = [{ type = \"a\", brand = 1 }]",
    "emits = [\"store.order.*\", \"store.chat.response\"]",
    "emits = [\"#\", \"a.#.b\", \"a..b\", \"\"]",
    "concurrency = 0",
    "concurrency = 18446744073709551615",
    "concurrency = -1",
    "timeout = \"10s\"",
    "timeout = \"500ms\"",
    "timeout = \"18446744073709551615d\"",
    "timeout = \"5w\"",
    "timeout = \"\"",
    "memory_limit_mb = 128",
    "memory_limit_mb = 17592186044416",
    "memory_limit_mb = 9223372036854775807",
    "concurrency = 9223372036854775807",
    "memory_limit_mb = 0",
    "router = true",
    "unknown_key = 1",
    "[component.order-processor.build]",
    "command = \"cargo build\"",
];

/// Values an edited line may get.
const VALUES: &[&str] = &[
    "\"\"",
    "0",
    "-1",
    "true",
    "[]",
    "{}",
    "\"/...\"",
    "\"x\"",
    "9223372036854775807",
    "18446744073709551616",
    "1e400",
    "nan",
    "inf",
    "\"{{ x }}\"",
    "{ private = true }",
    "[{ type = \"a\" }]",
    "\"99999999999999999999h\"",
    "1979-05-27T07:32:00Z",
    "\"\\u0000\"",
    "'''a\nb'''",
    "[[1], [\"a\"]]",
];

const IDS: &[&str] = &["order-processor", "seller-fashion", "a", "a1-b2", "worker"];
const BAD_IDS: &[&str] = &["Bad_Id", "a--b", "-a", ""];
const VARIABLES: &[&str] = &["api_host", "token", "hook_secret", "x", "a_1"];
const BAD_VARIABLES: &[&str] = &["Bad", "1a", ""];
const DURATIONS: &[&str] = &[
    "10s",
    "500ms",
    "2m",
    "24h",
    "7d",
    "0s",
    "10",
    "18446744073709551615ms",
    "18446744073709551615s",
    "307445734561825860m",
    "5124095576030425h",
    "213503982334601d",
];
const BAD_DURATIONS: &[&str] = &[
    "",
    " 5s ",
    "5w",
    "s",
    "-1s",
    "307445734561825861m",
    "5124095576030432h",
    "213503982334602d",
    "99999999999999999999s",
];
const ROUTES: &[&str] = &[
    "/orders/...",
    "/webhooks/whatsapp",
    "/:id",
    "/orders/:id/cancel",
    "/.agent-store",
    "/:a/:b/...",
    "//",
    "/a//b",
    "/.agent-store/deliver/x",
];
const BAD_ROUTES: &[&str] = &[
    "/...",
    "/.agent-store/...",
    "/.agent-store/deliver",
    "/.agent-store/deliver/...",
    "/a/.../b",
    "/:",
    "orders",
    "",
];
const TYPE_PATTERNS: &[&str] =
    &["store.order.create", "store.order.*", "store.#", "#", "*", "store.*.x", "store.chat.response"];
const BAD_TYPE_PATTERNS: &[&str] = &["#.x", "a.*b", "a..b", ".", ""];
const ATTRIBUTE_NAMES: &[&str] = &["brand", "source", "subject", "conversation", "x1"];
const BAD_ATTRIBUTE_NAMES: &[&str] = &["id", "time", "Brand", ""];

fn run(u: &mut Unstructured<'_>) -> Result<Path> {
    let mut text = match u.int_in_range(0..=5)? {
        0..=1 => inputs::mutate_lines(u, SPIN_TOML, LINES, VALUES)?,
        _ => generated(u)?,
    };
    if u.ratio(1, 6)? {
        let mut bytes = text.into_bytes();
        inputs::mutate_bytes(u, &mut bytes, &["[", "]", "{{", "}}", "\"", "= ", "\n[component.x]\n"])?;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    show(|| format!("spin.toml:\n{text}"));
    let durations = if u.arbitrary()? { DURATIONS } else { BAD_DURATIONS };
    let _ = parse_duration(&inputs::text(u, durations)?);
    let Ok(manifest) = Manifest::parse(&text) else {
        return Ok("unparsable");
    };
    let valid = manifest.validate().is_ok();
    check(u, &manifest, valid)?;
    Ok(if valid { "valid" } else { "invalid" })
}

fn check(u: &mut Unstructured<'_>, manifest: &Manifest, valid: bool) -> Result<()> {
    let _ = manifest.app_tool();
    let _ = manifest.active_components();
    for (id, entry) in &manifest.component {
        let _ = manifest.source_path(id);
        match manifest.tool(id) {
            Ok(tool) => {
                let _ = tool.brand();
                let concurrency = tool.concurrency();
                let timeout = tool.timeout();
                let _ = tool.memory_limit_bytes();
                if valid {
                    assert!(concurrency >= 1, "[component.{id}] validated with concurrency {concurrency}");
                    if let Some(text) = &tool.timeout {
                        assert_eq!(
                            Some(timeout),
                            parse_duration(text).ok(),
                            "[component.{id}] validated with timeout {text:?}, which is not that duration"
                        );
                    }
                }
            }
            Err(error) => assert!(!valid, "[component.{id}] validated but its tool table does not read: {error:#}"),
        }
        for (name, template) in entry.variables.iter().chain(&entry.environment) {
            let references = template_references(template);
            let expanded = expand_template(template, |name| Ok(format!("<{name}>")));
            assert_eq!(
                references.is_ok(),
                expanded.is_ok(),
                "{name} = {template:?}: references and expansion disagree"
            );
            if valid && entry.variables.contains_key(name) {
                for reference in references.expect("a validated template has its references") {
                    assert!(manifest.variables.contains_key(&reference), "{name} refers to undeclared {reference}");
                }
            }
        }
        for host in &entry.allowed_outbound_hosts {
            let _ = expand_template(host, |name| Ok(name.to_string()));
        }
    }
    for trigger in &manifest.trigger.http {
        if valid {
            assert!(manifest.component.contains_key(&trigger.component), "a trigger names a missing component");
        }
        let Route::Path(route) = &trigger.route else { continue };
        let Ok(pattern) = RoutePattern::parse(route) else {
            assert!(!valid, "route {route:?} validated but does not parse");
            continue;
        };
        if valid {
            assert!(pattern.matches(DELIVERY_PATH).is_none(), "route {route:?} validated but covers {DELIVERY_PATH}");
        }
        matches_its_own_paths(u, &pattern)?;
    }
    Ok(())
}

/// A path made from a route, captures filled and the wildcard given a
/// tail, matches it with those captures and that tail.
fn matches_its_own_paths(u: &mut Unstructured<'_>, pattern: &RoutePattern) -> Result<()> {
    let route = pattern.as_str();
    assert_eq!(route, pattern.as_str());
    let _ = pattern.specificity();
    let wildcard = route == "/..." || route.ends_with("/...");
    let body = route.strip_suffix("/...").unwrap_or(if route == "/..." { "" } else { route });
    let mut path = String::new();
    let mut captures = Vec::new();
    for (i, segment) in body.split('/').filter(|s| !s.is_empty()).enumerate() {
        path.push('/');
        match segment.strip_prefix(':') {
            Some(name) => {
                let value = format!("v{i}");
                path.push_str(&value);
                captures.push((name.to_string(), value));
            }
            None => path.push_str(segment),
        }
    }
    let tail = if wildcard && u.arbitrary()? { "/rest/of/it" } else { "" };
    path.push_str(tail);
    if path.is_empty() {
        path.push('/');
    }
    let matched = pattern.matches(&path).unwrap_or_else(|| panic!("route {route:?} does not match {path:?}"));
    assert_eq!(matched.captures, captures, "route {route:?} on {path:?}");
    assert_eq!(matched.path_info, tail, "route {route:?} on {path:?}");
    let routes = if u.arbitrary()? { ROUTES } else { BAD_ROUTES };
    let other = inputs::text(u, routes)?;
    let _ = pattern.matches(&other);
    Ok(())
}

/// A manifest written table by table: usually valid, each value now and
/// then at an edge.
fn generated(u: &mut Unstructured<'_>) -> Result<String> {
    let mut out = String::from("spin_manifest_version = 2\n\n[application]\nname = \"fuzz\"\n");
    if u.ratio(1, 4)? {
        out.push_str("\n[application.tool.agent-store.key_value]\n");
        for _ in 0..u.int_in_range(1..=3)? {
            let label = word(u, &["seller-fashion", "whatsapp", "orders"], &["bad label", ""])?;
            let ttl = word(u, DURATIONS, BAD_DURATIONS)?;
            out.push_str(&format!("{} = {{ ttl = {} }}\n", quoted(&label), quoted(&ttl)));
        }
    }
    let mut variables = Vec::new();
    if u.ratio(2, 3)? {
        out.push_str("\n[variables]\n");
        for _ in 0..u.int_in_range(1..=3)? {
            let name = word(u, VARIABLES, BAD_VARIABLES)?;
            let spec =
                *u.choose(&["{ default = \"x\" }", "{ required = true, secret = true }", "{ default = \"\" }"])?;
            out.push_str(&format!("{} = {spec}\n", quoted(&name)));
            variables.push(name);
        }
    }
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..u.int_in_range(1..=3)? {
        let id = word(u, IDS, BAD_IDS)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for _ in 0..u.int_in_range(0..=3)? {
        let component = match u.int_in_range(0..=5)? {
            0 => word(u, IDS, BAD_IDS)?,
            _ => u.choose(&ids)?.clone(),
        };
        let route =
            if u.ratio(1, 5)? { "{ private = true }".to_string() } else { quoted(&word(u, ROUTES, BAD_ROUTES)?) };
        out.push_str(&format!("\n[[trigger.http]]\nroute = {route}\ncomponent = {}\n", quoted(&component)));
    }
    for id in &ids {
        let table = format!("component.{}", quoted(id));
        out.push_str(&format!("\n[{table}]\nsource = \"{id}.wasm\"\n"));
        if u.ratio(1, 3)? {
            out.push_str("key_value_stores = [\"default\"]\n");
        }
        if u.ratio(1, 3)? {
            let variable = variables.first().map(String::as_str).unwrap_or("undeclared");
            let template = *u.choose(&["{{ V }}", "https://{{ V }}/x", "{{V}}{{ V }}", "{{ V", "}}", "plain"])?;
            let template = template.replace('V', variable);
            out.push_str(&format!("\n[{table}.variables]\nsetting = {}\n", quoted(&template)));
        }
        if u.ratio(3, 4)? {
            out.push_str(&format!("\n[{table}.tool.agent-store]\n"));
            let subscriptions = (0..u.int_in_range(0..=3)?)
                .map(|_| {
                    let mut sub = format!("{{ type = {}", quoted(&word(u, TYPE_PATTERNS, BAD_TYPE_PATTERNS)?));
                    if u.ratio(1, 2)? {
                        let name = word(u, ATTRIBUTE_NAMES, BAD_ATTRIBUTE_NAMES)?;
                        let value = word(u, &["fashion", "tech"], &[])?;
                        sub.push_str(&format!(", {} = {}", quoted(&name), quoted(&value)));
                    }
                    sub.push_str(" }");
                    Ok(sub)
                })
                .collect::<Result<Vec<_>>>()?;
            out.push_str(&format!("subscribe = [{}]\n", subscriptions.join(", ")));
            let emits = (0..u.int_in_range(0..=2)?)
                .map(|_| word(u, TYPE_PATTERNS, BAD_TYPE_PATTERNS).map(|t| quoted(&t)))
                .collect::<Result<Vec<_>>>()?;
            out.push_str(&format!("emits = [{}]\n", emits.join(", ")));
            if u.ratio(1, 3)? {
                let n = *u.choose(&["1", "50", "0", "9223372036854775807", "-1"])?;
                out.push_str(&format!("concurrency = {n}\n"));
            }
            if u.ratio(1, 2)? {
                out.push_str(&format!("timeout = {}\n", quoted(&word(u, DURATIONS, BAD_DURATIONS)?)));
            }
            if u.ratio(1, 3)? {
                let n = *u.choose(&["128", "0", "4096", "17592186044415", "17592186044416", "9223372036854775807"])?;
                out.push_str(&format!("memory_limit_mb = {n}\n"));
            }
        }
    }
    Ok(out)
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
