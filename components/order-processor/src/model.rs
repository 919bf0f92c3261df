//! What the order processor keeps, and the pure rules over it: order ids,
//! which status change a hook may make, and how the orders API filters and
//! pages. Nothing here does I/O, so all of it is unit-tested natively.
//!
//! The `orders` store holds:
//!
//! - `order:<order id>` → [`StoredOrder`]: the order and what happened to it;
//! - `request:<digest>` → [`Outcome`]: the answer to a `store.order.create`,
//!   so that a redelivered request gets the same answer ([`request_digest`]).

use agent_store_events::{Money, Order, OrderCreate, OrderCreated, OrderRejected, OrderStatus, PaymentInfo};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub fn order_key(order_id: &str) -> String {
    format!("order:{order_id}")
}

/// What makes a create request the one it is, digested: its `request_id`
/// within the brand, conversation and customer that sent it, and what it asks
/// for. A redelivery is the same request and finds its answer; the same
/// `request_id` from another conversation or customer, or asking for other
/// things (a seller whose state expired numbers its requests from 1 again), is
/// another request, and never gets someone else's order.
pub fn request_digest(request: &OrderCreate) -> String {
    let identity = serde_json::json!([
        "agent-store/order-request",
        request.brand,
        request.conversation,
        request.customer.id,
        request.request_id,
        request.lines,
        request.expected_total,
    ]);
    hex::encode(Sha256::digest(identity.to_string().as_bytes()))
}

/// Where the answer to a create request is kept.
pub fn request_key(request: &OrderCreate) -> String {
    format!("request:{}", request_digest(request))
}

/// The order id for a create request: derived from the request (see
/// [`request_digest`]), so that a retry after a crash reaches the catalog with
/// the same order id and finds its reservation instead of making a second one.
pub fn order_id_for(request: &OrderCreate) -> String {
    let digest = Sha256::digest(format!("agent-store/order/{}", request_digest(request)).as_bytes());
    format!("ord-{}", &hex::encode(digest)[..16])
}

/// The answer given to a create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created(OrderCreated),
    Rejected(OrderRejected),
}

/// The carrier's details of a shipped order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    pub shipped_at: DateTime<Utc>,
}

/// A cancellation: why, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub reason: String,
    pub cancelled_at: DateTime<Utc>,
}

/// One status the order entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
}

/// An order and its history, `order:<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOrder {
    pub request_id: String,
    pub order: Order,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<Shipment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    pub history: Vec<StatusChange>,
    /// Events of a status change saved with it but not yet published (structured
    /// CloudEvents JSON). Whoever touches the order next publishes them first, so a
    /// change the store has is never lost to a failed publish.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<serde_json::Value>,
    /// Who is publishing the outbox. Only the holder publishes it, and no
    /// change is saved while it holds events of an earlier one, so the
    /// customer hears of the changes once each, in the order they happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing: Option<Claim>,
}

/// A claim to publish an order's outbox, held by one call until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The call holding it: a random id of its own.
    pub by: String,
    /// When it lapses, so that a call that died holding it blocks its order
    /// only for a while.
    pub until: DateTime<Utc>,
}

impl Claim {
    /// Whether it still holds at `now`.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

impl StoredOrder {
    /// What the orders API shows: everything but the outbox and its claim.
    pub fn view(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("outbox");
            map.remove("publishing");
        }
        value
    }

    /// Whether another call is publishing events of an earlier change.
    pub fn is_publishing(&self, now: DateTime<Utc>) -> bool {
        !self.outbox.is_empty() && self.publishing.as_ref().is_some_and(|claim| claim.holds(now))
    }
}

/// A status change someone outside asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The payment arrived.
    Pay(PaymentInfo),
    /// The carrier took the parcel.
    Ship(Shipment),
    /// The carrier delivered it.
    Deliver(DateTime<Utc>),
    /// Called off, with words the customer can be told.
    Cancel(Cancellation),
}

impl Action {
    pub fn target(&self) -> OrderStatus {
        match self {
            Action::Pay(_) => OrderStatus::Confirmed,
            Action::Ship(_) => OrderStatus::Shipped,
            Action::Deliver(_) => OrderStatus::Delivered,
            Action::Cancel(_) => OrderStatus::Cancelled,
        }
    }
}

/// What to do with an [`Action`] on an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Move to the action's status.
    Move,
    /// The same news again (a provider retrying its webhook): nothing changes.
    Duplicate,
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The status does not allow the change.
    InvalidTransition { from: OrderStatus, to: OrderStatus, message: String },
    /// The order already has a different payment or shipment.
    Conflict(String),
    /// The payment does not pay the order.
    AmountMismatch { expected: Money, paid: Money },
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::InvalidTransition { .. } | Refusal::Conflict(_) => 409,
            Refusal::AmountMismatch { .. } => 422,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Refusal::InvalidTransition { from, to, message } => serde_json::json!({
                "error": "invalid_transition", "message": message, "from": from, "to": to,
            }),
            Refusal::Conflict(message) => serde_json::json!({ "error": "conflict", "message": message }),
            // The total is not told back: what a hook answers can travel
            // through the provider to whoever made the payment, and an
            // order's total is not theirs to probe with wrong amounts.
            Refusal::AmountMismatch { paid, .. } => serde_json::json!({
                "error": "amount_mismatch",
                "message": format!("the payment of {paid} does not match the order total"),
                "paid": paid,
            }),
        }
    }
}

fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Created => "created",
        OrderStatus::Confirmed => "confirmed",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
    }
}

/// Decides whether `action` moves `stored`, repeats what it already knows, or is
/// refused. Repeats are recognized before the transition rules, so a provider
/// retrying a webhook gets a 200, not a 409.
pub fn plan(stored: &StoredOrder, action: &Action) -> Result<Plan, Refusal> {
    let id = stored.order.id.as_str();
    let current = stored.order.status;
    match action {
        Action::Pay(payment) => {
            if let Some(known) = &stored.payment {
                return if known.provider == payment.provider && known.reference == payment.reference {
                    Ok(Plan::Duplicate)
                } else {
                    Err(Refusal::Conflict(format!(
                        "order {id} is already paid ({} {})",
                        known.provider, known.reference
                    )))
                };
            }
        }
        Action::Ship(shipment) => {
            if let Some(known) = &stored.shipment {
                return if known.carrier == shipment.carrier && known.tracking_number == shipment.tracking_number {
                    Ok(Plan::Duplicate)
                } else {
                    Err(Refusal::Conflict(format!(
                        "order {id} already shipped with {} {}",
                        known.carrier, known.tracking_number
                    )))
                };
            }
        }
        Action::Deliver(_) | Action::Cancel(_) if current == action.target() => return Ok(Plan::Duplicate),
        Action::Deliver(_) | Action::Cancel(_) => {}
    }
    let target = action.target();
    if !current.can_transition_to(target) {
        let why = match (current, target) {
            (OrderStatus::Created, OrderStatus::Shipped | OrderStatus::Delivered) => ": it is not paid yet",
            (OrderStatus::Confirmed, OrderStatus::Delivered) => ": it has not shipped yet",
            (OrderStatus::Shipped | OrderStatus::Delivered, OrderStatus::Cancelled) => {
                ": it has shipped, so it can only be returned"
            }
            (OrderStatus::Cancelled, _) => ": it was cancelled",
            _ => "",
        };
        return Err(Refusal::InvalidTransition {
            from: current,
            to: target,
            message: format!("order {id} is {}, it cannot become {}{why}", status_name(current), status_name(target)),
        });
    }
    if let Action::Pay(payment) = action
        && payment.amount != stored.order.total
    {
        return Err(Refusal::AmountMismatch { expected: stored.order.total.clone(), paid: payment.amount.clone() });
    }
    Ok(Plan::Move)
}

/// The order after `action`, at `now`; `plan` said [`Plan::Move`].
pub fn apply(mut stored: StoredOrder, action: &Action, now: DateTime<Utc>) -> StoredOrder {
    let status = action.target();
    stored.order.status = status;
    match action {
        Action::Pay(payment) => stored.payment = Some(payment.clone()),
        Action::Ship(shipment) => stored.shipment = Some(shipment.clone()),
        Action::Deliver(at) => stored.delivered_at = Some(*at),
        Action::Cancel(cancellation) => stored.cancellation = Some(cancellation.clone()),
    }
    stored.history.push(StatusChange { status, at: now });
    stored
}

/// The orders API's filters and page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub brand: Option<String>,
    pub status: Option<OrderStatus>,
    pub conversation: Option<String>,
    pub limit: usize,
    /// Where the previous page ended: `<created_at>|<order id>`.
    pub cursor: Option<String>,
}

/// Orders on one page of the API when the request does not say.
pub const DEFAULT_PAGE: usize = 20;
/// The largest page.
pub const MAX_PAGE: usize = 100;

/// A query string the orders API does not take; the message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    #[error("{0}: bad percent-encoding")]
    BadEncoding(String),
    #[error("status: {0:?} is not an order status")]
    NotAStatus(String),
    #[error("limit: {0:?} is not a number from 1 to {MAX_PAGE}")]
    BadLimit(String),
    #[error("unknown parameter {0:?}")]
    Unknown(String),
}

impl Listing {
    /// From a query string; a bad value is an error that names it.
    pub fn parse(query: &str) -> Result<Self, ListingError> {
        let mut listing = Listing { limit: DEFAULT_PAGE, ..Listing::default() };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| ListingError::BadEncoding(name.to_string()))?;
            match name {
                "brand" => listing.brand = Some(value),
                "conversation" => listing.conversation = Some(value),
                "status" => {
                    listing.status = Some(
                        serde_json::from_value(serde_json::Value::String(value.clone()))
                            .map_err(|_| ListingError::NotAStatus(value.clone()))?,
                    )
                }
                "limit" => {
                    listing.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|l| (1..=MAX_PAGE).contains(l))
                        .ok_or_else(|| ListingError::BadLimit(value.clone()))?
                }
                "cursor" => listing.cursor = Some(value),
                other => return Err(ListingError::Unknown(other.to_string())),
            }
        }
        Ok(listing)
    }

    /// Newest first (then by id); returns the page and the cursor of the next one.
    pub fn page<'a>(&self, orders: &'a [Order]) -> (Vec<&'a Order>, Option<String>) {
        let mut matching: Vec<&Order> = orders
            .iter()
            .filter(|o| self.brand.as_deref().is_none_or(|b| o.brand == b))
            .filter(|o| self.status.is_none_or(|s| o.status == s))
            .filter(|o| self.conversation.as_deref().is_none_or(|c| o.conversation == c))
            .collect();
        matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        let start = match &self.cursor {
            None => 0,
            Some(cursor) => matching.iter().position(|o| after(o, cursor)).unwrap_or(matching.len()),
        };
        let page: Vec<&Order> = matching.iter().skip(start).take(self.limit).copied().collect();
        let next = (start + page.len() < matching.len()).then(|| page.last().map(|o| cursor_of(o))).flatten();
        (page, next)
    }
}

fn cursor_of(order: &Order) -> String {
    format!("{}|{}", order.created_at.to_rfc3339(), order.id)
}

/// Whether `order` comes after the one the cursor names, in newest-first order.
fn after(order: &Order, cursor: &str) -> bool {
    let Some((at, id)) = cursor.split_once('|') else { return false };
    let Ok(at) = DateTime::parse_from_rfc3339(at) else { return false };
    let at = at.with_timezone(&Utc);
    order.created_at < at || (order.created_at == at && order.id.as_str() > id)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use agent_store_events::{CustomerRef, OrderId};

    use super::*;

    fn order(id: &str, status: OrderStatus, created_at: &str) -> Order {
        Order {
            id: OrderId::new(id),
            conversation: "cv-1".into(),
            brand: "tech".into(),
            customer: CustomerRef::default(),
            lines: Vec::new(),
            subtotal: Money::new(1000, "USD"),
            discount: Money::zero("USD"),
            total: Money::new(1000, "USD"),
            status,
            created_at: created_at.parse().unwrap(),
            shipping: None,
            language: None,
        }
    }

    fn stored(status: OrderStatus) -> StoredOrder {
        StoredOrder {
            request_id: "r-1".into(),
            order: order("ord-1", status, "2026-06-01T00:00:00Z"),
            payment: None,
            shipment: None,
            delivered_at: None,
            cancellation: None,
            history: vec![],
            outbox: vec![],
            publishing: None,
        }
    }

    fn pay(reference: &str, amount: i64) -> Action {
        Action::Pay(PaymentInfo {
            provider: "stripe".into(),
            reference: reference.into(),
            amount: Money::new(amount, "USD"),
        })
    }

    fn ship(tracking: &str) -> Action {
        Action::Ship(Shipment {
            carrier: "UPS".into(),
            tracking_number: tracking.into(),
            tracking_url: None,
            shipped_at: Utc::now(),
        })
    }

    fn cancel() -> Action {
        Action::Cancel(Cancellation { reason: "changed my mind".into(), cancelled_at: Utc::now() })
    }

    fn create(request_id: &str) -> OrderCreate {
        serde_json::from_value(serde_json::json!({
            "request_id": request_id, "conversation": "cv-1", "brand": "tech",
            "customer": {"id": "cus-1", "name": "Ana"},
            "lines": [{"product_id": "tec-001", "quantity": 1}],
        }))
        .unwrap()
    }

    #[test]
    fn order_ids_are_stable_per_request() {
        assert_eq!(order_id_for(&create("r-1")), order_id_for(&create("r-1")));
        assert_ne!(order_id_for(&create("r-1")), order_id_for(&create("r-2")));
        assert_eq!(order_id_for(&create("r-1")).len(), "ord-".len() + 16);
        // What does not say which request it is does not change it.
        let mut noted = create("r-1");
        noted.notes = Some("gift wrap".into());
        noted.customer.name = Some("Ana Maria".into());
        assert_eq!(request_key(&noted), request_key(&create("r-1")));
    }

    #[test]
    fn a_request_id_is_scoped_to_who_sent_it_and_what_it_asks() {
        let base = create("oc-1");
        let mut others = Vec::new();
        for change in [
            |r: &mut OrderCreate| r.conversation = "cv-2".into(),
            |r: &mut OrderCreate| r.customer.id = "cus-2".into(),
            |r: &mut OrderCreate| r.brand = "home".into(),
            |r: &mut OrderCreate| r.lines[0].quantity = 2,
            |r: &mut OrderCreate| r.expected_total = Some(Money::new(100, "USD")),
        ] {
            let mut other = base.clone();
            change(&mut other);
            others.push(other);
        }
        for other in &others {
            assert_ne!(request_key(other), request_key(&base), "{other:?}");
            assert_ne!(order_id_for(other), order_id_for(&base), "{other:?}");
        }
    }

    #[test]
    fn the_happy_path_moves_one_step_at_a_time() {
        let mut s = stored(OrderStatus::Created);
        for action in [pay("pi_1", 1000), ship("1Z"), Action::Deliver(Utc::now())] {
            assert_eq!(plan(&s, &action), Ok(Plan::Move));
            s = apply(s, &action, Utc::now());
            assert_eq!(s.order.status, action.target());
            // The same news again changes nothing.
            assert_eq!(plan(&s, &action), Ok(Plan::Duplicate));
        }
        assert_eq!(s.history.len(), 3);
        assert!(s.payment.is_some() && s.shipment.is_some() && s.delivered_at.is_some());
    }

    #[test]
    fn invalid_transitions_say_why() {
        let created = stored(OrderStatus::Created);
        let Err(Refusal::InvalidTransition { message, .. }) = plan(&created, &ship("1Z")) else {
            panic!("shipping an unpaid order must be refused");
        };
        assert_eq!(message, "order ord-1 is created, it cannot become shipped: it is not paid yet");
        let delivered = stored(OrderStatus::Delivered);
        let refusal = plan(&delivered, &cancel()).unwrap_err();
        assert_eq!(refusal.status(), 409);
        assert!(refusal.to_json()["message"].as_str().unwrap().contains("returned"));
        let cancelled = stored(OrderStatus::Cancelled);
        assert!(matches!(plan(&cancelled, &pay("pi_1", 1000)), Err(Refusal::InvalidTransition { .. })));
        assert_eq!(plan(&cancelled, &cancel()), Ok(Plan::Duplicate));
        assert_eq!(plan(&stored(OrderStatus::Confirmed), &cancel()), Ok(Plan::Move));
    }

    #[test]
    fn payments_must_pay_the_total_once() {
        let created = stored(OrderStatus::Created);
        let refusal = plan(&created, &pay("pi_1", 999)).unwrap_err();
        assert_eq!(refusal.status(), 422);
        assert_eq!(refusal.to_json()["error"], "amount_mismatch");
        assert!(!refusal.to_json().to_string().contains("1000"), "the total is not told: {}", refusal.to_json());
        let paid = apply(created, &pay("pi_1", 1000), Utc::now());
        assert!(matches!(plan(&paid, &pay("pi_2", 1000)), Err(Refusal::Conflict(_))));
        let shipped = apply(paid, &ship("1Z"), Utc::now());
        assert!(matches!(plan(&shipped, &ship("1Z-other")), Err(Refusal::Conflict(_))));
        // A late retry of the payment webhook after shipping is still a repeat.
        assert_eq!(plan(&shipped, &pay("pi_1", 1000)), Ok(Plan::Duplicate));
    }

    #[test]
    fn listing_filters_and_pages_newest_first() {
        let mut orders = vec![
            order("ord-a", OrderStatus::Created, "2026-06-01T00:00:00Z"),
            order("ord-b", OrderStatus::Confirmed, "2026-06-02T00:00:00Z"),
            order("ord-c", OrderStatus::Created, "2026-06-02T00:00:00Z"),
            order("ord-d", OrderStatus::Created, "2026-06-03T00:00:00Z"),
        ];
        orders[0].brand = "home".into();
        let all = Listing::parse("limit=2").unwrap();
        let (page, next) = all.page(&orders);
        let ids = |page: &[&Order]| page.iter().map(|o| o.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&page), ["ord-d", "ord-b"]);
        let second = Listing { cursor: next.clone(), ..all.clone() };
        let (page, next) = second.page(&orders);
        assert_eq!(ids(&page), ["ord-c", "ord-a"]);
        assert_eq!(next, None);

        let (page, _) = Listing::parse("status=created&brand=tech").unwrap().page(&orders);
        assert_eq!(ids(&page), ["ord-d", "ord-c"]);
        let (page, _) = Listing::parse("conversation=cv-1&brand=home").unwrap().page(&orders);
        assert_eq!(ids(&page), ["ord-a"]);
    }

    #[test]
    fn bad_parameters_are_named() {
        let error = |query: &str| Listing::parse(query).unwrap_err().to_string();
        assert!(error("status=lost").contains("status"));
        assert!(error("limit=0").contains("limit"));
        assert!(error("limit=101").contains("limit"));
        assert!(error("colour=red").contains("colour"));
        assert_eq!(Listing::parse("limit=x"), Err(ListingError::BadLimit("x".into())));
        assert_eq!(Listing::parse("conversation=cv%2D1+x").unwrap().conversation.as_deref(), Some("cv-1 x"));
    }
}
