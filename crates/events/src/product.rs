//! Catalog products and the catalog's request/result events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::{BrandId, ConversationId, Money, ProductId};

/// A product as the catalog returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The catalog id, e.g. `fsh-001`.
    pub id: ProductId,
    /// The brand that sells it.
    pub brand: BrandId,
    /// The product name.
    pub name: String,
    /// The name in other languages, by language tag (`es`, `pt`), which
    /// customers may call it by; omitted when the catalog gives none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    /// A description a seller can quote or summarize.
    pub description: String,
    /// The category within the brand, e.g. `shoes`.
    pub category: String,
    /// Free-form search tags, e.g. `summer`, `vegan`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What customers call it, in the three languages (`batom`, `labial`):
    /// words that name the product rather than ask about it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Free-form attributes, e.g. `color` → `navy`; sorted for stable output.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The list price.
    pub price: Money,
    /// The price after `promotion`, when one is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<Money>,
    /// The promotion that produced `sale_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<AppliedPromotion>,
    /// Units available now. A snapshot: the order processor checks again.
    pub stock: u32,
    /// `https` URL of the main picture.
    pub image_url: String,
    /// The choices a customer must make to buy it (sizes, colours, shades,
    /// storage), each with its own units available; absent for a product
    /// sold one way only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Variants>,
}

/// A product's variants: what they differ in and each one's stock.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Variants {
    /// What the options are: `size`, `color`, `shade`, `storage`, `platform`.
    pub kind: String,
    /// The options, in the catalog's order.
    pub options: Vec<VariantOption>,
}

impl Variants {
    /// The option called `value` (case-insensitive), as the catalog spells it.
    pub fn option(&self, value: &str) -> Option<&VariantOption> {
        let value = value.trim();
        self.options.iter().find(|o| o.value.eq_ignore_ascii_case(value))
    }
}

/// The price now of `variant` of a product with `variants`, when that variant
/// has a price of its own.
pub fn variant_price<'a>(variants: Option<&'a Variants>, variant: Option<&str>) -> Option<&'a Money> {
    let option = variants?.option(variant?)?;
    option.sale_price.as_ref().or(option.price.as_ref())
}

/// One variant of a product.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VariantOption {
    /// What the customer chooses: `M`, `38`, `Midnight Black`, `Ruby`.
    pub value: String,
    /// Units of this variant available now (in a catalog file: its stock).
    pub stock: u32,
    /// This variant's list price when it is not the product's (a phone's
    /// larger storage costs more); `None`: the product's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// This variant's price while a promotion of the product runs: set by the
    /// catalog beside `price`, as the product's `sale_price` is; never in a
    /// catalog file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<Money>,
}

impl Product {
    /// What the customer pays for one unit now: the sale price if there is
    /// one, else the list price.
    pub fn effective_price(&self) -> &Money {
        self.sale_price.as_ref().unwrap_or(&self.price)
    }

    /// What the customer pays for one unit of `variant` now: the variant's
    /// own price (on sale or not) when it has one, else the product's.
    pub fn effective_price_of(&self, variant: Option<&str>) -> &Money {
        variant_price(self.variants.as_ref(), variant).unwrap_or_else(|| self.effective_price())
    }

    /// Whether at least one unit is available.
    pub fn in_stock(&self) -> bool {
        self.stock > 0
    }
}

/// A promotion applied to a product's price.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppliedPromotion {
    /// The promotion id.
    pub id: String,
    /// What the customer is told, e.g. `Summer sale`.
    pub label: String,
    /// The discount in percent, 1 to 100 (see [`Money::percent_off`]).
    pub percent_off: u8,
}

/// `store.product.query`: a product search.
///
/// Every filter is optional; an empty query lists everything (up to `limit`).
/// Price bounds are in minor units of the brand's currency.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductQuery {
    /// Chosen by the requester and echoed in the result, as is the
    /// `correlation` extension attribute.
    pub request_id: String,
    /// Only this brand's products; all brands when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<BrandId>,
    /// Free text matched against names, descriptions, tags and attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Only this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Effective price at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price_minor: Option<i64>,
    /// Effective price at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price_minor: Option<i64>,
    /// Leave out products with no stock.
    #[serde(default, skip_serializing_if = "is_false")]
    pub in_stock_only: bool,
    /// When no product has every word of `text`, the ones with some of them,
    /// the most words first: for a question that names a product with some
    /// words and asks with others ("is the vitamin c serum cruelty free?").
    #[serde(default, skip_serializing_if = "is_false")]
    pub partial: bool,
    /// At most this many products; the catalog's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The conversation the search is for, echoed in the result so that the
    /// seller can pick the conversation back up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `store.product.query.result`: the catalog's answer to a [`ProductQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductQueryResult {
    /// The query's `request_id`.
    pub request_id: String,
    /// The query's `brand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<BrandId>,
    /// The query's `conversation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// The best matches first, at most `limit`.
    pub products: Vec<Product>,
    /// How many products matched before `limit` was applied, so that a seller
    /// can say "I have 14 more".
    pub total: u32,
}

/// A kind of recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// Alternatives to the product (same category, similar tags).
    Related,
    /// Goes with the product or the cart (a belt for the trousers).
    Complementary,
    /// Sells well in the brand.
    Popular,
    /// Fits the need the customer stated (`need` of the request): dry skin,
    /// a beach wedding, a small living room.
    Fits,
}

/// `store.product.recommend`: asks the catalog what to suggest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecommend {
    /// Chosen by the requester and echoed in the result.
    pub request_id: String,
    /// The brand to recommend from.
    pub brand: BrandId,
    /// The conversation the recommendations are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// Recommend around this product (the one being discussed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    /// What is already in the cart: used for complementary picks and never
    /// recommended again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cart: Vec<ProductId>,
    /// Which kinds to include; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<RecommendationKind>,
    /// At most this many; the catalog's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// What the customer said they need, in their words ("dry skin
    /// moisturiser", "beach wedding"): products that fit it come first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need: Option<String>,
    /// Only products priced at least this (minor units, promotions applied),
    /// as in `store.product.query`: "a cleanser for oily skin, over 20".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price_minor: Option<i64>,
    /// Only products priced at most this: "…under 30 dollars".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price_minor: Option<i64>,
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The product.
    pub product: Product,
    /// Why it is recommended.
    pub kind: RecommendationKind,
    /// Relevance from 0 to 1; results are sorted by it, highest first.
    pub score: f32,
}

/// `store.product.recommend.result`: the catalog's answer to a
/// [`ProductRecommend`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRecommendResult {
    /// The request's `request_id`.
    pub request_id: String,
    /// The request's `brand`.
    pub brand: BrandId,
    /// The request's `conversation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// Best first; may be empty.
    pub recommendations: Vec<Recommendation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_price_prefers_the_sale_price() {
        let mut product = Product {
            id: "fsh-001".into(),
            brand: "fashion".into(),
            name: "Linen shirt".into(),
            names: BTreeMap::new(),
            description: String::new(),
            category: "shirts".into(),
            tags: vec![],
            keywords: vec![],
            attributes: BTreeMap::new(),
            price: Money::new(4990, "USD"),
            sale_price: None,
            promotion: None,
            stock: 0,
            image_url: String::new(),
            variants: None,
        };
        assert_eq!(product.effective_price(), &Money::new(4990, "USD"));
        assert!(!product.in_stock());
        product.sale_price = Money::new(4990, "USD").percent_off(20);
        assert_eq!(product.effective_price(), &Money::new(3992, "USD"));
    }

    #[test]
    fn a_variant_with_its_own_price_costs_that() {
        let big =
            VariantOption { value: "256 GB".into(), stock: 1, price: Some(Money::new(89900, "USD")), sale_price: None };
        let small = VariantOption { value: "128 GB".into(), stock: 1, ..VariantOption::default() };
        let mut product = Product {
            id: "tec-011".into(),
            brand: "tech".into(),
            name: "Tablet".into(),
            names: BTreeMap::new(),
            description: String::new(),
            category: "tablets".into(),
            tags: vec![],
            keywords: vec![],
            attributes: BTreeMap::new(),
            price: Money::new(79900, "USD"),
            sale_price: None,
            promotion: None,
            stock: 2,
            image_url: String::new(),
            variants: Some(Variants { kind: "storage".into(), options: vec![small, big] }),
        };
        assert_eq!(product.effective_price_of(Some("256 gb")), &Money::new(89900, "USD"));
        assert_eq!(product.effective_price_of(Some("128 GB")), &Money::new(79900, "USD"));
        assert_eq!(product.effective_price_of(None), &Money::new(79900, "USD"));
        assert_eq!(product.effective_price_of(Some("1 TB")), &Money::new(79900, "USD"));
        // On sale, the variant's sale price.
        product.sale_price = Some(Money::new(71910, "USD"));
        product.variants.as_mut().unwrap().options[1].sale_price = Some(Money::new(80910, "USD"));
        assert_eq!(product.effective_price_of(Some("256 GB")), &Money::new(80910, "USD"));
        assert_eq!(product.effective_price_of(Some("128 GB")), &Money::new(71910, "USD"));
    }

    #[test]
    fn variants_are_found_whatever_the_case() {
        let variants = Variants {
            kind: "size".into(),
            options: vec![
                VariantOption { value: "M".into(), stock: 2, ..VariantOption::default() },
                VariantOption { value: "XL".into(), stock: 0, ..VariantOption::default() },
            ],
        };
        assert_eq!(variants.option(" xl ").map(|o| o.stock), Some(0));
        assert_eq!(variants.option("m").map(|o| o.value.as_str()), Some("M"));
        assert!(variants.option("S").is_none());
    }
}
