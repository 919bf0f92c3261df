//! The tech brand's AI seller.

use agent_store_sdk::{Event, Incoming, Result};

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    agent_store_seller::handle("tech", event).await
}

agent_store_sdk::export!(id: "seller-tech", events: handle);
