//! Carts and `store.cart.item.added`.

use serde::{Deserialize, Serialize};

use crate::common::{BrandId, ConversationId, CustomerRef, Money, ProductId};

/// One product line in a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItem {
    /// The catalog id.
    pub product_id: ProductId,
    /// The product name, so that a cart can be shown without a catalog call.
    pub name: String,
    /// How many; at least 1.
    pub quantity: u32,
    /// The effective unit price when the item was added (sale price included).
    pub unit_price: Money,
    /// The variant chosen (`M`, `38`, `Midnight Black`), for a product sold
    /// in several; one line per product and variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl CartItem {
    /// `unit_price × quantity`, or `None` on overflow.
    pub fn line_total(&self) -> Option<Money> {
        self.unit_price.checked_mul(self.quantity)
    }
}

/// A customer's cart with one brand.
///
/// Prices in a cart are what the customer was shown; the order processor
/// re-prices everything when the order is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// One line per product.
    pub items: Vec<CartItem>,
    /// The sum of the line totals.
    pub subtotal: Money,
}

impl Cart {
    /// An empty cart priced in `currency`.
    pub fn new(currency: impl Into<String>) -> Self {
        Self { items: Vec::new(), subtotal: Money::zero(currency) }
    }

    /// A cart of `items` with its subtotal computed, or `None` if an item is
    /// priced in another currency or the sum overflows.
    pub fn from_items(items: Vec<CartItem>, currency: impl Into<String>) -> Option<Self> {
        let subtotal = Self::sum(&items, Money::zero(currency))?;
        Some(Self { items, subtotal })
    }

    /// The subtotal the items add up to (in the cart's currency), or `None` if
    /// they cannot be added up. A cart whose `subtotal` differs from this was
    /// built wrong.
    pub fn compute_subtotal(&self) -> Option<Money> {
        Self::sum(&self.items, Money::zero(self.subtotal.currency.clone()))
    }

    fn sum(items: &[CartItem], zero: Money) -> Option<Money> {
        items.iter().try_fold(zero, |sum, item| sum.checked_add(&item.line_total()?))
    }

    /// Adds `item`, merging it into the line of the same product and variant if there is
    /// one (the quantities add up and the newer unit price wins), and
    /// recomputes the subtotal. Returns `false` and leaves the cart unchanged
    /// if the item's currency differs from the cart's or a sum overflows.
    #[must_use = "the item is not added when this returns false"]
    pub fn add(&mut self, item: CartItem) -> bool {
        let mut items = self.items.clone();
        match items.iter_mut().find(|i| i.product_id == item.product_id && i.variant == item.variant) {
            Some(line) => {
                let Some(quantity) = line.quantity.checked_add(item.quantity) else {
                    return false;
                };
                line.quantity = quantity;
                line.unit_price = item.unit_price;
                line.name = item.name;
            }
            None => items.push(item),
        }
        match Self::from_items(items, self.subtotal.currency.clone()) {
            Some(cart) => {
                *self = cart;
                true
            }
            None => false,
        }
    }

    /// Removes the line of `product_id` and recomputes the subtotal; returns
    /// the removed line, or `None` (cart unchanged) if there was none.
    pub fn remove(&mut self, product_id: &ProductId) -> Option<CartItem> {
        let index = self.items.iter().position(|i| &i.product_id == product_id)?;
        let mut items = self.items.clone();
        let removed = items.remove(index);
        let cart = Self::from_items(items, self.subtotal.currency.clone())?;
        *self = cart;
        Some(removed)
    }

    /// Sets the quantity of the line of `product_id` (0 removes it) and
    /// recomputes the subtotal. Returns `false` and leaves the cart unchanged
    /// if there is no such line or the new subtotal overflows.
    #[must_use = "the quantity is not changed when this returns false"]
    pub fn set_quantity(&mut self, product_id: &ProductId, quantity: u32) -> bool {
        if quantity == 0 {
            return self.remove(product_id).is_some();
        }
        let mut items = self.items.clone();
        let Some(line) = items.iter_mut().find(|i| &i.product_id == product_id) else {
            return false;
        };
        line.quantity = quantity;
        match Self::from_items(items, self.subtotal.currency.clone()) {
            Some(cart) => {
                *self = cart;
                true
            }
            None => false,
        }
    }

    /// Total number of units across all lines.
    pub fn item_count(&self) -> u64 {
        self.items.iter().map(|i| u64::from(i.quantity)).sum()
    }

    /// Whether the cart has no lines.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// `store.cart.item.added`: a seller put a product in a customer's cart.
///
/// Carries the whole cart after the change, so that consumers (analytics,
/// the sales assistant) need no cart state of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItemAdded {
    /// The conversation the cart belongs to.
    pub conversation: ConversationId,
    /// The brand.
    pub brand: BrandId,
    /// The customer.
    pub customer: CustomerRef,
    /// What was added (the quantity added, not the new line quantity).
    pub item: CartItem,
    /// The cart after the addition.
    pub cart: Cart,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, quantity: u32, amount_minor: i64) -> CartItem {
        CartItem {
            product_id: id.into(),
            name: format!("Product {id}"),
            quantity,
            unit_price: Money::new(amount_minor, "USD"),
            variant: None,
        }
    }

    #[test]
    fn subtotal_adds_line_totals() {
        let cart = Cart::from_items(vec![item("a", 2, 4990), item("b", 1, 1500)], "USD").unwrap();
        assert_eq!(cart.subtotal, Money::new(11480, "USD"));
        assert_eq!(cart.compute_subtotal(), Some(cart.subtotal.clone()));
        assert_eq!(cart.item_count(), 3);
        assert!(Cart::from_items(vec![item("a", 1, 1)], "EUR").is_none());
    }

    #[test]
    fn adding_merges_lines_of_the_same_product() {
        let mut cart = Cart::new("USD");
        assert!(cart.is_empty());
        assert!(cart.add(item("a", 1, 4990)));
        assert!(cart.add(item("b", 1, 1500)));
        assert!(cart.add(item("a", 2, 3992)));
        assert_eq!(cart.items.len(), 2);
        assert_eq!(cart.items[0].quantity, 3);
        assert_eq!(cart.subtotal, Money::new(3 * 3992 + 1500, "USD"));

        let before = cart.clone();
        let mut euro = item("c", 1, 100);
        euro.unit_price.currency = "EUR".into();
        assert!(!cart.add(euro));
        assert!(!cart.add(item("a", u32::MAX, 1)));
        assert_eq!(cart, before);
    }

    #[test]
    fn removing_and_changing_quantities_keep_the_subtotal_right() {
        let mut cart = Cart::from_items(vec![item("a", 2, 4990), item("b", 1, 1500)], "USD").unwrap();
        assert!(cart.set_quantity(&"a".into(), 3));
        assert_eq!(cart.subtotal, Money::new(3 * 4990 + 1500, "USD"));
        assert!(!cart.set_quantity(&"zzz".into(), 1), "no such line");
        let mut dear = Cart::from_items(vec![item("d", 1, i64::MAX / 2)], "USD").unwrap();
        assert!(!dear.set_quantity(&"d".into(), 3), "overflow");
        assert_eq!(dear.items[0].quantity, 1, "unchanged after a refused change");

        let removed = cart.remove(&"b".into()).unwrap();
        assert_eq!(removed.product_id, "b");
        assert_eq!(cart.subtotal, Money::new(3 * 4990, "USD"));
        assert!(cart.remove(&"b".into()).is_none());
        assert!(cart.set_quantity(&"a".into(), 0), "zero removes the line");
        assert!(cart.is_empty());
        assert!(cart.subtotal.is_zero());
    }
}
