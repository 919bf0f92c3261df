//! The contract of the catalog's private stock API, which the order processor
//! calls (`docs/orders.md`, "The catalog's private API"): the limits of an
//! order's lines, how lines are merged and checked, and the refusals the
//! catalog answers with.
//!
//! Both sides use these, so an order the processor accepts is one the catalog
//! accepts, and a refusal means the same to the one that says it and the one
//! that hears it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::common::ProductId;
use crate::order::OrderRequestLine;

/// The most units of one product in an order: a shop's limit, which also
/// keeps the catalog's counters far from overflow.
pub const MAX_QUANTITY: u32 = 20;

/// The most different products in an order.
pub const MAX_LINES: usize = 20;

/// Why a list of order lines is not an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// No lines at all.
    Empty,
    /// A line whose `product_id` is blank.
    BlankProductId,
    /// Zero, or more than [`MAX_QUANTITY`] once the lines of one product are added up.
    InvalidQuantity {
        /// The product.
        product_id: ProductId,
        /// The quantity asked for, all its lines together.
        quantity: u64,
    },
    /// More than [`MAX_LINES`] different products.
    TooManyProducts {
        /// How many there were.
        count: usize,
    },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the request has no lines"),
            Self::BlankProductId => f.write_str("a line has an empty product_id"),
            Self::InvalidQuantity { product_id, quantity } => {
                write!(f, "{quantity} is not a valid quantity of {product_id}: between 1 and {MAX_QUANTITY}")
            }
            Self::TooManyProducts { count } => {
                write!(f, "{count} different products in one request; at most {MAX_LINES}")
            }
        }
    }
}

impl std::error::Error for LineError {}

/// Checks the lines' shape and merges lines that name the same product and
/// variant (in the order first named, ids and variants trimmed, a blank variant
/// being none), so that each is counted once and within the limits: at most
/// [`MAX_QUANTITY`] units of a product, its variants together.
pub fn normalize_lines(lines: &[OrderRequestLine]) -> Result<Vec<OrderRequestLine>, LineError> {
    if lines.is_empty() {
        return Err(LineError::Empty);
    }
    let mut merged: Vec<(&str, Option<&str>, u64)> = Vec::new();
    for line in lines {
        let id = line.product_id.as_str().trim();
        if id.is_empty() {
            return Err(LineError::BlankProductId);
        }
        if line.quantity == 0 {
            return Err(LineError::InvalidQuantity { product_id: ProductId::new(id), quantity: 0 });
        }
        let variant = line.variant.as_deref().map(str::trim).filter(|v| !v.is_empty());
        match merged.iter_mut().find(|(p, v, _)| *p == id && *v == variant) {
            Some((_, _, quantity)) => *quantity += u64::from(line.quantity),
            None => merged.push((id, variant, u64::from(line.quantity))),
        }
    }
    if merged.len() > MAX_LINES {
        return Err(LineError::TooManyProducts { count: merged.len() });
    }
    for (id, _, _) in &merged {
        let quantity: u64 = merged.iter().filter(|(p, _, _)| p == id).map(|(_, _, q)| q).sum();
        if quantity > u64::from(MAX_QUANTITY) {
            return Err(LineError::InvalidQuantity { product_id: ProductId::new(*id), quantity });
        }
    }
    merged
        .into_iter()
        .map(|(id, variant, quantity)| match u32::try_from(quantity) {
            Ok(q) => Ok(OrderRequestLine {
                product_id: ProductId::new(id),
                quantity: q,
                variant: variant.map(str::to_owned),
            }),
            Err(_) => Err(LineError::InvalidQuantity { product_id: ProductId::new(id), quantity }),
        })
        .collect()
}

/// Where an order's reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// The counters are being incremented, by the call that created the record.
    Reserving,
    /// Every line is held.
    Reserved,
    /// Paid: the units moved from `reserved` to `sold`.
    Committed,
    /// Given back, from `reserved` or (a cancelled paid order) from `sold`.
    Released,
}

impl fmt::Display for ReservationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Reserving => "reserving",
            Self::Reserved => "reserved",
            Self::Committed => "committed",
            Self::Released => "released",
        })
    }
}

/// Why the catalog refused a stock request. On the wire it is the body of
/// the 4xx answer, tagged by its `error` code, with a `message` sentence
/// beside the details ([`StockRefused`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum StockRefusal {
    /// Not a request of the API's shape.
    BadRequest {
        /// What is wrong with it.
        reason: String,
    },
    /// No lines.
    EmptyOrder,
    /// Zero, or more than [`MAX_QUANTITY`] of one product.
    InvalidQuantity {
        /// The product.
        product_id: ProductId,
        /// The quantity asked for, all its lines together.
        quantity: u64,
        /// The most an order may have, [`MAX_QUANTITY`].
        max_quantity: u32,
    },
    /// No such product (in `brand`, when the request names one).
    UnknownProduct {
        /// The product asked for.
        product_id: ProductId,
        /// The brand the request was for.
        #[serde(default)]
        brand: Option<String>,
    },
    /// The lines are priced in more than one currency.
    MixedCurrencies {
        /// The currencies, sorted.
        currencies: Vec<String>,
    },
    /// Fewer units left than asked for.
    OutOfStock {
        /// The product.
        product_id: ProductId,
        /// Its name, to tell the customer.
        name: String,
        /// The units asked for.
        requested: u32,
        /// The units that can still be had (possibly 0).
        available: u32,
    },
    /// A commit or release of an order never reserved.
    UnknownReservation {
        /// The order.
        order_id: String,
    },
    /// Another call is reserving this order right now: a retry will find its outcome.
    #[serde(rename = "reservation_in_progress")]
    InProgress {
        /// The order.
        order_id: String,
    },
    /// The reservation is in a state that does not allow the request.
    #[serde(rename = "reservation_conflict")]
    Conflict {
        /// The order.
        order_id: String,
        /// Where its reservation is.
        state: ReservationState,
        /// Why that state forbids the request.
        reason: String,
    },
    /// A code this side does not know (a newer catalog): its `message` says what.
    #[serde(other)]
    Other,
}

impl StockRefusal {
    /// The `error` code it travels under.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::EmptyOrder => "empty_order",
            Self::InvalidQuantity { .. } => "invalid_quantity",
            Self::UnknownProduct { .. } => "unknown_product",
            Self::MixedCurrencies { .. } => "mixed_currencies",
            Self::OutOfStock { .. } => "out_of_stock",
            Self::UnknownReservation { .. } => "unknown_reservation",
            Self::InProgress { .. } => "reservation_in_progress",
            Self::Conflict { .. } => "reservation_conflict",
            Self::Other => "other",
        }
    }

    /// The HTTP status the catalog answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } | Self::Other => 400,
            Self::UnknownReservation { .. } => 404,
            Self::OutOfStock { .. } | Self::InProgress { .. } | Self::Conflict { .. } => 409,
            Self::EmptyOrder
            | Self::InvalidQuantity { .. }
            | Self::UnknownProduct { .. }
            | Self::MixedCurrencies { .. } => 422,
        }
    }
}

impl From<LineError> for StockRefusal {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Empty => Self::EmptyOrder,
            LineError::InvalidQuantity { product_id, quantity } => {
                Self::InvalidQuantity { product_id, quantity, max_quantity: MAX_QUANTITY }
            }
            LineError::BlankProductId | LineError::TooManyProducts { .. } => Self::BadRequest { reason: e.to_string() },
        }
    }
}

/// The sentence that says why, as the catalog writes it in `message`.
impl fmt::Display for StockRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest { reason } | Self::Conflict { reason, .. } => f.write_str(reason),
            Self::EmptyOrder => f.write_str("the request has no lines"),
            Self::InvalidQuantity { product_id, quantity, max_quantity } => {
                write!(f, "{quantity} is not a valid quantity of {product_id}: between 1 and {max_quantity}")
            }
            Self::UnknownProduct { product_id, brand: Some(brand) } => write!(f, "{brand} has no product {product_id}"),
            Self::UnknownProduct { product_id, brand: None } => write!(f, "there is no product {product_id}"),
            Self::MixedCurrencies { currencies } => {
                write!(f, "the lines are priced in different currencies ({})", currencies.join(", "))
            }
            Self::OutOfStock { product_id, name, requested, available } => {
                write!(f, "{requested} × {name} ({product_id}) asked for, {available} available")
            }
            Self::UnknownReservation { order_id } => write!(f, "no reservation for order {order_id}"),
            Self::InProgress { order_id } => write!(f, "order {order_id} is being reserved right now; try again"),
            Self::Other => f.write_str("the catalog refused"),
        }
    }
}

impl std::error::Error for StockRefusal {}

/// A refusal as the catalog's API answers it:
/// `{"error": code, "message": sentence, ...details}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRefused {
    /// The code and its details.
    #[serde(flatten)]
    pub refusal: StockRefusal,
    /// The sentence that says why.
    #[serde(default)]
    pub message: String,
}

impl From<StockRefusal> for StockRefused {
    fn from(refusal: StockRefusal) -> Self {
        Self { message: refusal.to_string(), refusal }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(id: &str, quantity: u32) -> OrderRequestLine {
        OrderRequestLine { product_id: ProductId::new(id), quantity, variant: None }
    }

    fn sized(id: &str, quantity: u32, variant: &str) -> OrderRequestLine {
        OrderRequestLine { variant: Some(variant.into()), ..line(id, quantity) }
    }

    #[test]
    fn duplicate_lines_merge_in_first_seen_order() {
        let lines = normalize_lines(&[line("a-2", 1), line(" a-1", 2), line("a-2 ", 3)]).unwrap();
        assert_eq!(lines, [line("a-2", 4), line("a-1", 2)]);
    }

    #[test]
    fn variants_are_lines_of_their_own_within_the_product_limit() {
        let lines = normalize_lines(&[sized("a", 1, "M"), sized("a", 2, "L"), sized("a", 1, " M"), sized("a", 1, " ")])
            .unwrap();
        assert_eq!(lines, [sized("a", 2, "M"), sized("a", 2, "L"), line("a", 1)]);
        assert!(matches!(
            normalize_lines(&[sized("a", 15, "M"), sized("a", 6, "L")]),
            Err(LineError::InvalidQuantity { quantity: 21, .. })
        ));
    }

    #[test]
    fn lines_respect_the_limits() {
        assert_eq!(normalize_lines(&[]), Err(LineError::Empty));
        assert_eq!(normalize_lines(&[line(" ", 1)]), Err(LineError::BlankProductId));
        assert!(matches!(normalize_lines(&[line("a", 0)]), Err(LineError::InvalidQuantity { quantity: 0, .. })));
        assert!(normalize_lines(&[line("a", MAX_QUANTITY)]).is_ok());
        assert!(matches!(
            normalize_lines(&[line("a", MAX_QUANTITY), line("a", 1)]),
            Err(LineError::InvalidQuantity { quantity: 21, .. })
        ));
        assert!(matches!(
            normalize_lines(&[line("a", u32::MAX), line("a", u32::MAX)]),
            Err(LineError::InvalidQuantity { quantity, .. }) if quantity == 2 * u64::from(u32::MAX)
        ));
        let many: Vec<_> = (0..MAX_LINES).map(|i| line(&format!("p-{i}"), 1)).collect();
        assert!(normalize_lines(&many).is_ok());
        let too_many: Vec<_> = (0..=MAX_LINES).map(|i| line(&format!("p-{i}"), 1)).collect();
        assert_eq!(normalize_lines(&too_many), Err(LineError::TooManyProducts { count: MAX_LINES + 1 }));
    }

    #[test]
    fn refusals_travel_as_code_message_and_details() {
        let refused = StockRefused::from(StockRefusal::OutOfStock {
            product_id: "tec-1".into(),
            name: "Mouse".into(),
            requested: 3,
            available: 2,
        });
        let body = serde_json::to_value(&refused).unwrap();
        assert_eq!(
            body,
            json!({ "error": "out_of_stock", "message": "3 × Mouse (tec-1) asked for, 2 available",
                    "product_id": "tec-1", "name": "Mouse", "requested": 3, "available": 2 })
        );
        assert_eq!(serde_json::from_value::<StockRefused>(body).unwrap(), refused);

        let conflict = json!({ "error": "reservation_conflict", "message": "order o-1 was released",
                               "order_id": "o-1", "state": "released", "reason": "order o-1 was released" });
        let refused: StockRefused = serde_json::from_value(conflict).unwrap();
        assert!(matches!(refused.refusal, StockRefusal::Conflict { state: ReservationState::Released, .. }));
        assert_eq!(refused.refusal.status(), 409);

        let newer: StockRefused = serde_json::from_value(json!({ "error": "on_fire", "message": "it burns" })).unwrap();
        assert_eq!((newer.refusal, newer.message.as_str()), (StockRefusal::Other, "it burns"));
    }

    #[test]
    fn codes_are_the_wire_tags() {
        let product_id = ProductId::new("p");
        let order_id = String::from("o");
        for refusal in [
            StockRefusal::BadRequest { reason: "r".into() },
            StockRefusal::EmptyOrder,
            StockRefusal::InvalidQuantity { product_id: product_id.clone(), quantity: 0, max_quantity: MAX_QUANTITY },
            StockRefusal::UnknownProduct { product_id: product_id.clone(), brand: None },
            StockRefusal::MixedCurrencies { currencies: Vec::new() },
            StockRefusal::OutOfStock { product_id, name: "n".into(), requested: 1, available: 0 },
            StockRefusal::UnknownReservation { order_id: order_id.clone() },
            StockRefusal::InProgress { order_id: order_id.clone() },
            StockRefusal::Conflict { order_id, state: ReservationState::Released, reason: "r".into() },
            StockRefusal::Other,
        ] {
            assert_eq!(serde_json::to_value(&refusal).unwrap()["error"], refusal.code(), "{refusal:?}");
        }
    }

    #[test]
    fn line_errors_are_refusals() {
        assert_eq!(StockRefusal::from(LineError::Empty), StockRefusal::EmptyOrder);
        let refusal = StockRefusal::from(LineError::InvalidQuantity { product_id: "a".into(), quantity: 21 });
        assert_eq!(refusal.to_string(), "21 is not a valid quantity of a: between 1 and 20");
        assert_eq!(refusal.status(), 422);
        let refusal = StockRefusal::from(LineError::TooManyProducts { count: 21 });
        assert_eq!(refusal.status(), 400);
        assert_eq!(StockRefusal::from(LineError::BlankProductId).status(), 400);
    }
}
