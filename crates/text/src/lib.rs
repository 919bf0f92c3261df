//! Words as Agent Store reads them, the same on every side of a conversation.
//!
//! The catalog indexes products with these functions and the sellers read
//! what customers write with them, so a word means the same on both sides;
//! the order processor and the sales assistant answer in the [`Language`]
//! the sellers detect.
//!
//! - [`fold`]: lower case, accents off ("Sofá", "SOFA" and "sofa" are one word);
//! - [`tokens`]: the folded words of a text, prices kept whole;
//! - [`stem`] and [`same_word`]: "shoes" is "shoe", "pantalones" is "pantalón";
//! - [`Language`], [`detect`]: English, Spanish or Portuguese, from marker words.
//!
//! ```
//! use agent_store_text::{Language, detect, fold, same_word, tokens};
//!
//! assert_eq!(fold("¿Cuánto cuesta el SOFÁ?"), "¿cuanto cuesta el sofa?");
//! assert_eq!(tokens("under $49.90, ok?"), ["under", "49.90", "ok"]);
//! assert!(same_word("dresses", "dress"));
//! assert_eq!(detect("Hola, ¿tienes vestidos de lino?"), Some(Language::Es));
//! assert_eq!(Language::from_tag("pt-BR"), Some(Language::Pt));
//! ```

#![deny(missing_docs)]

mod fold;
mod lang;
mod words;

pub use fold::fold;
pub use lang::{Language, detect, detect_or};
pub use words::{same_word, stem, tokens};
