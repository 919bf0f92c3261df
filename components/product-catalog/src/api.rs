//! The catalog's private HTTP API: stock and quotes for the order processor.
//!
//! The manifest routes it `{ private = true }`, so only other components reach it,
//! through `http://product-catalog.spin.internal/...`. JSON in and out; every refusal
//! is `{"error": code, "message": sentence, ...details}` (see [`StockError`] and the
//! contract's [`StockRefusal`]).
//!
//! | request | answer |
//! |---|---|
//! | `POST /stock/reserve {order_id, brand?, lines}` | 200 the reservation with its priced lines |
//! | `POST /stock/release {order_id}` | 200 the reservation, `released` |
//! | `POST /stock/commit {order_id}` | 200 the reservation, `committed` |
//! | `GET /stock/<product_id>` | 200 `{product_id, brand, stock, sold, reserved, available}` |
//! | `POST /quote {brand?, lines}` | 200 the priced lines, each with `available`, nothing held |

use agent_store_events::stock::normalize_lines;
use agent_store_events::{OrderRequestLine, ProductId, StockRefusal};
use agent_store_sdk::kv::Bucket;
use serde::Deserialize;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};

use crate::catalog::Catalog;
use crate::kv;
use crate::quote;
use crate::stock::{self, Kv, StockError};

/// Longest order id accepted: ids become key-value keys.
const MAX_ORDER_ID: usize = 128;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveBody {
    order_id: String,
    #[serde(default)]
    brand: Option<String>,
    lines: Vec<OrderRequestLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    order_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteBody {
    #[serde(default)]
    brand: Option<String>,
    lines: Vec<OrderRequestLine>,
}

pub async fn handle(request: Request) -> Response {
    let path = request.path().trim_end_matches('/').to_string();
    let result = match (request.method(), path.as_str()) {
        (Method::Post, "/stock/reserve") => reserve(&request),
        (Method::Post, "/stock/release") => release(&request),
        (Method::Post, "/stock/commit") => commit(&request),
        (Method::Post, "/quote") => quote(&request),
        (_, "/stock/reserve" | "/stock/release" | "/stock/commit" | "/quote") => {
            return json_response(405, &json!({ "error": "method_not_allowed", "message": "use POST" }));
        }
        (Method::Get, p) if p.starts_with("/stock/") => level(&p["/stock/".len()..]),
        _ => {
            return json_response(
                404,
                &json!({ "error": "not_found", "message": format!("no route {} {path}", request.method()) }),
            );
        }
    };
    match result {
        Ok(body) => json_response(200, &body),
        Err(e) => {
            if matches!(e, StockError::Store(_)) {
                eprintln!("product-catalog: {} {path}: {e}", request.method());
            }
            json_response(e.status(), &e.to_json())
        }
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

fn body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, StockError> {
    serde_json::from_slice(request.body())
        .map_err(|e| StockRefusal::BadRequest { reason: format!("the body is not valid: {e}") }.into())
}

fn order_id(id: &str) -> Result<&str, StockError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ORDER_ID
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(id)
    } else {
        Err(StockRefusal::BadRequest {
            reason: format!("order_id must be 1 to {MAX_ORDER_ID} letters, digits, '-', '_', '.' or ':'"),
        }
        .into())
    }
}

fn open() -> Result<Bucket, StockError> {
    kv::open().map_err(|e| StockError::Store(e.to_string()))
}

fn catalog(brand: Option<&str>) -> Result<std::sync::Arc<Catalog>, StockError> {
    crate::load(brand).map_err(|e| StockError::Store(e.to_string()))
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn reserve(request: &Request) -> Result<Value, StockError> {
    let body: ReserveBody = body(request)?;
    let id = order_id(&body.order_id)?;
    let catalog = catalog(body.brand.as_deref())?;
    let kv = open()?;
    let reservation = stock::reserve(&kv, &catalog, id, body.brand.as_deref(), &body.lines, now())?;
    Ok(reservation.to_json())
}

fn release(request: &Request) -> Result<Value, StockError> {
    let body: OrderBody = body(request)?;
    Ok(stock::release(&open()?, order_id(&body.order_id)?, now())?.to_json())
}

fn commit(request: &Request) -> Result<Value, StockError> {
    let body: OrderBody = body(request)?;
    Ok(stock::commit(&open()?, order_id(&body.order_id)?, now())?.to_json())
}

fn level(product_id: &str) -> Result<Value, StockError> {
    let catalog = catalog(None)?;
    let unknown =
        || StockError::from(StockRefusal::UnknownProduct { product_id: ProductId::new(product_id), brand: None });
    let product = catalog.get(product_id).ok_or_else(unknown)?;
    let brand = catalog.brand_of(product_id).ok_or_else(unknown)?;
    let kv = open()?;
    let mut level = serde_json::to_value(stock::level(&kv, product)?).unwrap_or_default();
    level["brand"] = json!(brand);
    if let Some(variants) = stock::variants(&kv, product)? {
        level["variants"] = json!(variants);
    }
    Ok(level)
}

fn quote(request: &Request) -> Result<Value, StockError> {
    let body: QuoteBody = body(request)?;
    let lines = normalize_lines(&body.lines)?;
    let catalog = catalog(body.brand.as_deref())?;
    let quote = quote::price(&catalog, body.brand.as_deref(), &lines, now())?;
    let kv: &dyn Kv = &open()?;
    let mut lines = Vec::with_capacity(quote.lines.len());
    for line in &quote.lines {
        let product = catalog.get(&line.product_id).expect("a priced product exists");
        let mut value = serde_json::to_value(line).unwrap_or_default();
        value["available"] = json!(stock::available(kv, product)?);
        lines.push(value);
    }
    Ok(json!({ "currency": quote.currency, "lines": lines, "subtotal": quote.subtotal }))
}
