//! WhatsApp end to end, through the running host: a signed webhook in, the
//! chat events on the tail, a stand-in seller (the probe) answering with a
//! product card, and that card arriving as a real HTTP request at a fake
//! Cloud API on 127.0.0.1 — or, as in the local store, in the WhatsApp
//! sandbox, where `agent-store chat` reads it.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_store::cli::chat::signature;
use agent_store_events::{ChatMessageNew, ChatResponse, WhatsAppMessageStatus};
use agent_store_tests::{HostBuilder, HostProcess, demo_env, host_binary_path, is, test_app, workspace_root};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(60);
const APP_SECRET: &str = "e2e-app-secret";
const FASHION_NUMBER: &str = "100000000000001";

/// The gateway, the stand-in seller and (with `sandbox`) the WhatsApp
/// sandbox, wired as in the repository's spin.toml.
fn manifest(sandbox: bool) -> String {
    let mut text = r#"
spin_manifest_version = 2
[application]
name = "whatsapp-e2e"

[variables]
whatsapp_verify_token = { required = true, secret = true }
whatsapp_app_secret = { required = true, secret = true }
whatsapp_access_token = { required = true, secret = true }
customer_hash_salt = { required = true, secret = true }
whatsapp_api_base = { default = "https://graph.facebook.com/v21.0" }
whatsapp_api_origin = { default = "https://graph.facebook.com" }
whatsapp_sandbox = { default = "off" }
whatsapp_brand_numbers = { default = "100000000000001=fashion,100000000000002=tech" }

[[trigger.http]]
route = "/webhooks/whatsapp"
component = "whatsapp-gateway"

[component.whatsapp-gateway]
source = "{{wasm}}/whatsapp_gateway.wasm"
key_value_stores = ["whatsapp"]
allowed_outbound_hosts = ["http://event-router.spin.internal", "{{ whatsapp_api_origin }}"]

[component.whatsapp-gateway.variables]
verify_token = "{{ whatsapp_verify_token }}"
app_secret = "{{ whatsapp_app_secret }}"
access_token = "{{ whatsapp_access_token }}"
api_base = "{{ whatsapp_api_base }}"
brand_numbers = "{{ whatsapp_brand_numbers }}"
hash_salt = "{{ customer_hash_salt }}"

[component.whatsapp-gateway.tool.agent-store]
subscribe = [{ type = "store.chat.response" }, { type = "store.whatsapp.message.send" }]
emits = ["store.whatsapp.message.*", "store.chat.message.new"]

[component.seller-fashion]
source = "{{wasm}}/test_probe.wasm"

[component.seller-fashion.tool.agent-store]
subscribe = [{ type = "store.chat.message.new", brand = "fashion" }]
emits = ["store.chat.response"]
"#
    .to_string();
    if sandbox {
        text.push_str(
            r#"
[[trigger.http]]
route = "/sandbox/whatsapp/..."
component = "whatsapp-sandbox"

[component.whatsapp-sandbox]
source = "{{wasm}}/whatsapp_sandbox.wasm"
key_value_stores = ["whatsapp-sandbox"]

[component.whatsapp-sandbox.variables]
enabled = "{{ whatsapp_sandbox }}"
"#,
        );
    }
    text
}

fn host(app: &tempfile::TempDir) -> HostBuilder {
    HostBuilder::new(app.path().join("spin.toml"))
        .arg("--kv")
        .arg("memory")
        .env("SPIN_VARIABLE_WHATSAPP_VERIFY_TOKEN", "e2e-verify-token")
        .env("SPIN_VARIABLE_WHATSAPP_APP_SECRET", APP_SECRET)
        .env("SPIN_VARIABLE_WHATSAPP_ACCESS_TOKEN", "e2e-access-token")
        .env("SPIN_VARIABLE_CUSTOMER_HASH_SALT", "e2e-salt")
}

/// A webhook with one text message, as the Cloud API documents it.
pub(crate) fn text_webhook(phone: &str, message_id: &str, body: &str) -> Vec<u8> {
    agent_store_tests::customer_wrote(Some(phone), body);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": FASHION_NUMBER},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": message_id, "timestamp": "1749416383", "type": "text", "text": {"body": body}}]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

async fn post_webhook(host: &HostProcess, body: Vec<u8>, secret: &str) -> Result<(u16, String)> {
    post_webhook_to(&host.url, body, secret).await
}

/// A webhook with `secret`'s signature, to the store at `base` (the host,
/// or Spin).
pub(crate) async fn post_webhook_to(base: &str, body: Vec<u8>, secret: &str) -> Result<(u16, String)> {
    let response = reqwest::Client::new()
        .post(format!("{base}/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature(secret, &body))
        .body(body)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.text().await?))
}

/// One request the fake Cloud API received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Value,
    /// When it arrived.
    pub(crate) at: std::time::Instant,
}

/// A fake WhatsApp Cloud API: a bare HTTP/1.1 server on 127.0.0.1 that
/// records requests and answers each message with a new wamid.
/// The repository's store on the memory key-value backend, its Cloud API
/// the fake at `api` and the local sandbox off.
pub(crate) fn repo_store_calling(api: &FakeCloudApi) -> agent_store_tests::HostBuilder {
    agent_store_tests::HostBuilder::repo_manifest()
        .arg("--kv")
        .arg("memory")
        .env("SPIN_VARIABLE_WHATSAPP_API_BASE", &format!("{}/v21.0", api.origin))
        .env("SPIN_VARIABLE_WHATSAPP_API_ORIGIN", &api.origin)
        .env("SPIN_VARIABLE_WHATSAPP_SANDBOX", "off")
}

pub(crate) struct FakeCloudApi {
    pub(crate) origin: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeCloudApi {
    pub(crate) async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sink = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    if let Err(e) = Self::answer(stream, sink).await {
                        eprintln!("fake Cloud API: {e:#}");
                    }
                });
            }
        });
        Ok(Self { origin, requests })
    }

    async fn answer(stream: TcpStream, sink: Arc<Mutex<Vec<Recorded>>>) -> Result<()> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let mut parts = line.split_whitespace();
        let (method, path) =
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let mut headers = HashMap::new();
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            match line.trim_end().split_once(':') {
                Some((name, value)) => headers.insert(name.to_ascii_lowercase(), value.trim().to_string()),
                None => break,
            };
        }
        let mut body = Vec::new();
        if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                line.clear();
                reader.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
            body.resize(length, 0);
            reader.read_exact(&mut body).await?;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer = {
            let mut requests = sink.lock().unwrap();
            requests.push(Recorded { method, path, headers, body: body.clone(), at: std::time::Instant::now() });
            json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": format!("wamid.E2E{:04}", requests.len())}]
            })
            .to_string()
        };
        let mut stream = reader.into_inner();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            answer.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        Ok(())
    }

    /// What it received so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// What it received for the customer at `phone`.
    pub(crate) fn requests_to(&self, phone: &str) -> Vec<Recorded> {
        self.requests.lock().unwrap().iter().filter(|r| r.body["to"] == phone).cloned().collect()
    }

    pub(crate) async fn wait_for(&self, count: usize) -> Result<Vec<Recorded>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let requests = self.requests.lock().unwrap().clone();
            if requests.len() >= count {
                return Ok(requests);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the fake Cloud API got {} requests, not {count}", requests.len());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_message_reaches_the_seller_and_its_product_card_reaches_whatsapp() -> Result<()> {
    const PHONE: &str = "34611222333";
    let api = FakeCloudApi::start().await?;
    let app = test_app(&manifest(false))?;
    let host = host(&app)
        .env("SPIN_VARIABLE_WHATSAPP_API_BASE", &format!("{}/v21.0", api.origin))
        .env("SPIN_VARIABLE_WHATSAPP_API_ORIGIN", &api.origin)
        .start()
        .await?;
    let mut tail = host.tail(&[]).await?;
    let mut seen = Vec::new();

    let (status, body) =
        post_webhook(&host, text_webhook(PHONE, "wamid.E2EIN1", "Hi! Linen shirts?"), "wrong-secret").await?;
    assert_eq!(status, 401, "{body}");
    let (status, body) =
        post_webhook(&host, text_webhook(PHONE, "wamid.E2EIN1", "Hi! Linen shirts?"), APP_SECRET).await?;
    assert_eq!(status, 200, "{body}");

    let received = tail.find(WAIT, |r| is(r, "published", "store.whatsapp.message.received")).await?;
    let new = tail.find(WAIT, |r| is(r, "published", "store.chat.message.new")).await?;
    let chat: ChatMessageNew = serde_json::from_value(new["event"]["data"].clone())?;
    assert_eq!((chat.brand.as_str(), chat.text.as_str()), ("fashion", "Hi! Linen shirts?"));
    assert!(chat.message_id.starts_with("wm-"), "a token for the wamid: {}", chat.message_id);
    assert_eq!(new["event"]["brand"], "fashion");
    assert_eq!(new["event"]["conversation"], chat.conversation.as_str());
    assert_eq!(new["event"]["depth"], 0, "straight from the webhook");
    let response = tail.find(WAIT, |r| is(r, "published", "store.chat.response")).await?;
    let response: ChatResponse = serde_json::from_value(response["event"]["data"].clone())?;
    assert_eq!(response.conversation, chat.conversation);
    let send = tail.find(WAIT, |r| is(r, "published", "store.whatsapp.message.send")).await?;
    seen.extend([received, new, send]);

    let calls = api.wait_for(1).await?;
    let call = &calls[0];
    assert_eq!((call.method.as_str(), call.path.as_str()), ("POST", "/v21.0/100000000000001/messages"));
    assert_eq!(call.headers.get("authorization").map(String::as_str), Some("Bearer e2e-access-token"));
    assert_eq!(
        call.body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": PHONE,
            "type": "interactive",
            "context": {"message_id": "wamid.E2EIN1"},
            "interactive": {
                "type": "button",
                "header": {"type": "image", "image": {"link": "https://cdn.agent-store.example/fashion/fsh-001.jpg"}},
                "body": {"text": "*Linen Summer Shirt*\n~USD 49.90~ *USD 39.92*\n\nYou said: Hi! Linen shirts?"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "add:fsh-001", "title": "Add to cart"}},
                    {"type": "reply", "reply": {"id": "more:shirts", "title": "Show me more"}}
                ]}
            }
        })
    );

    // WhatsApp reports progress on that message: the status finds its conversation.
    let status_webhook = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": FASHION_NUMBER},
            "statuses": [{"id": "wamid.E2E0001", "status": "delivered", "timestamp": "1749416390", "recipient_id": PHONE,
                          "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"}}]
        }}]}]
    });
    let (status, _) = post_webhook(&host, status_webhook.to_string().into_bytes(), APP_SECRET).await?;
    assert_eq!(status, 200);
    let record = tail.find(WAIT, |r| is(r, "published", "store.whatsapp.message.status")).await?;
    let delivered: WhatsAppMessageStatus = serde_json::from_value(record["event"]["data"].clone())?;
    assert_eq!(delivered.conversation.as_ref(), Some(&chat.conversation));
    seen.push(record);

    // The number went to WhatsApp and nowhere else: not in an event, not in
    // a log line, not even inside a WhatsApp message id (which encodes it).
    let mut everything = seen.iter().map(Value::to_string).collect::<Vec<_>>();
    everything.extend(host.logs());
    for text in &everything {
        assert!(!text.contains(PHONE) && !text.contains(&PHONE[2..]), "the phone number leaked: {text}");
        assert!(!text.contains("wamid."), "a WhatsApp message id leaked: {text}");
    }
    Ok(())
}

async fn sandbox_inbox(host: &HostProcess, phone: &str, count: usize) -> Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page: Value =
            reqwest::get(format!("{}/sandbox/whatsapp/messages?to={phone}", host.url)).await?.json().await?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        if messages.len() >= count {
            return Ok(messages);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the sandbox has {} messages for {phone}, not {count}: {page}", messages.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the chat's output until a line containing `needle`.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    needle: &str,
    log: &mut Vec<String>,
) -> Result<()> {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            log.push(line.clone());
            if line.contains(needle) {
                return Ok(());
            }
        }
        bail!("the chat ended")
    })
    .await;
    match found {
        Ok(result) => result.with_context(|| format!("waiting for {needle:?} in:\n{}", log.join("\n"))),
        Err(_) => bail!("no {needle:?} in the chat's output:\n{}", log.join("\n")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_local_store_replies_land_in_the_sandbox_and_agent_store_chat_shows_them() -> Result<()> {
    let app = test_app(&manifest(true))?;
    // demo.env's WhatsApp settings: the Cloud API is the sandbox, and it is on.
    let host =
        local_settings().into_iter().fold(host(&app), |host, (key, value)| host.env(&key, &value)).start().await?;

    let (status, body) = post_webhook(&host, text_webhook("34600000009", "wamid.E2ESBX1", "hola"), APP_SECRET).await?;
    assert_eq!(status, 200, "{body}");
    let messages = sandbox_inbox(&host, "34600000009", 1).await?;
    assert_eq!(messages[0]["phone_number_id"], FASHION_NUMBER);
    assert_eq!(
        messages[0]["message"]["interactive"]["body"]["text"],
        "*Linen Summer Shirt*\n~USD 49.90~ *USD 39.92*\n\nYou said: hola"
    );

    // The gateway's in-process routes are not public.
    for path in ["/media/1", "/webhooks/whatsapp/media/1", "/webhooks/whatsapp/../media/1"] {
        let status = reqwest::get(format!("{}{path}", host.url)).await?.status().as_u16();
        assert!(status == 404 || status == 400, "{path} answered {status}");
    }

    // A person chatting: a line out, the card back with numbered buttons,
    // a number taps a button.
    let mut chat = tokio::process::Command::new(host_binary_path())
        .args(["chat", "--brand", "fashion", "--phone", "+34 600 000 002", "--url", &host.url, "--poll-ms", "100"])
        .env("SPIN_VARIABLE_WHATSAPP_APP_SECRET", APP_SECRET)
        .env("AGENT_STORE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = chat.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(chat.stdout.take().context("stdout")?).lines();
    let mut log = Vec::new();
    read_until(&mut lines, "Chatting with Luna (fashion)", &mut log).await?;
    stdin.write_all(b"Do you have linen shirts?\n").await?;
    read_until(&mut lines, "You said: Do you have linen shirts?", &mut log).await?;
    read_until(&mut lines, "[1] Add to cart", &mut log).await?;
    read_until(&mut lines, "[2] Show me more", &mut log).await?;
    stdin.write_all(b"1\n").await?;
    read_until(&mut lines, "You said: Add to cart", &mut log).await?;
    stdin.write_all(b"/quit\n").await?;
    let status = tokio::time::timeout(WAIT, chat.wait()).await??;
    assert!(status.success(), "{status}\n{}", log.join("\n"));
    assert!(
        log.iter()
            .any(|l| l.starts_with("Luna (fashion): [image] https://cdn.agent-store.example/fashion/fsh-001.jpg")),
        "{}",
        log.join("\n")
    );
    Ok(())
}

/// The lines of demo.env that make the local store talk to the sandbox.
fn local_settings() -> Vec<(String, String)> {
    const SANDBOX: [&str; 3] =
        ["SPIN_VARIABLE_WHATSAPP_API_BASE", "SPIN_VARIABLE_WHATSAPP_API_ORIGIN", "SPIN_VARIABLE_WHATSAPP_SANDBOX"];
    let settings: Vec<_> = demo_env().into_iter().filter(|(key, _)| SANDBOX.contains(&key.as_str())).collect();
    assert_eq!(settings.len(), SANDBOX.len(), "demo.env sets {SANDBOX:?}");
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repository_store_is_one_you_can_chat_with_and_only_locally() -> Result<()> {
    // The README's way: the repository's spin.toml with demo.env, and
    // `agent-store chat` run from the repository (the app secret from demo.env).
    let host = HostBuilder::repo_manifest().arg("--kv").arg("memory").start().await?;
    let mut chat = tokio::process::Command::new(host_binary_path())
        .args(["chat", "--brand", "fashion", "--phone", "+34 600 000 003", "--url", &host.url, "--poll-ms", "100"])
        .current_dir(workspace_root())
        .env_remove("SPIN_VARIABLE_WHATSAPP_APP_SECRET")
        .env("AGENT_STORE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = chat.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(chat.stdout.take().context("stdout")?).lines();
    let mut log = Vec::new();
    read_until(&mut lines, "Chatting with Luna (fashion)", &mut log).await?;
    stdin.write_all(b"Hi!\n").await?;
    // Luna, the fashion brand's seller, answers through the gateway and the sandbox.
    read_until(&mut lines, "Luna (fashion): ", &mut log).await?;
    stdin.write_all(b"/quit\n").await?;
    let status = tokio::time::timeout(WAIT, chat.wait()).await??;
    assert!(status.success(), "{status}\n{}", log.join("\n"));
    drop(host);

    // The same spin.toml deployed anywhere else (the secrets set, demo.env's
    // sandbox settings not): the sandbox is not there, and the gateway's
    // Cloud API is Meta's.
    let sandbox = local_settings();
    let mut production = HostBuilder::new(workspace_root().join("spin.toml")).arg("--kv").arg("memory");
    for (key, value) in demo_env().into_iter().filter(|entry| !sandbox.contains(entry)) {
        production = production.env(&key, &value);
    }
    let production = production.start().await?;
    for path in ["/sandbox/whatsapp/messages?to=34600000003", "/sandbox/whatsapp/v21.0/100000000000001/messages"] {
        let response = reqwest::Client::new().get(format!("{}{path}", production.url)).send().await?;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert!(response.text().await?.contains("sandbox is off"), "{path}");
    }
    Ok(())
}
