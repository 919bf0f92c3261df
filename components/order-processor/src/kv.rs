//! The `orders` store, through the SDK's `wasi:keyvalue` bucket: orders
//! change by compare-and-swap, so two hooks racing on one order cannot both win.

use agent_store_sdk::kv::{Bucket, KvError};

/// The component's store, as its manifest entry names it.
pub const STORE: &str = "orders";

/// The orders, the stored outcomes of requests and nothing else.
pub type Orders = Bucket;

/// Opens the component's store.
pub fn open() -> Result<Orders, KvError> {
    Bucket::open(STORE)
}
