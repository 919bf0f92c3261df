//! Luna, the fashion brand's AI seller: the shared seller
//! (`agent-store-seller`) with the personality and settings of
//! `brands/fashion/persona.toml`.

use agent_store_sdk::{Event, Incoming, Result};

/// Who Luna is: read at build time, checked by the tests below.
pub const PERSONA: &str = include_str!("../persona.toml");

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    agent_store_seller::handle(PERSONA, &agent_store_seller::Standard, event).await
}

agent_store_sdk::export!(id: "seller-fashion", events: handle, init: agent_store_seller::prepare);

#[cfg(test)]
mod tests {
    #[test]
    fn the_persona_is_valid() {
        let persona = agent_store_seller::Persona::parse(super::PERSONA).unwrap();
        assert_eq!((persona.brand.as_str(), persona.agent.as_str()), ("fashion", "Luna"));
    }
}
