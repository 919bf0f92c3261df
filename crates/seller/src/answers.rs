//! Answers to a yes/no question about a product from what the catalog says of
//! it: "is the serum cruelty free?", "does the nova 12 support 5G?", "¿el
//! smartwatch es resistente al agua?".
//!
//! [`answer`] takes the question's words, leaves out those that name the
//! product itself (its name; its category, tags and keywords unless a fact
//! holds them too), carries Spanish and Portuguese words over to the English
//! the catalogs are written in, and looks for each word in the product's
//! attributes, variants and description. The verdict is only as strong as
//! the catalog: "yes" when every word asked is a whole fact (a key such as
//! `water_resistance`, an item such as `5G` in `5G, Wi-Fi 6E`, a variant),
//! "no" when such a key says no, the facts quoted when some words are found
//! or only inside a longer fact, and [`Verdict::Unknown`] when none is — the
//! seller says so and offers a person rather than guess.

use agent_store_text::{Language, tokens};

use crate::state::ProductInfo;

/// What the catalog says to a question about a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every word asked about is in the catalog's facts, none of them a "no".
    Yes(Vec<String>),
    /// An attribute asked about says no ("fragrance_free: no").
    No(Vec<String>),
    /// Part of what was asked is in the facts.
    Partly(Vec<String>),
    /// The catalog does not say.
    Unknown,
}

/// Words of a question that ask nothing by themselves: verbs that open or
/// carry it, in the three languages, folded.
#[rustfmt::skip]
const CARRIERS: &[&str] = &[
    "support", "supports", "come", "comes", "work", "works", "any", "good", "really", "actually",
    "also", "still", "use", "used", "okay", "ok", "fine", "suitable", "ever", "well", "big", "small",
    "es", "son", "esta", "estan", "viene", "vienen", "tiene", "tienen", "funciona", "sirve", "soporta",
    "trae", "bueno", "buena", "apto", "apta", "e", "sao", "vem", "tem", "serve", "suporta", "aguenta",
    "bom", "boa", "fica",
];

/// Spanish and Portuguese words (folded) as the English the catalogs use,
/// or the English stem to look for.
#[rustfmt::skip]
const ENGLISH: &[(&str, &str)] = &[
    ("agua", "water"), ("resistente", "resist"), ("impermeable", "waterproof"), ("prova", "water"),
    ("celular", "phone"), ("telefono", "phone"), ("movil", "phone"), ("telefone", "phone"),
    ("inalambrico", "wireless"), ("inalambrica", "wireless"), ("fio", "wireless"),
    ("carga", "charg"), ("carregamento", "charg"), ("bateria", "battery"),
    ("lavable", "wash"), ("lavavel", "wash"), ("lavar", "wash"), ("lavadora", "machine"), ("maquina", "machine"),
    ("piel", "skin"), ("pele", "skin"), ("sensible", "sensitive"), ("sensivel", "sensitive"),
    ("grasa", "oily"), ("oleosa", "oily"), ("seca", "dry"), ("mixta", "combination"), ("mista", "combination"),
    ("tamano", "size"), ("tamanho", "size"), ("talla", "size"), ("talle", "size"),
    ("montar", "assembl"), ("armar", "assembl"), ("garantia", "warranty"), ("fragancia", "fragrance"),
    ("perfume", "fragrance"), ("vegano", "vegan"), ("vegana", "vegan"), ("algodon", "cotton"), ("algodao", "cotton"),
    ("cuero", "leather"), ("couro", "leather"), ("lino", "linen"), ("linho", "linen"), ("madera", "wood"),
    ("madeira", "wood"), ("pantalla", "display"), ("tela", "display"), ("camara", "camera"), ("camera", "camera"),
    ("jugadores", "players"), ("jogadores", "players"), ("incluye", "includ"), ("inclui", "includ"),
];

/// What the catalog says of `product` to a question whose content words are
/// `words` (folded); `name_of` names an attribute key or a variant kind
/// (`water_resistance`, `shade`) in the customer's language.
pub fn answer(product: &ProductInfo, words: &[String], name_of: impl Fn(&str) -> String) -> Verdict {
    // Words that name the product (its name, category, tags, what customers
    // call it, what its variants are called) ask nothing — unless a fact
    // holds them too ("5g" is a tag and a connectivity).
    let facts_words: Vec<String> = product
        .attributes
        .iter()
        .flat_map(|(key, value)| tokens(&key.replace('_', " ")).into_iter().chain(tokens(value)))
        .collect();
    let own: Vec<String> = tokens(&product.category)
        .into_iter()
        .chain(product.tags.iter().chain(&product.keywords).flat_map(|t| tokens(t)))
        .chain(product.variants.iter().flat_map(|v| {
            Language::ALL.iter().flat_map(|l| tokens(&crate::variants::kind_name(&v.kind, *l))).collect::<Vec<_>>()
        }))
        .filter(|word| !facts_words.contains(word))
        .chain(tokens(&product.name))
        .collect();
    let asked: Vec<String> = words
        .iter()
        .filter(|w| w.len() > 2 || w.chars().any(|c| c.is_ascii_digit()))
        .filter(|w| !CARRIERS.contains(&w.as_str()) && !crate::lexicon::FILLER.contains(&w.as_str()))
        .filter(|w| !own.iter().any(|o| same(o, w)))
        .map(|w| ENGLISH.iter().find(|(other, _)| other == w).map_or(w.as_str(), |(_, en)| en).to_owned())
        .collect();
    if asked.is_empty() {
        return Verdict::Unknown;
    }
    let mut facts: Vec<String> = Vec::new();
    let mut covered: Vec<&String> = Vec::new();
    // Words answered outright: by a key ("water resistance") or by a whole
    // item of a value ("5G" in "5G, Wi-Fi 6E"), not by a word inside a
    // qualified one ("sensitive" in "patch-test if sensitive").
    let mut sure: Vec<&String> = Vec::new();
    let mut no = false;
    for (key, value) in &product.attributes {
        // A key answers when all its words are asked ("fragrance free", not
        // "cruelty free"); a value when any of its words is.
        let key_words = tokens(&key.replace('_', " "));
        let key_hit = key_words.iter().all(|k| asked.iter().any(|w| same(k, w)));
        let value_words = tokens(value);
        let hits: Vec<&String> = asked
            .iter()
            .filter(|w| (key_hit && key_words.iter().any(|k| same(k, w))) || value_words.iter().any(|v| same(v, w)))
            .collect();
        if hits.is_empty() {
            continue;
        }
        no |= key_hit && matches!(value.trim().to_lowercase().as_str(), "no" | "false" | "none");
        let whole_items: Vec<Vec<String>> = value
            .split([',', ';', '/'])
            .map(tokens)
            .filter(|item| !item.is_empty() && item.iter().all(|t| asked.iter().any(|w| same(t, w))))
            .collect();
        for word in &hits {
            if key_hit || whole_items.iter().any(|item| item.iter().any(|t| same(t, word))) {
                sure.push(word);
            }
        }
        covered.extend(hits);
        facts.push(format!("{}: {value}", name_of(key)));
    }
    // A size, colour or shade it comes in.
    if let Some(variants) = &product.variants {
        for option in &variants.options {
            let option_words = tokens(&option.value);
            let hits: Vec<&String> = asked.iter().filter(|w| option_words.iter().any(|o| o == *w)).collect();
            if !hits.is_empty() {
                covered.extend(&hits);
                sure.extend(&hits);
                facts.push(format!("{}: {}", name_of(&variants.kind), option.value));
            }
        }
    }
    for word in &asked {
        if covered.contains(&word) {
            continue;
        }
        let sentence = product
            .description
            .split_inclusive(['.', '!'])
            .map(str::trim)
            .find(|sentence| tokens(sentence).iter().any(|t| same(t, word)));
        if let Some(sentence) = sentence {
            covered.push(word);
            if !facts.iter().any(|f| f == sentence) {
                facts.push(sentence.to_owned());
            }
        }
    }
    let found = asked.iter().filter(|w| covered.contains(w)).count();
    match found {
        0 => Verdict::Unknown,
        _ if no => Verdict::No(facts),
        n if n == asked.len() && asked.iter().all(|w| sure.contains(&w)) => Verdict::Yes(facts),
        _ => Verdict::Partly(facts),
    }
}

/// The same word, or one the other starts with ("washable" and "wash",
/// "assembly" and "assembl"): four letters at least, so "a" or "in" match
/// nothing by accident.
fn same(a: &str, b: &str) -> bool {
    a == b || (a.len().min(b.len()) >= 4 && (a.starts_with(b) || b.starts_with(a)))
}

#[cfg(test)]
mod tests {
    use agent_store_events::{Money, ProductId};

    use super::*;

    fn phone() -> ProductInfo {
        ProductInfo {
            id: ProductId::new("tec-009"),
            name: "Voltix Nova 12 Smartphone 128 GB".into(),
            names: Vec::new(),
            category: "mobile".into(),
            description: "A 6.4-inch OLED phone. Five years of security updates.".into(),
            price: Money::new(49900, "USD"),
            sale_price: None,
            promotion: None,
            stock: 3,
            image_url: String::new(),
            tags: vec!["smartphone".into(), "5g".into()],
            keywords: vec!["celular".into(), "phone".into()],
            attributes: vec![
                ("connectivity".into(), "5G, Wi-Fi 6E, NFC".into()),
                ("battery".into(), "4,800 mAh, 45 W wired, 15 W wireless".into()),
                ("fragrance_free".into(), "no".into()),
            ],
            variants: None,
        }
    }

    fn ask(text: &str) -> Verdict {
        answer(&phone(), &tokens(text), |key| key.replace('_', " "))
    }

    #[test]
    fn yes_from_the_attributes_in_three_languages() {
        assert_eq!(ask("nova 12 support 5g"), Verdict::Yes(vec!["connectivity: 5G, Wi-Fi 6E, NFC".into()]));
        assert!(matches!(ask("tem nfc"), Verdict::Yes(f) if f[0].starts_with("connectivity")));
        assert!(matches!(ask("tem 5g e nfc"), Verdict::Yes(_)));
        // A word inside a qualified fact, or in the description, is quoted, not a yes.
        assert!(matches!(ask("security updates"), Verdict::Partly(f) if f[0].contains("Five years")));
        assert!(matches!(ask("inalambrica"), Verdict::Partly(f) if f[0].starts_with("battery")));
    }

    #[test]
    fn no_partly_and_unknown() {
        assert!(matches!(ask("fragrance free"), Verdict::No(_)));
        // Half of a key is not the key: "cruelty free" is not "fragrance free".
        assert_eq!(ask("cruelty free"), Verdict::Unknown);
        assert!(matches!(ask("carga inalambrica"), Verdict::Partly(f) if f[0].starts_with("battery")));
        assert!(matches!(ask("5g and satellite calls"), Verdict::Partly(_)));
        assert_eq!(ask("cruelty free vegan"), Verdict::Unknown);
        // The product's own name asks nothing.
        assert_eq!(ask("nova smartphone"), Verdict::Unknown);
    }
}
