//! `agent-store chat`: talk to the local store in the terminal as a WhatsApp
//! customer would, without a Meta account.
//!
//! Each line typed goes to the store as the Cloud API would deliver it: a
//! webhook to `/webhooks/whatsapp`, signed with the app secret, from the
//! brand's business number. The answers are read back from the WhatsApp
//! sandbox (`/sandbox/whatsapp/messages`), where the gateway sends them when
//! `whatsapp_api_base` points at it and the sandbox is on (both set by
//! `demo.env` for the local store). Buttons and list rows are numbered:
//! typing the number taps them.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The demo customer's number: a Spanish mobile number from a range no
/// operator assigns.
pub const DEMO_PHONE: &str = "+34600000001";

/// `spin.toml`'s default `whatsapp_brand_numbers`.
pub const DEFAULT_BRAND_NUMBERS: &str =
    "100000000000001=fashion,100000000000002=tech,100000000000003=home,100000000000004=beauty,100000000000005=gaming";

/// The variable, and `demo.env` line, that holds the app secret.
const APP_SECRET_VARIABLE: &str = "SPIN_VARIABLE_WHATSAPP_APP_SECRET";

#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// The brand to talk to (its business number comes from --brand-numbers).
    #[arg(long, default_value = "fashion")]
    pub brand: String,

    /// Your phone number, as a customer's would be; it stays in the local store.
    #[arg(long, default_value = DEMO_PHONE)]
    pub phone: String,

    /// Your WhatsApp profile name.
    #[arg(long, default_value = "Ana")]
    pub name: String,

    /// The store's base URL.
    #[arg(long, env = "AGENT_STORE_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,

    /// The app secret webhooks are signed with; else ./demo.env's value.
    #[arg(long, env = APP_SECRET_VARIABLE, hide_env_values = true)]
    pub app_secret: Option<String>,

    /// Which business number belongs to which brand: `phone_number_id=brand,…`.
    #[arg(long, env = "SPIN_VARIABLE_WHATSAPP_BRAND_NUMBERS", default_value = DEFAULT_BRAND_NUMBERS)]
    pub brand_numbers: String,

    /// How often to look for answers, in milliseconds.
    #[arg(long, default_value_t = 400)]
    pub poll_ms: u64,
}

/// The HMAC-SHA256 of `message` (RFC 2104), as Meta signs webhooks.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The `X-Hub-Signature-256` header value for a webhook body.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(app_secret.as_bytes(), body)))
}

/// The business number of `brand` in a `phone_number_id=brand,…` list.
pub fn brand_number(brand_numbers: &str, brand: &str) -> Result<String> {
    brand_numbers
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(_, b)| b.trim() == brand)
        .map(|(id, _)| id.trim().to_string())
        .with_context(|| format!("no business number for brand `{brand}` in `{brand_numbers}`"))
}

/// `KEY=value` from a `demo.env`-style text.
pub fn env_file_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// What the customer does: type, or tap a button or a list row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Text(String),
    Tap(Choice),
}

/// A button or list row the customer can tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub list: bool,
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    /// The message that showed it, which the reply quotes.
    pub message_id: String,
}

/// The customer as the webhook presents them.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Digits only, as WhatsApp writes `wa_id`.
    pub phone: String,
    pub name: String,
}

/// A webhook notification for one customer message, shaped as the Cloud
/// API's documented examples.
pub fn webhook_body(
    phone_number_id: &str,
    customer: &Customer,
    message_id: &str,
    timestamp: i64,
    said: &Said,
) -> Value {
    let mut message = json!({
        "from": customer.phone,
        "id": message_id,
        "timestamp": timestamp.to_string(),
    });
    match said {
        Said::Text(body) => {
            message["type"] = json!("text");
            message["text"] = json!({ "body": body });
        }
        Said::Tap(choice) => {
            message["context"] = json!({ "from": display_number(phone_number_id), "id": choice.message_id });
            message["type"] = json!("interactive");
            message["interactive"] = if choice.list {
                let mut reply = json!({ "id": choice.id, "title": choice.title });
                if let Some(description) = &choice.description {
                    reply["description"] = json!(description);
                }
                json!({ "type": "list_reply", "list_reply": reply })
            } else {
                json!({ "type": "button_reply", "button_reply": { "id": choice.id, "title": choice.title } })
            };
        }
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "0",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": display_number(phone_number_id), "phone_number_id": phone_number_id },
                    "contacts": [{ "profile": { "name": customer.name }, "wa_id": customer.phone }],
                    "messages": [message]
                },
                "field": "messages"
            }]
        }]
    })
}

/// A made-up display number for a business number id.
fn display_number(phone_number_id: &str) -> String {
    format!("1555{}", &phone_number_id[phone_number_id.len().saturating_sub(7)..])
}

/// What a line typed means given the choices on screen: a number picks one.
pub fn interpret(line: &str, choices: &[Choice]) -> Said {
    match line.trim().parse::<usize>() {
        Ok(n) if (1..=choices.len()).contains(&n) => Said::Tap(choices[n - 1].clone()),
        _ => Said::Text(line.trim().to_string()),
    }
}

/// A message from the sandbox made readable: its lines, and the choices it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub lines: Vec<String>,
    pub choices: Vec<Choice>,
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Renders a Cloud API message body as the customer's phone would show it.
pub fn render(message: &Value, message_id: &str) -> Rendered {
    let mut out = Rendered::default();
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("text");
    let mut choice = |list: bool, id: &str, title: &str, description: Option<&str>| {
        let label = match description {
            Some(d) => format!("{title} — {d}"),
            None => title.to_string(),
        };
        out.choices.push(Choice {
            list,
            id: id.to_string(),
            title: title.to_string(),
            description: description.map(str::to_string),
            message_id: message_id.to_string(),
        });
        format!("  [{}] {label}", out.choices.len())
    };
    let mut lines = Vec::new();
    match kind {
        "text" => lines.extend(str_at(message, "/text/body").unwrap_or_default().lines().map(str::to_string)),
        "image" => {
            lines.push(format!("[image] {}", str_at(message, "/image/link").unwrap_or("(uploaded media)")));
            lines.extend(str_at(message, "/image/caption").unwrap_or_default().lines().map(str::to_string));
        }
        "interactive" => {
            match message.pointer("/interactive/header/type").and_then(Value::as_str) {
                Some("text") => lines.push(str_at(message, "/interactive/header/text").unwrap_or_default().to_string()),
                Some(media) => {
                    let link =
                        str_at(message, &format!("/interactive/header/{media}/link")).unwrap_or("(uploaded media)");
                    lines.push(format!("[{media}] {link}"));
                }
                None => {}
            }
            lines.extend(str_at(message, "/interactive/body/text").unwrap_or_default().lines().map(str::to_string));
            if let Some(footer) = str_at(message, "/interactive/footer/text") {
                lines.push(format!("({footer})"));
            }
            let action = &message["interactive"]["action"];
            for button in action["buttons"].as_array().into_iter().flatten() {
                let (id, title) = (str_at(button, "/reply/id"), str_at(button, "/reply/title"));
                lines.push(choice(false, id.unwrap_or_default(), title.unwrap_or_default(), None));
            }
            if let Some(label) = str_at(action, "/button") {
                lines.push(format!("{label}:"));
            }
            for section in action["sections"].as_array().into_iter().flatten() {
                if let Some(title) = str_at(section, "/title") {
                    lines.push(format!(" {title}"));
                }
                for row in section["rows"].as_array().into_iter().flatten() {
                    let (id, title) =
                        (str_at(row, "/id").unwrap_or_default(), str_at(row, "/title").unwrap_or_default());
                    lines.push(choice(true, id, title, str_at(row, "/description")));
                }
            }
        }
        other => {
            let object = message.get(other).map(Value::to_string).unwrap_or_default();
            lines.push(format!("[{other}] {object}"));
        }
    }
    out.lines = lines;
    out
}

/// The name the brand's seller goes by, for the prompt.
fn seller_name(brand: &str) -> String {
    agent_store_events::DEMO_BRANDS
        .iter()
        .find(|b| b.id == brand)
        .map(|b| format!("{} ({brand})", b.agent))
        .unwrap_or_else(|| brand.to_string())
}

struct Session {
    client: reqwest::Client,
    base: String,
    app_secret: String,
    phone_number_id: String,
    customer: Customer,
    after: u64,
    color: bool,
}

impl Session {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    async fn send(&self, said: &Said) -> Result<()> {
        let message_id = format!("wamid.CHAT{}", uuid::Uuid::new_v4().simple().to_string().to_uppercase());
        let body =
            webhook_body(&self.phone_number_id, &self.customer, &message_id, chrono::Utc::now().timestamp(), said);
        let body = serde_json::to_vec(&body)?;
        let url = format!("{}/webhooks/whatsapp", self.base);
        let response = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature(&self.app_secret, &body))
            .body(body)
            .send()
            .await
            .with_context(|| format!("sending to {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let hint = if status.as_u16() == 401 { " (is the app secret the store's?)" } else { "" };
            bail!("the store answered {status}{hint}: {text}");
        }
        Ok(())
    }

    /// New messages for this customer: their seq and rendering, oldest first.
    async fn poll(&mut self, limit: u64) -> Result<Vec<Rendered>> {
        let url = format!("{}/sandbox/whatsapp/messages", self.base);
        let response = self
            .client
            .get(&url)
            .query(&[
                ("to", self.customer.phone.as_str()),
                ("after", &self.after.to_string()),
                ("limit", &limit.to_string()),
            ])
            .send()
            .await
            .with_context(|| format!("reading {url}"))?;
        if !response.status().is_success() {
            bail!(
                "{url} answered {}: is the WhatsApp sandbox on? The local store turns it on with demo.env's \
                 SPIN_VARIABLE_WHATSAPP_SANDBOX=on (and points SPIN_VARIABLE_WHATSAPP_API_BASE at it)",
                response.status()
            );
        }
        let page: Value = response.json().await.context("the sandbox's answer is not JSON")?;
        let mut out = Vec::new();
        for sent in page["messages"].as_array().into_iter().flatten() {
            self.after = self.after.max(sent["seq"].as_u64().unwrap_or(self.after));
            if sent["phone_number_id"] == self.phone_number_id.as_str() {
                out.push(render(&sent["message"], sent["id"].as_str().unwrap_or_default()));
            }
        }
        if limit == 0 {
            self.after = page["last_seq"].as_u64().unwrap_or(self.after);
        }
        Ok(out)
    }
}

fn app_secret(given: Option<String>) -> Result<String> {
    if let Some(secret) = given.filter(|s| !s.is_empty()) {
        return Ok(secret);
    }
    std::fs::read_to_string("demo.env")
        .ok()
        .and_then(|text| env_file_value(&text, APP_SECRET_VARIABLE))
        .context("no app secret: pass --app-secret, set SPIN_VARIABLE_WHATSAPP_APP_SECRET, or run where demo.env is")
}

pub async fn chat(args: ChatArgs) -> Result<()> {
    let phone: String = args.phone.chars().filter(char::is_ascii_digit).collect();
    if !(5..=20).contains(&phone.len()) {
        bail!("--phone `{}` is not a phone number", args.phone);
    }
    let mut session = Session {
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        base: args.url.trim_end_matches('/').to_string(),
        app_secret: app_secret(args.app_secret)?,
        phone_number_id: brand_number(&args.brand_numbers, &args.brand)?,
        customer: Customer { phone, name: args.name },
        after: 0,
        color: std::io::stdout().is_terminal(),
    };
    // Start after what was already said: a chat picks up, it does not replay.
    session.poll(0).await?;
    let seller = seller_name(&args.brand);
    println!(
        "Chatting with {} as +{}. Type a message; a number taps a choice; /quit leaves.",
        session.paint("1", &seller),
        session.customer.phone
    );
    let mut choices: Vec<Choice> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut ticker = tokio::time::interval(Duration::from_millis(args.poll_ms.max(50)));
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else {
                    // Piped input ended: show what is already there, then leave.
                    tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
                    for rendered in session.poll(100).await? {
                        print_message(&session, &seller, &rendered);
                    }
                    break;
                };
                let line = line.trim();
                match line {
                    "" => continue,
                    "/quit" | "/exit" => break,
                    _ => {}
                }
                let said = interpret(line, &choices);
                if let Said::Tap(choice) = &said {
                    println!("{}", session.paint("2", &format!("(you tap “{}”)", choice.title)));
                }
                if let Err(e) = session.send(&said).await {
                    eprintln!("{}", session.paint("31", &format!("not delivered: {e:#}")));
                }
            }
            _ = ticker.tick() => {
                match session.poll(100).await {
                    Ok(messages) => {
                        for rendered in messages {
                            print_message(&session, &seller, &rendered);
                            if !rendered.choices.is_empty() {
                                choices = rendered.choices;
                            }
                        }
                    }
                    Err(e) => eprintln!("{}", session.paint("31", &format!("{e:#}"))),
                }
            }
        }
    }
    Ok(())
}

fn print_message(session: &Session, seller: &str, rendered: &Rendered) {
    let name = session.paint("1;36", seller);
    let mut lines = rendered.lines.iter();
    println!("{name}: {}", lines.next().map(String::as_str).unwrap_or_default());
    for line in lines {
        let line = if line.starts_with("  [") { session.paint("33", line) } else { line.clone() };
        println!("  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert!(signature("demo-app-secret", b"{}").starts_with("sha256="));
    }

    fn customer() -> Customer {
        Customer { phone: "34600000001".into(), name: "Ana".into() }
    }

    #[test]
    fn a_text_webhook_is_shaped_like_meta_s() {
        let body = webhook_body("100000000000001", &customer(), "wamid.1", 1749416383, &Said::Text("hola".into()));
        let value = &body["entry"][0]["changes"][0]["value"];
        assert_eq!(body["object"], "whatsapp_business_account");
        assert_eq!(body["entry"][0]["changes"][0]["field"], "messages");
        assert_eq!(value["metadata"]["phone_number_id"], "100000000000001");
        assert_eq!(value["contacts"][0], json!({"profile": {"name": "Ana"}, "wa_id": "34600000001"}));
        assert_eq!(
            value["messages"][0],
            json!({"from": "34600000001", "id": "wamid.1", "timestamp": "1749416383", "type": "text", "text": {"body": "hola"}})
        );
    }

    #[test]
    fn numbers_tap_the_choices_on_screen() {
        let card = json!({
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "image", "image": {"link": "https://cdn.example/fsh-001.jpg"}},
                "body": {"text": "*Linen Summer Shirt*\n~USD 49.90~ *USD 39.92*"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "add:fsh-001", "title": "Add to cart"}},
                    {"type": "reply", "reply": {"id": "more", "title": "Show me more"}}
                ]}
            }
        });
        let rendered = render(&card, "wamid.OUT");
        assert_eq!(
            rendered.lines,
            [
                "[image] https://cdn.example/fsh-001.jpg",
                "*Linen Summer Shirt*",
                "~USD 49.90~ *USD 39.92*",
                "  [1] Add to cart",
                "  [2] Show me more"
            ]
        );
        let Said::Tap(tap) = interpret("2", &rendered.choices) else { panic!() };
        assert_eq!((tap.id.as_str(), tap.message_id.as_str(), tap.list), ("more", "wamid.OUT", false));
        assert_eq!(interpret("3", &rendered.choices), Said::Text("3".into()));
        assert_eq!(interpret(" hi ", &rendered.choices), Said::Text("hi".into()));

        let body = webhook_body("100000000000001", &customer(), "wamid.2", 1, &Said::Tap(tap));
        let message = &body["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["type"], "interactive");
        assert_eq!(message["context"]["id"], "wamid.OUT");
        assert_eq!(
            message["interactive"],
            json!({"type": "button_reply", "button_reply": {"id": "more", "title": "Show me more"}})
        );
    }

    #[test]
    fn lists_texts_and_images_render() {
        let list = json!({
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Shirts"},
                "body": {"text": "Which one?"},
                "footer": {"text": "Prices in USD"},
                "action": {"button": "See shirts", "sections": [
                    {"title": "Linen", "rows": [{"id": "fsh-001", "title": "Linen Summer Shirt", "description": "USD 39.92"}]},
                    {"title": "Cotton", "rows": [{"id": "fsh-007", "title": "Oxford"}]}
                ]}
            }
        });
        let rendered = render(&list, "wamid.L");
        assert_eq!(
            rendered.lines,
            [
                "Shirts",
                "Which one?",
                "(Prices in USD)",
                "See shirts:",
                " Linen",
                "  [1] Linen Summer Shirt — USD 39.92",
                " Cotton",
                "  [2] Oxford"
            ]
        );
        let Said::Tap(row) = interpret("1", &rendered.choices) else { panic!() };
        assert!(row.list);
        let body = webhook_body("100000000000001", &customer(), "wamid.3", 1, &Said::Tap(row));
        assert_eq!(
            body["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"],
            json!({"type": "list_reply", "list_reply": {"id": "fsh-001", "title": "Linen Summer Shirt", "description": "USD 39.92"}})
        );

        let text = render(&json!({"type": "text", "text": {"body": "Hi!\nHow are you?"}}), "w");
        assert_eq!(text.lines, ["Hi!", "How are you?"]);
        assert!(text.choices.is_empty());
        let image = render(&json!({"type": "image", "image": {"link": "https://x/a.jpg", "caption": "The back"}}), "w");
        assert_eq!(image.lines, ["[image] https://x/a.jpg", "The back"]);
    }

    #[test]
    fn settings_come_from_the_brand_list_and_demo_env() {
        assert_eq!(brand_number(DEFAULT_BRAND_NUMBERS, "tech").unwrap(), "100000000000002");
        assert!(brand_number(DEFAULT_BRAND_NUMBERS, "toys").unwrap_err().to_string().contains("toys"));
        let env = "# demo\nSPIN_VARIABLE_WHATSAPP_VERIFY_TOKEN=v\nSPIN_VARIABLE_WHATSAPP_APP_SECRET=demo-app-secret\n";
        assert_eq!(env_file_value(env, APP_SECRET_VARIABLE).as_deref(), Some("demo-app-secret"));
        assert_eq!(env_file_value(env, "MISSING"), None);
        assert_eq!(seller_name("fashion"), "Luna (fashion)");
        assert_eq!(seller_name("toys"), "toys");
    }
}
