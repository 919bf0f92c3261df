//! The offline brain: what a customer message means, without any model.
//!
//! [`understand`] is a pure function of the message and a little context
//! (what the customer was last shown, whether a question awaits an answer),
//! so it runs the same in the component and in native tests, and the corpus
//! in `tests/corpus/` measures it directly.
//!
//! How it reads a message:
//!
//! 1. Tap on a button or list row: the id says exactly what to do.
//! 2. Otherwise the words are folded and matched against the phrase tables
//!    of [`crate::lexicon`]; the intents are tried from the most to the
//!    least urgent (a person asked for, something only a person may do, a
//!    complaint, an order, checkout, cart changes, adding, …, a greeting).
//! 3. What is left once every intent phrase, filler word, price and
//!    position is taken out is what the customer is looking for: the
//!    search words. A message of search words alone ("white sneakers") is a
//!    search too.
//! 4. When that last resort is all the rules found, the
//!    [`crate::classifier`] is asked for a second opinion: a message that
//!    reads like the corpus's complaints, order questions, needs or product
//!    questions is taken as one when the model is sure of it.

use agent_store_events::{Intent, IntentEntities, MessageContent};
use agent_store_text::{Language, detect_or, tokens};

use crate::classifier::Classifier;
use crate::lexicon as lex;
use crate::persona::Persona;
use crate::sentiment;
use crate::state::SearchPlan;
use crate::text::{covered, find_phrase, has_any, number, small_number_word};

/// What the brain needs to know besides the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// The conversation's language so far.
    pub language: Language,
    /// How many products the customer was last shown.
    pub shown: usize,
    /// Whether the cart has something in it.
    pub has_cart: bool,
    /// Whether the seller asked a yes/no question.
    pub awaiting_answer: bool,
}

/// A tap on one of the seller's buttons or list rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tap {
    /// Show this product.
    Product(String),
    /// Add one of this product.
    Add(String),
    /// Similar products.
    Similar(String),
    /// Take this product out of the cart.
    Remove(String),
    /// Browse this category.
    Browse(String),
    /// Show the categories.
    Categories,
    /// Show the cart.
    Cart,
    /// Edit the cart.
    Edit,
    /// Check out.
    Checkout,
    /// Yes to the question asked.
    Yes,
    /// No to the question asked.
    No,
    /// Ask for a person.
    Human,
    /// Best sellers.
    Popular,
    /// This variant (size, colour, shade) of this product.
    Variant(String, String),
}

impl Tap {
    /// The id a button or row carries for this tap.
    pub fn id(&self) -> String {
        match self {
            Tap::Product(id) => format!("product:{id}"),
            Tap::Add(id) => format!("add:{id}"),
            Tap::Similar(id) => format!("similar:{id}"),
            Tap::Remove(id) => format!("remove:{id}"),
            Tap::Browse(category) => format!("browse:{category}"),
            Tap::Categories => "categories".into(),
            Tap::Cart => "cart".into(),
            Tap::Edit => "edit".into(),
            Tap::Checkout => "checkout".into(),
            Tap::Yes => "yes".into(),
            Tap::No => "no".into(),
            Tap::Human => "human".into(),
            Tap::Popular => "popular".into(),
            Tap::Variant(id, value) => format!("variant:{id}#{value}"),
        }
    }

    /// Reads a button or row id; `None` for ids this seller did not send.
    pub fn parse(id: &str) -> Option<Tap> {
        let (kind, arg) = match id.split_once(':') {
            Some((kind, arg)) if !arg.is_empty() => (kind, Some(arg.to_owned())),
            _ => (id, None),
        };
        Some(match (kind, arg) {
            ("product", Some(id)) => Tap::Product(id),
            ("add", Some(id)) => Tap::Add(id),
            ("similar", Some(id)) => Tap::Similar(id),
            ("remove", Some(id)) => Tap::Remove(id),
            ("browse", Some(category)) => Tap::Browse(category),
            ("categories", None) => Tap::Categories,
            ("cart", None) => Tap::Cart,
            ("edit", None) => Tap::Edit,
            ("checkout", None) => Tap::Checkout,
            ("yes", None) => Tap::Yes,
            ("no", None) => Tap::No,
            ("human", None) => Tap::Human,
            ("popular", None) => Tap::Popular,
            ("variant", Some(arg)) => {
                let (id, value) = arg.split_once('#').filter(|(id, value)| !id.is_empty() && !value.is_empty())?;
                Tap::Variant(id.to_owned(), value.to_owned())
            }
            _ => return None,
        })
    }

    fn intent(&self) -> Intent {
        match self {
            Tap::Product(_) => Intent::ProductQuestion,
            Tap::Add(_) | Tap::Variant(..) => Intent::AddToCart,
            Tap::Similar(_) | Tap::Popular => Intent::Recommendation,
            Tap::Remove(_) | Tap::Edit => Intent::ChangeCart,
            Tap::Browse(_) | Tap::Categories => Intent::Browse,
            Tap::Cart => Intent::ViewCart,
            Tap::Checkout | Tap::Yes | Tap::No => Intent::Checkout,
            Tap::Human => Intent::HumanRequest,
        }
    }
}

/// A reference to a product in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The n-th of the list shown, from 1.
    Nth(u32),
    /// The last of the list shown.
    Last,
}

/// What to change in the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartChange {
    /// Take a line out.
    Remove,
    /// Set a line's quantity.
    SetQuantity(u32),
    /// Take everything out.
    Empty,
}

/// The brain's reading of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// What the customer wants done.
    pub intent: Intent,
    /// How sure the brain is of `intent`, from 0 to 1 (1 for a tap).
    pub confidence: f32,
    /// The customer's mood, from 0 (furious) through 0.5 to 1 (delighted).
    pub sentiment: f32,
    /// The language the message is in (for a tap, the conversation's).
    pub language: Language,
    /// The message also says hello ("Hi! Do you have…").
    pub greets: bool,
    /// A button or list row was tapped.
    pub tap: Option<Tap>,
    /// The search words, folded, in the customer's order.
    pub words: Vec<String>,
    /// The catalog category the words name.
    pub category: Option<String>,
    /// What to ask the catalog, when the message looks for products.
    pub search: Option<SearchPlan>,
    /// A narrower-to-wider second try when `search` finds nothing.
    pub fallback: Option<SearchPlan>,
    /// A position in the list shown.
    pub position: Option<Position>,
    /// "it", "this one": the product being talked about.
    pub focus: bool,
    /// A quantity.
    pub quantity: Option<u32>,
    /// A cart change.
    pub change: Option<CartChange>,
    /// Yes (`Some(true)`) or no to a question asked.
    pub answer: Option<bool>,
    /// Product details asked about (aspect index in [`lex::ASPECTS`]),
    /// plus price and stock.
    pub asks: Vec<Ask>,
    /// An order id the customer quotes.
    pub order_id: Option<String>,
    /// A request only a person may handle.
    pub beyond_scope: bool,
    /// The message carries no words (a photo, a voice note, a sticker).
    pub wordless: bool,
    /// All the message's words, folded (at most [`crate::state::WORDS_KEPT`]):
    /// where a size, colour or shade is read once the product is known.
    pub said: Vec<String>,
    /// A capacity named to pick a product or variant: "the 256 GB one" → `256 gb`.
    pub spec: Option<String>,
    /// The message ends or starts as a question ("?", "¿").
    pub questioned: bool,
    /// A need the customer stated, in their words ("dry skin moisturiser",
    /// "beach wedding"): a request for advice, which the catalog's
    /// recommender answers with what fits it.
    pub need: Option<String>,
}

/// A product detail asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// What it costs.
    Price,
    /// Whether it is in stock, and how many are left.
    Stock,
    /// The attribute keys that answer it, most specific first.
    Detail(Vec<String>),
    /// A yes/no question about the product ("is it cruelty free?", "does it
    /// support 5G?"): the message's content words, which the product's own
    /// name does not explain; answered from its attributes and description.
    Property(Vec<String>),
}

impl Reading {
    /// The entities of `store.chat.intent.detected`.
    pub fn entities(&self) -> IntentEntities {
        IntentEntities {
            query: self.search.as_ref().and_then(|s| s.text.clone()),
            category: self.category.clone(),
            product_id: match &self.tap {
                Some(Tap::Product(id) | Tap::Add(id) | Tap::Similar(id) | Tap::Remove(id) | Tap::Variant(id, _)) => {
                    Some(id.as_str().into())
                }
                _ => None,
            },
            quantity: self.quantity,
            order_id: self.order_id.as_deref().map(Into::into),
            item: match self.position {
                Some(Position::Nth(n)) => Some(n),
                _ => None,
            },
            min_price_minor: self.search.as_ref().and_then(|s| s.min_price_minor),
            max_price_minor: self.search.as_ref().and_then(|s| s.max_price_minor),
        }
    }
}

impl Reading {
    /// The number read as a quantity is the variant the seller asked for
    /// ("39" when asked which size): no quantity, so no bulk deal either.
    pub fn number_is_the_variant(&mut self) {
        if self.quantity.take().is_some() {
            self.beyond_scope = has_any(&self.said, lex::BEYOND_SCOPE);
        }
    }
}

/// Reads one customer message, with the embedded [`Classifier`] as the
/// second opinion.
pub fn understand(persona: &Persona, content: &MessageContent, text: &str, context: &Context) -> Reading {
    understand_with(persona, content, text, context, Some(Classifier::embedded()))
}

/// Reads one customer message; `second` is asked when the rules only fell
/// back to a search (`None`: the rules alone, as the cross-validation
/// compares).
pub fn understand_with(
    persona: &Persona,
    content: &MessageContent,
    text: &str,
    context: &Context,
    second: Option<&Classifier>,
) -> Reading {
    let language = detect_or(text, context.language);
    let sentiment = sentiment::score(text);
    let mut reading = Reading {
        intent: Intent::Unknown,
        confidence: 0.2,
        sentiment,
        language,
        greets: false,
        tap: None,
        words: Vec::new(),
        category: None,
        search: None,
        fallback: None,
        position: None,
        focus: false,
        quantity: None,
        change: None,
        answer: None,
        asks: Vec::new(),
        order_id: None,
        beyond_scope: false,
        wordless: false,
        said: Vec::new(),
        spec: None,
        questioned: text.contains(['?', '¿']),
        need: None,
    };
    let tapped = match content {
        MessageContent::ButtonReply { id, .. } | MessageContent::ListReply { id, .. } => Tap::parse(id),
        _ => None,
    };
    if let Some(tap) = tapped {
        // A tap's title is the seller's own words, not the customer's: the
        // conversation's language stands.
        reading.language = context.language;
        reading.intent = tap.intent();
        reading.confidence = 1.0;
        reading.sentiment = 0.5;
        if let Tap::Browse(category) = &tap {
            reading.category = Some(category.clone());
        }
        reading.answer = match tap {
            Tap::Yes => Some(true),
            Tap::No => Some(false),
            _ => None,
        };
        reading.tap = Some(tap);
        return reading;
    }
    let words = tokens(text);
    if words.is_empty() {
        reading.wordless = text.trim().is_empty();
        return reading;
    }
    reading.said = words.iter().take(crate::state::WORDS_KEPT).cloned().collect();
    reading.spec = spec(&words);
    read_words(persona, &words, context, second, &mut reading);
    reading
}

/// Reads a message's words in four steps: the details (prices, position,
/// quantity, what is asked), the words left for a search, the intent, and the
/// search to run.
fn read_words(persona: &Persona, words: &[String], context: &Context, second: Option<&Classifier>, r: &mut Reading) {
    let (min, max, price_mask) = read_details(words, context, r);
    r.words = product_words(persona, words, &price_mask, r);
    r.category = persona.category_of(&r.words).map(|c| c.id.clone());
    r.beyond_scope = has_any(words, lex::BEYOND_SCOPE) || r.quantity.is_some_and(|q| q >= BULK_QUANTITY);
    let (mut intent, mut confidence) = intent(words, context, r);
    // Dry skin or damaged hair to treat is never a complaint, whatever the
    // model says; nor is a question about a product ("¿el protector deja la
    // cara blanca?" asks before buying): as for the rules, a complaint asked
    // is one about the customer's own.
    let asked = r.questioned && !has_any(words, MINE);
    let guess = second
        .and_then(|model| second_opinion(model, words, intent, confidence))
        .filter(|guess| *guess != Intent::Complaint || !(treats_a_condition(words, r) || asked));
    if let Some(guess) = guess {
        (intent, confidence) = (guess, SECOND_OPINION_CONFIDENCE);
        match intent {
            Intent::Recommendation => r.need = (!r.words.is_empty()).then(|| r.words.join(" ")),
            Intent::ProductQuestion if r.asks.is_empty() => r.asks.push(Ask::Property(words.to_vec())),
            _ => {}
        }
    }
    r.intent = intent;
    r.confidence = confidence;
    // "I have oily skin, what do you recommend?": the recommendation is for a need.
    if intent == Intent::Recommendation && r.need.is_none() && has_any(words, lex::SITUATION) && !r.words.is_empty() {
        r.need = Some(r.words.join(" "));
    }
    plan_search(persona, words, (min, max), r);
}

/// The customer's own: "my", "mi", "meu".
const MINE: &[&str] = &["my", "mine", "mi", "mis", "meu", "minha", "meus", "minhas"];

/// How sure the rules must be of a reading for the classifier not to be
/// asked: only their last resort, "whatever is left is a search", is below.
const RULES_SURE: f32 = 0.6;
/// How likely the classifier must find another intent to overrule that.
/// On four sets of new phrasings of our own, each read before its rules
/// were written, 0.8 mended the most and broke none (BENCHMARKS.md).
const SECOND_OPINION_MIN: f64 = 0.8;
/// The confidence a reading taken from the classifier carries.
const SECOND_OPINION_CONFIDENCE: f32 = 0.55;

/// The fewest words the classifier is asked about. Naive Bayes is surest
/// of itself on the fewest words, where it knows least: a product's name
/// said alone ("rattan chair", "calça jeans", "down jacket") read as a
/// complaint at 0.98. Every product name and keyword of the five catalogs
/// is read as what it is in `tests/corpus.rs`.
const SECOND_OPINION_WORDS: usize = 4;

/// What the classifier may turn a fallback search into: what the rules
/// most often miss when a customer tells rather than asks (a fault, an
/// order's state, a need, a question). Never a cart change, a checkout or a
/// person asked for: those are acted on at once, and their rules are the
/// best covered.
const SECOND_OPINIONS: [Intent; 4] =
    [Intent::Complaint, Intent::OrderStatus, Intent::Recommendation, Intent::ProductQuestion];

/// How likely the classifier must find a complaint or an order status to
/// take it, from a fallback search or over a search or a product question
/// the rules did read: a customer with a problem should not be answered
/// with a product list, but a product's full name ("Stonewashed Linen Duvet
/// Cover Set") read as a complaint at 0.99 brings in a person for nothing.
const SECOND_OPINION_OVERRULES: f64 = 0.999;

/// The classifier's intent, when the rules only fell back on a search (or
/// read nothing) and the classifier is sure of something else; or when the
/// rules read a search or a question and the classifier is all but certain
/// of a complaint or an order status.
fn second_opinion(model: &Classifier, words: &[String], intent: Intent, confidence: f32) -> Option<Intent> {
    if words.len() < SECOND_OPINION_WORDS {
        return None;
    }
    let weak = confidence <= RULES_SURE;
    let overrulable = matches!(intent, Intent::Browse | Intent::ProductQuestion);
    if !weak && !overrulable {
        return None;
    }
    let guess = model.classify_words(words);
    let grave = matches!(guess.intent, Intent::Complaint | Intent::OrderStatus);
    let sure = if weak {
        SECOND_OPINIONS.contains(&guess.intent)
            && guess.probability >= if grave { SECOND_OPINION_OVERRULES } else { SECOND_OPINION_MIN }
    } else {
        matches!(guess.intent, Intent::Complaint | Intent::OrderStatus) && guess.probability >= SECOND_OPINION_OVERRULES
    };
    (guess.intent != intent && sure).then_some(guess.intent)
}

/// Greeting, focus, order id, position, quantity and what is asked about; the
/// price range, and which words are prices.
fn read_details(words: &[String], context: &Context, r: &mut Reading) -> (Option<i64>, Option<i64>, Vec<bool>) {
    r.greets = has_any(words, lex::GREETING);
    r.focus = has_any(words, lex::FOCUS);
    r.order_id = order_id(words);
    let (min, max, price_mask) = prices(words);
    r.position = position(words, context);
    r.quantity = quantity(words, &price_mask, &explained(words));
    r.asks = asks(words);
    (min, max, price_mask)
}

/// An order id such as ord-20250602-0042, which the tokenizer split in three.
fn order_id(words: &[String]) -> Option<String> {
    let start = words.iter().position(|w| w.starts_with("ord"))?;
    let parts: Vec<&str> = words[start..].iter().take(3).map(String::as_str).collect();
    (parts.len() == 3 && parts[1..].iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))).then(|| parts.join("-"))
}

/// Units of capacity after a number: "256 GB".
const UNITS: &[&str] = &["gb", "tb"];

/// Units of a measure after a number ("120 kg", "40 cm", "500 ml"): a
/// weight or a size, never how many.
#[rustfmt::skip]
const MEASURES: &[&str] = &[
    "kg", "kgs", "kilo", "kilos", "g", "gr", "grams", "gramos", "gramas", "lb", "lbs", "pounds", "libras",
    "cm", "mm", "m", "meters", "metres", "metros", "inch", "inches", "pulgadas", "polegadas", "ml", "l",
    "liters", "litres", "litros", "w", "watts", "mah", "hz", "mp", "hours", "horas", "h", "years", "anos",
    "anos", "days", "dias", "minutes", "minutos", "people", "personas", "pessoas", "players", "jugadores",
    "jogadores", "seats", "plazas", "lugares",
];

/// "the 256 GB one", "el de 1 TB", "o de 256": a capacity, as `256 gb`.
fn spec(words: &[String]) -> Option<String> {
    words
        .windows(2)
        .find_map(|pair| {
            (UNITS.contains(&pair[1].as_str()) && pair[0].chars().all(|c| c.is_ascii_digit()))
                .then(|| format!("{} {}", pair[0], pair[1]))
        })
        .or_else(|| (0..words.len()).find(|&i| bare_capacity(words, i)).map(|i| format!("{} gb", words[i])))
}

/// "de 256", "with 512", "the 128": a storage size said without its unit —
/// one of the sizes storage comes in, after a word that introduces a
/// variant. Never a quantity.
fn bare_capacity(words: &[String], i: usize) -> bool {
    const SIZES: &[&str] = &["32", "64", "128", "256", "512"];
    SIZES.contains(&words[i].as_str())
        && i > 0
        && matches!(words[i - 1].as_str(), "de" | "com" | "con" | "with" | "the" | "o" | "el")
        && !words.get(i + 1).is_some_and(|n| MEASURES.contains(&n.as_str()) || UNITS.contains(&n.as_str()))
}

/// The phrase tables whose words say what the customer wants done, not what
/// they are looking for.
const EXPLAINING: &[&[&str]] = &[
    lex::GREETING,
    lex::THANKS,
    lex::GOODBYE,
    lex::ACKNOWLEDGE,
    lex::HUMAN_STRONG,
    lex::TALK,
    lex::PERSON,
    lex::ORDER_STATUS,
    lex::CHECKOUT,
    lex::VIEW_CART,
    lex::CHANGE_CART,
    lex::ADD,
    lex::RECOMMEND,
    lex::QUESTION,
    lex::BROWSE,
    lex::FOCUS,
    lex::FILLER,
    lex::YES,
    lex::NO,
    lex::SIZE_WORDS,
    lex::COMPLAINT,
    lex::COMPARE,
    lex::PLEASE,
    UNITS,
];

/// Which words an intent phrase or a filler explains. A filler word that
/// opens a model's name is not one: "el nova 12", "o nova 12 azul" ("nova"
/// is "new" in Portuguese), "the new 5".
fn explained(words: &[String]) -> Vec<bool> {
    const ARTICLES: &[&str] =
        &["the", "el", "la", "los", "las", "del", "un", "una", "o", "a", "os", "as", "do", "da", "um", "uma"];
    let mut explained = vec![false; words.len()];
    for table in EXPLAINING {
        for (slot, hit) in explained.iter_mut().zip(covered(words, table)) {
            *slot |= hit;
        }
    }
    for i in 0..words.len() {
        let named = lex::FILLER.contains(&words[i].as_str())
            && words[i].len() > 2
            && words[i].chars().all(char::is_alphabetic)
            && words.get(i + 1).is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            && i.checked_sub(1).is_some_and(|p| ARTICLES.contains(&words[p].as_str()));
        if named {
            explained[i] = false;
        }
    }
    explained
}

/// Whatever no intent phrase, filler, price or position explains is what the
/// customer is looking for.
fn product_words(persona: &Persona, words: &[String], price_mask: &[bool], r: &Reading) -> Vec<String> {
    let explained = explained(words);
    // "which is softer, the percale or the linen?": "softer" asks, it names
    // neither product.
    let comparing = compares_two(words, r);
    let after_size = |i: usize| i > 0 && lex::SIZE_WORDS.contains(&words[i - 1].as_str());
    words
        .iter()
        .enumerate()
        .filter(|&(i, w)| {
            !explained[i]
                && !price_mask[i]
                && !after_size(i)
                && number(w).is_none()
                && small_number_word(w).is_none()
                && (r.position.is_none() || !is_ordinal(w))
                && !persona.is_own_name(w)
                && !(comparing && is_comparative(w, r))
                && !w.starts_with("ord")
                && w.chars().count() > 1
        })
        .map(|(_, w)| w.clone())
        .collect()
}

/// What asking for money back sounds like, in the three languages.
const MONEY_BACK: &[&str] = &[
    "refund*",
    "return*",
    "money back",
    "reembols*",
    "devol*",
    "devuel*",
    "dinero",
    "dinheiro",
    "estorno",
    "troca*",
    "chargeback",
    "dispute",
    "cancel*",
    "lawyer",
    "abogado",
    "advogado",
    "procon",
    "garantia",
    "warranty",
];

/// The intent and how sure of it the brain is, from the first rule that fits;
/// an answer to the seller's question or a cart change is noted on the way.
fn intent(words: &[String], context: &Context, r: &mut Reading) -> (Intent, f32) {
    let has = |phrases: &[&str]| has_any(words, phrases);
    // "aguenta uma pessoa de 120 kg?": a person as a measure asks for no one.
    let people = without_measured_people(words);
    let human = has_any(&people, lex::HUMAN_STRONG) || (has(lex::TALK) && has_any(&people, lex::PERSON));
    let treating = treats_a_condition(words, r);
    let choosing = chooses_for_a_need(words, r);
    // "¿qué le pondrías?", "tenho caspa…, qual shampoo é melhor?": advice
    // asked, before any reading as a question about a product.
    let advice_first = choosing || (treating && has(lex::SITUATION));
    let complaint = ((has(lex::COMPLAINT) || keeps_failing(words) || tells_a_symptom(words, r))
        && !treating
        && !wishes_a_fault_away(words))
        || harms_the_body(words, r);
    let whole_answer =
        |phrases: &[&str]| phrases.iter().any(|p| find_phrase(words, p).is_some_and(|(_, len)| len + 1 >= words.len()));

    if human {
        (Intent::HumanRequest, 0.95)
    } else if r.beyond_scope {
        (if has(MONEY_BACK) || complaint { Intent::Complaint } else { Intent::ProductQuestion }, 0.85)
    } else if context.awaiting_answer && whole_answer(lex::YES) {
        r.answer = Some(true);
        (Intent::Checkout, 0.9)
    } else if context.awaiting_answer && whole_answer(lex::NO) {
        r.answer = Some(false);
        (Intent::Checkout, 0.85)
    } else if complaint {
        (Intent::Complaint, 0.85)
    } else if has(lex::ORDER_STATUS)
        || r.order_id.is_some()
        || (has(lex::PURCHASED) && has(lex::TIME_AGO))
        || (has(lex::ORDER_STATE) && has(lex::ORDER_TOLD))
        || (has(lex::DELIVERY_DATE) && has(MINE))
        || names_my_order(words)
        || asks_when_mine_arrives(words)
    {
        (Intent::OrderStatus, 0.9)
    } else if has(lex::CHECKOUT) {
        (Intent::Checkout, 0.9)
    } else if has(lex::CHANGE_CART) && !asks_what_would(words, r) && !choosing {
        r.change = Some(cart_change(words, r.quantity));
        (Intent::ChangeCart, 0.85)
    } else if (has(lex::ADD)
        && !wants_new_product(words)
        && !asks_what_would(words, r)
        && !choosing
        && !wishes_a_fault_away(words))
        || wants_a_quantity(words)
        || some_of_those(words, r)
        || asks_politely_for_one(words, r)
    {
        (Intent::AddToCart, 0.9)
    } else if has(lex::VIEW_CART) {
        (Intent::ViewCart, 0.9)
    } else if has(lex::THANKS)
        && !has(RECOMMEND_VERBS)
        && (r.words.is_empty() || (words.len() <= 3 && !has(lex::BROWSE) && !has(lex::QUESTION)))
    {
        // "thanks, you're the best" is thanks, not a request for the best.
        if has(lex::GOODBYE) { (Intent::Goodbye, 0.9) } else { (Intent::Thanks, 0.9) }
    } else if has(lex::COMPARE) || compares_two(words, r) {
        // "the nova 12 vs the nova 12 pro": both products, shown to compare.
        (Intent::ProductQuestion, 0.8)
    } else if !advice_first && (about_a_product(words, r) || a_variant_of_one(words, r)) {
        // All its words: "resistente al agua" is also a detail the lexicon knows.
        r.asks.push(Ask::Property(words.to_vec()));
        (Intent::ProductQuestion, 0.8)
    } else if has(lex::RECOMMEND) {
        (Intent::Recommendation, 0.85)
    } else if has(lex::ADVICE)
        || (has(lex::SITUATION) && r.questioned)
        || (treating && (has(lex::HELPS) || (r.questioned && !has(lex::BROWSE))))
        || choosing
        || for_a_purpose(words)
        || which_fits_best(words, r)
    {
        // A need stated: advice on what fits it, not a keyword search.
        r.need = (!r.words.is_empty()).then(|| r.words.join(" "));
        (Intent::Recommendation, 0.8)
    } else if (!r.asks.is_empty() || has(lex::QUESTION))
        && (r.focus || r.position.is_some() || r.words.is_empty() || !has(lex::BROWSE))
    {
        (Intent::ProductQuestion, 0.8)
    } else if has(lex::BROWSE) || has(lex::ADD) || treating {
        // "need a clay mask for my oily skin": a kind of product for a
        // condition, not asked what helps, is looked for.
        (Intent::Browse, 0.85)
    } else if !r.words.is_empty() {
        (Intent::Browse, 0.6)
    } else if r.position.is_some() || r.spec.is_some() {
        (Intent::ProductQuestion, 0.7)
    } else if has(lex::GOODBYE) {
        (Intent::Goodbye, 0.9)
    } else if has(lex::THANKS) {
        (Intent::Thanks, 0.9)
    } else if r.greets {
        (Intent::Greeting, 0.95)
    } else if has(lex::ACKNOWLEDGE) || has(lex::YES) {
        (Intent::Thanks, 0.5)
    } else {
        (Intent::Unknown, 0.2)
    }
}

/// "is the serum cruelty free?", "does the nova 12 support 5G?", "o batom tem
/// no tom Cherry?": a question about one product, named with a definite
/// article or a demonstrative — in English after the verb that opens the
/// question, in Spanish and Portuguese at the start of a question.
fn about_a_product(words: &[String], r: &mut Reading) -> bool {
    const OPENING: &[&str] =
        &["is", "are", "does", "do", "did", "can", "could", "will", "would", "has", "was", "should"];
    const DEFINITE: &[&str] = &["the", "this", "that", "these", "those", "it", "they", "your"];
    const DEFINITE_ES_PT: &[&str] = &[
        "el", "la", "los", "las", "este", "esta", "estos", "estas", "ese", "esa", "esos", "esas", "o", "a", "os", "as",
        "esse", "essa", "esses", "essas",
    ];
    // "¿es apto para piel sensible?", "serve pra pele oleosa?": the product
    // being talked about is the subject the verb leaves out.
    const OPENING_ES_PT: &[&str] = &[
        "es", "son", "sirve", "sirven", "funciona", "viene", "vienen", "trae", "serve", "servem", "vem", "fica",
        "aguenta",
    ];
    // Who a question opened by a verb may be about, other than a product.
    const NOT_A_PRODUCT: &[&str] = &["you", "u", "ya", "i", "we", "there", "anyone", "anybody", "someone"];
    // "¿abyssal depths tiene modo cooperativo?", "o kit vem com necessaire?":
    // a product named, then what it has or is.
    const HAS_OR_IS: &[&str] =
        &["tiene", "trae", "viene", "incluye", "es", "son", "tem", "traz", "vem", "inclui", "e", "sao"];
    let named_then_has = r.questioned
        && r.language != Language::En
        && words
            .first()
            .is_some_and(|w| !lex::FILLER.contains(&w.as_str()) && !lex::QUESTION_WORDS.contains(&w.as_str()))
        && words.iter().skip(1).take(3).any(|w| HAS_OR_IS.contains(&w.as_str()));
    if named_then_has || can_i_use_it(words, r) {
        return true;
    }
    match words {
        [verb, det, _, ..] if OPENING.contains(&verb.as_str()) && DEFINITE.contains(&det.as_str()) => true,
        // "does hollow grove have co-op?": the product named after the verb.
        [verb, name, _, ..]
            if r.questioned
                && r.language == Language::En
                && OPENING.contains(&verb.as_str())
                && !NOT_A_PRODUCT.contains(&name.as_str())
                && !lex::FILLER.contains(&name.as_str()) =>
        {
            true
        }
        [verb, _, ..] if r.questioned && r.language != Language::En && OPENING_ES_PT.contains(&verb.as_str()) => {
            r.focus = true;
            true
        }
        // "o que você recomenda?", "a qué hora…": a question word, not a product.
        [_, what, ..] if lex::QUESTION_WORDS.contains(&what.as_str()) => false,
        // "the bedroom gets hot, what bedding would keep me cool?": what is
        // told first is not what the question asks about.
        [det, _, _, rest @ ..] => {
            r.questioned
                && (det == "the" || (r.language != Language::En && DEFINITE_ES_PT.contains(&det.as_str())))
                && !rest.iter().any(|w| matches!(w.as_str(), "what" | "which" | "cual" | "qual"))
        }
        _ => false,
    }
}

/// "can I use the webcam without installing anything?", "¿se puede lavar
/// la manta?", "posso usar o sérum de dia?": whether the customer may do
/// something with a product is a question about it.
fn can_i_use_it(words: &[String], r: &Reading) -> bool {
    const MAY: &[&str] = &[
        "can i",
        "could i",
        "can we",
        "can you use",
        "is it ok to",
        "puedo",
        "se puede",
        "se pueden",
        "podria",
        "posso",
        "pode",
        "podem",
        "da pra",
        "da para",
    ];
    const DO: &[&str] = &[
        "use",
        "wear",
        "wash",
        "put",
        "charge",
        "connect",
        "pair",
        "leave",
        "iron",
        "dry",
        "mix",
        "apply",
        "usar",
        "lavar",
        "poner",
        "meter",
        "cargar",
        "conectar",
        "planchar",
        "secar",
        "mezclar",
        "aplicar",
        "colocar",
        "carregar",
        "passar",
        "misturar",
        "ser usado",
        "ser usada",
        "ser lavado",
        "ser lavada",
    ];
    r.questioned
        && MAY
            .iter()
            .any(|may| find_phrase(words, may).is_some_and(|(at, len)| at < 2 && has_any(&words[at + len..], DO)))
}

/// "my earbuds keep disconnecting", "se sigue apagando", "fica travando":
/// something that keeps going wrong, said with a verb of repetition and a
/// gerund — but not a customer who keeps looking.
fn keeps_failing(words: &[String]) -> bool {
    const KEEPS: &[&str] = &["keep", "keeps", "kept", "sigue", "siguen", "vive", "vivem", "fica", "ficam", "continua"];
    const BROWSING: &[&str] = &[
        "looking",
        "shopping",
        "browsing",
        "searching",
        "buscando",
        "mirando",
        "viendo",
        "procurando",
        "olhando",
        "vendo",
        "pensando",
        "comprando",
    ];
    words.windows(2).any(|pair| {
        let gerund = pair[1].len() > 5
            && (pair[1].ends_with("ing")
                || pair[1].ends_with("ando")
                || pair[1].ends_with("iendo")
                || pair[1].ends_with("endo")
                || pair[1].ends_with("indo"));
        KEEPS.contains(&pair[0].as_str()) && gerund && !BROWSING.contains(&pair[1].as_str())
    })
}

/// "made my hands itch", "sounds muffled", "llegó con un agujero", "não
/// segura a bateria": a fault told as a plain description — a symptom, a
/// flaw the product came with, a product that wears out too soon. Told, not
/// asked: a question counts only when it is about the customer's own
/// ("why is my headset crackling?"), since "is the balm sticky?" asks
/// before buying.
fn tells_a_symptom(words: &[String], r: &Reading) -> bool {
    // "will these boots hurt my feet?": "my" is the customer's body, and a
    // question about what a product will do is asked before buying.
    const AHEAD: &[&str] = &["will", "would", "could", "might", "can", "do", "does"];
    let ahead = r.questioned && words.first().is_some_and(|w| AHEAD.contains(&w.as_str()));
    let told = !r.questioned || (has_any(words, MINE) && !ahead);
    // "ficou lindo em preto" is a colour chosen, not one turned.
    let colour = |after: &[String]| {
        after.iter().enumerate().any(|(i, w)| {
            has_any(std::slice::from_ref(w), lex::COLOURS)
                && !(i > 0 && matches!(after[i - 1].as_str(), "in" | "en" | "em" | "de"))
        })
    };
    let flawed = soon_after(words, lex::ARRIVED_WITH, 4, |after| has_any(after, lex::FLAW));
    let turned = soon_after(words, lex::TURNED, 3, colour);
    // "graba todo en negro" is a camera that shows nothing; "goes well in
    // black", "ficou lindo em preto" are colours chosen: only words of
    // degree may come between.
    const BETWEEN: &[&str] = &[
        "all",
        "everything",
        "completely",
        "totally",
        "just",
        "a",
        "todo",
        "toda",
        "completamente",
        "tudo",
        "en",
        "em",
    ];
    let blacked_out = soon_after(words, lex::SHOWS, 4, |after| {
        after
            .iter()
            .find(|w| !BETWEEN.contains(&w.as_str()))
            .is_some_and(|w| has_any(std::slice::from_ref(w), lex::BLACKED_OUT))
    });
    // "the seam split", and "they split at the seam".
    let gave_way = soon_after(words, lex::SEAMS, 5, |after| has_any(after, lex::GAVE_WAY))
        || soon_after(words, lex::GAVE_WAY, 3, |after| has_any(after, lex::SEAMS));
    told && (has_any(words, lex::SYMPTOM)
        || flawed
        || turned
        || blacked_out
        || gave_way
        || has_any(words, lex::WEARS_OUT))
}

/// "do you have a conditioner for damaged hair?", "tengo la piel con
/// espinillas, ¿qué uso?", "minha pele tem manchas, o que posso usar": a
/// condition of the customer's own skin, hair or body that they shop to
/// treat, not a fault of a product. It takes a condition, said of the body
/// or after "for"/"para" (or the condition alone, as a catalog keyword is
/// searched), a request for products or advice, and no product blamed: a
/// message opened by "the serum…", or with "made", "gave", "since I
/// started", "me dejó", "deixou", an order or money back, stays a complaint.
fn treats_a_condition(words: &[String], r: &Reading) -> bool {
    const FOR: &[&str] = &["for", "para", "pra"];
    const DEFINITE: &[&str] = &[
        "the", "this", "that", "these", "those", "your", "el", "la", "los", "las", "este", "esta", "ese", "esa", "o",
        "a", "os", "as", "esse", "essa",
    ];
    let Some(at) = words.iter().position(|w| has_any(std::slice::from_ref(w), lex::CONDITIONS)) else {
        return false;
    };
    let opening = words.iter().find(|w| !has_any(std::slice::from_ref(w), lex::GREETING));
    let blamed = opening.is_some_and(|w| DEFINITE.contains(&w.as_str()))
        || has_any(words, lex::CAUSES)
        || has_any(words, lex::PURCHASED)
        || has_any(words, MONEY_BACK)
        || has_any(words, lex::ORDER_STATUS);
    let of_the_body = has_any(words, lex::BODY)
        || words[at.saturating_sub(3)..at].iter().any(|w| FOR.contains(&w.as_str()))
        || words.iter().all(|w| has_any(std::slice::from_ref(w), lex::CONDITIONS) || lex::FILLER.contains(&w.as_str()));
    let asks = r.questioned
        || words.len() <= 3
        || words[at.saturating_sub(3)..at].iter().any(|w| FOR.contains(&w.as_str()))
        || has_any(words, lex::BROWSE)
        || has_any(words, lex::ADVICE)
        || has_any(words, lex::RECOMMEND)
        || has_any(words, lex::HELPS);
    of_the_body && asks && !blamed
}

/// "what would make it cosier?", "what should I put on it?": asking what
/// would do, not putting anything in the cart or changing it.
fn asks_what_would(words: &[String], r: &Reading) -> bool {
    r.questioned && has_any(words, lex::WHAT_WOULD)
}

/// Question words that ask which one, in the three languages.
const WHICH_WORDS: &[&str] = &["which", "what", "cual", "cuales", "que", "qual", "quais"];

/// "¿qué portátil le compro?", "no sé qué llevar", "qual eu compro pra
/// ela?", "what game would he enjoy?": asking which to buy, give, wear or
/// take is asking for advice on a need — a question word, then within three
/// words a verb of choosing, in a question or after "I don't know". Not a
/// size or a detail asked ("¿qué talla me llevo?").
fn chooses_for_a_need(words: &[String], r: &Reading) -> bool {
    const UNSURE: &[&str] =
        &["no se", "nao sei", "no idea", "not sure", "don t know", "dont know", "no tengo idea", "nao faco ideia"];
    (r.questioned || has_any(words, UNSURE))
        && r.asks.is_empty()
        && words.iter().enumerate().any(|(i, w)| {
            WHICH_WORDS.contains(&w.as_str()) && has_any(&words[i + 1..words.len().min(i + 5)], lex::CHOOSE)
        })
}

/// Whether one of `phrases` is followed, within `within` words, by words
/// that `then` accepts.
fn soon_after(words: &[String], phrases: &[&str], within: usize, then: impl Fn(&[String]) -> bool) -> bool {
    (0..words.len()).any(|i| {
        phrases.iter().any(|phrase| {
            find_phrase(&words[i..], phrase).is_some_and(|(at, len)| {
                let after = i + at + len;
                at == 0 && then(&words[after..words.len().min(after + within)])
            })
        })
    })
}

/// "when is my dining table going to be delivered?", "quando que chega o
/// meu shampoo?", "¿cuándo me van a entregar mi protector?": when the
/// customer's own thing arrives — a word for when, the customer's own, and
/// a verb of arriving — asks after an order, whatever the product is.
fn asks_when_mine_arrives(words: &[String]) -> bool {
    // "to my city", "en mi zona": where deliveries go, asked before buying.
    const PLACES: &[&str] = &[
        "city", "area", "zone", "country", "region", "town", "ciudad", "zona", "pais", "region", "cidade", "regiao",
        "bairro", "estado",
    ];
    let mine = words
        .iter()
        .enumerate()
        .any(|(i, w)| MINE.contains(&w.as_str()) && !words.get(i + 1).is_some_and(|n| PLACES.contains(&n.as_str())));
    has_any(words, lex::WHEN) && (mine || has_any(words, lex::TO_ME)) && has_any(words, lex::ARRIVES)
}

/// "the shampoo left my hair drier", "a máscara deixou meu cabelo mais
/// ressecado": a product blamed for a condition of the body is a fault,
/// even with no word for one — told, not asked, and not a search.
fn harms_the_body(words: &[String], r: &Reading) -> bool {
    (!r.questioned || has_any(words, MINE))
        && has_any(words, lex::CONDITIONS)
        && has_any(words, lex::BODY)
        && has_any(words, lex::CAUSES)
        && !has_any(words, lex::BROWSE)
        && !has_any(words, lex::ADVICE)
        && !has_any(words, lex::RECOMMEND)
}

/// "looking for a monitor that doesn't flicker", "zapatos que no me hagan
/// ampollas": a fault the customer wants a product without is what they
/// look for, not a complaint.
fn wishes_a_fault_away(words: &[String]) -> bool {
    let looking = has_any(words, lex::BROWSE) || has_any(words, lex::RECOMMEND) || has_any(words, lex::ADVICE);
    looking && has_any(words, lex::WITHOUT_FAULT)
}

/// "¿tienen las botas chelsea en el 38?", "tem o tênis de lona no tamanho
/// 38?", "do you have the chelsea boots in a 9?": a product already named
/// with a definite article, asked for in a size, a shade or a version, is
/// a question about that product; "¿tienen zapatillas blancas en el 40?"
/// still looks for a kind.
fn a_variant_of_one(words: &[String], r: &Reading) -> bool {
    const DEFINITE: &[&str] = &["the", "el", "la", "los", "las", "o", "a", "os", "as"];
    const IN: &[&str] = &["in", "en", "em", "no", "na"];
    const VARIANT: &[&str] = &[
        "size", "talla", "tamanho", "numero", "number", "shade", "tono", "tom", "version", "versao", "colour", "color",
        "cor", "model", "modelo",
    ];
    let named = lex::BROWSE.iter().find_map(|phrase| {
        find_phrase(words, phrase)
            .map(|(at, len)| at + len)
            .filter(|&end| words.get(end).is_some_and(|w| DEFINITE.contains(&w.as_str())))
    });
    let Some(start) = named else { return false };
    r.questioned
        && words.iter().enumerate().skip(start + 2).any(|(i, w)| {
            IN.contains(&w.as_str())
                && words[i + 1..words.len().min(i + 4)].iter().any(|v| {
                    VARIANT.contains(&v.as_str())
                        || has_any(std::slice::from_ref(v), lex::COLOURS)
                        || v.chars().all(|c| c.is_ascii_digit())
                        || (v.len() == 1 && v.chars().all(char::is_alphabetic) && !matches!(v.as_str(), "a" | "o"))
                        || is_comparative(v, r)
                })
        })
}

/// "my sofa order", "my bath towel order": an order named by what is in it.
fn names_my_order(words: &[String]) -> bool {
    words
        .iter()
        .enumerate()
        .any(|(i, w)| w == "my" && words[i + 1..].iter().take(3).skip(1).any(|n| n == "order" || n == "orders"))
}

/// "which controller is more comfortable for long sessions?", "¿qué sábanas
/// son más frescas?", "qual almofada é mais confortável pra dormir de lado?":
/// a comparative with no second product asks which fits best, a need; so
/// does asking which one lasts or serves ("¿qué zapatos aguantan todo el
/// día?", "quais bolsas servem pra levar o notebook?"). Price
/// is not a need ("which is cheaper?"), nor "what else" ("¿qué más
/// tienen?"). Two products set against each other are compared instead
/// ([`compares_two`], asked first).
fn which_fits_best(words: &[String], r: &Reading) -> bool {
    /// Verbs of lasting, of serving a purpose or of an effect, after a kind
    /// of product.
    const LASTS: &[&str] = &[
        "last",
        "lasts",
        "holds up",
        "hold up",
        "survive*",
        "aguanta",
        "aguantan",
        "dura",
        "duran",
        "resiste",
        "resisten",
        "aguenta",
        "aguentam",
        "duram",
        "resistem",
        "sirve",
        "sirven",
        "serve",
        "servem",
        "leave",
        "leaves",
        "keep",
        "keeps",
        "make",
        "makes",
        "won t",
        "doesn t",
        "don t",
        "deja",
        "dejan",
        "mantiene",
        "mantienen",
        "no deja",
        "no dejan",
        "deixa",
        "deixam",
        "mantem",
        "nao deixa",
        "nao deixam",
        "hold",
        "holds",
        "stay",
        "stays",
        "quedarian",
        "quedaria",
        "ficariam",
        "ficaria",
    ];
    const PRICE: &[&str] = &["cheaper", "pricier", "barato", "barata", "baratos", "baratas", "caro", "cara", "caros"];
    // "minha sala é escura, que luminária deixa ela mais clara?": in a
    // question the question word may follow what the customer tells first.
    let opening = if r.questioned { words.len() } else { 3 };
    let Some(which) = words.iter().take(opening).position(|w| WHICH_WORDS.contains(&w.as_str())) else {
        return false;
    };
    // "which shoes last", "qué zapatos aguantan": a kind of product, then the verb.
    let kind = words.get(which + 1).is_some_and(|w| {
        (!lex::FILLER.contains(&w.as_str()) || matches!(w.as_str(), "one" | "ones"))
            && !lex::QUESTION_WORDS.contains(&w.as_str())
            && !matches!(w.as_str(), "tanto" | "tal" | "long" | "tempo" | "time")
    });
    if r.questioned && kind && has_any(&words[(which + 2).min(words.len())..words.len().min(which + 4)], LASTS) {
        return true;
    }
    words.iter().enumerate().skip(which + 1).any(|(i, w)| {
        let next = words.get(i + 1).map(String::as_str).unwrap_or_default();
        match w.as_str() {
            // "more", "más", "mais" before an adjective; "most" too.
            // Right after the question word it is "what else": "¿qué más tienen?".
            "more" | "most" | "less" | "least" | "mas" | "mais" | "menos" => {
                i > which + 1 && !next.is_empty() && !PRICE.contains(&next) && next != "expensive"
            }
            _ => is_comparative(w, r) && !PRICE.contains(&w.as_str()),
        }
    })
}

/// `words` with each word for a person that is a measure or a count ("uma
/// pessoa de 120 kg", "for two people", "para 4 personas", "per person")
/// blanked out: such a person is not someone asked for.
fn without_measured_people(words: &[String]) -> Vec<String> {
    const PEOPLE: &[&str] = &["person", "people", "persona", "personas", "pessoa", "pessoas"];
    const BEFORE: &[&str] = &["for", "per", "para", "pra", "por"];
    // "a mesa aguenta dois monitores e uma pessoa": what a product bears.
    const BEARS: &[&str] = &[
        "hold", "holds", "support", "supports", "fit", "fits", "seat", "seats", "carry", "carries", "aguanta",
        "aguantan", "soporta", "soportan", "resiste", "aguenta", "aguentam", "suporta", "suportam", "cabe", "caben",
        "cabem",
    ];
    let counted = |i: usize| {
        let prev = i.checked_sub(1).map(|p| words[p].as_str()).unwrap_or_default();
        let next = words.get(i + 1).map(String::as_str).unwrap_or_default();
        let after_next = words.get(i + 2).map(String::as_str).unwrap_or_default();
        // Digits or "two" and up: "una persona" is someone, "dos personas" a count.
        let count =
            |w: &str| w.starts_with(|c: char| c.is_ascii_digit()) || small_number_word(w).is_some_and(|n| n > 1);
        // "de 120 kg", "of 90 kilos", "who weighs".
        let measured = matches!(next, "de" | "of" | "who" | "que") && (count(after_next) || after_next == "weighs");
        measured
            || count(next)
            || count(prev)
            || BEFORE.contains(&prev)
            || words[..i].iter().any(|w| BEARS.contains(&w.as_str()))
    };
    words
        .iter()
        .enumerate()
        .map(|(i, w)| if PEOPLE.contains(&w.as_str()) && counted(i) { String::new() } else { w.clone() })
        .collect()
}

/// "which is softer, the percale or the linen?", "¿cuál es más suave, la
/// sábana o el edredón?", "qual é mais leve, o x ou o y?": two products set
/// against each other by a comparative, with no word for comparing.
fn compares_two(words: &[String], r: &Reading) -> bool {
    const WHICH: &[&str] = &["which", "cual", "qual", "what"];
    let Some(which) = words.iter().take(3).position(|w| WHICH.contains(&w.as_str())) else {
        return false;
    };
    let Some(degree) = words[which..].iter().position(|w| is_comparative(w, r)).map(|p| p + which) else {
        return false;
    };
    let or = |w: &String| w == "or" || w == "ou" || (r.language == Language::Es && (w == "o" || w == "u"));
    words[degree..].iter().position(or).is_some_and(|p| degree + p + 1 < words.len() && p > 0)
}

/// "more", "mejor", "softer", "cheaper": a degree of comparison.
fn is_comparative(word: &str, r: &Reading) -> bool {
    const MORE: &[&str] =
        &["more", "less", "better", "worse", "mas", "menos", "mejor", "peor", "mais", "melhor", "pior"];
    MORE.contains(&word) || (r.language == Language::En && lex::COMPARATIVES.contains(&word))
}

/// "busco un juego tranquilo para relajarme", "a dress for dancing all
/// night", "algo pra ler na cama": what it is for, said with a verb and a
/// situation (words after the verb, or the customer as its object) — a
/// need to advise on. A bare activity names a kind of product ("a mic for
/// streaming", "zapatillas para correr") and is searched.
fn for_a_purpose(words: &[String]) -> bool {
    /// Nouns and adjectives that end like an infinitive: who or where a
    /// product is for, not what it is for.
    const NOT_VERBS: &[&str] = &[
        "mujer",
        "mulher",
        "hogar",
        "lugar",
        "collar",
        "colar",
        "bar",
        "mar",
        "par",
        "altar",
        "militar",
        "familiar",
        "escolar",
        "solar",
        "popular",
        "similar",
        "regular",
        "particular",
        "exterior",
        "interior",
        "ver",
        "comprar",
        "pagar",
        "llevar",
        "levar",
        "regalar",
        "presentear",
        "dar",
        "por",
        "ter",
        "tener",
        "ser",
        "estar",
    ];
    /// Verbs so general that a bare one names a kind of product ("un juego
    /// para jugar online"): a need only with a longer situation ("para
    /// jugar con mis hijos en el sofá").
    const GENERAL: &[&str] = &["usar", "jugar", "jogar", "hacer", "fazer", "vestir", "poner"];
    const NOT_GERUNDS: &[&str] = &["everything", "anything", "something", "nothing", "morning", "evening", "clothing"];
    // "how to use it" asks about a product.
    let how = has_any(words, &["how", "como"]);
    words.windows(2).enumerate().any(|(i, pair)| {
        let (to, what) = (pair[0].as_str(), pair[1].as_str());
        let situated = i + 2 < words.len() && (!GENERAL.contains(&what) || i + 3 < words.len());
        let reflexive = ["arme", "erme", "irme", "arse", "erse", "irse"]
            .iter()
            .any(|end| what.len() > end.len() + 1 && what.ends_with(end));
        let infinitive =
            ["ar", "er", "ir"].iter().any(|end| what.len() > end.len() + 1 && what.ends_with(end)) && situated;
        (matches!(to, "para" | "pra") && (infinitive || reflexive) && !NOT_VERBS.contains(&what))
            || (to == "for" && what.len() > 5 && what.ends_with("ing") && situated && !NOT_GERUNDS.contains(&what))
            // "something comfy to travel in", "a bag to carry my laptop".
            || (to == "to" && lex::PURPOSE_VERBS.contains(&what) && situated && !how)
    })
}

/// How a message that changes the cart changes it.
fn cart_change(words: &[String], quantity: Option<u32>) -> CartChange {
    let has = |phrases: &[&str]| has_any(words, phrases);
    if has(&["empty", "clear my", "clear the", "vacia", "vaciar", "esvaziar", "esvazia"]) {
        CartChange::Empty
    } else if let Some(n) = quantity.filter(|_| {
        !has(&[
            "remove", "delete", "take out", "quita*", "saca*", "elimina*", "borra*", "remov*", "tira*", "exclu*",
            "apaga*",
        ])
    }) {
        CartChange::SetQuantity(n)
    } else if has(&["only one", "just one", "solo uno", "solo una", "so um", "so uma"]) {
        CartChange::SetQuantity(1)
    } else {
        CartChange::Remove
    }
}

/// The catalog search for an intent that looks for products, with a looser
/// one to fall back on.
fn plan_search(persona: &Persona, words: &[String], (min, max): (Option<i64>, Option<i64>), r: &mut Reading) {
    let looks_for_products =
        matches!(r.intent, Intent::Browse | Intent::Recommendation | Intent::ProductQuestion | Intent::AddToCart)
            && !r.beyond_scope;
    let has_filter = min.is_some() || max.is_some();
    if !looks_for_products
        || (r.words.is_empty() && !has_filter && !(r.intent == Intent::Browse && r.category.is_some()))
    {
        return;
    }
    let only_category = r.category.is_some()
        && persona.category(r.category.as_deref().unwrap_or_default()).is_some_and(|c| {
            r.words.iter().all(|w| persona.category_of(std::slice::from_ref(w)).is_some_and(|x| x.id == c.id))
        });
    let plan = SearchPlan {
        text: (!r.words.is_empty() && !only_category).then(|| r.words.join(" ")),
        category: if only_category { r.category.clone() } else { None },
        min_price_minor: min,
        max_price_minor: max,
        partial: false,
    };
    let compared = r.intent == Intent::ProductQuestion && (has_any(words, lex::COMPARE) || compares_two(words, r));
    r.fallback = if compared || r.asks.iter().any(|a| matches!(a, Ask::Property(_))) {
        // A question names the product with some words and asks with the
        // others, a comparison names two products: most of the words will do.
        Some(SearchPlan { partial: true, ..plan.clone() })
    } else {
        fallback(&plan, r, words)
    };
    r.search = Some(plan);
}

const RECOMMEND_VERBS: &[&str] = &["recommend*", "suggest*", "recomien*", "recomend*", "sugier*", "sugere", "indica"];

/// "quiero dos", "quero 2", "I want three": a quantity of what is shown.
fn wants_a_quantity(words: &[String]) -> bool {
    words.windows(2).any(|pair| {
        ["want", "quiero", "quero", "dame", "give"].contains(&pair[0].as_str())
            && (pair[1].chars().all(|c| c.is_ascii_digit()) || small_number_word(&pair[1]).is_some_and(|n| n > 1))
    })
}

/// "3 of the cables", "4 de esas copas", "2 desses": a number of something
/// already seen, said as a request rather than asked about.
fn some_of_those(words: &[String], r: &Reading) -> bool {
    const DEFINITE_AFTER_OF: &[&str] =
        &["the", "those", "these", "them", "esas", "esos", "estas", "estos", "los", "las", "ellos", "ellas"];
    const CONTRACTED: &[&str] = &["desses", "dessas", "destes", "destas", "dos", "das", "deles", "delas"];
    if r.questioned || r.quantity.is_none_or(|q| q < 2) {
        return false;
    }
    words.windows(3).any(|w| {
        let counted = w[0].chars().all(|c| c.is_ascii_digit()) || small_number_word(&w[0]).is_some_and(|n| n > 1);
        counted
            && ((matches!(w[1].as_str(), "of" | "de") && DEFINITE_AFTER_OF.contains(&w[2].as_str()))
                || CONTRACTED.contains(&w[1].as_str()))
    })
}

/// "the white one, please", "el mando en blanco, por favor", "o 38 por
/// favor": a product already talked about, named with a definite article and
/// asked for politely with no verb, is the customer taking it ("a dress,
/// please" still looks for one).
fn asks_politely_for_one(words: &[String], r: &Reading) -> bool {
    const DEFINITE: &[&str] = &["the", "this", "that", "these", "those"];
    const DEFINITE_ES_PT: &[&str] = &[
        "el", "la", "los", "las", "este", "esta", "estos", "estas", "ese", "esa", "esos", "esas", "o", "a", "os", "as",
        "esse", "essa", "esses", "essas",
    ];
    let opening =
        words.iter().find(|w| !has_any(std::slice::from_ref(w), lex::GREETING) && !lex::YES.contains(&w.as_str()));
    let definite = opening.is_some_and(|w| {
        DEFINITE.contains(&w.as_str()) || (r.language != Language::En && DEFINITE_ES_PT.contains(&w.as_str()))
    });
    definite
        && has_any(words, lex::PLEASE)
        && !r.questioned
        && !r.asks.iter().any(|a| matches!(a, Ask::Price | Ask::Stock))
        && !has_any(words, lex::BROWSE)
}

/// A quantity from which an order is a bulk deal, for a person to price.
const BULK_QUANTITY: u32 = 20;

/// "I want a dress" looks for a product; "I want it" / "I want the second
/// one" adds one already shown.
fn wants_new_product(words: &[String]) -> bool {
    const ARTICLES: &[&str] =
        &["a", "an", "some", "un", "una", "unos", "unas", "um", "uma", "uns", "umas", "algo", "something", "any"];
    let adds_by_wanting = has_any(words, &["i want", "quiero", "quero", "eu quero", "give me", "dame", "me ve"]);
    let explicit = has_any(
        words,
        &[
            "add",
            "agreg*",
            "anad*",
            "adicion*",
            "coloca*",
            "coloque",
            "pon",
            "ponme",
            "put it",
            "put them",
            "i ll take",
            "ill take",
            "me lo llevo",
            "me la llevo",
            "vou levar",
            "cart",
            "carrito",
            "carrinho",
        ],
    );
    adds_by_wanting
        && !explicit
        && words.windows(2).any(|pair| {
            ["want", "quiero", "quero", "me", "give", "dame"].contains(&pair[0].as_str())
                && ARTICLES.contains(&pair[1].as_str())
                // "quero a capa": in Portuguese "a" is "the", a product already seen.
                && !(pair[1] == "a" && ["quiero", "quero", "dame"].contains(&pair[0].as_str()))
        })
}

fn is_ordinal(word: &str) -> bool {
    lex::ORDINALS.iter().chain(lex::AMBIGUOUS_ORDINALS).any(|(w, _)| *w == word)
}

/// "the second one", "el último", "number 3", "#2", "option 1".
fn position(words: &[String], context: &Context) -> Option<Position> {
    let to_position = |n: u32| if n == 0 { Position::Last } else { Position::Nth(n) };
    for (i, word) in words.iter().enumerate() {
        if let Some((_, n)) = lex::ORDINALS.iter().find(|(w, _)| w == word) {
            // "second hand", "primera vez": an ordinal before a noun that is
            // not "one" is not a position; accept it with "one", an article
            // before it, or at the end of the message.
            let next = words.get(i + 1).map(String::as_str);
            let prev = i.checked_sub(1).map(|p| words[p].as_str());
            let pointed =
                matches!(
                    next,
                    None | Some(
                        "one"
                            | "uno"
                            | "una"
                            | "opcion"
                            | "opcao"
                            | "item"
                            | "product"
                            | "producto"
                            | "produto"
                            | "please"
                            | "por"
                            | "pls"
                    )
                ) || matches!(prev, Some("the" | "el" | "la" | "lo" | "o" | "a" | "do" | "da" | "del" | "al"));
            if pointed {
                return Some(to_position(*n));
            }
        }
        if let Some((_, n)) = lex::AMBIGUOUS_ORDINALS.iter().find(|(w, _)| w == word)
            && context.shown >= 4
            && words.len() <= 4
        {
            return Some(to_position(*n));
        }
        if lex::POSITION_WORDS.contains(&word.as_str())
            && let Some(n) = words.get(i + 1).and_then(|w| w.parse::<u32>().ok())
            && (1..=10).contains(&n)
        {
            return Some(Position::Nth(n));
        }
    }
    None
}

/// A quantity: "add 2", "two of them", "make it 3", "x2". Not a position,
/// a price or a size. "one" in its forms is left out: it is an article as
/// often as a number ("una camisa", "um tênis"), and one is the default.
fn quantity(words: &[String], prices: &[bool], explained: &[bool]) -> Option<u32> {
    for (i, word) in words.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| words[p].as_str()).unwrap_or_default();
        let before_prev = i.checked_sub(2).map(|p| words[p].as_str()).unwrap_or_default();
        let next = words.get(i + 1).map(String::as_str).unwrap_or_default();
        // "en el 38", "in a 38", "tem no 38": a size; "120 kg": a measure;
        // "nova 12", "fit band 3": a model's number, after a word no phrase
        // explains.
        let size = prev == "in"
            || matches!(prev, "no" | "na" | "num" | "numa")
            || (matches!(prev, "el" | "la" | "a" | "an" | "o") && matches!(before_prev, "en" | "in" | "em"));
        let model = i > 0
            && !explained[i - 1]
            && prev.len() > 1
            && prev.chars().all(char::is_alphabetic)
            && small_number_word(prev).is_none();
        if prices[i]
            || bare_capacity(words, i)
            || lex::SIZE_WORDS.contains(&prev)
            || lex::POSITION_WORDS.contains(&prev)
            || UNITS.contains(&next)
            || MEASURES.contains(&next)
            || ((size || model) && word.chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let value = if let Some(n) = word.strip_prefix('x').and_then(|n| n.parse::<u32>().ok()) {
            Some(n)
        } else if let Some(n) = word.strip_suffix('x').and_then(|n| n.parse::<u32>().ok()) {
            Some(n)
        } else if word.chars().all(|c| c.is_ascii_digit()) {
            word.parse::<u32>().ok()
        } else {
            small_number_word(word).filter(|&n| n > 1)
        };
        if let Some(n) = value.filter(|&n| (1..=999).contains(&n)) {
            return Some(n);
        }
    }
    None
}

/// Price bounds in minor units, and which words they took.
fn prices(words: &[String]) -> (Option<i64>, Option<i64>, Vec<bool>) {
    let mut mask = vec![false; words.len()];
    let mut min = None;
    let mut max = None;
    // "between 20 and 50", "entre 20 y 50", "entre 20 e 50".
    for i in 0..words.len() {
        if matches!(words[i].as_str(), "between" | "entre")
            && let Some((low, low_end)) = amount_at(words, i + 1)
            && let Some(and) = words.get(low_end)
            && matches!(and.as_str(), "and" | "y" | "e" | "a")
            && let Some((high, high_end)) = amount_at(words, low_end + 1)
        {
            min = Some(low);
            max = Some(high);
            mask[i..high_end].fill(true);
        }
    }
    for (table, slot) in [(lex::PRICE_MAX, &mut max), (lex::PRICE_MIN, &mut min)] {
        for phrase in table {
            if let Some((start, len)) = find_phrase(words, phrase)
                && let Some((amount, end)) = amount_at(words, start + len)
            {
                slot.get_or_insert(amount);
                mask[start..end].fill(true);
            }
        }
    }
    // A bare "$50" or "50 dollars" is a budget too.
    for i in 0..words.len() {
        if mask[i] {
            continue;
        }
        let next = words.get(i + 1).map(String::as_str).unwrap_or_default();
        if let Some(n) = number(&words[i]).filter(|_| words[i].starts_with(|c: char| c.is_ascii_digit()))
            && ["dollars", "dolares", "reais", "bucks", "usd", "pesos", "euros"].contains(&next)
        {
            max.get_or_insert((n * 100.0).round() as i64);
            mask[i] = true;
            mask[i + 1] = true;
        }
    }
    (min, max, mask)
}

/// An amount starting at `start` (currency words around it allowed): its
/// value in minor units and where it ends.
fn amount_at(words: &[String], start: usize) -> Option<(i64, usize)> {
    let mut i = start;
    while words.get(i).is_some_and(|w| lex::CURRENCY.contains(&w.as_str())) {
        i += 1;
    }
    let value = number(words.get(i)?)?;
    if !words[i].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    i += 1;
    while words.get(i).is_some_and(|w| lex::CURRENCY.contains(&w.as_str())) {
        i += 1;
    }
    Some(((value * 100.0).round() as i64, i))
}

fn asks(words: &[String]) -> Vec<Ask> {
    let mut asks = Vec::new();
    if has_any(words, lex::PRICE_QUESTION) {
        asks.push(Ask::Price);
    }
    if has_any(words, lex::STOCK_QUESTION) {
        asks.push(Ask::Stock);
    }
    for (phrases, keys) in lex::ASPECTS {
        if has_any(words, phrases) {
            asks.push(Ask::Detail(keys.iter().map(|k| (*k).to_owned()).collect()));
        }
    }
    // "tell me more", "details": everything worth quoting.
    if asks.is_empty()
        && has_any(
            words,
            &[
                "details",
                "tell me more",
                "more info",
                "more about",
                "specs",
                "specifications",
                "detalles",
                "cuentame mas",
                "mas info",
                "mas informacion",
                "detalhes",
                "me fala mais",
                "mais info",
                "mais informacoes",
                "what is it",
            ],
        )
    {
        asks.push(Ask::Detail(Vec::new()));
    }
    asks
}

/// The wider search to try when `plan` finds nothing: the category alone
/// when the words name one, else the head noun — in English the last word
/// before any "for"/"with" ("moisturizer for dry skin", "white linen
/// dress"), in Spanish and Portuguese the first ("vestido de lino blanco").
fn fallback(plan: &SearchPlan, reading: &Reading, all_words: &[String]) -> Option<SearchPlan> {
    if reading.words.len() < 2 {
        return None;
    }
    let wider = match &reading.category {
        Some(category) => SearchPlan { category: Some(category.clone()), ..SearchPlan::default() },
        None => {
            let head = match reading.language {
                Language::En => {
                    let cut =
                        all_words.iter().position(|w| MODIFIER_START.contains(&w.as_str())).unwrap_or(all_words.len());
                    let before: Vec<&String> = all_words[..cut].iter().filter(|w| reading.words.contains(w)).collect();
                    before.last().copied().or(reading.words.last())
                }
                Language::Es | Language::Pt => reading.words.first(),
            }?;
            SearchPlan { text: Some(head.clone()), ..SearchPlan::default() }
        }
    };
    let wider = SearchPlan { min_price_minor: plan.min_price_minor, max_price_minor: plan.max_price_minor, ..wider };
    (wider != *plan).then_some(wider)
}

/// Words after which an English noun phrase turns into what it is for.
const MODIFIER_START: &[&str] = &["for", "with", "that", "to", "from"];

#[cfg(test)]
mod tests {
    use super::*;

    fn persona() -> Persona {
        Persona::parse(
            r#"
            brand = "fashion"
            agent = "Luna"
            store = "Luna Fashion"
            style = "stylish"
            [[categories]]
            id = "shoes"
            names = { en = "Shoes", es = "Zapatos", pt = "Sapatos" }
            words = ["shoes", "zapatos", "sapatos", "footwear", "calzado", "calçados"]
            [[categories]]
            id = "dresses"
            names = { en = "Dresses", es = "Vestidos", pt = "Vestidos" }
            words = ["dress", "vestido"]
            "#,
        )
        .unwrap()
    }

    fn read(text: &str) -> Reading {
        read_in(text, Context { shown: 3, ..Context::default() })
    }

    fn read_in(text: &str, context: Context) -> Reading {
        let content = MessageContent::Text { body: text.into() };
        understand(&persona(), &content, text, &context)
    }

    #[test]
    fn greetings_in_three_languages() {
        for text in ["Hi Luna!", "hola", "Oi, tudo bem?", "good morning", "buenas tardes"] {
            let r = read(text);
            assert_eq!(r.intent, Intent::Greeting, "{text}: {r:?}");
            assert!(r.search.is_none(), "{text}");
        }
        assert_eq!(read("Oi, tudo bem?").language, Language::Pt);
    }

    #[test]
    fn searches_keep_only_the_product_words() {
        let r = read("Hi! Do you have white sneakers?");
        assert_eq!(r.intent, Intent::Browse);
        assert!(r.greets);
        assert_eq!(r.search.unwrap().text.as_deref(), Some("white sneakers"));
        let r = read("busco unas zapatillas blancas para mi novia");
        assert_eq!(r.search.unwrap().text.as_deref(), Some("zapatillas blancas"));
        assert_eq!(r.language, Language::Es);
        let r = read("vocês têm vestido de festa?");
        assert_eq!(r.search.unwrap().text.as_deref(), Some("vestido festa"));
        assert_eq!(r.language, Language::Pt);
    }

    #[test]
    fn a_category_alone_browses_the_category() {
        let r = read("show me shoes");
        let plan = r.search.unwrap();
        assert_eq!(plan.category.as_deref(), Some("shoes"));
        assert_eq!(plan.text, None);
        let r = read("quiero ver zapatos de cuero");
        let plan = r.search.unwrap();
        assert_eq!(plan.text.as_deref(), Some("zapatos cuero"));
        assert_eq!(r.fallback.unwrap().category.as_deref(), Some("shoes"));
    }

    #[test]
    fn prices_become_filters() {
        let plan = read("dresses under $80").search.unwrap();
        assert_eq!(plan.max_price_minor, Some(8000));
        assert_eq!(plan.category.as_deref(), Some("dresses"));
        let plan = read("vestidos entre 50 y 100 dólares").search.unwrap();
        assert_eq!((plan.min_price_minor, plan.max_price_minor), (Some(5000), Some(10000)));
        let plan = read("tênis até 60 reais").search.unwrap();
        assert_eq!(plan.max_price_minor, Some(6000));
        assert_eq!(plan.text.as_deref(), Some("tenis"));
    }

    #[test]
    fn positions_quantities_and_focus() {
        let r = read("the second one");
        assert_eq!(r.intent, Intent::ProductQuestion);
        assert_eq!(r.position, Some(Position::Nth(2)));
        let r = read("add 2");
        assert_eq!((r.intent, r.quantity, r.position), (Intent::AddToCart, Some(2), None));
        let r = read("add two of the first one");
        assert_eq!((r.quantity, r.position), (Some(2), Some(Position::Nth(1))));
        let r = read("me llevo el último");
        assert_eq!((r.intent, r.position), (Intent::AddToCart, Some(Position::Last)));
        let r = read("quanto custa o segundo?");
        assert_eq!(
            (r.intent, r.position, r.asks.clone()),
            (Intent::ProductQuestion, Some(Position::Nth(2)), vec![Ask::Price])
        );
        let r = read("how much is it");
        assert!(r.focus && r.asks == [Ask::Price] && r.intent == Intent::ProductQuestion);
        let r = read("number 3 please");
        assert_eq!(r.position, Some(Position::Nth(3)));
    }

    #[test]
    fn wanting_a_product_searches_and_wanting_it_adds() {
        assert_eq!(read("I want a dress").intent, Intent::Browse);
        assert_eq!(read("I want it").intent, Intent::AddToCart);
        assert_eq!(read("quiero un vestido").intent, Intent::Browse);
        assert_eq!(read("lo quiero").intent, Intent::AddToCart);
        assert_eq!(read("quero esse").intent, Intent::AddToCart);
        assert_eq!(read("add the leather jacket to my cart").intent, Intent::AddToCart);
        assert_eq!(read("add the leather jacket to my cart").search.unwrap().text.as_deref(), Some("leather jacket"));
    }

    #[test]
    fn cart_checkout_and_orders() {
        assert_eq!(read("what's in my cart").intent, Intent::ViewCart);
        assert_eq!(read("mi carrito").intent, Intent::ViewCart);
        let r = read("remove the shoes");
        assert_eq!((r.intent, r.change), (Intent::ChangeCart, Some(CartChange::Remove)));
        assert_eq!(r.words, ["shoes"]);
        assert_eq!(read("make it 3").change, Some(CartChange::SetQuantity(3)));
        assert_eq!(read("vaciar el carrito").change, Some(CartChange::Empty));
        assert_eq!(read("checkout").intent, Intent::Checkout);
        assert_eq!(read("quero fechar o pedido").intent, Intent::Checkout);
        assert_eq!(read("where is my order?").intent, Intent::OrderStatus);
        assert_eq!(read("cadê meu pedido").intent, Intent::OrderStatus);
        assert_eq!(read("status of ord-20250602-0042").order_id.as_deref(), Some("ord-20250602-0042"));
    }

    #[test]
    fn answers_count_only_when_a_question_waits() {
        let waiting = Context { awaiting_answer: true, ..Context::default() };
        assert_eq!(read_in("yes", waiting).answer, Some(true));
        assert_eq!(read_in("sí, dale", waiting).answer, Some(true));
        assert_eq!(read_in("não", waiting).answer, Some(false));
        assert_eq!(read("yes").answer, None);
    }

    #[test]
    fn people_scope_and_complaints() {
        assert_eq!(read("can I talk to a human?").intent, Intent::HumanRequest);
        assert_eq!(read("quiero hablar con una persona").intent, Intent::HumanRequest);
        assert_eq!(read("quero falar com um atendente").intent, Intent::HumanRequest);
        let r = read("I want a refund for my order");
        assert!(r.beyond_scope && r.intent == Intent::Complaint, "{r:?}");
        let r = read("do you do wholesale prices for 50 units?");
        assert!(r.beyond_scope, "{r:?}");
        assert!(read("my dress arrived broken").intent == Intent::Complaint);
        assert!(!read("my dress arrived broken").beyond_scope);
    }

    #[test]
    fn taps_say_exactly_what_to_do() {
        for tap in [Tap::Add("fsh-001".into()), Tap::Browse("shoes".into()), Tap::Checkout, Tap::Yes, Tap::Human] {
            assert_eq!(Tap::parse(&tap.id()), Some(tap));
        }
        assert_eq!(Tap::parse("add:"), None);
        assert_eq!(Tap::parse("bogus"), None);
        let content = MessageContent::ButtonReply { id: "add:fsh-022".into(), title: "Add to cart".into() };
        let r = understand(&persona(), &content, "Add to cart", &Context::default());
        assert_eq!((r.intent, r.confidence), (Intent::AddToCart, 1.0));
        assert_eq!(r.entities().product_id.unwrap(), "fsh-022");
        let spanish = Context { language: Language::Es, ..Context::default() };
        let content = MessageContent::ButtonReply { id: "yes".into(), title: "Place order".into() };
        assert_eq!(understand(&persona(), &content, "Place order", &spanish).language, Language::Es);
    }

    #[test]
    fn complaints_without_a_fault_word_in_three_languages() {
        for text in [
            "I'm so fed up, the checkout keeps failing",
            "the box arrived open and the bottle leaked",
            "estoy harta, la página no carga",
            "la caja llegó abierta",
            "tô de saco cheio desse site",
            "o perfume chegou pela metade",
        ] {
            assert_eq!(read(text).intent, Intent::Complaint, "{text}");
        }
    }

    #[test]
    fn the_state_of_a_purchase_is_an_order_status() {
        for text in ["what's the status of my purchase?", "¿qué pasó con mi compra?", "qual o status da minha compra?"]
        {
            assert_eq!(read(text).intent, Intent::OrderStatus, "{text}");
        }
        // Paying for the purchase is still checkout.
        assert_eq!(read("complete my purchase").intent, Intent::Checkout);
    }

    #[test]
    fn taking_said_casually_or_politely_adds() {
        for text in ["I'll go with the black one", "I'll grab the hoodie", "two of those", "dame 2 de esos"] {
            assert_eq!(read(text).intent, Intent::AddToCart, "{text}");
        }
        let spanish = Context { language: Language::Es, shown: 3, ..Context::default() };
        for text in ["the black one, please", "la chaqueta en negro, por favor", "o tênis branco, por favor"] {
            assert_eq!(read_in(text, spanish).intent, Intent::AddToCart, "{text}");
        }
        // Without an article it is still a search; asked, a question.
        assert_ne!(read("a dress, please").intent, Intent::AddToCart);
        assert_ne!(read("the black one, please?").intent, Intent::AddToCart);
        assert_ne!(read("two of the dresses are nice, which is cheaper?").intent, Intent::AddToCart);
    }

    #[test]
    fn comparisons_and_casual_prices_are_product_questions() {
        for text in [
            "what's the difference between the orbit and the orbit pro?",
            "compara el vestido corto con el largo",
            "qual é a diferença entre os dois?",
            "quanto tá o vestido?",
            "¿a cuánto está la chaqueta?",
        ] {
            assert_eq!(read(text).intent, Intent::ProductQuestion, "{text}");
        }
        assert_eq!(read("quanto tá o vestido?").asks, vec![Ask::Price]);
    }

    #[test]
    fn a_symptom_is_a_complaint_in_three_languages() {
        for text in [
            "my speaker keeps cutting out",
            "this lotion gave me a rash",
            "el cargador se calienta demasiado",
            "la crema me dio alergia",
            "o mouse fica travando",
            "o batom irritou meus lábios",
        ] {
            assert_eq!(read(text).intent, Intent::Complaint, "{text}");
        }
        assert_ne!(read("I'll keep looking, thanks").intent, Intent::Complaint);
        assert_ne!(read("sigo buscando unas botas").intent, Intent::Complaint);
    }

    #[test]
    fn a_purchase_told_with_its_time_asks_after_the_order() {
        for text in [
            "I bought a scarf yesterday, where is it?",
            "pedí un vestido hace una semana y nada",
            "comprei uma bolsa ontem, alguma novidade?",
            "any news on the sandals?",
        ] {
            assert_eq!(read(text).intent, Intent::OrderStatus, "{text}");
        }
    }

    #[test]
    fn people_as_a_measure_are_not_asked_for() {
        for text in [
            "is the sofa big enough for 3 people?",
            "¿la cama aguanta a una persona de 100 kilos?",
            "a rede aguenta uma pessoa grande?",
        ] {
            let r = read(text);
            assert_ne!(r.intent, Intent::HumanRequest, "{text}");
            assert!(!r.beyond_scope, "{text}: a weight is not a bulk order");
        }
        assert_eq!(read("quero falar com uma pessoa").intent, Intent::HumanRequest);
        assert_eq!(read("necesito una persona que me ayude").intent, Intent::HumanRequest);
    }

    #[test]
    fn two_products_set_against_each_other_are_compared() {
        for text in [
            "which is cheaper, the tote or the crossbody?",
            "¿cuál es más largo, el abrigo o la gabardina?",
            "qual é mais leve, a bota ou o tênis?",
        ] {
            assert_eq!(read(text).intent, Intent::ProductQuestion, "{text}");
        }
    }

    #[test]
    fn what_a_product_is_for_is_a_need_in_three_languages() {
        for text in [
            "I need shoes for hiking in the snow",
            "busco unos zapatos cómodos para trabajar de pie",
            "procuro uma bolsa pra viajar de avião",
        ] {
            let r = read(text);
            assert_eq!(r.intent, Intent::Recommendation, "{text}");
            assert!(r.need.is_some(), "{text}");
        }
        // Who it is for is not what it is for, and a bare activity is a kind of product.
        assert_eq!(read("busco zapatos para mujer").intent, Intent::Browse);
        assert_eq!(read("I need shoes for running").intent, Intent::Browse);
    }

    #[test]
    fn a_models_number_or_a_size_is_not_a_quantity() {
        let r = read("quero o nova 12 azul");
        assert_eq!((r.intent, r.quantity), (Intent::AddToCart, None));
        assert!(r.words.contains(&"nova".to_owned()), "{:?}", r.words);
        let r = read("¿tienen las botas en el 38?");
        assert_eq!(r.quantity, None);
        assert!(!r.beyond_scope && r.search.is_some(), "{r:?}");
        assert_eq!(read("do you have it in a 40?").quantity, None);
        assert_eq!(read("add 2 to my cart").quantity, Some(2));
        assert_eq!(read("quiero los vestidos, los verdes").intent, Intent::AddToCart);
    }

    #[test]
    fn a_fault_told_as_a_description_is_a_complaint() {
        for text in [
            // A symptom, of the product or on the customer.
            "the strap smells like chemicals",
            "my scarf left my neck with red bumps",
            "la falda hace ruido al caminar",
            "la falda me dejó la piel con picor",
            "a bolsa tem um cheiro estranho",
            "o vestido deixou minha pele com vermelhidão",
            // A flaw it came with.
            "the jacket came with a hole in the lining",
            "el bolso llegó con un rayón",
            "o tênis veio com uma mancha",
            // A product that wears out too soon.
            "the belt buckle doesn't hold",
            "el tinte no dura nada",
            "a cor não dura uma lavagem",
            // A colour turned, a core function gone, several broken.
            "the bracelet turned my wrist black",
            "la camiseta se puso amarilla",
            "o colar deixou meu pescoço verde",
            "the zip won't close",
            "la cremallera no cierra",
            "o zíper não fecha",
            "las sandalias llegaron rotas",
            "os botões vieram quebrados",
            // In pieces, a part missing, shrunk, pulling to one side.
            "the mirror arrived in pieces",
            "me llegó solo un pendiente",
            "a saia ficou um tamanho menor depois de lavar",
            "my gamepad stick drifts up",
        ] {
            assert_eq!(read(text).intent, Intent::Complaint, "{text}");
        }
        // A colour chosen is not a colour turned.
        assert_ne!(read("o vestido ficou lindo em preto").intent, Intent::Complaint);
        // Asked before buying, it is a question; "manchas" is also a need.
        assert_ne!(read("is the satin skirt sticky?").intent, Intent::Complaint);
        assert_ne!(read("tengo manchas en la cara, ¿qué me pongo?").intent, Intent::Complaint);
    }

    #[test]
    fn a_condition_to_treat_is_a_need_and_a_fault_wished_away_a_search() {
        for text in ["damaged hair", "espinillas", "do you have a conditioner for damaged hair?"] {
            assert_eq!(read(text).intent, Intent::Browse, "{text}");
        }
        for text in ["my hair is really damaged, what would help it", "minha pele tem manchas, o que posso usar"] {
            assert_eq!(read(text).intent, Intent::Recommendation, "{text}");
        }
        // Blamed on a product, the same condition is a fault.
        for text in ["the shampoo left my hair dry and damaged", "a máscara deixou meu cabelo ressecado"] {
            assert_eq!(read(text).intent, Intent::Complaint, "{text}");
        }
        assert_eq!(read("looking for shoes that don't pinch").intent, Intent::Browse);
        // A colour chosen or offered, even after a verb of showing.
        for text in ["it goes well in black", "esa camiseta también sale en negro", "o tênis também sai em preto"] {
            assert_ne!(read(text).intent, Intent::Complaint, "{text}");
        }
        assert_eq!(read("la pantalla se queda en negro").intent, Intent::Complaint);
        for text in ["my new sneakers already split at the seam", "se me abrió por la costura el pantalón"] {
            assert_eq!(read(text).intent, Intent::Complaint, "{text}");
        }
        assert_ne!(read("does the zip break easily?").intent, Intent::Complaint);
        // Asked before buying, what a product might do is a question.
        assert_ne!(read("will these boots hurt my feet?").intent, Intent::Complaint);
        assert_eq!(read("these boots hurt my feet after an hour").intent, Intent::Complaint);
        assert_eq!(read("the screen goes black after a minute").intent, Intent::Complaint);
    }

    #[test]
    fn an_empty_room_is_not_an_empty_cart() {
        for text in ["empty my cart", "vacía el carrito", "esvazia o carrinho"] {
            assert_eq!(read(text).intent, Intent::ChangeCart, "{text}");
        }
        for text in [
            "the spare room is empty and guests come friday, what do I need?",
            "mi cocina está vacía, ¿qué me recomiendas?",
            "a estante ficou vazia, o que você sugere?",
        ] {
            assert_ne!(read(text).intent, Intent::ChangeCart, "{text}");
        }
    }

    #[test]
    fn an_order_told_by_its_state_is_an_order_status() {
        for text in [
            "my dress order says processing",
            "the tracking shows in transit for days",
            "mi pedido sigue pendiente",
            "el seguimiento dice en tránsito",
            "meu pedido está em separação",
            "o rastreio mostra aguardando envio",
            "my scarf was supposed to arrive yesterday",
            "el abrigo tenía que llegar el lunes",
            "a bolsa era pra chegar ontem",
        ] {
            assert_eq!(read(text).intent, Intent::OrderStatus, "{text}");
        }
    }

    #[test]
    fn which_one_fits_is_a_need_in_three_languages() {
        for text in [
            "which jacket is warmer for a rainy commute?",
            "which shoes last a whole day on my feet?",
            "something light to travel in",
            "¿qué vestido es más fresco para el verano?",
            "¿cuáles me sirven para una boda de día?",
            "quais sapatos aguentam o dia todo?",
            "qual saia fica mais bonita num jantar?",
            "algo pra usar num casamento na praia",
            "which trousers won't crease on a long flight?",
            "¿qué blusas no dejan ver el sujetador?",
            "quais sapatos deixam o pé fresco?",
        ] {
            let r = read(text);
            assert_eq!(r.intent, Intent::Recommendation, "{text}");
        }
        // Price is not a need, "what else" is not a comparison, two products are compared.
        assert_ne!(read("which dress is cheaper?").intent, Intent::Recommendation);
        assert_ne!(read("¿qué más tienen?").intent, Intent::Recommendation);
        assert_eq!(read("which is warmer, the coat or the puffer?").intent, Intent::ProductQuestion);
        assert_ne!(read("how to use the scarf?").intent, Intent::Recommendation);
    }

    #[test]
    fn a_product_named_after_the_verb_is_asked_about() {
        let r = read("does linen crease easily?");
        assert_eq!(r.intent, Intent::ProductQuestion);
        assert_eq!(read("does the watch track sleep?").intent, Intent::ProductQuestion);
        assert_eq!(read("do you have linen dresses?").intent, Intent::Browse);
        assert_eq!(read("can i track my order?").intent, Intent::OrderStatus);
    }

    #[test]
    fn a_storage_size_without_its_unit_is_a_variant_not_a_quantity() {
        for text in ["quero o celular de 256", "quiero el de 128", "I'll take the 512"] {
            let r = read(text);
            assert_eq!(r.quantity, None, "{text}");
            assert!(!r.beyond_scope, "{text}");
            assert!(r.spec.as_deref().is_some_and(|s| s.ends_with(" gb")), "{text}: {:?}", r.spec);
        }
        assert_eq!(read("add 2 to my cart").quantity, Some(2));
    }

    #[test]
    fn what_the_customer_may_do_with_a_product_or_what_it_has_is_asked() {
        for text in [
            "can I wear the trench in the rain?",
            "¿se puede lavar la falda a máquina?",
            "posso usar o cinto com vestido?",
            "¿vestido lino tiene forro?",
            "a saia de cetim é forrada?",
        ] {
            assert_eq!(read(text).intent, Intent::ProductQuestion, "{text}");
        }
        assert_eq!(read("a saia de cetim é forrada?").language, Language::Pt);
        // A delivery date asked for the customer's own is an order status.
        for text in ["any delivery date for my boots?", "¿hay fecha de entrega para mi abrigo?"] {
            assert_eq!(read(text).intent, Intent::OrderStatus, "{text}");
        }
        assert_eq!(read("that's the one, size M").intent, Intent::AddToCart);
    }

    #[test]
    fn asking_to_be_sent_one_takes_it() {
        let spanish = Context { language: Language::Es, shown: 3, ..Context::default() };
        for text in ["send me the black one", "mándame el vestido en rojo", "me manda a bolsa marrom"] {
            assert_eq!(read_in(text, spanish).intent, Intent::AddToCart, "{text}");
        }
    }

    #[test]
    fn nonsense_is_unknown_and_photos_are_wordless() {
        assert_eq!(read("???").intent, Intent::Unknown);
        let photo = MessageContent::Image(agent_store_events::Media::default());
        assert!(understand(&persona(), &photo, "", &Context::default()).wordless);
    }
}
