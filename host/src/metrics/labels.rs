//! Which values may be labels. A brand, a component or a model becomes a
//! label value once the manifest or a deploy names it; anything else an
//! event claims reads `other`, so that a producer cannot grow the series
//! without end (or put a phone number in a label).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use agent_store_manifest::Manifest;
use cloudevents::Event;

use super::Label;

/// Distinct values one kind of label takes at most: past it, new ones read
/// `other` (a store with more brands than this needs a bigger number, not
/// a bigger risk).
const MAX_VALUES: usize = 256;

/// A known set of label values.
struct Values(RwLock<HashSet<Label>>);

impl Default for Values {
    fn default() -> Self {
        Self(RwLock::new(HashSet::new()))
    }
}

impl Values {
    fn get(&self, value: &str) -> Option<Label> {
        self.0.read().unwrap().get(value).cloned()
    }

    fn add(&self, value: &str) {
        let mut values = self.0.write().unwrap();
        if values.len() < MAX_VALUES && !values.contains(value) {
            values.insert(Arc::from(value));
        }
    }
}

/// The label values the host knows.
pub struct Known {
    brands: Values,
    components: Values,
    models: Values,
    /// Producer name to its `producer:<name>` label.
    producers: RwLock<HashMap<String, Label>>,
    other: Label,
    none: Label,
    admin: Label,
    host: Label,
}

impl Default for Known {
    fn default() -> Self {
        Self {
            brands: Values::default(),
            components: Values::default(),
            models: Values::default(),
            producers: RwLock::new(HashMap::new()),
            other: Arc::from("other"),
            none: Arc::from("none"),
            admin: Arc::from("admin"),
            host: Arc::from("host"),
        }
    }
}

impl Known {
    /// Every component of `manifest`, served here or not (one Knative pod
    /// runs one agent, and publishes for every brand), its brand filters
    /// and its models.
    pub fn add_manifest(&self, manifest: &Manifest) {
        for (id, entry) in &manifest.component {
            self.add_component(id);
            for model in &entry.ai_models {
                self.models.add(model);
            }
            if let Ok(tool) = manifest.tool(id) {
                for brand in tool.subscribe.iter().filter_map(|s| s.attributes.get(agent_store_events::ext::BRAND)) {
                    self.add_brand(brand);
                }
            }
        }
    }

    pub fn add_component(&self, id: &str) {
        self.components.add(id);
    }

    pub fn add_brand(&self, brand: &str) {
        if agent_store_events::is_valid_brand(brand) {
            self.brands.add(brand);
        }
    }

    pub fn component(&self, id: &str) -> Label {
        self.components.get(id).unwrap_or_else(|| self.other.clone())
    }

    /// `none` for no brand, `other` for one the store does not run.
    pub fn brand(&self, brand: Option<&str>) -> Label {
        match brand {
            None => self.none.clone(),
            Some(brand) => self.brands.get(brand).unwrap_or_else(|| self.other.clone()),
        }
    }

    /// The label of the event's `brand` extension.
    pub fn brand_of(&self, event: &Event) -> Label {
        match event.extension(agent_store_events::ext::BRAND) {
            Some(cloudevents::event::ExtensionValue::String(brand)) => self.brand(Some(brand)),
            Some(_) => self.other.clone(),
            None => self.none.clone(),
        }
    }

    pub fn model(&self, model: &str) -> Label {
        self.models.get(model).unwrap_or_else(|| self.other.clone())
    }

    pub fn admin(&self) -> Label {
        self.admin.clone()
    }

    pub fn host(&self) -> Label {
        self.host.clone()
    }

    /// `producer:<name>`: names come from `--producer`, a bounded set.
    pub fn producer(&self, name: &str) -> Label {
        if let Some(label) = self.producers.read().unwrap().get(name) {
            return label.clone();
        }
        let mut producers = self.producers.write().unwrap();
        if producers.len() >= MAX_VALUES {
            return self.other.clone();
        }
        producers.entry(name.to_string()).or_insert_with(|| Arc::from(format!("producer:{name}"))).clone()
    }
}
