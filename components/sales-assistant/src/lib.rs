//! The sales assistant agent: escalation queue, human seller API, suggestions and sales insights.
//!
//! Not built yet: every event is refused until it is.

use agent_store_sdk::{Error, Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    Err(Error::bad_event(format!("sales-assistant does not handle {} events yet", event.ty())))
}

agent_store_sdk::export!(id: "sales-assistant", events: handle);
