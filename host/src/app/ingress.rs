//! The one way events come in: from producers at `POST /events` and from
//! components through the event router. Each call is decoded, authorized
//! against what its publisher may publish, bounded, stamped, tapped and
//! published, all or nothing. What a component returns while handling an
//! event goes through the same authorization in [`AppInner::outputs`].

use std::sync::Arc;
use std::time::Duration;

use agent_store_events::binding::limits::{self, Exceeded};
use agent_store_events::binding::{self, attribute, type_matches};
use agent_store_events::ext;
use agent_store_manifest::AgentStoreTool;
use anyhow::{Result, bail};
use cloudevents::{AttributesReader, Data, Event};
use subtle::ConstantTimeEq;

use super::tap::{TapKind, TapRecord};
use super::trace::{self, Cause};
use super::{AppInner, Component};
use crate::broker::{Full, Outputs, Refused};

/// A producer token must be at least this long: a token short enough to
/// guess is no token.
const MIN_TOKEN_LEN: usize = 16;

/// Who is publishing.
#[derive(Debug, Clone)]
pub enum Publisher {
    /// The admin token: any event type.
    Admin,
    /// A producer token: the types of its patterns only.
    Producer(Arc<Producer>),
    /// A component, through the event router: the types it declares in
    /// `emits` (and only its brand's events, for a brand's component).
    /// `cause` is the event it was handling when it published, if any.
    Component { id: Arc<str>, cause: Option<Cause> },
}

/// A named producer and the event types it may publish.
#[derive(Debug)]
pub struct Producer {
    pub name: String,
    token: String,
    patterns: Vec<String>,
}

impl Producer {
    pub fn may_publish(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|p| type_matches(p, event_type))
    }
}

/// The producers of `--producer NAME=TOKEN:PATTERN[|PATTERN…]`.
#[derive(Debug, Default, Clone)]
pub struct Producers {
    all: Vec<Arc<Producer>>,
}

impl Producers {
    /// Parses `NAME=TOKEN:PATTERN[|PATTERN…]` entries; a name may appear
    /// again (with the same token) to add patterns.
    pub fn parse(specs: &[String]) -> Result<Self> {
        let mut all: Vec<Producer> = Vec::new();
        for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let Some((name, rest)) = spec.split_once('=') else {
                bail!("--producer `{}…`: expected NAME=TOKEN:PATTERN", spec.chars().take(8).collect::<String>());
            };
            let Some((token, patterns)) = rest.rsplit_once(':') else {
                bail!("--producer {name}: expected NAME=TOKEN:PATTERN (the event types it may publish)");
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                bail!("--producer {name:?}: a name is letters, digits, `-` and `_`");
            }
            if token.len() < MIN_TOKEN_LEN {
                bail!("--producer {name}: the token must be at least {MIN_TOKEN_LEN} characters");
            }
            let patterns: Vec<String> = patterns.split('|').map(|p| p.trim().to_string()).collect();
            if patterns.iter().any(|p| p.is_empty() || p.contains(char::is_whitespace)) {
                bail!("--producer {name}: an empty or malformed event type pattern");
            }
            match all.iter_mut().find(|p| p.name == name) {
                Some(known) if known.token != token => bail!("--producer {name} is given twice with different tokens"),
                Some(known) => known.patterns.extend(patterns),
                None => all.push(Producer { name: name.to_string(), token: token.to_string(), patterns }),
            }
        }
        if let Some(clash) = all.iter().enumerate().find(|(i, p)| all[..*i].iter().any(|q| q.token == p.token)) {
            bail!("--producer {}: another producer has the same token", clash.1.name);
        }
        Ok(Self { all: all.into_iter().map(Arc::new).collect() })
    }

    /// The producer whose token this is. Every token is compared, each in
    /// constant time, so that the time taken says nothing of which matched.
    pub fn find(&self, token: &str) -> Option<Arc<Producer>> {
        find_by_token(&self.all, token, |p| &p.token)
    }

    pub fn names(&self) -> Vec<&str> {
        self.all.iter().map(|p| p.name.as_str()).collect()
    }
}

/// The one of `all` whose token is `token`. Every token is compared, each
/// in constant time, so that the time taken says nothing of which matched.
pub(crate) fn find_by_token<T>(all: &[Arc<T>], token: &str, token_of: impl Fn(&T) -> &str) -> Option<Arc<T>> {
    let mut found = None;
    for item in all {
        if bool::from(token_of(item).as_bytes().ct_eq(token.as_bytes())) {
            found = Some(item.clone());
        }
    }
    found
}

/// What a component may emit: the types it declares, and for a brand's own
/// component (every subscription filtered to one brand) that brand only.
#[derive(Debug, Clone, Default)]
pub struct EmitScope {
    types: Vec<String>,
    brand: Option<String>,
}

impl EmitScope {
    pub fn from_tool(tool: &AgentStoreTool) -> Self {
        Self { types: tool.emits.clone(), brand: tool.brand().map(str::to_string) }
    }

    /// Why `component` may not emit `event`, if it may not.
    pub fn refusal(&self, component: &str, event: &Event) -> Option<String> {
        if !self.types.iter().any(|p| type_matches(p, event.ty())) {
            return Some(format!(
                "`{component}` emitted {}, which it does not declare in `emits` (tool.agent-store of spin.toml)",
                event.ty()
            ));
        }
        let brand = self.brand.as_deref()?;
        let stated = attribute(event, ext::BRAND);
        if stated.as_deref() != Some(brand) {
            return Some(format!(
                "`{component}` is the `{brand}` brand's component and emitted {} for brand {}",
                event.ty(),
                stated.map(|b| format!("`{b}`")).unwrap_or_else(|| "none".into())
            ));
        }
        if let Some(data_brand) = data_brand(event)
            && data_brand != brand
        {
            return Some(format!(
                "`{component}` is the `{brand}` brand's component and emitted {} whose data names brand `{data_brand}`",
                event.ty()
            ));
        }
        None
    }
}

/// The `brand` field of JSON data, where the payload has one.
fn data_brand(event: &Event) -> Option<String> {
    let value = match event.data()? {
        Data::Json(value) => value.get("brand")?.as_str().map(str::to_string),
        Data::Binary(bytes) => {
            serde_json::from_slice::<serde_json::Value>(bytes).ok()?.get("brand")?.as_str().map(str::to_string)
        }
        Data::String(text) => {
            serde_json::from_str::<serde_json::Value>(text).ok()?.get("brand")?.as_str().map(str::to_string)
        }
    };
    value
}

/// Why events were not taken.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// Not CloudEvents, or not valid ones.
    #[error("{0}")]
    Malformed(String),
    /// Past one of the bounds of [`limits`].
    #[error("{0}")]
    Exceeded(#[from] Exceeded),
    /// The publisher may not publish this type (or brand).
    #[error("{0}")]
    Forbidden(String),
    /// The broker is full: try again later.
    #[error("{0}")]
    Full(Full),
    /// The broker did not take them.
    #[error("the broker did not take the events: {0}")]
    Unavailable(String),
}

impl IngressError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::Exceeded(_) => 400,
            Self::Forbidden(_) => 403,
            Self::Full(_) | Self::Unavailable(_) => 503,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Full(full) => Some(full.retry_after),
            _ => None,
        }
    }
}

impl AppInner {
    pub(crate) async fn ingest(
        &self,
        publisher: &Publisher,
        headers: &http::HeaderMap,
        body: Vec<u8>,
    ) -> Result<Vec<String>, IngressError> {
        let mut events =
            binding::decode(headers, body).map_err(|e| IngressError::Malformed(binding::redact(&e.to_string())))?;
        limits::check_batch(&events)?;
        self.authorize(publisher, &events)?;
        for event in &mut events {
            match publisher {
                Publisher::Component { cause: Some(cause), .. } => trace::stamp_caused(event, cause),
                _ => trace::stamp_external(event),
            }
        }
        let known = &crate::metrics::metrics().known;
        let by = match publisher {
            Publisher::Admin => known.admin(),
            Publisher::Producer(producer) => known.producer(&producer.name),
            Publisher::Component { id, .. } => known.component(id),
        };
        self.publish(&events, &by).await?;
        Ok(events.iter().map(|e| e.id().to_string()).collect())
    }

    fn authorize(&self, publisher: &Publisher, events: &[Event]) -> Result<(), IngressError> {
        match publisher {
            Publisher::Admin => Ok(()),
            Publisher::Producer(producer) => match events.iter().find(|e| !producer.may_publish(e.ty())) {
                Some(event) => Err(IngressError::Forbidden(format!(
                    "producer `{}` may not publish events of type {}",
                    producer.name,
                    event.ty()
                ))),
                None => Ok(()),
            },
            Publisher::Component { id, .. } => {
                let Some(component) = self.component(id) else {
                    return Err(IngressError::Forbidden(format!("`{id}` is not a running component")));
                };
                match events.iter().find_map(|e| component.scope.refusal(id, e)) {
                    Some(reason) => Err(IngressError::Forbidden(reason)),
                    None => Ok(()),
                }
            }
        }
    }

    /// Taps and publishes: tapped as they are handed over, not once the
    /// broker confirms, since a subscriber may already have handled an
    /// event (and published what it caused) by the time `publish` returns,
    /// and the tail must show causes before their effects. Counted once the
    /// broker has them, as published `by` (a [`Known`](crate::metrics::Known)
    /// label).
    pub(crate) async fn publish(&self, events: &[Event], by: &crate::metrics::Label) -> Result<(), IngressError> {
        for event in events {
            self.tap.record(TapRecord::published(event));
        }
        if let Err(error) = self.broker.publish(events).await {
            for event in events {
                self.tap.record(TapRecord {
                    kind: TapKind::Failed,
                    event: event.clone(),
                    component: None,
                    detail: Some(format!("the broker did not take it: {error:#}")),
                    elapsed_ms: None,
                    version: None,
                });
            }
            return Err(match error.downcast_ref::<Full>() {
                Some(full) => IngressError::Full(*full),
                None => IngressError::Unavailable(format!("{error:#}")),
            });
        }
        let metrics = crate::metrics::metrics();
        for event in events {
            metrics.published(event, by);
        }
        Ok(())
    }

    /// What `component` returned while handling the event `cause`: stamped
    /// one hop further, checked against its scope and the bounds, and the
    /// admitted ones tapped. The broker publishes them before it
    /// acknowledges the input, and dead-letters the refused.
    pub(crate) fn outputs(&self, component: &Component, cause: &Cause, events: Vec<Event>) -> Outputs {
        let mut outputs = Outputs::default();
        let metrics = crate::metrics::metrics();
        let by = metrics.known.component(&component.pre.id);
        for mut event in events {
            trace::stamp_caused(&mut event, cause);
            let refusal = match limits::check(&event) {
                Err(exceeded) => Some(format!("`{}` emitted {}: {exceeded}", component.pre.id, event.ty())),
                Ok(()) => component.scope.refusal(&component.pre.id, &event),
            };
            match refusal {
                Some(reason) => {
                    tracing::warn!(event_type = event.ty(), reason, "an emitted event was refused");
                    self.tap.record(TapRecord {
                        kind: TapKind::Rejected,
                        event: event.clone(),
                        component: Some(component.pre.id.to_string()),
                        detail: Some(reason.clone()),
                        elapsed_ms: None,
                        version: None,
                    });
                    outputs.refused.push(Refused { event, reason });
                }
                None => outputs.events.push(event),
            }
        }
        // Published once the broker has them, or (with staged writes) once
        // the delivery committed: a run that meets a conflict is run again
        // and what it emitted is never published.
        let (tap, published) = (self.tap.clone(), outputs.events.clone());
        let announce = move || {
            for event in &published {
                tap.record(TapRecord::published(event));
                metrics.published(event, &by);
            }
        };
        if self.broker.stages_writes() {
            outputs.announce = Some(crate::broker::Announce(Box::new(announce)));
        } else {
            announce();
        }
        outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn specs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn producers_are_scoped_to_their_patterns() -> Result<()> {
        let producers = Producers::parse(&specs(&[
            "shop=shop-token-0123456789:store.product.*",
            "crm=crm-token-0123456789:store.sales.escalate|store.chat.#",
        ]))?;
        let shop = producers.find("shop-token-0123456789").expect("found by its token");
        assert_eq!(shop.name, "shop");
        assert!(shop.may_publish("store.product.query"));
        assert!(!shop.may_publish("store.order.create"));
        let crm = producers.find("crm-token-0123456789").unwrap();
        assert!(crm.may_publish("store.chat.message.new") && crm.may_publish("store.sales.escalate"));
        assert!(producers.find("shop-token-012345678").is_none(), "a prefix is not the token");
        assert!(producers.find("").is_none());
        Ok(())
    }

    #[test]
    fn producer_specs_are_checked() {
        for bad in
            ["shop", "shop=short:store.#", "=0123456789abcdef:x", "a b=0123456789abcdef:x", "s=0123456789abcdef:"]
        {
            assert!(Producers::parse(&specs(&[bad])).is_err(), "{bad} must be refused");
        }
        let same_token = specs(&["a=0123456789abcdef:x", "b=0123456789abcdef:y"]);
        assert!(Producers::parse(&same_token).is_err());
    }

    fn event(ty: &str, brand: Option<&str>, data: serde_json::Value) -> Event {
        let mut builder = EventBuilderV10::new().id("1").source("/t").ty(ty).data("application/json", data);
        if let Some(brand) = brand {
            builder = builder.extension(ext::BRAND, brand);
        }
        builder.build().unwrap()
    }

    #[test]
    fn a_brand_component_emits_only_its_types_and_its_brand() {
        let scope = EmitScope { types: vec!["store.chat.response".into()], brand: Some("fashion".into()) };
        let ok = event("store.chat.response", Some("fashion"), serde_json::json!({ "brand": "fashion" }));
        assert_eq!(scope.refusal("seller-fashion", &ok), None);
        let undeclared = event("store.order.confirmed", Some("fashion"), serde_json::json!({}));
        assert!(scope.refusal("seller-fashion", &undeclared).unwrap().contains("does not declare"));
        let other_brand = event("store.chat.response", Some("tech"), serde_json::json!({}));
        assert!(scope.refusal("seller-fashion", &other_brand).unwrap().contains("`tech`"));
        let smuggled = event("store.chat.response", Some("fashion"), serde_json::json!({ "brand": "tech" }));
        assert!(scope.refusal("seller-fashion", &smuggled).unwrap().contains("data names brand `tech`"));
        let unbranded = event("store.chat.response", None, serde_json::json!({}));
        assert!(scope.refusal("seller-fashion", &unbranded).is_some());
        let shared = EmitScope { types: vec!["store.#".into()], brand: None };
        assert_eq!(shared.refusal("product-catalog", &other_brand), None);
    }
}
