//! The customer's language: English, Spanish or Portuguese.
//!
//! Detection counts marker words (and a few letters only one language
//! writes: `ñ`, `¿`, `ã`, `ç`…). Short messages ("ok", "2", "checkout") carry
//! no signal, so the conversation's language is kept and only a clear
//! majority changes it.

use serde::{Deserialize, Serialize};

use crate::tokens;

/// A language the store speaks with customers; English when nothing says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Spanish.
    Es,
    /// Portuguese.
    Pt,
}

impl Language {
    /// The three, in a fixed order.
    pub const ALL: [Language; 3] = [Language::En, Language::Es, Language::Pt];

    /// The BCP 47 tag events carry (`store.chat.intent.detected`, `store.order.create`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Pt => "pt",
        }
    }

    /// The language's name in English, for model prompts.
    pub fn name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Es => "Spanish",
            Language::Pt => "Portuguese",
        }
    }

    /// Reads a tag such as `es`, `pt-BR` or `Portuguese`.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let tag = tag.trim().to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        match primary {
            "en" | "english" => Some(Language::En),
            "es" | "spanish" | "espanol" | "español" => Some(Language::Es),
            "pt" | "portuguese" | "portugues" | "português" => Some(Language::Pt),
            _ => None,
        }
    }
}

/// Words (folded) that mostly only one of the three languages uses. Words
/// shared by two languages ("que", "para", "no", "me") are left out: they
/// would only add noise.
#[rustfmt::skip]
const ENGLISH: &[&str] = &[
    "hi", "hello", "hey", "the", "and", "you", "your", "do", "does", "have", "want", "looking",
    "for", "my", "is", "are", "what", "whats", "how", "much", "please", "thanks", "thank", "can",
    "show", "need", "cart", "order", "where", "it", "this", "that", "one", "with", "yes", "of",
    "to", "get", "buy", "some", "any", "would", "like", "price", "i", "im", "ill", "id", "add",
    "remove", "in", "stock", "checkout", "pay", "bye", "good", "morning", "which", "recommend",
    "cheap", "under", "size", "sizes", "will", "be", "wait", "person", "human", "talk", "speak",
    "shoes", "dress", "there", "it's", "great", "awesome", "cool", "nice", "love", "best",
    "something", "anything", "gift", "second", "first", "third", "last", "many", "much", "from",
    "if", "or", "just", "only", "also", "not", "dont", "don", "t", "s", "yeah",
];

#[rustfmt::skip]
const SPANISH: &[&str] = &[
    "hola", "quiero", "quisiera", "busco", "buscando", "tienes", "tienen", "tenes", "gracias",
    "el", "los", "las", "del", "una", "unos", "unas", "cuanto", "cuanta", "cuesta", "cuestan",
    "precio", "carrito", "donde", "esta", "estos", "estas", "muy", "pero", "tambien", "necesito",
    "mi", "mis", "hay", "y", "con", "sin", "bueno", "buenas", "buenos", "dias", "noches",
    "puedes", "podrias", "talla", "zapatos", "zapatillas", "llevo", "agrega", "agregar", "anade",
    "anadir", "ahora", "quita", "quitar", "saca", "elimina", "eliminar", "pagar", "pedido",
    "llega", "llego", "recomiendas", "recomienda", "recomiendame", "mejor", "barato", "hasta",
    "menos", "segundo", "segunda", "primero", "primera", "tercero", "ultimo", "ultima", "eso",
    "ese", "esa", "este", "lo", "la", "le", "les", "yo", "usted", "ustedes", "tu", "vale",
    "perfecto", "genial", "adios", "chao", "chau", "luego", "sí", "si", "estoy", "soy", "tengo",
    "puedo", "hablar", "alguien", "humano", "persona", "queja", "nada", "todo", "cual", "cuales", "regalo", "muestrame", "ensename", "dame", "ponme", "quiero", "ver", "tallas",
    "colores", "envio", "hace", "semanas", "ayuda", "ayudame", "pues", "aqui", "alla",
    "nunca", "nadie", "estan", "son", "solo", "otra", "otro", "hijo", "hija", "mujer", "ponme",
    "quita", "vino", "llego", "molesta", "molesto",
    // Short requests: demonstratives and verbs with a pronoun attached
    // ("agrégame 4 de esas", "pónmelo"), which only Spanish writes.
    "esas", "esos", "aquel", "aquella", "aquellos", "aquellas", "agregame", "agregalo", "agregala",
    "agregalos", "agregalas", "anademe", "anadelo", "anadela", "ponmelo", "ponmela", "ponmelos",
    "ponmelas", "quitame", "quitalo", "quitala", "sacame", "sacalo", "mandame", "mandamelo",
    "pasame", "dame", "damelo", "damela", "dime", "muestramelo", "enviamelo", "cuantos", "cuantas",
    "tenia",
    // An order's state and a fault told ("sigue pendiente", "llegó con una grieta").
    "pendiente", "todavia", "seguimiento", "llegaron", "entregado", "grieta", "agujero",
];

#[rustfmt::skip]
const PORTUGUESE: &[&str] = &[
    "ola", "oi", "oie", "quero", "queria", "procuro", "procurando", "voce", "voces", "vc", "vcs",
    "obrigado", "obrigada", "obg", "valeu", "nao", "sim", "meu", "minha", "meus", "minhas", "um",
    "uma", "os", "do", "da", "dos", "das", "na", "em", "com", "pra", "quanto", "custa", "preco",
    "carrinho", "onde", "muito", "mas", "tambem", "preciso", "tem", "tens", "isso", "esse",
    "essa", "bom", "boa", "dia", "noite", "pode", "posso", "tamanho", "sapato", "sapatos",
    "levar", "adiciona", "adicionar", "coloca", "agora", "cade", "ja", "tira", "tirar",
    "remover", "pedido", "chega", "chegou", "recomenda", "indica", "melhor", "barato", "ate",
    "menos", "segundo", "segunda", "primeiro", "primeira", "terceiro", "ultimo", "ultima", "eu",
    "ele", "ela", "tudo", "beleza", "legal", "tchau", "falou", "fone", "tenis", "quais", "qual",
    "algum", "alguma", "presente", "mostra", "mostrar", "ver", "tamanhos", "cores",
    "frete", "entrega", "faz", "semanas", "ajuda", "porque", "aqui", "nunca", "ninguem", "estao",
    "sao", "mais", "so", "outra", "outro", "filho", "filha", "mulher", "gostei", "adorei",
    "fechar", "atendente", "pessoa", "reclamacao", "seu", "sua", "pelo", "eae", "eai", "deu",
    "cadeira", "quarto", "obrigadao",
    // Short requests: contractions only Portuguese writes.
    "desses", "dessas", "destes", "destas", "deles", "delas", "nesse", "nessa", "naquele", "naquela",
    "comprei", "encomendei", "duas", "dois", "pessoas", "fica", "ficou", "tempo",
    // An order's state and a fault told ("aguardando envio", "veio com um furo").
    "aguardando", "pendente", "separacao", "rastreio", "encomenda", "entregue", "ainda", "veio",
    "furo", "buraco",
];

/// The language of `text`, or `None` when it gives no clear sign.
pub fn detect(text: &str) -> Option<Language> {
    let mut scores = [0.0_f32; 3];
    let lower = text.to_lowercase();
    // Letters and marks one language writes and the others do not.
    if lower.contains(['ñ', '¿', '¡']) {
        scores[1] += 2.0;
    }
    if lower.contains(['ã', 'õ', 'ç']) || lower.contains("ção") || lower.contains("ções") {
        scores[2] += 2.0;
    }
    let words = tokens(text);
    // "é" on its own is "is" in Portuguese; Spanish writes "es".
    if lower.split(|c: char| !c.is_alphanumeric()).any(|w| w == "é") {
        scores[2] += 1.0;
    }
    // "o batom mancha?", "os fones são bons?": only Portuguese opens with
    // these articles (Spanish "o" is "or", between words).
    if words.first().is_some_and(|w| w == "o" || w == "os") {
        scores[2] += 1.0;
    }
    for word in words {
        for (index, list) in [ENGLISH, SPANISH, PORTUGUESE].iter().enumerate() {
            if list.contains(&word.as_str()) {
                scores[index] += 1.0;
            }
        }
    }
    let (best, &top) = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("three scores");
    let runner_up = scores.iter().enumerate().filter(|(i, _)| *i != best).map(|(_, s)| *s).fold(0.0, f32::max);
    if top == 0.0 || top == runner_up {
        return None;
    }
    Some(Language::ALL[best])
}

/// The language to answer `text` in: what it is written in, else the
/// conversation's language so far.
pub fn detect_or(text: &str, previous: Language) -> Language {
    detect(text).unwrap_or(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_three_languages() {
        for (text, expected) in [
            ("Hi! Do you have linen dresses?", Language::En),
            ("what's in my cart", Language::En),
            ("Hola, ¿tienes vestidos de lino?", Language::Es),
            ("quiero unas zapatillas blancas", Language::Es),
            ("cuánto cuesta el segundo", Language::Es),
            ("Oi! Vocês têm tênis branco?", Language::Pt),
            ("quanto custa o segundo?", Language::Pt),
            ("cadê meu pedido", Language::Pt),
            ("obrigada!", Language::Pt),
            ("gracias!", Language::Es),
            // A Portuguese article opening the message, and no other sign.
            ("o batom transfere?", Language::Pt),
            ("¿lo tienen en rojo o azul?", Language::Es),
            // What customers tell a human seller (the sales assistant's cases).
            ("Não gostei, quero devolver isso", Language::Pt),
            ("Está muito caro, tem desconto?", Language::Pt),
            ("Qual o prazo de entrega?", Language::Pt),
            ("La calidad es mala, se rompió", Language::Es),
            ("Hola, necesito ayuda con el envío por favor", Language::Es),
            ("I want to know when it arrives", Language::En),
        ] {
            assert_eq!(detect(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn short_messages_keep_the_conversation_language() {
        assert_eq!(detect("2"), None);
        assert_eq!(detect(""), None);
        assert_eq!(detect_or("ok 👍", Language::Pt), Language::Pt);
        assert_eq!(detect_or("fsh-001", Language::Es), Language::Es);
    }

    #[test]
    fn tags_round_trip() {
        for language in Language::ALL {
            assert_eq!(Language::from_tag(language.tag()), Some(language));
        }
        assert_eq!(Language::from_tag("pt-BR"), Some(Language::Pt));
        assert_eq!(Language::from_tag("ES"), Some(Language::Es));
        assert_eq!(Language::from_tag("es_MX"), Some(Language::Es));
        assert_eq!(Language::from_tag("fr"), None);
    }
}
