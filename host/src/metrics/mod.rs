//! `GET /metrics`: what the host counts, in the Prometheus text format
//! (`docs/operations.md` lists every metric).
//!
//! One registry per process: a host process is one scrape target, however
//! many components it runs. Label values are bounded: component ids and
//! brands the manifest (or a deploy) names, event types of the contract,
//! model names of `ai_models`, fixed reason classes. Anything else reads
//! `other`; event ids, conversations, phone numbers and message text are
//! never labels.
//!
//! Counting is split where the facts are:
//! * [`Metrics::published`] at the one way in (`app::ingress`), which also
//!   derives the business view ([`business`]);
//! * [`DeliveryMetrics`], one per subscription, at the dispatcher;
//! * dead letters and reconnects where the brokers do them;
//! * LLM calls through the runtime's [`CallObserver`] hook;
//! * broker state read at scrape time ([`Metrics::observe_broker`]).

mod business;
mod labels;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agent_store_events::types;
use agent_store_runtime::CallError;
use agent_store_runtime::DeliveryError;
use agent_store_runtime::capabilities::llm::{CallObserver, ModelCall};
use cloudevents::{AttributesReader, Event};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use self::business::Business;
pub use self::labels::Known;

/// A label value: shared, so that taking one per event copies no text.
pub type Label = Arc<str>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabel {
    pub component: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PublishedLabels {
    pub r#type: &'static str,
    pub brand: Label,
    pub publisher: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveredLabels {
    pub r#type: &'static str,
    pub brand: Label,
    pub component: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub component: Label,
    pub version: Label,
}

/// What one delivery attempt came to, as the dispatcher decided it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(non_camel_case_types, reason = "the label values as Prometheus shows them")]
pub enum DeliveryOutcome {
    /// Handled: its outputs go to the broker.
    ok,
    /// Failed this time: the broker tries again, or gives up and
    /// dead-letters it after the last attempt.
    failed,
    /// Refused for good (by the component or the host): dead-lettered now.
    rejected,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub component: Label,
    pub outcome: DeliveryOutcome,
}

/// The sandbox limit an invocation ran into.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(non_camel_case_types, reason = "the label values as Prometheus shows them")]
pub enum Limit {
    time,
    memory,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub component: Label,
    pub limit: Limit,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BrokerLabel {
    pub broker: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub brand: Label,
    pub model: Label,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(non_camel_case_types, reason = "the label values as Prometheus shows them")]
pub enum CallResult {
    ok,
    failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelCallLabels {
    pub brand: Label,
    pub model: Label,
    pub outcome: CallResult,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(non_camel_case_types, reason = "the label values as Prometheus shows them")]
pub enum TokenKind {
    prompt,
    generated,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub brand: Label,
    pub model: Label,
    pub kind: TokenKind,
}

/// A stage of a RabbitMQ delivery, in the order a delivery passes them.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(non_camel_case_types, reason = "the label values as Prometheus shows them")]
pub enum Stage {
    /// Received, waiting behind its conversation and for a free slot.
    queued,
    /// Its idempotency record claimed.
    claim,
    /// The component ran (with what it called in turn).
    run,
    /// Its outputs and staged writes committed with the record.
    record,
    /// Its outputs published and confirmed by the broker.
    publish,
    /// The input acknowledged.
    ack,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub component: Label,
    pub stage: Stage,
}

/// The stages of a delivery take from tens of microseconds (an ack) to the
/// component's time limit.
fn stage_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.5, 16)
}

/// A delivery takes from a millisecond (a cache hit) to the component's
/// time limit (a minute at most in the manifests we ship).
fn delivery_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.5, 13)
}

/// A model call takes from tens of milliseconds to the backend's timeout.
fn model_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.05, 2.0, 12)
}

/// An instance takes from a few hundred KiB (a small Rust component) to
/// the sandbox's memory limit.
fn memory_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(256.0 * 1024.0, 2.0, 12)
}

type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    /// Which components, brands and producers may be label values.
    pub known: Known,
    /// Deliveries whose claim was abandoned by a host that died, run again.
    pub taken_over: Family<ComponentLabel, Counter>,
    /// Of those, the ones of components that may call outside the store
    /// (the WhatsApp Cloud API): an outside call may have been repeated.
    pub outside_calls_may_repeat: Family<ComponentLabel, Counter>,
    published: Family<PublishedLabels, Counter>,
    delivered: Family<DeliveredLabels, Counter>,
    duration: Histograms<VersionLabels>,
    outcomes: Family<OutcomeLabels, Counter>,
    in_flight: Family<ComponentLabel, Gauge>,
    dead_letters: Family<ComponentLabel, Counter>,
    limits: Family<LimitLabels, Counter>,
    memory: Histograms<ComponentLabel>,
    broker_connected: Family<BrokerLabel, Gauge>,
    broker_reconnects: Family<BrokerLabel, Counter>,
    broker_pending: Family<BrokerLabel, Gauge>,
    model_calls: Family<ModelCallLabels, Counter>,
    model_duration: Histograms<ModelLabels>,
    tokens: Family<TokenLabels, Counter>,
    stages: Histograms<StageLabels>,
    /// The business view, derived from what passes the ingress.
    pub business: Business,
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
        let published = Family::default();
        registry.register(
            "events_published",
            "Events taken in at the ingress (POST /events, a component's emits, the host's own), by type, brand and publisher",
            Family::clone(&published),
        );
        let delivered = Family::default();
        registry.register(
            "events_delivered",
            "Delivery attempts handed to a component, by event type, brand and component",
            Family::clone(&delivered),
        );
        let duration: Histograms<VersionLabels> = Family::new_with_constructor(|| Histogram::new(delivery_buckets()));
        registry.register(
            "delivery_duration_seconds",
            "Time a component took to handle one delivery, by component and version (the first 12 hex digits of the .wasm's sha256)",
            duration.clone(),
        );
        let outcomes = Family::default();
        registry.register(
            "delivery_outcomes",
            "What each delivery attempt came to: ok, failed (tried again, or dead-lettered after the last attempt) or rejected (dead-lettered at once)",
            Family::clone(&outcomes),
        );
        let in_flight = Family::default();
        registry.register("deliveries_in_flight", "Deliveries a component is handling now", Family::clone(&in_flight));
        let dead_letters = Family::default();
        registry.register(
            "dead_letters",
            "Events the broker put in the dead letters, by the component that failed or refused them (refused outputs under the component that emitted them)",
            Family::clone(&dead_letters),
        );
        let limits = Family::default();
        registry.register(
            "wasm_limits_hit",
            "Invocations stopped by the sandbox: past the time limit (epoch interruption) or the memory limit",
            Family::clone(&limits),
        );
        let memory: Histograms<ComponentLabel> = Family::new_with_constructor(|| Histogram::new(memory_buckets()));
        registry.register(
            "wasm_memory_bytes",
            "Linear memory an instance held when its invocation ended (deliveries and route requests), by component",
            memory.clone(),
        );
        let broker_connected = Family::default();
        registry.register(
            "broker_connected",
            "1 while the broker takes events (read at scrape time), 0 otherwise",
            Family::clone(&broker_connected),
        );
        let broker_reconnects = Family::default();
        registry.register(
            "broker_reconnects",
            "Times the host reconnected to the broker after losing it",
            Family::clone(&broker_reconnects),
        );
        let broker_pending = Family::default();
        registry.register(
            "broker_pending_deliveries",
            "Deliveries this host holds and has not settled: queued, waiting for a retry or being handled (memory); received and not yet acknowledged (rabbitmq)",
            Family::clone(&broker_pending),
        );
        let model_calls = Family::default();
        registry.register(
            "llm_calls",
            "Model calls (inference and embeddings) by brand, model and outcome",
            Family::clone(&model_calls),
        );
        let model_duration: Histograms<ModelLabels> = Family::new_with_constructor(|| Histogram::new(model_buckets()));
        registry.register(
            "llm_call_duration_seconds",
            "Time a model call took, retries included, by brand and model",
            model_duration.clone(),
        );
        let tokens = Family::default();
        registry.register(
            "llm_tokens",
            "Tokens the model servers reported, by brand, model and kind (prompt or generated)",
            Family::clone(&tokens),
        );
        let stages: Histograms<StageLabels> = Family::new_with_constructor(|| Histogram::new(stage_buckets()));
        registry.register(
            "delivery_stage_seconds",
            "Where a RabbitMQ delivery's time goes, by component and stage: queued (waiting behind its conversation or for a slot), claim (the idempotency record), run (the component), record (outputs and writes committed), publish (outputs confirmed by the broker), ack",
            stages.clone(),
        );
        let business = Business::register(&mut registry);
        Self {
            registry,
            known: Known::default(),
            taken_over,
            outside_calls_may_repeat,
            published,
            delivered,
            duration,
            outcomes,
            in_flight,
            dead_letters,
            limits,
            memory,
            broker_connected,
            broker_reconnects,
            broker_pending,
            model_calls,
            model_duration,
            tokens,
            stages,
            business,
        }
    }

    /// Learns the label values of `manifest` (the host's, or a deployed
    /// package's) and creates its components' and brands' series at zero,
    /// so that a dashboard shows a quiet brand as 0 rather than no data,
    /// and `increase()` sees the first event of each.
    pub fn add_manifest(&self, manifest: &agent_store_manifest::Manifest) {
        self.known.add_manifest(manifest);
        for (id, entry) in &manifest.component {
            let component = self.known.component(id);
            let _ = self.dead_letters.get_or_create(&ComponentLabel { component });
            let Some(brand) = manifest.tool(id).ok().and_then(|tool| tool.brand().map(str::to_string)) else {
                continue;
            };
            let brand = self.known.brand(Some(&brand));
            self.business.zero(&brand);
            for model in &entry.ai_models {
                let model = self.known.model(model);
                for outcome in [CallResult::ok, CallResult::failed] {
                    let _ = self.model_calls.get_or_create(&ModelCallLabels {
                        brand: brand.clone(),
                        model: model.clone(),
                        outcome,
                    });
                }
                for kind in [TokenKind::prompt, TokenKind::generated] {
                    let _ =
                        self.tokens.get_or_create(&TokenLabels { brand: brand.clone(), model: model.clone(), kind });
                }
                let _ = self.model_duration.get_or_create(&ModelLabels { brand: brand.clone(), model });
            }
        }
    }

    /// A delivery abandoned by a crash runs again in `component`.
    pub fn taken_over(&self, component: &str, calls_outside: bool) {
        let label = ComponentLabel { component: self.known.component(component) };
        self.taken_over.get_or_create(&label).inc();
        if calls_outside {
            self.outside_calls_may_repeat.get_or_create(&label).inc();
            tracing::warn!(component, "a delivery abandoned by a crash runs again: an outside call it made may repeat");
        } else {
            tracing::info!(component, "a delivery abandoned by a crash runs again");
        }
    }

    /// `event` passed the ingress, published by `publisher` (a label of
    /// [`Known::publisher`]): counted, and read for the business view.
    pub fn published(&self, event: &Event, publisher: &Label) {
        let r#type = event_type(event.ty());
        let brand = self.known.brand_of(event);
        let labels = PublishedLabels { r#type, brand, publisher: publisher.clone() };
        self.published.get_or_create(&labels).inc();
        self.business.saw(event, r#type, &labels.brand);
    }

    /// An event went to the dead letters; `component` failed or refused it
    /// (or emitted it, for a refused output).
    pub fn dead_lettered(&self, component: &str) {
        self.dead_letters.get_or_create(&ComponentLabel { component: self.known.component(component) }).inc();
    }

    /// An HTTP route's call ended holding `memory` bytes of linear memory.
    pub fn route_called(&self, component: &str, memory: u64) {
        if memory > 0 {
            self.memory
                .get_or_create(&ComponentLabel { component: self.known.component(component) })
                .observe(memory as f64);
        }
    }

    /// An HTTP route's call failed with `error`.
    pub fn call_failed(&self, component: &str, error: &CallError) {
        if let Some(limit) = limit_of(error) {
            let labels = LimitLabels { component: self.known.component(component), limit };
            self.limits.get_or_create(&labels).inc();
        }
    }

    /// The host lost the broker and has it back.
    pub fn reconnected(&self, broker: &'static str) {
        self.broker_reconnects.get_or_create(&BrokerLabel { broker }).inc();
    }

    /// The broker's state, read when Prometheus scrapes.
    pub fn observe_broker(&self, broker: &'static str, connected: bool, pending: Option<usize>) {
        let label = BrokerLabel { broker };
        self.broker_connected.get_or_create(&label).set(i64::from(connected));
        // Created at zero, so that a dashboard sees the series before the
        // first reconnect.
        let _ = self.broker_reconnects.get_or_create(&label);
        if let Some(pending) = pending {
            self.broker_pending.get_or_create(&label).set(i64::try_from(pending).unwrap_or(i64::MAX));
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

/// The contract's name for `ty`, or `other`: a producer on the broker may
/// publish any type, and each would be a series.
pub fn event_type(ty: &str) -> &'static str {
    types::ALL.iter().find(|t| **t == ty).copied().unwrap_or("other")
}

fn limit_of(error: &CallError) -> Option<Limit> {
    match error {
        CallError::TimedOut(_) => Some(Limit::time),
        CallError::OutOfMemory(_) => Some(Limit::memory),
        CallError::Trapped(_) | CallError::Setup(_) => None,
    }
}

/// One subscription's stage histograms, taken once so that a delivery
/// observes handles instead of looking its labels up.
pub struct StageTimes([Histogram; 6]);

impl StageTimes {
    pub fn new(component: &str) -> Self {
        let m = metrics();
        let component = m.known.component(component);
        let stage = |stage| m.stages.get_or_create(&StageLabels { component: component.clone(), stage }).clone();
        Self([
            stage(Stage::queued),
            stage(Stage::claim),
            stage(Stage::run),
            stage(Stage::record),
            stage(Stage::publish),
            stage(Stage::ack),
        ])
    }

    /// `stage` took from `since` until now; returns now, where the next
    /// stage starts.
    pub fn observe(&self, stage: Stage, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        self.0[stage as usize].observe((now - since).as_secs_f64());
        now
    }
}

/// One subscription's counters, taken once so that a delivery increments
/// handles instead of looking its labels up.
pub struct DeliveryMetrics {
    component: Label,
    outcomes: [Counter; 3],
    in_flight: Gauge,
    limits: [Counter; 2],
    memory: Histogram,
    /// The latency histogram of the version that served last: a version
    /// changes only with a deploy.
    latency: Mutex<Option<(String, Histogram)>>,
}

/// Counts a delivery in flight until dropped.
pub struct Running<'a>(&'a Gauge);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl DeliveryMetrics {
    pub fn new(component: &str) -> Self {
        let m = metrics();
        let component = m.known.component(component);
        let outcome =
            |outcome| m.outcomes.get_or_create(&OutcomeLabels { component: component.clone(), outcome }).clone();
        let limit = |limit| m.limits.get_or_create(&LimitLabels { component: component.clone(), limit }).clone();
        // At zero from the start: a crash's take-over is rare, and a
        // dashboard should see 0 until it happens.
        let _ = m.taken_over.get_or_create(&ComponentLabel { component: component.clone() });
        Self {
            outcomes: [
                outcome(DeliveryOutcome::ok),
                outcome(DeliveryOutcome::failed),
                outcome(DeliveryOutcome::rejected),
            ],
            in_flight: m.in_flight.get_or_create(&ComponentLabel { component: component.clone() }).clone(),
            limits: [limit(Limit::time), limit(Limit::memory)],
            memory: m.memory.get_or_create(&ComponentLabel { component: component.clone() }).clone(),
            latency: Mutex::new(None),
            component,
        }
    }

    /// A delivery starts: in flight until the guard drops.
    pub fn running(&self) -> Running<'_> {
        self.in_flight.inc();
        Running(&self.in_flight)
    }

    /// The component ran for `event` (version `digest`) for `elapsed`,
    /// holding `memory` bytes of linear memory at the end.
    pub fn delivered(
        &self,
        event: &Event,
        digest: &str,
        elapsed: Duration,
        memory: u64,
        error: Option<&DeliveryError>,
    ) {
        let m = metrics();
        if event.ty() == types::BRAND_ONBOARDED {
            // Its brand is one the store runs from now on.
            if let Some(brand) = event.extension(agent_store_events::ext::BRAND) {
                m.known.add_brand(&brand.to_string());
            }
        }
        let labels = DeliveredLabels {
            r#type: event_type(event.ty()),
            brand: m.known.brand_of(event),
            component: self.component.clone(),
        };
        m.delivered.get_or_create(&labels).inc();
        self.latency(digest).observe(elapsed.as_secs_f64());
        if memory > 0 {
            self.memory.observe(memory as f64);
        }
        if let Some(DeliveryError::Call(error)) = error
            && let Some(limit) = limit_of(error)
        {
            self.limits[limit as usize].inc();
        }
    }

    fn latency(&self, digest: &str) -> Histogram {
        let mut latest = self.latency.lock().unwrap();
        if let Some((version, histogram)) = latest.as_ref()
            && version == digest
        {
            return histogram.clone();
        }
        let version: Label = Arc::from(digest.get(..12).unwrap_or(digest));
        let labels = VersionLabels { component: self.component.clone(), version };
        let histogram = metrics().duration.get_or_create(&labels).clone();
        *latest = Some((digest.to_string(), histogram.clone()));
        histogram
    }

    /// What the attempt came to.
    pub fn settled(&self, outcome: &crate::broker::Outcome) {
        let outcome = match outcome {
            crate::broker::Outcome::Done(_) => DeliveryOutcome::ok,
            crate::broker::Outcome::Retry(_) => DeliveryOutcome::failed,
            crate::broker::Outcome::Reject(_) => DeliveryOutcome::rejected,
        };
        self.outcomes[outcome as usize].inc();
    }
}

/// Counts the LLM capability's calls: the runtime reports each one here.
pub struct ModelMetrics;

impl CallObserver for ModelMetrics {
    fn observe(&self, call: &ModelCall<'_>) {
        let m = metrics();
        let brand = m.known.brand(call.brand);
        let model = m.known.model(call.model);
        let outcome = if call.tokens.is_some() { CallResult::ok } else { CallResult::failed };
        m.model_calls.get_or_create(&ModelCallLabels { brand: brand.clone(), model: model.clone(), outcome }).inc();
        m.model_duration
            .get_or_create(&ModelLabels { brand: brand.clone(), model: model.clone() })
            .observe(call.elapsed.as_secs_f64());
        if let Some((prompt, generated)) = call.tokens {
            let tokens = |kind| TokenLabels { brand: brand.clone(), model: model.clone(), kind };
            m.tokens.get_or_create(&tokens(TokenKind::prompt)).inc_by(u64::from(prompt));
            m.tokens.get_or_create(&tokens(TokenKind::generated)).inc_by(u64::from(generated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[test]
    fn counts_render_in_the_prometheus_text_format() {
        let metrics = Metrics::new();
        metrics.known.add_component("whatsapp-gateway");
        metrics.known.add_component("seller-fashion");
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

    fn event(ty: &str, brand: Option<&str>) -> Event {
        let mut builder = EventBuilderV10::new().id("ev-1").source("/t").ty(ty);
        if let Some(brand) = brand {
            builder = builder.extension("brand", brand);
        }
        builder.build().unwrap()
    }

    #[test]
    fn unknown_types_brands_and_publishers_read_other() {
        let metrics = Metrics::new();
        metrics.known.add_brand("fashion");
        metrics.known.add_component("seller-fashion");
        let seller = metrics.known.component("seller-fashion");
        metrics.published(&event("store.chat.response", Some("fashion")), &seller);
        metrics.published(&event("store.chat.response", Some("+34600000000")), &seller);
        metrics.published(&event("made.up.type", None), &metrics.known.component("not-a-component"));
        let text = metrics.render();
        for line in [
            r#"agent_store_events_published_total{type="store.chat.response",brand="fashion",publisher="seller-fashion"} 1"#,
            r#"agent_store_events_published_total{type="store.chat.response",brand="other",publisher="seller-fashion"} 1"#,
            r#"agent_store_events_published_total{type="other",brand="none",publisher="other"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("+34600000000"), "{text}");
    }
}
