//! Reply suggestions for the human seller: the customer's objections (price,
//! quality, delivery, trust) found in their own words in English, Spanish
//! or Portuguese, a handling strategy for each, and reply drafts in the
//! customer's language — from templates, and from the `chat` model when
//! one is configured (the templates stay as the fallback).
//!
//! Drafts never contain the customer's name or words, so they can travel in
//! `store.sales.insight` events, which carry no customer data.

use agent_store_events::{Cart, EscalationReason, Speaker, TranscriptEntry};
use agent_store_text::{Language, fold};
use serde::Serialize;

/// Customer lines looked at for objections: the recent ones say what is in
/// the way now.
const RECENT_CUSTOMER_LINES: usize = 5;

/// The longest model draft shown; a model that rambles is cut.
const MAX_MODEL_DRAFT: usize = 700;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionKind {
    Price,
    Quality,
    Delivery,
    Trust,
}

impl ObjectionKind {
    pub fn name(self) -> &'static str {
        match self {
            ObjectionKind::Price => "price",
            ObjectionKind::Quality => "quality",
            ObjectionKind::Delivery => "delivery",
            ObjectionKind::Trust => "trust",
        }
    }
}

/// Words that give an objection away, without accents, in the three
/// languages at once (a customer mixing languages still counts).
const CUES: &[(ObjectionKind, &[&str])] = &[
    (
        ObjectionKind::Price,
        &[
            "expensive",
            "too much",
            "price",
            "pricey",
            "cheaper",
            "discount",
            "overpriced",
            "afford",
            "coupon",
            "costs",
            "caro",
            "cara",
            "caros",
            "precio",
            "descuento",
            "mas barato",
            "cuesta",
            "rebaja",
            "costoso",
            "preco",
            "desconto",
            "mais barato",
            "custa",
            "promocao",
        ],
    ),
    (
        ObjectionKind::Quality,
        &[
            "quality",
            "broke",
            "broken",
            "fake",
            "flimsy",
            "durable",
            "defect",
            "defective",
            "poor",
            "reviews",
            "calidad",
            "se rompe",
            "se rompio",
            "roto",
            "falso",
            "fragil",
            "defecto",
            "opiniones",
            "resenas",
            "qualidade",
            "quebra",
            "quebrou",
            "quebrado",
            "defeito",
            "avaliacoes",
        ],
    ),
    (
        ObjectionKind::Delivery,
        &[
            "shipping",
            "delivery",
            "deliver",
            "arrive",
            "arrives",
            "late",
            "how long",
            "when will",
            "tracking",
            "envio",
            "entrega",
            "llegar",
            "llega",
            "tarda",
            "demora",
            "rastreo",
            "frete",
            "chegar",
            "chega",
            "prazo",
            "rastreio",
        ],
    ),
    (
        ObjectionKind::Trust,
        &[
            "scam",
            "trust",
            "legit",
            "refund",
            "return",
            "guarantee",
            "warranty",
            "fraud",
            "reliable",
            "estafa",
            "confiar",
            "confianza",
            "fiable",
            "devolucion",
            "reembolso",
            "garantia",
            "fraude",
            "golpe",
            "confianca",
            "confiavel",
            "devolucao",
        ],
    ),
];

/// Folded words, one space apart and padded with spaces so that cues match
/// whole words: `" es muy caro "`.
fn normalize(text: &str) -> String {
    let folded = fold(text);
    let words: Vec<&str> = folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    format!(" {} ", words.join(" "))
}

/// One objection found, with the cue that gave it away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Objection {
    pub kind: ObjectionKind,
    pub cue: String,
    /// How to handle it, for the human seller.
    pub strategy: String,
}

/// The objections in `text`, in the order of [`CUES`].
pub fn objections_in(text: &str) -> Vec<Objection> {
    let text = normalize(text);
    CUES.iter()
        .filter_map(|(kind, cues)| {
            let cue = cues.iter().find(|cue| text.contains(&format!(" {cue} ")))?;
            Some(Objection { kind: *kind, cue: cue.to_string(), strategy: strategy(*kind).to_string() })
        })
        .collect()
}

/// The objections in the customer's recent lines, the latest first.
pub fn objections(transcript: &[TranscriptEntry]) -> Vec<Objection> {
    let mut found: Vec<Objection> = Vec::new();
    let customer = transcript.iter().rev().filter(|e| e.from == Speaker::Customer).take(RECENT_CUSTOMER_LINES);
    for line in customer {
        for objection in objections_in(&line.text) {
            if !found.iter().any(|f| f.kind == objection.kind) {
                found.push(objection);
            }
        }
    }
    found
}

/// The customer's language: the seller's reading when there is one, else
/// what the customer wrote reads as; English when neither says.
pub fn language(tag: Option<&str>, transcript: &[TranscriptEntry]) -> Language {
    if let Some(language) = tag.and_then(Language::from_tag) {
        return language;
    }
    let text: String = transcript
        .iter()
        .filter(|e| e.from == Speaker::Customer)
        .map(|e| e.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    agent_store_text::detect(&text).unwrap_or_default()
}

/// How to handle an objection, for the human seller.
pub fn strategy(kind: ObjectionKind) -> &'static str {
    match kind {
        ObjectionKind::Price => {
            "Acknowledge the concern, restate the value (what is included, how long it lasts), then offer what is real: \
             an active promotion, a cheaper alternative, fewer units. Never invent a discount."
        }
        ObjectionKind::Quality => {
            "Give facts, not adjectives: materials, specifications, reviews, warranty. Offer the return policy as the \
             safety net and ask what worries them most."
        }
        ObjectionKind::Delivery => {
            "Check the real shipping options before promising a date; offer the fastest one that makes their deadline \
             and confirm the date in writing before they pay."
        }
        ObjectionKind::Trust => {
            "Lower the risk: secure checkout, an order number and tracking at once, the return and refund policy. \
             Be transparent and do not push."
        }
    }
}

/// A template draft: what to say about `kind` (or, with `None`, a human
/// picking the conversation up) in `lang`.
pub fn template(kind: Option<ObjectionKind>, reason: EscalationReason, lang: Language) -> &'static str {
    use Language::*;
    use ObjectionKind::*;
    match (kind, lang) {
        (Some(Price), En) => {
            "I understand, price matters. I can show you a similar option that costs less, or check today's promotions for you. Which would you prefer?"
        }
        (Some(Price), Es) => {
            "Entiendo, el precio es importante. Puedo mostrarte una opción parecida más económica o revisar las promociones de hoy. ¿Qué prefieres?"
        }
        (Some(Price), Pt) => {
            "Entendo, o preço é importante. Posso te mostrar uma opção parecida mais em conta ou ver as promoções de hoje. O que você prefere?"
        }
        (Some(Quality), En) => {
            "Good question, quality matters to us too. I can send you the materials and details, and if it isn't what you expected, our return policy has you covered."
        }
        (Some(Quality), Es) => {
            "Buena pregunta, la calidad también nos importa. Te puedo enviar los materiales y detalles, y si no es lo que esperabas, nuestra política de devoluciones te respalda."
        }
        (Some(Quality), Pt) => {
            "Boa pergunta, a qualidade também importa para nós. Posso te enviar os materiais e detalhes e, se não for o que você esperava, nossa política de devolução te protege."
        }
        (Some(Delivery), En) => {
            "I hear you, you need it on time. Let me check the fastest shipping option to your area and confirm the delivery date before you pay. Does that work?"
        }
        (Some(Delivery), Es) => {
            "Te entiendo, lo necesitas a tiempo. Déjame revisar el envío más rápido a tu zona y confirmarte la fecha de entrega antes de pagar. ¿Te parece?"
        }
        (Some(Delivery), Pt) => {
            "Entendo, você precisa disso no prazo. Vou verificar o frete mais rápido para a sua região e confirmar a data de entrega antes do pagamento. Pode ser?"
        }
        (Some(Trust), En) => {
            "That's a fair question. You pay through a secure checkout, you get an order number and tracking right away, and our return policy covers you if anything goes wrong."
        }
        (Some(Trust), Es) => {
            "Es una pregunta justa. Pagas en un checkout seguro, recibes el número de pedido y el seguimiento al instante, y nuestra política de devoluciones te cubre si algo sale mal."
        }
        (Some(Trust), Pt) => {
            "É uma pergunta justa. Você paga em um checkout seguro, recebe o número do pedido e o rastreio na hora, e nossa política de devolução te cobre se algo der errado."
        }
        (None, En) if reason == EscalationReason::LowSentiment => {
            "I'm sorry about the trouble. I'm a person from the team, I've read your conversation and I'll sort this out with you. What matters most to you right now?"
        }
        (None, Es) if reason == EscalationReason::LowSentiment => {
            "Lamento el inconveniente. Soy una persona del equipo, ya leí la conversación y lo resolvemos juntos. ¿Qué es lo más importante para ti ahora?"
        }
        (None, Pt) if reason == EscalationReason::LowSentiment => {
            "Sinto muito pelo transtorno. Sou uma pessoa da equipe, li a conversa e vamos resolver isso juntos. O que é mais importante para você agora?"
        }
        (None, En) => "Hi! I'm a person from the team and I've read your conversation. How can I help?",
        (None, Es) => "¡Hola! Soy una persona del equipo y ya leí la conversación. ¿Cómo te puedo ayudar?",
        (None, Pt) => "Olá! Sou uma pessoa da equipe e já li a conversa. Como posso ajudar?",
    }
}

/// One reply draft and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    pub text: String,
    /// `model` or `template`.
    pub source: &'static str,
}

/// Everything suggested for a conversation at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestions {
    pub language: Language,
    pub objections: Vec<Objection>,
    /// The best first: the model's when it answered, then the templates.
    pub drafts: Vec<Draft>,
    /// Why there is no model draft, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_error: Option<String>,
}

/// What the suggestions are computed from.
pub struct Situation<'a> {
    pub brand: &'a str,
    pub reason: EscalationReason,
    pub summary: &'a str,
    pub transcript: &'a [TranscriptEntry],
    pub cart: Option<&'a Cart>,
    pub language_tag: Option<&'a str>,
}

/// Suggestions for `situation`; `model` turns a prompt into a draft (the
/// `chat` model in the component, a stand-in in tests).
/// Why the model wrote no draft; the templates stand in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// The model's backend does not serve it.
    #[error("model `{0}` is not supported by its backend")]
    Unsupported(&'static str),
    /// The call failed (no model configured, a timeout…), as the host says.
    #[error("{0}")]
    Failed(String),
}

pub fn suggest(situation: &Situation<'_>, model: impl FnOnce(&str) -> Result<String, DraftError>) -> Suggestions {
    let language = language(situation.language_tag, situation.transcript);
    let objections = objections(situation.transcript);
    let mut drafts: Vec<Draft> = Vec::new();
    let model_error = match model(&prompt(situation, language, &objections)) {
        Ok(text) if !text.trim().is_empty() => {
            let text = text.trim().trim_matches('"').trim();
            drafts.push(Draft { text: crate::model::truncate(text, MAX_MODEL_DRAFT), source: "model" });
            None
        }
        Ok(_) => Some("the model answered with nothing".to_string()),
        Err(e) => Some(e.to_string()),
    };
    if objections.is_empty() {
        drafts.push(Draft { text: template(None, situation.reason, language).into(), source: "template" });
    }
    for objection in &objections {
        drafts.push(Draft {
            text: template(Some(objection.kind), situation.reason, language).into(),
            source: "template",
        });
    }
    Suggestions { language, objections, drafts, model_error }
}

/// The prompt for one reply draft. The transcript is the customer's own
/// words: they go to the configured model, nowhere else.
pub fn prompt(situation: &Situation<'_>, language: Language, objections: &[Objection]) -> String {
    let mut text = format!(
        "You help a human sales agent of the {} store who took over a WhatsApp conversation from the AI seller.\n\
         Why it was escalated: {}.\n",
        situation.brand,
        reason_text(situation.reason)
    );
    if !situation.summary.is_empty() {
        text.push_str(&format!("Summary: {}\n", situation.summary));
    }
    if let Some(cart) = situation.cart.filter(|c| !c.is_empty()) {
        let items: Vec<String> = cart.items.iter().map(|i| format!("{} x{}", i.name, i.quantity)).collect();
        text.push_str(&format!("Cart: {} (subtotal {}).\n", items.join(", "), cart.subtotal));
    }
    if !objections.is_empty() {
        let kinds: Vec<&str> = objections.iter().map(|o| o.kind.name()).collect();
        text.push_str(&format!("Customer objections: {}.\n", kinds.join(", ")));
    }
    text.push_str("Conversation so far, oldest first:\n");
    for line in situation.transcript {
        let who = match line.from {
            Speaker::Customer => "Customer",
            Speaker::Ai => "AI seller",
            Speaker::Human => "Agent",
        };
        text.push_str(&format!("{who}: {}\n", line.text));
    }
    text.push_str(&format!(
        "Write the agent's next message to the customer, in {}: short, warm, specific. Do not promise discounts, \
         dates or stock you do not know. Answer with the message text only.",
        language.name()
    ));
    text
}

pub fn reason_text(reason: EscalationReason) -> &'static str {
    match reason {
        EscalationReason::LowSentiment => "the customer is unhappy",
        EscalationReason::ComplexQuery => "a question the AI seller should not answer alone",
        EscalationReason::CustomerRequest => "the customer asked for a person",
        EscalationReason::RepeatedMisunderstanding => "the AI seller did not understand the customer several times",
        EscalationReason::Other => "see the summary",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn customer(text: &str) -> TranscriptEntry {
        TranscriptEntry { from: Speaker::Customer, text: text.into(), at: Utc::now() }
    }

    fn kinds(text: &str) -> Vec<ObjectionKind> {
        objections_in(text).into_iter().map(|o| o.kind).collect()
    }

    #[test]
    fn objections_are_found_in_three_languages() {
        use ObjectionKind::*;
        for (text, expected) in [
            ("That's way too expensive for a shirt", vec![Price]),
            ("Es muy caro, ¿no tienen descuento?", vec![Price]),
            ("Está muito caro, tem desconto?", vec![Price]),
            ("Will the quality hold up or is it flimsy?", vec![Quality]),
            ("La calidad es mala, se rompió en una semana", vec![Quality]),
            ("O meu quebrou no primeiro dia, que qualidade é essa", vec![Quality]),
            ("How long does shipping take? I need it by Friday", vec![Delivery]),
            ("¿Cuándo llega? El envío tarda mucho", vec![Delivery]),
            ("Qual o prazo de entrega para São Paulo?", vec![Delivery]),
            ("Is this a scam? How do I get a refund?", vec![Trust]),
            ("No sé si confiar, ¿hay garantía?", vec![Trust]),
            ("Isso é golpe? Tem garantia?", vec![Trust]),
            ("Too expensive and shipping takes forever", vec![Price, Delivery]),
            ("Hi, do you have it in blue?", vec![]),
        ] {
            assert_eq!(kinds(text), expected, "{text}");
        }
        // Whole words only: "priceless", "returned", "caramelo" are not cues.
        assert!(kinds("priceless caramelo returned").is_empty());
    }

    #[test]
    fn the_latest_objection_comes_first() {
        let transcript = [customer("too expensive"), customer("and will it arrive by Friday?")];
        let found: Vec<_> = objections(&transcript).into_iter().map(|o| o.kind).collect();
        assert_eq!(found, vec![ObjectionKind::Delivery, ObjectionKind::Price]);
        let ai = TranscriptEntry { from: Speaker::Ai, text: "our price is fair".into(), at: Utc::now() };
        assert!(objections(&[ai]).is_empty(), "only the customer's words count");
    }

    #[test]
    fn languages_come_from_the_seller_or_the_words() {
        assert_eq!(language(Some("pt-BR"), &[]), Language::Pt);
        assert_eq!(language(Some("xx"), &[customer("¿Dónde está mi pedido? Quiero saber")]), Language::Es);
        let words = |text: &str| language(None, &[customer(text)]);
        assert_eq!(words("Não gostei, quero devolver isso"), Language::Pt);
        assert_eq!(words("Está muito caro, tem desconto?"), Language::Pt);
        assert_eq!(words("Qual o prazo de entrega?"), Language::Pt);
        assert_eq!(words("La calidad es mala, se rompió"), Language::Es);
        assert_eq!(words("Hola, necesito ayuda con el envío por favor"), Language::Es);
        assert_eq!(words("I want to know when it arrives"), Language::En);
        assert_eq!(words(""), Language::En);
    }

    #[test]
    fn every_objection_has_a_template_in_every_language() {
        for kind in [ObjectionKind::Price, ObjectionKind::Quality, ObjectionKind::Delivery, ObjectionKind::Trust] {
            let texts: Vec<_> =
                Language::ALL.into_iter().map(|lang| template(Some(kind), EscalationReason::Other, lang)).collect();
            assert!(texts.iter().all(|t| !t.is_empty()));
            assert_eq!(texts.len(), 3);
            assert!(texts[0] != texts[1] && texts[1] != texts[2], "{kind:?}");
            assert!(!strategy(kind).is_empty());
        }
    }

    fn situation<'a>(transcript: &'a [TranscriptEntry]) -> Situation<'a> {
        Situation {
            brand: "fashion",
            reason: EscalationReason::LowSentiment,
            summary: "Wants it by Friday.",
            transcript,
            cart: None,
            language_tag: None,
        }
    }

    #[test]
    fn the_model_draft_comes_first_and_templates_remain() {
        let transcript = [customer("Es muy caro")];
        let s = suggest(&situation(&transcript), |prompt| {
            assert!(prompt.contains("Customer: Es muy caro") && prompt.contains("in Spanish"), "{prompt}");
            Ok("\"¿Te muestro otra opción?\"".into())
        });
        assert_eq!(s.language, Language::Es);
        assert_eq!(s.drafts[0], Draft { text: "¿Te muestro otra opción?".into(), source: "model" });
        assert_eq!(s.drafts[1].source, "template");
        assert_eq!(s.model_error, None);
    }

    #[test]
    fn without_a_model_the_templates_answer() {
        let transcript = [customer("this is useless")];
        let s = suggest(&situation(&transcript), |_| Err(DraftError::Failed("no model configured for `chat`".into())));
        assert_eq!(s.model_error.as_deref(), Some("no model configured for `chat`"));
        assert_eq!(s.drafts.len(), 1);
        assert!(s.drafts[0].text.starts_with("I'm sorry"), "low sentiment, no objection: {:?}", s.drafts);
    }
}
