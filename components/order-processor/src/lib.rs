//! The order processor agent: orders from creation to delivery.
//!
//! - `store.order.create` → `store.order.created` or `store.order.rejected`
//!   ([`create`]): validated, stock reserved and lines priced by the product
//!   catalog, total recomputed; idempotent by `request_id`.
//! - Payment and shipping hooks and the orders API ([`routes`]) move orders
//!   created → confirmed → shipped → delivered, or cancelled ([`lifecycle`]),
//!   publishing `store.order.*` and telling the customer each step in the
//!   brand's voice ([`voice`]).
//! - `store.brand.onboarded` → nothing: a brand that joins the running store
//!   gets its seller's name on its notices ([`brands`]).
//!
//! The seller that asked for an order tells the customer it was created or
//! refused (it is in the conversation); the later steps come from outside any
//! conversation turn, so this component tells the customer itself, with a
//! `store.chat.response` `from: system`. See `docs/orders.md`.

pub mod auth;
pub mod brands;
pub mod catalog;
pub mod create;
pub mod kv;
pub mod lifecycle;
pub mod model;
pub mod routes;
pub mod voice;

use agent_store_events::types;
use agent_store_sdk::{Error, Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    match event.ty() {
        types::ORDER_CREATE => create::handle(&event).await,
        types::BRAND_ONBOARDED => {
            let data = agent_store_sdk::brands::onboarded(&event)?;
            let done = brands::onboard(&kv::open()?, &data).map_err(|e| match e {
                Error::BadEvent(reason) => agent_store_sdk::brands::refused(&event, &reason),
                other => other,
            })?;
            println!("order-processor: {done}");
            Ok(Vec::new())
        }
        other => Err(Error::bad_event(format!("order-processor does not handle {other} events"))),
    }
}

agent_store_sdk::export!(id: "order-processor", events: handle, http: routes::handle);
