//! Words: tokens and stems.

use crate::fold;

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

/// Drops a plural "s", then a final "e", on words longer than three letters. Stripping
/// the "e" too is what makes both sides agree: "dresses"/"dress" -> "dress",
/// "headphones"/"headphone" -> "headphon", "pantalones"/"pantalón" -> "pantalon",
/// while "ss" endings ("dress", "glass") keep their "s".
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
    fn stems_and_same_words() {
        assert!(same_word("shoes", "shoe"));
        assert!(same_word("dresses", "dress"));
        assert!(!same_word("dress", "boots"));
        assert_eq!(stem("dresses"), stem("dress"));
        assert_eq!(stem("headphones"), stem("headphone"));
        assert_eq!(stem("zapatillas"), stem("zapatilla"));
        assert_eq!(stem(&fold("pantalones")), stem(&fold("pantalón")));
        assert_eq!(stem("gas"), "gas");
    }
}
