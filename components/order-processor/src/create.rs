//! `store.order.create` → `store.order.created` or `store.order.rejected`.
//!
//! The request says only what the customer chose. The processor checks the
//! shape, has the catalog reserve the stock and price every line (the
//! catalog's prices are the only ones used), and compares the total with the
//! one the customer was shown: a difference rejects the order (`total_mismatch`,
//! the reservation released) rather than charge what the customer did not see.
//!
//! Idempotent by request: the answer is stored under a digest of the
//! `request_id` with who sent it and what it asks for
//! ([`model::request_digest`]), and a redelivered request gets it again; the
//! same `request_id` from another conversation or customer is another request.
//! The order id is derived from the same digest, so a retry after a crash
//! finds the catalog's reservation instead of making a second one.

use agent_store_events::stock::{LineError, MAX_LINES, normalize_lines};
use agent_store_events::{
    Money, Order, OrderCreate, OrderCreated, OrderId, OrderLine, OrderRejected, OrderRequestLine, OrderStatus,
    ProductId, RejectionReason, StockRefusal, StockRefused, ext,
};
use agent_store_sdk::{Error, Event, Incoming, Result};

use crate::catalog::{self, CatalogError};
use crate::kv::{self, Orders};
use crate::model::{self, Outcome, StatusChange, StoredOrder};
use crate::voice;

/// Longest `request_id` accepted: it becomes a key.
const MAX_REQUEST_ID: usize = 200;

pub async fn handle(event: &Incoming) -> Result<Vec<Event>> {
    let request: OrderCreate = event.data()?;
    for (field, value) in
        [("request_id", &request.request_id), ("brand", &request.brand.0), ("conversation", &request.conversation.0)]
    {
        if value.trim().is_empty() {
            return Err(Error::bad_event(format!("store.order.create: {field} is empty")));
        }
    }
    if request.request_id.len() > MAX_REQUEST_ID {
        return Err(Error::bad_event(format!(
            "store.order.create: request_id is longer than {MAX_REQUEST_ID} characters"
        )));
    }
    let orders = kv::open()?;
    let outcome = match stored_outcome(&orders, &request)? {
        Some(outcome) => outcome,
        None => decide(&orders, &request).await?,
    };
    Ok(vec![answer(event, &request, &outcome)?])
}

fn stored_outcome(orders: &Orders, request: &OrderCreate) -> Result<Option<Outcome>> {
    match orders.get(&model::request_key(request))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::failed(format!("the stored outcome of {} is unreadable: {e}", request.request_id))),
    }
}

/// The answer event, with the extensions a requester matches on even if the
/// request came without them.
fn answer(event: &Incoming, request: &OrderCreate, outcome: &Outcome) -> Result<Event> {
    let mut out = match outcome {
        Outcome::Created(created) => event.reply(created)?,
        Outcome::Rejected(rejected) => event.reply(rejected)?,
    };
    for (name, value) in [
        (ext::BRAND, request.brand.as_str()),
        (ext::CONVERSATION, request.conversation.as_str()),
        (ext::CORRELATION, request.request_id.as_str()),
    ] {
        if out.extension(name).is_none() {
            out.set_extension(name, value.to_string());
        }
    }
    Ok(out)
}

/// Decides a new request and stores the outcome; if another delivery of the
/// same request stored one first, that one is the answer.
async fn decide(orders: &Orders, request: &OrderCreate) -> Result<Outcome> {
    let lang = voice::language(request.language.as_deref());
    let outcome = match place(orders, request).await? {
        Ok(order) => Outcome::Created(OrderCreated { request_id: request.request_id.clone(), order }),
        Err((reason, name)) => Outcome::Rejected(OrderRejected {
            request_id: request.request_id.clone(),
            conversation: request.conversation.clone(),
            brand: request.brand.clone(),
            message: voice::rejection(lang, &reason, name.as_deref()),
            reason,
        }),
    };
    let key = model::request_key(request);
    let bytes = serde_json::to_vec(&outcome)?;
    if orders.swap(&key, None, &bytes)? {
        return Ok(outcome);
    }
    stored_outcome(orders, request)?
        .ok_or_else(|| Error::failed(format!("the outcome of {} vanished", request.request_id)))
}

/// A refusal, with the product's name when the catalog gave it.
type Rejection = (RejectionReason, Option<String>);

/// Validates, reserves and prices; stores the order. `Ok(Err(..))` is a
/// rejection; `Err(..)` a failure worth retrying.
async fn place(orders: &Orders, request: &OrderCreate) -> Result<Result<Order, Rejection>> {
    let lines = match normalize(request) {
        Ok(lines) => lines,
        Err(reason) => return Ok(Err((reason, None))),
    };
    let order_id = model::order_id_for(request);
    let reservation = match catalog::reserve(&order_id, request.brand.as_str(), &lines).await {
        Ok(reservation) => reservation,
        Err(CatalogError::Refused { refused, .. }) => return refusal(refused).map(Err),
        Err(e @ CatalogError::Unavailable(_)) => return Err(Error::failed(e)),
    };

    let currency = reservation.subtotal.currency.clone();
    let mut subtotal = Money::zero(&currency);
    let mut priced = Vec::with_capacity(reservation.lines.len());
    for line in reservation.lines {
        // Recomputed here too: the catalog's sum is checked, not trusted blindly.
        let line_total =
            line.unit_price.checked_mul(line.quantity).filter(|total| *total == line.line_total).ok_or_else(|| {
                Error::failed(format!("the catalog's line total of {} does not add up", line.product_id))
            })?;
        subtotal = subtotal
            .checked_add(&line_total)
            .ok_or_else(|| Error::failed("the order total overflows or mixes currencies"))?;
        priced.push(OrderLine {
            product_id: ProductId::new(line.product_id),
            name: line.name,
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total,
            variant: line.variant,
        });
    }
    let discount = Money::zero(&currency);
    let total = subtotal.checked_sub(&discount).ok_or_else(|| Error::failed("the order total overflows"))?;
    if let Some(expected) = &request.expected_total
        && *expected != total
    {
        catalog::release(&order_id).await.map_err(Error::failed)?;
        return Ok(Err((RejectionReason::TotalMismatch { expected: expected.clone(), actual: total }, None)));
    }

    let now = chrono::Utc::now();
    let order = Order {
        id: OrderId::new(&order_id),
        conversation: request.conversation.clone(),
        brand: request.brand.clone(),
        customer: request.customer.clone(),
        lines: priced,
        subtotal,
        discount,
        total,
        status: OrderStatus::Created,
        created_at: now,
        shipping: request.shipping.clone(),
        language: request.language.clone(),
    };
    let stored = StoredOrder {
        request_id: request.request_id.clone(),
        order: order.clone(),
        payment: None,
        shipment: None,
        delivered_at: None,
        cancellation: None,
        history: vec![StatusChange { status: OrderStatus::Created, at: now }],
        outbox: Vec::new(),
        publishing: None,
    };
    let key = model::order_key(&order_id);
    let bytes = serde_json::to_vec(&stored)?;
    if orders.swap(&key, None, &bytes)? {
        return Ok(Ok(order));
    }
    // Stored by an earlier attempt that did not get to record its outcome.
    let existing = orders.get(&key)?.unwrap_or_default();
    let existing: StoredOrder =
        serde_json::from_slice(&existing).map_err(|e| Error::failed(format!("order {order_id} is unreadable: {e}")))?;
    // Two requests deriving one order id would be a 64-bit hash collision;
    // should it ever happen, this one fails rather than answer with someone
    // else's order.
    let theirs = &existing.order;
    if existing.request_id != request.request_id
        || theirs.conversation != request.conversation
        || theirs.customer.id != request.customer.id
    {
        return Err(Error::failed(format!("order id {order_id} is already another request's")));
    }
    Ok(Ok(existing.order))
}

/// The lines merged by product and checked against the limits of an order.
fn normalize(request: &OrderCreate) -> Result<Vec<OrderRequestLine>, RejectionReason> {
    normalize_lines(&request.lines).map_err(|e| match e {
        LineError::Empty => RejectionReason::EmptyOrder,
        LineError::BlankProductId => RejectionReason::UnknownProduct { product_id: ProductId::new("") },
        LineError::InvalidQuantity { product_id, quantity } => {
            RejectionReason::InvalidQuantity { product_id, quantity: u32::try_from(quantity).unwrap_or(u32::MAX) }
        }
        LineError::TooManyProducts { .. } => {
            RejectionReason::Other { message: format!("An order can have at most {MAX_LINES} different products.") }
        }
    })
}

/// The rejection for a catalog refusal, or a failure to retry when the refusal
/// is about timing rather than the order.
fn refusal(refused: StockRefused) -> Result<Rejection> {
    let StockRefused { refusal, message } = refused;
    let reason = match refusal {
        StockRefusal::OutOfStock { product_id, name, available, .. } => {
            return Ok((RejectionReason::OutOfStock { product_id, available }, Some(name)));
        }
        StockRefusal::UnknownProduct { product_id, .. } => RejectionReason::UnknownProduct { product_id },
        StockRefusal::InvalidQuantity { product_id, quantity, .. } => {
            RejectionReason::InvalidQuantity { product_id, quantity: u32::try_from(quantity).unwrap_or(u32::MAX) }
        }
        StockRefusal::EmptyOrder => RejectionReason::EmptyOrder,
        // Another delivery of this request is reserving right now: its outcome
        // will be there when this one is retried.
        StockRefusal::InProgress { .. } => return Err(Error::failed("the reservation is in progress; retrying")),
        other => {
            let said = if message.is_empty() { other.code() } else { message.as_str() };
            RejectionReason::Other {
                message: format!("The order could not be placed: {}.", said.trim_end_matches('.')),
            }
        }
    };
    Ok((reason, None))
}

#[cfg(test)]
mod tests {
    use agent_store_events::stock::MAX_QUANTITY;
    use agent_store_events::{CustomerRef, ReservationState};
    use serde_json::json;

    use super::*;

    fn request(lines: &[(&str, u32)]) -> OrderCreate {
        OrderCreate {
            request_id: "r-1".into(),
            conversation: "cv-1".into(),
            brand: "tech".into(),
            customer: CustomerRef::default(),
            lines: lines
                .iter()
                .map(|(p, q)| OrderRequestLine { product_id: ProductId::new(*p), quantity: *q, variant: None })
                .collect(),
            expected_total: None,
            shipping: None,
            notes: None,
            language: None,
        }
    }

    #[test]
    fn lines_merge_and_respect_the_limits() {
        let line = |p: &str, q: u32| OrderRequestLine { product_id: ProductId::new(p), quantity: q, variant: None };
        assert_eq!(normalize(&request(&[("a", 1), ("b", 2), ("a", 3)])), Ok(vec![line("a", 4), line("b", 2)]));
        assert_eq!(normalize(&request(&[])), Err(RejectionReason::EmptyOrder));
        assert!(matches!(normalize(&request(&[("a", 0)])), Err(RejectionReason::InvalidQuantity { quantity: 0, .. })));
        assert!(matches!(
            normalize(&request(&[("a", MAX_QUANTITY), ("a", 1)])),
            Err(RejectionReason::InvalidQuantity { quantity: 21, .. })
        ));
        assert!(matches!(
            normalize(&request(&[("a", u32::MAX), ("a", 5)])),
            Err(RejectionReason::InvalidQuantity { quantity: u32::MAX, .. })
        ));
        assert_eq!(
            normalize(&request(&[(" ", 1)])),
            Err(RejectionReason::UnknownProduct { product_id: ProductId::new("") })
        );
        let many: Vec<(String, u32)> = (0..=MAX_LINES).map(|i| (format!("p-{i}"), 1)).collect();
        let many: Vec<(&str, u32)> = many.iter().map(|(p, q)| (p.as_str(), *q)).collect();
        assert!(matches!(normalize(&request(&many)), Err(RejectionReason::Other { .. })));
    }

    #[test]
    fn catalog_refusals_become_reasons() {
        let body = json!({ "error": "out_of_stock", "message": "2 × Mouse (tec-1) asked for, 2 available",
                           "product_id": "tec-1", "name": "Mouse", "requested": 3, "available": 2 });
        let (reason, name) = refusal(serde_json::from_value(body).unwrap()).unwrap();
        assert_eq!(reason, RejectionReason::OutOfStock { product_id: "tec-1".into(), available: 2 });
        assert_eq!(name.as_deref(), Some("Mouse"));
        let unknown = StockRefusal::UnknownProduct { product_id: "x-9".into(), brand: None };
        let (reason, name) = refusal(unknown.into()).unwrap();
        assert_eq!((reason, name), (RejectionReason::UnknownProduct { product_id: "x-9".into() }, None));
        let conflict = StockRefused {
            refusal: StockRefusal::Conflict {
                order_id: "o-1".into(),
                state: ReservationState::Released,
                reason: "order was released.".into(),
            },
            message: "order was released.".into(),
        };
        let (reason, _) = refusal(conflict).unwrap();
        assert_eq!(
            reason,
            RejectionReason::Other { message: "The order could not be placed: order was released.".into() }
        );
        assert!(refusal(StockRefusal::InProgress { order_id: "o-1".into() }.into()).is_err());
    }
}
