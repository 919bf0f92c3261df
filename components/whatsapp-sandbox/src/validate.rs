//! The checks the Cloud API makes on `POST /{phone_number_id}/messages`
//! bodies, as far as they concern the messages the store sends: a body the
//! sandbox takes is one WhatsApp would take too (within what is checked
//! here), and one it refuses gets the reason, as the Cloud API's
//! `error_data.details` would give it.

use serde_json::{Map, Value};

/// Message types the Cloud API sends.
const TYPES: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "interactive",
    "location",
    "contacts",
    "reaction",
    "template",
];

/// Why the Cloud API would refuse a body; the text is what its
/// `error_data.details` would say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("{field} must be {expected}")]
    MustBe { field: String, expected: &'static str },
    #[error("{field} is required")]
    Required { field: String },
    #[error("{field} is required and must be a string")]
    NotAString { field: String },
    #[error("{field} must not be empty")]
    Empty { field: String },
    #[error("{field} is {chars} characters; at most {max} are allowed")]
    TooLong { field: String, chars: usize, max: usize },
    #[error("`to` must be the recipient's phone number")]
    NoRecipient,
    #[error("`to` is not a phone number")]
    NotAPhoneNumber,
    #[error("type {0:?} is not a message type")]
    UnknownType(String),
    #[error("a {0} message needs a `{0}` object")]
    NoObject(String),
    #[error("a {0} needs a link or an id")]
    NoMedia(String),
    #[error("a {0} has no caption")]
    NoCaption(String),
    #[error("interactive.type {0:?} is not one the sandbox sends (button, list)")]
    UnsentInteractive(String),
    #[error("a list's header can only be text")]
    ListHeader,
    #[error("{count} {what}; {limit}")]
    Count { count: usize, what: &'static str, limit: &'static str },
    #[error("button ids and titles must be unique")]
    DuplicateButton,
    #[error("every section needs rows")]
    NoRows,
    #[error("row id {0:?} is used twice")]
    DuplicateRow(String),
}

fn must_be(field: impl Into<String>, expected: &'static str) -> Invalid {
    Invalid::MustBe { field: field.into(), expected }
}

fn required(field: impl Into<String>) -> Invalid {
    Invalid::Required { field: field.into() }
}

/// The recipient's number, digits only, when the body is a message the
/// Cloud API would accept; else why not.
pub fn message(body: &Value) -> Result<String, Invalid> {
    let body = body.as_object().ok_or(Invalid::NotAnObject)?;
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err(must_be("messaging_product", "\"whatsapp\""));
    }
    if let Some(kind) = body.get("recipient_type")
        && kind.as_str() != Some("individual")
    {
        return Err(must_be("recipient_type", "\"individual\""));
    }
    let to = recipient(body.get("to"))?;
    // The Cloud API sends text when no type is given.
    let kind = body.get("type").map_or(Some("text"), Value::as_str).ok_or_else(|| must_be("type", "a string"))?;
    if !TYPES.contains(&kind) {
        return Err(Invalid::UnknownType(kind.to_string()));
    }
    let object = body.get(kind).and_then(Value::as_object).ok_or_else(|| Invalid::NoObject(kind.to_string()))?;
    if let Some(context) = body.get("context") {
        text(context.get("message_id"), "context.message_id", 256)?;
    }
    match kind {
        "text" => {
            text(object.get("body"), "text.body", 4096)?;
        }
        "image" | "video" | "audio" | "document" | "sticker" => media(object, kind)?,
        "interactive" => interactive(object)?,
        "location" => {
            for key in ["latitude", "longitude"] {
                if !object
                    .get(key)
                    .is_some_and(|v| v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok()))
                {
                    return Err(must_be(format!("location.{key}"), "a number"));
                }
            }
        }
        "reaction" => {
            text(object.get("message_id"), "reaction.message_id", 256)?;
            if !object.get("emoji").is_some_and(Value::is_string) {
                return Err(must_be("reaction.emoji", "a string (empty to remove a reaction)"));
            }
        }
        "template" => {
            text(object.get("name"), "template.name", 512)?;
            text(object.get("language").and_then(|l| l.get("code")), "template.language.code", 16)?;
        }
        // `contacts` is an array of cards: the object check above does not apply.
        _ => {}
    }
    Ok(to)
}

fn recipient(value: Option<&Value>) -> Result<String, Invalid> {
    let to = value.and_then(Value::as_str).ok_or(Invalid::NoRecipient)?;
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    let allowed = to.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    if !allowed || !(5..=20).contains(&digits.len()) {
        return Err(Invalid::NotAPhoneNumber);
    }
    Ok(digits)
}

fn text<'a>(value: Option<&'a Value>, what: &str, max: usize) -> Result<&'a str, Invalid> {
    let text = value.and_then(Value::as_str).ok_or_else(|| Invalid::NotAString { field: what.to_string() })?;
    if text.trim().is_empty() {
        return Err(Invalid::Empty { field: what.to_string() });
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(Invalid::TooLong { field: what.to_string(), chars, max });
    }
    Ok(text)
}

fn media(object: &Map<String, Value>, kind: &str) -> Result<(), Invalid> {
    match (object.get("link"), object.get("id")) {
        (Some(link), _) => {
            let link = text(Some(link), &format!("{kind}.link"), 2048)?;
            if !link.starts_with("https://") && !link.starts_with("http://") {
                return Err(must_be(format!("{kind}.link"), "an http(s) URL"));
            }
        }
        (None, Some(id)) => {
            text(Some(id), &format!("{kind}.id"), 128)?;
        }
        (None, None) => return Err(Invalid::NoMedia(kind.to_string())),
    }
    if let Some(caption) = object.get("caption") {
        if matches!(kind, "audio" | "sticker") {
            return Err(Invalid::NoCaption(kind.to_string()));
        }
        text(Some(caption), &format!("{kind}.caption"), 1024)?;
    }
    Ok(())
}

fn interactive(object: &Map<String, Value>) -> Result<(), Invalid> {
    let kind = object.get("type").and_then(Value::as_str).ok_or_else(|| required("interactive.type"))?;
    text(object.get("body").and_then(|b| b.get("text")), "interactive.body.text", 1024)?;
    if let Some(footer) = object.get("footer") {
        text(footer.get("text"), "interactive.footer.text", 60)?;
    }
    if let Some(header) = object.get("header") {
        match header.get("type").and_then(Value::as_str) {
            Some("text") => {
                text(header.get("text"), "interactive.header.text", 60)?;
            }
            Some(media_kind @ ("image" | "video" | "document")) => {
                let media_object = header.get(media_kind).and_then(Value::as_object);
                media(media_object.ok_or_else(|| required(format!("interactive.header.{media_kind}")))?, media_kind)?;
            }
            _ => return Err(must_be("interactive.header.type", "text, image, video or document")),
        }
    }
    let action = object.get("action").ok_or_else(|| required("interactive.action"))?;
    match kind {
        "button" => buttons(action),
        "list" => {
            if object.get("header").and_then(|h| h.get("type")).is_some_and(|t| t != "text") {
                return Err(Invalid::ListHeader);
            }
            list(action)
        }
        other => Err(Invalid::UnsentInteractive(other.to_string())),
    }
}

fn buttons(action: &Value) -> Result<(), Invalid> {
    let buttons = action.get("buttons").and_then(Value::as_array).ok_or_else(|| required("action.buttons"))?;
    if !(1..=3).contains(&buttons.len()) {
        return Err(Invalid::Count { count: buttons.len(), what: "buttons", limit: "a message has 1 to 3" });
    }
    let mut seen = (Vec::new(), Vec::new());
    for button in buttons {
        if button.get("type").and_then(Value::as_str) != Some("reply") {
            return Err(must_be("every button's type", "\"reply\""));
        }
        let reply = button.get("reply");
        let id = text(reply.and_then(|r| r.get("id")), "button reply.id", 256)?;
        let title = text(reply.and_then(|r| r.get("title")), "button reply.title", 20)?;
        if seen.0.contains(&id) || seen.1.contains(&title) {
            return Err(Invalid::DuplicateButton);
        }
        seen.0.push(id);
        seen.1.push(title);
    }
    Ok(())
}

fn list(action: &Value) -> Result<(), Invalid> {
    text(action.get("button"), "action.button", 20)?;
    let sections = action.get("sections").and_then(Value::as_array).ok_or_else(|| required("action.sections"))?;
    if !(1..=10).contains(&sections.len()) {
        return Err(Invalid::Count { count: sections.len(), what: "sections", limit: "a list has 1 to 10" });
    }
    let mut ids = Vec::new();
    for section in sections {
        if sections.len() > 1 {
            text(section.get("title"), "section title (required with several sections)", 24)?;
        }
        let rows = section.get("rows").and_then(Value::as_array).filter(|r| !r.is_empty());
        for row in rows.ok_or(Invalid::NoRows)? {
            let id = text(row.get("id"), "row id", 200)?;
            text(row.get("title"), "row title", 24)?;
            if let Some(description) = row.get("description") {
                text(Some(description), "row description", 72)?;
            }
            if ids.contains(&id) {
                return Err(Invalid::DuplicateRow(id.to_string()));
            }
            ids.push(id);
        }
    }
    if ids.len() > 10 {
        return Err(Invalid::Count { count: ids.len(), what: "rows", limit: "a list has at most 10" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(kind: &str, object: Value) -> Value {
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+34 600 000 001", "type": kind, kind: object})
    }

    #[test]
    fn documented_messages_pass() {
        assert_eq!(message(&with("text", json!({"preview_url": false, "body": "Hi"}))), Ok("34600000001".into()));
        assert!(message(&with("image", json!({"link": "https://x.example/a.jpg", "caption": "A"}))).is_ok());
        let card = json!({
            "type": "button",
            "header": {"type": "image", "image": {"link": "https://x.example/a.jpg"}},
            "body": {"text": "*Shirt*"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "add", "title": "Add to cart"}}]}
        });
        assert!(message(&with("interactive", card)).is_ok());
        let list = json!({
            "type": "list",
            "body": {"text": "Pick"},
            "action": {"button": "See", "sections": [{"rows": [{"id": "1", "title": "One"}]}]}
        });
        assert!(message(&with("interactive", list)).is_ok());
    }

    #[test]
    fn what_whatsapp_refuses_is_refused_with_the_reason() {
        let cases = [
            (json!({"to": "1234567", "type": "text", "text": {"body": "x"}}), "messaging_product"),
            (with("text", json!({"body": ""})), "text.body"),
            (with("text", json!({"body": "x".repeat(4097)})), "4097"),
            (with("image", json!({"caption": "no link"})), "link or an id"),
            (with("poll", json!({})), "not a message type"),
            (
                with("interactive", json!({"type": "button", "body": {"text": "x"}, "action": {"buttons": []}})),
                "0 buttons",
            ),
            (
                with(
                    "interactive",
                    json!({"type": "button", "body": {"text": "x"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A title that is far too long"}}]}}),
                ),
                "reply.title",
            ),
            (json!({"messaging_product": "whatsapp", "to": "not a number", "text": {"body": "x"}}), "`to`"),
        ];
        for (body, expected) in cases {
            let error = message(&body).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
