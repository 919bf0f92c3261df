//! The selling logic every brand's AI seller shares. Not built yet.

use agent_store_sdk::{Error, Event, Incoming, Result};

/// Handles one event for the seller of `brand`.
pub async fn handle(brand: &str, event: Incoming) -> Result<Vec<Event>> {
    Err(Error::bad_event(format!("seller-{brand} does not handle {} events yet", event.ty())))
}
