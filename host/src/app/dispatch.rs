//! Delivery of a subscription's events to its component: the broker's
//! [`Handler`] for one component, and the policy of what a failure means.
//!
//! The component is looked up per event, so a new version swapped in while
//! the host runs takes the next event while in-flight ones finish on the
//! version they started with.

use std::sync::Weak;

use agent_store_runtime::capabilities::key_value::staged::Transaction;
use async_trait::async_trait;
use cloudevents::Event;
use tracing::Instrument;

use super::tap::{TapKind, TapRecord};
use super::trace::Cause;
use super::{AppInner, log_output};
use crate::broker::{Handler, Outcome};
use crate::metrics::DeliveryMetrics;

pub(crate) struct Dispatcher {
    app: Weak<AppInner>,
    component: String,
    metrics: DeliveryMetrics,
}

impl Dispatcher {
    pub(crate) fn new(app: Weak<AppInner>, component: String) -> Self {
        let metrics = DeliveryMetrics::new(&component);
        Self { app, component, metrics }
    }
}

#[async_trait]
impl Handler for Dispatcher {
    async fn handle(&self, event: Event, attempt: u32) -> Outcome {
        let Some(app) = self.app.upgrade() else {
            return Outcome::Retry("the host is shutting down".into());
        };
        // A broker that opened the delivery's span already (RabbitMQ) runs
        // this inside it.
        let current = tracing::Span::current();
        let span = if current.metadata().is_some_and(|m| m.name() == super::trace::DELIVERY_SPAN) {
            current
        } else {
            super::trace::delivery_span(&event, &self.component, app.broker.kind(), attempt)
        };
        let outcome = self.deliver(&app, event).instrument(span).await;
        self.metrics.settled(&outcome);
        outcome
    }

    fn calls_outside(&self) -> bool {
        let component = self.app.upgrade().and_then(|app| app.component(&self.component));
        component.is_some_and(|c| c.pre.sandbox.allowed_hosts.reaches_outside())
    }
}

impl Dispatcher {
    async fn deliver(&self, app: &std::sync::Arc<AppInner>, event: Event) -> Outcome {
        let component = self.component.as_str();
        let reject = |event: Event, reason: String, elapsed_ms: Option<u64>, version: Option<String>| {
            app.tap.record(TapRecord {
                kind: TapKind::Rejected,
                event,
                component: Some(component.to_string()),
                detail: Some(reason.clone()),
                elapsed_ms,
                version,
            });
            Outcome::Reject(reason)
        };
        // Events from the store's own doors were bounded there; one that
        // another producer put on the broker directly was not.
        if let Err(exceeded) = agent_store_events::binding::limits::check(&event) {
            return reject(event, format!("past the store's bounds: {exceeded}"), None, None);
        }
        let cause = Cause::of(&event);
        if cause.depth() > app.options.max_depth {
            let reason = format!("hop limit of {} reached: a loop between components?", app.options.max_depth);
            return reject(event, reason, None, None);
        }
        let Some(loaded) = app.component(component) else {
            return Outcome::Retry(format!("component `{component}` is not loaded"));
        };
        tracing::Span::current().record("version", &loaded.pre.digest[..12]);
        let brand = event.extension(agent_store_events::ext::BRAND).map(|v| v.to_string());
        let transaction = app.broker.stages_writes().then(Transaction::new);
        let ctx = app.call_context(component, Some(cause.clone()), brand, transaction);
        let running = self.metrics.running();
        let delivery = loaded.pre.deliver(&event, &ctx).await;
        drop(running);
        self.metrics.delivered(
            &event,
            &loaded.pre.digest,
            delivery.elapsed,
            delivery.memory,
            delivery.result.as_ref().err(),
        );
        log_output(component, &delivery.output);
        let elapsed_ms = Some(delivery.elapsed.as_millis() as u64);
        match delivery.result {
            Ok(emitted) => {
                tracing::debug!(emitted = emitted.len(), elapsed_ms, "delivered");
                app.tap.record(TapRecord {
                    kind: TapKind::Delivered,
                    event,
                    component: Some(component.to_string()),
                    detail: Some(format!("emitted {}", emitted.len())),
                    elapsed_ms,
                    version: Some(loaded.pre.digest.clone()),
                });
                let mut outputs = app.outputs(&loaded, &cause, emitted);
                outputs.staged = ctx.transaction.clone();
                Outcome::Done(outputs)
            }
            // What a failed or refused delivery wrote is dropped with its
            // transaction: the next attempt starts from the same state.
            // The component says the event is wrong and always will be:
            // retrying cannot help, so it is dead-lettered at once.
            Err(error) if error.is_refusal() => {
                let reason = agent_store_events::binding::redact(&format!("{component}: {error}"));
                tracing::warn!(version = &loaded.pre.digest[..12], error = %reason, "the component refused the event");
                reject(event, reason, elapsed_ms, Some(loaded.pre.digest.clone()))
            }
            // A 5xx, a trap, a timeout, a memory blow-up: worth another try.
            Err(error) => {
                let reason = agent_store_events::binding::redact(&format!("{component}: {error}"));
                tracing::warn!(version = &loaded.pre.digest[..12], error = %reason, "delivery failed");
                app.tap.record(TapRecord {
                    kind: TapKind::Failed,
                    event,
                    component: Some(component.to_string()),
                    detail: Some(reason.clone()),
                    elapsed_ms,
                    version: Some(loaded.pre.digest.clone()),
                });
                Outcome::Retry(reason)
            }
        }
    }
}
