//! Phrases, numbers and safe truncation, over the words of
//! [`agent_store_text`].
//!
//! Everything the brain reads goes through [`agent_store_text::tokens`], so
//! "¿Cuánto cuesta?", "cuanto CUESTA" and "cuánto cuesta!!" are the same two
//! words.

use agent_store_text::fold;

/// Whether `phrase` (written naturally, e.g. "what's in my cart"; a word
/// ending in `*` matches any word it begins) occurs as consecutive words of
/// `words`.
pub fn has_phrase(words: &[String], phrase: &str) -> bool {
    find_phrase(words, phrase).is_some()
}

/// Where `phrase` starts in `words`, and how many words it covers.
pub fn find_phrase(words: &[String], phrase: &str) -> Option<(usize, usize)> {
    let pattern = pattern_words(phrase);
    if pattern.is_empty() || pattern.len() > words.len() {
        return None;
    }
    (0..=words.len() - pattern.len())
        .find(|&start| pattern.iter().zip(&words[start..]).all(|(p, w)| word_matches(p, w)))
        .map(|start| (start, pattern.len()))
}

/// Whether any of `phrases` occurs in `words`.
pub fn has_any(words: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has_phrase(words, p))
}

/// Every word position covered by any of `phrases`.
pub fn covered(words: &[String], phrases: &[&str]) -> Vec<bool> {
    let mut mask = vec![false; words.len()];
    for phrase in phrases {
        let pattern = pattern_words(phrase);
        if pattern.is_empty() || pattern.len() > words.len() {
            continue;
        }
        for start in 0..=words.len() - pattern.len() {
            if pattern.iter().zip(&words[start..]).all(|(p, w)| word_matches(p, w)) {
                mask[start..start + pattern.len()].fill(true);
            }
        }
    }
    mask
}

fn pattern_words(phrase: &str) -> Vec<String> {
    // Tokenize like a message, but keep the `*` wildcard.
    fold(phrase)
        .split(|c: char| !(c.is_alphanumeric() || c == '*'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn word_matches(pattern: &str, word: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => word.starts_with(prefix),
        None => pattern == word,
    }
}

/// `text` cut to at most `max` characters (not bytes), with an ellipsis when
/// it was cut. WhatsApp counts characters, and cutting inside a UTF-8
/// sequence would not compile anyway.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out = out.trim_end().to_owned();
    out.push('…');
    out
}

/// A number written as digits ("2", "49.90", "1,200") or, for small
/// quantities, as a word in English, Spanish or Portuguese.
pub fn number(word: &str) -> Option<f64> {
    if let Some(n) = small_number_word(word) {
        return Some(f64::from(n));
    }
    if !word.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    // "1,200" is a thousands separator, "49,90" a decimal comma.
    let normalized = match word.split_once(',') {
        Some((_, decimals)) if decimals.len() == 3 && !word.contains('.') => word.replace(',', ""),
        _ => word.replace(',', "."),
    };
    normalized.parse().ok()
}

/// "two", "dos", "duas"… up to ten: what customers type for quantities.
pub fn small_number_word(word: &str) -> Option<u32> {
    Some(match word {
        "one" | "uno" | "una" | "um" | "uma" => 1,
        "two" | "dos" | "dois" | "duas" | "pair" | "par" => 2,
        "three" | "tres" => 3,
        "four" | "cuatro" | "quatro" => 4,
        "five" | "cinco" => 5,
        "six" | "seis" => 6,
        "seven" | "siete" | "sete" => 7,
        "eight" | "ocho" | "oito" => 8,
        "nine" | "nueve" | "nove" => 9,
        "ten" | "diez" | "dez" => 10,
        _ => return None,
    })
}

/// A short, stable, non-reversible tag for an id that must not be stored as
/// is (WhatsApp message ids encode the sender's number): 64-bit FNV-1a.
pub fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use agent_store_text::tokens;

    use super::*;

    #[test]
    fn phrases_match_consecutive_words_with_wildcards() {
        let words = tokens("Hi! What's in my cart right now?");
        assert!(has_phrase(&words, "what's in my cart"));
        assert!(!has_phrase(&words, "in cart"));
        assert!(has_phrase(&tokens("te recomiendo esto"), "recomi*"));
        assert_eq!(find_phrase(&words, "my cart"), Some((4, 2)));
        let mask = covered(&words, &["my cart", "hi"]);
        assert_eq!(mask, [true, false, false, false, true, true, false, false]);
    }

    #[test]
    fn numbers_in_words_and_digits() {
        assert_eq!(number("2"), Some(2.0));
        assert_eq!(number("49.90"), Some(49.9));
        assert_eq!(number("49,90"), Some(49.9));
        assert_eq!(number("1,200"), Some(1200.0));
        assert_eq!(number("duas"), Some(2.0));
        assert_eq!(number("tres"), Some(3.0));
        assert_eq!(number("shoes"), None);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("ñandú ñandú", 6), "ñandú…");
        assert_eq!(truncate("ab cd", 4), "ab…");
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        assert_eq!(fingerprint("wamid.1"), fingerprint("wamid.1"));
        assert_ne!(fingerprint("wamid.1"), fingerprint("wamid.2"));
    }
}
