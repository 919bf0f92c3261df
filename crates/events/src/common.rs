//! Identifiers, customers and money: the vocabulary every payload shares.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a string newtype that serializes as a bare JSON string.
///
/// Newtypes rather than plain `String`s so that a product id cannot be passed
/// where a conversation id is expected, at no cost on the wire.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps an id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id! {
    /// A brand, e.g. `fashion`.
    ///
    /// Deliberately a string and not an enum: brands are open, a new brand is a
    /// new seller component deployed while the store runs, and nothing in the
    /// platform may need a rebuild to learn its name. The five demo brands are
    /// listed in [`DEMO_BRANDS`].
    BrandId
}

string_id! {
    /// The stable id of one customer's chat with one brand.
    ///
    /// Opaque; the gateway derives it without putting the phone number in it,
    /// and the same customer talking to two brands has two conversations.
    ConversationId
}

string_id! {
    /// A catalog product id, e.g. `fsh-001` or `tec-014`.
    ProductId
}

string_id! {
    /// An order id assigned by the order processor, e.g. `ord-20250115-0042`.
    OrderId
}

/// One of the brands the demo store ships with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoBrand {
    /// The brand id, the value of the `brand` extension attribute.
    pub id: &'static str,
    /// The name of the brand's AI seller.
    pub agent: &'static str,
}

/// The demo brands and their AI sellers, built into the repository's store.
/// Not a limit: any other brand id is just as valid once its seller component
/// is deployed, and the shared components learn such a brand's number,
/// catalog and seller from `store.brand.onboarded` ([`crate::BrandOnboarded`]).
pub const DEMO_BRANDS: &[DemoBrand] = &[
    DemoBrand { id: "fashion", agent: "Luna" },
    DemoBrand { id: "tech", agent: "Max" },
    DemoBrand { id: "home", agent: "Sofia" },
    DemoBrand { id: "beauty", agent: "Bella" },
    DemoBrand { id: "gaming", agent: "Pixel" },
];

/// Who a customer is, as far as the agents need to know.
///
/// There is no phone number here, nor anywhere else in any payload: the gateway
/// is the only component that ever sees one, and it keeps the mapping from
/// conversation to phone to itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CustomerRef {
    /// A salted hash of the customer's phone number, stable across brands and
    /// conversations, so analytics can count returning customers without PII.
    pub id: String,
    /// The WhatsApp profile name, when the customer has one. Used to greet
    /// the customer by name; it is what they chose to show, not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An amount of money in integer minor units (cents), never a float, so that
/// totals computed by the seller, the catalog and the order processor agree to
/// the cent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units: `4990` is 49.90.
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// `amount_minor` minor units of `currency`.
    pub fn new(amount_minor: i64, currency: impl Into<String>) -> Self {
        Self { amount_minor, currency: currency.into() }
    }

    /// Nothing, in `currency`; the start of a sum.
    pub fn zero(currency: impl Into<String>) -> Self {
        Self::new(0, currency)
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount_minor == 0
    }

    /// The sum, or `None` if the currencies differ or the sum overflows.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.amount_minor.checked_add(other.amount_minor))
            .flatten()
            .map(|amount| Money::new(amount, self.currency.clone()))
    }

    /// The difference, or `None` if the currencies differ or it overflows.
    pub fn checked_sub(&self, other: &Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.amount_minor.checked_sub(other.amount_minor))
            .flatten()
            .map(|amount| Money::new(amount, self.currency.clone()))
    }

    /// The price of `quantity` units, or `None` on overflow.
    pub fn checked_mul(&self, quantity: u32) -> Option<Money> {
        self.amount_minor.checked_mul(i64::from(quantity)).map(|amount| Money::new(amount, self.currency.clone()))
    }

    /// The amount after taking `percent` off, or `None` if `percent > 100`.
    ///
    /// The discount is rounded half up to the minor unit. Every component that
    /// applies a promotion uses this one function, so the price a seller shows
    /// is the price the order processor charges.
    pub fn percent_off(&self, percent: u8) -> Option<Money> {
        if percent > 100 {
            return None;
        }
        let amount = i128::from(self.amount_minor);
        let discount = (amount * i128::from(percent) + 50).div_euclid(100);
        i64::try_from(amount - discount).ok().map(|amount| Money::new(amount, self.currency.clone()))
    }
}

/// `USD 49.90`: the currency code, then the amount with two decimals. Two
/// decimals for every currency keeps this simple; zero-decimal currencies
/// (JPY) still display correctly, only with a `.00` they do not need.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        write!(f, "{} {sign}{}.{:02}", self.currency, abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount_minor: i64) -> Money {
        Money::new(amount_minor, "USD")
    }

    #[test]
    fn money_adds_and_subtracts_in_one_currency() {
        assert_eq!(usd(4990).checked_add(&usd(1010)), Some(usd(6000)));
        assert_eq!(usd(4990).checked_sub(&usd(5000)), Some(usd(-10)));
        assert_eq!(usd(1).checked_add(&Money::new(1, "EUR")), None);
        assert_eq!(usd(1).checked_sub(&Money::new(1, "EUR")), None);
    }

    #[test]
    fn money_overflow_is_none_not_a_panic() {
        assert_eq!(usd(i64::MAX).checked_add(&usd(1)), None);
        assert_eq!(usd(i64::MIN).checked_sub(&usd(1)), None);
        assert_eq!(usd(i64::MAX / 2).checked_mul(3), None);
    }

    #[test]
    fn money_multiplies_by_quantity() {
        assert_eq!(usd(4990).checked_mul(3), Some(usd(14970)));
        assert_eq!(usd(4990).checked_mul(0), Some(usd(0)));
        assert!(usd(4990).checked_mul(0).unwrap().is_zero());
    }

    #[test]
    fn money_percent_off_rounds_the_discount_half_up() {
        assert_eq!(usd(4990).percent_off(20), Some(usd(3992)));
        // 15% of 0.99 is 0.1485: the discount rounds to 0.15.
        assert_eq!(usd(99).percent_off(15), Some(usd(84)));
        assert_eq!(usd(4990).percent_off(0), Some(usd(4990)));
        assert_eq!(usd(4990).percent_off(100), Some(usd(0)));
        assert_eq!(usd(4990).percent_off(101), None);
    }

    #[test]
    fn money_displays_two_decimals() {
        assert_eq!(usd(4990).to_string(), "USD 49.90");
        assert_eq!(usd(5).to_string(), "USD 0.05");
        assert_eq!(usd(0).to_string(), "USD 0.00");
        assert_eq!(usd(-1050).to_string(), "USD -10.50");
        assert_eq!(Money::new(1500, "JPY").to_string(), "JPY 15.00");
        assert_eq!(
            usd(i64::MIN).to_string(),
            "USD -92233720368547758.08",
            "the most negative amount must not overflow"
        );
    }

    #[test]
    fn money_serializes_as_minor_units() {
        let json = serde_json::to_value(usd(4990)).unwrap();
        assert_eq!(json, serde_json::json!({"amount_minor": 4990, "currency": "USD"}));
    }

    #[test]
    fn ids_are_bare_strings_on_the_wire() {
        let brand = BrandId::new("fashion");
        assert_eq!(serde_json::to_string(&brand).unwrap(), "\"fashion\"");
        let back: BrandId = serde_json::from_str("\"neon-sneakers\"").unwrap();
        assert_eq!(back, "neon-sneakers");
        assert_eq!(ProductId::from("fsh-001").to_string(), "fsh-001");
    }

    #[test]
    fn demo_brands_have_their_sellers() {
        let agents: Vec<_> = DEMO_BRANDS.iter().map(|b| (b.id, b.agent)).collect();
        assert_eq!(
            agents,
            [("fashion", "Luna"), ("tech", "Max"), ("home", "Sofia"), ("beauty", "Bella"), ("gaming", "Pixel")]
        );
    }
}
