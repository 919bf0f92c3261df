//! `store.sales.insight` payloads. Ids only, never the customer's name or
//! words: drafts come from templates (or the model, which is asked not to
//! address the customer by name), and figures are counts and rates.

use std::collections::BTreeMap;

use agent_store_events::{InsightKind, SalesInsight};
use chrono::{DateTime, Utc};

use crate::analytics;
use crate::model::{Escalation, Status};
use crate::suggest::{Objection, Suggestions, reason_text};

fn cart_value(escalation: &Escalation) -> f64 {
    escalation.escalate.cart.as_ref().map(|c| c.subtotal.amount_minor as f64 / 100.0).unwrap_or(0.0)
}

fn base(escalation: &Escalation, id: String, kind: InsightKind, now: DateTime<Utc>) -> SalesInsight {
    SalesInsight {
        insight_id: id,
        brand: escalation.escalate.brand.clone(),
        conversation: Some(escalation.escalate.conversation.clone()),
        escalation_id: Some(escalation.id().to_string()),
        seller_id: escalation.state.seller().map(str::to_string),
        kind,
        title: String::new(),
        detail: String::new(),
        metrics: BTreeMap::new(),
        generated_at: now,
    }
}

/// Strategies and the best draft, as one text for the human seller.
fn advice(suggestions: &Suggestions, objections: &[Objection]) -> String {
    let mut detail = String::new();
    for objection in objections {
        detail.push_str(&format!("{} objection: {}\n", capitalized(objection.kind.name()), objection.strategy));
    }
    if let Some(draft) = suggestions.drafts.first() {
        detail.push_str(&format!("Suggested reply ({}): {}", draft.source, draft.text));
    }
    detail.trim_end().to_string()
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn kinds(objections: &[Objection]) -> String {
    objections.iter().map(|o| o.kind.name()).collect::<Vec<_>>().join(", ")
}

/// When an escalation is queued: why, what is in the way, what to say.
pub fn escalation(escalation: &Escalation, suggestions: &Suggestions, now: DateTime<Utc>) -> SalesInsight {
    let mut insight = base(escalation, format!("ins-{}-queued", escalation.id()), InsightKind::Escalation, now);
    let reason = analytics::reason_name(escalation.escalate.reason);
    insight.title = match suggestions.objections.is_empty() {
        true => format!("Escalation ({reason}): {}", reason_text(escalation.escalate.reason)),
        false => format!("Escalation ({reason}): {} objection", kinds(&suggestions.objections)),
    };
    insight.detail = advice(suggestions, &suggestions.objections);
    insight.metrics.insert("sentiment".into(), f64::from(escalation.escalate.sentiment));
    insight.metrics.insert("cart_value".into(), cart_value(escalation));
    insight.metrics.insert("priority".into(), (escalation.priority(now) * 1000.0).round() / 1000.0);
    insight.metrics.insert("objections".into(), suggestions.objections.len() as f64);
    insight
}

/// When the customer writes into an accepted escalation: the objection in
/// that message, or a fresh reply draft.
pub fn message(
    escalation: &Escalation,
    message_id: &str,
    in_message: &[Objection],
    suggestions: &Suggestions,
    now: DateTime<Utc>,
) -> SalesInsight {
    let kind = if in_message.is_empty() { InsightKind::Escalation } else { InsightKind::Objection };
    let mut insight = base(escalation, format!("ins-{}-{message_id}", escalation.id()), kind, now);
    insight.title = match in_message.is_empty() {
        true => "New customer message: suggested reply".to_string(),
        false => format!("Objection: {}", kinds(in_message)),
    };
    insight.detail = advice(suggestions, in_message);
    insight.metrics.insert("objections".into(), in_message.len() as f64);
    insight
}

/// When an escalated conversation orders.
pub fn converted(escalation: &Escalation, order_id: &str, total: f64, now: DateTime<Utc>) -> SalesInsight {
    let mut insight = base(escalation, format!("ins-{}-converted", escalation.id()), InsightKind::BuyingSignal, now);
    insight.title = "An escalated conversation ordered".into();
    insight.detail = match &escalation.state {
        Status::Accepted { .. } => format!(
            "Order {order_id} was created while a human seller has the conversation: release it as sold when done."
        ),
        _ => format!("Order {order_id} was created after the escalation."),
    };
    insight.metrics.insert("order_total".into(), total);
    insight.metrics.insert("cart_value".into(), cart_value(escalation));
    insight
}

/// When a human seller releases: how it went, and the running figures.
pub fn released(escalation: &Escalation, report: &analytics::Report, now: DateTime<Utc>) -> SalesInsight {
    let mut insight = base(escalation, format!("ins-{}-released", escalation.id()), InsightKind::Performance, now);
    let seller = escalation.state.seller().unwrap_or("-");
    let resolution = match &escalation.state {
        Status::Released { resolution, .. } => {
            serde_json::to_value(resolution).ok().and_then(|v| v.as_str().map(str::to_string))
        }
        _ => None,
    };
    let resolution = resolution.unwrap_or_else(|| "open".into());
    insight.title = format!("{seller} released an escalation: {resolution}");
    insight.detail = format!(
        "{seller} handled a {} escalation of {}; it ended {resolution}.",
        analytics::reason_name(escalation.escalate.reason),
        escalation.escalate.brand
    );
    insight.metrics = analytics::release_metrics(report, escalation, now);
    insight
}
