//! `GET /metrics`: what the host counts, in the Prometheus text format.
//!
//! One registry per process: a host process is one scrape target, however
//! many components it runs. Label values are bounded (component ids of the
//! manifest), never event ids or customer data.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabel {
    pub component: String,
}

pub struct Metrics {
    registry: Registry,
    /// Deliveries whose claim was abandoned by a host that died, run again.
    pub taken_over: Family<ComponentLabel, Counter>,
    /// Of those, the ones of components that may call outside the store
    /// (the WhatsApp Cloud API): an outside call may have been repeated.
    pub outside_calls_may_repeat: Family<ComponentLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("agent_store");
        let taken_over = Family::<ComponentLabel, Counter>::default();
        registry.register(
            "deliveries_taken_over",
            "Deliveries abandoned by a host that died (their claim expired or was left by a previous process), run again",
            taken_over.clone(),
        );
        let outside_calls_may_repeat = Family::<ComponentLabel, Counter>::default();
        registry.register(
            "outside_calls_may_repeat",
            "Deliveries run again after a crash by a component that calls outside the store: an outside call (a WhatsApp message) may have been made twice",
            outside_calls_may_repeat.clone(),
        );
        Self { registry, taken_over, outside_calls_may_repeat }
    }

    /// A delivery abandoned by a crash runs again in `component`.
    pub fn taken_over(&self, component: &str, calls_outside: bool) {
        let label = ComponentLabel { component: component.to_string() };
        self.taken_over.get_or_create(&label).inc();
        if calls_outside {
            self.outside_calls_may_repeat.get_or_create(&label).inc();
            tracing::warn!(component, "a delivery abandoned by a crash runs again: an outside call it made may repeat");
        } else {
            tracing::info!(component, "a delivery abandoned by a crash runs again");
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// This process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_in_the_prometheus_text_format() {
        let metrics = Metrics::new();
        metrics.taken_over("whatsapp-gateway", true);
        metrics.taken_over("seller-fashion", false);
        let text = metrics.render();
        assert!(text.contains("agent_store_deliveries_taken_over_total{component=\"whatsapp-gateway\"} 1"), "{text}");
        assert!(text.contains("agent_store_deliveries_taken_over_total{component=\"seller-fashion\"} 1"), "{text}");
        assert!(
            text.contains("agent_store_outside_calls_may_repeat_total{component=\"whatsapp-gateway\"} 1"),
            "{text}"
        );
        assert!(!text.contains("outside_calls_may_repeat_total{component=\"seller-fashion\"}"), "{text}");
    }
}
