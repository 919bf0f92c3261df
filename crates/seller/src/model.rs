//! The language model, when one is configured: for understanding and for
//! phrasing, never for facts.
//!
//! The seller works without it, so everything here may fail and nothing
//! breaks: a model that errors, times out, or answers something that does
//! not check out is simply not used and the offline brain's reading or
//! wording stands.
//!
//! * Prompts are bounded ([`MAX_PROMPT_CHARS`]) and ask for a small JSON
//!   object; the answer is parsed and every field checked ([`read`]).
//! * A rephrased reply must keep every number of the original (prices,
//!   quantities, order ids) and stay short, or it is thrown away ([`phrase`]).
//! * An answer to a question about a product is written from the catalog's
//!   facts about it and checked against them ([`grounded`](crate::grounded)).
//! * [`Health`] remembers failures in the key-value store: after one, the
//!   model is left alone for a while (30 s, doubling to 10 min), so a dead
//!   or slow model costs one message a delay, not every message. A call
//!   that never came back (the invocation was killed by the host's time
//!   limit) is noticed by the next one and counted as a failure too.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use agent_store_events::Intent;
use agent_store_text::{Language, detect, tokens};

use crate::brain::{Position, Reading};
use crate::persona::Persona;
use crate::state::{Conversation, SearchPlan};
use crate::text::truncate;

/// The logical model name the sellers ask for (`ai_models = ["chat"]`).
pub const MODEL: &str = "chat";
/// The key-value key of the model's [`Health`].
pub const HEALTH_KEY: &str = "model:chat";
/// The longest prompt sent: the host bills tokens, and a small model's
/// context is small.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// Tokens asked for when reading a message (a small JSON object).
pub const READ_TOKENS: u32 = 160;
/// Tokens asked for when rephrasing a reply.
pub const PHRASE_TOKENS: u32 = 220;
/// The first pause after a failure; each further failure doubles it.
const FIRST_PAUSE: Duration = Duration::seconds(30);
/// The longest pause, and the pause for a model that is not configured.
const LONGEST_PAUSE: Duration = Duration::minutes(10);
/// A call still marked in flight after this long died with its invocation.
const STUCK_AFTER: Duration = Duration::seconds(45);

/// Why a model gave no completion; the offline brain answers instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// None is configured.
    #[error("no model")]
    Absent,
    /// It failed lately and is left alone for a while ([`Health`]).
    #[error("the model failed recently")]
    Resting,
    /// The call failed, as the host says.
    #[error("{0}")]
    Failed(String),
}

/// A source of completions.
pub trait Model {
    /// Whether to ask it now at all.
    fn available(&self) -> bool {
        true
    }

    /// The completion of `prompt`, or why there is none.
    fn infer(&mut self, prompt: &str, max_tokens: u32) -> Result<String, ModelError>;
}

/// No model: the offline brain alone.
#[derive(Debug, Default)]
pub struct NoModel;

impl Model for NoModel {
    fn available(&self) -> bool {
        false
    }

    fn infer(&mut self, _: &str, _: u32) -> Result<String, ModelError> {
        Err(ModelError::Absent)
    }
}

/// What the seller remembers of the model between invocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Failures in a row.
    pub failures: u32,
    /// Not asked again before this.
    pub paused_until: Option<DateTime<Utc>>,
    /// A call started and not finished.
    pub in_flight_since: Option<DateTime<Utc>>,
    /// The last error, for operators reading the store.
    pub last_error: Option<String>,
}

impl Health {
    /// Whether the model may be asked at `now`. A call that started long
    /// ago and never finished counts as a failure first.
    pub fn available(&mut self, now: DateTime<Utc>) -> bool {
        if let Some(since) = self.in_flight_since
            && now - since > STUCK_AFTER
        {
            self.failed(now, "a call did not return in time");
        }
        self.paused_until.is_none_or(|until| now >= until)
    }

    /// A call starts.
    pub fn started(&mut self, now: DateTime<Utc>) {
        self.in_flight_since = Some(now);
    }

    /// A call answered.
    pub fn succeeded(&mut self) {
        *self = Health::default();
    }

    /// A call failed with `error`.
    pub fn failed(&mut self, now: DateTime<Utc>, error: &str) {
        self.failures = self.failures.saturating_add(1);
        self.in_flight_since = None;
        // A model that is not there will not appear in thirty seconds.
        let missing = ["no model configured", "not supported", "may not use model", "model not"]
            .iter()
            .any(|m| error.contains(m));
        let pause = if missing {
            LONGEST_PAUSE
        } else {
            let doublings = self.failures.saturating_sub(1).min(10);
            (FIRST_PAUSE * 2_i32.pow(doublings)).min(LONGEST_PAUSE)
        };
        self.paused_until = Some(now + pause);
        self.last_error = Some(truncate(error, 200));
    }
}

/// What the model is asked to answer when reading a message.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModelReading {
    intent: String,
    language: Option<String>,
    sentiment: Option<f32>,
    confidence: Option<f32>,
    query: Option<String>,
    item: Option<u32>,
    quantity: Option<u32>,
    max_price: Option<f64>,
    min_price: Option<f64>,
    beyond_scope: Option<bool>,
}

const INTENTS: &[(&str, Intent)] = &[
    ("greeting", Intent::Greeting),
    ("browse", Intent::Browse),
    ("product_question", Intent::ProductQuestion),
    ("recommendation", Intent::Recommendation),
    ("add_to_cart", Intent::AddToCart),
    ("view_cart", Intent::ViewCart),
    ("change_cart", Intent::ChangeCart),
    ("checkout", Intent::Checkout),
    ("order_status", Intent::OrderStatus),
    ("complaint", Intent::Complaint),
    ("human_request", Intent::HumanRequest),
    ("thanks", Intent::Thanks),
    ("goodbye", Intent::Goodbye),
    ("unknown", Intent::Unknown),
];

/// The prompt that asks the model to read `text`.
pub fn read_prompt(persona: &Persona, conversation: &Conversation, text: &str) -> String {
    let intents: Vec<&str> = INTENTS.iter().map(|(name, _)| *name).collect();
    let mut prompt = format!(
        "You read WhatsApp messages for {agent}, the seller of {store}, a shop of {brand} products.\n\
         Answer with ONE JSON object and nothing else, with these fields:\n\
         \"intent\": one of {intents:?};\n\
         \"language\": \"en\", \"es\" or \"pt\";\n\
         \"sentiment\": 0 (furious) to 1 (delighted), 0.5 neutral;\n\
         \"confidence\": 0 to 1;\n\
         \"query\": the product words to search the catalog for, in the customer's words, or null;\n\
         \"item\": the number of a product in the list the customer was shown, or null;\n\
         \"quantity\": how many units, or null;\n\
         \"max_price\" and \"min_price\": price limits in {currency}, or null;\n\
         \"beyond_scope\": true if the customer wants a refund, a return, a bulk or wholesale deal, a custom-made product, to cancel or change a placed order, or anything else a shop assistant must pass to a person.\n",
        agent = persona.agent,
        store = persona.store,
        brand = persona.brand,
        currency = persona.currency,
    );
    if !conversation.shown.is_empty() {
        prompt.push_str("Products the customer was last shown:\n");
        for (index, id) in conversation.shown.iter().enumerate().take(10) {
            let name = conversation.product(id).map(|p| p.name.as_str()).unwrap_or(id.as_str());
            prompt.push_str(&format!("{}. {}\n", index + 1, truncate(name, 60)));
        }
    }
    if let Some(cart) = conversation.cart.as_ref().filter(|c| !c.is_empty()) {
        let items: Vec<String> =
            cart.items.iter().map(|i| format!("{} x {}", i.quantity, truncate(&i.name, 40))).collect();
        prompt.push_str(&format!("Cart: {}\n", items.join(", ")));
    }
    let recent = transcript_tail(conversation, 6, MAX_PROMPT_CHARS / 3);
    if !recent.is_empty() {
        prompt.push_str("Conversation so far, oldest first:\n");
        prompt.push_str(&recent);
    }
    prompt.push_str(&format!("Message: \"{}\"\nJSON:", truncate(&text.replace('"', "'"), 600)));
    truncate(&prompt, MAX_PROMPT_CHARS)
}

fn transcript_tail(conversation: &Conversation, lines: usize, budget: usize) -> String {
    // The last entry is the message being read; it is quoted separately.
    let entries = &conversation.transcript[..conversation.transcript.len().saturating_sub(1)];
    let mut out = String::new();
    for entry in entries.iter().rev().take(lines).rev() {
        let who = match entry.from {
            agent_store_events::Speaker::Customer => "customer",
            agent_store_events::Speaker::Ai => "seller",
            agent_store_events::Speaker::Human => "human seller",
        };
        out.push_str(&format!("{who}: {}\n", truncate(&entry.text.replace('\n', " "), 200)));
    }
    truncate(&out, budget)
}

/// The model's reading of a message merged into the offline `reading`, or
/// `None` when the answer does not check out. The offline safety nets stay:
/// a person asked for or a request beyond scope is never read away.
pub fn read(answer: &str, reading: &Reading, shown: usize) -> Option<Reading> {
    let json = answer.get(answer.find('{')?..=answer.rfind('}')?)?;
    let parsed: ModelReading = serde_json::from_str(json).ok()?;
    let intent = INTENTS.iter().find(|(name, _)| *name == parsed.intent.trim())?.1;
    let unit = |x: Option<f32>| x.filter(|v| (0.0..=1.0).contains(v));
    let mut out = reading.clone();
    out.intent = intent;
    out.confidence = unit(parsed.confidence).unwrap_or(0.7);
    if let Some(sentiment) = parsed.sentiment {
        // Out of range is a model that did not follow the instructions.
        out.sentiment = unit(Some(sentiment))?;
    }
    if let Some(language) = parsed.language {
        out.language = Language::from_tag(&language)?;
    }
    if let Some(item) = parsed.item {
        if item == 0 || item as usize > shown {
            return None;
        }
        out.position = Some(Position::Nth(item));
    }
    if let Some(quantity) = parsed.quantity {
        if !(1..=999).contains(&quantity) {
            return None;
        }
        out.quantity = Some(quantity);
    }
    let minor = |price: Option<f64>| -> Option<Option<i64>> {
        match price {
            None => Some(None),
            Some(p) if p > 0.0 && p < 10_000_000.0 => Some(Some((p * 100.0).round() as i64)),
            Some(_) => None,
        }
    };
    let max = minor(parsed.max_price)?;
    let min = minor(parsed.min_price)?;
    let query = match parsed.query.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()) {
        Some(q)
            if q.chars().count() <= 80
                && tokens(&q).len() <= 8
                && q.chars().all(|c| c.is_alphanumeric() || " -'&.,%".contains(c)) =>
        {
            Some(tokens(&q).join(" "))
        }
        Some(_) => return None,
        None => None,
    };
    if query.is_some() || max.is_some() || min.is_some() {
        let plan = SearchPlan {
            text: query.clone(),
            category: None,
            min_price_minor: min,
            max_price_minor: max,
            partial: false,
        };
        // The offline plan is the second try if the model's finds nothing.
        out.fallback = reading.search.clone().filter(|offline| *offline != plan).or(reading.fallback.clone());
        out.search = Some(plan);
        if let Some(q) = query {
            out.words = tokens(&q);
        }
    } else if !matches!(intent, Intent::Browse | Intent::Recommendation | Intent::ProductQuestion | Intent::AddToCart) {
        out.search = None;
        out.fallback = None;
    }
    out.beyond_scope = reading.beyond_scope || parsed.beyond_scope.unwrap_or(false);
    if reading.intent == Intent::HumanRequest {
        out.intent = Intent::HumanRequest;
    }
    Some(out)
}

/// The prompt that asks the model to say `text` in the seller's voice.
pub fn phrase_prompt(persona: &Persona, language: Language, text: &str) -> String {
    let voice =
        if persona.voice.is_empty() { persona.style.clone() } else { format!("{} {}", persona.style, persona.voice) };
    truncate(
        &format!(
            "You are {agent}, the seller of {store} on WhatsApp. Your personality: {voice}\n\
             Rewrite the message below in your own voice, in {language}, in at most three short sentences.\n\
             Keep every product name, price, number and order id exactly as written. Do not add facts, links or promises.\n\
             Answer with the rewritten message only.\n\n\
             Message: {text}\nRewritten:",
            agent = persona.agent,
            store = persona.store,
            language = language.name(),
            text = truncate(text, 1500),
        ),
        MAX_PROMPT_CHARS,
    )
}

/// The model's rewording of `original`, if it keeps every number, stays in
/// `language` and within bounds.
pub fn phrase(answer: &str, original: &str, language: Language) -> Option<String> {
    let text = answer.trim().trim_matches('"').trim();
    let limit = original.chars().count() * 2 + 200;
    if text.is_empty() || text.chars().count() > limit || text.contains("http") || text.contains('{') {
        return None;
    }
    let numbers =
        |s: &str| -> Vec<String> { tokens(s).into_iter().filter(|w| w.chars().any(|c| c.is_ascii_digit())).collect() };
    let kept = numbers(text);
    if !numbers(original).iter().all(|n| kept.contains(n)) {
        return None;
    }
    if detect(text).is_some_and(|l| l != language) {
        return None;
    }
    Some(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z").unwrap().to_utc() + Duration::seconds(seconds)
    }

    #[test]
    fn failures_pause_the_model_with_backoff() {
        let mut health = Health::default();
        assert!(health.available(at(0)));
        health.started(at(0));
        health.failed(at(1), "timed out");
        assert!(!health.available(at(10)));
        assert!(health.available(at(31)));
        health.failed(at(31), "500");
        assert!(!health.available(at(80)), "the second pause is twice as long");
        assert!(health.available(at(92)));
        for i in 0..20 {
            health.failed(at(100 + i), "500");
        }
        assert_eq!(health.paused_until, Some(at(119) + LONGEST_PAUSE), "capped");
        health.succeeded();
        assert_eq!(health, Health::default());
    }

    #[test]
    fn a_missing_model_is_left_alone_longest() {
        let mut health = Health::default();
        health.failed(at(0), "no model configured for `chat`: start the host with --llm chat=<backend>");
        assert!(!health.available(at(300)));
        assert!(health.available(at(601)));
    }

    #[test]
    fn a_call_that_never_returned_counts_as_a_failure() {
        let mut health = Health::default();
        health.started(at(0));
        assert!(health.available(at(5)), "another call may still be in flight");
        assert!(!health.available(at(60)));
        assert_eq!(health.failures, 1);
        assert!(health.in_flight_since.is_none());
    }

    #[test]
    fn phrasing_must_keep_the_numbers_and_the_language() {
        let original = "Added 2 × Canvas Sneakers to your cart. Subtotal: USD 88.50.";
        assert!(
            phrase("Yay! 2 × Canvas Sneakers are in your bag — subtotal USD 88.50 ✨", original, Language::En)
                .is_some()
        );
        assert!(phrase("Yay! Sneakers are in your bag ✨", original, Language::En).is_none(), "the price was dropped");
        assert!(
            phrase("¡Listo! Añadí 2 × Canvas Sneakers, subtotal USD 88.50.", original, Language::En).is_none(),
            "wrong language"
        );
        assert!(phrase("", original, Language::En).is_none());
        assert!(phrase(&"word ".repeat(200), original, Language::En).is_none());
        assert!(phrase("See https://evil.example 2 88.50", original, Language::En).is_none());
    }
}
