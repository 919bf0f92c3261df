//! The queue's bounds: at most `max_queued` escalations wait at once, each
//! for at most `escalation_ttl` (see [`crate::settings`]). An escalation
//! that finds the queue full, or waits out its lifetime, expires: it leaves
//! the queue, and the AI seller of its brand gets a
//! `store.sales.escalation.released` from the assistant itself (resolution
//! `unresolved`), so it takes the conversation back instead of staying
//! silent for a person who will not come.
//!
//! Expiring is a compare-and-swap from `queued`, so it cannot undo an
//! accept that won first. The hand-back event has an id derived from the
//! escalation's, and is sent again when the customer writes before the AI
//! seller has spoken since: a hand-back lost with a failed publish is found
//! again when it matters, and a repeat is a no-op for the seller.

use agent_store_events::{EscalationReleased, EscalationWaiting, Resolution};
use agent_store_sdk::{AttributesWriter, Emit, Event, Result};
use chrono::{DateTime, Duration, Utc};

use crate::model::{Escalation, Expiry, Status};
use crate::store::{Store, Update};
use crate::{ID, QUEUE, analytics, index};

/// Puts `id` in the queue unless `max` escalations already wait; whether it
/// is in.
pub fn enqueue(store: &Store, id: &str, max: usize) -> Result<bool> {
    store.update(QUEUE, |current: Option<Vec<String>>| {
        let mut ids = current.unwrap_or_default();
        Ok(if ids.iter().any(|i| i == id) {
            Update::Keep(true)
        } else if ids.len() >= max {
            Update::Keep(false)
        } else {
            ids.push(id.to_string());
            Update::Write(ids, true)
        })
    })
}

/// Expires `id` if it is still queued (and, with a `ttl`, has waited it),
/// takes it off the queue and counts it; the escalation if this call expired it.
pub fn expire(
    store: &Store,
    id: &str,
    cause: Expiry,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Option<Escalation>> {
    let expired = store.update(&Escalation::key(id), |current: Option<Escalation>| {
        Ok(match current {
            Some(mut escalation)
                if escalation.state == Status::Queued && ttl.is_none_or(|ttl| escalation.is_due(now, ttl)) =>
            {
                escalation.state = Status::Expired { expired_at: now, cause };
                Update::Write(escalation.clone(), Some(escalation))
            }
            _ => Update::Keep(None),
        })
    })?;
    if let Some(escalation) = &expired {
        index(store, QUEUE, id, false)?;
        analytics::expired(store, escalation)?;
        eprintln!(
            "{ID}: escalation {id} of {} expired ({cause:?}): the AI seller takes it back",
            escalation.escalate.brand
        );
    }
    Ok(expired)
}

/// The `store.sales.escalation.released` that gives an expired escalation's
/// conversation back to its AI seller; `None` for any other state.
pub fn handed_back(escalation: &Escalation) -> Result<Option<Event>> {
    let Status::Expired { expired_at, cause } = &escalation.state else { return Ok(None) };
    let e = &escalation.escalate;
    let released = EscalationReleased {
        escalation_id: e.escalation_id.clone(),
        conversation: e.conversation.clone(),
        brand: e.brand.clone(),
        seller_id: ID.to_string(),
        resolution: Resolution::Unresolved,
        note: Some(cause.note().to_string()),
        released_at: *expired_at,
    };
    let mut event =
        Emit::new(ID, &released)?.brand(e.brand.to_string()).conversation(e.conversation.to_string()).build()?;
    event.set_id(format!("expired:{}", e.escalation_id));
    Ok(Some(event))
}

/// The queued escalations in the order human sellers see them: the most
/// urgent first (see [`crate::model::priority`]), the longest waiting first
/// among equals.
pub fn in_order(mut queued: Vec<Escalation>, now: DateTime<Utc>) -> Vec<Escalation> {
    queued.sort_by(|a, b| {
        b.priority(now).total_cmp(&a.priority(now)).then(a.escalate.escalated_at.cmp(&b.escalate.escalated_at))
    });
    queued
}

/// Where `escalation` stands in the queue now, in the order human sellers
/// see it, for the customer message `message_id`; `None` when it no longer
/// waits there.
pub fn waiting(
    store: &Store,
    escalation: &Escalation,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<EscalationWaiting>> {
    let ids: Vec<String> = store.get(QUEUE)?.unwrap_or_default();
    let mut queued = Vec::new();
    for id in &ids {
        if let Some(e) = store.get::<Escalation>(&Escalation::key(id))?.filter(|e| e.state == Status::Queued) {
            queued.push(e);
        }
    }
    let queued = in_order(queued, now);
    let Some(index) = queued.iter().position(|e| e.id() == escalation.id()) else { return Ok(None) };
    let e = &escalation.escalate;
    Ok(Some(EscalationWaiting {
        escalation_id: e.escalation_id.clone(),
        conversation: e.conversation.clone(),
        brand: e.brand.clone(),
        message_id: message_id.to_owned(),
        position: u32::try_from(index + 1).unwrap_or(u32::MAX),
        queued: u32::try_from(queued.len()).unwrap_or(u32::MAX),
        queued_at: escalation.queued_at,
    }))
}

/// Takes off the queue the ids of escalations that no longer wait there (a
/// call that died between moving an escalation and updating the queue), so
/// that they do not hold places in it.
pub fn tidy(store: &Store) -> Result<()> {
    let ids: Vec<String> = store.get(QUEUE)?.unwrap_or_default();
    for id in ids {
        let waiting = store.get::<Escalation>(&Escalation::key(&id))?.is_some_and(|e| e.state == Status::Queued);
        if !waiting {
            index(store, QUEUE, &id, false)?;
        }
    }
    Ok(())
}
