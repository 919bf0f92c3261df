//! Prices at a moment: the list price less the best running promotion.

use chrono::{DateTime, Utc};

use super::{AppliedPromotion, Catalog, CatalogProduct, Money, Promotion};

impl Promotion {
    /// Both ends are inclusive: files write the end as `23:59:59` of the last day.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now <= self.ends_at
    }

    pub fn applies_to(&self, product: &CatalogProduct) -> bool {
        self.product_ids.contains(&product.id) || self.categories.contains(&product.category)
    }
}

impl Catalog {
    /// The brand's promotions running at `now`, in file order.
    pub fn active_promotions(&self, brand: &str, now: DateTime<Utc>) -> Vec<&Promotion> {
        self.entry(brand).map(|e| e.file.promotions.iter().filter(|p| p.is_active(now)).collect()).unwrap_or_default()
    }

    /// The price the customer pays at `now`: the list price less the biggest active
    /// promotion of the product's brand that names the product or its category, rounded
    /// half-up to minor units. A product that is not in this catalog keeps its list price.
    pub fn effective_price(&self, product: &CatalogProduct, now: DateTime<Utc>) -> (Money, Option<AppliedPromotion>) {
        let promotions = self.by_id.get(&product.id).map_or(&[][..], |&(b, _)| &self.brands[b].file.promotions[..]);
        let mut best: Option<&Promotion> = None;
        for promo in promotions {
            if promo.is_active(now)
                && promo.applies_to(product)
                && best.is_none_or(|b| promo.percent_off > b.percent_off)
            {
                best = Some(promo);
            }
        }
        match best {
            None => (product.price.clone(), None),
            Some(promo) => (
                // The one rounding rule every component shares.
                product.price.percent_off(promo.percent_off).unwrap_or_else(|| product.price.clone()),
                Some(AppliedPromotion {
                    id: promo.id.clone(),
                    label: promo.label.clone(),
                    percent_off: promo.percent_off,
                }),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fixtures::{at, catalog, now};

    #[test]
    fn expired_promotion_is_not_applied() {
        let c = catalog();
        let trench = c.get("fsh-016").unwrap();
        assert_eq!(c.effective_price(trench, now()), (trench.price.clone(), None));
        // The same code applies it while Black Friday 2025 ran.
        let (price, promo) = c.effective_price(trench, at("2025-11-28T10:00:00Z"));
        assert_eq!(price.amount_minor, 13230);
        assert_eq!(promo.unwrap().id, "black-friday-2025");
        assert!(c.active_promotions("fashion", now()).iter().all(|p| p.id != "black-friday-2025"));
    }

    #[test]
    fn biggest_active_promotion_wins() {
        let c = catalog();
        // The headphones are in both audio-fest (20%, category) and wfh-bundle (10%, id).
        let headphones = c.get("tec-001").unwrap();
        let (price, promo) = c.effective_price(headphones, now());
        assert_eq!(price, Money::new(15920, "USD"));
        assert_eq!(promo.unwrap().percent_off, 20);
        // Before audio-fest starts only the work-from-home bundle applies.
        let (price, promo) = c.effective_price(headphones, at("2026-06-01T00:00:00Z"));
        assert_eq!(price.amount_minor, 17910);
        assert_eq!(promo.unwrap().id, "wfh-bundle");
        // And after both have ended, the list price.
        let (price, promo) = c.effective_price(headphones, at("2027-06-01T00:00:00Z"));
        assert_eq!((price.amount_minor, promo), (19900, None));
    }

    #[test]
    fn discounts_round_half_up() {
        let off = |amount, percent| Money::new(amount, "USD").percent_off(percent).unwrap().amount_minor;
        assert_eq!(off(1010, 15), 858); // discount 151.5 rounds up to 152
        assert_eq!(off(5999, 20), 4799); // discount 1199.8
        assert_eq!(off(1, 50), 0); // discount 0.5 rounds up to 1
        assert_eq!(off(8900, 100), 0);
        assert_eq!(off(i64::MAX, 0), i64::MAX);
    }
}
