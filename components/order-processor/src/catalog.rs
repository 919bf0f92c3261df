//! The product catalog's private stock API, by service chaining
//! (`http://product-catalog.spin.internal`, see `components/product-catalog/src/api.rs`).
//! The catalog prices every line; nothing the request says about prices is used.

use agent_store_events::{Money, OrderRequestLine, ReservationState, StockRefusal, StockRefused};
use serde::Deserialize;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};

const BASE: &str = "http://product-catalog.spin.internal";

/// One line as the catalog priced and reserved it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PricedLine {
    pub product_id: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub line_total: Money,
    /// The variant reserved, as the catalog spells it.
    #[serde(default)]
    pub variant: Option<String>,
}

/// A reservation as the catalog answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reservation {
    pub order_id: String,
    pub state: ReservationState,
    pub lines: Vec<PricedLine>,
    pub subtotal: Money,
}

/// What went wrong talking to the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogError {
    /// The catalog said no: a 4xx with its `{"error": code, "message", ...}` body.
    Refused { status: u16, refused: StockRefused },
    /// It could not be reached or failed (5xx): worth retrying.
    Unavailable(String),
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::Refused { status, refused } => {
                write!(f, "the catalog refused ({status} {}): {}", refused.refusal.code(), refused.message)
            }
            CatalogError::Unavailable(message) => write!(f, "the catalog is unavailable: {message}"),
        }
    }
}

async fn post(path: &str, body: Value) -> Result<Value, CatalogError> {
    let request = Request::builder()
        .method(Method::Post)
        .uri(format!("{BASE}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .build();
    let response: Response =
        spin_sdk::http::send(request).await.map_err(|e| CatalogError::Unavailable(format!("POST {path}: {e}")))?;
    let status = *response.status();
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    match status {
        200..=299 => Ok(body),
        400..=499 => {
            // A body that is no refusal still refuses; what it says is kept.
            let refused = serde_json::from_value(body.clone()).unwrap_or_else(|_| StockRefused {
                refusal: StockRefusal::Other,
                message: body["message"].as_str().unwrap_or_default().to_string(),
            });
            Err(CatalogError::Refused { status, refused })
        }
        _ => Err(CatalogError::Unavailable(format!(
            "POST {path} answered {status}: {}",
            body["message"].as_str().or(body["error"].as_str()).unwrap_or("")
        ))),
    }
}

/// Holds every line for `order_id` (or none) and prices them.
pub async fn reserve(order_id: &str, brand: &str, lines: &[OrderRequestLine]) -> Result<Reservation, CatalogError> {
    let body = post("/stock/reserve", json!({ "order_id": order_id, "brand": brand, "lines": lines })).await?;
    serde_json::from_value(body).map_err(|e| CatalogError::Unavailable(format!("an unreadable reservation: {e}")))
}

/// Gives the order's units back. An order the catalog never reserved holds
/// nothing, so that is not an error.
pub async fn release(order_id: &str) -> Result<(), CatalogError> {
    match post("/stock/release", json!({ "order_id": order_id })).await {
        Ok(_) => Ok(()),
        Err(CatalogError::Refused {
            refused: StockRefused { refusal: StockRefusal::UnknownReservation { .. }, .. },
            ..
        }) => {
            eprintln!("order-processor: releasing {order_id}: the catalog holds nothing for it");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Turns the order's held units into sold ones.
pub async fn commit(order_id: &str) -> Result<(), CatalogError> {
    post("/stock/commit", json!({ "order_id": order_id })).await.map(|_| ())
}
