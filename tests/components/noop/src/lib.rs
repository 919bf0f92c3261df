//! Does nothing with every event it gets: the baseline for measuring what
//! the host costs per event.

use agent_store_sdk::{Event, Incoming, Result};

async fn handle(_event: Incoming) -> Result<Vec<Event>> {
    Ok(Vec::new())
}

agent_store_sdk::export!(id: "noop", events: handle);
