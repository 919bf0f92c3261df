//! Keeping phone numbers inside the gateway: the ids that stand for them,
//! and the scrubbing of what leaves. (The webhook's signature is checked
//! with [`agent_store_sdk::auth`].)
//!
//! A customer's number is never in an event, a log line or a store key. The
//! agents know a customer by `customer.id`, a chat by its conversation id and
//! a message by its token, all keyed hashes (HMAC-SHA256 with the `hash_salt`
//! secret), so they are stable without being reversible by anyone who lacks
//! the salt. WhatsApp's own message ids cannot go out instead: a wamid is
//! base64 around the sender's number (`wamid.HBgLMTY1MDU1NTEyMzQV…` holds
//! `16505551234`).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Hex digits kept from a hash: 64 bits, plenty to never collide in a store's
/// lifetime and short enough to read in a log.
const ID_HEX: usize = 16;

/// What a phone-like run of characters becomes in scrubbed text.
pub const PHONE_MASK: &str = "[phone]";

/// Runs of at least this many digits (spaces, dashes, dots, brackets and `+`
/// between them allowed) read as phone numbers: the shortest national numbers
/// have seven.
const PHONE_MIN_DIGITS: usize = 7;

fn keyed(salt: &str, parts: &[&str]) -> String {
    let mut mac = HmacSha256::new_from_slice(salt.as_bytes()).expect("HMAC takes keys of any length");
    for part in parts {
        // The separator keeps ("12", "3") and ("1", "23") apart.
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    hex::encode(mac.finalize().into_bytes())[..ID_HEX].to_string()
}

/// The conversation of `phone` with the brand that owns `phone_number_id`.
/// Stable, so a customer coming back continues the same conversation.
pub fn conversation_id(salt: &str, brand: &str, phone_number_id: &str, phone: &str) -> String {
    format!("cv-{brand}-{}", keyed(salt, &["conversation", phone_number_id, phone]))
}

/// The customer behind `phone`, the same for every brand.
pub fn customer_id(salt: &str, phone: &str) -> String {
    format!("cus-{}", keyed(salt, &["customer", phone]))
}

/// What the agents see of a WhatsApp message id (`wamid.…`): `wm-<HMAC>`,
/// the same for every delivery of the message, mapped back to the wamid by
/// the gateway when a reply quotes it.
pub fn message_token(salt: &str, wamid: &str) -> String {
    format!("wm-{}", keyed(salt, &["message", wamid]))
}

/// Whether a string is a WhatsApp message id.
pub fn is_wamid(text: &str) -> bool {
    text.starts_with("wamid.")
}

/// Replaces every WhatsApp message id in `value` by its token (for a raw
/// webhook object kept in an event).
pub fn tokenise_message_ids(value: &mut Value, salt: &str) {
    match value {
        Value::String(text) if is_wamid(text) => *text = message_token(salt, text),
        Value::Array(items) => items.iter_mut().for_each(|item| tokenise_message_ids(item, salt)),
        Value::Object(map) => map.values_mut().for_each(|item| tokenise_message_ids(item, salt)),
        _ => {}
    }
}

/// A short unkeyed digest of an opaque id, for logs and store keys: WhatsApp
/// message ids (`wamid.…`) encode the sender's number.
pub fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))[..ID_HEX].to_string()
}

/// Masks `phone` and anything that looks like a phone number in `text`.
/// Used on what the Cloud API says back (its error details can quote the
/// recipient) and on unsupported messages kept for the agents.
pub fn redact(text: &str, phone: &str) -> String {
    let text = if phone.len() >= 3 { text.replace(phone, PHONE_MASK) } else { text.to_string() };
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let mut digits = 0;
    let flush = |out: &mut String, run: &mut String, digits: &mut usize| {
        if *digits >= PHONE_MIN_DIGITS {
            // Keep the spacing around the number, mask the number itself.
            let start = run.len() - run.trim_start().len();
            let end = run.trim_end().len();
            out.push_str(&run[..start]);
            out.push_str(PHONE_MASK);
            out.push_str(&run[end..]);
        } else {
            out.push_str(run);
        }
        run.clear();
        *digits = 0;
    };
    for c in text.chars() {
        if c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '(' | ')' | ' ') {
            if c.is_ascii_digit() {
                digits += 1;
            }
            run.push(c);
        } else {
            flush(&mut out, &mut run, &mut digits);
            out.push(c);
        }
    }
    flush(&mut out, &mut run, &mut digits);
    out
}

/// Object keys whose values identify a person by number or address.
const PII_KEYS: &[&str] =
    &["from", "wa_id", "recipient_id", "user_id", "parent_user_id", "phone", "phones", "emails", "addresses"];

/// Keys whose values are ids or times made of digits, not numbers to mask.
const OPAQUE_KEYS: &[&str] = &["id", "timestamp", "message_id"];

/// Removes what identifies people from a raw webhook object before it goes
/// into an event as [`agent_store_events::MessageContent::Unsupported`].
pub fn scrub(value: &mut Value, phone: &str) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !PII_KEYS.contains(&key.as_str()));
            // A key can be a number too (an object keyed by who it is about);
            // two such keys become one, which loses nothing a person needs.
            let keyed_by_number: Vec<String> = map.keys().filter(|k| redact(k, phone) != **k).cloned().collect();
            for key in keyed_by_number {
                if let Some(inner) = map.remove(&key) {
                    map.insert(redact(&key, phone), inner);
                }
            }
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(text) if OPAQUE_KEYS.contains(&key.as_str()) => {
                        if text.contains(phone) {
                            *text = redact(text, phone);
                        }
                    }
                    Value::Number(number) if OPAQUE_KEYS.contains(&key.as_str()) => {
                        if number.to_string().contains(phone) {
                            scrub_number(inner, phone);
                        }
                    }
                    _ => scrub(inner, phone),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| scrub(item, phone)),
        Value::String(text) => *text = redact(text, phone),
        Value::Number(_) => scrub_number(value, phone),
        _ => {}
    }
}

/// A number is masked as its digits would be in text: a phone number sent
/// as a JSON number is still a phone number.
fn scrub_number(value: &mut Value, phone: &str) {
    let text = value.to_string();
    let redacted = redact(&text, phone);
    if redacted != text {
        *value = Value::String(redacted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_stable_salted_and_free_of_the_number() {
        let a = conversation_id("salt", "fashion", "100000000000001", "34600000001");
        assert_eq!(a, conversation_id("salt", "fashion", "100000000000001", "34600000001"));
        assert!(a.starts_with("cv-fashion-") && a.len() == "cv-fashion-".len() + ID_HEX, "{a}");
        assert_ne!(a, conversation_id("pepper", "fashion", "100000000000001", "34600000001"));
        assert_ne!(a, conversation_id("salt", "fashion", "100000000000002", "34600000001"));
        assert_ne!(a, conversation_id("salt", "fashion", "100000000000001", "34600000002"));
        let customer = customer_id("salt", "34600000001");
        assert!(customer.starts_with("cus-") && !customer.contains("34600000001"));
        assert_eq!(customer, customer_id("salt", "34600000001"));
        assert_ne!(customer, customer_id("salt", "34600000002"));
    }

    #[test]
    fn message_tokens_hide_the_number_inside_wamids() {
        // Meta's documented example id: base64 around the sender's number.
        let wamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ01RgA";
        let token = message_token("salt", wamid);
        assert!(token.starts_with("wm-") && token.len() == 3 + ID_HEX, "{token}");
        assert_eq!(token, message_token("salt", wamid), "stable across deliveries");
        assert_ne!(token, message_token("pepper", wamid), "keyed");
        assert_ne!(token, message_token("salt", "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"));

        let mut raw = json!({"id": wamid, "context": {"id": wamid, "from": "15550783881"}, "n": 1, "list": [wamid]});
        tokenise_message_ids(&mut raw, "salt");
        assert_eq!(raw, json!({"id": token, "context": {"id": token, "from": "15550783881"}, "n": 1, "list": [token]}));
    }

    #[test]
    fn phone_numbers_are_masked_in_text() {
        assert_eq!(
            redact("Recipient 34600000001 not in allowed list", "34600000001"),
            "Recipient [phone] not in allowed list"
        );
        assert_eq!(redact("call +1 (555) 123-4567 now", "34600000001"), "call [phone] now");
        assert_eq!(redact("error 131047 at 10:30", "34600000001"), "error 131047 at 10:30");
    }

    #[test]
    fn raw_objects_lose_their_people() {
        let mut raw = json!({
            "from": "34600000001",
            "id": "wamid.HBgL",
            "timestamp": "1749416383",
            "type": "system",
            "system": {"body": "User A changed from +34 600 000 001 to +34 600 000 002", "wa_id": "34600000002"},
            "errors": [{"code": 131051, "title": "Unsupported message type"}]
        });
        scrub(&mut raw, "34600000001");
        let text = raw.to_string();
        assert!(!text.contains("600"), "{text}");
        assert_eq!(raw["timestamp"], "1749416383");
        assert_eq!(raw["errors"][0]["code"], 131051);
        assert_eq!(raw["system"]["body"], "User A changed from [phone] to [phone]");
    }

    #[test]
    fn numbers_and_keys_that_are_phone_numbers_are_masked_too() {
        // Found by the whatsapp-webhook fuzz target: the sender's number as a
        // JSON number, or as a key, went out untouched in an unsupported
        // message.
        let mut raw = json!({
            "type": "callback",
            "callback": {"number": 34600000001_u64, "other": 34600000002_u64, "count": 3, "code": 131051},
            "id": 34600000001_u64,
            "timestamp": 1749416383,
            "by_number": {"34600000001": "read"},
        });
        scrub(&mut raw, "34600000001");
        let text = raw.to_string();
        assert!(!text.contains("600"), "{text}");
        assert_eq!(raw["callback"]["number"], "[phone]");
        assert_eq!(raw["callback"]["count"], 3);
        assert_eq!(raw["callback"]["code"], 131051);
        assert_eq!(raw["id"], "[phone]");
        assert_eq!(raw["timestamp"], 1749416383, "an id or time of digits is not a number to mask");
        assert_eq!(raw["by_number"]["[phone]"], "read");
    }
}
