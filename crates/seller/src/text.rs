//! Words: folding, tokenizing, phrase matching and safe truncation.
//!
//! Everything the brain reads goes through [`tokens`], so "¿Cuánto cuesta?",
//! "cuanto CUESTA" and "cuánto cuesta!!" are the same two words.

/// The same folding the catalog's search applies (one function in the
/// shared contract crate), so that a word the seller sends means to the
/// catalog what it meant to the seller.
pub use agent_store_events::text::fold;

/// The folded words of a text. Words are runs of letters and digits; a `.`
/// or `,` between two digits stays in the word, so prices such as `49.90`
/// and `1,200` are one token.
pub fn tokens(text: &str) -> Vec<String> {
    let folded = fold(text);
    let chars: Vec<char> = folded.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let inner_separator = (c == '.' || c == ',')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() || inner_separator {
            word.push(c);
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Drops a plural `s`, then a final `e`, on words longer than three letters:
/// the catalog's stemming, used to compare "shoes" with "shoe".
pub fn stem(word: &str) -> &str {
    let mut w = word;
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w = &w[..w.len() - 1];
    }
    if w.len() > 3 && w.ends_with('e') {
        w = &w[..w.len() - 1];
    }
    w
}

/// Whether two folded words are the same word, plural or not.
pub fn same_word(a: &str, b: &str) -> bool {
    a == b || stem(a) == stem(b)
}

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
    use super::*;

    #[test]
    fn tokens_fold_and_keep_prices_whole() {
        assert_eq!(tokens("¿Cuánto CUESTA el Sofá?"), ["cuanto", "cuesta", "el", "sofa"]);
        assert_eq!(tokens("under $49.90, ok?"), ["under", "49.90", "ok"]);
        assert_eq!(tokens("what’s in my cart"), ["what", "s", "in", "my", "cart"]);
        assert_eq!(tokens("1,200 reais"), ["1,200", "reais"]);
        assert!(tokens("  !!! ").is_empty());
    }

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
    fn stems_and_same_words() {
        assert!(same_word("shoes", "shoe"));
        assert!(same_word("dresses", "dress"));
        assert!(!same_word("dress", "boots"));
        assert_eq!(fingerprint("wamid.1"), fingerprint("wamid.1"));
        assert_ne!(fingerprint("wamid.1"), fingerprint("wamid.2"));
    }
}
