//! A local stand-in for the WhatsApp Cloud API that keeps the messages sent, for chatting with the store without a Meta account.
//!
//! Not built yet: every event is refused until it is.

use agent_store_sdk::{Error, Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    Err(Error::bad_event(format!("whatsapp-sandbox does not handle {} events yet", event.ty())))
}

agent_store_sdk::export!(id: "whatsapp-sandbox", events: handle);
