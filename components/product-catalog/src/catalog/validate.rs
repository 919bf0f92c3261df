//! The checks a set of catalog files must pass before anything is served from them.

use std::collections::{HashMap, HashSet};
use std::fmt;

use agent_store_events::Variants;

use super::{CatalogFile, CatalogProduct, Promotion};

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
    /// Ids are unique across all brands, because [`Catalog::get`](super::Catalog::get) looks them up globally.
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

/// Checks one file: its products (with ids unique across every file, which
/// `first_seen` maps to the brand that used each first), the references between
/// them, and its promotions.
pub(super) fn validate_file(file: &CatalogFile, first_seen: &mut HashMap<String, String>) -> Result<(), CatalogError> {
    for product in &file.products {
        validate_product(file, product, first_seen)?;
    }
    let ids: HashSet<&str> = file.products.iter().map(|p| p.id.as_str()).collect();
    for product in &file.products {
        validate_references(&file.brand, product, &ids)?;
    }
    let categories: HashSet<&str> = file.products.iter().map(|p| p.category.as_str()).collect();
    let mut promotion_ids = HashSet::new();
    for promotion in &file.promotions {
        if !promotion.id.trim().is_empty() && !promotion_ids.insert(promotion.id.as_str()) {
            return Err(promotion_error(&file.brand, promotion, "duplicate promotion id".into()));
        }
        validate_promotion(&file.brand, promotion, &ids, &categories)?;
    }
    Ok(())
}

fn product_error(brand: &str, product: &str, reason: &str) -> CatalogError {
    CatalogError::InvalidProduct { brand: brand.to_string(), product: product.to_string(), reason: reason.to_string() }
}

fn promotion_error(brand: &str, promotion: &Promotion, reason: String) -> CatalogError {
    CatalogError::InvalidPromotion { brand: brand.to_string(), promotion: promotion.id.clone(), reason }
}

/// A product's own fields, and its id's uniqueness across the files seen so far.
fn validate_product(
    file: &CatalogFile,
    p: &CatalogProduct,
    first_seen: &mut HashMap<String, String>,
) -> Result<(), CatalogError> {
    let brand = file.brand.as_str();
    if p.id.trim().is_empty() {
        return Err(product_error(brand, &p.name, "empty id"));
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
        return Err(product_error(brand, &p.id, "empty name"));
    }
    // The store speaks English (the `name`), Spanish and Portuguese.
    for (language, name) in &p.names {
        if !LOCALIZED.contains(&language.as_str()) {
            return Err(product_error(
                brand,
                &p.id,
                &format!("a name in {language:?}: names are given in {}", LOCALIZED.join(" and ")),
            ));
        }
        if name.trim().is_empty() || name.chars().count() > MAX_NAME {
            return Err(product_error(
                brand,
                &p.id,
                &format!("its {language} name must be 1 to {MAX_NAME} characters"),
            ));
        }
    }
    if p.category.trim().is_empty() {
        return Err(product_error(brand, &p.id, "empty category"));
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
        return Err(product_error(brand, &p.id, "popularity is above 100"));
    }
    if let Some(variants) = &p.variants {
        validate_variants(brand, p, variants)?;
    }
    Ok(())
}

/// The languages a product's `names` may be in; `name` is the English one.
const LOCALIZED: &[&str] = &["es", "pt"];

/// Longest localized name: a WhatsApp list row title is 24 characters and a
/// card's name is cut anyway; this only stops a description pasted in.
const MAX_NAME: usize = 120;

/// The most options a product may have: a list of them fits one WhatsApp
/// list message three times over, and sizes or shades rarely go beyond.
const MAX_VARIANTS: usize = 30;

/// Variants: a kind, 1 to [`MAX_VARIANTS`] distinct options of 1 to 40
/// characters (no `#`, which separates them in stock keys), whose stocks add
/// up to the product's, so the product's own figures stay right; an option's
/// own price, if any, above zero in the product's currency.
fn validate_variants(brand: &str, p: &CatalogProduct, variants: &Variants) -> Result<(), CatalogError> {
    if variants.kind.trim().is_empty() {
        return Err(product_error(brand, &p.id, "variants without a kind"));
    }
    if variants.options.is_empty() || variants.options.len() > MAX_VARIANTS {
        return Err(product_error(brand, &p.id, &format!("1 to {MAX_VARIANTS} variant options")));
    }
    let mut seen = HashSet::new();
    for option in &variants.options {
        let value = option.value.trim();
        if value.is_empty() || value.chars().count() > 40 || value.contains('#') || value != option.value {
            return Err(product_error(brand, &p.id, &format!("variant option {:?} is not a plain name", option.value)));
        }
        if !seen.insert(value.to_lowercase()) {
            return Err(product_error(brand, &p.id, &format!("variant option {value} twice")));
        }
        // Its own price is a list price in the product's currency; what it
        // costs on sale is the catalog's to work out, never the file's.
        if let Some(price) = &option.price
            && (price.amount_minor <= 0 || price.currency != p.price.currency)
        {
            return Err(product_error(
                brand,
                &p.id,
                &format!("variant option {value} costs {price}: a price above zero in {} is needed", p.price.currency),
            ));
        }
        if option.sale_price.is_some() {
            return Err(product_error(
                brand,
                &p.id,
                &format!("variant option {value} has a sale_price: promotions set it, give only its price"),
            ));
        }
    }
    let total: u64 = variants.options.iter().map(|o| u64::from(o.stock)).sum();
    if total != u64::from(p.stock) {
        return Err(product_error(
            brand,
            &p.id,
            &format!("the variants' stocks add up to {total}, the product's stock is {}", p.stock),
        ));
    }
    Ok(())
}

/// `related` and `complements` name other products of the same file.
fn validate_references(brand: &str, p: &CatalogProduct, ids: &HashSet<&str>) -> Result<(), CatalogError> {
    for (field, targets) in [("related", &p.related), ("complements", &p.complements)] {
        for target in targets {
            if *target == p.id {
                return Err(product_error(brand, &p.id, &format!("lists itself in {field}")));
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
    Ok(())
}

/// A promotion's discount, window and targets, which must exist in the file.
fn validate_promotion(
    brand: &str,
    promo: &Promotion,
    ids: &HashSet<&str>,
    categories: &HashSet<&str>,
) -> Result<(), CatalogError> {
    let fail = |reason: String| Err(promotion_error(brand, promo, reason));
    if promo.id.trim().is_empty() {
        return fail(format!("\"{}\" has an empty id", promo.label));
    }
    if !(1..=100).contains(&promo.percent_off) {
        return fail(format!("percent_off {} is not within 1-100", promo.percent_off));
    }
    if promo.starts_at >= promo.ends_at {
        return fail("starts_at is not before ends_at".into());
    }
    if promo.product_ids.is_empty() && promo.categories.is_empty() {
        return fail("targets no product and no category".into());
    }
    if let Some(id) = promo.product_ids.iter().find(|id| !ids.contains(id.as_str())) {
        return fail(format!("targets unknown product \"{id}\""));
    }
    if let Some(c) = promo.categories.iter().find(|c| !categories.contains(c.as_str())) {
        return fail(format!("targets unknown category \"{c}\""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::catalog::fixtures::{FASHION, now};

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
    fn variants_must_add_up_to_the_stock_and_be_distinct() {
        let sized = |options: &str| product("m-1", &format!(r#","variants":{{"kind":"size","options":[{options}]}}"#));
        let json = mini(&sized(r#"{"value":"S","stock":1},{"value":"M","stock":0}"#), "");
        assert_eq!(load(&json).unwrap().get("m-1").unwrap().variants.as_ref().unwrap().options.len(), 2);
        for bad in [
            r#"{"value":"S","stock":1},{"value":"M","stock":1}"#,
            r#"{"value":"S","stock":1},{"value":"s","stock":0}"#,
            r#"{"value":"S#2","stock":1}"#,
            r#"{"value":" S","stock":1}"#,
            "",
        ] {
            let err = load(&mini(&sized(bad), "")).unwrap_err();
            assert!(matches!(err, CatalogError::InvalidProduct { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn a_variant_price_must_be_above_zero_in_the_catalog_currency() {
        let sized =
            |options: &str| product("m-1", &format!(r#","variants":{{"kind":"storage","options":[{options}]}}"#));
        let good = r#"{"value":"64 GB","stock":1},{"value":"128 GB","stock":0,"price":{"amount_minor":1510,"currency":"USD"}}"#;
        let c = load(&mini(&sized(good), "")).unwrap();
        let options = &c.get("m-1").unwrap().variants.as_ref().unwrap().options;
        assert_eq!((options[0].price.as_ref(), options[1].price.as_ref().map(|p| p.amount_minor)), (None, Some(1510)));
        for bad in [
            r#"{"value":"64 GB","stock":1,"price":{"amount_minor":0,"currency":"USD"}}"#,
            r#"{"value":"64 GB","stock":1,"price":{"amount_minor":1510,"currency":"EUR"}}"#,
            r#"{"value":"64 GB","stock":1,"price":{"amount_minor":1510,"currency":"USD"},"sale_price":{"amount_minor":1000,"currency":"USD"}}"#,
        ] {
            let err = load(&mini(&sized(bad), "")).unwrap_err();
            assert!(matches!(err, CatalogError::InvalidProduct { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("64 GB"), "{err}");
        }
    }

    #[test]
    fn localized_names_are_spanish_or_portuguese_and_not_empty() {
        let named = |names: &str| product("m-1", &format!(r#","names":{{{names}}}"#));
        let c = load(&mini(&named(r#""es":"Cosa","pt":"Coisa""#), "")).unwrap();
        assert_eq!(c.get("m-1").unwrap().names["pt"], "Coisa");
        for (bad, says) in [(r#""fr":"Chose""#, "\"fr\""), (r#""es":" ""#, "es name")] {
            let err = load(&mini(&named(bad), "")).unwrap_err();
            assert!(
                matches!(err, CatalogError::InvalidProduct { .. }) && err.to_string().contains(says),
                "{bad}: {err}"
            );
        }
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
