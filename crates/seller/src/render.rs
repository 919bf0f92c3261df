//! Turning products, carts and questions into WhatsApp messages.
//!
//! Every message is checked against the Cloud API limits before it leaves
//! ([`valid`]): titles are cut to fit, lists hold at most ten rows, and a
//! message that still fails degrades to plain text rather than reaching the
//! gateway broken.

use agent_store_events::{Cart, ListRow, ListSection, OutboundMessage, ProductSummary, ReplyButton, limits};
use agent_store_text::Language;

use crate::brain::Tap;
use crate::persona::Persona;
use crate::state::ProductInfo;
use crate::text::truncate;

/// The words for one seller in one language.
#[derive(Clone, Copy)]
pub struct Voice<'a> {
    /// Whose lines they are.
    pub persona: &'a Persona,
    /// The language they are said in.
    pub language: Language,
}

impl<'a> Voice<'a> {
    /// The voice of `persona` in `language`.
    pub fn new(persona: &'a Persona, language: Language) -> Self {
        Self { persona, language }
    }

    /// The persona's line `key`, placeholders filled.
    pub fn say(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut all: Vec<(&str, &str)> = vec![("agent", &self.persona.agent), ("store", &self.persona.store)];
        all.extend_from_slice(values);
        self.persona.say(self.language, key, &all)
    }

    /// A button for `tap` titled with the line `key`.
    pub fn button(&self, tap: Tap, key: &str) -> ReplyButton {
        ReplyButton::new(tap.id(), truncate(self.persona.line(self.language, key), limits::BUTTON_TITLE))
    }

    /// "sold out", "only 3 left", "14 in stock".
    pub fn stock(&self, stock: u32) -> String {
        let n = stock.to_string();
        match stock {
            0 => self.say("stock_out", &[]),
            1..=5 => self.say("stock_low", &[("n", &n)]),
            _ => self.say("stock_ok", &[("n", &n)]),
        }
    }

    /// The price now, and " (was …)" when on sale.
    pub fn price(&self, product: &ProductInfo) -> (String, String) {
        let now = product.effective_price().to_string();
        let was = match &product.sale_price {
            Some(_) => self.say("was", &[("price", &product.price.to_string())]),
            None => String::new(),
        };
        (now, was)
    }

    /// "1. Name — USD 75.65 (was USD 89.00) · 14 in stock".
    pub fn product_line(&self, index: usize, product: &ProductInfo) -> String {
        let (price, was) = self.price(product);
        format!("{}. {} — {price}{was} · {}", index + 1, product.name_in(self.language), self.stock(product.stock))
    }

    /// The attributes worth quoting, "Sizes: XS-XL · Color: sage green".
    pub fn highlights(&self, product: &ProductInfo, keys: &[String]) -> String {
        keys.iter()
            .filter_map(|key| {
                let (_, value) = product.attributes.iter().find(|(k, _)| k == key)?;
                Some(format!("{}: {value}", self.attribute(key)))
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// An attribute's name in the customer's language.
    pub fn attribute(&self, key: &str) -> String {
        let names: Option<[&str; 3]> = match key {
            "sizes" | "size" => Some(["Sizes", "Tallas", "Tamanhos"]),
            "color" => Some(["Color", "Color", "Cor"]),
            "material" => Some(["Material", "Material", "Material"]),
            "dimensions" => Some(["Dimensions", "Medidas", "Medidas"]),
            "battery_life" | "battery" => Some(["Battery", "Batería", "Bateria"]),
            "warranty" => Some(["Warranty", "Garantía", "Garantia"]),
            "connectivity" => Some(["Connectivity", "Conectividad", "Conectividade"]),
            "platform" => Some(["Platform", "Plataforma", "Plataforma"]),
            "compatibility" => Some(["Works with", "Compatible con", "Compatível com"]),
            "players" => Some(["Players", "Jugadores", "Jogadores"]),
            "display" => Some(["Display", "Pantalla", "Tela"]),
            "storage" => Some(["Storage", "Almacenamiento", "Armazenamento"]),
            "weight" => Some(["Weight", "Peso", "Peso"]),
            "water_resistance" => Some(["Water resistance", "Resistencia al agua", "Resistência à água"]),
            "delivery" => Some(["Delivery", "Entrega", "Entrega"]),
            "ingredients" => Some(["Ingredients", "Ingredientes", "Ingredientes"]),
            "skin_type" => Some(["Skin type", "Tipo de piel", "Tipo de pele"]),
            "hair_type" => Some(["Hair type", "Tipo de cabello", "Tipo de cabelo"]),
            "volume" => Some(["Volume", "Volumen", "Volume"]),
            "care" => Some(["Care", "Cuidados", "Cuidados"]),
            "fit" => Some(["Fit", "Corte", "Caimento"]),
            "length" => Some(["Length", "Largo", "Comprimento"]),
            "age_rating" => Some(["Age", "Edad", "Idade"]),
            "genre" => Some(["Genre", "Género", "Gênero"]),
            "camera" => Some(["Camera", "Cámara", "Câmera"]),
            _ => None,
        };
        match names {
            Some(names) => names[self.language as usize].to_owned(),
            None => {
                let mut name = key.replace('_', " ");
                if let Some(first) = name.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                name
            }
        }
    }

    /// A list of products to pick from: the intro and one line per product
    /// in the body, one row per product behind the button.
    pub fn product_list(&self, intro: &str, products: &[ProductInfo], more: u32) -> OutboundMessage {
        let shown = &products[..products.len().min(limits::LIST_ROWS)];
        let mut body = format!("{intro}\n");
        for (index, product) in shown.iter().enumerate() {
            body.push('\n');
            body.push_str(&self.product_line(index, product));
        }
        if more > 0 {
            body.push_str("\n\n");
            body.push_str(&self.say("results_more", &[("more", &more.to_string())]));
        }
        let button = self.say("list_button", &[]);
        body.push_str("\n\n");
        body.push_str(&self.say("results_hint", &[("button", &button)]));
        let rows = shown
            .iter()
            .map(|product| {
                let (price, _) = self.price(product);
                ListRow {
                    id: Tap::Product(product.id.to_string()).id(),
                    title: truncate(product.name_in(self.language), limits::ROW_TITLE),
                    description: Some(truncate(
                        &format!("{price} · {}", self.stock(product.stock)),
                        limits::ROW_DESCRIPTION,
                    )),
                }
            })
            .collect();
        OutboundMessage::List {
            header: None,
            body: truncate(&body, limits::INTERACTIVE_BODY),
            footer: None,
            button_label: truncate(&button, limits::LIST_BUTTON_LABEL),
            sections: vec![ListSection {
                title: truncate(&self.say("list_section", &[]), limits::SECTION_TITLE),
                rows,
            }],
        }
    }

    /// One product: its card with Add / Similar / My cart (no Add when sold
    /// out). `lead` goes in a text message before it.
    pub fn product_card(&self, lead: &str, product: &ProductInfo) -> Vec<OutboundMessage> {
        let mut buttons = Vec::new();
        if product.stock > 0 {
            buttons.push(self.button(Tap::Add(product.id.to_string()), "btn_add"));
        }
        buttons.push(self.button(Tap::Similar(product.id.to_string()), "btn_similar"));
        buttons.push(self.button(Tap::Cart, "btn_cart"));
        let highlights = self.highlights(product, &self.persona.highlights);
        let mut description = product.description.clone();
        if !highlights.is_empty() {
            description = format!("{description}\n{highlights}");
        }
        // The card's price is the product's; a variant that costs more or
        // less is priced on the card too, before the customer chooses it.
        if let Some(prices) = self.variant_prices(product) {
            description = format!("{description}\n{prices}");
        }
        let card = OutboundMessage::ProductCard {
            product: ProductSummary {
                id: product.id.clone(),
                name: product.name_in(self.language).to_owned(),
                price: product.price.clone(),
                sale_price: product.sale_price.clone(),
                image_url: product.image_url.clone(),
                description: (!description.trim().is_empty())
                    .then(|| truncate(description.trim(), limits::INTERACTIVE_BODY)),
            },
            buttons,
        };
        let mut out = vec![OutboundMessage::text(lead)];
        // A product without a picture cannot be a card: its words go as text.
        if product.image_url.trim().is_empty() {
            out.push(self.buttons(
                &format!("{}\n{}", product.name_in(self.language), description.trim()),
                match card {
                    OutboundMessage::ProductCard { buttons, .. } => buttons,
                    _ => Vec::new(),
                },
            ));
        } else {
            out.push(card);
        }
        out
    }

    /// Text with reply buttons (at most three, the first ones kept).
    pub fn buttons(&self, body: &str, mut buttons: Vec<ReplyButton>) -> OutboundMessage {
        buttons.truncate(limits::BUTTONS);
        if buttons.is_empty() {
            return OutboundMessage::text(truncate(body, limits::TEXT_BODY));
        }
        OutboundMessage::buttons(truncate(body, limits::INTERACTIVE_BODY), buttons)
    }

    /// "Linen Wrap Midi Dress (size M)": a product in a variant, the kind in
    /// the customer's language.
    pub fn variant_label(&self, product: &ProductInfo, variant: Option<&str>) -> String {
        match (variant, &product.variants) {
            (Some(value), Some(variants)) => {
                format!("{} ({} {value})", product.name, crate::variants::kind_name(&variants.kind, self.language))
            }
            (Some(value), None) => format!("{} ({value})", product.name),
            _ => product.name.clone(),
        }
    }

    /// "Storage: 512 GB USD 1,099.00 · 1 TB USD 1,299.00": every variant's
    /// price now, when some variant has a price of its own.
    pub fn variant_prices(&self, product: &ProductInfo) -> Option<String> {
        let variants = product.variants.as_ref().filter(|_| product.has_variant_prices())?;
        let prices: Vec<String> = variants
            .options
            .iter()
            .map(|o| format!("{} {}", o.value, product.effective_price_of(Some(&o.value))))
            .collect();
        Some(format!("{}: {}", self.attribute(&variants.kind), prices.join(" · ")))
    }

    /// Which size, colour or shade: buttons for up to three in stock, a list
    /// for more (ten at most, the rest named in the text).
    pub fn variant_choice(&self, product: &ProductInfo, asked: Option<&str>) -> OutboundMessage {
        let Some(variants) = &product.variants else {
            return OutboundMessage::text(self.say("which_product", &[]));
        };
        let kind = crate::variants::kind_name(&variants.kind, self.language);
        let open: Vec<_> = variants.options.iter().filter(|o| o.stock > 0).collect();
        // Where the variants' prices differ, each is named with its own.
        let names = open
            .iter()
            .map(|o| match product.has_variant_prices() {
                true => format!("{} ({})", o.value, product.effective_price_of(Some(&o.value))),
                false => o.value.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut text = self.say("variant_ask", &[("kind", &kind), ("product", &product.name), ("options", &names)]);
        if let Some(asked) = asked {
            text = format!("{} {text}", self.say("variant_unknown", &[("kind", &kind), ("asked", asked)]));
        }
        let tap = |value: &str| Tap::Variant(product.id.to_string(), value.to_owned()).id();
        if open.len() <= limits::BUTTONS {
            let buttons = open
                .iter()
                .map(|o| ReplyButton::new(tap(&o.value), truncate(&o.value, limits::BUTTON_TITLE)))
                .collect();
            return self.buttons(&text, buttons);
        }
        let rows = open
            .iter()
            .take(limits::LIST_ROWS)
            .map(|o| ListRow {
                id: tap(&o.value),
                title: truncate(&o.value, limits::ROW_TITLE),
                description: Some(truncate(&self.stock(o.stock), limits::ROW_DESCRIPTION)),
            })
            .collect();
        OutboundMessage::List {
            header: None,
            body: truncate(&text, limits::INTERACTIVE_BODY),
            footer: None,
            button_label: truncate(&self.say("variant_button", &[]), limits::LIST_BUTTON_LABEL),
            sections: vec![ListSection { title: truncate(&kind, limits::SECTION_TITLE), rows }],
        }
    }

    /// The cart's lines and subtotal.
    pub fn cart_text(&self, cart: &Cart) -> String {
        let mut text = self.say("cart_intro", &[]);
        text.push('\n');
        text.push_str(&self.cart_lines(cart));
        text.push('\n');
        text.push_str(&self.say("cart_total", &[("total", &cart.subtotal.to_string())]));
        text
    }

    /// "1. 2 × Linen Dress — USD 151.30", one line per item.
    pub fn cart_lines(&self, cart: &Cart) -> String {
        cart.items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let total = item.line_total().map(|m| m.to_string()).unwrap_or_default();
                let name = match &item.variant {
                    Some(variant) => format!("{} ({variant})", item.name),
                    None => item.name.clone(),
                };
                format!("{}. {} × {name} — {total}", index + 1, item.quantity)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The categories to browse, as a list.
    pub fn categories(&self, body: &str) -> OutboundMessage {
        let rows: Vec<ListRow> = self
            .persona
            .categories
            .iter()
            .take(limits::LIST_ROWS)
            .map(|category| ListRow {
                id: Tap::Browse(category.id.clone()).id(),
                title: truncate(
                    category.names.get(&self.language).map(String::as_str).unwrap_or(&category.id),
                    limits::ROW_TITLE,
                ),
                description: None,
            })
            .collect();
        if rows.is_empty() {
            return self
                .buttons(body, vec![self.button(Tap::Popular, "btn_popular"), self.button(Tap::Cart, "btn_cart")]);
        }
        OutboundMessage::List {
            header: None,
            body: truncate(body, limits::INTERACTIVE_BODY),
            footer: None,
            button_label: truncate(&self.say("categories_button", &[]), limits::LIST_BUTTON_LABEL),
            sections: vec![ListSection {
                title: truncate(&self.say("categories_section", &[]), limits::SECTION_TITLE),
                rows,
            }],
        }
    }

    /// The cart's lines to pick one to take out.
    pub fn edit_list(&self, cart: &Cart) -> OutboundMessage {
        let rows = cart
            .items
            .iter()
            .take(limits::LIST_ROWS)
            .map(|item| ListRow {
                id: Tap::Remove(match &item.variant {
                    Some(variant) => format!("{}#{variant}", item.product_id),
                    None => item.product_id.to_string(),
                })
                .id(),
                title: truncate(
                    &match &item.variant {
                        Some(variant) => format!("{} ({variant})", item.name),
                        None => item.name.clone(),
                    },
                    limits::ROW_TITLE,
                ),
                description: Some(truncate(
                    &format!("{} × {}", item.quantity, item.unit_price),
                    limits::ROW_DESCRIPTION,
                )),
            })
            .collect();
        OutboundMessage::List {
            header: None,
            body: truncate(&self.say("edit_intro", &[]), limits::INTERACTIVE_BODY),
            footer: None,
            button_label: truncate(&self.say("remove_button", &[]), limits::LIST_BUTTON_LABEL),
            sections: vec![ListSection { title: String::new(), rows }],
        }
    }
}

/// `message` if WhatsApp would take it, else its words as plain text (or
/// `None` when it has no words either).
pub fn valid(message: OutboundMessage) -> Option<OutboundMessage> {
    if message.validate().is_ok() {
        return Some(message);
    }
    let words = match &message {
        OutboundMessage::Text { body, .. }
        | OutboundMessage::Buttons { body, .. }
        | OutboundMessage::List { body, .. } => body.clone(),
        OutboundMessage::Image { caption, .. } => caption.clone().unwrap_or_default(),
        OutboundMessage::ProductCard { product, .. } => {
            format!("{} — {}", product.name, product.sale_price.as_ref().unwrap_or(&product.price))
        }
    };
    let text = OutboundMessage::text(truncate(words.trim(), limits::TEXT_BODY));
    text.validate().is_ok().then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_events::{CartItem, Money};

    fn persona() -> Persona {
        Persona::parse(
            r#"
            brand = "fashion"
            agent = "Luna"
            store = "Luna Fashion"
            style = "stylish"
            highlights = ["sizes", "color"]
            [[categories]]
            id = "shoes"
            names = { en = "Shoes", es = "Zapatos", pt = "Sapatos" }
            words = ["shoes"]
            "#,
        )
        .unwrap()
    }

    pub fn product(id: &str, name: &str, price: i64, sale: Option<i64>, stock: u32) -> ProductInfo {
        ProductInfo {
            id: id.into(),
            name: name.into(),
            names: Vec::new(),
            category: "shoes".into(),
            description: "A fine thing.".into(),
            price: Money::new(price, "USD"),
            sale_price: sale.map(|s| Money::new(s, "USD")),
            promotion: sale.map(|_| "Sale".into()),
            stock,
            image_url: format!("https://cdn.example/{id}.jpg"),
            tags: vec![],
            keywords: vec![],
            attributes: vec![("sizes".into(), "36,37,38".into()), ("color".into(), "white".into())],
            variants: None,
        }
    }

    #[test]
    fn a_long_list_still_fits_whatsapp() {
        let persona = persona();
        for language in Language::ALL {
            let voice = Voice::new(&persona, language);
            let products: Vec<_> = (0..14)
                .map(|i| {
                    product(&format!("p-{i}"), &"Extraordinarily Long Product Name ".repeat(3), 12345, Some(9999), i)
                })
                .collect();
            let list = voice.product_list("Here you go:", &products, 4);
            assert_eq!(list.validate(), Ok(()), "{language:?}");
            let OutboundMessage::List { sections, body, .. } = &list else { panic!() };
            assert_eq!(sections[0].rows.len(), limits::LIST_ROWS);
            assert!(body.contains("USD 99.99"), "the sale price is shown: {body}");
        }
    }

    #[test]
    fn cards_show_sale_prices_and_hide_add_when_sold_out() {
        let persona = persona();
        let voice = Voice::new(&persona, Language::Es);
        let messages = voice.product_card("Mira:", &product("fsh-022", "Canvas Sneakers", 5900, Some(4425), 0));
        for m in &messages {
            assert_eq!(m.validate(), Ok(()));
        }
        let OutboundMessage::ProductCard { buttons, product } = &messages[1] else { panic!() };
        assert!(buttons.iter().all(|b| !b.id.starts_with("add:")));
        assert_eq!(product.sale_price, Some(Money::new(4425, "USD")));
        assert!(product.description.as_deref().unwrap().contains("Tallas: 36,37,38"));
        assert_eq!(voice.stock(0), "agotado");
        assert_eq!(voice.stock(3), "quedan solo 3");
    }

    #[test]
    fn cards_and_lists_name_the_product_in_the_customers_language() {
        let persona = persona();
        let mut sneakers = product("fsh-022", "Canvas Sneakers", 5900, None, 4);
        sneakers.names = vec!["Zapatillas de lona".into(), String::new()];
        let name = |language| {
            let messages = Voice::new(&persona, language).product_card("", &sneakers);
            let OutboundMessage::ProductCard { product, .. } = &messages[1] else { panic!() };
            product.name.clone()
        };
        assert_eq!(name(Language::Es), "Zapatillas de lona");
        assert_eq!(name(Language::En), "Canvas Sneakers");
        // No Portuguese name in the catalog: the English one.
        assert_eq!(name(Language::Pt), "Canvas Sneakers");
        let list = Voice::new(&persona, Language::Es).product_list("Mira:", &[sneakers.clone(), sneakers], 0);
        let OutboundMessage::List { sections, body, .. } = &list else { panic!() };
        assert_eq!(sections[0].rows[0].title, "Zapatillas de lona");
        assert!(body.contains("1. Zapatillas de lona — USD 59.00"), "{body}");
    }

    #[test]
    fn carts_and_categories() {
        let persona = persona();
        let voice = Voice::new(&persona, Language::Pt);
        let cart = Cart::from_items(
            vec![CartItem {
                product_id: "a".into(),
                name: "Tênis".into(),
                quantity: 2,
                unit_price: Money::new(4425, "USD"),
                variant: None,
            }],
            "USD",
        )
        .unwrap();
        let text = voice.cart_text(&cart);
        assert!(text.contains("2 × Tênis — USD 88.50") && text.contains("Subtotal: USD 88.50"), "{text}");
        assert_eq!(voice.categories("Escolha").validate(), Ok(()));
        assert_eq!(voice.edit_list(&cart).validate(), Ok(()));
    }

    #[test]
    fn invalid_messages_degrade_to_text() {
        let broken = OutboundMessage::buttons("body", vec![ReplyButton::new("a", "x".repeat(30))]);
        assert_eq!(valid(broken), Some(OutboundMessage::text("body")));
        assert_eq!(valid(OutboundMessage::text("  ")), None);
    }
}
