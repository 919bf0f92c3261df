//! Catalogs of brands that joined the store while it runs
//! (`store.brand.onboarded`), kept in the `catalog` store next to the stock:
//!
//! | key | value |
//! |---|---|
//! | `brand-catalogs` | the learned brands, a JSON list of ids |
//! | `brand-catalog:<brand>` | [`Learned`]: the package version and its `catalog.json` |
//!
//! A learned catalog passes the same validation as the mounted files, against
//! all of them (product ids are unique across brands), before it is kept; the
//! mounted brands cannot be replaced by an event. `store.brand.removed` drops
//! the catalog, so its products are no longer offered; the stock counters
//! (`reserved:`, `sold:`) stay for a later deploy of the same brand.

use agent_store_events::{BrandOnboarded, BrandRemoved};
use agent_store_sdk::kv::{Bucket, KvError, Update};
use agent_store_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;

const INDEX: &str = "brand-catalogs";

fn key(brand: &str) -> String {
    format!("brand-catalog:{brand}")
}

/// One learned brand's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub version: String,
    pub catalog: serde_json::Value,
}

fn store_failed(e: KvError) -> Error {
    Error::failed(e.to_string())
}

fn index(bucket: &Bucket) -> Result<Vec<String>> {
    match bucket.get(INDEX).map_err(store_failed)? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::failed(format!("{INDEX} is unreadable: {e}"))),
    }
}

fn change_index(bucket: &Bucket, change: impl Fn(&mut Vec<String>) -> bool) -> Result<()> {
    bucket.update::<_, Error>(INDEX, |current| {
        let mut brands: Vec<String> = match current {
            None => Vec::new(),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::failed(format!("{INDEX} is unreadable: {e}")))?
            }
        };
        if !change(&mut brands) {
            return Ok(Update::Keep(()));
        }
        Ok(Update::Write(serde_json::to_vec(&brands).map_err(Error::failed)?, ()))
    })
}

/// One learned brand's catalog, if it was onboarded and not removed.
pub fn get(bucket: &Bucket, brand: &str) -> Result<Option<Learned>> {
    let key = key(brand);
    match bucket.get(&key).map_err(store_failed)? {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::failed(format!("{key} is unreadable: {e}")))
        }
    }
}

/// Every learned catalog as `(brand, catalog.json text)`, in the index's order.
pub fn all(bucket: &Bucket) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for brand in index(bucket)? {
        // A brand being removed may still be listed for a moment.
        if let Some(learned) = get(bucket, &brand)? {
            files.push((brand, learned.catalog.to_string()));
        }
    }
    Ok(files)
}

/// The catalog of the mounted files and the learned ones. The mounted files
/// must be valid; a learned catalog that no longer fits beside the others
/// (two onboarded at once with a clashing product id, say) is left out and
/// logged, rather than take every brand down with it.
pub fn merge(mounted: &[(String, String)], learned: &[(String, String)]) -> Result<Catalog> {
    let pairs = |files: &[&(String, String)]| {
        Catalog::from_files(files.iter().map(|(b, t)| (b.as_str(), t.as_str())).collect::<Vec<_>>())
    };
    let mut files: Vec<&(String, String)> = mounted.iter().chain(learned).collect();
    match pairs(&files) {
        Ok(catalog) => return Ok(catalog),
        Err(e) if learned.is_empty() => return Err(Error::failed(format!("the catalog files are invalid: {e}"))),
        Err(_) => {}
    }
    files.truncate(mounted.len());
    let mut catalog = pairs(&files).map_err(|e| Error::failed(format!("the catalog files are invalid: {e}")))?;
    for file in learned {
        files.push(file);
        match pairs(&files) {
            Ok(next) => catalog = next,
            Err(e) => {
                eprintln!("product-catalog: leaving the learned catalog of {} out: {e}", file.0);
                files.pop();
            }
        }
    }
    Ok(catalog)
}

/// Validates and keeps an onboarded brand's catalog; what it did, for the log.
/// `mounted` are every mounted file, by brand.
pub fn onboard(bucket: &Bucket, mounted: &[(String, String)], data: &BrandOnboarded) -> Result<String> {
    let brand = data.brand.as_str();
    if mounted.iter().any(|(b, _)| b == brand) {
        return Err(Error::bad_event(format!(
            "brand {brand} has a mounted catalog (brands/{brand}/catalog.json): a package cannot replace it"
        )));
    }
    if let Some(known) = get(bucket, brand)?
        && known.version == data.version
    {
        change_index(bucket, |brands| add(brands, brand))?;
        return Ok(format!("the catalog of {brand} {} is already kept: nothing to do", data.version));
    }
    let others: Vec<(String, String)> = all(bucket)?.into_iter().filter(|(b, _)| b != brand).collect();
    // The same checks the mounted files pass, against what is served now.
    let mut files: Vec<(&str, String)> = mounted.iter().map(|(b, t)| (b.as_str(), t.clone())).collect();
    let served = merge(mounted, &others)?;
    for (other, text) in &others {
        if served.brand(other).is_some() {
            files.push((other.as_str(), text.clone()));
        }
    }
    files.push((brand, data.catalog.to_string()));
    let catalog = Catalog::from_files(files.iter().map(|(b, t)| (*b, t.as_str())))
        .map_err(|e| Error::bad_event(format!("the catalog of {brand} is refused: {e}")))?;
    let products = catalog.products(brand).len();
    let record = Learned { version: data.version.clone(), catalog: data.catalog.clone() };
    bucket.set(&key(brand), &serde_json::to_vec(&record).map_err(Error::failed)?).map_err(store_failed)?;
    change_index(bucket, |brands| add(brands, brand))?;
    Ok(format!("the catalog of {brand} {} is served: {products} products", data.version))
}

fn add(brands: &mut Vec<String>, brand: &str) -> bool {
    if brands.iter().any(|b| b == brand) {
        return false;
    }
    brands.push(brand.to_string());
    true
}

/// Stops offering a removed brand's products; its stock counters stay.
pub fn remove(bucket: &Bucket, mounted: &[(String, String)], data: &BrandRemoved) -> Result<String> {
    let brand = data.brand.as_str();
    if mounted.iter().any(|(b, _)| b == brand) {
        return Err(Error::bad_event(format!(
            "brand {brand} has a mounted catalog (brands/{brand}/catalog.json): an event cannot remove it"
        )));
    }
    let known = get(bucket, brand)?.is_some();
    change_index(bucket, |brands| {
        let before = brands.len();
        brands.retain(|b| b != brand);
        brands.len() != before
    })?;
    bucket.delete(&key(brand)).map_err(store_failed)?;
    Ok(if known {
        format!("the catalog of {brand} is no longer served (its stock counters stay)")
    } else {
        format!("{brand} has no learned catalog here: nothing to do")
    })
}
