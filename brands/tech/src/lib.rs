//! Max, the tech brand's AI seller: the shared seller
//! (`agent-store-seller`) with the personality and settings of
//! `brands/tech/persona.toml`, and one habit of its own: a precise seller
//! states the warranty of what goes into the cart.

use agent_store_sdk::{Event, Incoming, Result};
use agent_store_seller::{Brand, Language, ProductInfo};

/// Who Max is: read at build time, checked by the tests below.
pub const PERSONA: &str = include_str!("../persona.toml");

/// Max's differences from the shared seller.
pub struct Max;

impl Brand for Max {
    fn after_add(&self, product: &ProductInfo, language: Language) -> Option<String> {
        let (_, warranty) = product.attributes.iter().find(|(key, _)| key == "warranty")?;
        Some(match language {
            Language::En => format!("Warranty: {warranty}."),
            Language::Es => format!("Garantía: {warranty}."),
            Language::Pt => format!("Garantia: {warranty}."),
        })
    }
}

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    agent_store_seller::handle(PERSONA, &Max, event).await
}

agent_store_sdk::export!(id: "seller-tech", events: handle, init: agent_store_seller::prepare);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persona_is_valid() {
        let persona = agent_store_seller::Persona::parse(PERSONA).unwrap();
        assert_eq!((persona.brand.as_str(), persona.agent.as_str()), ("tech", "Max"));
    }

    #[test]
    fn max_states_the_warranty() {
        let mut product = ProductInfo {
            id: "tec-001".into(),
            name: "Headphones".into(),
            names: vec![],
            category: "audio".into(),
            description: String::new(),
            price: agent_store_sdk::events::Money::new(19900, "USD"),
            sale_price: None,
            promotion: None,
            stock: 3,
            image_url: String::new(),
            tags: vec![],
            keywords: vec![],
            variants: None,
            attributes: vec![("warranty".into(), "2 years".into())],
        };
        assert_eq!(Max.after_add(&product, Language::Es).as_deref(), Some("Garantía: 2 years."));
        product.attributes.clear();
        assert_eq!(Max.after_add(&product, Language::En), None);
    }
}
