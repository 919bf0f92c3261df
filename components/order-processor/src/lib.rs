//! The order processor agent: validation, stock reservation, status transitions, payment and shipping hooks.
//!
//! Not built yet: every event is refused until it is.

use agent_store_sdk::{Error, Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    Err(Error::bad_event(format!("order-processor does not handle {} events yet", event.ty())))
}

agent_store_sdk::export!(id: "order-processor", events: handle);
