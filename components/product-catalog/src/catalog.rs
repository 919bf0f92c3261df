//! The brand catalogs: the `brands/<brand>/catalog.json` files, their validation,
//! multilingual text search with filters, and promotion-aware prices.
//!
//! Pure data logic: no I/O beyond parsing the JSON text it is handed, so it runs the
//! same inside the WebAssembly component and in native unit tests. One module per seam:
//!
//! | module | what |
//! |---|---|
//! | `file` | the file format ([`CatalogFile`], [`CatalogProduct`], [`Promotion`]) |
//! | `validate` | the checks every file passes before it is served ([`CatalogError`]) |
//! | `index` | each product's words, folded and stemmed, by field |
//! | `search` | queries over the index ([`SearchQuery`], [`Catalog::search`]) |
//! | `pricing` | prices after promotions ([`Catalog::effective_price`]) |

mod file;
#[cfg(test)]
mod fixtures;
mod index;
mod pricing;
mod search;
mod validate;

use std::collections::{BTreeSet, HashMap};

pub use agent_store_events::Money;
use agent_store_events::{BrandId, Product, ProductId};
use chrono::{DateTime, Utc};

pub use file::{AppliedPromotion, CatalogFile, CatalogProduct, Promotion};
use index::ProductIndex;
pub use search::{DEFAULT_LIMIT, MAX_LIMIT, SearchHit, SearchQuery, SearchResult};
pub use validate::CatalogError;
use validate::validate_file;

/// Every brand's catalog, validated and indexed for search.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Sorted by brand name so listings and cross-brand results are deterministic.
    brands: Vec<BrandEntry>,
    /// Product id to (brand index, product index).
    by_id: HashMap<String, (usize, usize)>,
}

#[derive(Debug, Clone)]
struct BrandEntry {
    file: CatalogFile,
    /// Parallel to `file.products`.
    index: Vec<ProductIndex>,
}

impl Catalog {
    /// Parses and validates `(brand, catalog.json text)` pairs; the first problem found is
    /// returned.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, CatalogError> {
        let mut parsed: Vec<CatalogFile> = Vec::new();
        for (brand, json) in files {
            let file: CatalogFile = serde_json::from_str(json)
                .map_err(|e| CatalogError::Parse { brand: brand.to_string(), message: e.to_string() })?;
            if file.brand != brand {
                return Err(CatalogError::BrandMismatch { brand: brand.to_string(), declared: file.brand });
            }
            if parsed.iter().any(|f| f.brand == brand) {
                return Err(CatalogError::DuplicateBrand { brand: brand.to_string() });
            }
            parsed.push(file);
        }
        parsed.sort_by(|a, b| a.brand.cmp(&b.brand));

        let mut first_seen: HashMap<String, String> = HashMap::new();
        for file in &parsed {
            validate_file(file, &mut first_seen)?;
        }

        let mut by_id = HashMap::new();
        let brands = parsed
            .into_iter()
            .enumerate()
            .map(|(b, file)| {
                for (p, product) in file.products.iter().enumerate() {
                    by_id.insert(product.id.clone(), (b, p));
                }
                let index = file.products.iter().map(ProductIndex::new).collect();
                BrandEntry { file, index }
            })
            .collect();
        Ok(Self { brands, by_id })
    }

    /// Brand names, sorted.
    pub fn brands(&self) -> Vec<&str> {
        self.brands.iter().map(|b| b.file.brand.as_str()).collect()
    }

    /// A brand's whole file: display name, currency, products and promotions.
    pub fn brand(&self, brand: &str) -> Option<&CatalogFile> {
        self.entry(brand).map(|e| &e.file)
    }

    /// The brand's distinct categories, sorted; empty for an unknown brand.
    pub fn categories(&self, brand: &str) -> Vec<&str> {
        let Some(entry) = self.entry(brand) else {
            return Vec::new();
        };
        let set: BTreeSet<&str> = entry.file.products.iter().map(|p| p.category.as_str()).collect();
        set.into_iter().collect()
    }

    /// The brand's products in file order; empty for an unknown brand.
    pub fn products(&self, brand: &str) -> &[CatalogProduct] {
        self.entry(brand).map_or(&[], |e| &e.file.products)
    }

    pub fn get(&self, id: &str) -> Option<&CatalogProduct> {
        self.by_id.get(id).map(|&(b, p)| &self.brands[b].file.products[p])
    }

    /// The brand a product belongs to.
    pub fn brand_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|&(b, _)| self.brands[b].file.brand.as_str())
    }

    /// The brand's products that fit a stated need, best first, each with the share
    /// of the need's words it matches (0 to 1]; products matching none are left out.
    pub fn fitting(&self, brand: &str, need: &str) -> Vec<(&CatalogProduct, f32)> {
        let terms: Vec<index::Term> = index::query_terms(need).collect();
        let Some(entry) = self.brands.iter().find(|b| b.file.brand == brand) else { return Vec::new() };
        if terms.is_empty() {
            return Vec::new();
        }
        let mut fits: Vec<(&CatalogProduct, usize, u32)> = entry
            .file
            .products
            .iter()
            .zip(&entry.index)
            .map(|(product, index)| {
                let (matched, score) = index.fit(&terms);
                (product, matched, score)
            })
            .filter(|(_, matched, _)| *matched > 0)
            .collect();
        fits.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(b.0.popularity.cmp(&a.0.popularity)));
        fits.into_iter().map(|(p, matched, _)| (p, matched as f32 / terms.len() as f32)).collect()
    }

    /// Similar alternatives to a product, in the order the file lists them.
    pub fn related(&self, id: &str) -> Vec<&CatalogProduct> {
        self.get(id).map(|p| p.related.iter().filter_map(|r| self.get(r)).collect()).unwrap_or_default()
    }

    /// Items that go with a product, in the order the file lists them.
    pub fn complements(&self, id: &str) -> Vec<&CatalogProduct> {
        self.get(id).map(|p| p.complements.iter().filter_map(|c| self.get(c)).collect()).unwrap_or_default()
    }

    /// A product as events carry it: its price at `now` (with the promotion
    /// that set it, which sets its variants' own prices on sale too) and
    /// `stock` units in stock.
    pub fn product(&self, p: &CatalogProduct, stock: u32, now: DateTime<Utc>) -> Product {
        let (price, promotion) = self.effective_price(p, now);
        let variants = p.variants.clone().map(|mut variants| {
            for option in &mut variants.options {
                option.sale_price = match (&option.price, &promotion) {
                    (Some(list), Some(promo)) => list.percent_off(promo.percent_off),
                    _ => None,
                };
            }
            variants
        });
        Product {
            id: ProductId::new(&p.id),
            brand: BrandId::new(self.brand_of(&p.id).unwrap_or_default()),
            name: p.name.clone(),
            names: p.names.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            tags: p.tags.clone(),
            keywords: p.keywords.clone(),
            attributes: p.attributes.clone(),
            price: p.price.clone(),
            sale_price: promotion.as_ref().map(|_| price),
            promotion: promotion.map(|promo| agent_store_events::AppliedPromotion {
                id: promo.id,
                label: promo.label,
                percent_off: promo.percent_off,
            }),
            stock,
            image_url: p.image_url.clone(),
            variants,
        }
    }

    fn entry(&self, brand: &str) -> Option<&BrandEntry> {
        self.brands.iter().find(|b| b.file.brand == brand)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{at, catalog};

    // -- the real files --------------------------------------------------------------

    #[test]
    fn every_brand_loads_with_enough_products() {
        let c = catalog();
        assert_eq!(c.brands(), ["beauty", "fashion", "gaming", "home", "tech"]);
        for brand in c.brands() {
            let file = c.brand(brand).unwrap();
            assert!(file.products.len() >= 24, "{brand}: {}", file.products.len());
            let cats = c.categories(brand);
            assert!((4..=6).contains(&cats.len()), "{brand}: {cats:?}");
            assert_eq!(file.currency, "USD");
        }
    }

    #[test]
    fn files_follow_the_conventions() {
        let c = catalog();
        let prefixes =
            [("fashion", "fsh-"), ("tech", "tec-"), ("home", "hom-"), ("beauty", "bty-"), ("gaming", "gam-")];
        for (brand, prefix) in prefixes {
            let file = c.brand(brand).unwrap();
            let out = file.products.iter().filter(|p| p.stock == 0).count();
            assert_eq!(out, 2, "{brand}: out-of-stock products");
            assert!(file.products.iter().any(|p| (1..=5).contains(&p.stock)), "{brand}: no low-stock product");
            for p in &file.products {
                assert!(p.id.starts_with(prefix), "{}", p.id);
                assert_eq!(p.image_url, format!("https://cdn.agent-store.example/{brand}/{}.jpg", p.id));
                assert!(p.price.amount_minor > 0, "{}", p.id);
                for w in p.keywords.iter().chain(&p.tags) {
                    assert_eq!(*w, w.to_lowercase(), "{}: {w}", p.id);
                }
                for key in p.attributes.keys() {
                    let snake = key.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
                    assert!(snake, "{}: attribute {key}", p.id);
                }
                for r in c.related(&p.id) {
                    assert_eq!(r.category, p.category, "{} related {}", p.id, r.id);
                }
                for m in c.complements(&p.id) {
                    assert_ne!(m.category, p.category, "{} complement {}", p.id, m.id);
                }
            }
            let promos = &file.promotions;
            assert!((1..=3).contains(&promos.len()), "{brand}");
            assert!(promos.iter().all(|p| (5..=40).contains(&p.percent_off)));
            assert!(promos.iter().any(|p| p.ends_at < at("2026-01-01T00:00:00Z")), "{brand}: no expired promotion");
        }
    }

    #[test]
    fn lookups() {
        let c = catalog();
        assert_eq!(c.get("gam-008").unwrap().name, "PixelForge Deck Handheld 512 GB");
        assert_eq!(c.brand_of("gam-008"), Some("gaming"));
        assert!(c.get("gam-999").is_none());
        let complements: Vec<&str> = c.complements("fsh-001").iter().map(|p| p.id.as_str()).collect();
        assert_eq!(complements, ["fsh-021", "fsh-026", "fsh-029"]);
        assert_eq!(c.related("fsh-001").len(), 3);
        assert_eq!(c.categories("home"), ["bath", "bedding", "decor", "furniture", "kitchen", "lighting"]);
        assert!(c.categories("pets").is_empty());
    }
}
