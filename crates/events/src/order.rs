//! Orders: the create request, its outcome, and the lifecycle that follows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::{BrandId, ConversationId, CustomerRef, Money, OrderId, ProductId};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Validated, priced and stock reserved; awaiting payment.
    Created,
    /// Paid.
    Confirmed,
    /// With the carrier.
    Shipped,
    /// With the customer. Final.
    Delivered,
    /// Called off before shipping; the stock is released. Final.
    Cancelled,
}

impl OrderStatus {
    /// Whether an order may move from `self` to `next`: forward one step along
    /// created → confirmed → shipped → delivered, or to cancelled while it has
    /// not shipped yet (a parcel on its way is a return, not a cancellation).
    /// Staying in the same status is not a transition, so a replayed event
    /// cannot be mistaken for progress.
    pub fn can_transition_to(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Created, Confirmed)
                | (Confirmed, Shipped)
                | (Shipped, Delivered)
                | (Created, Cancelled)
                | (Confirmed, Cancelled)
        )
    }

    /// Whether no transition leaves this status.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::Cancelled)
    }
}

/// One line of an order request: only what the customer chose. Names and
/// prices are deliberately absent; the order processor looks them up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequestLine {
    /// The catalog id.
    pub product_id: ProductId,
    /// How many; at least 1.
    pub quantity: u32,
    /// The variant chosen (`M`, `38`, `Midnight Black`): the catalog reserves
    /// that variant's units as well as the product's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Where to ship an order.
///
/// This is personal data the customer gave for delivery; it travels only in
/// order events and must be redacted from logs and analytics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShippingAddress {
    /// The recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, floor…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `US`.
    pub country: String,
}

/// `store.order.create`: a seller asks for an order for what the customer
/// confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreate {
    /// Idempotency key: the order processor answers a repeat of the same
    /// request (the same `request_id` from the same brand, conversation and
    /// customer, for the same lines and expected total) with the same outcome,
    /// so a redelivered event never creates a second order; the same id from
    /// another conversation or customer is another request.
    pub request_id: String,
    /// The conversation the order comes from.
    pub conversation: ConversationId,
    /// The brand selling.
    pub brand: BrandId,
    /// The customer.
    pub customer: CustomerRef,
    /// What to order; at least one line.
    pub lines: Vec<OrderRequestLine>,
    /// The total the customer was shown. The processor recomputes the total
    /// and never charges this; a difference rejects the order with
    /// [`RejectionReason::TotalMismatch`] so the customer is never surprised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_total: Option<Money>,
    /// Where to ship; may come later through the payment/shipping hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<ShippingAddress>,
    /// A note from the customer ("gift wrap please").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The customer's language, BCP 47 as in `store.chat.intent.detected`
    /// (`en`, `es`, `pt-BR`): the order processor writes its notices about
    /// the order in it, by the primary tag; English when absent or not one
    /// it writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One priced line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The catalog id.
    pub product_id: ProductId,
    /// The product name at the time of the order.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// The effective unit price charged (promotions applied).
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// The variant ordered, as the catalog spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An order as the order processor keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order id.
    pub id: OrderId,
    /// The conversation it came from, where the customer hears about it.
    pub conversation: ConversationId,
    /// The brand selling.
    pub brand: BrandId,
    /// The customer.
    pub customer: CustomerRef,
    /// The priced lines.
    pub lines: Vec<OrderLine>,
    /// The sum of the line totals.
    pub subtotal: Money,
    /// Order-level discount (zero when none); product promotions are already
    /// in the unit prices.
    pub discount: Money,
    /// `subtotal − discount`: what the customer pays.
    pub total: Money,
    /// The status.
    pub status: OrderStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Where it ships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<ShippingAddress>,
    /// The customer's language, from the [`OrderCreate`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `store.order.created`: an order exists, priced and with stock reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The `request_id` of the [`OrderCreate`] this answers, so the seller can
    /// match the outcome to its request.
    pub request_id: String,
    /// The new order, in status `created`.
    pub order: Order,
}

/// How an order was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInfo {
    /// The payment provider, e.g. `stripe`, `mercadopago`, `manual`.
    pub provider: String,
    /// The provider's payment reference.
    pub reference: String,
    /// What was paid.
    pub amount: Money,
}

/// `store.order.confirmed`: the payment for an order arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: OrderId,
    /// Where the customer hears about it.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The payment.
    pub payment: PaymentInfo,
    /// When the payment was confirmed.
    pub confirmed_at: DateTime<Utc>,
}

/// `store.order.shipped`: the order is with a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderShipped {
    /// The order.
    pub order_id: OrderId,
    /// Where the customer hears about it.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The carrier, e.g. `DHL`.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// A page where the customer can follow the parcel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// When the carrier took it.
    pub shipped_at: DateTime<Utc>,
}

/// `store.order.delivered`: the customer has the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDelivered {
    /// The order.
    pub order_id: OrderId,
    /// Where the customer hears about it.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// When the carrier delivered it.
    pub delivered_at: DateTime<Utc>,
}

/// `store.order.cancelled`: the order was called off before shipping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The order.
    pub order_id: OrderId,
    /// Where the customer hears about it.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// Why, in words the customer can be told.
    pub reason: String,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// Why an order request was refused. Tagged by `kind`, like every tagged enum here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RejectionReason {
    /// The product is not in the brand's catalog.
    UnknownProduct {
        /// The product asked for.
        product_id: ProductId,
    },
    /// Not enough stock.
    OutOfStock {
        /// The product.
        product_id: ProductId,
        /// How many units are left (possibly 0), so the seller can offer them.
        available: u32,
    },
    /// A quantity of zero or above what one order may hold.
    InvalidQuantity {
        /// The product.
        product_id: ProductId,
        /// The quantity asked for.
        quantity: u32,
    },
    /// No lines.
    EmptyOrder,
    /// The recomputed total differs from `expected_total` (a price changed or a
    /// promotion ended since the customer saw it).
    TotalMismatch {
        /// What the customer was shown.
        expected: Money,
        /// What the order would cost now.
        actual: Money,
    },
    /// Anything else.
    Other {
        /// What went wrong.
        message: String,
    },
}

/// `store.order.rejected`: an [`OrderCreate`] was refused and no order exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    /// The request refused.
    pub request_id: String,
    /// The conversation it came from.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// Why, for code.
    pub reason: RejectionReason,
    /// Why, in a sentence a seller can relay to the customer as is.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    const ALL: [OrderStatus; 5] = [Created, Confirmed, Shipped, Delivered, Cancelled];

    #[test]
    fn orders_move_forward_one_step_at_a_time() {
        assert!(Created.can_transition_to(Confirmed));
        assert!(Confirmed.can_transition_to(Shipped));
        assert!(Shipped.can_transition_to(Delivered));

        assert!(!Created.can_transition_to(Shipped), "cannot skip payment");
        assert!(!Created.can_transition_to(Delivered));
        assert!(!Confirmed.can_transition_to(Delivered));
        assert!(!Shipped.can_transition_to(Confirmed), "no going back");
        assert!(!Delivered.can_transition_to(Shipped));
    }

    #[test]
    fn orders_cancel_only_before_shipping() {
        assert!(Created.can_transition_to(Cancelled));
        assert!(Confirmed.can_transition_to(Cancelled));
        assert!(!Shipped.can_transition_to(Cancelled));
        assert!(!Delivered.can_transition_to(Cancelled));
    }

    #[test]
    fn final_statuses_have_no_way_out() {
        for from in ALL {
            let exits = ALL.iter().filter(|&&to| from.can_transition_to(to)).count();
            assert_eq!(from.is_final(), exits == 0, "{from:?}");
            assert!(!from.can_transition_to(from), "{from:?} to itself");
        }
        assert!(Delivered.is_final() && Cancelled.is_final());
    }

    #[test]
    fn statuses_are_snake_case() {
        assert_eq!(serde_json::to_string(&Cancelled).unwrap(), "\"cancelled\"");
    }
}
