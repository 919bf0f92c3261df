//! The HTTP side, under the manifest's `/orders/...` route:
//!
//! | request | who | auth |
//! |---|---|---|
//! | `POST /orders/hooks/payment` | a payment provider | `X-Agent-Store-Signature`, the payment secret |
//! | `POST /orders/hooks/shipping` | a carrier | `X-Agent-Store-Signature`, the shipping secret |
//! | `GET /orders?brand=&status=&conversation=&limit=&cursor=` | staff, tools | bearer token |
//! | `GET /orders/<id>` | staff, tools | bearer token |
//! | `POST /orders/<id>/cancel {reason?}` | a seller, staff | bearer token |
//!
//! Payloads and examples are in `docs/orders.md`. Every refusal is
//! `{"error": code, "message": sentence, ...}`.

use agent_store_events::{Money, Order, PaymentInfo};
use agent_store_text::Language;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};

use crate::auth;
use crate::kv::{self, Orders};
use crate::lifecycle::{self, Failure};
use crate::model::{self, Action, Cancellation, Listing, Shipment, StoredOrder};
use crate::voice;

const PREFIX: &str = "/orders";

/// What a payment hook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    Cancelled,
}

/// What a payment provider posts.
#[derive(Debug, Deserialize)]
pub struct PaymentHook {
    pub order_id: String,
    pub status: PaymentStatus,
    pub provider: String,
    pub reference: String,
    /// Required when `paid`: must equal the order total.
    #[serde(default)]
    pub amount: Option<Money>,
    /// When `cancelled`, in words the customer can be told.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a shipping hook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingStatus {
    Shipped,
    Delivered,
}

/// What a carrier posts.
#[derive(Debug, Deserialize)]
pub struct ShippingHook {
    pub order_id: String,
    pub status: ShippingStatus,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    /// When it happened; now when absent.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// The body of `POST /orders/<id>/cancel`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: Option<String>,
}

pub async fn handle(request: Request) -> Response {
    let path = request.path().trim_end_matches('/').to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return error(404, "not_found", &format!("no route {path}"));
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (request.method(), segments.as_slice()) {
        (Method::Post, ["hooks", "payment"]) => match secret(auth::Hook::Payment) {
            Ok(secret) => signed(&request, &secret, payment).await,
            Err(response) => response,
        },
        (Method::Post, ["hooks", "shipping"]) => match secret(auth::Hook::Shipping) {
            Ok(secret) => signed(&request, &secret, shipping).await,
            Err(response) => response,
        },
        (_, ["hooks", _]) => error(405, "method_not_allowed", "hooks take POST"),
        (Method::Get, []) => authorized(&request, || list(&request)),
        (Method::Get, [id]) => authorized(&request, || read(id)),
        (Method::Post, [id, "cancel"]) => match authorize(&request) {
            Err(refusal) => refusal,
            Ok(()) => cancel(id, request.body()).await,
        },
        _ => error(404, "not_found", &format!("no route {} {path}", request.method())),
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

fn error(status: u16, code: &str, message: &str) -> Response {
    json_response(status, &json!({ "error": code, "message": message }))
}

fn variable(name: &str) -> Result<String, Response> {
    spin_sdk::variables::get(name).map_err(|e| {
        eprintln!("order-processor: the variable {name} is not available: {e}");
        error(500, "misconfigured", "the order processor is not configured")
    })
}

/// The secret that signs a hook. The two hooks' secrets must differ: with
/// one secret for both, a carrier could mark orders paid.
fn secret(hook: auth::Hook) -> Result<String, Response> {
    let payment = variable(auth::Hook::Payment.variable())?;
    let shipping = variable(auth::Hook::Shipping.variable())?;
    if !payment.is_empty() && auth::same_secret(&payment, &shipping) {
        eprintln!(
            "order-processor: orders_payment_hook_secret and orders_shipping_hook_secret are the same secret: \
             both hooks are refused until they differ"
        );
        return Err(error(500, "misconfigured", "the order processor is not configured"));
    }
    Ok(match hook {
        auth::Hook::Payment => payment,
        auth::Hook::Shipping => shipping,
    })
}

/// Runs a hook if its body carries a valid signature with `secret`; 401 and
/// nothing else if not.
async fn signed<F>(request: &Request, secret: &str, hook: fn(Vec<u8>) -> F) -> Response
where
    F: Future<Output = Response>,
{
    let header = request.header(auth::SIGNATURE_HEADER).and_then(|h| h.as_str());
    if !auth::verify_signature(secret.as_bytes(), request.body(), header) {
        return error(401, "bad_signature", "the X-Agent-Store-Signature header is missing or does not sign this body");
    }
    hook(request.body().to_vec()).await
}

fn authorize(request: &Request) -> Result<(), Response> {
    let token = variable("api_token")?;
    let header = request.header("authorization").and_then(|h| h.as_str());
    if auth::verify_bearer(&token, header) {
        Ok(())
    } else {
        Err(error(401, "unauthorized", "a valid Authorization: Bearer token is required"))
    }
}

fn authorized(request: &Request, then: impl FnOnce() -> Response) -> Response {
    match authorize(request) {
        Ok(()) => then(),
        Err(refusal) => refusal,
    }
}

/// Reads a JSON body (a hook's, a cancellation's); a 400 that says why if it is not one.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(400, "bad_request", &format!("the body is not valid: {e}")))
}

fn required(value: Option<String>, field: &str) -> Result<String, Response> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| error(422, "missing_field", &format!("{field} is required")))
}

/// Applies a change and answers `{order_id, status, changed}`, or the refusal.
async fn apply(order_id: &str, action: Action) -> Response {
    match lifecycle::change(order_id, &action).await {
        Ok((stored, changed)) => {
            json_response(200, &json!({ "order_id": order_id, "status": stored.order.status, "changed": changed }))
        }
        Err(failure) => {
            if matches!(failure, Failure::Unavailable(_) | Failure::Catalog(_) | Failure::Busy(_)) {
                eprintln!("order-processor: order {order_id}: {}", failure.to_json()["message"]);
            }
            let mut response = json_response(failure.status(), &failure.to_json());
            if matches!(failure, Failure::Busy(_)) {
                response.set_header("retry-after", "1");
            }
            response
        }
    }
}

/// The language of an order, for the words of a default cancellation reason.
fn language_of(order_id: &str) -> Language {
    let stored = kv::open()
        .ok()
        .and_then(|orders| orders.get(&model::order_key(order_id)).ok().flatten())
        .and_then(|bytes| serde_json::from_slice::<StoredOrder>(&bytes).ok());
    voice::language(stored.as_ref().and_then(|s| s.order.language.as_deref()))
}

async fn payment(body: Vec<u8>) -> Response {
    let hook: PaymentHook = match parse(&body) {
        Ok(hook) => hook,
        Err(response) => return response,
    };
    let action = match hook.status {
        PaymentStatus::Paid => {
            let Some(amount) = hook.amount else {
                return error(422, "missing_field", "amount is required when status is paid");
            };
            Action::Pay(PaymentInfo { provider: hook.provider, reference: hook.reference, amount })
        }
        PaymentStatus::Cancelled => Action::Cancel(Cancellation {
            reason: hook
                .reason
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| voice::payment_cancelled(language_of(&hook.order_id)).to_string()),
            cancelled_at: Utc::now(),
        }),
    };
    apply(&hook.order_id, action).await
}

async fn shipping(body: Vec<u8>) -> Response {
    let hook: ShippingHook = match parse(&body) {
        Ok(hook) => hook,
        Err(response) => return response,
    };
    let at = hook.at.unwrap_or_else(Utc::now);
    let action = match hook.status {
        ShippingStatus::Delivered => Action::Deliver(at),
        ShippingStatus::Shipped => {
            let carrier = match required(hook.carrier, "carrier") {
                Ok(carrier) => carrier,
                Err(response) => return response,
            };
            let tracking_number = match required(hook.tracking_number, "tracking_number") {
                Ok(number) => number,
                Err(response) => return response,
            };
            if let Some(url) = &hook.tracking_url
                && !url.starts_with("https://")
            {
                return error(422, "bad_tracking_url", "tracking_url must be an https URL");
            }
            Action::Ship(Shipment { carrier, tracking_number, tracking_url: hook.tracking_url, shipped_at: at })
        }
    };
    apply(&hook.order_id, action).await
}

async fn cancel(order_id: &str, body: &[u8]) -> Response {
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        match parse(body) {
            Ok(body) => body,
            Err(response) => return response,
        }
    };
    let reason = body
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| voice::cancelled_on_request(language_of(order_id)).to_string());
    apply(order_id, Action::Cancel(Cancellation { reason, cancelled_at: Utc::now() })).await
}

fn load_all(orders: &Orders) -> Result<Vec<Order>, Failure> {
    let mut all = Vec::new();
    for key in orders.keys("order:")? {
        if let Some(bytes) = orders.get(&key)? {
            let stored: StoredOrder = serde_json::from_slice(&bytes)
                .map_err(|e| Failure::Unavailable(format!("{key} is unreadable: {e}")))?;
            all.push(stored.order);
        }
    }
    Ok(all)
}

fn list(request: &Request) -> Response {
    let listing = match Listing::parse(request.query()) {
        Ok(listing) => listing,
        Err(e) => return error(400, "bad_request", &e.to_string()),
    };
    let all = match kv::open().map_err(Failure::from).and_then(|orders| load_all(&orders)) {
        Ok(all) => all,
        Err(failure) => {
            eprintln!("order-processor: listing orders: {}", failure.to_json()["message"].as_str().unwrap_or_default());
            return error(503, "unavailable", "the orders store is unavailable");
        }
    };
    let (page, next) = listing.page(&all);
    let mut body = json!({ "orders": page });
    if let Some(next) = next {
        body["next_cursor"] = json!(next);
    }
    json_response(200, &body)
}

fn read(order_id: &str) -> Response {
    let found = kv::open().and_then(|orders| orders.get(&model::order_key(order_id)));
    match found {
        Ok(Some(bytes)) => match serde_json::from_slice::<StoredOrder>(&bytes) {
            Ok(stored) => json_response(200, &stored.view()),
            Err(e) => {
                eprintln!("order-processor: order {order_id} is unreadable: {e}");
                error(500, "unreadable", "the order is stored but unreadable")
            }
        },
        Ok(None) => error(404, "unknown_order", &format!("no order {order_id}")),
        Err(e) => {
            eprintln!("order-processor: reading order {order_id}: {e}");
            error(503, "unavailable", "the orders store is unavailable")
        }
    }
}
