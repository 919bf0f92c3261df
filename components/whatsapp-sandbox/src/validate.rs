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

/// The recipient's number, digits only, when the body is a message the
/// Cloud API would accept; else why not.
pub fn message(body: &Value) -> Result<String, String> {
    let body = body.as_object().ok_or("the body must be a JSON object")?;
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err("messaging_product must be \"whatsapp\"".into());
    }
    if let Some(kind) = body.get("recipient_type")
        && kind.as_str() != Some("individual")
    {
        return Err("recipient_type must be \"individual\"".into());
    }
    let to = recipient(body.get("to"))?;
    // The Cloud API sends text when no type is given.
    let kind = body.get("type").map_or(Some("text"), Value::as_str).ok_or("type must be a string")?;
    if !TYPES.contains(&kind) {
        return Err(format!("type {kind:?} is not a message type"));
    }
    let object =
        body.get(kind).and_then(Value::as_object).ok_or_else(|| format!("a {kind} message needs a `{kind}` object"))?;
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
                    return Err(format!("location.{key} must be a number"));
                }
            }
        }
        "reaction" => {
            text(object.get("message_id"), "reaction.message_id", 256)?;
            if !object.get("emoji").is_some_and(Value::is_string) {
                return Err("reaction.emoji must be a string (empty to remove a reaction)".into());
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

fn recipient(value: Option<&Value>) -> Result<String, String> {
    let to = value.and_then(Value::as_str).ok_or("`to` must be the recipient's phone number")?;
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    let allowed = to.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    if !allowed || !(5..=20).contains(&digits.len()) {
        return Err("`to` is not a phone number".into());
    }
    Ok(digits)
}

fn text<'a>(value: Option<&'a Value>, what: &str, max: usize) -> Result<&'a str, String> {
    let text = value.and_then(Value::as_str).ok_or_else(|| format!("{what} is required and must be a string"))?;
    if text.trim().is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(format!("{what} is {chars} characters; at most {max} are allowed"));
    }
    Ok(text)
}

fn media(object: &Map<String, Value>, kind: &str) -> Result<(), String> {
    match (object.get("link"), object.get("id")) {
        (Some(link), _) => {
            let link = text(Some(link), &format!("{kind}.link"), 2048)?;
            if !link.starts_with("https://") && !link.starts_with("http://") {
                return Err(format!("{kind}.link must be an http(s) URL"));
            }
        }
        (None, Some(id)) => {
            text(Some(id), &format!("{kind}.id"), 128)?;
        }
        (None, None) => return Err(format!("a {kind} needs a link or an id")),
    }
    if let Some(caption) = object.get("caption") {
        if matches!(kind, "audio" | "sticker") {
            return Err(format!("a {kind} has no caption"));
        }
        text(Some(caption), &format!("{kind}.caption"), 1024)?;
    }
    Ok(())
}

fn interactive(object: &Map<String, Value>) -> Result<(), String> {
    let kind = object.get("type").and_then(Value::as_str).ok_or("interactive.type is required")?;
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
                media(media_object.ok_or(format!("interactive.header.{media_kind} is required"))?, media_kind)?;
            }
            _ => {
                return Err("interactive.header.type must be text, image, video or document".into());
            }
        }
    }
    let action = object.get("action").ok_or("interactive.action is required")?;
    match kind {
        "button" => buttons(action),
        "list" => {
            if object.get("header").and_then(|h| h.get("type")).is_some_and(|t| t != "text") {
                return Err("a list's header can only be text".into());
            }
            list(action)
        }
        other => Err(format!("interactive.type {other:?} is not one the sandbox sends (button, list)")),
    }
}

fn buttons(action: &Value) -> Result<(), String> {
    let buttons = action.get("buttons").and_then(Value::as_array).ok_or("action.buttons is required")?;
    if !(1..=3).contains(&buttons.len()) {
        return Err(format!("{} buttons; a message has 1 to 3", buttons.len()));
    }
    let mut seen = (Vec::new(), Vec::new());
    for button in buttons {
        if button.get("type").and_then(Value::as_str) != Some("reply") {
            return Err("every button's type must be \"reply\"".into());
        }
        let reply = button.get("reply");
        let id = text(reply.and_then(|r| r.get("id")), "button reply.id", 256)?;
        let title = text(reply.and_then(|r| r.get("title")), "button reply.title", 20)?;
        if seen.0.contains(&id) || seen.1.contains(&title) {
            return Err("button ids and titles must be unique".into());
        }
        seen.0.push(id);
        seen.1.push(title);
    }
    Ok(())
}

fn list(action: &Value) -> Result<(), String> {
    text(action.get("button"), "action.button", 20)?;
    let sections = action.get("sections").and_then(Value::as_array).ok_or("action.sections is required")?;
    if !(1..=10).contains(&sections.len()) {
        return Err(format!("{} sections; a list has 1 to 10", sections.len()));
    }
    let mut ids = Vec::new();
    for section in sections {
        if sections.len() > 1 {
            text(section.get("title"), "section title (required with several sections)", 24)?;
        }
        let rows = section.get("rows").and_then(Value::as_array).filter(|r| !r.is_empty());
        for row in rows.ok_or("every section needs rows")? {
            let id = text(row.get("id"), "row id", 200)?;
            text(row.get("title"), "row title", 24)?;
            if let Some(description) = row.get("description") {
                text(Some(description), "row description", 72)?;
            }
            if ids.contains(&id) {
                return Err(format!("row id {id:?} is used twice"));
            }
            ids.push(id);
        }
    }
    if ids.len() > 10 {
        return Err(format!("{} rows; a list has at most 10", ids.len()));
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
            let error = message(&body).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
