//! Keeps `docs/events.md` and the payload types in step: every example on the
//! page must deserialize into its Rust type and serialize back to the same
//! JSON, and every event type must be documented with an example.

use std::collections::BTreeSet;
use std::fmt::Debug;

use agent_store_events::*;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

const PAGE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md"));

/// One `### ` section of the page.
struct Section {
    /// The heading without `### ` and backticks, e.g. `store.order.created`.
    name: String,
    /// Everything between this heading and the next one.
    body: String,
    /// The contents of each `json` code block of the section.
    json: Vec<String>,
}

fn sections() -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut block: Option<String> = None;
    for line in PAGE.lines() {
        if let Some(text) = block.as_mut() {
            if line.trim_start() == "```" {
                let json = block.take().unwrap_or_default();
                if let Some(section) = sections.last_mut() {
                    section.json.push(json);
                }
            } else {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            sections.push(Section {
                name: heading.trim().trim_matches('`').to_owned(),
                body: String::new(),
                json: Vec::new(),
            });
        } else if line.starts_with("## ") {
            // A level-2 heading ends the section before it.
            sections.push(Section { name: line.to_owned(), body: String::new(), json: Vec::new() });
        } else if line.trim_start() == "```json" {
            block = Some(String::new());
        } else if let Some(section) = sections.last_mut() {
            section.body.push_str(line);
            section.body.push('\n');
        }
    }
    assert!(block.is_none(), "docs/events.md has an unterminated ```json block");
    sections
}

/// Deserializes `json` into `T`, serializes it again and compares the two as
/// JSON values, so that a field the type does not know (dropped on read), a
/// field the example lacks (added on write) or a misspelt value all fail.
fn round_trip<T: Serialize + DeserializeOwned + Debug>(json: &str) -> Result<T, String> {
    let documented: Value = serde_json::from_str(json).map_err(|err| format!("the example is not JSON: {err}"))?;
    let typed: T = serde_json::from_value(documented.clone()).map_err(|err| format!("does not deserialize: {err}"))?;
    // Through a string, not `to_value`: `f32` fields must compare as the
    // shortest decimal they print as, not as their widened `f64` value.
    let written = serde_json::to_string(&typed).map_err(|err| err.to_string())?;
    let written: Value = serde_json::from_str(&written).map_err(|err| err.to_string())?;
    if written == documented {
        Ok(typed)
    } else {
        Err(format!(
            "does not round-trip.\n documented: {}\n serialized: {}",
            serde_json::to_string_pretty(&documented).unwrap_or_default(),
            serde_json::to_string_pretty(&written).unwrap_or_default()
        ))
    }
}

fn event<T: EventData + Debug>(name: &str, json: &str) -> Result<T, String> {
    assert_eq!(T::TYPE, name, "the match below pairs a type with the wrong payload");
    round_trip::<T>(json)
}

/// Checks the example of event type `name`.
fn check_event(name: &str, json: &str) -> Result<(), String> {
    match name {
        types::WHATSAPP_MESSAGE_RECEIVED => event::<WhatsAppMessageReceived>(name, json).map(drop),
        types::WHATSAPP_MESSAGE_SEND => {
            event::<WhatsAppMessageSend>(name, json).and_then(|send| send.message.validate())
        }
        types::WHATSAPP_MESSAGE_STATUS => event::<WhatsAppMessageStatus>(name, json).map(drop),
        types::CHAT_MESSAGE_NEW => {
            let new = event::<ChatMessageNew>(name, json)?;
            if new.text != new.content.text().unwrap_or_default().trim() {
                return Err("`text` is not the customer's words from `content`".into());
            }
            Ok(())
        }
        types::CHAT_RESPONSE => event::<ChatResponse>(name, json).and_then(|r| r.validate()),
        types::CHAT_INTENT_DETECTED => event::<ChatIntentDetected>(name, json).map(drop),
        types::PRODUCT_QUERY => event::<ProductQuery>(name, json).map(drop),
        types::PRODUCT_QUERY_RESULT => event::<ProductQueryResult>(name, json).map(drop),
        types::PRODUCT_RECOMMEND => event::<ProductRecommend>(name, json).map(drop),
        types::PRODUCT_RECOMMEND_RESULT => event::<ProductRecommendResult>(name, json).map(drop),
        types::CART_ITEM_ADDED => {
            let added = event::<CartItemAdded>(name, json)?;
            check_cart(&added.cart)
        }
        types::ORDER_CREATE => event::<OrderCreate>(name, json).map(drop),
        types::ORDER_CREATED => {
            let order = event::<OrderCreated>(name, json)?.order;
            let total = order.subtotal.checked_sub(&order.discount);
            if total.as_ref() != Some(&order.total) {
                return Err("the order total is not subtotal - discount".into());
            }
            Ok(())
        }
        types::ORDER_CONFIRMED => event::<OrderConfirmed>(name, json).map(drop),
        types::ORDER_SHIPPED => event::<OrderShipped>(name, json).map(drop),
        types::ORDER_DELIVERED => event::<OrderDelivered>(name, json).map(drop),
        types::ORDER_CANCELLED => event::<OrderCancelled>(name, json).map(drop),
        types::ORDER_REJECTED => event::<OrderRejected>(name, json).map(drop),
        types::SALES_ESCALATE => {
            let escalation = event::<SalesEscalate>(name, json)?;
            escalation.cart.as_ref().map_or(Ok(()), check_cart)
        }
        types::SALES_INSIGHT => event::<SalesInsight>(name, json).map(drop),
        types::SALES_ESCALATION_WAITING => event::<EscalationWaiting>(name, json).map(drop),
        types::SALES_ESCALATION_ACCEPTED => event::<EscalationAccepted>(name, json).map(drop),
        types::SALES_ESCALATION_RELEASED => event::<EscalationReleased>(name, json).map(drop),
        types::BRAND_ONBOARDED => event::<BrandOnboarded>(name, json).and_then(|b| b.validate()),
        types::BRAND_REMOVED => event::<BrandRemoved>(name, json).and_then(|b| b.validate()),
        _ => Err("not an event type of `types::ALL`".into()),
    }
}

/// Examples should be right, not only well-formed: a cart adds up.
fn check_cart(cart: &Cart) -> Result<(), String> {
    if cart.compute_subtotal().as_ref() == Some(&cart.subtotal) {
        Ok(())
    } else {
        Err("the cart subtotal is not the sum of its lines".into())
    }
}

/// Checks the examples of the shared types that have one.
fn check_shared(name: &str, json: &str) -> Option<Result<(), String>> {
    let result = match name {
        "MessageContent" => round_trip::<Vec<MessageContent>>(json).and_then(|all| {
            let kinds: BTreeSet<_> = all.iter().map(MessageContent::kind).collect();
            if kinds.len() == all.len() && kinds.len() == 14 {
                Ok(())
            } else {
                Err(format!("expected one example of each of the 14 kinds, got {kinds:?}"))
            }
        }),
        "OutboundMessage" => round_trip::<Vec<OutboundMessage>>(json).and_then(|all| {
            all.iter().try_for_each(OutboundMessage::validate).map(|()| all.len()).and_then(|n| match n {
                5 => Ok(()),
                n => Err(format!("expected one example of each of the 5 kinds, got {n}")),
            })
        }),
        _ => return None,
    };
    Some(result)
}

#[test]
fn every_documented_example_round_trips() {
    let mut failures = Vec::new();
    for section in sections() {
        let is_event = section.name.starts_with("store.");
        let check = |json: &str| {
            if is_event { Some(check_event(&section.name, json)) } else { check_shared(&section.name, json) }
        };
        match section.json.as_slice() {
            [json] => {
                if let Some(Err(err)) = check(json) {
                    failures.push(format!("### {}: {err}", section.name));
                }
            }
            [] if is_event => failures.push(format!("### {}: no ```json example", section.name)),
            [] => {}
            _ => failures.push(format!(
                "### {}: more than one ```json block; the test would not know which is the example",
                section.name
            )),
        }
        if is_event {
            for needed in ["**Emitted by**", "**Consumed by**", "| field |"] {
                if !section.body.contains(needed) {
                    failures.push(format!("### {}: no {needed}", section.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "docs/events.md is out of step with the code:\n\n{}", failures.join("\n\n"));
}

#[test]
fn every_event_type_is_documented_once_in_order() {
    let documented: Vec<String> =
        sections().into_iter().filter(|s| s.name.starts_with("store.")).map(|s| s.name).collect();
    assert_eq!(
        documented,
        types::ALL,
        "docs/events.md must have one `### <type>` section per event type, in the order of `types::ALL`"
    );
}

#[test]
fn every_extension_attribute_is_documented() {
    for name in ext::ALL {
        assert!(
            PAGE.contains(&format!("| `{name}` |")),
            "extension `{name}` has no row in the extension table of docs/events.md"
        );
    }
}

#[test]
fn the_page_names_no_phone_field() {
    // The privacy rule, checked where a careless example would break it.
    for section in sections() {
        for json in &section.json {
            let value: Value = serde_json::from_str(json).unwrap_or(Value::Null);
            let mut stack = vec![&value];
            while let Some(value) = stack.pop() {
                match value {
                    Value::Object(map) => {
                        for (key, inner) in map {
                            let key = key.to_ascii_lowercase();
                            let key = key.as_str();
                            assert!(
                                key == "phone_number_id"
                                    || !(key.contains("phone") || key == "wa_id" || key == "msisdn"),
                                "### {}: field `{key}` looks like a phone number",
                                section.name
                            );
                            stack.push(inner);
                        }
                    }
                    Value::Array(items) => stack.extend(items),
                    _ => {}
                }
            }
        }
    }
}
