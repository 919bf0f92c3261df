//! Live stock: reservations for orders, and the counters that make concurrent orders
//! unable to sell more than there is.
//!
//! A product's file stock never changes at run time; what orders change are two
//! counters per product in the key-value store, changed only by atomic increments:
//!
//! - `reserved:<product>`: units held by orders awaiting payment;
//! - `sold:<product>`: units of paid orders.
//!
//! A product sold in variants (sizes, colours…) has the same two counters per
//! variant too, `reserved:<product>#<variant>` and `sold:<product>#<variant>`,
//! against the variant's own stock: an order line for a variant holds units of
//! both the product and the variant, checked the same way, one after the other.
//!
//! `available = file stock − sold − reserved`. A reservation increments `reserved`
//! first and looks afterwards: if the figure it got back leaves `available` below zero
//! it decrements again and refuses. Because each increment returns the counter *with*
//! this order's units in it, two orders for the last unit cannot both see it free: the
//! later increment sees the earlier one. The reasoning, interleaving by interleaving, is
//! in `docs/orders.md`.
//!
//! Every order has a reservation record, `order:<order id>`, created and moved through
//! its states with compare-and-swap, so that a retried reserve, commit or release finds
//! the work done and changes no counter twice:
//!
//! ```text
//!   (none) ──reserve──► reserving ──► reserved ──commit──► committed
//!                          │              │                    │
//!                          └─refused: record deleted           │
//!                                         └──release──► released ◄──release──┘
//! ```
//!
//! The record moves first and the counters follow, so a component that dies half-way
//! leaves units held that it should have freed — never units free that are held.

use std::fmt;

use agent_store_events::stock::{LineError, normalize_lines};
use agent_store_events::{OrderRequestLine, ProductId, ReservationState, StockRefusal, StockRefused, Variants};
use agent_store_sdk::kv::KvError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::{Catalog, CatalogProduct};
use crate::quote::{self, Quote};

/// The key-value operations stock needs; each one atomic on its own. The component
/// uses `wasi:keyvalue` ([`agent_store_sdk::kv::Bucket`]); the unit tests an in-memory map.
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// The values at `keys`, in their order: one host call on a real store.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        keys.iter().map(|key| self.get(key)).collect()
    }
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Adds `delta` to the counter at `key` (absent is 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError>;
    /// Writes `new` if `key` still holds `expected` (`None`: absent); `false` if not.
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError>;
}

/// The record of one order's reservation, `order:<order id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: String,
    pub state: ReservationState,
    /// The brand the order was reserved for, if the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// The lines as priced when reserved: a retried reserve gets these prices again.
    pub quote: Quote,
    pub updated_at: DateTime<Utc>,
}

impl Reservation {
    /// The answer of the stock API: the order, its state and its priced lines.
    pub fn to_json(&self) -> Value {
        json!({
            "order_id": self.order_id,
            "state": self.state,
            "currency": self.quote.currency,
            "lines": self.quote.lines,
            "subtotal": self.quote.subtotal,
        })
    }

    fn same_request(&self, brand: Option<&str>, lines: &[OrderRequestLine]) -> bool {
        self.brand.as_deref() == brand
            && self.quote.lines.len() == lines.len()
            && self.quote.lines.iter().zip(lines).all(|(held, asked)| {
                held.product_id == asked.product_id.as_str()
                    && held.quantity == asked.quantity
                    && held.variant.as_deref().map(str::to_lowercase) == asked.variant.as_deref().map(str::to_lowercase)
            })
    }
}

/// A product's stock figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    pub product_id: String,
    /// The file's stock.
    pub stock: u32,
    pub sold: i64,
    pub reserved: i64,
    /// What can still be ordered: `stock − sold − reserved`, never below 0.
    pub available: u32,
}

/// Why a stock operation did not happen: refused (the request, or the reservation's
/// state, says no: a 4xx whose body the order processor reads as a
/// [`StockRefusal`]), or failed (worth retrying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockError {
    Refused(StockRefusal),
    /// The key-value store failed, or holds a record this version cannot read.
    Store(String),
}

impl From<StockRefusal> for StockError {
    fn from(refusal: StockRefusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<LineError> for StockError {
    fn from(e: LineError) -> Self {
        Self::Refused(e.into())
    }
}

impl StockError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Refused(refusal) => refusal.status(),
            Self::Store(_) => 503,
        }
    }

    /// `{"error": code, "message": sentence, ...details}`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Refused(refusal) => serde_json::to_value(StockRefused::from(refusal.clone())).unwrap_or_default(),
            Self::Store(_) => json!({ "error": "store_unavailable", "message": self.to_string() }),
        }
    }
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(refusal) => refusal.fmt(f),
            Self::Store(message) => write!(f, "the stock store failed: {message}"),
        }
    }
}

fn reserved_key(product: &str) -> String {
    format!("reserved:{product}")
}

fn sold_key(product: &str) -> String {
    format!("sold:{product}")
}

/// The stock a line's counters are under: the product's, and its variant's.
fn stock_keys(product: &str, variant: Option<&str>) -> Vec<String> {
    let mut keys = vec![product.to_string()];
    keys.extend(variant.map(|v| format!("{product}#{v}")));
    keys
}

/// The file stock behind a stock key: a product's, or one of its variants'.
fn file_stock(catalog: &Catalog, key: &str) -> i64 {
    let (product, variant) = match key.split_once('#') {
        Some((product, variant)) => (product, Some(variant)),
        None => (key, None),
    };
    let Some(p) = catalog.get(product) else { return 0 };
    match variant {
        None => i64::from(p.stock),
        Some(v) => p.variants.as_ref().and_then(|vs| vs.option(v)).map_or(0, |o| i64::from(o.stock)),
    }
}

fn order_key(order_id: &str) -> String {
    format!("order:{order_id}")
}

fn store_err(e: KvError) -> StockError {
    StockError::Store(e.to_string())
}

/// The units of `product` that can be ordered now. One batched read, no write for a
/// product no order ever touched.
pub fn available(kv: &dyn Kv, product: &CatalogProduct) -> Result<u32, StockError> {
    Ok(level(kv, product)?.available)
}

/// A product's figures. A counter is read with an increment of 0, the one read whose
/// answer the interface defines (a plain `get` returns bytes in the store's encoding),
/// and only when the key exists, so browsing writes nothing.
pub fn level(kv: &dyn Kv, product: &CatalogProduct) -> Result<Level, StockError> {
    let [reserved, sold] = counters(kv, vec![reserved_key(&product.id), sold_key(&product.id)])?[..] else {
        unreachable!("two keys, two counters")
    };
    let left = i64::from(product.stock) - sold - reserved;
    Ok(Level {
        product_id: product.id.clone(),
        stock: product.stock,
        sold,
        reserved,
        available: u32::try_from(left.max(0)).unwrap_or(u32::MAX),
    })
}

/// Counters, absent ones 0: which exist is one batched read (a search reads
/// the counters of every product it weighs and every variant it shows), and
/// only those that do are read as counters.
fn counters(kv: &dyn Kv, keys: Vec<String>) -> Result<Vec<i64>, StockError> {
    let present = kv.get_many(&keys).map_err(store_err)?;
    keys.iter()
        .zip(present)
        .map(|(key, value)| match value {
            None => Ok(0),
            Some(_) => kv.increment(key, 0).map_err(store_err),
        })
        .collect()
}

/// Each variant of `product` with the units of it that can be ordered now
/// (`stock − sold − reserved` of the variant, never below 0); `None` for a
/// product sold one way only.
pub fn variants(kv: &dyn Kv, product: &CatalogProduct) -> Result<Option<Variants>, StockError> {
    let Some(variants) = &product.variants else { return Ok(None) };
    let keys = variants
        .options
        .iter()
        .flat_map(|option| {
            let key = format!("{}#{}", product.id, option.value);
            [sold_key(&key), reserved_key(&key)]
        })
        .collect();
    let counters = counters(kv, keys)?;
    let mut live = variants.clone();
    for (option, counted) in live.options.iter_mut().zip(counters.chunks(2)) {
        let left = i64::from(option.stock) - counted[0] - counted[1];
        option.stock = u32::try_from(left.max(0)).unwrap_or(u32::MAX);
    }
    Ok(Some(live))
}

fn load(kv: &dyn Kv, order_id: &str) -> Result<Option<(Vec<u8>, Reservation)>, StockError> {
    match kv.get(&order_key(order_id)).map_err(store_err)? {
        None => Ok(None),
        Some(bytes) => {
            let record = serde_json::from_slice(&bytes)
                .map_err(|e| StockError::Store(format!("the reservation of {order_id} is unreadable: {e}")))?;
            Ok(Some((bytes, record)))
        }
    }
}

fn encode(record: &Reservation) -> Vec<u8> {
    serde_json::to_vec(record).expect("a reservation serializes")
}

/// Holds every line for `order_id`, or none: the first line that does not fit undoes
/// the ones before it. Repeating a reserve that succeeded answers the same reservation
/// (same prices); repeating one with other lines is a conflict.
pub fn reserve(
    kv: &dyn Kv,
    catalog: &Catalog,
    order_id: &str,
    brand: Option<&str>,
    lines: &[OrderRequestLine],
    now: DateTime<Utc>,
) -> Result<Reservation, StockError> {
    let lines = normalize_lines(lines)?;
    let key = order_key(order_id);
    if let Some((_, existing)) = load(kv, order_id)? {
        return replay(existing, brand, &lines);
    }
    let quote = quote::price(catalog, brand, &lines, now)?;
    let claim = Reservation {
        order_id: order_id.to_string(),
        state: ReservationState::Reserving,
        brand: brand.map(str::to_string),
        quote,
        updated_at: now,
    };
    let claim_bytes = encode(&claim);
    if !kv.compare_and_swap(&key, None, &claim_bytes).map_err(store_err)? {
        // Another call created the record between our read and our swap.
        return match load(kv, order_id)? {
            Some((_, existing)) => replay(existing, brand, &lines),
            None => Err(StockRefusal::InProgress { order_id: order_id.to_string() }.into()),
        };
    }

    // This call owns the reservation: hold each line (the product, then its
    // variant), or undo and refuse.
    let mut held: Vec<(String, i64)> = Vec::new();
    // On a refusal, the stock key that was short.
    let outcome = (|| -> Result<(), (Option<String>, StockError)> {
        let failed = |e: KvError| (None, store_err(e));
        for line in &claim.quote.lines {
            for key in stock_keys(&line.product_id, line.variant.as_deref()) {
                let stock = file_stock(catalog, &key);
                let quantity = i64::from(line.quantity);
                let reserved = kv.increment(&reserved_key(&key), quantity).map_err(failed)?;
                held.push((key.clone(), quantity));
                // Read after our increment: a commit moves units to `sold` before it takes
                // them from `reserved`, so whatever we read, a unit is never counted free.
                let sold = kv.increment(&sold_key(&key), 0).map_err(failed)?;
                if stock - sold - reserved < 0 {
                    let before_us = stock - sold - (reserved - quantity);
                    return Err((
                        Some(key),
                        StockRefusal::OutOfStock {
                            product_id: ProductId::new(&line.product_id),
                            name: line.label(),
                            requested: line.quantity,
                            available: u32::try_from(before_us.max(0)).unwrap_or(0),
                        }
                        .into(),
                    ));
                }
            }
        }
        Ok(())
    })();
    if let Err((short, mut refusal)) = outcome {
        for (key, quantity) in held {
            // A failed undo leaves units held, never free: the safe way to be wrong.
            let _ = kv.increment(&reserved_key(&key), -quantity);
        }
        // A refused reservation holds nothing, so a retry is a fresh attempt. Only
        // this call writes a record while it is `reserving`, so a plain delete is safe.
        let _ = kv.delete(&key);
        if let StockError::Refused(StockRefusal::OutOfStock { available, .. }) = &mut refusal
            && let Some(short) = short
            && let Ok(now_free) = key_available(kv, catalog, &short)
        {
            // The figures read during the attempt may count a concurrent commit twice;
            // after our undo, a fresh read is what the customer can still have.
            *available = now_free;
        }
        return Err(refusal);
    }
    let reserved = Reservation { state: ReservationState::Reserved, ..claim };
    if !kv.compare_and_swap(&key, Some(&claim_bytes), &encode(&reserved)).map_err(store_err)? {
        return Err(StockError::Store(format!("the reservation record of {order_id} changed while it was being made")));
    }
    Ok(reserved)
}

/// What can be ordered now under a stock key (a product's or a variant's).
fn key_available(kv: &dyn Kv, catalog: &Catalog, key: &str) -> Result<u32, StockError> {
    let read = |key: String| -> Result<i64, StockError> {
        match kv.get(&key).map_err(store_err)? {
            None => Ok(0),
            Some(_) => kv.increment(&key, 0).map_err(store_err),
        }
    };
    let left = file_stock(catalog, key) - read(sold_key(key))? - read(reserved_key(key))?;
    Ok(u32::try_from(left.max(0)).unwrap_or(u32::MAX))
}

/// A reserve for an order that already has a record.
fn replay(existing: Reservation, brand: Option<&str>, lines: &[OrderRequestLine]) -> Result<Reservation, StockError> {
    let order_id = existing.order_id.clone();
    match existing.state {
        ReservationState::Reserving => Err(StockRefusal::InProgress { order_id }.into()),
        ReservationState::Released => Err(StockRefusal::Conflict {
            reason: format!("order {order_id} was released; a new order needs a new id"),
            order_id,
            state: ReservationState::Released,
        }
        .into()),
        ReservationState::Reserved | ReservationState::Committed if existing.same_request(brand, lines) => Ok(existing),
        state => Err(StockRefusal::Conflict {
            reason: format!("order {order_id} is already {state} with other lines"),
            order_id,
            state,
        }
        .into()),
    }
}

/// Moves an order's record from one state to the next with compare-and-swap, then
/// applies `counters` once, in the call that won the swap. `decide` says, for the
/// current record, whether to move (`Ok(Some(next))`), that the work is already done
/// (`Ok(None)`), or why not (`Err`).
fn transition(
    kv: &dyn Kv,
    order_id: &str,
    now: DateTime<Utc>,
    decide: impl Fn(&Reservation) -> Result<Option<ReservationState>, StockError>,
    counters: impl Fn(&Reservation, ReservationState) -> Result<(), StockError>,
) -> Result<Reservation, StockError> {
    loop {
        let Some((bytes, current)) = load(kv, order_id)? else {
            return Err(StockRefusal::UnknownReservation { order_id: order_id.to_string() }.into());
        };
        let Some(next) = decide(&current)? else {
            return Ok(current);
        };
        let updated = Reservation { state: next, updated_at: now, ..current.clone() };
        if kv.compare_and_swap(&order_key(order_id), Some(&bytes), &encode(&updated)).map_err(store_err)? {
            counters(&current, next)?;
            return Ok(updated);
        }
        // Someone else moved it first: decide again on what they left.
    }
}

/// Gives an order's units back: held ones from `reserved`, paid ones (a cancelled
/// confirmed order) from `sold`. Releasing twice is the same as once.
pub fn release(kv: &dyn Kv, order_id: &str, now: DateTime<Utc>) -> Result<Reservation, StockError> {
    transition(
        kv,
        order_id,
        now,
        |r| match r.state {
            ReservationState::Reserving => Err(StockRefusal::InProgress { order_id: order_id.to_string() }.into()),
            ReservationState::Reserved | ReservationState::Committed => Ok(Some(ReservationState::Released)),
            ReservationState::Released => Ok(None),
        },
        |r, _| {
            let counter = if r.state == ReservationState::Committed { sold_key } else { reserved_key };
            for line in &r.quote.lines {
                for key in stock_keys(&line.product_id, line.variant.as_deref()) {
                    kv.increment(&counter(&key), -i64::from(line.quantity)).map_err(store_err)?;
                }
            }
            Ok(())
        },
    )
}

/// Turns an order's held units into sold ones (the order was paid). Committing twice is
/// the same as once; a released order cannot be committed.
pub fn commit(kv: &dyn Kv, order_id: &str, now: DateTime<Utc>) -> Result<Reservation, StockError> {
    transition(
        kv,
        order_id,
        now,
        |r| match r.state {
            ReservationState::Reserving => Err(StockRefusal::InProgress { order_id: order_id.to_string() }.into()),
            ReservationState::Reserved => Ok(Some(ReservationState::Committed)),
            ReservationState::Committed => Ok(None),
            ReservationState::Released => Err(StockRefusal::Conflict {
                order_id: order_id.to_string(),
                state: ReservationState::Released,
                reason: format!("order {order_id} was released; its units are no longer held"),
            }
            .into()),
        },
        |r, _| {
            for line in &r.quote.lines {
                let quantity = i64::from(line.quantity);
                for key in stock_keys(&line.product_id, line.variant.as_deref()) {
                    // `sold` first: in between, the units count twice (not available),
                    // never zero times.
                    kv.increment(&sold_key(&key), quantity).map_err(store_err)?;
                    kv.increment(&reserved_key(&key), -quantity).map_err(store_err)?;
                }
            }
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::{Arc, Barrier, Mutex};

    use super::*;

    /// The store contract of the host's backends, in a map.
    #[derive(Default)]
    struct MemKv {
        map: Mutex<HashMap<String, Vec<u8>>>,
    }

    impl Kv for MemKv {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            std::thread::yield_now();
            Ok(self.map.lock().unwrap().get(key).cloned())
        }

        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.map.lock().unwrap().remove(key);
            Ok(())
        }

        fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
            std::thread::yield_now();
            let mut map = self.map.lock().unwrap();
            let current: i64 = match map.get(key) {
                Some(v) => std::str::from_utf8(v).unwrap().parse().map_err(|e| KvError::Store {
                    label: "memory".into(),
                    doing: format!("incrementing {key}"),
                    message: format!("{e}"),
                })?,
                None => 0,
            };
            map.insert(key.to_string(), (current + delta).to_string().into_bytes());
            Ok(current + delta)
        }

        fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
            std::thread::yield_now();
            let mut map = self.map.lock().unwrap();
            if map.get(key).map(Vec::as_slice) != expected {
                return Ok(false);
            }
            map.insert(key.to_string(), new.to_vec());
            Ok(true)
        }
    }

    /// Runs `hook` once, just before the first increment of `trigger`: a way to put
    /// another order's whole operation at an exact point of this one's.
    struct Interleave<'a> {
        inner: &'a MemKv,
        trigger: String,
        hook: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    }

    impl Kv for Interleave<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.inner.get(key)
        }

        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.inner.delete(key)
        }

        fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
            if key == self.trigger
                && let Some(hook) = self.hook.borrow_mut().take()
            {
                hook();
            }
            self.inner.increment(key, delta)
        }

        fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
            self.inner.compare_and_swap(key, expected, new)
        }
    }

    const FILE: &str = r#"{"brand":"mini","display_name":"Mini","currency":"USD","products":[
        {"id":"m-1","name":"One","description":"d","category":"c","price":{"amount_minor":500,"currency":"USD"},"stock":10},
        {"id":"m-2","name":"Two","description":"d","category":"c","price":{"amount_minor":700,"currency":"USD"},"stock":1},
        {"id":"m-3","name":"Three","description":"d","category":"c","price":{"amount_minor":900,"currency":"USD"},"stock":0}
    ]}"#;

    fn catalog() -> Catalog {
        Catalog::from_files([("mini", FILE)]).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn line(id: &str, quantity: u32) -> OrderRequestLine {
        OrderRequestLine { product_id: id.into(), quantity, variant: None }
    }

    fn level_of(kv: &dyn Kv, c: &Catalog, id: &str) -> Level {
        level(kv, c.get(id).unwrap()).unwrap()
    }

    #[test]
    fn reserve_commit_release_move_the_counters_once() {
        let (kv, c) = (MemKv::default(), catalog());
        let r = reserve(&kv, &c, "o-1", Some("mini"), &[line("m-1", 3)], now()).unwrap();
        assert_eq!(r.state, ReservationState::Reserved);
        assert_eq!(r.quote.subtotal.amount_minor, 1500);
        assert_eq!(level_of(&kv, &c, "m-1").available, 7);

        // Retries change nothing.
        let again = reserve(&kv, &c, "o-1", Some("mini"), &[line("m-1", 3)], now()).unwrap();
        assert_eq!(again, r);
        assert_eq!(level_of(&kv, &c, "m-1").reserved, 3);

        assert_eq!(commit(&kv, "o-1", now()).unwrap().state, ReservationState::Committed);
        assert_eq!(commit(&kv, "o-1", now()).unwrap().state, ReservationState::Committed);
        let l = level_of(&kv, &c, "m-1");
        assert_eq!((l.sold, l.reserved, l.available), (3, 0, 7));

        // Cancelling a paid order puts its units back on the shelf.
        assert_eq!(release(&kv, "o-1", now()).unwrap().state, ReservationState::Released);
        assert_eq!(release(&kv, "o-1", now()).unwrap().state, ReservationState::Released);
        let l = level_of(&kv, &c, "m-1");
        assert_eq!((l.sold, l.reserved, l.available), (0, 0, 10));
    }

    #[test]
    fn release_of_a_held_order_frees_its_units() {
        let (kv, c) = (MemKv::default(), catalog());
        reserve(&kv, &c, "o-1", None, &[line("m-1", 4), line("m-2", 1)], now()).unwrap();
        assert_eq!(level_of(&kv, &c, "m-2").available, 0);
        release(&kv, "o-1", now()).unwrap();
        assert_eq!(level_of(&kv, &c, "m-1").available, 10);
        assert_eq!(level_of(&kv, &c, "m-2").available, 1);
    }

    #[test]
    fn wrong_moves_are_refused_with_the_state() {
        let (kv, c) = (MemKv::default(), catalog());
        assert_eq!(
            commit(&kv, "o-404", now()),
            Err(StockError::Refused(StockRefusal::UnknownReservation { order_id: "o-404".into() }))
        );
        assert!(matches!(
            release(&kv, "o-404", now()),
            Err(StockError::Refused(StockRefusal::UnknownReservation { .. }))
        ));

        reserve(&kv, &c, "o-1", None, &[line("m-1", 1)], now()).unwrap();
        let other = reserve(&kv, &c, "o-1", None, &[line("m-1", 2)], now()).unwrap_err();
        assert!(
            matches!(other, StockError::Refused(StockRefusal::Conflict { state: ReservationState::Reserved, .. })),
            "{other}"
        );

        release(&kv, "o-1", now()).unwrap();
        let err = commit(&kv, "o-1", now()).unwrap_err();
        assert!(
            matches!(err, StockError::Refused(StockRefusal::Conflict { state: ReservationState::Released, .. })),
            "{err}"
        );
        assert_eq!(err.status(), 409);
        let err = reserve(&kv, &c, "o-1", None, &[line("m-1", 1)], now()).unwrap_err();
        assert!(
            matches!(err, StockError::Refused(StockRefusal::Conflict { state: ReservationState::Released, .. })),
            "{err}"
        );
        assert_eq!(level_of(&kv, &c, "m-1").reserved, 0);
    }

    #[test]
    fn a_reservation_is_all_lines_or_none() {
        let (kv, c) = (MemKv::default(), catalog());
        let err = reserve(&kv, &c, "o-1", None, &[line("m-1", 2), line("m-2", 2)], now()).unwrap_err();
        assert_eq!(
            err,
            StockError::Refused(StockRefusal::OutOfStock {
                product_id: "m-2".into(),
                name: "Two".into(),
                requested: 2,
                available: 1
            })
        );
        assert_eq!(err.to_json()["available"], 1);
        assert_eq!(level_of(&kv, &c, "m-1").reserved, 0, "the first line was undone");
        assert_eq!(level_of(&kv, &c, "m-2").reserved, 0);
        // Nothing is left behind, so the same order may try again with less.
        let r = reserve(&kv, &c, "o-1", None, &[line("m-1", 2), line("m-2", 1)], now()).unwrap();
        assert_eq!(r.state, ReservationState::Reserved);
        let err = reserve(&kv, &c, "o-2", None, &[line("m-3", 1)], now()).unwrap_err();
        assert!(matches!(err, StockError::Refused(StockRefusal::OutOfStock { available: 0, .. })));
    }

    #[test]
    fn a_reservation_in_progress_is_not_touched() {
        let (kv, c) = (MemKv::default(), catalog());
        let kv = Interleave { inner: &kv, trigger: "reserved:m-1".into(), hook: RefCell::new(None) };
        let inner = kv.inner;
        *kv.hook.borrow_mut() = Some(Box::new(|| {
            // The record exists but the counters are not moved yet.
            let c = catalog();
            let err = reserve(inner, &c, "o-1", None, &[line("m-1", 1)], now()).unwrap_err();
            assert_eq!(err, StockError::Refused(StockRefusal::InProgress { order_id: "o-1".into() }));
            assert!(matches!(release(inner, "o-1", now()), Err(StockError::Refused(StockRefusal::InProgress { .. }))));
            assert!(matches!(commit(inner, "o-1", now()), Err(StockError::Refused(StockRefusal::InProgress { .. }))));
        }));
        reserve(&kv, &c, "o-1", None, &[line("m-1", 1)], now()).unwrap();
        assert_eq!(level_of(inner, &c, "m-1").reserved, 1);
    }

    /// Two orders for the last unit, the second one entirely inside the first: the
    /// first increment wins, whoever finishes first.
    #[test]
    fn the_last_unit_goes_to_the_first_increment() {
        let (mem, c) = (MemKv::default(), catalog());
        let kv = Interleave {
            inner: &mem,
            trigger: "sold:m-2".into(),
            hook: RefCell::new(Some(Box::new(|| {
                // A has incremented `reserved` and is about to read `sold`.
                let err = reserve(&mem, &catalog(), "b", None, &[line("m-2", 1)], now()).unwrap_err();
                assert!(matches!(err, StockError::Refused(StockRefusal::OutOfStock { available: 0, .. })), "{err}");
            }))),
        };
        reserve(&kv, &c, "a", None, &[line("m-2", 1)], now()).unwrap();
        let l = level_of(&mem, &c, "m-2");
        assert_eq!((l.reserved, l.available), (1, 0));
    }

    /// A commit of another order between our increment and our read of `sold`.
    #[test]
    fn a_commit_in_between_does_not_free_a_unit() {
        let (mem, c) = (MemKv::default(), catalog());
        reserve(&mem, &c, "paid", None, &[line("m-1", 9)], now()).unwrap();
        let kv = Interleave {
            inner: &mem,
            trigger: "sold:m-1".into(),
            hook: RefCell::new(Some(Box::new(|| {
                commit(&mem, "paid", now()).unwrap();
            }))),
        };
        // 9 held + our 2 > 10, whether the 9 are counted as held or as sold.
        let err = reserve(&kv, &c, "late", None, &[line("m-1", 2)], now()).unwrap_err();
        assert!(matches!(err, StockError::Refused(StockRefusal::OutOfStock { available: 1, .. })), "{err}");
        let l = level_of(&mem, &c, "m-1");
        assert_eq!((l.sold, l.reserved, l.available), (9, 0, 1));
    }

    /// Fifty threads, ten units: exactly ten orders get one, whatever the schedule.
    #[test]
    fn concurrent_orders_never_oversell() {
        for round in 0..20 {
            let kv = Arc::new(MemKv::default());
            let c = Arc::new(catalog());
            let start = Arc::new(Barrier::new(50));
            let threads: Vec<_> = (0..50)
                .map(|i| {
                    let (kv, c, start) = (kv.clone(), c.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        reserve(&*kv, &c, &format!("o-{i}"), None, &[line("m-1", 1)], now())
                    })
                })
                .collect();
            let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let won = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 10, "round {round}");
            assert!(
                results
                    .iter()
                    .filter_map(|r| r.as_ref().err())
                    .all(|e| matches!(e, StockError::Refused(StockRefusal::OutOfStock { .. }))),
                "round {round}"
            );
            let l = level_of(&*kv, &c, "m-1");
            assert_eq!((l.reserved, l.available), (10, 0), "round {round}");
        }
    }

    /// Mixed sizes, commits and releases racing with reservations: at no point may
    /// the units promised exceed the stock, and at the end the counters must agree
    /// with the records.
    #[test]
    fn mixed_concurrent_traffic_keeps_the_books() {
        let kv = Arc::new(MemKv::default());
        let c = Arc::new(catalog());
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (kv, c) = (kv.clone(), c.clone());
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let id = format!("o-{t}-{i}");
                        let lines = [line("m-1", 1 + (t + i) as u32 % 3), line("m-2", 1)];
                        let lines = if i % 2 == 0 { &lines[..1] } else { &lines[..] };
                        if reserve(&*kv, &c, &id, None, lines, now()).is_ok() {
                            match (t + i) % 3 {
                                0 => {
                                    commit(&*kv, &id, now()).unwrap();
                                }
                                1 => {
                                    release(&*kv, &id, now()).unwrap();
                                }
                                _ => {
                                    commit(&*kv, &id, now()).unwrap();
                                    release(&*kv, &id, now()).unwrap();
                                }
                            }
                        }
                        for p in ["m-1", "m-2"] {
                            let l = level(&*kv, c.get(p).unwrap()).unwrap();
                            assert!(l.sold >= 0 && l.reserved >= 0, "{l:?}");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let map = kv.map.lock().unwrap().clone();
        for p in ["m-1", "m-2"] {
            let (mut sold, mut reserved) = (0, 0);
            for value in map.iter().filter(|(k, _)| k.starts_with("order:")).map(|(_, v)| v) {
                let r: Reservation = serde_json::from_slice(value).unwrap();
                let units: i64 =
                    r.quote.lines.iter().filter(|l| l.product_id == p).map(|l| i64::from(l.quantity)).sum();
                match r.state {
                    ReservationState::Committed => sold += units,
                    ReservationState::Reserved => reserved += units,
                    _ => {}
                }
            }
            let l = level(&*kv, c.get(p).unwrap()).unwrap();
            assert_eq!((l.sold, l.reserved), (sold, reserved), "{p}");
            assert!(l.sold + l.reserved <= i64::from(l.stock), "{l:?}");
        }
    }
}
