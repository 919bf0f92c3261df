//! Variables and configuration: `fermyon:spin/variables` and
//! `wasi:config/store` read the same values.
//!
//! Resolution follows Spin: an application variable takes its value from
//! `SPIN_VARIABLE_<NAME>` in the environment, else from its `default`; a
//! `required` one with neither stops the host at start. A component sees
//! only the variables its manifest entry declares, each a template over the
//! application variables (`"Bearer {{ token }}"`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wasmtime::component::{HasData, Linker};

use crate::bindings::fermyon::spin::variables as spin_vars;
use crate::bindings::wasi::config::store as wasi_config;
use agent_store_manifest::{Manifest, expand_template};

/// The environment prefix Spin's environment provider reads.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// The application variables, resolved once at start.
#[derive(Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, Option<String>>,
    secret: Vec<String>,
}

impl std::fmt::Debug for AppVariables {
    // Values stay out of debug output: some are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppVariables").field("names", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

impl AppVariables {
    /// Resolves the manifest's `[variables]` against `env` (normally
    /// `std::env::var`); fails naming every required variable without a value.
    pub fn resolve(manifest: &Manifest, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        let mut secret = Vec::new();
        for (name, var) in &manifest.variables {
            let from_env = env(&format!("{ENV_PREFIX}{}", name.to_uppercase()));
            let value = from_env.or_else(|| var.default.clone());
            if value.is_none() && var.required {
                missing.push(format!("{name} (set {ENV_PREFIX}{})", name.to_uppercase()));
            }
            if var.secret {
                secret.push(name.clone());
            }
            values.insert(name.clone(), value);
        }
        if !missing.is_empty() {
            bail!("required variables have no value: {}", missing.join(", "));
        }
        Ok(Self { values, secret })
    }

    /// The value of application variable `name`.
    pub fn get(&self, name: &str) -> Result<String> {
        match self.values.get(name) {
            Some(Some(value)) => Ok(value.clone()),
            Some(None) => bail!("variable `{name}` has no value (set {ENV_PREFIX}{})", name.to_uppercase()),
            None => bail!("variable `{name}` is not declared in [variables]"),
        }
    }

    /// Whether `name` is a secret (never logged).
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret.iter().any(|s| s == name)
    }

    /// The values of one component's variables.
    pub fn for_component(&self, manifest: &Manifest, id: &str) -> Result<ComponentVariables> {
        let entry = manifest.component.get(id).context("no such component")?;
        let mut values = BTreeMap::new();
        for (name, template) in &entry.variables {
            // A component variable without a value is an error only when
            // read, as in Spin: a demo may leave a production secret unset.
            if let Ok(value) = expand_template(template, |app| self.get(app)) {
                values.insert(name.clone(), value);
            }
        }
        Ok(ComponentVariables { values: Arc::new(values), declared: entry.variables.keys().cloned().collect() })
    }
}

/// What one component may read.
#[derive(Clone, Default)]
pub struct ComponentVariables {
    values: Arc<BTreeMap<String, String>>,
    declared: Arc<[String]>,
}

impl ComponentVariables {
    /// Variables given directly, as tests and the harness do.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let values: BTreeMap<String, String> = pairs.into_iter().collect();
        let declared = values.keys().cloned().collect();
        Self { values: Arc::new(values), declared }
    }

    /// These variables with some values given instead (tests): a name the
    /// component does not declare is declared too.
    pub fn with(self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut values = (*self.values).clone();
        let mut declared = self.declared.to_vec();
        for (name, value) in pairs {
            if !declared.contains(&name) {
                declared.push(name.clone());
            }
            values.insert(name, value);
        }
        Self { values: Arc::new(values), declared: declared.into() }
    }

    /// A variable's value, if it has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Expands a template such as an `allowed_outbound_hosts` entry against
    /// this component's variables.
    pub fn expand(&self, template: &str) -> Result<String> {
        expand_template(template, |name| {
            self.get(name)
                .map(str::to_string)
                .with_context(|| format!("`{{{{ {name} }}}}` is not a variable of this component with a value"))
        })
    }
}

/// `HasData` marker for [`add_to_linker`].
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a ComponentVariables;
}

/// Adds `fermyon:spin/variables` and `wasi:config/store` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &ComponentVariables,
) -> wasmtime::Result<()> {
    spin_vars::add_to_linker::<T, Variables>(linker, get)?;
    wasi_config::add_to_linker::<T, Variables>(linker, get)?;
    Ok(())
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl spin_vars::Host for &ComponentVariables {
    async fn get(&mut self, name: String) -> Result<Result<String, spin_vars::Error>> {
        if !valid_name(&name) {
            return Ok(Err(spin_vars::Error::InvalidName(name)));
        }
        if !self.declared.contains(&name) {
            return Ok(Err(spin_vars::Error::Undefined(format!("the component declares no variable `{name}`"))));
        }
        Ok(match ComponentVariables::get(self, &name) {
            Some(value) => Ok(value.to_string()),
            None => Err(spin_vars::Error::Undefined(format!(
                "variable `{name}` has no value: set the application variable it refers to"
            ))),
        })
    }
}

impl wasi_config::Host for &ComponentVariables {
    async fn get(&mut self, key: String) -> Result<Result<Option<String>, wasi_config::Error>> {
        Ok(Ok(ComponentVariables::get(self, &key).map(str::to_string)))
    }

    async fn get_all(&mut self) -> Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        Ok(Ok(self.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
api_host = { default = "graph.example.com" }
token = { required = true, secret = true }
optional_secret = { secret = true }
[component.c]
source = "c.wasm"
[component.c.variables]
auth = "Bearer {{ token }}"
host = "{{ api_host }}"
unset = "{{ optional_secret }}"
"#;

    #[test]
    fn environment_overrides_defaults_like_spin() -> Result<()> {
        let m = Manifest::parse(MANIFEST)?;
        let env = |k: &str| match k {
            "SPIN_VARIABLE_TOKEN" => Some("s3cret".to_string()),
            "SPIN_VARIABLE_API_HOST" => Some("localhost:9000".to_string()),
            _ => None,
        };
        let app = AppVariables::resolve(&m, env)?;
        let c = app.for_component(&m, "c")?;
        assert_eq!(c.get("auth"), Some("Bearer s3cret"));
        assert_eq!(c.get("host"), Some("localhost:9000"));
        assert_eq!(c.get("unset"), None);
        assert!(app.is_secret("token"));
        assert!(!format!("{app:?}").contains("s3cret"));
        assert_eq!(c.expand("http://{{ host }}/x")?, "http://localhost:9000/x");
        Ok(())
    }

    #[test]
    fn a_required_variable_without_value_fails_at_start() {
        let m = Manifest::parse(MANIFEST).unwrap();
        let err = AppVariables::resolve(&m, |_| None).unwrap_err().to_string();
        assert!(err.contains("token") && err.contains("SPIN_VARIABLE_TOKEN"), "{err}");
    }
}
