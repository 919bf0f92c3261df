//! The product catalog in the real runtime: `store.product.query` events in,
//! `store.product.query.result` events out, with the real brand catalogs
//! (`brands/<brand>/catalog.json`) mounted read-only at `/brands`.
//!
//! Expectations come from the real files: either products picked from them
//! by hand, or counts read from them here, so the tests say what the catalog
//! must do with the data it actually ships with. Promotions are judged at
//! the real current time (late 2026): the ones used here run from 2026 into
//! 2027, and the expired ones ended in 2025. Each test has a harness of its
//! own, so the live stock (the `catalog` key-value store) starts empty and
//! every product shows its file's stock.

use std::collections::BTreeSet;

use agent_store_events::{Money, ProductQueryResult, ext, types};
use agent_store_testing::runtime::DeliveryError;
use agent_store_testing::{Harness, Sent, event, workspace_root};
use anyhow::{Context, Result};
use cloudevents::{AttributesReader, Event};
use product_catalog::catalog::{DEFAULT_LIMIT, MAX_LIMIT};
use serde_json::{Value, json};

const SOURCE: &str = "/agent-store/product-catalog";

/// The component's only key-value store: the live stock, which a query reads.
const STORE: &str = "catalog";

fn catalog() -> Result<Harness> {
    Harness::component("product-catalog").build()
}

/// A `store.product.query` carrying `data` and the extensions a requester
/// sets: `correlation` = `request_id`, and `brand` / `conversation` when the
/// payload has them.
fn query_event(data: &Value) -> Event {
    let mut query = event(types::PRODUCT_QUERY, data.clone());
    for (field, extension) in
        [("request_id", ext::CORRELATION), ("brand", ext::BRAND), ("conversation", ext::CONVERSATION)]
    {
        if let Some(value) = data[field].as_str() {
            query.set_extension(extension, value);
        }
    }
    query
}

fn extension(event: &Event, name: &str) -> Option<String> {
    event.extension(name).map(ToString::to_string)
}

/// Sends a query and checks the envelope of the answer: exactly one
/// `store.product.query.result` from the catalog, carrying the query's
/// `brand`, `conversation` and `correlation` extensions and echoing its
/// `request_id`, `brand` and `conversation`; every product is of the queried
/// brand, and there are never more products than `total`.
async fn ask(catalog: &Harness, data: Value) -> Result<ProductQueryResult> {
    let query = query_event(&data);
    let sent = catalog.send(query.clone()).await;
    let events = sent.events()?;
    assert_eq!(events.len(), 1, "one reply, got {events:?}\n--- component output ---\n{}", sent.output());
    let reply = &events[0];
    assert_eq!(reply.ty(), types::PRODUCT_QUERY_RESULT);
    assert_eq!(reply.source().to_string(), SOURCE);
    assert_ne!(reply.id(), query.id(), "a reply is a new event");
    for name in [ext::BRAND, ext::CONVERSATION, ext::CORRELATION] {
        assert_eq!(extension(reply, name), extension(&query, name), "the reply's {name} extension");
    }
    let result: ProductQueryResult = serde_json::from_value(agent_store_testing::data(reply)).with_context(|| {
        format!("the reply's data is not a ProductQueryResult: {}", agent_store_testing::data(reply))
    })?;
    assert_eq!(Some(result.request_id.as_str()), data["request_id"].as_str(), "request_id echoed");
    assert_eq!(result.brand.as_ref().map(|b| b.as_str()), data["brand"].as_str(), "brand echoed");
    assert_eq!(result.conversation.as_ref().map(|c| c.as_str()), data["conversation"].as_str(), "conversation echoed");
    if let Some(brand) = data["brand"].as_str() {
        assert!(result.products.iter().all(|p| p.brand.as_str() == brand), "{brand} only: {:?}", ids(&result));
    }
    assert!(
        result.products.len() <= result.total as usize,
        "{} products but total {}",
        result.products.len(),
        result.total
    );
    Ok(result)
}

fn ids(result: &ProductQueryResult) -> Vec<&str> {
    result.products.iter().map(|p| p.id.as_str()).collect()
}

/// Asserts a delivery was refused as a bad event (400, not retried), with a
/// reason that contains `needle`.
fn assert_rejected(sent: &Sent, needle: &str) {
    match sent.error() {
        Some(DeliveryError::Status { status: 400, reason }) => {
            assert!(reason.contains(needle), "the reason should name {needle:?}: {reason}");
        }
        other => panic!("expected a 400 naming {needle:?}, got {other:?}\n--- component output ---\n{}", sent.output()),
    }
}

/// The products of a real catalog file, as JSON.
fn file_products(brand: &str) -> Result<Vec<Value>> {
    let path = workspace_root().join("brands").join(brand).join("catalog.json");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).with_context(|| path.display().to_string())?)?;
    file["products"].as_array().cloned().context("a catalog file has products")
}

/// The brands that have a catalog file in the store at start: a brand
/// package (a folder with its own `spin.toml`) joins only when deployed, and
/// `spin.toml` keeps its catalog out of the catalog component's files.
fn brands() -> Result<Vec<String>> {
    let mut brands = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("brands"))? {
        let entry = entry?;
        if entry.path().join("catalog.json").is_file() && !entry.path().join("spin.toml").is_file() {
            brands.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    brands.sort();
    Ok(brands)
}

fn count(products: &[Value], keep: impl Fn(&Value) -> bool) -> u32 {
    products.iter().filter(|p| keep(p)).count() as u32
}

// -- text search -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn each_brand_finds_products_in_english_spanish_and_portuguese() -> Result<()> {
    let catalog = catalog()?;
    let searches = [
        ("fashion", "linen dress", "fsh-001"),
        ("fashion", "busco una chaqueta de cuero", "fsh-017"),
        ("fashion", "quero um tênis branco", "fsh-022"),
        ("tech", "noise cancelling headphones", "tec-001"),
        ("tech", "reloj inteligente", "tec-007"),
        ("tech", "carregador sem fio", "tec-023"),
        ("home", "couch", "hom-001"),
        ("home", "necesito una almohada", "hom-009"),
        ("home", "toalhas de banho", "hom-027"),
        ("beauty", "sunscreen", "bty-009"),
        ("beauty", "champú", "bty-019"),
        ("beauty", "batom vermelho", "bty-015"),
        ("gaming", "wireless headset", "gam-016"),
        ("gaming", "silla gamer", "gam-025"),
        ("gaming", "teclado mecânico", "gam-019"),
    ];
    for (n, (brand, text, expected)) in searches.into_iter().enumerate() {
        let result = ask(
            &catalog,
            json!({
                "request_id": format!("rq-{n}"),
                "brand": brand,
                "text": text,
                "conversation": format!("cv-{brand}-{n}"),
            }),
        )
        .await?;
        assert_eq!(ids(&result).first(), Some(&expected), "{brand}: {text:?} found {:?}", ids(&result));

        // The product is the one in the file, as the file describes it.
        let products = file_products(brand)?;
        let file = products.iter().find(|p| p["id"] == expected).context("the expected product is in the file")?;
        let found = &result.products[0];
        assert_eq!(found.name, file["name"].as_str().unwrap_or_default());
        assert_eq!(found.category, file["category"].as_str().unwrap_or_default());
        assert_eq!(serde_json::to_value(&found.price)?, file["price"]);
        assert_eq!(u64::from(found.stock), file["stock"].as_u64().unwrap_or_default());
        assert_eq!(found.image_url, file["image_url"].as_str().unwrap_or_default());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reply_carries_the_query_extensions_even_without_payload_brand() -> Result<()> {
    // Extensions travel on their own: a reply copies them from the query
    // event whatever the payload says.
    let catalog = catalog()?;
    let mut query = event(types::PRODUCT_QUERY, json!({ "request_id": "rq-ext", "text": "vestido" }));
    query.set_extension(ext::BRAND, "fashion");
    query.set_extension(ext::CONVERSATION, "cv-ext");
    query.set_extension(ext::CORRELATION, "rq-ext");
    let reply = catalog.send(query).await.one(types::PRODUCT_QUERY_RESULT)?;
    assert_eq!(reply.source().to_string(), SOURCE);
    assert_eq!(extension(&reply, ext::BRAND).as_deref(), Some("fashion"));
    assert_eq!(extension(&reply, ext::CONVERSATION).as_deref(), Some("cv-ext"));
    assert_eq!(extension(&reply, ext::CORRELATION).as_deref(), Some("rq-ext"));
    let result: ProductQueryResult = serde_json::from_value(agent_store_testing::data(&reply))?;
    assert_eq!(result.request_id, "rq-ext");
    assert_eq!((result.brand, result.conversation), (None, None), "the payload is echoed, not the extensions");
    Ok(())
}

// -- filters -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_category_filter_keeps_only_that_category() -> Result<()> {
    let catalog = catalog()?;
    let shoes = count(&file_products("fashion")?, |p| p["category"] == "shoes");
    assert!(shoes > 1, "fashion sells shoes");
    for category in ["shoes", "Shoes"] {
        let result = ask(
            &catalog,
            json!({ "request_id": "rq-cat", "brand": "fashion", "category": category, "limit": MAX_LIMIT }),
        )
        .await?;
        assert_eq!(result.total, shoes, "{category}");
        assert_eq!(result.products.len(), shoes as usize, "{category}");
        assert!(result.products.iter().all(|p| p.category == "shoes"), "{category}: {:?}", ids(&result));
    }
    // Combined with text: sneakers are shoes, a search for them in bags is empty.
    let result = ask(
        &catalog,
        json!({ "request_id": "rq-cat-2", "brand": "fashion", "text": "zapatillas", "category": "accessories" }),
    )
    .await?;
    assert_eq!((result.total, result.products.len()), (0, 0), "{:?}", ids(&result));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_price_range_is_compared_with_the_sale_price() -> Result<()> {
    let catalog = catalog()?;
    // dress-season (2026-01-01 to 2027-12-31) takes 15% off every dress:
    // fsh-001 lists at 89.00 and sells at 75.65, inside 70.00-80.00, while
    // fsh-005 lists at 79.00, inside the range, but sells at 67.15, outside it.
    let result = ask(
        &catalog,
        json!({
            "request_id": "rq-price",
            "brand": "fashion",
            "category": "dresses",
            "min_price_minor": 7000,
            "max_price_minor": 8000,
        }),
    )
    .await?;
    assert_eq!(ids(&result), ["fsh-001"]);
    assert_eq!(result.total, 1);
    let dress = &result.products[0];
    assert_eq!(dress.price, Money::new(8900, "USD"));
    assert_eq!(dress.sale_price, Some(Money::new(7565, "USD")));
    let promotion = dress.promotion.as_ref().context("dress-season is running")?;
    assert_eq!((promotion.id.as_str(), promotion.percent_off), ("dress-season", 15));
    assert!(promotion.label.contains("15%"), "{}", promotion.label);
    assert_eq!(dress.effective_price(), &Money::new(7565, "USD"));

    // Every product found is within the range at the price it sells for,
    // including one whose list price is above it: the sneakers list at 59.00
    // and sell at 44.25 (sneaker-boot-edit, 25% off, to 2027-06-30).
    let (min, max) = (4000, 4500);
    let result = ask(
        &catalog,
        json!({ "request_id": "rq-price-2", "brand": "fashion", "min_price_minor": min, "max_price_minor": max, "limit": MAX_LIMIT }),
    )
    .await?;
    for p in &result.products {
        let paid = p.effective_price().amount_minor;
        assert!((min..=max).contains(&paid), "{} sells at {paid}", p.id);
    }
    let sneakers = result.products.iter().find(|p| p.id.as_str() == "fsh-022").context("the sneakers are in range")?;
    assert_eq!((sneakers.price.amount_minor, sneakers.sale_price.as_ref().map(|m| m.amount_minor)), (5900, Some(4425)));
    assert_eq!(sneakers.promotion.as_ref().map(|p| p.id.as_str()), Some("sneaker-boot-edit"));
    assert!(!ids(&result).contains(&"fsh-026"), "the tote sells at 49.00: {:?}", ids(&result));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_biggest_active_promotion_applies_and_expired_ones_do_not() -> Result<()> {
    let catalog = catalog()?;
    // tec-001 is in audio-fest (20%, the audio category, to 2027-03-31) and
    // wfh-bundle (10%, by id, to 2027-01-15): the bigger one wins.
    let result = ask(
        &catalog,
        json!({ "request_id": "rq-promo", "brand": "tech", "text": "noise cancelling headphones", "limit": 1 }),
    )
    .await?;
    let headphones = &result.products[0];
    assert_eq!(headphones.id.as_str(), "tec-001");
    assert_eq!(headphones.price, Money::new(19900, "USD"));
    assert_eq!(headphones.sale_price, Some(Money::new(15920, "USD")));
    let promotion = headphones.promotion.as_ref().context("audio-fest is running")?;
    assert_eq!((promotion.id.as_str(), promotion.percent_off), ("audio-fest", 20));

    // The trench coat was in Black Friday 2025 only: list price, no promotion.
    let result =
        ask(&catalog, json!({ "request_id": "rq-promo-2", "brand": "fashion", "text": "trench coat", "limit": 1 }))
            .await?;
    let trench = &result.products[0];
    assert_eq!(trench.id.as_str(), "fsh-016");
    assert_eq!((trench.sale_price.as_ref(), trench.promotion.as_ref()), (None, None));
    assert_eq!(trench.effective_price(), &Money::new(18900, "USD"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn in_stock_only_leaves_out_sold_out_products() -> Result<()> {
    let catalog = catalog()?;
    // fsh-003, the maxi dress, is sold out.
    let all = ask(&catalog, json!({ "request_id": "rq-stock", "brand": "fashion", "text": "vestido" })).await?;
    assert!(ids(&all).contains(&"fsh-003"), "{:?}", ids(&all));
    let available = ask(
        &catalog,
        json!({ "request_id": "rq-stock-2", "brand": "fashion", "text": "vestido", "in_stock_only": true }),
    )
    .await?;
    assert!(!ids(&available).contains(&"fsh-003"), "{:?}", ids(&available));
    assert_eq!(available.total, all.total - 1);
    assert!(available.products.iter().all(|p| p.stock > 0 && p.in_stock()));

    for brand in brands()? {
        let products = file_products(&brand)?;
        let in_stock = count(&products, |p| p["stock"].as_u64() > Some(0));
        assert!(in_stock < products.len() as u32, "{brand} has something sold out");
        let result = ask(
            &catalog,
            json!({ "request_id": format!("rq-stock-{brand}"), "brand": brand, "in_stock_only": true, "limit": MAX_LIMIT }),
        )
        .await?;
        assert_eq!(result.total, in_stock, "{brand}");
        assert!(result.products.iter().all(|p| p.stock > 0), "{brand}: {:?}", ids(&result));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_caps_the_products_and_total_counts_every_match() -> Result<()> {
    let catalog = catalog()?;
    let fashion = file_products("fashion")?.len() as u32;
    assert!(fashion as usize > DEFAULT_LIMIT);

    let default = ask(&catalog, json!({ "request_id": "rq-limit", "brand": "fashion" })).await?;
    assert_eq!((default.products.len(), default.total), (DEFAULT_LIMIT, fashion));

    let three = ask(&catalog, json!({ "request_id": "rq-limit-3", "brand": "fashion", "limit": 3 })).await?;
    assert_eq!((three.products.len(), three.total), (3, fashion));
    assert_eq!(ids(&three), ids(&default)[..3], "the best three come first whatever the limit");

    let none = ask(&catalog, json!({ "request_id": "rq-limit-0", "brand": "fashion", "limit": 0 })).await?;
    assert_eq!((none.products.len(), none.total), (0, fashion));

    let mut everything = 0;
    for brand in brands()? {
        everything += file_products(&brand)?.len() as u32;
    }
    assert!(everything as usize > MAX_LIMIT);
    let capped = ask(&catalog, json!({ "request_id": "rq-limit-big", "limit": 1000 })).await?;
    assert_eq!((capped.products.len(), capped.total), (MAX_LIMIT, everything));
    Ok(())
}

// -- brands ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_query_without_brand_searches_every_brand() -> Result<()> {
    let catalog = catalog()?;
    // Both tech and gaming sell keyboards ("teclado" in Spanish and Portuguese).
    let result = ask(&catalog, json!({ "request_id": "rq-all", "text": "teclado", "conversation": "cv-all" })).await?;
    let found: BTreeSet<&str> = result.products.iter().map(|p| p.brand.as_str()).collect();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["gaming", "tech"], "{:?}", ids(&result));
    assert!(ids(&result).contains(&"tec-016") && ids(&result).contains(&"gam-019"), "{:?}", ids(&result));
    assert_eq!(result.brand, None);

    // Every brand's products are counted.
    let result = ask(&catalog, json!({ "request_id": "rq-all-2", "in_stock_only": true, "limit": 0 })).await?;
    let mut in_stock = 0;
    for brand in brands()? {
        in_stock += count(&file_products(&brand)?, |p| p["stock"].as_u64() > Some(0));
    }
    assert_eq!(result.total, in_stock);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brand_without_a_catalog_gives_an_empty_result() -> Result<()> {
    let catalog = catalog()?;
    for (n, data) in
        [json!({ "brand": "pets", "text": "vestido", "conversation": "cv-pets" }), json!({ "brand": "pets" })]
            .into_iter()
            .enumerate()
    {
        let mut data = data;
        data["request_id"] = json!(format!("rq-pets-{n}"));
        let result = ask(&catalog, data).await?;
        assert_eq!((result.products.len(), result.total), (0, 0));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brand_package_is_not_sold_before_it_is_deployed() -> Result<()> {
    let catalog = catalog()?;
    let mut packages = 0;
    for entry in std::fs::read_dir(workspace_root().join("brands"))? {
        let dir = entry?.path();
        if !(dir.join("spin.toml").is_file() && dir.join("catalog.json").is_file()) {
            continue;
        }
        packages += 1;
        let brand = dir.file_name().context("a brand folder")?.to_string_lossy().into_owned();
        let result = ask(&catalog, json!({ "request_id": format!("rq-package-{brand}"), "brand": brand })).await?;
        assert_eq!((result.products.len(), result.total), (0, 0), "{brand}: {:?}", ids(&result));
    }
    assert!(packages > 0, "brands/sports is a package");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brand_that_is_not_a_brand_id_gives_an_empty_result_not_a_failure() -> Result<()> {
    // A brand id is a directory name under /brands, never a path: these must
    // neither reach another brand's file nor fail (a failure is retried).
    let catalog = catalog()?;
    for (n, brand) in ["../brands/fashion", "fashion/../tech", "fashion/", "..", "."].into_iter().enumerate() {
        let result =
            ask(&catalog, json!({ "request_id": format!("rq-path-{n}"), "brand": brand, "text": "vestido" })).await?;
        assert_eq!((result.products.len(), result.total), (0, 0), "brand {brand:?}: {:?}", ids(&result));
    }
    Ok(())
}

// -- bad events ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_that_does_not_fit_is_rejected_and_the_catalog_keeps_answering() -> Result<()> {
    let catalog = catalog()?;
    for data in [
        json!({ "request_id": "rq-bad", "brand": "fashion", "text": "vestido", "limit": "ten" }),
        json!({ "request_id": "rq-bad-2", "limit": -1 }),
        json!({ "request_id": "rq-bad-3", "in_stock_only": "yes" }),
        json!({ "text": "vestido" }),
        json!("vestido"),
    ] {
        let query = query_event(&data);
        let id = query.id().to_string();
        let sent = catalog.send(query).await;
        assert_rejected(&sent, &id);
        assert!(sent.error().is_some_and(|e| e.is_refusal()));
    }
    let result = ask(&catalog, json!({ "request_id": "rq-after", "brand": "fashion", "text": "vestido" })).await?;
    assert!(result.total > 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_type_it_does_not_handle_is_rejected_by_name() -> Result<()> {
    let catalog = catalog()?;
    for ty in [types::ORDER_CREATE, types::PRODUCT_QUERY_RESULT, "store.product.search"] {
        let sent = catalog.send(event(ty, json!({ "request_id": "rq-other" }))).await;
        assert_rejected(&sent, ty);
    }
    ask(&catalog, json!({ "request_id": "rq-after", "brand": "tech", "text": "teclado" })).await?;
    Ok(())
}

// -- state ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn answering_queries_stores_nothing() -> Result<()> {
    // Browsing reads the live stock and writes nothing, not even zeros.
    let catalog = catalog()?;
    ask(&catalog, json!({ "request_id": "rq-kv", "brand": "fashion", "text": "vestido", "in_stock_only": true }))
        .await?;
    ask(&catalog, json!({ "request_id": "rq-kv-2", "text": "teclado", "limit": MAX_LIMIT })).await?;
    for store in [STORE, "default"] {
        assert_eq!(catalog.stored(store).await?, Vec::new(), "{store}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_queries_each_get_their_own_answer() -> Result<()> {
    let catalog = catalog()?;
    let (a, b, c) = tokio::join!(
        ask(&catalog, json!({ "request_id": "rq-a", "brand": "fashion", "text": "jeans", "conversation": "cv-a" })),
        ask(&catalog, json!({ "request_id": "rq-b", "brand": "home", "text": "sofá", "conversation": "cv-b" })),
        ask(&catalog, json!({ "request_id": "rq-c", "brand": "gaming", "text": "mando", "conversation": "cv-c" })),
    );
    assert_eq!(ids(&a?).first(), Some(&"fsh-011"));
    assert_eq!(ids(&b?).first(), Some(&"hom-001"));
    assert_eq!(ids(&c?).first(), Some(&"gam-012"));
    Ok(())
}
