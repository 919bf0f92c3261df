//! The words of each product, by field, that a search matches query words against:
//! folded, stemmed, stopwords left out.

use std::collections::BTreeSet;

use agent_store_text::{fold, stem};

use super::CatalogProduct;

/// Relevance of a query word found in each field. Doubled, plus one for a whole-word
/// match, so the field decides the order and exactness only breaks ties within a field.
const WEIGHT_NAME: u32 = 8;
const WEIGHT_KEYWORDS: u32 = 5;
const WEIGHT_CATEGORY: u32 = 4;
const WEIGHT_ATTRIBUTES: u32 = 2;
const WEIGHT_DESCRIPTION: u32 = 1;

/// Words that carry no product meaning in customer messages, in English, Spanish and
/// Portuguese, already folded. Without them "quero um vestido para festa" would require
/// a product to contain "quero".
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    // English
    "a", "an", "the", "and", "or", "for", "with", "of", "to", "in", "on", "at", "by",
    "from", "my", "me", "i", "im", "you", "your", "it", "its", "is", "are", "this", "that",
    "these", "those", "some", "any", "something", "anything", "want", "wanna", "need",
    "looking", "look", "search", "searching", "find", "show", "see", "buy", "get", "have",
    "has", "got", "like", "would", "could", "can", "please", "pls", "hi", "hello", "hey",
    "do", "does", "what", "which", "m", "s", "t", "d", "ll", "ve", "re",
    // Spanish
    "el", "la", "los", "las", "lo", "un", "una", "unos", "unas", "de", "del", "al", "y",
    "e", "o", "u", "en", "con", "para", "por", "mi", "mis", "tu", "tus", "su", "sus", "que",
    "es", "este", "esta", "estos", "estas", "ese", "esa", "quiero", "quisiera", "busco",
    "buscando", "necesito", "tienes", "tiene", "tienen", "tenes", "hay", "muestrame",
    "mostrar", "ver", "comprar", "algo", "algun", "alguno", "alguna", "hola", "gracias",
    "favor", "porfa",
    // Portuguese
    "os", "as", "um", "uma", "uns", "umas", "da", "do", "das", "dos", "na", "no", "nas",
    "nos", "num", "numa", "ou", "em", "com", "pra", "pela", "pelo", "meu", "minha", "seu",
    "sua", "esse", "essa", "isso", "isto", "quero", "queria", "procuro", "procurando",
    "preciso", "tem", "tens", "voce", "voces", "mostra", "algum", "ola", "oi", "obrigado",
    "obrigada",
];

/// A word in two forms: accent-folded, and also plural-folded for matching across
/// singular and plural.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Term {
    folded: String,
    stem: String,
}

impl Term {
    pub(super) fn new(folded: String) -> Self {
        let stem = stem(&folded).to_string();
        Self { folded, stem }
    }

    pub(super) fn same_word(&self, other: &Term) -> bool {
        self.folded == other.folded || self.stem == other.stem
    }

    /// How a query word (`self`) matches a product word, if at all. A prefix needs two
    /// letters, or "a"-like leftovers would match half the catalog.
    fn matches(&self, product_word: &Term) -> Option<Match> {
        if self.same_word(product_word) {
            Some(Match::Whole)
        } else if self.folded.len() >= 2 && product_word.folded.starts_with(&self.folded) {
            Some(Match::Prefix)
        } else {
            None
        }
    }
}

/// Ordered so that the better match is the greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    Prefix,
    Whole,
}

/// A product's searchable words, grouped by field, heaviest field first.
#[derive(Debug, Clone)]
pub(super) struct ProductIndex {
    fields: Vec<(u32, Vec<Term>)>,
    pub(super) category: Term,
}

impl ProductIndex {
    pub(super) fn new(p: &CatalogProduct) -> Self {
        let keyword_text = p.keywords.iter().chain(&p.tags).map(String::as_str).collect::<Vec<_>>().join(" ");
        let attribute_text = p.attributes.values().map(String::as_str).collect::<Vec<_>>().join(" ");
        // "vestido de lino" names the Linen Wrap Midi Dress as well as its
        // English name does.
        let name_text =
            std::iter::once(&p.name).chain(p.names.values()).map(String::as_str).collect::<Vec<_>>().join(" ");
        let fields = [
            (WEIGHT_NAME, name_text.as_str()),
            (WEIGHT_KEYWORDS, keyword_text.as_str()),
            (WEIGHT_CATEGORY, p.category.as_str()),
            (WEIGHT_ATTRIBUTES, attribute_text.as_str()),
            (WEIGHT_DESCRIPTION, p.description.as_str()),
        ]
        .into_iter()
        .map(|(weight, text)| {
            let words: BTreeSet<Term> = query_terms(text).collect();
            (weight, words.into_iter().collect())
        })
        .collect();
        Self { fields, category: Term::new(fold(&p.category)) }
    }

    /// `None` unless every query word matches somewhere; an empty query matches with 0.
    pub(super) fn score(&self, query: &[Term]) -> Option<u32> {
        let mut total = 0;
        for q in query {
            let best = self
                .fields
                .iter()
                .filter_map(|(weight, words)| {
                    let m = words.iter().filter_map(|w| q.matches(w)).max()?;
                    Some(weight * 2 + u32::from(m == Match::Whole))
                })
                .max()?;
            total += best;
        }
        Some(total)
    }
}

impl ProductIndex {
    /// How well a product fits a stated need: how many of the need's words it
    /// matches anywhere, and their summed relevance. Unlike [`ProductIndex::score`],
    /// a need is not a filter: "dry skin moisturiser" ranks the moisturiser for dry
    /// skin first and a cream for every skin next.
    pub(super) fn fit(&self, need: &[Term]) -> (usize, u32) {
        need.iter().filter_map(|q| self.score(std::slice::from_ref(q))).fold((0, 0), |(n, s), x| (n + 1, s + x))
    }
}

/// The meaningful words of a text: folded, split on anything but letters and digits,
/// stopwords removed.
pub(super) fn query_terms(text: &str) -> impl Iterator<Item = Term> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(|w| Term::new(w.to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}
