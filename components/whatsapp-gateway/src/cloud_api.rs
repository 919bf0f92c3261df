//! What the gateway sends to the WhatsApp Cloud API
//! (`POST {api_base}/{phone_number_id}/messages`), and what it makes of the
//! answer.
//!
//! A product card has no Cloud API message of its own (WhatsApp's `product`
//! messages need a Meta commerce catalog, which the store does not keep), so
//! it is sent as an interactive reply-button message with the picture as
//! image header, and name, prices and description in the body — or, without
//! buttons, as an image with that text as caption.

use agent_store_events::{ListSection, OutboundMessage, ProductSummary, ReplyButton, StatusError, limits};
use serde_json::{Value, json};

use crate::privacy;
use crate::webhook::ApiError;

/// The JSON body of a message to `to`, quoting the customer message
/// `reply_to` when there is one.
pub fn message_body(to: &str, message: &OutboundMessage, reply_to: Option<&str>) -> Value {
    let (kind, object) = match message {
        OutboundMessage::Text { body, preview_url } => ("text", json!({ "preview_url": preview_url, "body": body })),
        OutboundMessage::Buttons { header, body, footer, buttons } => {
            let header = header.as_ref().map(|text| json!({ "type": "text", "text": text }));
            ("interactive", interactive_buttons(header, body, footer.as_deref(), buttons))
        }
        OutboundMessage::List { header, body, footer, button_label, sections } => {
            ("interactive", interactive_list(header.as_deref(), body, footer.as_deref(), button_label, sections))
        }
        OutboundMessage::Image { url, caption } => ("image", image(url, caption.as_deref())),
        OutboundMessage::ProductCard { product, buttons } if buttons.is_empty() => {
            ("image", image(&product.image_url, Some(&card_text(product, limits::CAPTION))))
        }
        OutboundMessage::ProductCard { product, buttons } => {
            let header = Some(json!({ "type": "image", "image": { "link": product.image_url } }));
            ("interactive", interactive_buttons(header, &card_text(product, limits::INTERACTIVE_BODY), None, buttons))
        }
    };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
    });
    body[kind] = object;
    if let Some(message_id) = reply_to {
        body["context"] = json!({ "message_id": message_id });
    }
    body
}

fn image(url: &str, caption: Option<&str>) -> Value {
    let mut image = json!({ "link": url });
    if let Some(caption) = caption {
        image["caption"] = json!(caption);
    }
    image
}

fn interactive_buttons(header: Option<Value>, body: &str, footer: Option<&str>, buttons: &[ReplyButton]) -> Value {
    let buttons: Vec<Value> =
        buttons.iter().map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } })).collect();
    let mut interactive = json!({
        "type": "button",
        "body": { "text": body },
        "action": { "buttons": buttons },
    });
    if let Some(header) = header {
        interactive["header"] = header;
    }
    if let Some(footer) = footer {
        interactive["footer"] = json!({ "text": footer });
    }
    interactive
}

fn interactive_list(
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    button_label: &str,
    sections: &[ListSection],
) -> Value {
    let sections: Vec<Value> = sections
        .iter()
        .map(|section| {
            let rows: Vec<Value> = section
                .rows
                .iter()
                .map(|row| {
                    let mut out = json!({ "id": row.id, "title": row.title });
                    if let Some(description) = &row.description {
                        out["description"] = json!(description);
                    }
                    out
                })
                .collect();
            let mut out = json!({ "rows": rows });
            if !section.title.is_empty() {
                out["title"] = json!(section.title);
            }
            out
        })
        .collect();
    let mut interactive = json!({
        "type": "list",
        "body": { "text": body },
        "action": { "button": button_label, "sections": sections },
    });
    if let Some(header) = header {
        interactive["header"] = json!({ "type": "text", "text": header });
    }
    if let Some(footer) = footer {
        interactive["footer"] = json!({ "text": footer });
    }
    interactive
}

/// The words of a product card, in WhatsApp's formatting: the name in bold,
/// the list price struck through next to the sale price, then the
/// description, shortened to fit `limit` characters.
pub fn card_text(product: &ProductSummary, limit: usize) -> String {
    let price = match &product.sale_price {
        Some(sale) => format!("~{}~ *{sale}*", product.price),
        None => format!("*{}*", product.price),
    };
    let head = format!("*{}*\n{price}", product.name);
    let Some(description) = product.description.as_deref().filter(|d| !d.trim().is_empty()) else {
        return truncate(&head, limit);
    };
    let room = limit.saturating_sub(head.chars().count() + 2);
    if room < 2 {
        return truncate(&head, limit);
    }
    format!("{head}\n\n{}", truncate(description, room))
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// What became of one call to the Cloud API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; WhatsApp's id for the message, when the answer had one.
    Accepted(Option<String>),
    /// Failed in a way that may pass later: the event is retried.
    Retry(String),
    /// Refused for good: reported, not retried.
    Refused(StatusError),
}

/// Cloud API error codes that mean "later" even when they come with a 4xx:
/// throttling (4, 80007, 130429, 131048, 131056), transient failures (1, 2,
/// 131000, 131016), and an access token that stopped working (190), which
/// an operator fixes without the message being at fault.
const RETRYABLE_CODES: &[i64] = &[1, 2, 4, 190, 80007, 130429, 131000, 131016, 131048, 131056];

/// Reads the Cloud API's answer to a message sent to `phone` (whose number is
/// masked in anything the outcome says).
pub fn outcome(status: u16, body: &[u8], phone: &str) -> Outcome {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        let id = json.pointer("/messages/0/id").and_then(Value::as_str).map(str::to_string);
        return Outcome::Accepted(id);
    }
    let error: Option<ApiError> = json.get("error").and_then(|e| serde_json::from_value(e.clone()).ok());
    let said = match &error {
        Some(error) => {
            let e = error.to_status_error(phone);
            format!("error {}: {}{}", e.code, e.title, e.detail.map(|d| format!(" ({d})")).unwrap_or_default())
        }
        None => privacy::redact(&String::from_utf8_lossy(body).chars().take(300).collect::<String>(), phone),
    };
    let retryable_code = error.as_ref().is_some_and(|e| RETRYABLE_CODES.contains(&e.code));
    if status == 429 || status == 401 || status >= 500 || retryable_code {
        return Outcome::Retry(format!("the Cloud API answered {status}, {said}"));
    }
    Outcome::Refused(match error {
        Some(error) => error.to_status_error(phone),
        None => StatusError {
            code: i64::from(status),
            title: format!("the Cloud API answered {status}"),
            detail: Some(said),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_events::{ListRow, Money, ProductId};

    fn card(description: Option<&str>) -> ProductSummary {
        ProductSummary {
            id: ProductId::new("fsh-001"),
            name: "Linen Summer Shirt".into(),
            price: Money::new(4990, "USD"),
            sale_price: Some(Money::new(3992, "USD")),
            image_url: "https://cdn.agent-store.example/fashion/fsh-001.jpg".into(),
            description: description.map(str::to_string),
        }
    }

    #[test]
    fn text_as_documented() {
        let body = message_body("16505551234", &OutboundMessage::text("Hi!"), Some("wamid.IN"));
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"preview_url": false, "body": "Hi!"},
                "context": {"message_id": "wamid.IN"}
            })
        );
    }

    #[test]
    fn lists_leave_out_what_is_empty() {
        let list = OutboundMessage::List {
            header: None,
            body: "Pick one".into(),
            footer: Some("Prices in USD".into()),
            button_label: "See shirts".into(),
            sections: vec![ListSection {
                title: String::new(),
                rows: vec![ListRow { id: "fsh-001".into(), title: "Linen".into(), description: None }],
            }],
        };
        let body = message_body("1", &list, None);
        assert_eq!(
            body["interactive"],
            json!({
                "type": "list",
                "body": {"text": "Pick one"},
                "footer": {"text": "Prices in USD"},
                "action": {"button": "See shirts", "sections": [{"rows": [{"id": "fsh-001", "title": "Linen"}]}]}
            })
        );
        assert!(body.get("context").is_none());
    }

    #[test]
    fn product_cards_show_both_prices_and_fit() {
        let text = card_text(&card(Some("Breathable linen.")), limits::INTERACTIVE_BODY);
        assert_eq!(text, "*Linen Summer Shirt*\n~USD 49.90~ *USD 39.92*\n\nBreathable linen.");
        let long = card_text(&card(Some(&"x".repeat(2000))), limits::INTERACTIVE_BODY);
        assert_eq!(long.chars().count(), limits::INTERACTIVE_BODY);
        assert!(long.ends_with('…'));
        let plain = message_body("1", &OutboundMessage::ProductCard { product: card(None), buttons: vec![] }, None);
        assert_eq!(plain["type"], "image");
        assert_eq!(plain["image"]["caption"], "*Linen Summer Shirt*\n~USD 49.90~ *USD 39.92*");
    }

    #[test]
    fn answers_decide_retries() {
        let accepted = br#"{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.OUT"}]}"#;
        assert_eq!(outcome(200, accepted, "16505551234"), Outcome::Accepted(Some("wamid.OUT".into())));
        assert!(matches!(outcome(503, b"busy", "1"), Outcome::Retry(_)));
        assert!(matches!(outcome(429, b"{}", "1"), Outcome::Retry(_)));
        let throttled = br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429}}"#;
        assert!(matches!(outcome(400, throttled, "1"), Outcome::Retry(_)));
        let refused = br#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number 16505551234 not in allowed list"},"fbtrace_id":"A"}}"#;
        let Outcome::Refused(error) = outcome(400, refused, "16505551234") else { panic!() };
        assert_eq!(error.code, 131030);
        assert_eq!(error.title, "(#131030) Recipient phone number not in allowed list");
        assert_eq!(error.detail.as_deref(), Some("Recipient phone number [phone] not in allowed list"));
        let Outcome::Refused(error) = outcome(404, b"no such thing", "1") else { panic!() };
        assert_eq!(error.code, 404);
    }
}
