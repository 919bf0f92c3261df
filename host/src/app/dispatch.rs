//! Delivery of a subscription's events to its component: the broker's
//! [`Handler`] for one component.
//!
//! The template is looked up per event, so a new version swapped in while
//! the host runs takes the next event while in-flight ones finish on the
//! version they started with.

use std::sync::Weak;

use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};

use super::tap::{TapKind, TapRecord};
use super::{AppInner, log_output, trace};
use crate::broker::{Handler, Outcome};
use crate::runtime::{CallContext, DeliveryError};

pub(crate) struct Dispatcher {
    app: Weak<AppInner>,
    component: String,
}

impl Dispatcher {
    pub(crate) fn new(app: Weak<AppInner>, component: String) -> Self {
        Self { app, component }
    }
}

#[async_trait]
impl Handler for Dispatcher {
    async fn handle(&self, event: Event, attempt: u32) -> Outcome {
        let Some(app) = self.app.upgrade() else {
            return Outcome::Retry("the host is shutting down".into());
        };
        let component = self.component.as_str();
        let depth = trace::depth(&event);
        if depth > app.options.max_depth {
            let reason = format!(
                "hop limit of {} reached: a loop between components? (event {} of type {})",
                app.options.max_depth,
                event.id(),
                event.ty()
            );
            app.tap.record(TapRecord {
                kind: TapKind::Rejected,
                event,
                component: Some(component.to_string()),
                detail: Some(reason.clone()),
                elapsed_ms: None,
            });
            return Outcome::Reject(reason);
        }
        let Some(template) = app.components.load().get(component).cloned() else {
            return Outcome::Retry(format!("component `{component}` is not loaded"));
        };
        let ctx = CallContext { brand: event.extension(agent_store_events::ext::BRAND).map(|v| v.to_string()) };
        let delivery = template.deliver(&event, &ctx).await;
        log_output(component, &delivery.output);
        let elapsed_ms = Some(delivery.elapsed.as_millis() as u64);
        match delivery.result {
            Ok(mut emitted) => {
                for out in &mut emitted {
                    trace::stamp_caused(out, &event);
                }
                tracing::debug!(
                    component,
                    event_id = event.id(),
                    event_type = event.ty(),
                    emitted = emitted.len(),
                    elapsed_ms,
                    "delivered"
                );
                app.tap.record(TapRecord {
                    kind: TapKind::Delivered,
                    event,
                    component: Some(component.to_string()),
                    detail: Some(format!("emitted {}", emitted.len())),
                    elapsed_ms,
                });
                // The broker publishes these before it acknowledges the input.
                for out in &emitted {
                    app.tap.record(TapRecord {
                        kind: TapKind::Published,
                        event: out.clone(),
                        component: None,
                        detail: None,
                        elapsed_ms: None,
                    });
                }
                Outcome::Done(emitted)
            }
            Err(error) => {
                let retryable = error.is_retryable();
                tracing::warn!(
                    component,
                    event_id = event.id(),
                    event_type = event.ty(),
                    attempt,
                    version = &template.digest[..12],
                    error = %error,
                    "delivery failed{}",
                    if retryable { "" } else { ": the component refused the event" }
                );
                app.tap.record(TapRecord {
                    kind: if retryable { TapKind::Failed } else { TapKind::Rejected },
                    event,
                    component: Some(component.to_string()),
                    detail: Some(error.to_string()),
                    elapsed_ms,
                });
                match error {
                    DeliveryError::Rejected { .. } => Outcome::Reject(format!("{component}: {error}")),
                    DeliveryError::Failed(_) => Outcome::Retry(format!("{component}: {error}")),
                }
            }
        }
    }
}
