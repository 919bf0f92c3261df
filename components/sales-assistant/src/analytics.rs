//! Sales analytics: counters kept with atomic increments under `stat/`,
//! read back into a report by brand and by human seller.
//!
//! Counters are incremented once per fact (a conversation seen, an
//! escalation queued, accepted, released, converted), at the place where
//! that fact is decided with compare-and-swap, so a redelivered event does
//! not count twice.

use std::collections::BTreeMap;

use agent_store_events::{EscalationReason, Resolution};
use agent_store_sdk::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Escalation, Status};
use crate::store::Store;

const PREFIX: &str = "stat/";

/// A key part from an id: `/` would split it.
fn part(id: &str) -> String {
    id.replace('/', "_")
}

fn snake<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "other".into())
}

fn brand_key(brand: &str, what: &str) -> String {
    format!("{PREFIX}brand/{}/{what}", part(brand))
}

fn seller_key(seller: &str, what: &str) -> String {
    format!("{PREFIX}seller/{}/{what}", part(seller))
}

pub fn conversation_started(store: &Store, brand: &str) -> Result<()> {
    store.increment(&brand_key(brand, "conversations"), 1).map(drop)
}

pub fn escalated(store: &Store, escalation: &Escalation) -> Result<()> {
    let brand = escalation.escalate.brand.as_str();
    store.increment(&brand_key(brand, "escalations"), 1)?;
    store.increment(&brand_key(brand, &format!("reason/{}", snake(&escalation.escalate.reason))), 1).map(drop)
}

pub fn accepted(store: &Store, escalation: &Escalation, seller: &str, now: DateTime<Utc>) -> Result<()> {
    let brand = escalation.escalate.brand.as_str();
    let waited = escalation.waited(now).num_milliseconds().max(0);
    store.increment(&brand_key(brand, "accepted"), 1)?;
    store.increment(&brand_key(brand, "accept_ms"), waited)?;
    store.increment(&seller_key(seller, "accepted"), 1)?;
    store.increment(&seller_key(seller, "accept_ms"), waited).map(drop)
}

pub fn released(store: &Store, escalation: &Escalation, seller: &str, resolution: Resolution) -> Result<()> {
    let brand = escalation.escalate.brand.as_str();
    let resolution = snake(&resolution);
    store.increment(&brand_key(brand, &format!("resolution/{resolution}")), 1)?;
    store.increment(&seller_key(seller, "released"), 1)?;
    store.increment(&seller_key(seller, &format!("resolution/{resolution}")), 1).map(drop)
}

/// An escalation went back to the AI seller without a human seller.
pub fn expired(store: &Store, escalation: &Escalation) -> Result<()> {
    store.increment(&brand_key(escalation.escalate.brand.as_str(), "expired"), 1).map(drop)
}

pub fn converted(store: &Store, escalation: &Escalation) -> Result<()> {
    store.increment(&brand_key(escalation.escalate.brand.as_str(), "converted"), 1)?;
    if let Some(seller) = escalation.state.seller() {
        store.increment(&seller_key(seller, "converted"), 1)?;
    }
    Ok(())
}

pub fn replied(store: &Store, seller: &str) -> Result<()> {
    store.increment(&seller_key(seller, "replies"), 1).map(drop)
}

/// One brand's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BrandFigures {
    pub conversations: i64,
    pub escalations: i64,
    /// Escalations per conversation seen; `null` before any conversation.
    pub escalation_rate: Option<f64>,
    pub by_reason: BTreeMap<String, i64>,
    pub accepted: i64,
    pub avg_time_to_accept_s: Option<f64>,
    pub resolutions: BTreeMap<String, i64>,
    /// Escalations no human seller took: they waited out their lifetime, or
    /// found the queue full.
    pub expired: i64,
    /// Escalated conversations that went on to order.
    pub conversions: i64,
    /// Conversions per escalation.
    pub conversion_rate: Option<f64>,
}

/// One human seller's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SellerFigures {
    pub accepted: i64,
    pub avg_time_to_accept_s: Option<f64>,
    pub replies: i64,
    pub released: i64,
    pub resolutions: BTreeMap<String, i64>,
    pub conversions: i64,
    /// Conversions per accepted escalation.
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub brands: BTreeMap<String, BrandFigures>,
    pub sellers: BTreeMap<String, SellerFigures>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 1000.0).round() / 1000.0)
}

fn seconds(total_ms: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| (total_ms as f64 / count as f64 / 100.0).round() / 10.0)
}

/// Reads every counter into a report.
pub fn report(store: &Store) -> Result<Report> {
    let mut counters = Vec::new();
    for key in store.keys(PREFIX)? {
        let value = store.counter(&key)?;
        counters.push((key[PREFIX.len()..].to_string(), value));
    }
    Ok(from_counters(&counters))
}

/// Builds the report from `(key without prefix, value)` pairs.
pub fn from_counters(counters: &[(String, i64)]) -> Report {
    let mut report = Report::default();
    let mut accept_ms: BTreeMap<(bool, String), i64> = BTreeMap::new();
    for (key, value) in counters {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["brand", brand, what @ ..] => {
                let b = report.brands.entry(brand.to_string()).or_default();
                match what {
                    ["conversations"] => b.conversations = *value,
                    ["escalations"] => b.escalations = *value,
                    ["reason", reason] => _ = b.by_reason.insert(reason.to_string(), *value),
                    ["accepted"] => b.accepted = *value,
                    ["accept_ms"] => _ = accept_ms.insert((true, brand.to_string()), *value),
                    ["resolution", resolution] => _ = b.resolutions.insert(resolution.to_string(), *value),
                    ["converted"] => b.conversions = *value,
                    ["expired"] => b.expired = *value,
                    _ => {}
                }
            }
            ["seller", seller, what @ ..] => {
                let s = report.sellers.entry(seller.to_string()).or_default();
                match what {
                    ["accepted"] => s.accepted = *value,
                    ["accept_ms"] => _ = accept_ms.insert((false, seller.to_string()), *value),
                    ["replies"] => s.replies = *value,
                    ["released"] => s.released = *value,
                    ["resolution", resolution] => _ = s.resolutions.insert(resolution.to_string(), *value),
                    ["converted"] => s.conversions = *value,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for (name, b) in &mut report.brands {
        b.escalation_rate = ratio(b.escalations, b.conversations);
        b.conversion_rate = ratio(b.conversions, b.escalations);
        b.avg_time_to_accept_s = seconds(accept_ms.get(&(true, name.clone())).copied().unwrap_or(0), b.accepted);
    }
    for (name, s) in &mut report.sellers {
        s.conversion_rate = ratio(s.conversions, s.accepted);
        s.avg_time_to_accept_s = seconds(accept_ms.get(&(false, name.clone())).copied().unwrap_or(0), s.accepted);
    }
    report
}

/// Named figures for a performance insight about one release: this
/// escalation, its seller and its brand so far.
pub fn release_metrics(report: &Report, escalation: &Escalation, now: DateTime<Utc>) -> BTreeMap<String, f64> {
    let mut metrics = BTreeMap::new();
    metrics.insert("time_to_accept_s".into(), escalation.waited(now).num_seconds() as f64);
    if let Status::Released { accepted_at, released_at, .. } = &escalation.state {
        metrics.insert("handling_time_s".into(), (*released_at - *accepted_at).num_seconds().max(0) as f64);
    }
    let mut put = |name: &str, value: Option<f64>| {
        if let Some(value) = value {
            metrics.insert(name.to_string(), value);
        }
    };
    if let Some(b) = report.brands.get(&part(escalation.escalate.brand.as_str())) {
        put("brand_escalations", Some(b.escalations as f64));
        put("brand_escalation_rate", b.escalation_rate);
        put("brand_conversion_rate", b.conversion_rate);
        put("brand_avg_time_to_accept_s", b.avg_time_to_accept_s);
    }
    if let Some(s) = escalation.state.seller().and_then(|seller| report.sellers.get(&part(seller))) {
        put("seller_released", Some(s.released as f64));
        put("seller_conversions", Some(s.conversions as f64));
        put("seller_avg_time_to_accept_s", s.avg_time_to_accept_s);
    }
    metrics
}

/// The reason as the report names it.
pub fn reason_name(reason: EscalationReason) -> String {
    snake(&reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_rates_and_averages() {
        let counters: Vec<(String, i64)> = [
            ("brand/fashion/conversations", 20),
            ("brand/fashion/escalations", 4),
            ("brand/fashion/reason/low_sentiment", 3),
            ("brand/fashion/reason/customer_request", 1),
            ("brand/fashion/accepted", 2),
            ("brand/fashion/accept_ms", 90_000),
            ("brand/fashion/resolution/sold", 1),
            ("brand/fashion/converted", 1),
            ("brand/tech/escalations", 1),
            ("seller/ana/accepted", 2),
            ("seller/ana/accept_ms", 90_000),
            ("seller/ana/replies", 5),
            ("seller/ana/released", 1),
            ("seller/ana/resolution/sold", 1),
            ("seller/ana/converted", 1),
            ("something/else", 7),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let report = from_counters(&counters);
        let fashion = &report.brands["fashion"];
        assert_eq!(fashion.escalation_rate, Some(0.2));
        assert_eq!(fashion.conversion_rate, Some(0.25));
        assert_eq!(fashion.avg_time_to_accept_s, Some(45.0));
        assert_eq!(fashion.by_reason["low_sentiment"], 3);
        assert_eq!(report.brands["tech"].escalation_rate, None, "no conversation seen");
        let ana = &report.sellers["ana"];
        assert_eq!((ana.accepted, ana.replies, ana.conversions, ana.conversion_rate), (2, 5, 1, Some(0.5)));
        assert_eq!(ana.resolutions["sold"], 1);
    }
}
