//! The gaming brand's AI seller.

use agent_store_sdk::{Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    agent_store_seller::handle("gaming", event).await
}

agent_store_sdk::export!(id: "seller-gaming", events: handle);
