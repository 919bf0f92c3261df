//! The model's answer to a question about a product, grounded on what the
//! catalog says of it and checked before a customer reads it.
//!
//! The rules ([`answers`](crate::answers)) find which facts a question is
//! about and whether they say yes or no; a model says the same in the
//! seller's voice and can read a fact the rules only quote ("300 W total" for
//! "is it loud enough for a big room?"). It is given the product's facts
//! ([`Facts`]) and nothing else, and asked for a verdict, the reply, and the
//! facts it used, word for word. [`check`] keeps its answer only when
//!
//! * the verdict agrees with the rules: where they found a plain yes or no
//!   the model may not turn it round, and where they found nothing in the
//!   catalog the model may only say so — it may say what the catalog says
//!   better than the rules, never more;
//! * every fact it cites is in the facts it was given;
//! * every number in the reply is one of the facts' (no invented price,
//!   size or warranty), and it names no other product the customer was shown;
//! * it promises no discount, gift or free delivery the facts do not hold,
//!   carries no link or markup, is short, and is in the customer's language.
//!
//! Anything else is refused with the reason, and the rules' answer is sent.

use agent_store_text::{Language, detect, tokens};
use serde::Deserialize;

use crate::answers::Verdict;
use crate::model::MAX_PROMPT_CHARS;
use crate::persona::Persona;
use crate::state::ProductInfo;
use crate::text::truncate;

/// Tokens asked for: a small JSON object with a reply of three sentences.
pub const ANSWER_TOKENS: u32 = 260;
/// The longest reply kept: a WhatsApp answer, not an essay.
const MAX_REPLY_CHARS: usize = 500;

/// Words of a promise a seller may only make when the catalog makes it, in
/// the three languages (folded).
#[rustfmt::skip]
const PROMISES: &[&str] = &[
    "discount", "coupon", "voucher", "free", "gift", "refund", "guarantee", "guaranteed",
    "descuento", "cupon", "gratis", "regalo", "reembolso", "garantizado",
    "desconto", "cupom", "gratuito", "gratuita", "brinde", "presente", "reembolso", "garantido",
];

/// What the catalog says of one product, one fact a line: what the model is
/// shown and what its answer is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The product's name as customers see it.
    pub name: String,
    /// `price: USD 499.00`, each attribute as `key: value`, the variants,
    /// and the description.
    pub lines: Vec<String>,
}

impl Facts {
    /// The facts of `product`.
    pub fn of(product: &ProductInfo) -> Self {
        let mut lines = Vec::new();
        let mut price = format!("price: {}", product.effective_price());
        if product.sale_price.is_some() {
            price.push_str(&format!(" (was {})", product.price));
        }
        if let Some(promotion) = &product.promotion {
            price.push_str(&format!(", promotion: {promotion}"));
        }
        lines.push(price);
        // The names the customer may use for it, numbers and all.
        let names: Vec<&str> = product.names.iter().map(String::as_str).filter(|n| !n.trim().is_empty()).collect();
        if !names.is_empty() {
            lines.push(format!("also called: {}", names.join(" / ")));
        }
        for (key, value) in &product.attributes {
            lines.push(format!("{key}: {value}"));
        }
        if let Some(variants) = &product.variants {
            let options: Vec<String> = variants
                .options
                .iter()
                .map(|o| {
                    let sold_out = if o.stock == 0 { ", sold out" } else { "" };
                    match &o.price {
                        Some(price) => format!("{} ({price}{sold_out})", o.value),
                        None if o.stock == 0 => format!("{} (sold out)", o.value),
                        None => o.value.clone(),
                    }
                })
                .collect();
            lines.push(format!("{}: {}", variants.kind, options.join(", ")));
        }
        if !product.description.trim().is_empty() {
            lines.push(format!("description: {}", product.description.trim()));
        }
        Self { name: product.name.clone(), lines }
    }

    fn words(&self) -> Vec<String> {
        std::iter::once(&self.name).chain(&self.lines).flat_map(|l| tokens(l)).collect()
    }

    /// Whether `quote`'s words follow each other in one fact (or the name).
    fn holds(&self, quote: &str) -> bool {
        let quote = tokens(quote);
        !quote.is_empty()
            && std::iter::once(&self.name)
                .chain(&self.lines)
                .any(|line| tokens(line).windows(quote.len()).any(|w| w == quote.as_slice()))
    }
}

/// The prompt that asks the model to answer `question` from `facts`.
pub fn prompt(persona: &Persona, language: Language, facts: &Facts, question: &str) -> String {
    let voice =
        if persona.voice.is_empty() { persona.style.clone() } else { format!("{} {}", persona.style, persona.voice) };
    let mut prompt = format!(
        "You are {agent}, the seller of {store} on WhatsApp. Your personality: {voice}\n\
         A customer asks about one product. Answer ONLY from the product facts below: what they do not say is not known, \
         and you must not guess it.\n\
         Answer with ONE JSON object and nothing else, with these fields:\n\
         \"verdict\": \"yes\", \"no\", \"partly\" (the facts answer part of the question) or \"unknown\" (the facts do not say);\n\
         \"answer\": your reply to the customer in {language}, at most three short sentences, in your voice; \
         no price, number, product, link, discount or promise that is not in the facts;\n\
         \"evidence\": the facts you used, each copied word for word from the list.\n\
         Product: {name}\nFacts:\n",
        agent = persona.agent,
        store = persona.store,
        language = language.name(),
        name = facts.name,
    );
    for line in &facts.lines {
        prompt.push_str(&format!("- {}\n", truncate(&line.replace('\n', " "), 300)));
    }
    prompt.push_str(&format!("Question: \"{}\"\nJSON:", truncate(&question.replace('"', "'"), 400)));
    truncate(&prompt, MAX_PROMPT_CHARS)
}

/// What the model is asked to answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModelAnswer {
    verdict: String,
    answer: String,
    evidence: Vec<String>,
}

/// A model's answer that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grounded {
    /// What it says the catalog answers: `yes`, `no`, `partly` or `unknown`.
    pub verdict: &'static str,
    /// The reply to send.
    pub text: String,
}

/// The model's `answer` to a question about the product of `facts`, if it
/// agrees with the rules' `rule` verdict, cites only `facts`, invents no
/// number, names none of `others` (other products the customer was shown)
/// and is in `language`; else why not.
pub fn check(
    answer: &str,
    facts: &Facts,
    rule: &Verdict,
    others: &[&str],
    language: Language,
) -> Result<Grounded, String> {
    let json = answer
        .find('{')
        .zip(answer.rfind('}'))
        .and_then(|(start, end)| answer.get(start..=end))
        .ok_or("not a JSON object")?;
    let parsed: ModelAnswer = serde_json::from_str(json).map_err(|e| format!("not the JSON asked for: {e}"))?;
    let verdict = match parsed.verdict.trim().to_lowercase().as_str() {
        "yes" => "yes",
        "no" => "no",
        "partly" => "partly",
        "unknown" => "unknown",
        other => return Err(format!("verdict {other:?}")),
    };
    let allowed: &[&str] = match rule {
        Verdict::Yes(_) => &["yes"],
        Verdict::No(_) => &["no"],
        Verdict::Partly(_) => &["yes", "no", "partly"],
        Verdict::Unknown => &["unknown"],
    };
    if !allowed.contains(&verdict) {
        return Err(format!("says {verdict} where the catalog's facts say {}", rule_name(rule)));
    }
    if verdict != "unknown" && parsed.evidence.is_empty() {
        return Err("cites no fact".into());
    }
    if let Some(quote) = parsed.evidence.iter().find(|q| !facts.holds(q)) {
        return Err(format!("cites {quote:?}, which is not in the catalog"));
    }
    let text = parsed.answer.trim();
    if text.is_empty() || text.chars().count() > MAX_REPLY_CHARS {
        return Err("an empty or long reply".into());
    }
    if text.contains("http") || text.contains("www.") || text.contains(['{', '}', '<', '>']) {
        return Err("a link or markup".into());
    }
    let known = facts.words();
    let words = tokens(text);
    if let Some(number) = words.iter().find(|w| w.chars().any(|c| c.is_ascii_digit()) && !known.contains(w)) {
        return Err(format!("the number {number} is not in the catalog"));
    }
    if let Some(promise) = words.iter().find(|w| PROMISES.contains(&w.as_str()) && !known.contains(w)) {
        return Err(format!("promises {promise:?}"));
    }
    let name = tokens(&facts.name);
    if let Some(other) = others.iter().map(|o| tokens(o)).find(|o| {
        // Another product named in full; one sharing this product's words
        // (the Nova 12 and the Nova 12 Pro) is judged by its other words.
        !o.is_empty() && *o != name && words.windows(o.len()).any(|w| w == o.as_slice())
    }) {
        return Err(format!("names another product ({})", other.join(" ")));
    }
    if detect(text).is_some_and(|l| l != language) {
        return Err(format!("not in {}", language.name()));
    }
    Ok(Grounded { verdict, text: text.to_owned() })
}

fn rule_name(rule: &Verdict) -> &'static str {
    match rule {
        Verdict::Yes(_) => "yes",
        Verdict::No(_) => "no",
        Verdict::Partly(_) => "part of it",
        Verdict::Unknown => "nothing",
    }
}

#[cfg(test)]
mod tests {
    use agent_store_events::{Money, ProductId, VariantOption, Variants};

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
            tags: vec!["5g".into()],
            keywords: Vec::new(),
            attributes: vec![
                ("connectivity".into(), "5G, Wi-Fi 6E, NFC".into()),
                ("battery".into(), "4,800 mAh, 45 W wired, 15 W wireless".into()),
            ],
            variants: Some(Variants {
                kind: "color".into(),
                options: vec![
                    VariantOption { value: "Midnight Black".into(), stock: 2, price: None, sale_price: None },
                    VariantOption { value: "Ocean Blue".into(), stock: 0, price: None, sale_price: None },
                ],
            }),
        }
    }

    fn yes() -> Verdict {
        Verdict::Yes(vec!["connectivity: 5G, Wi-Fi 6E, NFC".into()])
    }

    fn reply(verdict: &str, answer: &str, evidence: &[&str]) -> String {
        serde_json::json!({ "verdict": verdict, "answer": answer, "evidence": evidence }).to_string()
    }

    #[test]
    fn the_facts_are_what_the_prompt_carries() {
        let facts = Facts::of(&phone());
        assert_eq!(
            facts.lines,
            [
                "price: USD 499.00",
                "connectivity: 5G, Wi-Fi 6E, NFC",
                "battery: 4,800 mAh, 45 W wired, 15 W wireless",
                "color: Midnight Black, Ocean Blue (sold out)",
                "description: A 6.4-inch OLED phone. Five years of security updates.",
            ]
        );
        let persona = Persona::parse(include_str!("../../../brands/tech/persona.toml")).unwrap();
        let prompt = prompt(&persona, Language::Es, &facts, "¿tiene 5G?");
        assert!(prompt.contains("- connectivity: 5G, Wi-Fi 6E, NFC\n"), "{prompt}");
        assert!(prompt.contains("in Spanish") && prompt.contains("Question: \"¿tiene 5G?\""), "{prompt}");
    }

    #[test]
    fn a_grounded_answer_in_the_customers_language_is_kept() {
        let facts = Facts::of(&phone());
        let answer =
            reply("yes", "Yes! The Nova 12 does 5G, plus Wi-Fi 6E and NFC ⚡", &["connectivity: 5G, Wi-Fi 6E"]);
        let grounded = check(&answer, &facts, &yes(), &[], Language::En).unwrap();
        assert_eq!(grounded.verdict, "yes");
        assert!(grounded.text.starts_with("Yes! The Nova 12"));
        // Prose around the object, and a fact quoted in other case, are fine.
        let answer = format!("Here you go: {}", reply("yes", "¡Sí! Tiene 5G y NFC.", &["5g, wi-fi 6e"]));
        assert!(check(&answer, &facts, &yes(), &[], Language::Es).is_ok());
    }

    #[test]
    fn invented_facts_prices_products_and_turned_verdicts_are_refused() {
        let facts = Facts::of(&phone());
        let refused = |answer: String, rule: Verdict, language| {
            check(&answer, &facts, &rule, &["Voltix Orbit Smartwatch"], language).unwrap_err()
        };
        let price = refused(reply("yes", "Yes, 5G! And today only USD 299.00 🔥", &["5G"]), yes(), Language::En);
        assert!(price.contains("299.00"), "{price}");
        assert!(refused(reply("no", "No, it has no 5G.", &["5G"]), yes(), Language::En).contains("says no"));
        assert!(
            refused(reply("yes", "Yes, it is cruelty free!", &["cruelty free: yes"]), Verdict::Unknown, Language::En)
                .contains("says yes")
        );
        let partly = Verdict::Partly(vec!["battery: 4,800 mAh".into()]);
        assert!(
            refused(reply("yes", "Yes, it charges wirelessly.", &["wireless charging: yes"]), partly, Language::En)
                .contains("not in the catalog")
        );
        assert!(refused(reply("yes", "Yes, 5G.", &[]), yes(), Language::En).contains("cites no fact"));
        assert!(refused(reply("yes", "Yes, with a free case 🎁", &["5G"]), yes(), Language::En).contains("promises"));
        assert!(
            refused(reply("yes", "Yes — or get the Voltix Orbit Smartwatch!", &["5G"]), yes(), Language::En)
                .contains("another product")
        );
        assert!(refused(reply("yes", "Sim! Tem 5G, sim senhor.", &["5G"]), yes(), Language::Es).contains("Spanish"));
        assert!(refused(reply("yes", "Yes: https://evil.example", &["5G"]), yes(), Language::En).contains("link"));
        assert!(refused("Yes it does".into(), yes(), Language::En).contains("JSON"));
        assert!(refused(reply("maybe", "Maybe", &[]), yes(), Language::En).contains("verdict"));
    }
}
