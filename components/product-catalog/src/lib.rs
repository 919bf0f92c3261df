//! The product catalog agent: answers `store.product.query` with
//! `store.product.query.result` from the brand catalogs in
//! `brands/<brand>/catalog.json`, which its manifest entry mounts read-only
//! at `/brands/<brand>/catalog.json`.

pub mod catalog;

use agent_store_events::{AppliedPromotion, BrandId, Product, ProductId, ProductQuery, ProductQueryResult, types};
use agent_store_sdk::{Error, Event, Incoming, Result};
use catalog::{Catalog, SearchHit, SearchQuery};

/// Where the manifest mounts the brand catalogs inside the component.
const CATALOG_ROOT: &str = "/brands";

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    match event.ty() {
        types::PRODUCT_QUERY => query(&event),
        other => Err(Error::bad_event(format!("product-catalog does not handle {other} events"))),
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
        limit: query.limit.map(|l| l as usize),
    };
    let found = catalog.search(&search, chrono::Utc::now());
    let result = ProductQueryResult {
        request_id: query.request_id,
        brand: query.brand,
        conversation: query.conversation,
        products: found.products.iter().map(to_product).collect(),
        total: found.total as u32,
    };
    Ok(vec![event.reply(&result)?])
}

/// Reads the catalogs: one brand's when the query names it, else all.
fn load(brand: Option<&str>) -> Result<Catalog> {
    let brands: Vec<String> = match brand {
        Some(brand) => vec![brand.to_string()],
        None => std::fs::read_dir(CATALOG_ROOT)
            .map_err(|e| Error::failed(format!("listing {CATALOG_ROOT}: {e}")))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect(),
    };
    let mut files = Vec::new();
    for brand in brands {
        let path = format!("{CATALOG_ROOT}/{brand}/catalog.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((brand, text)),
            // A brand nobody sells is an empty result, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::failed(format!("reading {path}: {e}"))),
        }
    }
    Catalog::from_files(files.iter().map(|(b, t)| (b.as_str(), t.as_str())))
        .map_err(|e| Error::failed(format!("the catalog files are invalid: {e}")))
}

fn to_product(hit: &SearchHit<'_>) -> Product {
    let p = hit.product;
    Product {
        id: ProductId::new(&p.id),
        brand: BrandId::new(hit.brand),
        name: p.name.clone(),
        description: p.description.clone(),
        category: p.category.clone(),
        tags: p.tags.clone(),
        attributes: p.attributes.clone(),
        price: p.price.clone(),
        sale_price: hit.promotion.as_ref().map(|_| hit.price.clone()),
        promotion: hit.promotion.as_ref().map(|promo| AppliedPromotion {
            id: promo.id.clone(),
            label: promo.label.clone(),
            percent_off: promo.percent_off,
        }),
        stock: p.stock,
        image_url: p.image_url.clone(),
    }
}

agent_store_sdk::export!(id: "product-catalog", events: handle);
