//! Pricing an order's lines: what the customer pays now for each product, checked
//! against the catalog. The order processor never prices anything itself; it takes
//! these lines from the catalog's API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{AppliedPromotion, Catalog, Money};
use crate::stock::StockError;

/// The most units of one product a request may name. Far above any real order (the
/// order processor has its own, business, limit); it keeps counters far from overflow.
pub const MAX_QUANTITY: u32 = 10_000;

/// The most distinct products one request may name.
pub const MAX_LINES: usize = 100;

/// One line as requested: only what the customer chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRequest {
    pub product_id: String,
    pub quantity: u32,
}

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
}

/// Priced lines in one currency, and their sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub currency: String,
    pub lines: Vec<PricedLine>,
    pub subtotal: Money,
}

/// Checks the lines' shape and merges lines that name the same product (in the order
/// first named), so that each product is counted once.
pub fn normalize(lines: &[LineRequest]) -> Result<Vec<LineRequest>, StockError> {
    if lines.is_empty() {
        return Err(StockError::EmptyOrder);
    }
    let mut merged: Vec<(String, u64)> = Vec::new();
    for line in lines {
        let id = line.product_id.trim();
        if id.is_empty() {
            return Err(StockError::BadRequest("a line has an empty product_id".into()));
        }
        if line.quantity == 0 {
            return Err(StockError::InvalidQuantity { product_id: id.to_string(), quantity: 0 });
        }
        match merged.iter_mut().find(|(p, _)| p == id) {
            Some((_, quantity)) => *quantity += u64::from(line.quantity),
            None => merged.push((id.to_string(), u64::from(line.quantity))),
        }
    }
    if merged.len() > MAX_LINES {
        return Err(StockError::BadRequest(format!(
            "{} different products in one request; at most {MAX_LINES}",
            merged.len()
        )));
    }
    merged
        .into_iter()
        .map(|(product_id, quantity)| match u32::try_from(quantity) {
            Ok(q) if q <= MAX_QUANTITY => Ok(LineRequest { product_id, quantity: q }),
            _ => Err(StockError::InvalidQuantity { product_id, quantity }),
        })
        .collect()
}

/// Prices normalized lines at `now`. With `brand`, every product must be that brand's:
/// an order is sold by one brand, and a product id of another brand is as unknown to it
/// as a made-up one.
pub fn price(
    catalog: &Catalog,
    brand: Option<&str>,
    lines: &[LineRequest],
    now: DateTime<Utc>,
) -> Result<Quote, StockError> {
    let mut priced = Vec::with_capacity(lines.len());
    for line in lines {
        let unknown =
            || StockError::UnknownProduct { product_id: line.product_id.clone(), brand: brand.map(str::to_string) };
        let product = catalog.get(&line.product_id).ok_or_else(unknown)?;
        let product_brand = catalog.brand_of(&product.id).ok_or_else(unknown)?;
        if brand.is_some_and(|b| b != product_brand) {
            return Err(unknown());
        }
        let (unit_price, promotion) = catalog.effective_price(product, now);
        let line_total = unit_price
            .checked_mul(line.quantity)
            .ok_or_else(|| StockError::BadRequest(format!("the total of {} overflows", product.id)))?;
        priced.push(PricedLine {
            product_id: product.id.clone(),
            brand: product_brand.to_string(),
            name: product.name.clone(),
            quantity: line.quantity,
            list_price: product.price.clone(),
            unit_price,
            promotion,
            line_total,
        });
    }
    let currency = priced.first().map(|l| l.unit_price.currency.clone()).ok_or(StockError::EmptyOrder)?;
    let mut subtotal = Money::zero(&currency);
    for line in &priced {
        subtotal = subtotal.checked_add(&line.line_total).ok_or_else(|| {
            let mut currencies: Vec<String> = priced.iter().map(|l| l.unit_price.currency.clone()).collect();
            currencies.sort();
            currencies.dedup();
            if currencies.len() > 1 {
                StockError::MixedCurrencies { currencies }
            } else {
                StockError::BadRequest("the order total overflows".into())
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

    fn line(id: &str, quantity: u32) -> LineRequest {
        LineRequest { product_id: id.into(), quantity }
    }

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn duplicate_lines_merge_in_first_seen_order() {
        let lines = normalize(&[line("a-2", 1), line("a-1", 2), line("a-2", 3)]).unwrap();
        assert_eq!(lines, [line("a-2", 4), line("a-1", 2)]);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert_eq!(normalize(&[]), Err(StockError::EmptyOrder));
        assert!(matches!(normalize(&[line("a-1", 0)]), Err(StockError::InvalidQuantity { quantity: 0, .. })));
        assert!(matches!(
            normalize(&[line("a-1", MAX_QUANTITY), line("a-1", 1)]),
            Err(StockError::InvalidQuantity { .. })
        ));
        assert!(matches!(
            normalize(&[line("a-1", u32::MAX), line("a-1", u32::MAX)]),
            Err(StockError::InvalidQuantity { quantity, .. }) if quantity == 2 * u64::from(u32::MAX)
        ));
        assert!(matches!(normalize(&[line(" ", 1)]), Err(StockError::BadRequest(_))));
        let many: Vec<_> = (0..=MAX_LINES).map(|i| line(&format!("x-{i}"), 1)).collect();
        assert!(matches!(normalize(&many), Err(StockError::BadRequest(_))));
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
    fn products_must_exist_in_the_brand() {
        let c = catalog();
        let err = price(&c, Some("alpha"), &[line("b-1", 1)], now()).unwrap_err();
        assert_eq!(err, StockError::UnknownProduct { product_id: "b-1".into(), brand: Some("alpha".into()) });
        assert!(matches!(
            price(&c, None, &[line("zz-9", 1)], now()),
            Err(StockError::UnknownProduct { brand: None, .. })
        ));
        assert_eq!(
            price(&c, None, &[line("a-1", 1), line("b-1", 1)], now()),
            Err(StockError::MixedCurrencies { currencies: vec!["EUR".into(), "USD".into()] })
        );
    }
}
