//! The offline brain against the conversation corpus (`tests/corpus/`).
//!
//! Every message is read by [`brain::understand`] exactly as the component
//! reads it; a search is judged by running the catalog's own search
//! (`product_catalog::catalog`) on the query the seller would emit, with the
//! seller's result limit, then on its wider second try when the first finds
//! nothing. A product "is found" when the customer would see it.
//!
//! `cargo test -p agent-store-seller --test corpus -- --nocapture` prints the
//! report that `BENCHMARKS.md` quotes, misses included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agent_store_events::{Intent, MessageContent};
use agent_store_seller::Persona;
use agent_store_seller::brain::{self, Context};
use agent_store_seller::classifier::{self, Classifier, Options};
use agent_store_seller::state::SearchPlan;
use chrono::{DateTime, Utc};
use product_catalog::catalog::{Catalog, SearchQuery};
use serde::Deserialize;

const BRANDS: [&str; 5] = ["fashion", "tech", "home", "beauty", "gaming"];

/// The lowest accuracy accepted, overall and for any one brand × language
/// cell. Set from the measured figures with a margin (see BENCHMARKS.md):
/// a change that makes the brain clearly worse fails here.
const MIN_INTENT_OVERALL: f64 = 0.95;
const MIN_INTENT_CELL: f64 = 0.85;
const MIN_SEARCH_OVERALL: f64 = 0.90;
const MIN_LANGUAGE_OVERALL: f64 = 0.93;
/// Floors for the held-out messages, well under what they measure (99% and
/// 95% on the 201 messages of 2026-12-06; the 40 written blind read 92.5%
/// once, BENCHMARKS.md): a guard against a clearly worse brain, not the goal.
const MIN_HELD_OUT_INTENT: f64 = 0.85;
const MIN_HELD_OUT_SEARCH: f64 = 0.85;

#[derive(Deserialize)]
struct Corpus {
    brand: String,
    messages: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    text: String,
    language: String,
    intent: Intent,
    #[serde(default)]
    finds: Option<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> Catalog {
    let files: Vec<(String, String)> = BRANDS
        .iter()
        .map(|b| (b.to_string(), std::fs::read_to_string(root().join(format!("brands/{b}/catalog.json"))).unwrap()))
        .collect();
    Catalog::from_files(files.iter().map(|(b, t)| (b.as_str(), t.as_str()))).unwrap()
}

/// Promotions are judged at a fixed time, so the report does not drift.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap().to_utc()
}

fn search(catalog: &Catalog, brand: &str, plan: &SearchPlan, limit: u32) -> Vec<String> {
    let query = SearchQuery {
        brand: Some(brand.to_owned()),
        text: plan.text.clone(),
        category: plan.category.clone(),
        min_price_minor: plan.min_price_minor,
        max_price_minor: plan.max_price_minor,
        in_stock_only: false,
        partial: plan.partial,
        limit: Some(limit as usize),
    };
    catalog.search(&query, now()).products.iter().map(|h| h.product.id.clone()).collect()
}

#[derive(Default, Clone, Copy)]
struct Tally {
    messages: u32,
    intents: u32,
    languages: u32,
    searches: u32,
    found: u32,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.messages += other.messages;
        self.intents += other.intents;
        self.languages += other.languages;
        self.searches += other.searches;
        self.found += other.found;
    }
}

fn ratio(hits: u32, of: u32) -> f64 {
    if of == 0 { 1.0 } else { f64::from(hits) / f64::from(of) }
}

fn percent(hits: u32, of: u32) -> String {
    if of == 0 { "—".into() } else { format!("{hits}/{of} ({:.0}%)", 100.0 * ratio(hits, of)) }
}

/// One labelled message, from a brand's file or the held-out one.
struct Labelled<'a> {
    brand: &'a str,
    sample: &'a Sample,
}

fn persona(brand: &str) -> Persona {
    Persona::parse(&std::fs::read_to_string(root().join(format!("brands/{brand}/persona.toml"))).unwrap()).unwrap()
}

/// Reads every message, prints the report and returns the figures by
/// (brand, language).
fn evaluate(catalog: &Catalog, samples: &[Labelled<'_>]) -> BTreeMap<(String, String), Tally> {
    let personas: BTreeMap<&str, Persona> = BRANDS.iter().map(|b| (*b, persona(b))).collect();
    let mut cells: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    for Labelled { brand, sample } in samples {
        let persona = &personas[brand];
        // The customer has been shown a list, as in a real conversation
        // where "the second one" means something.
        let context = Context { shown: 5, ..Context::default() };
        let content = MessageContent::Text { body: sample.text.clone() };
        let reading = brain::understand(persona, &content, &sample.text, &context);
        let mut tally = Tally { messages: 1, ..Tally::default() };
        if reading.intent == sample.intent {
            tally.intents = 1;
        } else {
            misses.push(format!(
                "{brand}/{}: {:?} read as {:?} — {:?}",
                sample.language, sample.intent, reading.intent, sample.text
            ));
        }
        if reading.language.tag() == sample.language {
            tally.languages = 1;
        } else {
            misses.push(format!(
                "{brand}/{}: language read as {} — {:?}",
                sample.language,
                reading.language.tag(),
                sample.text
            ));
        }
        if let Some(expected) = &sample.finds {
            tally.searches = 1;
            let mut shown = Vec::new();
            if let Some(plan) = &reading.search {
                shown = search(catalog, brand, plan, persona.results);
                if shown.is_empty()
                    && let Some(wider) = &reading.fallback
                {
                    shown = search(catalog, brand, wider, persona.results);
                }
            }
            if shown.contains(expected) {
                tally.found = 1;
            } else {
                misses.push(format!(
                    "{brand}/{}: {expected} not found — {:?} searched as {:?} then {:?}, showed {shown:?}",
                    sample.language,
                    sample.text,
                    reading.search.as_ref().map(|p| (&p.text, &p.category)),
                    reading.fallback.as_ref().map(|p| (&p.text, &p.category)),
                ));
            }
        }
        cells.entry((brand.to_string(), sample.language.clone())).or_default().add(tally);
    }

    println!("\n| brand | language | messages | intent | search hit | language detected |");
    println!("|---|---|---|---|---|---|");
    let mut total = Tally::default();
    let mut by_language: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_brand: BTreeMap<String, Tally> = BTreeMap::new();
    let row = |brand: &str, language: &str, t: &Tally| {
        println!(
            "| {brand} | {language} | {} | {} | {} | {} |",
            t.messages,
            percent(t.intents, t.messages),
            percent(t.found, t.searches),
            percent(t.languages, t.messages)
        );
    };
    for ((brand, language), tally) in &cells {
        row(brand, language, tally);
        total.add(*tally);
        by_language.entry(language.clone()).or_default().add(*tally);
        by_brand.entry(brand.clone()).or_default().add(*tally);
    }
    for (brand, tally) in &by_brand {
        row(brand, "all", tally);
    }
    for (language, tally) in &by_language {
        row("all", language, tally);
    }
    row("**all**", "**all**", &total);
    println!("\nMisses ({}):", misses.len());
    for miss in &misses {
        println!("- {miss}");
    }
    cells
}

fn total(cells: &BTreeMap<(String, String), Tally>) -> Tally {
    let mut total = Tally::default();
    for tally in cells.values() {
        total.add(*tally);
    }
    total
}

/// The five brands' files, in the order of [`BRANDS`].
fn corpora() -> Vec<Corpus> {
    BRANDS
        .iter()
        .map(|brand| {
            serde_json::from_str(&std::fs::read_to_string(root().join(format!("tests/corpus/{brand}.json"))).unwrap())
                .unwrap()
        })
        .collect()
}

#[test]
fn the_offline_brain_reads_the_corpus() {
    let catalog = catalog();
    let corpora = corpora();
    let mut samples = Vec::new();
    for (brand, corpus) in BRANDS.iter().zip(&corpora) {
        assert_eq!(corpus.brand, *brand);
        assert!(corpus.messages.len() >= 40, "{brand}: at least 40 messages");
        for language in ["en", "es", "pt"] {
            let n = corpus.messages.iter().filter(|m| m.language == language).count();
            assert!(n * 4 >= corpus.messages.len(), "{brand}: {language} is under a quarter of the messages");
        }
        samples.extend(corpus.messages.iter().map(|sample| Labelled { brand, sample }));
    }
    println!("\n## Corpus ({} messages)", samples.len());
    let cells = evaluate(&catalog, &samples);
    assert_eq!(cells.len(), 15, "five brands × three languages");
    for ((brand, language), tally) in &cells {
        assert!(
            ratio(tally.intents, tally.messages) >= MIN_INTENT_CELL,
            "{brand}/{language}: intent accuracy {} is below {MIN_INTENT_CELL}",
            percent(tally.intents, tally.messages)
        );
    }
    let all = total(&cells);
    assert!(
        ratio(all.intents, all.messages) >= MIN_INTENT_OVERALL,
        "intent accuracy {}",
        percent(all.intents, all.messages)
    );
    assert!(
        ratio(all.found, all.searches) >= MIN_SEARCH_OVERALL,
        "search hit rate {}",
        percent(all.found, all.searches)
    );
    assert!(
        ratio(all.languages, all.messages) >= MIN_LANGUAGE_OVERALL,
        "language detection {}",
        percent(all.languages, all.messages)
    );
}

/// Messages written after the rules were frozen: how the brain does on
/// phrasing it was not written for. Its floor is lower and only catches a
/// collapse; the figures themselves are what BENCHMARKS.md reports.
#[test]
fn the_offline_brain_on_held_out_messages() {
    #[derive(Deserialize)]
    struct HeldOut {
        messages: Vec<HeldOutSample>,
    }
    #[derive(Deserialize)]
    struct HeldOutSample {
        brand: String,
        #[serde(flatten)]
        sample: Sample,
    }
    let catalog = catalog();
    let held: HeldOut =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/corpus/holdout.json")).unwrap()).unwrap();
    let samples: Vec<Labelled<'_>> =
        held.messages.iter().map(|m| Labelled { brand: &m.brand, sample: &m.sample }).collect();
    println!("\n## Held out ({} messages)", samples.len());
    let all = total(&evaluate(&catalog, &samples));
    assert!(
        ratio(all.intents, all.messages) >= MIN_HELD_OUT_INTENT,
        "held-out intent accuracy {}",
        percent(all.intents, all.messages)
    );
    assert!(
        ratio(all.found, all.searches) >= MIN_HELD_OUT_SEARCH,
        "held-out search hit rate {}",
        percent(all.found, all.searches)
    );
}

/// The classifier behind the rules, measured honestly: the main corpus is
/// cut into ten folds, and each fold is read by a model learned from the
/// other nine. First the model alone, with the options compared; then the
/// rules with and without its second opinion. The rules were written
/// against the whole corpus, so every change the second opinion makes here
/// is a change to a reading the rules already had right or wrong on
/// messages they were written for: the figure to watch is how many right
/// readings it breaks.
#[test]
fn the_classifier_cross_validated() {
    const FOLDS: usize = 10;
    let corpora = corpora();
    let samples: Vec<Labelled<'_>> = BRANDS
        .iter()
        .zip(&corpora)
        .flat_map(|(brand, corpus)| corpus.messages.iter().map(move |sample| Labelled { brand, sample }))
        .collect();
    let fold_of = |i: usize| i % FOLDS;
    // Each fold's model learns the product names as the embedded one does.
    let train = |fold: usize, options: Options| {
        let mut model = Classifier::train_with(
            samples
                .iter()
                .enumerate()
                .filter(|(i, _)| fold_of(*i) != fold)
                .map(|(_, l)| (l.sample.text.as_str(), l.sample.intent)),
            options,
        );
        model.learn_names(classifier::NAME_WEIGHT);
        model
    };
    println!("\n## The classifier, {FOLDS}-fold cross-validation over the corpus ({} messages)", samples.len());
    println!("\n| letters | pairs | smoothing | intent, model alone |\n|---|---|---|---|");
    let mut candidates = vec![classifier::OPTIONS];
    for letters in [0.0, 0.1, 0.3, 0.6] {
        for pairs in [0.0, 1.0] {
            for smoothing in [0.1, 0.5] {
                candidates.push(Options { letters, pairs, smoothing });
            }
        }
    }
    for options in &candidates {
        let models: Vec<Classifier> = (0..FOLDS).map(|f| train(f, *options)).collect();
        let right = samples
            .iter()
            .enumerate()
            .filter(|(i, l)| models[fold_of(*i)].classify(&l.sample.text).intent == l.sample.intent)
            .count() as u32;
        println!(
            "| {} | {} | {} | {} |",
            options.letters,
            options.pairs,
            options.smoothing,
            percent(right, samples.len() as u32)
        );
    }
    let models: Vec<Classifier> = (0..FOLDS).map(|f| train(f, classifier::OPTIONS)).collect();
    let personas: BTreeMap<&str, Persona> = BRANDS.iter().map(|b| (*b, persona(b))).collect();
    let context = Context { shown: 5, ..Context::default() };
    // How sure the model must be to turn the rules' last-resort search into
    // something else: each threshold's effect on the corpus, emulated.
    let mut by_threshold = [(0.5, 0u32, 0u32), (0.6, 0, 0), (0.7, 0, 0), (0.8, 0, 0), (0.9, 0, 0)];
    let (mut rules, mut both, mut broken, mut mended) = (0u32, 0u32, 0u32, 0u32);
    for (i, Labelled { brand, sample }) in samples.iter().enumerate() {
        let content = MessageContent::Text { body: sample.text.clone() };
        let alone = brain::understand_with(&personas[brand], &content, &sample.text, &context, None);
        let helped =
            brain::understand_with(&personas[brand], &content, &sample.text, &context, Some(&models[fold_of(i)]));
        let (a, b) = (alone.intent == sample.intent, helped.intent == sample.intent);
        let guess = models[fold_of(i)].classify(&sample.text);
        let second = [Intent::Complaint, Intent::OrderStatus, Intent::Recommendation, Intent::ProductQuestion];
        for (threshold, mends, breaks) in &mut by_threshold {
            if alone.confidence <= 0.6
                && guess.intent != alone.intent
                && second.contains(&guess.intent)
                && guess.probability >= *threshold
            {
                *mends += u32::from(guess.intent == sample.intent);
                *breaks += u32::from(a);
            }
        }
        rules += u32::from(a);
        both += u32::from(b);
        broken += u32::from(a && !b);
        mended += u32::from(!a && b);
        if a != b {
            println!("- {brand}/{}: {:?} → {:?} — {:?}", sample.language, alone.intent, helped.intent, sample.text);
        }
    }
    let n = samples.len() as u32;
    println!(
        "\nRules alone {}; with the second opinion {} ({broken} right readings broken, {mended} wrong ones mended).",
        percent(rules, n),
        percent(both, n)
    );
    println!("\n| model at least | last-resort searches it would mend | right ones it would break |\n|---|---|---|");
    for (threshold, mends, breaks) in by_threshold {
        println!("| {threshold} | {mends} | {breaks} |");
    }
    assert!(both >= rules, "the second opinion makes the rules worse on the corpus");
}

/// A product's name or one of its keywords, said alone, is someone looking
/// for it: the classifier must never be what makes it a complaint (an
/// apology and a person brought in) or a question about an order. The rules
/// fall back to a search on such messages, which is where the classifier is
/// asked, and a naive Bayes model is most sure of itself on the fewest
/// words: "rattan chair" was a complaint at 0.98 before its guards.
#[test]
fn a_product_named_alone_is_never_read_as_a_complaint_or_an_order() {
    let catalog = catalog();
    let mut wrong = Vec::new();
    let mut asked = 0;
    for brand in BRANDS {
        let persona = persona(brand);
        for product in catalog.products(brand) {
            let said = std::iter::once(&product.name).chain(product.names.values()).chain(&product.keywords);
            for text in said {
                asked += 1;
                let content = MessageContent::Text { body: text.clone() };
                let reading = brain::understand(&persona, &content, text, &Context::default());
                let rules = brain::understand_with(&persona, &content, text, &Context::default(), None);
                if matches!(reading.intent, Intent::Complaint | Intent::OrderStatus) && reading.intent != rules.intent {
                    wrong.push(format!("{brand}: {text:?} read as {:?}", reading.intent));
                }
            }
        }
    }
    assert!(asked >= 2_000, "only {asked} product names and keywords were read");
    assert!(wrong.is_empty(), "{} of {asked} product names and keywords misread:\n{}", wrong.len(), wrong.join("\n"));
}
