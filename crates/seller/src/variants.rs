//! Variants in a customer's words: "size M", "talla M", "tamanho 38", "the
//! black one", "en negro", "Dusty Rose".
//!
//! [`named`] finds which of a product's options a message names. A short
//! option ("M", "38", "XL") counts only after a size word ("size M", "talla
//! 38") or a preposition ("in M"), or as the whole message: a lone "m" or
//! "38" elsewhere is too likely something else. A longer one counts anywhere,
//! and a colour by any of its words in any of the three languages ("black"
//! names "Midnight Black", so does "negro" or "preto") when no other option
//! has that word.

use agent_store_events::Variants;
use agent_store_text::{Language, tokens};

/// Words before a short option that make it one: "size M", "in 38".
const BEFORE_SHORT: &[&str] = &[
    "size", "talla", "talle", "tamano", "tamanho", "tam", "numero", "number", "n", "no", "in", "en", "em", "de", "a",
    "the", "el", "la", "o",
];

/// Words that may stand around an option in a message that only names it:
/// "M please", "la M", "o 38 por favor".
const AROUND: &[&str] = &[
    "size", "talla", "tamano", "tamanho", "numero", "number", "the", "el", "la", "o", "a", "one", "please", "pls",
    "por", "favor", "in", "en", "em", "de", "do", "da", "i", "want", "quiero", "quero", "uno", "una", "um", "uma",
];

/// Colour words in Spanish and Portuguese, by the English word a catalog uses.
const COLOURS: &[(&str, &[&str])] = &[
    ("black", &["negro", "negra", "preto", "preta"]),
    ("white", &["blanco", "blanca", "branco", "branca"]),
    ("blue", &["azul"]),
    ("red", &["rojo", "roja", "vermelho", "vermelha"]),
    ("green", &["verde"]),
    ("grey", &["gris", "cinza", "gray"]),
    ("pink", &["rosa", "rosado", "rosada"]),
    ("brown", &["marron", "marrom", "cafe"]),
    ("rose", &["rosa"]),
    ("peach", &["durazno", "melocoton", "pessego"]),
    ("clear", &["transparente", "incoloro"]),
    ("berry", &["frutos", "amora"]),
    ("olive", &["oliva"]),
    ("sand", &["arena", "areia"]),
];

/// The option of `variants` that `words` (folded tokens of the message)
/// name, as the catalog spells it; `None` when none or more than one does.
pub fn named(variants: &Variants, words: &[String]) -> Option<String> {
    let english: Vec<String> = words.iter().map(|w| to_english(w).to_owned()).collect();
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for option in &variants.options {
        let score = score(&tokens(&option.value), words, &english, variants);
        if score == 0 {
            continue;
        }
        match best {
            Some((s, _)) if s > score => {}
            Some((s, _)) if s == score => tied = true,
            _ => {
                best = Some((score, option.value.as_str()));
                tied = false;
            }
        }
    }
    if tied { None } else { best.map(|(_, v)| v.to_owned()) }
}

fn to_english(word: &str) -> &str {
    COLOURS.iter().find(|(_, others)| others.contains(&word)).map_or(word, |(en, _)| en)
}

/// How well a message names an option: 0 not at all; 3 the whole option in
/// a place it counts; 1 a distinctive word of it.
fn score(option: &[String], words: &[String], english: &[String], variants: &Variants) -> usize {
    if option.is_empty() {
        return 0;
    }
    let short = option.len() == 1 && option[0].chars().count() <= 3;
    for start in 0..words.len().saturating_sub(option.len() - 1) {
        let hit = (0..option.len()).all(|k| words[start + k] == option[k] || english[start + k] == option[k]);
        if !hit {
            continue;
        }
        if !short {
            return 3;
        }
        let before = start.checked_sub(1).map(|i| words[i].as_str());
        let alone = words.iter().enumerate().all(|(i, w)| i == start || AROUND.contains(&w.as_str()));
        if alone || before.is_some_and(|b| BEFORE_SHORT.contains(&b)) {
            return 3;
        }
    }
    // "the black one" for "Midnight Black": a word of three letters or more
    // that no other option has.
    let distinctive = option.iter().filter(|t| t.chars().count() >= 3 && !t.chars().all(|c| c.is_ascii_digit()));
    for token in distinctive {
        let shared = variants.options.iter().filter(|o| tokens(&o.value).contains(token)).count();
        if shared == 1 && english.iter().any(|w| w == token) {
            return 1;
        }
    }
    0
}

/// What the options are, in `language`: "size", "talla", "tamanho".
pub fn kind_name(kind: &str, language: Language) -> String {
    let names: [&str; 3] = match kind {
        "size" => ["size", "talla", "tamanho"],
        "color" | "colour" => ["colour", "color", "cor"],
        "shade" => ["shade", "tono", "tom"],
        "storage" => ["storage", "almacenamiento", "armazenamento"],
        "platform" => ["platform", "plataforma", "plataforma"],
        other => return other.replace('_', " "),
    };
    let index = match language {
        Language::En => 0,
        Language::Es => 1,
        Language::Pt => 2,
    };
    names[index].to_owned()
}

#[cfg(test)]
mod tests {
    use agent_store_events::VariantOption;

    use super::*;

    fn variants(kind: &str, values: &[&str]) -> Variants {
        Variants {
            kind: kind.into(),
            options: values
                .iter()
                .map(|v| VariantOption { value: (*v).into(), stock: 1, ..VariantOption::default() })
                .collect(),
        }
    }

    fn named_in(v: &Variants, text: &str) -> Option<String> {
        named(v, &tokens(text))
    }

    #[test]
    fn sizes_after_a_size_word_or_alone() {
        let sizes = variants("size", &["XS", "S", "M", "L", "XL"]);
        for text in ["I'll take it, size M", "talla M", "quiero la talla m", "tamanho M por favor", "M", "in M please"]
        {
            assert_eq!(named_in(&sizes, text).as_deref(), Some("M"), "{text}");
        }
        assert_eq!(named_in(&sizes, "size xl").as_deref(), Some("XL"));
        assert_eq!(named_in(&sizes, "I love it"), None);
        let shoes = variants("size", &["36", "37", "38", "39"]);
        assert_eq!(named_in(&shoes, "tamanho 38").as_deref(), Some("38"));
        assert_eq!(named_in(&shoes, "número 37").as_deref(), Some("37"));
        assert_eq!(named_in(&shoes, "I want 2"), None);
    }

    #[test]
    fn colours_and_shades_by_any_of_their_words_in_three_languages() {
        let colours = variants("color", &["Midnight Black", "Glacier White", "Ocean Blue"]);
        assert_eq!(named_in(&colours, "the black one").as_deref(), Some("Midnight Black"));
        assert_eq!(named_in(&colours, "lo quiero en blanco").as_deref(), Some("Glacier White"));
        assert_eq!(named_in(&colours, "quero o azul").as_deref(), Some("Ocean Blue"));
        assert_eq!(named_in(&colours, "glacier white please").as_deref(), Some("Glacier White"));
        let shades = variants("shade", &["Bare", "Dusty Rose", "Classic Red", "Cherry"]);
        assert_eq!(named_in(&shades, "in Dusty Rose").as_deref(), Some("Dusty Rose"));
        assert_eq!(named_in(&shades, "el tono cherry").as_deref(), Some("Cherry"));
        assert_eq!(named_in(&shades, "o vermelho").as_deref(), Some("Classic Red"));
    }

    #[test]
    fn kinds_in_the_customer_language() {
        assert_eq!(kind_name("size", Language::Es), "talla");
        assert_eq!(kind_name("shade", Language::Pt), "tom");
        assert_eq!(kind_name("pack_size", Language::En), "pack size");
    }
}
