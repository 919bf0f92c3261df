//! The WhatsApp gateway agent: Cloud API webhooks in, messages out, delivery status.
//!
//! Not built yet: every event is refused until it is.

use agent_store_sdk::{Error, Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    Err(Error::bad_event(format!("whatsapp-gateway does not handle {} events yet", event.ty())))
}

agent_store_sdk::export!(id: "whatsapp-gateway", events: handle);
