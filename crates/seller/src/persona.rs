//! A seller's personality and settings: `brands/<brand>/persona.toml`.
//!
//! The file names the seller, describes its voice for the model, lists the
//! brand's categories in the three languages (so "shoes", "zapatos" and
//! "sapatos" all browse the same shelf), picks the product details worth
//! quoting, and overrides any of the default lines of [`TEMPLATES`] in its
//! own words. Everything it leaves out falls back to the defaults, so a new
//! brand's file can be a dozen lines.
//!
//! ```
//! let persona = agent_store_seller::Persona::parse(r#"
//!     brand = "garden"
//!     agent = "Flora"
//!     store = "Flora Garden"
//!     style = "cheerful, green-fingered"
//!
//!     [[categories]]
//!     id = "plants"
//!     names = { en = "Plants", es = "Plantas", pt = "Plantas" }
//!     words = ["plant", "planta"]
//!
//!     [text.en]
//!     greeting = "Hi{name}! I'm Flora 🌱 What are we growing today?"
//! "#).unwrap();
//! use agent_store_seller::Language;
//! assert_eq!(persona.line(Language::En, "greeting"), "Hi{name}! I'm Flora 🌱 What are we growing today?");
//! // Lines it does not override come from the defaults.
//! assert!(persona.line(Language::Es, "cart_empty").contains("carrito"));
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use agent_store_text::{Language, fold, same_word, tokens};

/// The default lines of every seller, by language and key (`templates.toml`).
pub const TEMPLATES: &str = include_str!("templates.toml");

/// How many products a search shows when the persona does not say.
const DEFAULT_RESULTS: u32 = 5;

/// One brand's seller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// The brand id, as in the `brand` extension (`fashion`).
    pub brand: String,
    /// The seller's name (`Luna`).
    pub agent: String,
    /// The store's name as customers know it (`Luna Fashion`).
    pub store: String,
    /// The personality in a few words, for the model (`stylish, trend-aware`).
    pub style: String,
    /// How the seller talks, in a sentence or two, for the model.
    #[serde(default)]
    pub voice: String,
    /// The currency prices are in (price filters are minor units of it).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// How many products a search shows (1 to 10: a WhatsApp list holds ten).
    #[serde(default = "default_results")]
    pub results: u32,
    /// Product attributes worth quoting when a product is shown, in order.
    #[serde(default)]
    pub highlights: Vec<String>,
    /// An example search per language, used in hints ("try “white sneakers”").
    #[serde(default)]
    pub example: BTreeMap<Language, String>,
    /// The brand's categories.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Lines that replace the defaults, by language and key.
    #[serde(default)]
    pub text: BTreeMap<Language, BTreeMap<String, String>>,
    /// The defaults, filled in by [`Persona::parse`].
    #[serde(skip)]
    defaults: BTreeMap<Language, BTreeMap<String, String>>,
}

/// A shelf of the store: a catalog category with its names and the words
/// customers use for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// The catalog's category id (`shoes`).
    pub id: String,
    /// Its name in each language.
    pub names: BTreeMap<Language, String>,
    /// Words (any language) that mean this category.
    pub words: Vec<String>,
}

fn default_currency() -> String {
    "USD".into()
}

fn default_results() -> u32 {
    DEFAULT_RESULTS
}

/// Why a persona file was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PersonaError {
    /// Not TOML of the persona's shape.
    #[error("persona.toml: {0}")]
    Syntax(toml::de::Error),
    /// The shared default lines do not read (a bug in this crate).
    #[error("templates.toml: {0}")]
    Templates(toml::de::Error),
    /// Well-formed, but not a persona a seller can speak with.
    #[error("persona.toml of {brand}: {problem}")]
    Invalid {
        /// The brand the file is for.
        brand: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// What is wrong with a well-formed persona file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The brand or the seller has no name.
    #[error("brand and agent must not be empty")]
    Unnamed,
    /// More products per search than a list holds, or none.
    #[error("results is {0}, it must be 1 to 10")]
    Results(u32),
    /// A category customers could never name (its id).
    #[error("category {0} has no words")]
    NoWords(String),
    /// A category without a name in one of the languages.
    #[error("category {category} has no {language} name")]
    NoName {
        /// The category's id.
        category: String,
        /// The language's tag (`es`).
        language: &'static str,
    },
    /// A line neither the persona nor the defaults have in one language.
    #[error("no {language} line for `{key}`")]
    MissingLine {
        /// The language's tag.
        language: &'static str,
        /// The line's key.
        key: String,
    },
    /// A line the persona overrides that no default has (a typo, likely).
    #[error("unknown line `{key}` in [text.{language}]")]
    UnknownLine {
        /// The language's tag.
        language: &'static str,
        /// The line's key.
        key: String,
    },
}

impl Persona {
    /// Reads and checks a persona file; the error says what is wrong.
    pub fn parse(toml_text: &str) -> Result<Persona, PersonaError> {
        let mut persona: Persona = toml::from_str(toml_text).map_err(PersonaError::Syntax)?;
        persona.defaults = toml::from_str(TEMPLATES).map_err(PersonaError::Templates)?;
        persona.check().map_err(|problem| PersonaError::Invalid { brand: persona.brand.clone(), problem })?;
        Ok(persona)
    }

    fn check(&self) -> Result<(), Problem> {
        if self.brand.trim().is_empty() || self.agent.trim().is_empty() {
            return Err(Problem::Unnamed);
        }
        if !(1..=10).contains(&self.results) {
            return Err(Problem::Results(self.results));
        }
        for category in &self.categories {
            if category.words.is_empty() {
                return Err(Problem::NoWords(category.id.clone()));
            }
            for language in Language::ALL {
                if !category.names.contains_key(&language) {
                    return Err(Problem::NoName { category: category.id.clone(), language: language.tag() });
                }
            }
        }
        // Every line must exist in every language, or a customer would one
        // day receive an empty message.
        let keys: Vec<&String> = self.defaults.values().flat_map(BTreeMap::keys).collect();
        for language in Language::ALL {
            for key in &keys {
                if self.lookup(language, key).is_none() {
                    return Err(Problem::MissingLine { language: language.tag(), key: key.to_string() });
                }
            }
            if let Some(lines) = self.text.get(&language) {
                for key in lines.keys() {
                    if !keys.contains(&key) {
                        return Err(Problem::UnknownLine { language: language.tag(), key: key.clone() });
                    }
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, language: Language, key: &str) -> Option<&str> {
        self.text
            .get(&language)
            .and_then(|lines| lines.get(key))
            .or_else(|| self.defaults.get(&language).and_then(|lines| lines.get(key)))
            .map(String::as_str)
    }

    /// The line `key` in `language`: the persona's own, else the default.
    pub fn line<'a>(&'a self, language: Language, key: &'a str) -> &'a str {
        // `check` proved that every default key exists in every language; an
        // unknown key is a bug in the seller, shown rather than hidden.
        self.lookup(language, key).unwrap_or(key)
    }

    /// The line `key` with `{name}`-style placeholders filled in.
    pub fn say(&self, language: Language, key: &str, values: &[(&str, &str)]) -> String {
        fill(self.line(language, key), values)
    }

    /// The category a word (or two-word phrase) of the message names.
    pub fn category_of(&self, words: &[String]) -> Option<&Category> {
        self.categories.iter().find(|category| {
            category.words.iter().any(|word| {
                let pattern = tokens(word);
                !pattern.is_empty()
                    && words
                        .windows(pattern.len())
                        .any(|window| window.iter().zip(&pattern).all(|(a, b)| same_word(a, b)))
            })
        })
    }

    /// The category with the catalog id `id`.
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// Whether `word` is part of the seller's or the store's name ("luna").
    pub fn is_own_name(&self, word: &str) -> bool {
        tokens(&self.agent).iter().chain(&tokens(&self.store)).any(|w| w == word) || fold(&self.brand) == word
    }

    /// An example search in `language`.
    pub fn example(&self, language: Language) -> &str {
        self.example.get(&language).map(String::as_str).unwrap_or("…")
    }
}

/// Replaces each `{key}` of `template` with its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (key, value) in values {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        brand = "garden"
        agent = "Flora"
        store = "Flora Garden"
        style = "cheerful"
    "#;

    #[test]
    fn a_minimal_persona_gets_every_default_line() {
        let persona = Persona::parse(MINIMAL).unwrap();
        assert_eq!(persona.results, DEFAULT_RESULTS);
        for language in Language::ALL {
            assert!(!persona.line(language, "greeting").is_empty());
        }
        assert_eq!(
            persona.say(Language::En, "cart_total", &[("total", "USD 1.00")]),
            fill(persona.line(Language::En, "cart_total"), &[("total", "USD 1.00")])
        );
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let unknown = format!("{MINIMAL}\n[text.en]\ngretting = \"hi\"\n");
        let err = Persona::parse(&unknown).unwrap_err().to_string();
        assert!(err.contains("gretting"), "{err}");
        let err = Persona::parse(&format!("{MINIMAL}\nresults = 11\n")).unwrap_err();
        assert!(matches!(err, PersonaError::Invalid { problem: Problem::Results(11), .. }), "{err}");
        assert!(err.to_string().contains("results"), "{err}");
        let err = Persona::parse("brand = 1").unwrap_err().to_string();
        assert!(err.starts_with("persona.toml"), "{err}");
        let no_name = format!("{MINIMAL}\n[[categories]]\nid = \"x\"\nnames = {{ en = \"X\" }}\nwords = [\"x\"]\n");
        assert!(Persona::parse(&no_name).unwrap_err().to_string().contains("no es name"));
    }

    #[test]
    fn the_default_lines_cover_the_three_languages() {
        let defaults: BTreeMap<Language, BTreeMap<String, String>> = toml::from_str(TEMPLATES).unwrap();
        let english: Vec<_> = defaults[&Language::En].keys().collect();
        for language in Language::ALL {
            let keys: Vec<_> = defaults[&language].keys().collect();
            assert_eq!(keys, english, "{}", language.tag());
        }
    }

    #[test]
    fn fill_replaces_placeholders() {
        assert_eq!(fill("Hi{name}!", &[("name", " Ana")]), "Hi Ana!");
        assert_eq!(fill("{a}{a}", &[("a", "x")]), "xx");
    }
}
