//! Sentiment from 0 (furious) through 0.5 (neutral) to 1 (delighted).
//!
//! A lexicon in three languages with negation ("not good", "no me gusta",
//! "não gostei"), intensifiers ("very", "muy", "muito") and the marks of
//! shouting (several `!`, words in capitals). Tuned so that one plainly
//! negative word is a mild complaint (about 0.35) and real frustration —
//! two negatives, an insult to the service, shouting — falls below the
//! escalation threshold of 0.3.

use agent_store_text::tokens;

use crate::text::has_phrase;

/// Strongly negative: one of these alone means trouble.
#[rustfmt::skip]
const STRONG_NEGATIVE: &[&str] = &[
    "terrible", "awful", "horrible", "worst", "hate", "useless", "ridiculous", "scam", "fraud",
    "unacceptable", "disgusting", "furious", "angry", "pathetic", "rubbish", "garbage", "trash",
    "ripoff", "rip off", "wtf", "fed up", "sick of", "never again", "joke", "incompetent",
    "pesimo", "pesima", "horrible", "odio", "inutil", "inutiles", "ridiculo", "ridicula",
    "estafa", "fraude", "inaceptable", "asco", "furioso", "furiosa", "enojado", "enojada",
    "harto", "harta", "basura", "verguenza", "nunca mas", "incompetentes", "una burla",
    "pessimo", "pessima", "horrivel", "odeio", "ridiculo", "golpe", "fraude", "inaceitavel",
    "nojo", "furioso", "puto", "puta", "irritado", "irritada", "cansado de", "lixo", "vergonha",
    "nunca mais", "absurdo", "absurda", "palhacada", "mierda", "merda", "porra", "damn",
];

#[rustfmt::skip]
const NEGATIVE: &[&str] = &[
    "bad", "poor", "disappointed", "disappointing", "broken", "damaged", "defective", "wrong",
    "late", "delayed", "slow", "problem", "issue", "annoyed", "upset", "unhappy", "sad",
    "complaint", "complain", "expensive", "waiting", "never arrived", "not working",
    "doesn't work", "does not work", "stopped working", "missing", "cheap quality", "confusing",
    "malo", "mala", "decepcionado", "decepcionada", "roto", "rota", "danado", "danada",
    "defectuoso", "defectuosa", "equivocado", "equivocada", "retrasado", "lento",
    "problema", "molesto", "molesta", "triste", "queja", "reclamo", "caro", "esperando",
    "no llego", "no funciona", "falta", "ruim", "decepcionado", "decepcionada", "quebrado",
    "quebrada", "defeito", "errado", "errada", "atrasado", "atrasada", "demora", "demorando",
    "chateado", "chateada", "reclamacao", "caro", "esperando", "nao chegou", "nao funciona",
    "faltando", "estragado", "estragada",
];

#[rustfmt::skip]
const POSITIVE: &[&str] = &[
    "love", "great", "perfect", "awesome", "amazing", "excellent", "beautiful", "lovely",
    "thanks", "thank", "nice", "cool", "happy", "glad", "wonderful", "fantastic", "good",
    "gorgeous", "cute", "helpful", "brilliant", "super",
    "encanta", "encanto", "genial", "perfecto", "perfecta", "excelente", "hermoso", "hermosa",
    "precioso", "preciosa", "gracias", "lindo", "linda", "bueno", "buena", "feliz", "maravilloso",
    "fantastico", "buenisimo", "chevere", "bacan",
    "adorei", "amei", "otimo", "otima", "perfeito", "perfeita", "excelente", "lindo", "linda",
    "obrigado", "obrigada", "valeu", "legal", "bom", "boa", "feliz", "maravilhoso", "maravilhosa",
    "fantastico", "incrivel", "massa",
];

const NEGATORS: &[&str] = &["not", "no", "nao", "never", "nunca", "dont", "don't", "isn't", "ni", "nem"];
const INTENSIFIERS: &[&str] =
    &["very", "so", "really", "too", "muy", "tan", "demasiado", "muito", "tao", "super", "extremely"];

/// The sentiment of one message, 0 to 1.
pub fn score(text: &str) -> f32 {
    let words = tokens(text);
    let mut score: f32 = 0.5;
    let mut negatives = 0;
    for (index, word) in words.iter().enumerate() {
        let negated = index > 0 && NEGATORS.contains(&words[index - 1].as_str())
            || index > 1 && NEGATORS.contains(&words[index - 2].as_str());
        let intensified = index > 0 && INTENSIFIERS.contains(&words[index - 1].as_str());
        let weight = if intensified { 1.5 } else { 1.0 };
        if POSITIVE.contains(&word.as_str()) {
            if negated {
                score -= 0.15 * weight;
                negatives += 1;
            } else {
                score += 0.12 * weight;
            }
        }
    }
    // Phrases (several words) and single words alike, each counted once.
    for phrase in STRONG_NEGATIVE {
        if has_phrase(&words, phrase) {
            score -= 0.3;
            negatives += 1;
        }
    }
    for phrase in NEGATIVE {
        if has_phrase(&words, phrase) {
            score -= 0.15;
            negatives += 1;
        }
    }
    if negatives > 0 {
        // Shouting makes a complaint worse; it does not make praise better.
        let exclamations = text.matches('!').count() + text.matches('?').count() / 2;
        if exclamations >= 2 {
            score -= 0.08;
        }
        let shouted = text
            .split_whitespace()
            .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
            .filter(|w| w.chars().all(|c| !c.is_lowercase()))
            .count();
        if shouted >= 2 {
            score -= 0.08;
        }
    }
    score.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_events::ESCALATION_SENTIMENT_THRESHOLD as THRESHOLD;

    #[test]
    fn neutral_shopping_is_neutral() {
        for text in ["do you have linen dresses?", "quanto custa?", "add 2", "checkout"] {
            assert!((0.45..=0.6).contains(&score(text)), "{text}: {}", score(text));
        }
    }

    #[test]
    fn praise_is_positive_and_negated_praise_is_not() {
        assert!(score("I love it, thanks!") > 0.65);
        assert!(score("¡Me encanta, gracias!") > 0.65);
        assert!(score("Adorei, obrigada!") > 0.65);
        assert!(score("not good") < 0.45);
        assert!(score("não gostei, não é bom") < 0.45);
    }

    #[test]
    fn a_mild_complaint_stays_above_the_threshold() {
        for text in ["my order is late", "el pedido llegó roto", "veio errado"] {
            let s = score(text);
            assert!((THRESHOLD..0.45).contains(&s), "{text}: {s}");
        }
    }

    #[test]
    fn frustration_falls_below_the_threshold() {
        for text in [
            "This is ridiculous, I've been waiting for two weeks and nobody answers!!",
            "Worst service ever. Useless.",
            "Es una estafa, estoy harto!!",
            "Que absurdo, péssimo atendimento, nunca mais compro aqui",
            "THIS IS UNACCEPTABLE WHERE IS MY ORDER",
        ] {
            assert!(score(text) < THRESHOLD, "{text}: {}", score(text));
        }
    }
}
