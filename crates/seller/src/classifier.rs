//! A second opinion on a message's intent: naive Bayes over words, word
//! pairs and letter groups, learned from the labelled messages of
//! `tests/corpus/` (the five brands' files, never the held-out one).
//!
//! The rules of [`crate::brain`] read what they were written for exactly and
//! fall back to a search for anything else. Where their reading is only that
//! fallback, [`Classifier::classify`] says which labelled messages this one
//! looks most like: letter groups ("itch" in "itching", "agujer" in
//! "agujero") carry a family of phrasings further than a list of words.
//!
//! Pure counting, deterministic, no dependency beyond the tokenizer: the
//! model is learned the first time it is asked ([`Classifier::embedded`]),
//! from the corpus compiled into the component (about 630 messages, and the
//! five catalogs' product names: some 20 ms of counting). A seller learns it in its `init`
//! ([`crate::prepare`]), which the host snapshots: a fresh instance per
//! event would otherwise learn it again for every message it reads.
//!
//! ```
//! use agent_store_events::Intent;
//! use agent_store_seller::classifier::Classifier;
//!
//! let model = Classifier::train([("where is my order", Intent::OrderStatus), ("hello there", Intent::Greeting)]);
//! assert_eq!(model.classify("where is the order I placed?").intent, Intent::OrderStatus);
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use agent_store_events::Intent;
use agent_store_text::{stem, tokens};
use serde::Deserialize;

/// Every intent a message can be labelled with, in a fixed order.
const INTENTS: [Intent; 14] = [
    Intent::Greeting,
    Intent::Browse,
    Intent::ProductQuestion,
    Intent::Recommendation,
    Intent::AddToCart,
    Intent::ViewCart,
    Intent::ChangeCart,
    Intent::Checkout,
    Intent::OrderStatus,
    Intent::Complaint,
    Intent::HumanRequest,
    Intent::Thanks,
    Intent::Goodbye,
    Intent::Unknown,
];

/// How a model is learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// How much a letter group counts against a whole word: there are many
    /// of them per word, and each says less. 0 leaves them out.
    pub letters: f64,
    /// How much a pair of neighbouring words counts. 0 leaves them out.
    pub pairs: f64,
    /// Additive smoothing of the counts.
    pub smoothing: f64,
}

/// The options of the embedded model, chosen by cross-validation over the
/// corpus (`tests/corpus.rs`, BENCHMARKS.md): alone, letter groups at 0.1
/// read a message or two more, but behind the rules 0.3 mends more of
/// what they miss.
pub const OPTIONS: Options = Options { letters: 0.3, pairs: 1.0, smoothing: 0.5 };

/// The corpus files the embedded model learns from.
const CORPUS: [&str; 5] = [
    include_str!("../../../tests/corpus/fashion.json"),
    include_str!("../../../tests/corpus/tech.json"),
    include_str!("../../../tests/corpus/home.json"),
    include_str!("../../../tests/corpus/beauty.json"),
    include_str!("../../../tests/corpus/gaming.json"),
];

/// The catalogs whose product names and keywords the embedded model learns
/// as what a search says ([`Classifier::learn_names`]).
const CATALOGS: [&str; 5] = [
    include_str!("../../../brands/fashion/catalog.json"),
    include_str!("../../../brands/tech/catalog.json"),
    include_str!("../../../brands/home/catalog.json"),
    include_str!("../../../brands/beauty/catalog.json"),
    include_str!("../../../brands/gaming/catalog.json"),
];

/// How much a product name's word counts against a message's. Enough that
/// "rattan", "jantar" or "damaged hair" are known as what customers look
/// for; little enough that the 2,447 names and keywords do not outweigh
/// the few hundred searches customers wrote.
pub const NAME_WEIGHT: f64 = 0.1;

/// A learned model: per feature, how often each intent's messages had it.
#[derive(Debug, Clone)]
pub struct Classifier {
    options: Options,
    counts: BTreeMap<String, [f64; INTENTS.len()]>,
    /// Feature weight per intent, summed.
    totals: [f64; INTENTS.len()],
    /// Messages per intent.
    messages: [u32; INTENTS.len()],
}

/// The model's reading of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guess {
    /// The most likely intent.
    pub intent: Intent,
    /// Its probability under the model, from 0 to 1. Naive Bayes is sure of
    /// itself: read it as a ranking, not a calibrated chance.
    pub probability: f64,
}

impl Classifier {
    /// Learns from labelled messages.
    pub fn train<'a>(samples: impl IntoIterator<Item = (&'a str, Intent)>) -> Classifier {
        Classifier::train_with(samples, OPTIONS)
    }

    /// Learns from labelled messages, with other options.
    pub fn train_with<'a>(samples: impl IntoIterator<Item = (&'a str, Intent)>, options: Options) -> Classifier {
        let mut model =
            Classifier { options, counts: BTreeMap::new(), totals: [0.0; INTENTS.len()], messages: [0; INTENTS.len()] };
        for (text, intent) in samples {
            let class = index(intent);
            model.messages[class] += 1;
            for (feature, weight) in features(&tokens(text), options) {
                model.counts.entry(feature).or_insert([0.0; INTENTS.len()])[class] += weight;
                model.totals[class] += weight;
            }
        }
        model
    }

    /// The model learned from the main corpus compiled into the seller,
    /// learned once.
    pub fn embedded() -> &'static Classifier {
        static MODEL: OnceLock<Classifier> = OnceLock::new();
        MODEL.get_or_init(|| {
            #[derive(Deserialize)]
            struct File {
                messages: Vec<Sample>,
            }
            #[derive(Deserialize)]
            struct Sample {
                text: String,
                intent: Intent,
            }
            let files: Vec<File> =
                CORPUS.iter().map(|json| serde_json::from_str(json).expect("the corpus files parse")).collect();
            let mut model =
                Classifier::train(files.iter().flat_map(|f| f.messages.iter().map(|m| (m.text.as_str(), m.intent))));
            model.learn_names(NAME_WEIGHT);
            model
        })
    }

    /// Learns every product name (in each language) and keyword of the
    /// catalogs as words of a search, each feature at `weight`, without
    /// counting them as messages: the intents' priors stay those of what
    /// customers wrote. Naive Bayes had never seen most product words, and
    /// was surest of itself on the fewest words it knew: "Cadeira de jantar
    /// de rattan" read as a complaint at 0.999.
    pub fn learn_names(&mut self, weight: f64) {
        #[derive(Deserialize)]
        struct Catalog {
            products: Vec<Product>,
        }
        #[derive(Deserialize)]
        struct Product {
            name: String,
            #[serde(default)]
            names: BTreeMap<String, String>,
            #[serde(default)]
            keywords: Vec<String>,
        }
        let class = index(Intent::Browse);
        for json in CATALOGS {
            let catalog: Catalog = serde_json::from_str(json).expect("the catalogs parse");
            for product in &catalog.products {
                let said = std::iter::once(&product.name).chain(product.names.values()).chain(&product.keywords);
                for text in said {
                    for (feature, w) in features(&tokens(text), self.options) {
                        self.counts.entry(feature).or_insert([0.0; INTENTS.len()])[class] += w * weight;
                        self.totals[class] += w * weight;
                    }
                }
            }
        }
    }

    /// The most likely intent of `text`.
    pub fn classify(&self, text: &str) -> Guess {
        self.classify_words(&tokens(text))
    }

    /// The most likely intent of a message already split into words
    /// ([`agent_store_text::tokens`]).
    pub fn classify_words(&self, words: &[String]) -> Guess {
        let features = features(words, self.options);
        let vocabulary = self.counts.len() as f64 + 1.0;
        let total_messages: u32 = self.messages.iter().sum();
        let mut scores = [f64::NEG_INFINITY; INTENTS.len()];
        for (class, score) in scores.iter_mut().enumerate() {
            if self.messages[class] == 0 {
                continue;
            }
            let prior = (f64::from(self.messages[class]) / f64::from(total_messages)).ln();
            let smoothing = self.options.smoothing;
            let denominator = self.totals[class] + smoothing * vocabulary;
            *score = prior
                + features
                    .iter()
                    .map(|(feature, weight)| {
                        let seen = self.counts.get(feature).map_or(0.0, |c| c[class]);
                        weight * ((seen + smoothing) / denominator).ln()
                    })
                    .sum::<f64>();
        }
        let mut order: Vec<usize> = (0..INTENTS.len()).collect();
        // Ties go to the earlier intent, so the answer never depends on a hash order.
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let best = scores[order[0]];
        let sum: f64 = scores.iter().filter(|s| s.is_finite()).map(|s| (s - best).exp()).sum();
        Guess { intent: INTENTS[order[0]], probability: if sum > 0.0 { 1.0 / sum } else { 0.0 } }
    }
}

fn index(intent: Intent) -> usize {
    INTENTS.iter().position(|i| *i == intent).unwrap_or(INTENTS.len() - 1)
}

/// A message's features with their weights: each word (its plural folded
/// away, digits as `#`), each pair of neighbouring words (with the start of
/// the message), and the groups of 3 to 5 letters of each word longer than
/// three letters, marked at its edges.
fn features(words: &[String], options: Options) -> Vec<(String, f64)> {
    let words: Vec<String> = words
        .iter()
        .map(|w| if w.starts_with(|c: char| c.is_ascii_digit()) { "#".to_owned() } else { stem(w).to_owned() })
        .collect();
    let mut out = Vec::new();
    let mut previous = "^";
    for word in &words {
        out.push((format!("w {word}"), 1.0));
        if options.pairs > 0.0 {
            out.push((format!("p {previous} {word}"), options.pairs));
        }
        previous = word;
        let letters: Vec<char> = format!("<{word}>").chars().collect();
        if letters.len() > 5 && options.letters > 0.0 {
            for n in 3..=5 {
                for group in letters.windows(n) {
                    out.push((format!("l {}", group.iter().collect::<String>()), options.letters));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_reads_plain_messages() {
        let model = Classifier::embedded();
        assert_eq!(model.classify("where is my order?").intent, Intent::OrderStatus);
        assert_eq!(model.classify("hola, buenas tardes").intent, Intent::Greeting);
        assert_eq!(model.classify("quero falar com uma pessoa").intent, Intent::HumanRequest);
    }

    #[test]
    fn the_same_text_always_gets_the_same_guess() {
        let model = Classifier::embedded();
        let guess = model.classify("the zipper broke after two days");
        for _ in 0..3 {
            assert_eq!(model.classify("the zipper broke after two days"), guess);
        }
    }
}
