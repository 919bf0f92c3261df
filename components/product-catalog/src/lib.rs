//! The product catalog agent: answers `store.product.query` with
//! `store.product.query.result` and `store.product.recommend` with
//! `store.product.recommend.result`, from the brand catalogs in
//! `brands/<brand>/catalog.json`, which its manifest entry mounts read-only
//! at `/brands/<brand>/catalog.json`; and keeps the live stock, which orders
//! reserve, commit and release through its private HTTP API ([`api`]).
//!
//! Brands that join the running store bring their catalog in
//! `store.brand.onboarded`; it is validated like the files and kept in the
//! `catalog` store ([`learned`]), and served exactly like them until
//! `store.brand.removed`.
//!
//! Prices are promotion-aware ([`catalog`]); the stock a result shows is the
//! live figure ([`stock`]), not the file's.

pub mod api;
pub mod catalog;
pub mod kv;
pub mod learned;
pub mod quote;
pub mod recommend;
pub mod stock;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use agent_store_events::{
    BrandId, Product, ProductId, ProductQuery, ProductQueryResult, ProductRecommend, ProductRecommendResult,
    Recommendation, types,
};
use agent_store_sdk::kv::Bucket;
use agent_store_sdk::{Error, Event, Incoming, Result};
use catalog::{Catalog, CatalogProduct, SearchQuery};

/// Where the manifest mounts the brand catalogs inside the component.
const CATALOG_ROOT: &str = "/brands";

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    match event.ty() {
        types::PRODUCT_QUERY => query(&event),
        types::PRODUCT_RECOMMEND => recommend(&event),
        types::BRAND_ONBOARDED => {
            let data = agent_store_sdk::brands::onboarded(&event)?;
            let done = learned::onboard(&open_stock()?, &mounted(None)?, &data).map_err(|e| refusal(&event, e))?;
            println!("product-catalog: {done}");
            Ok(Vec::new())
        }
        types::BRAND_REMOVED => {
            let data = agent_store_sdk::brands::removed(&event)?;
            let done = learned::remove(&open_stock()?, &mounted(None)?, &data).map_err(|e| refusal(&event, e))?;
            println!("product-catalog: {done}");
            Ok(Vec::new())
        }
        other => Err(Error::bad_event(format!("product-catalog does not handle {other} events"))),
    }
}

/// A refused brand event names itself in the dead letter.
fn refusal(event: &Incoming, error: Error) -> Error {
    match error {
        Error::BadEvent(reason) => agent_store_sdk::brands::refused(event, &reason),
        other => other,
    }
}

fn query(event: &Incoming) -> Result<Vec<Event>> {
    let query: ProductQuery = event.data()?;
    let catalog = load(query.brand.as_ref().map(BrandId::as_str))?;
    let search = SearchQuery {
        brand: query.brand.as_ref().map(|b| b.as_str().to_string()),
        text: query.text.clone(),
        category: query.category.clone(),
        min_price_minor: query.min_price_minor,
        max_price_minor: query.max_price_minor,
        in_stock_only: query.in_stock_only,
        partial: query.partial,
        limit: query.limit.map(|l| l as usize),
    };
    let kv = open_stock()?;
    let now = chrono::Utc::now();
    let found = catalog.search_with_stock(&search, now, |p| live_stock(&kv, p))?;
    let result = ProductQueryResult {
        request_id: query.request_id,
        brand: query.brand,
        conversation: query.conversation,
        products: found
            .products
            .iter()
            .map(|hit| with_variants(&kv, catalog.product(hit.product, hit.stock, now), hit.product))
            .collect::<Result<_>>()?,
        total: found.total as u32,
    };
    Ok(vec![event.reply(&result)?])
}

fn recommend(event: &Incoming) -> Result<Vec<Event>> {
    let request: ProductRecommend = event.data()?;
    let catalog = load(Some(request.brand.as_str()))?;
    let cart: Vec<String> = request.cart.iter().map(|id| id.as_str().to_string()).collect();
    let kv = open_stock()?;
    let now = chrono::Utc::now();
    let picks = recommend::recommend(
        &catalog,
        &recommend::Request {
            brand: request.brand.as_str(),
            product_id: request.product_id.as_ref().map(ProductId::as_str),
            cart: &cart,
            kinds: &request.kinds,
            limit: request.limit.map(|l| l as usize),
            need: request.need.as_deref(),
            price: (request.min_price_minor.is_some() || request.max_price_minor.is_some()).then_some(
                recommend::PriceRange {
                    min_minor: request.min_price_minor,
                    max_minor: request.max_price_minor,
                    now: chrono::Utc::now(),
                },
            ),
        },
        |p| live_stock(&kv, p),
    )?;
    let result = ProductRecommendResult {
        request_id: request.request_id,
        brand: request.brand,
        conversation: request.conversation,
        recommendations: picks
            .iter()
            .map(|pick| {
                Ok(Recommendation {
                    product: with_variants(&kv, catalog.product(pick.product, pick.stock, now), pick.product)?,
                    kind: pick.kind,
                    score: pick.score,
                })
            })
            .collect::<Result<_>>()?,
    };
    Ok(vec![event.reply(&result)?])
}

fn open_stock() -> Result<Bucket> {
    Ok(kv::open()?)
}

/// A product's variants with the units of each available now; the prices
/// [`catalog::Catalog::product`] gave them (a variant's own, on sale) stay.
fn with_variants(kv: &Bucket, mut product: Product, file: &CatalogProduct) -> Result<Product> {
    let live = stock::variants(kv, file).map_err(|e| Error::failed(e.to_string()))?;
    if let (Some(variants), Some(live)) = (product.variants.as_mut(), live) {
        for option in &mut variants.options {
            option.stock = live.option(&option.value).map_or(0, |o| o.stock);
        }
    }
    Ok(product)
}

fn live_stock(kv: &Bucket, product: &CatalogProduct) -> Result<u32> {
    stock::available(kv, product).map_err(|e| Error::failed(e.to_string()))
}

/// The mounted files, read, validated and indexed once by [`prepare`]: the
/// host snapshots the instance after it, so every event starts with them.
struct Prepared {
    files: Vec<(String, String)>,
    /// Every mounted brand together (a query that names no brand).
    all: Arc<Catalog>,
    /// Each mounted brand alone, as a query that names it reads it.
    by_brand: HashMap<String, Arc<Catalog>>,
}

static PREPARED: OnceLock<Prepared> = OnceLock::new();

/// The `init` of [`agent_store_sdk::export!`]. Files that do not load now
/// are left to the events, which report them as they always did.
fn prepare() {
    let Ok(files) = read_mounted(None) else { return };
    let Ok(all) = learned::merge(&files, &[]) else { return };
    let mut by_brand = HashMap::new();
    for (brand, text) in &files {
        match learned::merge(std::slice::from_ref(&(brand.clone(), text.clone())), &[]) {
            Ok(catalog) => by_brand.insert(brand.clone(), Arc::new(catalog)),
            Err(_) => return,
        };
    }
    let _ = PREPARED.set(Prepared { files, all: Arc::new(all), by_brand });
}

/// Reads the catalogs: one brand's when the request names it, else all;
/// the mounted files and the learned ones alike.
pub(crate) fn load(brand: Option<&str>) -> Result<Arc<Catalog>> {
    if let Some(prepared) = PREPARED.get() {
        match brand {
            Some(brand) if let Some(catalog) = prepared.by_brand.get(brand) => return Ok(catalog.clone()),
            None => {
                let learned = learned::all(&open_stock()?)?;
                if learned.is_empty() {
                    return Ok(prepared.all.clone());
                }
                return learned::merge(&prepared.files, &learned).map(Arc::new);
            }
            // Learned, or mounted at a path of its own that `/brands`
            // does not list: read as before.
            Some(_) => {}
        }
    }
    let mounted = mounted(brand)?;
    let catalog = match brand {
        // A mounted brand is never also learned (onboarding refuses it).
        Some(_) if !mounted.is_empty() => learned::merge(&mounted, &[]),
        Some(brand) => {
            let learned = learned::get(&open_stock()?, brand)?
                .map(|l| vec![(brand.to_string(), l.catalog.to_string())])
                .unwrap_or_default();
            learned::merge(&mounted, &learned)
        }
        None => learned::merge(&mounted, &learned::all(&open_stock()?)?),
    };
    catalog.map(Arc::new)
}

/// The mounted catalog files as `(brand, text)`: one brand's, or all.
fn mounted(brand: Option<&str>) -> Result<Vec<(String, String)>> {
    match (PREPARED.get(), brand) {
        (Some(prepared), None) => Ok(prepared.files.clone()),
        _ => read_mounted(brand),
    }
}

fn read_mounted(brand: Option<&str>) -> Result<Vec<(String, String)>> {
    let brands: Vec<String> = match brand {
        Some(brand) => vec![brand.to_string()],
        None => std::fs::read_dir(CATALOG_ROOT)
            .map_err(|e| Error::failed(format!("listing {CATALOG_ROOT}: {e}")))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect(),
    };
    let mut files = Vec::new();
    for brand in brands {
        // A brand id is a directory name, never a path.
        if brand.is_empty() || brand.contains(['/', '\\']) || brand.starts_with('.') {
            continue;
        }
        let path = format!("{CATALOG_ROOT}/{brand}/catalog.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((brand, text)),
            // A brand nobody sells is an empty result, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::failed(format!("reading {path}: {e}"))),
        }
    }
    Ok(files)
}

agent_store_sdk::export!(id: "product-catalog", events: handle, http: api::handle, init: prepare);
