//! Searching the catalogs: free text in three languages, a category, a price range
//! (on the price after promotions) and stock, best matches first.

use agent_store_text::fold;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::index::{Term, query_terms};
use super::{AppliedPromotion, Catalog, CatalogProduct, Money};

/// Results returned when a query does not say how many it wants.
pub const DEFAULT_LIMIT: usize = 10;
/// The most results one query can return, whatever it asks for.
pub const MAX_LIMIT: usize = 50;

/// A product search. Every field is optional in JSON, so it can come straight from an
/// event payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    pub brand: Option<String>,
    /// Free text in English, Spanish or Portuguese.
    pub text: Option<String>,
    pub category: Option<String>,
    /// Compared with the effective price, after active promotions.
    pub min_price_minor: Option<i64>,
    /// Compared with the effective price, after active promotions.
    pub max_price_minor: Option<i64>,
    pub in_stock_only: bool,
    /// When no product has every word of `text`, those with some of them: the most
    /// words first, then the most relevant (a name before a description).
    pub partial: bool,
    /// [`DEFAULT_LIMIT`] when absent, never more than [`MAX_LIMIT`].
    pub limit: Option<usize>,
}

/// Ranks a partial match by the words it has before their relevance.
const PER_WORD_MATCHED: u32 = 1_000;

/// One product found by a search, with the price the customer would pay now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit<'a> {
    pub brand: &'a str,
    pub product: &'a CatalogProduct,
    pub price: Money,
    pub promotion: Option<AppliedPromotion>,
    /// Text relevance; 0 when the query had no text.
    pub score: u32,
    /// Units the customer can buy now: the file's stock for [`Catalog::search`], the
    /// live figure for [`Catalog::search_with_stock`].
    pub stock: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult<'a> {
    /// The best matches, at most the query's limit.
    pub products: Vec<SearchHit<'a>>,
    /// How many products matched before the limit was applied.
    pub total: usize,
}

impl Catalog {
    /// Finds products matching every filter of `q`, best first: by text relevance, then
    /// popularity, then id. Stock is the file's; [`Catalog::search_with_stock`] takes the
    /// live figures.
    pub fn search(&self, q: &SearchQuery, now: DateTime<Utc>) -> SearchResult<'_> {
        let file_stock = |p: &CatalogProduct| Ok::<u32, std::convert::Infallible>(p.stock);
        let Ok(result) = self.search_with_stock(q, now, file_stock);
        result
    }

    /// [`Catalog::search`] with the stock the customer can buy now, which `stock_of`
    /// knows (orders change it; the files do not). It is asked only about products that
    /// pass every other filter, since each answer may cost a key-value read.
    pub fn search_with_stock<E>(
        &self,
        q: &SearchQuery,
        now: DateTime<Utc>,
        mut stock_of: impl FnMut(&CatalogProduct) -> Result<u32, E>,
    ) -> Result<SearchResult<'_>, E> {
        let brand = non_blank(&q.brand).map(fold);
        let category = non_blank(&q.category).map(|c| Term::new(fold(c)));
        let terms: Vec<Term> = non_blank(&q.text).map(|t| query_terms(t).collect()).unwrap_or_default();
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);

        let mut hits = Vec::new();
        let mut partial = Vec::new();
        for entry in &self.brands {
            if brand.as_ref().is_some_and(|b| *b != fold(&entry.file.brand)) {
                continue;
            }
            for (product, index) in entry.file.products.iter().zip(&entry.index) {
                if category.as_ref().is_some_and(|c| !c.same_word(&index.category)) {
                    continue;
                }
                let (score, whole) = match index.score(&terms) {
                    Some(score) => (score, true),
                    None if q.partial => match index.fit(&terms) {
                        (matched, score) if matched > 0 => (PER_WORD_MATCHED * matched as u32 + score, false),
                        _ => continue,
                    },
                    None => continue,
                };
                let (price, promotion) = self.effective_price(product, now);
                if q.min_price_minor.is_some_and(|min| price.amount_minor < min)
                    || q.max_price_minor.is_some_and(|max| price.amount_minor > max)
                {
                    continue;
                }
                let stock = stock_of(product)?;
                if q.in_stock_only && stock == 0 {
                    continue;
                }
                let hit = SearchHit { brand: &entry.file.brand, product, price, promotion, score, stock };
                if whole { hits.push(hit) } else { partial.push(hit) }
            }
        }
        if hits.is_empty() {
            hits = partial;
        }
        hits.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(b.product.popularity.cmp(&a.product.popularity))
                .then_with(|| a.product.id.cmp(&b.product.id))
        });
        let total = hits.len();
        hits.truncate(limit);
        Ok(SearchResult { products: hits, total })
    }
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::catalog::fixtures::{catalog, now};

    fn text(brand: &str, text: &str) -> SearchQuery {
        SearchQuery { brand: Some(brand.into()), text: Some(text.into()), ..SearchQuery::default() }
    }

    fn ids(r: &SearchResult<'_>) -> Vec<String> {
        r.products.iter().map(|h| h.product.id.clone()).collect()
    }

    fn first(c: &Catalog, brand: &str, q: &str) -> String {
        let r = c.search(&text(brand, q), now());
        r.products.first().map(|h| h.product.id.clone()).unwrap_or_else(|| panic!("{brand}: \"{q}\" found nothing"))
    }

    #[test]
    fn every_product_is_found_by_its_name_and_keywords() {
        let c = catalog();
        for brand in c.brands() {
            for p in c.products(brand) {
                assert_eq!(first(&c, brand, &p.name), p.id, "name of {}", p.id);
                for (language, name) in &p.names {
                    assert_eq!(first(&c, brand, name), p.id, "{language} name of {}", p.id);
                }
                for kw in &p.keywords {
                    let mut q = text(brand, kw);
                    q.limit = Some(MAX_LIMIT);
                    let r = c.search(&q, now());
                    assert!(ids(&r).contains(&p.id), "{}: keyword \"{kw}\"", p.id);
                }
            }
        }
    }

    #[test]
    fn fashion_search_in_three_languages() {
        let c = catalog();
        let r = c.search(&text("fashion", "vestido"), now());
        assert_eq!(r.total, 5);
        assert!(r.products.iter().all(|h| h.product.category == "dresses"));
        assert_eq!(first(&c, "fashion", "linen dress"), "fsh-001");
        assert_eq!(first(&c, "fashion", "dresses"), first(&c, "fashion", "dress"));
        assert_eq!(first(&c, "fashion", "zapatillas"), "fsh-022");
        assert_eq!(first(&c, "fashion", "quero um tênis branco"), "fsh-022");
        assert_eq!(first(&c, "fashion", "TENIS"), "fsh-022");
        assert_eq!(first(&c, "fashion", "busco una chaqueta de cuero"), "fsh-017");
        assert_eq!(first(&c, "fashion", "óculos de sol"), "fsh-031");
        assert_eq!(first(&c, "fashion", "jeans"), "fsh-011");
        assert_eq!(first(&c, "fashion", "vestid"), "fsh-001");
    }

    #[test]
    fn tech_search_in_three_languages() {
        let c = catalog();
        assert_eq!(first(&c, "tech", "fone de ouvido"), "tec-001");
        assert_eq!(first(&c, "tech", "noise cancelling headphones"), "tec-001");
        assert_eq!(first(&c, "tech", "earbuds"), "tec-002");
        assert_eq!(first(&c, "tech", "teclado"), "tec-016");
        assert_eq!(first(&c, "tech", "cargador"), "tec-019");
        assert_eq!(first(&c, "tech", "carregador sem fio"), "tec-023");
        assert_eq!(first(&c, "tech", "reloj inteligente"), "tec-007");
        assert_eq!(first(&c, "tech", "celular"), "tec-009");
    }

    #[test]
    fn home_search_in_three_languages() {
        let c = catalog();
        assert_eq!(first(&c, "home", "sofá"), "hom-001");
        assert_eq!(first(&c, "home", "couch"), "hom-001");
        assert_eq!(first(&c, "home", "almohada"), "hom-009");
        assert_eq!(first(&c, "home", "travesseiros"), "hom-009");
        assert_eq!(first(&c, "home", "toalhas de banho"), "hom-027");
        assert_eq!(first(&c, "home", "alfombra"), "hom-017");
        assert_eq!(first(&c, "home", "duvet cover"), "hom-007");
        let r = c.search(&text("home", "lámpara"), now());
        assert!(r.total >= 3);
        assert!(r.products.iter().all(|h| h.product.category == "lighting"));
    }

    #[test]
    fn beauty_search_in_three_languages() {
        let c = catalog();
        assert_eq!(first(&c, "beauty", "protector solar"), "bty-009");
        assert_eq!(first(&c, "beauty", "protetor solar"), "bty-009");
        assert_eq!(first(&c, "beauty", "sunscreen"), "bty-009");
        assert_eq!(first(&c, "beauty", "crema hidratante"), "bty-004");
        assert_eq!(first(&c, "beauty", "champú"), "bty-019");
        assert_eq!(first(&c, "beauty", "batom"), "bty-015");
        assert_eq!(first(&c, "beauty", "perfume"), "bty-023");
    }

    #[test]
    fn gaming_search_in_three_languages() {
        let c = catalog();
        assert_eq!(first(&c, "gaming", "mando"), "gam-012");
        assert_eq!(first(&c, "gaming", "controle"), "gam-012");
        assert_eq!(first(&c, "gaming", "teclado mecânico"), "gam-019");
        assert_eq!(first(&c, "gaming", "jogo de futebol"), "gam-006");
        assert_eq!(first(&c, "gaming", "auriculares gamer"), "gam-016");
        assert_eq!(first(&c, "gaming", "silla gamer"), "gam-025");
        assert_eq!(first(&c, "gaming", "wireless headset"), "gam-016");
    }

    #[test]
    fn name_hits_outrank_keyword_hits() {
        let c = catalog();
        // The tee (popularity 92) has "shirt" only among its keywords; the button-down
        // (77) has it in its name, and the name must win over popularity.
        let r = c.search(&text("fashion", "shirt"), now());
        let order = ids(&r);
        let pos = |id: &str| order.iter().position(|x| x == id).unwrap();
        assert_eq!(order[0], "fsh-007");
        assert!(pos("fsh-005") < pos("fsh-006"), "{order:?}");
    }

    #[test]
    fn no_brand_searches_every_brand() {
        let c = catalog();
        let q = SearchQuery { text: Some("teclado".into()), ..SearchQuery::default() };
        let r = c.search(&q, now());
        let brands: BTreeSet<&str> = r.products.iter().map(|h| h.brand).collect();
        assert_eq!(brands.into_iter().collect::<Vec<_>>(), ["gaming", "tech"]);
    }

    #[test]
    fn unmatched_words_and_unknown_brands_find_nothing() {
        let c = catalog();
        assert_eq!(c.search(&text("fashion", "vestido xyzzy"), now()).total, 0);
        assert_eq!(c.search(&text("pets", "vestido"), now()).total, 0);
    }

    #[test]
    fn stopwords_only_browses_by_popularity() {
        let c = catalog();
        let r = c.search(&text("fashion", "quero um"), now());
        assert_eq!(r.total, c.products("fashion").len());
        let pops: Vec<u8> = r.products.iter().map(|h| h.product.popularity).collect();
        assert!(pops.windows(2).all(|w| w[0] >= w[1]), "{pops:?}");
    }

    // -- filters -----------------------------------------------------------------------

    #[test]
    fn category_filter() {
        let c = catalog();
        let q = SearchQuery {
            brand: Some("fashion".into()),
            category: Some("Shoes".into()),
            limit: Some(MAX_LIMIT),
            ..SearchQuery::default()
        };
        let r = c.search(&q, now());
        assert_eq!(r.total, 5);
        assert!(r.products.iter().all(|h| h.product.category == "shoes"));
    }

    #[test]
    fn price_range_uses_the_sale_price() {
        let c = catalog();
        // fsh-001 lists at $89.00 but dress season takes 15% off: $75.65.
        let q = SearchQuery {
            brand: Some("fashion".into()),
            category: Some("dresses".into()),
            min_price_minor: Some(7000),
            max_price_minor: Some(8000),
            ..SearchQuery::default()
        };
        let r = c.search(&q, now());
        assert_eq!(ids(&r), ["fsh-001"]);
        assert_eq!(r.products[0].price, Money::new(7565, "USD"));
        assert_eq!(r.products[0].product.price.amount_minor, 8900);
        let promo = r.products[0].promotion.as_ref().unwrap();
        assert_eq!(promo.id, "dress-season");
    }

    #[test]
    fn in_stock_only_drops_sold_out_products() {
        let c = catalog();
        let mut q = text("fashion", "vestido");
        assert!(ids(&c.search(&q, now())).contains(&"fsh-003".to_string()));
        q.in_stock_only = true;
        let r = c.search(&q, now());
        assert_eq!(r.total, 4);
        assert!(r.products.iter().all(|h| h.product.stock > 0));
    }

    #[test]
    fn a_partial_search_finds_the_product_a_question_names() {
        let c = catalog();
        let question = SearchQuery { partial: true, ..text("beauty", "vitamin serum cruelty free") };
        assert!(c.search(&SearchQuery { partial: false, ..question.clone() }, now()).products.is_empty());
        assert_eq!(ids(&c.search(&question, now()))[0], "bty-002");
        // One word in a name outranks the same count in descriptions; every word
        // found is a whole match as before; words no product has find nothing.
        let one = SearchQuery { partial: true, ..text("tech", "soundbar big living room") };
        assert_eq!(c.get(&ids(&c.search(&one, now()))[0]).unwrap().category, "audio");
        let whole = SearchQuery { partial: true, ..text("beauty", "vitamin serum") };
        assert_eq!(ids(&c.search(&whole, now()))[0], "bty-002");
        let nothing = SearchQuery { partial: true, ..text("beauty", "zzqx qqzx") };
        assert!(c.search(&nothing, now()).products.is_empty());
    }

    #[test]
    fn limit_and_total() {
        let c = catalog();
        let all: usize = c.brands().iter().map(|b| c.products(b).len()).sum();
        let mut q = SearchQuery::default();
        let r = c.search(&q, now());
        assert_eq!((r.products.len(), r.total), (DEFAULT_LIMIT, all));
        q.limit = Some(3);
        assert_eq!(c.search(&q, now()).products.len(), 3);
        q.limit = Some(1000);
        assert_eq!(c.search(&q, now()).products.len(), MAX_LIMIT);
        q.limit = Some(0);
        let r = c.search(&q, now());
        assert_eq!((r.products.len(), r.total), (0, all));
    }

    #[test]
    fn query_deserialises_from_a_sparse_payload() {
        let q: SearchQuery = serde_json::from_str(r#"{"text":"vestido"}"#).unwrap();
        assert_eq!(q.text.as_deref(), Some("vestido"));
        assert!(!q.in_stock_only);
        assert_eq!(q.limit, None);
    }
}
