//! Pricing an order's lines: what the customer pays now for each product, checked
//! against the catalog. The lines' shape and limits are the order contract's
//! ([`agent_store_events::stock`]). The order processor never prices anything itself; it takes
//! these lines from the catalog's API.

use agent_store_events::{OrderRequestLine, StockRefusal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{AppliedPromotion, Catalog, Money};

/// One line as the catalog prices it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub product_id: String,
    pub brand: String,
    pub name: String,
    pub quantity: u32,
    /// Before promotions.
    pub list_price: Money,
    /// What one unit costs now: the list price less the best active promotion.
    pub unit_price: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<AppliedPromotion>,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// The variant, as the catalog spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl PricedLine {
    /// What the customer is told the line is: `Linen Dress (M)`.
    pub fn label(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{} ({variant})", self.name),
            None => self.name.clone(),
        }
    }
}

/// Priced lines in one currency, and their sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub currency: String,
    pub lines: Vec<PricedLine>,
    pub subtotal: Money,
}

/// Prices lines at `now`, once [`agent_store_events::stock::normalize_lines`] has merged
/// and checked them. With `brand`, every product must be that brand's: an order is sold
/// by one brand, and a product id of another brand is as unknown to it as a made-up one.
pub fn price(
    catalog: &Catalog,
    brand: Option<&str>,
    lines: &[OrderRequestLine],
    now: DateTime<Utc>,
) -> Result<Quote, StockRefusal> {
    let mut priced = Vec::with_capacity(lines.len());
    for line in lines {
        let unknown =
            || StockRefusal::UnknownProduct { product_id: line.product_id.clone(), brand: brand.map(str::to_string) };
        let product = catalog.get(line.product_id.as_str()).ok_or_else(unknown)?;
        let product_brand = catalog.brand_of(&product.id).ok_or_else(unknown)?;
        if brand.is_some_and(|b| b != product_brand) {
            return Err(unknown());
        }
        // A variant must be one of the product's, and is kept as the catalog
        // spells it; a product with variants may still be ordered without one.
        let option = match &line.variant {
            None => None,
            Some(asked) => Some(product.variants.as_ref().and_then(|v| v.option(asked)).ok_or_else(unknown)?),
        };
        let variant = option.map(|o| o.value.clone());
        // A variant with a price of its own costs that, less the same
        // promotion the product has.
        let (product_price, promotion) = catalog.effective_price(product, now);
        let (list_price, unit_price) = match option.and_then(|o| o.price.as_ref()) {
            Some(list) => {
                let now =
                    promotion.as_ref().and_then(|p| list.percent_off(p.percent_off)).unwrap_or_else(|| list.clone());
                (list.clone(), now)
            }
            None => (product.price.clone(), product_price),
        };
        let line_total = unit_price
            .checked_mul(line.quantity)
            .ok_or_else(|| StockRefusal::BadRequest { reason: format!("the total of {} overflows", product.id) })?;
        priced.push(PricedLine {
            product_id: product.id.clone(),
            brand: product_brand.to_string(),
            name: product.name.clone(),
            quantity: line.quantity,
            list_price,
            unit_price,
            promotion,
            line_total,
            variant,
        });
    }
    let currency = priced.first().map(|l| l.unit_price.currency.clone()).ok_or(StockRefusal::EmptyOrder)?;
    let mut subtotal = Money::zero(&currency);
    for line in &priced {
        subtotal = subtotal.checked_add(&line.line_total).ok_or_else(|| {
            let mut currencies: Vec<String> = priced.iter().map(|l| l.unit_price.currency.clone()).collect();
            currencies.sort();
            currencies.dedup();
            if currencies.len() > 1 {
                StockRefusal::MixedCurrencies { currencies }
            } else {
                StockRefusal::BadRequest { reason: "the order total overflows".into() }
            }
        })?;
    }
    Ok(Quote { currency, lines: priced, subtotal })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let file = |brand: &str, currency: &str, ids: &[&str]| {
            let products: Vec<String> = ids
                .iter()
                .map(|id| {
                    format!(
                        r#"{{"id":"{id}","name":"Thing {id}","description":"d","category":"things",
                            "price":{{"amount_minor":1010,"currency":"{currency}"}},"stock":5}}"#
                    )
                })
                .collect();
            format!(
                r#"{{"brand":"{brand}","display_name":"{brand}","currency":"{currency}","products":[{}],
                    "promotions":[{{"id":"p","label":"P","percent_off":15,"product_ids":["{}"],
                    "starts_at":"2026-01-01T00:00:00Z","ends_at":"2027-01-01T00:00:00Z"}}]}}"#,
                products.join(","),
                ids[0]
            )
        };
        let a = file("alpha", "USD", &["a-1", "a-2"]);
        let b = file("beta", "EUR", &["b-1"]);
        Catalog::from_files([("alpha", a.as_str()), ("beta", b.as_str())]).unwrap()
    }

    fn line(id: &str, quantity: u32) -> OrderRequestLine {
        OrderRequestLine { product_id: id.into(), quantity, variant: None }
    }

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn lines_are_priced_with_the_promotion() {
        let c = catalog();
        let quote = price(&c, Some("alpha"), &[line("a-1", 3), line("a-2", 1)], now()).unwrap();
        assert_eq!(quote.currency, "USD");
        // 15% off 10.10 is a discount of 1.515, rounded half up to 1.52.
        assert_eq!(quote.lines[0].unit_price, Money::new(858, "USD"));
        assert_eq!(quote.lines[0].line_total, Money::new(2574, "USD"));
        assert_eq!(quote.lines[0].promotion.as_ref().unwrap().id, "p");
        assert_eq!(quote.lines[1].unit_price, Money::new(1010, "USD"));
        assert_eq!(quote.subtotal, Money::new(3584, "USD"));
        // After the promotion, list prices.
        let later = "2027-06-01T00:00:00Z".parse().unwrap();
        let quote = price(&c, None, &[line("a-1", 1)], later).unwrap();
        assert_eq!((quote.lines[0].unit_price.amount_minor, quote.lines[0].promotion.clone()), (1010, None));
    }

    #[test]
    fn a_variant_with_its_own_price_is_priced_at_it_with_the_promotion() {
        let file = r#"{"brand":"alpha","display_name":"alpha","currency":"USD","products":[
            {"id":"a-1","name":"Tablet","description":"d","category":"things",
             "price":{"amount_minor":1010,"currency":"USD"},"stock":5,
             "variants":{"kind":"storage","options":[{"value":"64 GB","stock":2},
                {"value":"128 GB","stock":3,"price":{"amount_minor":2020,"currency":"USD"}}]}}],
            "promotions":[{"id":"p","label":"P","percent_off":15,"product_ids":["a-1"],
                "starts_at":"2026-01-01T00:00:00Z","ends_at":"2027-01-01T00:00:00Z"}]}"#;
        let c = Catalog::from_files([("alpha", file)]).unwrap();
        let variant =
            |v: &str, quantity: u32| OrderRequestLine { product_id: "a-1".into(), quantity, variant: Some(v.into()) };
        let quote = price(&c, Some("alpha"), &[variant("128 gb", 2), variant("64 GB", 1)], now()).unwrap();
        // 15% off 20.20 is 3.03 off: 17.17; the other size keeps the product's 8.58.
        assert_eq!(quote.lines[0].list_price, Money::new(2020, "USD"));
        assert_eq!(quote.lines[0].unit_price, Money::new(1717, "USD"));
        assert_eq!(quote.lines[0].line_total, Money::new(3434, "USD"));
        assert_eq!(quote.lines[0].variant.as_deref(), Some("128 GB"));
        assert_eq!((quote.lines[1].list_price.amount_minor, quote.lines[1].unit_price.amount_minor), (1010, 858));
        assert_eq!(quote.subtotal, Money::new(4292, "USD"));
        // The events' product carries the same sale price for the variant.
        let product = c.product(c.get("a-1").unwrap(), 5, now());
        assert_eq!(product.effective_price_of(Some("128 GB")), &Money::new(1717, "USD"));
        assert_eq!(product.effective_price_of(Some("64 GB")), &Money::new(858, "USD"));
        let later = "2027-06-01T00:00:00Z".parse().unwrap();
        let quote = price(&c, None, &[variant("128 GB", 1)], later).unwrap();
        assert_eq!(quote.lines[0].unit_price, Money::new(2020, "USD"));
    }

    #[test]
    fn products_must_exist_in_the_brand() {
        let c = catalog();
        let err = price(&c, Some("alpha"), &[line("b-1", 1)], now()).unwrap_err();
        assert_eq!(err, StockRefusal::UnknownProduct { product_id: "b-1".into(), brand: Some("alpha".into()) });
        assert!(matches!(
            price(&c, None, &[line("zz-9", 1)], now()),
            Err(StockRefusal::UnknownProduct { brand: None, .. })
        ));
        assert_eq!(
            price(&c, None, &[line("a-1", 1), line("b-1", 1)], now()),
            Err(StockRefusal::MixedCurrencies { currencies: vec!["EUR".into(), "USD".into()] })
        );
    }
}
