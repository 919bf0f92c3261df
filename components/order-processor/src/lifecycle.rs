//! Status changes after creation: paid, shipped, delivered, cancelled.
//!
//! One path for all of them, whoever asks (the payment hook, the shipping hook,
//! the orders API):
//!
//! 1. read the order and [`model::plan`] the change: a repeat answers at once,
//!    an invalid change is refused;
//! 2. move the stock in the catalog (commit on payment, release on
//!    cancellation): idempotent per order, so repeating it is harmless;
//! 3. save the order by compare-and-swap, with the change's events (the
//!    `store.order.*` event and the customer's notice) in its outbox and a
//!    claim to publish them; if another change won the race, start again
//!    from 1;
//! 4. publish the outbox, then empty it and drop the claim. A publish that
//!    fails drops the claim and leaves the events in the outbox, and whoever
//!    touches the order next (a retried webhook) publishes them: the store
//!    never has a change the events missed.
//!
//! Step 1 never plans on an order whose outbox still holds events: it waits
//! while their publisher's claim holds, and publishes them itself once the
//! claim is gone or has lapsed. So a change's events go out only after those
//! of the change before it, and only their claim holder publishes them: two
//! changes racing (a payment and a cancellation) reach the customer once
//! each, in the order they were saved, never an earlier notice again after
//! a later one.

use agent_store_events::{
    ChatResponse, Order, OrderCancelled, OrderConfirmed, OrderDelivered, OrderShipped, OutboundMessage, Responder,
};
use agent_store_sdk::kv::KvError;
use agent_store_sdk::{Emit, Event};
use chrono::{Duration, Utc};

use crate::catalog::{self, CatalogError};
use crate::kv::{self, Orders};
use crate::model::{self, Action, Claim, Plan, Refusal, StoredOrder};
use crate::voice::{self, Notice};

const COMPONENT: &str = "order-processor";

/// How long a claim to publish an order's events holds: longer than one call
/// of the component may run (`timeout`, 30 s by default), so a live publisher
/// never loses it, while a call killed holding it blocks the order's changes
/// for no longer than this.
const CLAIM: Duration = Duration::seconds(60);

/// How long a change waits for another change's events to go out before it
/// answers 503: publishing takes milliseconds, so waiting longer means that
/// publisher is stuck, and the caller's retry is the better remedy.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a waiting change looks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Why a change did not happen.
#[derive(Debug)]
pub enum Failure {
    NotFound(String),
    Refused(Refusal),
    /// The catalog refused the stock move (a 4xx): the order stays as it was.
    Catalog(CatalogError),
    /// Something that may work on a retry.
    Unavailable(String),
    /// Events of an earlier change are still being published: try again.
    Busy(String),
}

impl From<KvError> for Failure {
    fn from(e: KvError) -> Self {
        Failure::Unavailable(e.to_string())
    }
}

impl Failure {
    pub fn status(&self) -> u16 {
        match self {
            Failure::NotFound(_) => 404,
            Failure::Refused(refusal) => refusal.status(),
            Failure::Catalog(CatalogError::Refused { .. }) => 409,
            Failure::Catalog(CatalogError::Unavailable(_)) | Failure::Unavailable(_) | Failure::Busy(_) => 503,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Failure::NotFound(id) => {
                serde_json::json!({ "error": "unknown_order", "message": format!("no order {id}") })
            }
            Failure::Refused(refusal) => refusal.to_json(),
            Failure::Catalog(e @ CatalogError::Refused { refused, .. }) => serde_json::json!({
                "error": "stock_refused",
                "message": e.to_string(),
                "catalog_error": refused.refusal.code(),
            }),
            Failure::Catalog(e) => serde_json::json!({ "error": "unavailable", "message": e.to_string() }),
            Failure::Unavailable(message) => serde_json::json!({ "error": "unavailable", "message": message }),
            Failure::Busy(message) => serde_json::json!({ "error": "busy", "message": message }),
        }
    }
}

/// The order after the change, and whether this call changed it.
pub async fn change(order_id: &str, action: &Action) -> Result<(StoredOrder, bool), Failure> {
    let orders = kv::open()?;
    let key = model::order_key(order_id);
    let me = uuid::Uuid::new_v4().to_string();
    let waiting_since = std::time::Instant::now();
    loop {
        let bytes = orders.get(&key)?.ok_or_else(|| Failure::NotFound(order_id.to_string()))?;
        let stored = decode(order_id, &bytes)?;
        if !stored.outbox.is_empty() {
            if stored.is_publishing(Utc::now()) {
                if waiting_since.elapsed() >= WAIT {
                    return Err(Failure::Busy(format!(
                        "the events of an earlier change of order {order_id} are still being published; try again"
                    )));
                }
                std::thread::sleep(POLL);
                continue;
            }
            // Left by a publish that failed or a call that died: out first.
            let mut claimed = stored;
            claimed.publishing = Some(claim(&me));
            if orders.swap(&key, Some(&bytes), &encode(&claimed)?)? {
                flush(&orders, claimed, &me).await?;
            }
            continue;
        }
        match model::plan(&stored, action).map_err(Failure::Refused)? {
            Plan::Duplicate => return Ok((stored, false)),
            Plan::Move => {}
        }
        match action {
            Action::Pay(_) => catalog::commit(order_id).await.map_err(Failure::Catalog)?,
            Action::Cancel(_) => catalog::release(order_id).await.map_err(Failure::Catalog)?,
            Action::Ship(_) | Action::Deliver(_) => {}
        }
        let was_paid = stored.payment.is_some();
        let mut updated = model::apply(stored, action, Utc::now());
        for event in events(&updated, action, was_paid).map_err(|e| Failure::Unavailable(e.to_string()))? {
            updated.outbox.push(serde_json::to_value(&event).map_err(|e| Failure::Unavailable(e.to_string()))?);
        }
        updated.publishing = Some(claim(&me));
        if orders.swap(&key, Some(&bytes), &encode(&updated)?)? {
            let updated = flush(&orders, updated, &me).await?;
            return Ok((updated, true));
        }
        // Another change won; plan again on what it left.
    }
}

fn claim(me: &str) -> Claim {
    Claim { by: me.to_string(), until: Utc::now() + CLAIM }
}

fn decode(order_id: &str, bytes: &[u8]) -> Result<StoredOrder, Failure> {
    serde_json::from_slice(bytes).map_err(|e| Failure::Unavailable(format!("order {order_id} is unreadable: {e}")))
}

fn encode(stored: &StoredOrder) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(stored).map_err(|e| Failure::Unavailable(e.to_string()))
}

/// Publishes the outbox of an order this call (`me`) claimed, then takes the
/// published events out of it and drops the claim; if publishing fails, only
/// drops the claim, so that the next call publishes them at once.
async fn flush(orders: &Orders, claimed: StoredOrder, me: &str) -> Result<StoredOrder, Failure> {
    let order_id = claimed.order.id.to_string();
    let events: Vec<Event> = claimed
        .outbox
        .iter()
        .map(|value| serde_json::from_value(value.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::Unavailable(format!("an unreadable event in the outbox: {e}")))?;
    let published = agent_store_sdk::publish(&events).await;
    let key = model::order_key(&order_id);
    loop {
        let Some(bytes) = orders.get(&key)? else {
            return Ok(claimed);
        };
        let mut current = decode(&order_id, &bytes)?;
        if published.is_ok() {
            current.outbox.retain(|event| !claimed.outbox.contains(event));
        }
        if current.publishing.as_ref().is_some_and(|claim| claim.by == me) {
            current.publishing = None;
        }
        if orders.swap(&key, Some(&bytes), &encode(&current)?)? {
            return match published {
                Ok(()) => Ok(current),
                Err(e) => {
                    Err(Failure::Unavailable(format!("the order changed but its events wait to be published: {e}")))
                }
            };
        }
    }
}

/// The `store.order.*` event of a change and the customer's notice of it.
fn events(stored: &StoredOrder, action: &Action, was_paid: bool) -> agent_store_sdk::Result<Vec<Event>> {
    let order = &stored.order;
    let (brand, conversation) = (order.brand.as_str(), order.conversation.as_str());
    let emit = |event: Emit| event.brand(brand).conversation(conversation).build();
    let signer = match crate::kv::open() {
        Ok(orders) => crate::brands::signer(&orders, brand)?,
        Err(e) => return Err(agent_store_sdk::Error::failed(e)),
    };
    let (status_event, notice) = status_change(order, action, was_paid, signer.as_deref());
    let status_event = emit(status_event?)?;
    let mut message = OutboundMessage::text(notice);
    if let (Action::Ship(shipment), OutboundMessage::Text { preview_url, .. }) = (action, &mut message) {
        *preview_url = shipment.tracking_url.is_some();
    }
    let response = ChatResponse {
        conversation: order.conversation.clone(),
        brand: order.brand.clone(),
        in_reply_to: None,
        from: Responder::System,
        messages: vec![message],
    };
    response.validate().map_err(agent_store_sdk::Error::failed)?;
    let notice_event = emit(Emit::new(COMPONENT, &response)?)?;
    Ok(vec![status_event, notice_event])
}

/// The status event of a change, and what the customer is told of it in the
/// brand's voice and the order's language.
fn status_change(
    order: &Order,
    action: &Action,
    was_paid: bool,
    signer: Option<&str>,
) -> (agent_store_sdk::Result<Emit>, String) {
    let brand = order.brand.as_str();
    let lang = voice::language(order.language.as_deref());
    let id = order.id.as_str();
    match action {
        Action::Pay(payment) => (
            Emit::new(
                COMPONENT,
                &OrderConfirmed {
                    order_id: order.id.clone(),
                    conversation: order.conversation.clone(),
                    brand: order.brand.clone(),
                    payment: payment.clone(),
                    confirmed_at: Utc::now(),
                },
            ),
            voice::notice_by(brand, signer, lang, id, &Notice::Confirmed { total: &order.total, lines: &order.lines }),
        ),
        Action::Ship(shipment) => (
            Emit::new(
                COMPONENT,
                &OrderShipped {
                    order_id: order.id.clone(),
                    conversation: order.conversation.clone(),
                    brand: order.brand.clone(),
                    carrier: shipment.carrier.clone(),
                    tracking_number: shipment.tracking_number.clone(),
                    tracking_url: shipment.tracking_url.clone(),
                    shipped_at: shipment.shipped_at,
                },
            ),
            voice::notice_by(
                brand,
                signer,
                lang,
                id,
                &Notice::Shipped {
                    carrier: &shipment.carrier,
                    tracking_number: &shipment.tracking_number,
                    tracking_url: shipment.tracking_url.as_deref(),
                },
            ),
        ),
        Action::Deliver(at) => (
            Emit::new(
                COMPONENT,
                &OrderDelivered {
                    order_id: order.id.clone(),
                    conversation: order.conversation.clone(),
                    brand: order.brand.clone(),
                    delivered_at: *at,
                },
            ),
            voice::notice_by(brand, signer, lang, id, &Notice::Delivered),
        ),
        Action::Cancel(cancellation) => (
            Emit::new(
                COMPONENT,
                &OrderCancelled {
                    order_id: order.id.clone(),
                    conversation: order.conversation.clone(),
                    brand: order.brand.clone(),
                    reason: cancellation.reason.clone(),
                    cancelled_at: cancellation.cancelled_at,
                },
            ),
            voice::notice_by(
                brand,
                signer,
                lang,
                id,
                &Notice::Cancelled { reason: &cancellation.reason, refund: was_paid },
            ),
        ),
    }
}
