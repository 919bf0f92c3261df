//! The WhatsApp webhook (`whatsapp_gateway`): the one public way in that
//! takes a body from the internet, its `X-Hub-Signature-256` check, and the
//! privacy functions it calls on what it keeps.
//!
//! Inputs: the gateway's fixtures (Meta's documented payloads of every
//! message kind and status) with JSON nodes replaced, removed, retyped or
//! added; notifications generated field by field with the words the parser
//! looks for; the fixtures with bytes mutated; signature headers right,
//! wrong and malformed.
//!
//! Invariants beyond not panicking: the signature check answers exactly as
//! an independent HMAC-SHA256 says it should; every message read has an id
//! and a sender; what is kept of a message of an unsupported kind holds
//! neither the sender's number nor a key that names a person; redaction
//! leaves no trace of the number it masks; a brand-number list that parses
//! finds every brand it lists.

use agent_store_sdk::auth::{self, SignatureError};
use arbitrary::{Result, Unstructured};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use whatsapp_gateway::config::BrandNumbers;
use whatsapp_gateway::privacy;
use whatsapp_gateway::webhook;

use agent_store_events::MessageContent;

use crate::engine::{Path, Target, show};
use crate::inputs::{self, text, word};

/// The target.
pub const TARGET: Target = Target {
    name: "whatsapp-webhook",
    about: "webhook::parse, the signature check and the privacy scrubbing, on mutated fixtures and generated notifications",
    run,
    must_reach: &["messages", "statuses", "notes only", "refused"],
};

/// Meta's documented payloads, as the gateway's own tests use them.
const FIXTURES: &[&str] = &[
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/audio.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/button.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/button_reply.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/contacts.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/document.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/image.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/list_reply.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/location.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/order.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/reaction.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/reaction_removed.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/status_failed.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/statuses.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/sticker.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/text.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/unknown.json"),
    include_str!("../../../../components/whatsapp-gateway/tests/fixtures/video.json"),
];

/// The sender of the generated messages.
const PHONE: &str = "16505551234";

/// Keys and values the parser looks for.
const WORDS: &[&str] = &[
    "whatsapp_business_account",
    "messages",
    "statuses",
    "errors",
    "metadata",
    "phone_number_id",
    "contacts",
    "wa_id",
    "profile",
    "name",
    "from",
    "id",
    "timestamp",
    "type",
    "context",
    "text",
    "body",
    "image",
    "audio",
    "video",
    "sticker",
    "document",
    "mime_type",
    "sha256",
    "caption",
    "filename",
    "location",
    "latitude",
    "longitude",
    "address",
    "interactive",
    "button_reply",
    "list_reply",
    "title",
    "description",
    "button",
    "payload",
    "reaction",
    "message_id",
    "emoji",
    "order",
    "catalog_id",
    "product_items",
    "product_retailer_id",
    "quantity",
    "item_price",
    "currency",
    "USD",
    "JPY",
    "status",
    "sent",
    "delivered",
    "read",
    "failed",
    "recipient_id",
    "code",
    "error_data",
    "details",
    "formatted_name",
    "first_name",
    "last_name",
    "phones",
    "emails",
    "user_id",
    "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ01RgA=",
    "1749416383",
    "106540352242922",
    PHONE,
    "+1 650-555-1234",
];

const KINDS: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "sticker",
    "document",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "unknown",
    "system",
];

fn run(u: &mut Unstructured<'_>) -> Result<Path> {
    let body = match u.int_in_range(0..=7)? {
        0..=3 => {
            let mut value: Value = serde_json::from_str(u.choose(FIXTURES)?).expect("the fixtures are JSON");
            // Mostly inside the change's value, where the messages are: the
            // envelope around it gets its share from the other inputs.
            let inner = if u.ratio(3, 4)? { value.pointer_mut("/entry/0/changes/0/value") } else { None };
            match inner {
                Some(inner) => inputs::mutate_json(u, inner, WORDS)?,
                None => inputs::mutate_json(u, &mut value, WORDS)?,
            }
            value.to_string().into_bytes()
        }
        4 | 5 => generated(u)?.to_string().into_bytes(),
        6 => {
            let mut bytes = u.choose(FIXTURES)?.as_bytes().to_vec();
            inputs::mutate_bytes(u, &mut bytes, &["\"type\":", "\"messages\":", "{}", "[]", "null", PHONE])?;
            bytes
        }
        _ => inputs::json(u, 4, WORDS)?.to_string().into_bytes(),
    };
    show(|| format!("body: {}", String::from_utf8_lossy(&body)));
    signature(u, &body)?;
    privacy_functions(u)?;
    let phones = senders(&body);
    let notification = match webhook::parse(&body) {
        Ok(notification) => notification,
        Err(message) => {
            for phone in &phones {
                let message = message.to_string();
                assert!(!message.contains(phone.as_str()), "the parse error quotes the sender's number: {message}");
            }
            return Ok("refused");
        }
    };
    for message in &notification.messages {
        assert!(!message.message_id.is_empty() && !message.phone.is_empty(), "a message without an id or sender");
        if let MessageContent::Unsupported { raw, .. } = &message.content {
            kept_without_the_sender(raw, &message.phone);
        }
    }
    for status in &notification.statuses {
        assert!(!status.message_id.is_empty(), "a status without a message id");
        if let Some(recipient) = &status.recipient {
            for error in &status.errors {
                let shown = format!("{} {}", error.title, error.detail.as_deref().unwrap_or_default());
                if recipient.len() >= 7 {
                    assert!(!shown.contains(recipient.as_str()), "a status error quotes the recipient: {shown}");
                }
            }
        }
    }
    Ok(match (notification.messages.is_empty(), notification.statuses.is_empty()) {
        (false, _) => "messages",
        (true, false) => "statuses",
        (true, true) => "notes only",
    })
}

/// What the gateway keeps of a message it cannot read goes to the agents:
/// no key that names a person, and the sender's number nowhere.
fn kept_without_the_sender(raw: &Value, phone: &str) {
    const PII_KEYS: &[&str] =
        &["from", "wa_id", "recipient_id", "user_id", "parent_user_id", "phone", "phones", "emails", "addresses"];
    fn walk(value: &Value, visit: &mut impl FnMut(Option<&str>, &Value)) {
        match value {
            Value::Object(map) => map.iter().for_each(|(key, inner)| {
                visit(Some(key), inner);
                walk(inner, visit);
            }),
            Value::Array(items) => items.iter().for_each(|inner| walk(inner, visit)),
            _ => {}
        }
    }
    walk(raw, &mut |key, _| {
        if let Some(key) = key {
            assert!(!PII_KEYS.contains(&key), "an unsupported message keeps `{key}`: {raw}");
        }
    });
    if phone.len() >= 7 && phone.chars().all(|c| c.is_ascii_digit()) {
        let text = raw.to_string();
        assert!(!text.contains(phone), "an unsupported message keeps the sender's number {phone}: {text}");
    }
}

/// The senders a body names, so that no error or kept object may quote them.
fn senders(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let mut phones = Vec::new();
    let entries = value.get("entry").and_then(Value::as_array).into_iter().flatten();
    for change in entries.filter_map(|e| e.get("changes")?.as_array()).flatten() {
        let messages = change.get("value").and_then(|v| v.get("messages")).and_then(Value::as_array);
        for message in messages.into_iter().flatten() {
            if let Some(from) = message.get("from").and_then(Value::as_str)
                && from.len() >= 7
                && from.chars().all(|c| c.is_ascii_digit())
            {
                phones.push(from.to_string());
            }
        }
    }
    phones
}

/// The signature check against an independent HMAC: right, wrong,
/// re-cased, padded and malformed headers.
fn signature(u: &mut Unstructured<'_>, body: &[u8]) -> Result<()> {
    let secret = text(u, &["s3cret", "app-secret-0123456789abcdef"])?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let right = format!("sha256={}", hex::encode(expected));
    let header = match u.int_in_range(0..=6)? {
        0 => Some(right.clone()),
        1 => Some(format!(" {} ", right.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1))),
        2 => {
            let mut other = body.to_vec();
            inputs::mutate_bytes(u, &mut other, &[])?;
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
            mac.update(&other);
            Some(format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
        }
        3 => None,
        4 => {
            let mut bytes = right.clone().into_bytes();
            inputs::mutate_bytes(u, &mut bytes, &["sha256=", "sha1=", "0", "g"])?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => Some(text(u, &["sha256=", "sha256=00", "sha1=abcd", "SHA256=", right.as_str()])?),
    };
    let got = auth::verify_signature(secret.as_bytes(), body, header.as_deref());
    let oracle = match header.as_deref() {
        _ if secret.is_empty() => Err(SignatureError::NoSecret),
        None => Err(SignatureError::Missing),
        Some(header) => match header.trim().strip_prefix("sha256=").map(hex::decode) {
            Some(Ok(claimed)) if claimed.len() == 32 => {
                if claimed.as_slice() == expected.as_slice() {
                    Ok(())
                } else {
                    Err(SignatureError::Mismatch)
                }
            }
            _ => Err(SignatureError::Malformed),
        },
    };
    assert_eq!(got, oracle, "X-Hub-Signature-256 {header:?} with secret {secret:?}");
    let given = text(u, &["s3cret", "token"])?;
    assert_eq!(
        auth::same_secret(&given, &secret),
        !secret.is_empty() && given == secret,
        "same_secret({given:?}, {secret:?})"
    );
    Ok(())
}

/// The helpers the gateway runs on what it keeps and logs.
fn privacy_functions(u: &mut Unstructured<'_>) -> Result<()> {
    let phone = text(u, &[PHONE, "5551234", "123", ""])?;
    let words: Vec<&str> = WORDS.iter().copied().chain([phone.as_str()]).collect();
    let sample = format!("{}{}", text(u, &words)?, text(u, &words)?);
    let redacted = privacy::redact(&sample, &phone);
    if phone.len() >= 3 && phone.chars().all(|c| c.is_ascii_digit()) {
        assert!(!redacted.contains(phone.as_str()), "redact({sample:?}, {phone:?}) = {redacted:?}");
    }
    let mut value = inputs::json(u, 3, &words)?;
    privacy::scrub(&mut value, &phone);
    let _ = privacy::digest(&sample);
    let _ = privacy::message_token(&phone, &sample);
    let mut value = json!({ "id": sample, "context": { "id": "wamid.x" } });
    privacy::tokenise_message_ids(&mut value, &phone);

    let list = text(u, &["100000000000001=fashion,100000000000002=tech", " 1 = a , ", "1=a,1=b", "=", ",,"])?;
    if let Ok(numbers) = BrandNumbers::parse(&list) {
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (id, brand) = item.split_once('=').expect("a parsed item has `=`");
            assert_eq!(numbers.brand_of(id.trim()), Some(brand.trim()), "brand_numbers {list:?}");
        }
    }
    Ok(())
}

/// A notification written field by field.
fn generated(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut messages = Vec::new();
    for _ in 0..*u.choose(&[1, 1, 2, 3, 0])? {
        messages.push(message(u)?);
    }
    let mut statuses = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let mut status = Map::new();
        status.insert("id".into(), Value::String(text(u, WORDS)?));
        status.insert("status".into(), Value::String(text(u, &["sent", "delivered", "read", "failed", "played"])?));
        status.insert("timestamp".into(), timestamp(u)?);
        status.insert("recipient_id".into(), Value::String(text(u, &[PHONE])?));
        if u.ratio(1, 3)? {
            let detail = format!("could not reach {PHONE}: {}", text(u, WORDS)?);
            status.insert(
                "errors".into(),
                json!([{ "code": 131047, "title": text(u, WORDS)?, "error_data": { "details": detail } }]),
            );
        }
        statuses.push(Value::Object(status));
    }
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": word(u, &["106540352242922"], &[""])? },
        "contacts": [{ "profile": { "name": text(u, &["Sheena Nelson"])? }, "wa_id": PHONE }],
        "messages": messages,
        "statuses": statuses,
    });
    if u.ratio(1, 5)? {
        inputs::mutate_json(u, &mut value, WORDS)?;
    }
    let field = word(u, &["messages"], &["account_update", ""])?;
    Ok(json!({
        "object": word(u, &["whatsapp_business_account"], &["page", ""])?,
        "entry": [{ "id": "102290129340398", "changes": [{ "value": value, "field": field }] }],
    }))
}

fn timestamp(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=2)? {
        0 => Value::String(text(u, &["1749416383", "-1", "9999999999999", " 1749416383 "])?),
        1 => inputs::number(u)?,
        _ => Value::from(1_749_416_383),
    })
}

/// One message of a kind the parser knows (or not), its object as
/// documented or with fields of other types.
fn message(u: &mut Unstructured<'_>) -> Result<Value> {
    let kind = word(u, KINDS, &[""])?;
    let field = |u: &mut Unstructured<'_>, dict: &[&str]| -> Result<Value> {
        Ok(if u.ratio(1, 8)? { inputs::json(u, 1, WORDS)? } else { Value::String(text(u, dict)?) })
    };
    let number = |u: &mut Unstructured<'_>, typical: f64| -> Result<Value> {
        Ok(match u.int_in_range(0..=3)? {
            0 => json!(typical),
            1 => Value::String(text(u, &["39.92", "29", "0.125", "1e3", "-5", ".5", "5.", "1.999"])?),
            2 => json!(16_505_551_234_u64),
            _ => inputs::number(u)?,
        })
    };
    let object = match kind.as_str() {
        "text" => json!({ "body": field(u, &["Does it come in another color?", PHONE])? }),
        "image" | "audio" | "video" | "sticker" | "document" => json!({
            "id": field(u, &["1003383421387256"])?,
            "mime_type": field(u, &["image/jpeg", "application/pdf"])?,
            "sha256": field(u, &["NaJiaFmRy3DhZMOWqzQJ8p2CXwqRbJ6I6CnR/uhQ8UY="])?,
            "caption": field(u, &["call me on +1 650 555 1234"])?,
            "filename": field(u, &["receipt.pdf"])?,
        }),
        "location" => json!({
            "latitude": number(u, 25.7907)?,
            "longitude": number(u, -80.13)?,
            "name": field(u, &["Miami Beach"])?,
        }),
        "contacts" => json!([{
            "name": { "formatted_name": field(u, &["Carla", " ", ""])?, "first_name": field(u, &["Carla"])? },
            "phones": [{ "phone": "+1 650-555-1234", "wa_id": PHONE }],
        }]),
        "interactive" => {
            let reply = text(u, &["button_reply", "list_reply", "nfm_reply"])?;
            json!({ "type": reply, reply.clone(): { "id": field(u, &["add:fsh-001"])?, "title": field(u, &["Add"])?, "description": field(u, &["USD 29.00"])? } })
        }
        "button" => json!({ "payload": field(u, &["reorder:ord-1"])?, "text": field(u, &["Order again"])? }),
        "reaction" => json!({ "message_id": field(u, &["wamid.HBgL"])?, "emoji": field(u, &["❤️", ""])? }),
        "order" => {
            let items = (0..u.int_in_range(0..=3)?)
                .map(|_| {
                    Ok(json!({
                        "product_retailer_id": field(u, &["fsh-001"])?,
                        "quantity": number(u, 1.0)?,
                        "item_price": number(u, 39.92)?,
                        "currency": field(u, &["USD", "JPY", "KWD", ""])?,
                    }))
                })
                .collect::<Result<Vec<_>>>()?;
            json!({ "catalog_id": field(u, &["794561230011"])?, "text": field(u, &["These two please"])?, "product_items": items })
        }
        _ => json!({ "callback": number(u, 1.0)?, "note": format!("from {PHONE}"), "wa_id": PHONE }),
    };
    let mut message = Map::new();
    message.insert("from".into(), Value::String(word(u, &[PHONE, PHONE, "15550783881"], &[""])?));
    let id = word(u, &["wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ01RgA="], &[""])?;
    message.insert("id".into(), Value::String(id));
    message.insert("timestamp".into(), timestamp(u)?);
    if u.ratio(7, 8)? {
        message.insert("type".into(), Value::String(kind.clone()));
    }
    message.insert(kind, object);
    if u.ratio(1, 4)? {
        message.insert("context".into(), json!({ "from": "15550783881", "id": field(u, &["wamid.HBgL"])? }));
    }
    Ok(Value::Object(message))
}
