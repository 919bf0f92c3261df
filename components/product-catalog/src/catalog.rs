//! The brand catalogs: the `brands/<brand>/catalog.json` files, their validation,
//! multilingual text search with filters, and promotion-aware prices.
//!
//! Pure data logic: no I/O beyond parsing the JSON text it is handed, so it runs the
//! same inside the WebAssembly component and in native unit tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Results returned when a query does not say how many it wants.
pub const DEFAULT_LIMIT: usize = 10;
/// The most results one query can return, whatever it asks for.
pub const MAX_LIMIT: usize = 50;

pub use agent_store_events::Money;
use agent_store_events::{BrandId, Product, ProductId};
use agent_store_text::{fold, stem};

/// One `brands/<brand>/catalog.json` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub brand: String,
    pub display_name: String,
    pub currency: String,
    pub products: Vec<CatalogProduct>,
    #[serde(default)]
    pub promotions: Vec<Promotion>,
}

/// A product as written in a catalog file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Search words customers type, in English, Spanish and Portuguese.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The list price, before promotions.
    pub price: Money,
    pub stock: u32,
    #[serde(default)]
    pub image_url: String,
    /// Similar alternatives, in the same brand.
    #[serde(default)]
    pub related: Vec<String>,
    /// Items that go with this one, in the same brand.
    #[serde(default)]
    pub complements: Vec<String>,
    /// 0-100; breaks ties in search ranking.
    #[serde(default)]
    pub popularity: u8,
}

impl CatalogProduct {
    pub fn in_stock(&self) -> bool {
        self.stock > 0
    }
}

/// A percentage discount on some products or categories of one brand, for a time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub id: String,
    pub label: String,
    pub percent_off: u8,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Promotion {
    /// Both ends are inclusive: files write the end as `23:59:59` of the last day.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now <= self.ends_at
    }

    pub fn applies_to(&self, product: &CatalogProduct) -> bool {
        self.product_ids.contains(&product.id) || self.categories.contains(&product.category)
    }
}

/// The promotion behind an effective price, as a seller would quote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPromotion {
    pub id: String,
    pub label: String,
    pub percent_off: u8,
}

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
    /// [`DEFAULT_LIMIT`] when absent, never more than [`MAX_LIMIT`].
    pub limit: Option<usize>,
}

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

/// Why a set of catalog files was refused. Every variant names the brand file, and the
/// product or promotion at fault, so the message alone is enough to fix the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    Parse {
        brand: String,
        message: String,
    },
    /// The file was registered under one brand but says it is another.
    BrandMismatch {
        brand: String,
        declared: String,
    },
    DuplicateBrand {
        brand: String,
    },
    /// Ids are unique across all brands, because [`Catalog::get`] looks them up globally.
    DuplicateProductId {
        brand: String,
        id: String,
        first_brand: String,
    },
    DanglingReference {
        brand: String,
        product: String,
        field: &'static str,
        target: String,
    },
    NegativePrice {
        brand: String,
        product: String,
        amount_minor: i64,
    },
    CurrencyMismatch {
        brand: String,
        product: String,
        expected: String,
        found: String,
    },
    InvalidProduct {
        brand: String,
        product: String,
        reason: String,
    },
    InvalidPromotion {
        brand: String,
        promotion: String,
        reason: String,
    },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse { brand, message } => {
                write!(f, "{}: invalid JSON: {message}", file_of(brand))
            }
            Self::BrandMismatch { brand, declared } => {
                write!(f, "{}: declares brand \"{declared}\" but is loaded as \"{brand}\"", file_of(brand))
            }
            Self::DuplicateBrand { brand } => {
                write!(f, "{}: brand loaded twice", file_of(brand))
            }
            Self::DuplicateProductId { brand, id, first_brand } => {
                if brand == first_brand {
                    write!(f, "{}: duplicate product id \"{id}\"", file_of(brand))
                } else {
                    write!(f, "{}: product id \"{id}\" is already used in {}", file_of(brand), file_of(first_brand))
                }
            }
            Self::DanglingReference { brand, product, field, target } => write!(
                f,
                "{}: product \"{product}\" lists \"{target}\" in {field}, \
                 but there is no such product in this brand",
                file_of(brand)
            ),
            Self::NegativePrice { brand, product, amount_minor } => {
                write!(f, "{}: product \"{product}\" has a negative price ({amount_minor})", file_of(brand))
            }
            Self::CurrencyMismatch { brand, product, expected, found } => write!(
                f,
                "{}: product \"{product}\" is priced in {found}, the catalog is in {expected}",
                file_of(brand)
            ),
            Self::InvalidProduct { brand, product, reason } => {
                write!(f, "{}: product \"{product}\": {reason}", file_of(brand))
            }
            Self::InvalidPromotion { brand, promotion, reason } => {
                write!(f, "{}: promotion \"{promotion}\": {reason}", file_of(brand))
            }
        }
    }
}

impl std::error::Error for CatalogError {}

fn file_of(brand: &str) -> String {
    format!("brands/{brand}/catalog.json")
}

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

    /// Similar alternatives to a product, in the order the file lists them.
    pub fn related(&self, id: &str) -> Vec<&CatalogProduct> {
        self.get(id).map(|p| p.related.iter().filter_map(|r| self.get(r)).collect()).unwrap_or_default()
    }

    /// Items that go with a product, in the order the file lists them.
    pub fn complements(&self, id: &str) -> Vec<&CatalogProduct> {
        self.get(id).map(|p| p.complements.iter().filter_map(|c| self.get(c)).collect()).unwrap_or_default()
    }

    /// The brand's promotions running at `now`, in file order.
    pub fn active_promotions(&self, brand: &str, now: DateTime<Utc>) -> Vec<&Promotion> {
        self.entry(brand).map(|e| e.file.promotions.iter().filter(|p| p.is_active(now)).collect()).unwrap_or_default()
    }

    /// A product as events carry it: its price at `now` (with the promotion
    /// that set it) and `stock` units in stock.
    pub fn product(&self, p: &CatalogProduct, stock: u32, now: DateTime<Utc>) -> Product {
        let (price, promotion) = self.effective_price(p, now);
        Product {
            id: ProductId::new(&p.id),
            brand: BrandId::new(self.brand_of(&p.id).unwrap_or_default()),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            tags: p.tags.clone(),
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
        }
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
        for entry in &self.brands {
            if brand.as_ref().is_some_and(|b| *b != fold(&entry.file.brand)) {
                continue;
            }
            for (product, index) in entry.file.products.iter().zip(&entry.index) {
                if category.as_ref().is_some_and(|c| !c.same_word(&index.category)) {
                    continue;
                }
                let Some(score) = index.score(&terms) else {
                    continue;
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
                hits.push(SearchHit { brand: &entry.file.brand, product, price, promotion, score, stock });
            }
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

    fn entry(&self, brand: &str) -> Option<&BrandEntry> {
        self.brands.iter().find(|b| b.file.brand == brand)
    }
}

fn validate_file(file: &CatalogFile, first_seen: &mut HashMap<String, String>) -> Result<(), CatalogError> {
    let brand = file.brand.as_str();
    let product_err = |product: &str, reason: &str| CatalogError::InvalidProduct {
        brand: brand.to_string(),
        product: product.to_string(),
        reason: reason.to_string(),
    };

    for p in &file.products {
        if p.id.trim().is_empty() {
            return Err(product_err(&p.name, "empty id"));
        }
        if let Some(first_brand) = first_seen.get(&p.id) {
            return Err(CatalogError::DuplicateProductId {
                brand: brand.to_string(),
                id: p.id.clone(),
                first_brand: first_brand.clone(),
            });
        }
        first_seen.insert(p.id.clone(), brand.to_string());
        if p.name.trim().is_empty() {
            return Err(product_err(&p.id, "empty name"));
        }
        if p.category.trim().is_empty() {
            return Err(product_err(&p.id, "empty category"));
        }
        if p.price.amount_minor < 0 {
            return Err(CatalogError::NegativePrice {
                brand: brand.to_string(),
                product: p.id.clone(),
                amount_minor: p.price.amount_minor,
            });
        }
        if p.price.currency != file.currency {
            return Err(CatalogError::CurrencyMismatch {
                brand: brand.to_string(),
                product: p.id.clone(),
                expected: file.currency.clone(),
                found: p.price.currency.clone(),
            });
        }
        if p.popularity > 100 {
            return Err(product_err(&p.id, "popularity is above 100"));
        }
    }

    let ids: HashSet<&str> = file.products.iter().map(|p| p.id.as_str()).collect();
    for p in &file.products {
        for (field, targets) in [("related", &p.related), ("complements", &p.complements)] {
            for target in targets {
                if *target == p.id {
                    return Err(product_err(&p.id, &format!("lists itself in {field}")));
                }
                if !ids.contains(target.as_str()) {
                    return Err(CatalogError::DanglingReference {
                        brand: brand.to_string(),
                        product: p.id.clone(),
                        field,
                        target: target.clone(),
                    });
                }
            }
        }
    }

    let categories: HashSet<&str> = file.products.iter().map(|p| p.category.as_str()).collect();
    let mut promo_ids = HashSet::new();
    for promo in &file.promotions {
        let promo_err = |reason: String| CatalogError::InvalidPromotion {
            brand: brand.to_string(),
            promotion: promo.id.clone(),
            reason,
        };
        if promo.id.trim().is_empty() {
            return Err(promo_err(format!("\"{}\" has an empty id", promo.label)));
        }
        if !promo_ids.insert(promo.id.as_str()) {
            return Err(promo_err("duplicate promotion id".into()));
        }
        if !(1..=100).contains(&promo.percent_off) {
            return Err(promo_err(format!("percent_off {} is not within 1-100", promo.percent_off)));
        }
        if promo.starts_at >= promo.ends_at {
            return Err(promo_err("starts_at is not before ends_at".into()));
        }
        if promo.product_ids.is_empty() && promo.categories.is_empty() {
            return Err(promo_err("targets no product and no category".into()));
        }
        if let Some(id) = promo.product_ids.iter().find(|id| !ids.contains(id.as_str())) {
            return Err(promo_err(format!("targets unknown product \"{id}\"")));
        }
        if let Some(c) = promo.categories.iter().find(|c| !categories.contains(c.as_str())) {
            return Err(promo_err(format!("targets unknown category \"{c}\"")));
        }
    }
    Ok(())
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------
// Text matching

/// Relevance of a query word found in each field. Doubled, plus one for a whole-word
/// match, so the field decides the order and exactness only breaks ties within a field.
const WEIGHT_NAME: u32 = 8;
const WEIGHT_KEYWORDS: u32 = 5;
const WEIGHT_CATEGORY: u32 = 4;
const WEIGHT_ATTRIBUTES: u32 = 2;
const WEIGHT_DESCRIPTION: u32 = 1;

/// Words that carry no product meaning in customer messages, in English, Spanish and
/// Portuguese, already folded. Without them "quero um vestido para festa" would require
/// a product to contain "quero".
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    // English
    "a", "an", "the", "and", "or", "for", "with", "of", "to", "in", "on", "at", "by",
    "from", "my", "me", "i", "im", "you", "your", "it", "its", "is", "are", "this", "that",
    "these", "those", "some", "any", "something", "anything", "want", "wanna", "need",
    "looking", "look", "search", "searching", "find", "show", "see", "buy", "get", "have",
    "has", "got", "like", "would", "could", "can", "please", "pls", "hi", "hello", "hey",
    "do", "does", "what", "which", "m", "s", "t", "d", "ll", "ve", "re",
    // Spanish
    "el", "la", "los", "las", "lo", "un", "una", "unos", "unas", "de", "del", "al", "y",
    "e", "o", "u", "en", "con", "para", "por", "mi", "mis", "tu", "tus", "su", "sus", "que",
    "es", "este", "esta", "estos", "estas", "ese", "esa", "quiero", "quisiera", "busco",
    "buscando", "necesito", "tienes", "tiene", "tienen", "tenes", "hay", "muestrame",
    "mostrar", "ver", "comprar", "algo", "algun", "alguno", "alguna", "hola", "gracias",
    "favor", "porfa",
    // Portuguese
    "os", "as", "um", "uma", "uns", "umas", "da", "do", "das", "dos", "na", "no", "nas",
    "nos", "num", "numa", "ou", "em", "com", "pra", "pela", "pelo", "meu", "minha", "seu",
    "sua", "esse", "essa", "isso", "isto", "quero", "queria", "procuro", "procurando",
    "preciso", "tem", "tens", "voce", "voces", "mostra", "algum", "ola", "oi", "obrigado",
    "obrigada",
];

/// A word in two forms: accent-folded, and also plural-folded for matching across
/// singular and plural.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Term {
    folded: String,
    stem: String,
}

impl Term {
    fn new(folded: String) -> Self {
        let stem = stem(&folded).to_string();
        Self { folded, stem }
    }

    fn same_word(&self, other: &Term) -> bool {
        self.folded == other.folded || self.stem == other.stem
    }

    /// How a query word (`self`) matches a product word, if at all. A prefix needs two
    /// letters, or "a"-like leftovers would match half the catalog.
    fn matches(&self, product_word: &Term) -> Option<Match> {
        if self.same_word(product_word) {
            Some(Match::Whole)
        } else if self.folded.len() >= 2 && product_word.folded.starts_with(&self.folded) {
            Some(Match::Prefix)
        } else {
            None
        }
    }
}

/// Ordered so that the better match is the greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    Prefix,
    Whole,
}

/// A product's searchable words, grouped by field, heaviest field first.
#[derive(Debug, Clone)]
struct ProductIndex {
    fields: Vec<(u32, Vec<Term>)>,
    category: Term,
}

impl ProductIndex {
    fn new(p: &CatalogProduct) -> Self {
        let keyword_text = p.keywords.iter().chain(&p.tags).map(String::as_str).collect::<Vec<_>>().join(" ");
        let attribute_text = p.attributes.values().map(String::as_str).collect::<Vec<_>>().join(" ");
        let fields = [
            (WEIGHT_NAME, p.name.as_str()),
            (WEIGHT_KEYWORDS, keyword_text.as_str()),
            (WEIGHT_CATEGORY, p.category.as_str()),
            (WEIGHT_ATTRIBUTES, attribute_text.as_str()),
            (WEIGHT_DESCRIPTION, p.description.as_str()),
        ]
        .into_iter()
        .map(|(weight, text)| {
            let words: BTreeSet<Term> = query_terms(text).collect();
            (weight, words.into_iter().collect())
        })
        .collect();
        Self { fields, category: Term::new(fold(&p.category)) }
    }

    /// `None` unless every query word matches somewhere; an empty query matches with 0.
    fn score(&self, query: &[Term]) -> Option<u32> {
        let mut total = 0;
        for q in query {
            let best = self
                .fields
                .iter()
                .filter_map(|(weight, words)| {
                    let m = words.iter().filter_map(|w| q.matches(w)).max()?;
                    Some(weight * 2 + u32::from(m == Match::Whole))
                })
                .max()?;
            total += best;
        }
        Some(total)
    }
}

/// The meaningful words of a text: folded, split on anything but letters and digits,
/// stopwords removed.
fn query_terms(text: &str) -> impl Iterator<Item = Term> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(|w| Term::new(w.to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FASHION: &str = include_str!("../../../brands/fashion/catalog.json");
    const TECH: &str = include_str!("../../../brands/tech/catalog.json");
    const HOME: &str = include_str!("../../../brands/home/catalog.json");
    const BEAUTY: &str = include_str!("../../../brands/beauty/catalog.json");
    const GAMING: &str = include_str!("../../../brands/gaming/catalog.json");

    const FILES: [(&str, &str); 5] =
        [("fashion", FASHION), ("tech", TECH), ("home", HOME), ("beauty", BEAUTY), ("gaming", GAMING)];

    fn catalog() -> Catalog {
        Catalog::from_files(FILES).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Inside every brand's active promotions and after every expired one.
    fn now() -> DateTime<Utc> {
        at("2026-12-01T12:00:00Z")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

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
    fn every_product_is_found_by_its_name_and_keywords() {
        let c = catalog();
        for brand in c.brands() {
            for p in c.products(brand) {
                assert_eq!(first(&c, brand, &p.name), p.id, "name of {}", p.id);
                for kw in &p.keywords {
                    let mut q = text(brand, kw);
                    q.limit = Some(MAX_LIMIT);
                    let r = c.search(&q, now());
                    assert!(ids(&r).contains(&p.id), "{}: keyword \"{kw}\"", p.id);
                }
            }
        }
    }

    // -- multilingual search ---------------------------------------------------------

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

    // -- prices ------------------------------------------------------------------------

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

    // -- validation --------------------------------------------------------------------

    fn mini(products: &str, promotions: &str) -> String {
        format!(
            r#"{{"brand":"mini","display_name":"Mini","currency":"USD",
                "products":[{products}],"promotions":[{promotions}]}}"#
        )
    }

    fn product(id: &str, extra: &str) -> String {
        format!(
            r#"{{"id":"{id}","name":"Thing {id}","description":"d","category":"things",
                "price":{{"amount_minor":1010,"currency":"USD"}},"stock":1{extra}}}"#
        )
    }

    fn load(json: &str) -> Result<Catalog, CatalogError> {
        Catalog::from_files([("mini", json)])
    }

    #[test]
    fn a_valid_minimal_file_loads() {
        let json = mini(
            &[product("m-1", r#","related":["m-2"]"#), product("m-2", "")].join(","),
            r#"{"id":"p","label":"P","percent_off":15,"categories":["things"],
                "starts_at":"2026-01-01T00:00:00Z","ends_at":"2027-01-01T00:00:00Z"}"#,
        );
        let c = load(&json).unwrap();
        let (price, _) = c.effective_price(c.get("m-1").unwrap(), now());
        assert_eq!(price.amount_minor, 858);
    }

    #[test]
    fn dangling_reference_names_the_ids() {
        let json = mini(&product("m-1", r#","complements":["m-404"]"#), "");
        let err = load(&json).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("m-1") && msg.contains("m-404"), "{msg}");
        assert!(msg.contains("brands/mini/catalog.json"), "{msg}");
        assert!(matches!(err, CatalogError::DanglingReference { field: "complements", .. }));
    }

    #[test]
    fn duplicate_ids_are_refused_within_and_across_brands() {
        let json = mini(&[product("m-1", ""), product("m-1", "")].join(","), "");
        let msg = load(&json).unwrap_err().to_string();
        assert!(msg.contains("duplicate product id \"m-1\""), "{msg}");

        let other = mini(&product("fsh-001", ""), "");
        let err = Catalog::from_files([("fashion", FASHION), ("mini", other.as_str())]).unwrap_err();
        assert!(err.to_string().contains("fsh-001"), "{err}");
        assert!(err.to_string().contains("brands/fashion/catalog.json"), "{err}");
    }

    #[test]
    fn negative_price_is_refused() {
        let json = mini(&product("m-1", ""), "").replace("1010", "-5");
        let err = load(&json).unwrap_err();
        assert!(matches!(err, CatalogError::NegativePrice { ref product, .. } if product == "m-1"));
    }

    #[test]
    fn brand_mismatch_is_refused() {
        let err = Catalog::from_files([("tech", FASHION)]).unwrap_err();
        assert_eq!(err.to_string(), "brands/tech/catalog.json: declares brand \"fashion\" but is loaded as \"tech\"");
    }

    #[test]
    fn other_file_errors() {
        let err = load("{ not json").unwrap_err();
        assert!(matches!(err, CatalogError::Parse { .. }));

        let json = mini(&product("m-1", ""), "").replace("\"USD\"}", "\"EUR\"}");
        assert!(matches!(load(&json), Err(CatalogError::CurrencyMismatch { .. })));

        let json = mini(&product("m-1", r#","popularity":101"#), "");
        assert!(matches!(load(&json), Err(CatalogError::InvalidProduct { .. })));

        let twice = mini(&product("m-1", ""), "");
        let err = Catalog::from_files([("mini", twice.as_str()), ("mini", twice.as_str())]);
        assert!(matches!(err, Err(CatalogError::DuplicateBrand { .. })));

        let bad_promos = [
            r#""percent_off":0,"categories":["things"],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2027-01-01T00:00:00Z""#,
            r#""percent_off":10,"categories":["nope"],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2027-01-01T00:00:00Z""#,
            r#""percent_off":10,"product_ids":["m-9"],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2027-01-01T00:00:00Z""#,
            r#""percent_off":10,"categories":["things"],"starts_at":"2027-01-01T00:00:00Z","ends_at":"2026-01-01T00:00:00Z""#,
        ];
        for body in bad_promos {
            let json = mini(&product("m-1", ""), &format!(r#"{{"id":"bad","label":"B",{body}}}"#));
            let err = load(&json).unwrap_err();
            assert!(
                matches!(err, CatalogError::InvalidPromotion { ref promotion, .. } if promotion == "bad"),
                "{body}: {err}"
            );
        }
    }
}
