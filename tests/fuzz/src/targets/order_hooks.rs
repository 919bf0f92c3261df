//! The order processor's ways in from outside (`order_processor`): the
//! payment and shipping hooks (signature, body, the status change they ask
//! for) and the orders API's query string.
//!
//! Inputs: hook bodies from `docs/orders.md`'s examples with JSON nodes
//! changed, and generated ones with statuses, amounts, currencies, URLs and
//! times at the edges; signature and bearer headers right, wrong and
//! malformed; orders in every status, paid, shipped or not, to apply them
//! to; query strings with percent-encoding and limits at the edges.
//!
//! Invariants beyond not panicking: the signature check answers as an
//! independent HMAC-SHA256 says; a change the rules allow leads to the
//! status it names, and the same hook again is a duplicate (a provider's
//! retry changes nothing); a refused change says why with a 409 or 422; the
//! changed order reads back from the store as written; paging through the
//! orders API with its cursors lists every matching order once, newest
//! first, never more than `limit` a page.

use std::sync::LazyLock;

use agent_store_events::{Money, Order, OrderStatus, PaymentInfo};
use arbitrary::{Result, Unstructured};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use order_processor::auth;
use order_processor::model::{self, Action, Cancellation, Listing, Plan, Shipment, StoredOrder};
use order_processor::routes::{self, CancelBody, PaymentHook, PaymentStatus, ShippingHook, ShippingStatus};
use serde_json::json;
use sha2::Sha256;

use crate::engine::{Path, Target, show};
use crate::inputs::{self, text, word};

/// The target.
pub const TARGET: Target = Target {
    name: "order-hooks",
    about: "the payment and shipping hooks (signature, body, status change) and the orders API query",
    run,
    must_reach: &["moved", "duplicate", "refused", "unreadable", "listed", "bad query"],
};

/// When the hooks run, in these cases: a fixed time keeps cases repeatable.
static NOW: LazyLock<DateTime<Utc>> = LazyLock::new(|| "2026-06-01T12:00:00Z".parse().expect("a valid time"));

/// An order as the processor stores it, to change with the hooks.
static ORDER: LazyLock<StoredOrder> = LazyLock::new(|| {
    serde_json::from_value(json!({
        "request_id": "req-1",
        "order": {
            "id": "ord-5f0c2a9e1b7d4c38",
            "conversation": "cv-fashion-0123456789abcdef",
            "brand": "fashion",
            "customer": { "id": "cus-0123456789abcdef" },
            "lines": [{
                "product_id": "fsh-001", "name": "Linen Shirt", "quantity": 2,
                "unit_price": { "amount_minor": 7565, "currency": "USD" },
                "line_total": { "amount_minor": 15130, "currency": "USD" }
            }],
            "subtotal": { "amount_minor": 15130, "currency": "USD" },
            "discount": { "amount_minor": 0, "currency": "USD" },
            "total": { "amount_minor": 15130, "currency": "USD" },
            "status": "created",
            "created_at": "2026-06-01T10:00:00Z",
            "language": "es"
        },
        "history": [{ "status": "created", "at": "2026-06-01T10:00:00Z" }]
    }))
    .expect("the order is a StoredOrder")
});

const WORDS: &[&str] = &[
    "order_id",
    "status",
    "paid",
    "cancelled",
    "shipped",
    "delivered",
    "provider",
    "stripe",
    "reference",
    "pi_3PbExample0042",
    "amount",
    "amount_minor",
    "currency",
    "USD",
    "reason",
    "carrier",
    "UPS",
    "tracking_number",
    "1Z999AA10123456784",
    "tracking_url",
    "at",
];
const PROVIDERS: &[&str] = &["stripe", "mercadopago", "manual"];
const REFERENCES: &[&str] = &["pi_3PbExample0042", "pi_other"];
const CARRIERS: &[&str] = &["UPS", "DHL"];
const TRACKING: &[&str] = &["1Z999AA10123456784", "JD014600006281230719"];
const URLS: &[&str] =
    &["https://www.ups.com/track?tracknum=1Z999AA10123456784", "http://ups.com", "javascript:alert(1)", "https:"];
const TIMES: &[&str] = &[
    "2026-06-02T08:30:00Z",
    "2026-06-02T08:30:00.123456789+05:45",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-06-02",
    "yesterday",
];

fn run(u: &mut Unstructured<'_>) -> Result<Path> {
    signature(u)?;
    if u.ratio(1, 4)? {
        return listing(u);
    }
    let (kind, body) = hook_body(u)?;
    show(|| format!("{kind} hook: {}", String::from_utf8_lossy(&body)));
    let action = match kind {
        "payment" => routes::parse::<PaymentHook>(&body).ok().and_then(payment_action),
        "shipping" => routes::parse::<ShippingHook>(&body).ok().and_then(shipping_action),
        _ => {
            let blank = body.iter().all(u8::is_ascii_whitespace);
            let parsed = if blank { Some(CancelBody::default()) } else { routes::parse::<CancelBody>(&body).ok() };
            parsed.map(|body| {
                let reason = body.reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "cancelled".into());
                Action::Cancel(Cancellation { reason, cancelled_at: *NOW })
            })
        }
    };
    let Some(action) = action else {
        return Ok("unreadable");
    };
    let stored = stored_order(u, &action)?;
    show(|| format!("action: {action:?}\norder: {stored:?}"));
    Ok(change(&stored, &action))
}

/// Plans and applies a change as `lifecycle::change` does, checking the
/// rules' promises.
fn change(stored: &StoredOrder, action: &Action) -> Path {
    let from = stored.order.status;
    match model::plan(stored, action) {
        Ok(Plan::Move) => {
            assert!(from.can_transition_to(action.target()), "{from:?} moved to {:?}", action.target());
            if let Action::Pay(payment) = action {
                assert_eq!(payment.amount, stored.order.total, "a payment of another amount was accepted");
                assert!(stored.payment.is_none(), "a second payment was accepted");
            }
            let changed = model::apply(stored.clone(), action, *NOW);
            assert_eq!(changed.order.status, action.target());
            assert_eq!(changed.history.len(), stored.history.len() + 1);
            assert_eq!(model::plan(&changed, action), Ok(Plan::Duplicate), "the same hook again is not a duplicate");
            let bytes = serde_json::to_vec(&changed).expect("a stored order serializes");
            let back: StoredOrder = serde_json::from_slice(&bytes).expect("a stored order reads back");
            assert_eq!(back, changed, "the stored order did not read back as written");
            let _ = changed.view();
            "moved"
        }
        Ok(Plan::Duplicate) => {
            match action {
                Action::Pay(payment) => assert!(
                    stored
                        .payment
                        .as_ref()
                        .is_some_and(|p| p.provider == payment.provider && p.reference == payment.reference),
                    "a payment that is not the known one counted as a duplicate"
                ),
                Action::Ship(shipment) => assert!(
                    stored.shipment.as_ref().is_some_and(|s| s.carrier == shipment.carrier
                        && s.tracking_number == shipment.tracking_number),
                    "a shipment that is not the known one counted as a duplicate"
                ),
                Action::Deliver(_) | Action::Cancel(_) => assert_eq!(from, action.target()),
            }
            "duplicate"
        }
        Err(refusal) => {
            assert!(matches!(refusal.status(), 409 | 422), "a refusal with status {}", refusal.status());
            let body = refusal.to_json();
            assert!(body["error"].is_string() && body["message"].is_string(), "a refusal without a reason: {body}");
            "refused"
        }
    }
}

/// What `routes::payment` asks for.
fn payment_action(hook: PaymentHook) -> Option<Action> {
    Some(match hook.status {
        PaymentStatus::Paid => {
            Action::Pay(PaymentInfo { provider: hook.provider, reference: hook.reference, amount: hook.amount? })
        }
        PaymentStatus::Cancelled => Action::Cancel(Cancellation {
            reason: hook.reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "not paid".into()),
            cancelled_at: *NOW,
        }),
    })
}

/// What `routes::shipping` asks for.
fn shipping_action(hook: ShippingHook) -> Option<Action> {
    let at = hook.at.unwrap_or(*NOW);
    let required = |value: Option<String>| value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    Some(match hook.status {
        ShippingStatus::Delivered => Action::Deliver(at),
        ShippingStatus::Shipped => {
            let carrier = required(hook.carrier)?;
            let tracking_number = required(hook.tracking_number)?;
            if hook.tracking_url.as_deref().is_some_and(|url| !url.starts_with("https://")) {
                return None;
            }
            Action::Ship(Shipment { carrier, tracking_number, tracking_url: hook.tracking_url, shipped_at: at })
        }
    })
}

/// The order a hook is applied to: in any status, paid or shipped or not,
/// usually with the details a retried hook would repeat.
fn stored_order(u: &mut Unstructured<'_>, action: &Action) -> Result<StoredOrder> {
    let mut stored = ORDER.clone();
    stored.order.status = *u.choose(&[
        OrderStatus::Created,
        OrderStatus::Created,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ])?;
    if let (Action::Pay(payment), true) = (action, u.ratio(1, 2)?) {
        stored.order.total = payment.amount.clone();
    }
    if stored.order.status != OrderStatus::Created || u.ratio(1, 8)? {
        stored.payment = Some(PaymentInfo {
            provider: u.choose(PROVIDERS)?.to_string(),
            reference: u.choose(REFERENCES)?.to_string(),
            amount: stored.order.total.clone(),
        });
    }
    if matches!(stored.order.status, OrderStatus::Shipped | OrderStatus::Delivered) || u.ratio(1, 8)? {
        stored.shipment = Some(Shipment {
            carrier: u.choose(CARRIERS)?.to_string(),
            tracking_number: u.choose(TRACKING)?.to_string(),
            tracking_url: None,
            shipped_at: *NOW,
        });
    }
    Ok(stored)
}

/// A hook's kind and body.
fn hook_body(u: &mut Unstructured<'_>) -> Result<(&'static str, Vec<u8>)> {
    let kind = *u.choose(&["payment", "payment", "shipping", "shipping", "cancel"])?;
    let mut value = match kind {
        "payment" => json!({
            "order_id": "ord-5f0c2a9e1b7d4c38",
            "status": word(u, &["paid", "paid", "cancelled"], &["refunded", "PAID"])?,
            "provider": word(u, PROVIDERS, &[""])?,
            "reference": word(u, REFERENCES, &[""])?,
            "amount": {
                "amount_minor": if u.ratio(1, 2)? { json!(15130) } else { inputs::number(u)? },
                "currency": word(u, &["USD", "USD", "EUR"], &["usd", ""])?,
            },
            "reason": text(u, &["card declined", "", " "])?,
        }),
        "shipping" => json!({
            "order_id": "ord-5f0c2a9e1b7d4c38",
            "status": word(u, &["shipped", "delivered"], &["lost"])?,
            "carrier": word(u, CARRIERS, &["", " "])?,
            "tracking_number": word(u, TRACKING, &[""])?,
            "tracking_url": word(u, &URLS[..1], &URLS[1..])?,
            "at": word(u, &TIMES[..4], &TIMES[4..])?,
        }),
        _ => json!({ "reason": text(u, &["changed my mind", "", "  "])? }),
    };
    if let Some(object) = value.as_object_mut()
        && u.ratio(1, 4)?
    {
        for _ in 0..u.int_in_range(1..=2)? {
            if object.is_empty() {
                break;
            }
            let i = u.choose_index(object.len())?;
            if let Some(key) = object.keys().nth(i).cloned() {
                object.remove(&key);
            }
        }
    }
    let mut body = match u.int_in_range(0..=5)? {
        0 | 1 => {
            inputs::mutate_json(u, &mut value, WORDS)?;
            value.to_string().into_bytes()
        }
        2 => inputs::json(u, 3, WORDS)?.to_string().into_bytes(),
        3 if kind == "cancel" => b" \n".to_vec(),
        _ => value.to_string().into_bytes(),
    };
    if u.ratio(1, 8)? {
        inputs::mutate_bytes(u, &mut body, &["\"status\":", "null", "{}"])?;
    }
    Ok((kind, body))
}

/// The hook signature against an independent HMAC, and bearer tokens.
fn signature(u: &mut Unstructured<'_>) -> Result<()> {
    let secret = text(u, &["hook-secret-0123456789abcdef", "s3cret"])?;
    let body: Vec<u8> =
        if u.ratio(1, 2)? { br#"{"order_id":"ord-1","status":"paid"}"#.to_vec() } else { u.arbitrary()? };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(&body);
    let expected = mac.finalize().into_bytes();
    let right = auth::sign(secret.as_bytes(), &body);
    assert_eq!(right, format!("sha256={}", hex::encode(expected)), "auth::sign is not HMAC-SHA256");
    let header = match u.int_in_range(0..=4)? {
        0 => Some(right.clone()),
        1 => Some(format!("\t{}  ", right.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1))),
        2 => None,
        3 => {
            let mut bytes = right.clone().into_bytes();
            inputs::mutate_bytes(u, &mut bytes, &["sha256=", "0", "00"])?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => Some(text(u, &["sha256=", "sha256=00", right.as_str()])?),
    };
    let oracle = !secret.is_empty()
        && header
            .as_deref()
            .and_then(|h| h.trim().strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
            .is_some_and(|claimed| claimed.as_slice() == expected.as_slice());
    assert_eq!(
        auth::verify_signature(secret.as_bytes(), &body, header.as_deref()),
        oracle,
        "X-Agent-Store-Signature {header:?} with secret {secret:?}"
    );

    let token = text(u, &["orders-api-token-0123456789", "tok"])?;
    let given = text(u, &["orders-api-token-0123456789", "tok", ""])?;
    let scheme = *u.choose(&["Bearer", "bearer", "BEARER", "Basic", "Bearer:"])?;
    let header = format!("{scheme} {given}");
    let accepted = auth::verify_bearer(&token, Some(&header));
    let expected = !token.is_empty() && scheme.eq_ignore_ascii_case("bearer") && given.trim() == token;
    assert_eq!(accepted, expected, "Authorization {header:?} for token {token:?}");
    Ok(())
}

/// The orders API's query string, then every page of a listing.
fn listing(u: &mut Unstructured<'_>) -> Result<Path> {
    let mut pairs = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let name = text(u, &["brand", "status", "conversation", "limit", "cursor", "page"])?;
        let value = text(
            u,
            &[
                "fashion",
                "tech",
                "created",
                "confirmed",
                "Shipped",
                "cv-1",
                "1",
                "2",
                "100",
                "101",
                "0",
                "%66ashion",
                "%zz",
                "%e9",
                "%C3%A9",
                "a+b",
                "2026-06-01T10:00:00Z|ord-3",
                "2026-06-01T10%3A00%3A00Z%7Cord-3",
            ],
        )?;
        pairs.push(format!("{name}={value}"));
    }
    let query = pairs.join(if u.ratio(1, 8)? { "&&" } else { "&" });
    show(|| format!("query: {query}"));
    let Ok(mut listing) = Listing::parse(&query) else {
        return Ok("bad query");
    };
    assert!((1..=model::MAX_PAGE).contains(&listing.limit), "limit {} from {query:?}", listing.limit);
    let orders = orders(u)?;
    let _ = listing.page(&orders);

    // Paging from the start with the cursors it hands out.
    listing.cursor = None;
    let mut expected: Vec<&Order> = orders
        .iter()
        .filter(|o| listing.brand.as_deref().is_none_or(|b| o.brand == b))
        .filter(|o| listing.status.is_none_or(|s| o.status == s))
        .filter(|o| listing.conversation.as_deref().is_none_or(|c| o.conversation == c))
        .collect();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    let mut seen: Vec<&Order> = Vec::new();
    loop {
        let (page, next) = listing.page(&orders);
        assert!(page.len() <= listing.limit, "a page of {} with limit {}", page.len(), listing.limit);
        seen.extend(page);
        match next {
            Some(cursor) => listing.cursor = Some(cursor),
            None => break,
        }
        assert!(seen.len() <= orders.len(), "paging does not end: {query:?}");
    }
    let ids = |list: &[&Order]| list.iter().map(|o| o.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&seen), ids(&expected), "paging through {query:?} with limit {}", listing.limit);
    Ok("listed")
}

/// Up to a dozen orders with distinct ids, several created at the same
/// instant, so that ties are ordered by id.
fn orders(u: &mut Unstructured<'_>) -> Result<Vec<Order>> {
    let mut orders = Vec::new();
    for i in 0..u.int_in_range(0..=12)? {
        let mut order = ORDER.order.clone();
        order.id = format!("ord-{}", u.choose(&["1", "2", "3", "a|b", "10"])?).into();
        if orders.iter().any(|o: &Order| o.id == order.id) {
            order.id = format!("ord-x{i}").into();
        }
        order.brand = u.choose(&["fashion", "tech"])?.to_string().into();
        order.conversation = u.choose(&["cv-1", "cv-2"])?.to_string().into();
        order.status = *u.choose(&[OrderStatus::Created, OrderStatus::Confirmed, OrderStatus::Shipped])?;
        order.created_at = *NOW - Duration::nanoseconds(*u.choose(&[0, 1, 1_000_000_000, 3_600_000_000_000])?);
        order.total = Money::new(i64::from(i), "USD");
        orders.push(order);
    }
    Ok(orders)
}
