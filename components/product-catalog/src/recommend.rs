//! What to suggest around a product and a cart: related products (alternatives the
//! file lists under `related`), complementary ones (`complements` of the product and of
//! everything in the cart) and the brand's bestsellers (`popularity`).
//!
//! Nothing the customer cannot buy now is suggested: the stock asked about is the live
//! one. The product being discussed and the cart's products are never suggested, and
//! each product appears once, under the kind that scored it highest.

use agent_store_events::RecommendationKind;

use crate::catalog::{Catalog, CatalogProduct, MAX_LIMIT};

/// Suggestions returned when the request does not say how many it wants: a chat
/// message shows a handful, not a catalog page.
pub const DEFAULT_RECOMMENDATIONS: usize = 5;

/// Scores are 0 to 1. Related and complementary picks start high and lose a little
/// per position in the file's list (the file lists the best first); bestsellers score
/// at most [`POPULAR_MAX`], so a pick tied to the product comes before a generic one.
const RELATED_TOP: f32 = 0.95;
const COMPLEMENT_TOP: f32 = 0.9;
const PER_POSITION: f32 = 0.05;
const FLOOR: f32 = 0.5;
/// A complement that goes with several items of the cart is a better pick.
const PER_EXTRA_ANCHOR: f32 = 0.05;
const POPULAR_MAX: f32 = 0.5;
/// A product that fits every word of a stated need scores [`FITS_TOP`]; one that fits
/// part of it less, down to [`FITS_BOTTOM`]: above any bestseller, since the customer
/// said what they need.
const FITS_TOP: f32 = 0.99;
const FITS_BOTTOM: f32 = 0.55;

/// A recommendation request, already resolved to the brand.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub brand: &'a str,
    pub product_id: Option<&'a str>,
    pub cart: &'a [String],
    /// Empty means every kind.
    pub kinds: &'a [RecommendationKind],
    pub limit: Option<usize>,
    /// What the customer said they need ("dry skin moisturiser"); products that fit
    /// it come first, as [`RecommendationKind::Fits`].
    pub need: Option<&'a str>,
    /// Only products whose price now (promotions applied) is within it.
    pub price: Option<PriceRange>,
}

/// A price range in minor units, either end open, at a moment (promotions
/// start and end).
#[derive(Debug, Clone, Copy)]
pub struct PriceRange {
    pub min_minor: Option<i64>,
    pub max_minor: Option<i64>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// One suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick<'a> {
    pub product: &'a CatalogProduct,
    pub kind: RecommendationKind,
    pub score: f32,
    /// Units available now (at least 1).
    pub stock: u32,
}

/// The suggestions, best first. Ids the brand does not have (in `product_id` or the
/// cart) anchor nothing; an unknown brand gets none.
pub fn recommend<'a, E>(
    catalog: &'a Catalog,
    request: &Request<'_>,
    mut stock_of: impl FnMut(&CatalogProduct) -> Result<u32, E>,
) -> Result<Vec<Pick<'a>>, E> {
    let limit = request.limit.unwrap_or(DEFAULT_RECOMMENDATIONS).min(MAX_LIMIT);
    let wants = |kind| request.kinds.is_empty() || request.kinds.contains(&kind);
    let in_brand = |id: &str| catalog.brand_of(id) == Some(request.brand);
    let excluded: Vec<&str> = request.product_id.into_iter().chain(request.cart.iter().map(String::as_str)).collect();

    let mut candidates: Vec<(&CatalogProduct, RecommendationKind, f32)> = Vec::new();
    if wants(RecommendationKind::Related)
        && let Some(anchor) = request.product_id.filter(|id| in_brand(id))
    {
        for (i, product) in catalog.related(anchor).into_iter().enumerate() {
            candidates.push((product, RecommendationKind::Related, positional(RELATED_TOP, i)));
        }
    }
    if wants(RecommendationKind::Complementary) {
        let mut anchors: Vec<&str> = Vec::new();
        for id in &excluded {
            if in_brand(id) && !anchors.contains(id) {
                anchors.push(id);
            }
        }
        let mut complements: Vec<(&CatalogProduct, f32, usize)> = Vec::new();
        for anchor in anchors {
            for (i, product) in catalog.complements(anchor).into_iter().enumerate() {
                let score = positional(COMPLEMENT_TOP, i);
                match complements.iter_mut().find(|(p, ..)| p.id == product.id) {
                    Some((_, best, count)) => {
                        *best = best.max(score);
                        *count += 1;
                    }
                    None => complements.push((product, score, 1)),
                }
            }
        }
        for (product, best, count) in complements {
            let score = (best + PER_EXTRA_ANCHOR * (count - 1) as f32).min(0.99);
            candidates.push((product, RecommendationKind::Complementary, score));
        }
    }
    if let Some(need) = request.need.filter(|_| wants(RecommendationKind::Fits)) {
        for (product, share) in catalog.fitting(request.brand, need) {
            candidates.push((product, RecommendationKind::Fits, FITS_BOTTOM + (FITS_TOP - FITS_BOTTOM) * share));
        }
    }
    if wants(RecommendationKind::Popular) {
        for product in catalog.products(request.brand) {
            let score = POPULAR_MAX * f32::from(product.popularity) / 100.0;
            candidates.push((product, RecommendationKind::Popular, score));
        }
    }

    // Best first, so that the first time a product appears is its best kind.
    candidates.sort_by(|a, b| {
        b.2.total_cmp(&a.2).then(b.0.popularity.cmp(&a.0.popularity)).then_with(|| a.0.id.cmp(&b.0.id))
    });
    let mut picks: Vec<Pick<'a>> = Vec::new();
    for (product, kind, score) in candidates {
        if picks.len() == limit {
            break;
        }
        if excluded.contains(&product.id.as_str()) || picks.iter().any(|p| p.product.id == product.id) {
            continue;
        }
        if let Some(range) = &request.price {
            let (price, _) = catalog.effective_price(product, range.now);
            if range.min_minor.is_some_and(|min| price.amount_minor < min)
                || range.max_minor.is_some_and(|max| price.amount_minor > max)
            {
                continue;
            }
        }
        let stock = stock_of(product)?;
        if stock == 0 {
            continue;
        }
        // Two decimals: scores are for ordering and for people reading events.
        let score = (score * 100.0).round() / 100.0;
        picks.push(Pick { product, kind, score, stock });
    }
    Ok(picks)
}

fn positional(top: f32, position: usize) -> f32 {
    (top - PER_POSITION * position as f32).max(FLOOR)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;

    use super::*;
    use RecommendationKind::*;

    const FASHION: &str = include_str!("../../../brands/fashion/catalog.json");
    const TECH: &str = include_str!("../../../brands/tech/catalog.json");

    fn catalog() -> Catalog {
        Catalog::from_files([("fashion", FASHION), ("tech", TECH)]).unwrap()
    }

    fn file_stock(p: &CatalogProduct) -> Result<u32, Infallible> {
        Ok(p.stock)
    }

    fn ids(picks: &[Pick<'_>]) -> Vec<String> {
        picks.iter().map(|p| p.product.id.clone()).collect()
    }

    fn ask<'a>(c: &'a Catalog, request: &Request<'_>) -> Vec<Pick<'a>> {
        let Ok(picks) = recommend(c, request, file_stock);
        picks
    }

    #[test]
    fn related_and_complementary_come_from_the_file() {
        let c = catalog();
        let dress = c.get("fsh-001").unwrap();
        let request = Request {
            brand: "fashion",
            product_id: Some("fsh-001"),
            kinds: &[Related],
            limit: Some(50),
            ..Request::default()
        };
        let related: Vec<String> = dress.related.iter().filter(|id| c.get(id).unwrap().stock > 0).cloned().collect();
        assert_eq!(ids(&ask(&c, &request)), related);
        let kinds = [Complementary];
        let request = Request { kinds: &kinds, ..request };
        let picks = ask(&c, &request);
        assert_eq!(ids(&picks), dress.complements);
        assert!(picks.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(picks.iter().all(|p| p.kind == Complementary && p.score <= 1.0));
    }

    #[test]
    fn nothing_out_of_stock_the_product_or_the_cart_is_suggested() {
        let c = catalog();
        let cart = vec!["fsh-021".to_string(), "fsh-011".to_string()];
        let request = Request {
            brand: "fashion",
            product_id: Some("fsh-001"),
            cart: &cart,
            limit: Some(50),
            ..Request::default()
        };
        let picks = ask(&c, &request);
        let got = ids(&picks);
        assert!(!got.iter().any(|id| id == "fsh-001" || cart.contains(id)), "{got:?}");
        assert!(picks.iter().all(|p| p.stock > 0 && p.product.stock > 0));
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "each product once: {got:?}");
        // Every in-stock fashion product but the four excluded is there.
        let in_stock = c.products("fashion").iter().filter(|p| p.stock > 0).count();
        assert_eq!(got.len(), in_stock - 3, "{got:?}");
        assert!(picks.iter().all(|p| c.brand_of(&p.product.id) == Some("fashion")));
    }

    #[test]
    fn live_stock_decides_not_the_file() {
        let c = catalog();
        let sold_out: HashMap<&str, u32> = [("fsh-021", 0)].into();
        let request =
            Request { brand: "fashion", product_id: Some("fsh-001"), kinds: &[Complementary], ..Request::default() };
        let live = |p: &CatalogProduct| Ok::<u32, Infallible>(*sold_out.get(p.id.as_str()).unwrap_or(&p.stock));
        let Ok(picks) = recommend(&c, &request, live);
        assert!(!ids(&picks).contains(&"fsh-021".to_string()), "{:?}", ids(&picks));
        let failing = |_: &CatalogProduct| Err::<u32, &str>("store down");
        assert_eq!(recommend(&c, &request, failing), Err("store down"));
    }

    #[test]
    fn a_complement_of_several_cart_items_ranks_higher() {
        let c = catalog();
        // Find a product two others both list as a complement.
        let products = c.products("fashion");
        let (a, b, shared) = products
            .iter()
            .flat_map(|a| products.iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.id < b.id)
            .find_map(|(a, b)| {
                a.complements
                    .iter()
                    .find(|m| b.complements.contains(m) && c.get(m).unwrap().stock > 0)
                    .map(|m| (a.id.clone(), b.id.clone(), m.clone()))
            })
            .expect("two fashion products share a complement");
        let one = vec![a.clone()];
        let both = vec![a, b];
        let score_of = |cart: &[String]| {
            let request =
                Request { brand: "fashion", cart, kinds: &[Complementary], limit: Some(50), ..Request::default() };
            ask(&c, &request).into_iter().find(|p| p.product.id == shared).unwrap().score
        };
        assert!(score_of(&both) > score_of(&one));
    }

    #[test]
    fn without_an_anchor_bestsellers_fill_in() {
        let c = catalog();
        let request = Request { brand: "tech", ..Request::default() };
        let picks = ask(&c, &request);
        assert_eq!(picks.len(), DEFAULT_RECOMMENDATIONS);
        assert!(picks.iter().all(|p| p.kind == Popular && p.score <= POPULAR_MAX));
        let pops: Vec<u8> = picks.iter().map(|p| p.product.popularity).collect();
        assert!(pops.windows(2).all(|w| w[0] >= w[1]), "{pops:?}");
        // An unknown product or another brand's anchors nothing.
        let other = Request { product_id: Some("fsh-001"), ..request.clone() };
        assert_eq!(ids(&ask(&c, &other)), ids(&picks));
    }

    #[test]
    fn kinds_limits_and_unknown_brands() {
        let c = catalog();
        let request = Request { brand: "fashion", product_id: Some("fsh-001"), limit: Some(3), ..Request::default() };
        let picks = ask(&c, &request);
        assert_eq!(picks.len(), 3);
        assert!(picks.iter().all(|p| p.kind != Popular), "anchored picks first");
        let zero = Request { limit: Some(0), ..request.clone() };
        assert!(ask(&c, &zero).is_empty());
        let huge = Request { limit: Some(10_000), ..request.clone() };
        assert!(ask(&c, &huge).len() <= MAX_LIMIT);
        let nowhere = Request { brand: "pets", ..request };
        assert!(ask(&c, &nowhere).is_empty());
    }

    #[test]
    fn a_stated_need_puts_what_fits_it_first() {
        let c = catalog();
        let kinds = [Fits, Popular];
        let request =
            Request { brand: "fashion", need: Some("to wear to a beach wedding"), kinds: &kinds, ..Request::default() };
        let picks = ask(&c, &request);
        assert_eq!(picks[0].product.id, "fsh-001", "{:?}", ids(&picks));
        assert_eq!(picks[0].kind, Fits);
        assert!(picks.windows(2).all(|w| w[0].score >= w[1].score));
        // A need nothing in the catalog fits leaves the bestsellers.
        let nothing = Request { need: Some("zzzz"), ..request };
        assert!(ask(&c, &nothing).iter().all(|p| p.kind == Popular));
    }

    #[test]
    fn a_price_range_leaves_out_what_costs_more_or_less() {
        let c = catalog();
        let now = chrono::Utc::now();
        let request = Request {
            brand: "fashion",
            kinds: &[Fits, Popular],
            limit: Some(50),
            need: Some("wedding"),
            ..Request::default()
        };
        let price = |p: &Pick<'_>| c.effective_price(p.product, now).0.amount_minor;
        let all = ask(&c, &request);
        let mut prices: Vec<i64> = all.iter().map(price).collect();
        prices.sort_unstable();
        let (low, high) = (prices[prices.len() / 4], prices[prices.len() * 3 / 4]);
        assert!(low < high, "{prices:?}");
        let range = PriceRange { min_minor: Some(low), max_minor: Some(high), now };
        let within = ask(&c, &Request { price: Some(range), ..request.clone() });
        assert!(!within.is_empty() && within.len() < all.len(), "{} of {}", within.len(), all.len());
        assert!(within.iter().all(|p| (low..=high).contains(&price(p))), "{:?}", ids(&within));
    }
}
