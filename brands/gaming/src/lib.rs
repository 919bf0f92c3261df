//! Pixel, the gaming brand's AI seller: the shared seller
//! (`agent-store-seller`) with the personality and settings of
//! `brands/gaming/persona.toml`, and one habit of its own: games are digital
//! keys, and Pixel says so when one goes into the cart, so nobody waits for
//! a parcel.

use agent_store_sdk::{Event, Incoming, Result};
use agent_store_seller::{Brand, Language, ProductInfo};

/// Who Pixel is: read at build time, checked by the tests below.
pub const PERSONA: &str = include_str!("../persona.toml");

/// Pixel's differences from the shared seller.
pub struct Pixel;

impl Brand for Pixel {
    fn after_add(&self, product: &ProductInfo, language: Language) -> Option<String> {
        if product.category != "games" {
            return None;
        }
        Some(
            match language {
                Language::En => "🔑 It's a digital key: you get it by email and WhatsApp right after payment.",
                Language::Es => "🔑 Es una clave digital: te llega por email y WhatsApp justo después del pago.",
                Language::Pt => "🔑 É uma chave digital: chega por email e WhatsApp logo depois do pagamento.",
            }
            .to_owned(),
        )
    }
}

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    agent_store_seller::handle(PERSONA, &Pixel, event).await
}

agent_store_sdk::export!(id: "seller-gaming", events: handle, init: agent_store_seller::prepare);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persona_is_valid() {
        let persona = agent_store_seller::Persona::parse(PERSONA).unwrap();
        assert_eq!((persona.brand.as_str(), persona.agent.as_str()), ("gaming", "Pixel"));
    }

    #[test]
    fn pixel_explains_digital_keys_for_games_only() {
        let mut product = ProductInfo {
            id: "gam-001".into(),
            name: "Starfall Odyssey".into(),
            names: vec![],
            category: "games".into(),
            description: String::new(),
            price: agent_store_sdk::events::Money::new(5999, "USD"),
            sale_price: None,
            promotion: None,
            stock: 999,
            image_url: String::new(),
            tags: vec![],
            keywords: vec![],
            variants: None,
            attributes: vec![],
        };
        assert!(Pixel.after_add(&product, Language::Pt).unwrap().contains("chave digital"));
        product.category = "controllers".into();
        assert_eq!(Pixel.after_add(&product, Language::En), None);
    }
}
