//! Leo, the sports brand's AI seller: the shared seller
//! (`agent-store-seller`) with the personality and settings of
//! `brands/sports/persona.toml`.
//!
//! Unlike the demo brands, sports is not in the store's `spin.toml`: it is a
//! brand package (`brands/sports/spin.toml`) deployed into a running store.

use agent_store_sdk::{Event, Incoming, Result};

/// Who Leo is: read at build time, checked by the tests below.
pub const PERSONA: &str = include_str!("../persona.toml");

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    agent_store_seller::handle(PERSONA, &agent_store_seller::Standard, event).await
}

agent_store_sdk::export!(id: "seller-sports", events: handle, init: agent_store_seller::prepare);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use agent_store_seller::{Language, Persona};
    use product_catalog::catalog::Catalog;

    /// The catalog the package carries to the store when it is deployed.
    const CATALOG: &str = include_str!("../catalog.json");

    fn persona() -> Persona {
        Persona::parse(super::PERSONA).unwrap_or_else(|e| panic!("{e}"))
    }

    fn catalog() -> Catalog {
        // The catalog component's own parser and checks: a file that passes
        // here is one the store will serve once the package is deployed.
        Catalog::from_files([("sports", CATALOG)]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_persona_is_valid() {
        let persona = persona();
        assert_eq!((persona.brand.as_str(), persona.agent.as_str()), ("sports", "Leo"));
    }

    #[test]
    fn leo_greets_in_the_customers_language() {
        // The seller answers in the language it detects; a greeting that
        // reads as another language would flip the conversation's language.
        let persona = persona();
        for language in Language::ALL {
            let greeting = persona.say(language, "greeting", &[("name", " Ana")]);
            assert!(greeting.contains("Leo") && greeting.contains("Ana"), "{greeting}");
            assert_eq!(agent_store_text::detect(&greeting), Some(language), "{greeting}");
            assert!(!persona.example(language).is_empty() && persona.example(language) != "…", "{language:?}");
        }
    }

    #[test]
    fn the_catalog_is_valid_and_every_category_has_a_shelf() {
        let catalog = catalog();
        assert_eq!(catalog.brands(), ["sports"]);
        let file = catalog.brand("sports").unwrap();
        assert_eq!((file.display_name.as_str(), file.currency.as_str()), ("Leo Sports", "USD"));
        assert!(file.products.len() >= 20, "{}", file.products.len());

        // Customers browse by the persona's shelves, and the catalog files
        // products under its categories: the two must name the same ones.
        let persona = persona();
        let shelves: BTreeSet<&str> = persona.categories.iter().map(|c| c.id.as_str()).collect();
        let categories: BTreeSet<&str> = catalog.categories("sports").into_iter().collect();
        assert_eq!(shelves, categories);
        assert_eq!(persona.currency, file.currency);
    }

    #[test]
    fn the_catalog_follows_the_conventions_of_the_demo_brands() {
        // The same house rules the product catalog's tests hold the demo
        // brands' files to (components/product-catalog/src/catalog.rs).
        let catalog = catalog();
        let file = catalog.brand("sports").unwrap();
        assert_eq!(file.products.iter().filter(|p| p.stock == 0).count(), 2, "out-of-stock products");
        assert!(file.products.iter().any(|p| (1..=5).contains(&p.stock)), "no low-stock product");
        for p in &file.products {
            assert!(p.id.starts_with("spt-"), "{}", p.id);
            assert_eq!(p.image_url, format!("https://cdn.agent-store.example/sports/{}.jpg", p.id));
            assert!(p.price.amount_minor > 0, "{}", p.id);
            assert!(!p.keywords.is_empty() && !p.description.is_empty(), "{}", p.id);
            for w in p.keywords.iter().chain(&p.tags) {
                assert_eq!(*w, w.to_lowercase(), "{}: {w}", p.id);
            }
            for key in p.attributes.keys() {
                let snake = key.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
                assert!(snake, "{}: attribute {key}", p.id);
            }
            for r in catalog.related(&p.id) {
                assert_eq!(r.category, p.category, "{} related {}", p.id, r.id);
            }
            for m in catalog.complements(&p.id) {
                assert_ne!(m.category, p.category, "{} complement {}", p.id, m.id);
            }
        }
        let promotions = &file.promotions;
        assert!((1..=3).contains(&promotions.len()));
        assert!(promotions.iter().all(|p| (5..=40).contains(&p.percent_off)));
    }
}
