//! The sellers' console (`/sales/console`) in headless Chromium, driven
//! over WebDriver, against the repository's store: real WhatsApp webhooks
//! in (signed), Luna (the fashion seller) answering, the sales assistant
//! queueing, and the gateway's Cloud API calls arriving at a fake Cloud API
//! on 127.0.0.1.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`,
//! which `cargo xtask test` installs when they are missing. Where neither
//! is there nor installable, the test says so and skips.
//!
//! Screenshots go to the temporary directory; with
//! `AGENT_STORE_UPDATE_SCREENSHOTS=1` they replace the ones of
//! `docs/console.md`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agent_store_tests::{HostBuilder, HostProcess, Tail, is, workspace_root};
use anyhow::{Context, Result, bail, ensure};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::whatsapp::{FakeCloudApi, Recorded};

const WAIT: Duration = Duration::from_secs(60);
/// The demo app secret of demo.env, which the repository's store uses.
const APP_SECRET: &str = "demo-app-secret";
const FASHION_NUMBER: &str = "100000000000001";
const TOKENS: &str = "tok-ana=ana:fashion,tok-bruno=bruno:fashion+tech";

const ANGRY_PHONE: &str = "34699000111";
const CALM_PHONE: &str = "34699000222";
/// A profile name that is markup: shown as text, it runs nothing.
const XSS_NAME: &str = "<img src=x onerror=window.__xss=1>Marta";
const XSS_LINE: &str = "hello <img src=x onerror=window.__xss=2><script>window.__xss=3</script>";
const ANGRY_LINE: &str = "This is ridiculous, worst service ever, nobody helps me!!";

// -- chromedriver and Chromium -----------------------------------------------------------

/// A chromedriver this test started on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl Drop for Driver {
    /// Asks chromedriver to shut down, which ends the browsers it started
    /// (a failed test leaves its sessions open), then kills it.
    fn drop(&mut self) {
        let address = self.url.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = write!(stream, "GET /shutdown HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        }
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

impl Driver {
    /// Starts chromedriver, or says why it cannot and gives `None`.
    async fn start() -> Result<Option<Self>> {
        let named = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        let driver = named("CHROMEDRIVER").or_else(|| on_path(&["chromedriver"]));
        // Debian's wrapper script is /usr/bin/chromium; the browser itself is beside its libraries.
        let chromium = named("CHROMIUM")
            .or_else(|| Some(PathBuf::from("/usr/lib/chromium/chromium")).filter(|p| p.is_file()))
            .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome"]));
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            eprintln!(
                "SKIPPED: the console's browser tests need Chromium and chromedriver, and this machine has \
                 neither installed (`cargo xtask test` installs them: apt-get install -y chromium chromium-driver)"
            );
            return Ok(None);
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let driver = Self { child, url: format!("http://127.0.0.1:{port}"), chromium };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(format!("{}/status", driver.url)).await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return Ok(Some(driver));
            }
            ensure!(tokio::time::Instant::now() < deadline, "chromedriver did not become ready on {}", driver.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless browser session: its own profile, so its own
    /// `sessionStorage`, as another seller's computer.
    async fn browser(&self) -> Result<Browser> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,900", "--lang=en-US", "--no-first-run", "--no-default-browser-check",
                         "--hide-scrollbars"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector).capabilities(capabilities).connect(&self.url).await?;
        Ok(Browser { client })
    }
}

/// One browser session, with waits that poll the page rather than sleep.
struct Browser {
    client: Client,
}

/// Whether a script's answer counts as yes.
fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false)) && value != &json!(0) && value != &json!("")
}

impl Browser {
    async fn js(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Runs `script` until it answers something truthy; that answer.
    async fn until(&self, what: &str, script: &str) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.js(script).await {
                Ok(value) if truthy(&value) => return Ok(value),
                Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                other => {
                    let page = self.js("return document.body.innerText").await.unwrap_or_default();
                    bail!("{what}: not within {WAIT:?} (last answer {other:?}); the page shows:\n{page}");
                }
            }
        }
    }

    /// Clicks the element at `css` once it is there (lists are redrawn
    /// as they poll, so a found element may be replaced before the click).
    async fn click(&self, css: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await.map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            match clicked {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() > deadline => return Err(e.context(format!("clicking {css}"))),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await?.send_keys(text).await?;
        Ok(())
    }

    async fn text(&self, css: &str) -> Result<String> {
        let script = format!("const e = document.querySelector({}); return e ? e.textContent : null", json!(css));
        Ok(self.until(&format!("the text of {css}"), &script).await?.as_str().unwrap_or_default().to_string())
    }

    /// Signs in as the page tells a seller to: the token, then Enter.
    async fn sign_in(&self, host: &HostProcess, token: &str) -> Result<()> {
        self.client.goto(&format!("{}/sales/console", host.url)).await?;
        self.type_into("#token", &format!("{token}{}", Key::Enter)).await?;
        self.until("the desk after signing in", "return !document.getElementById('desk').hidden").await?;
        Ok(())
    }

    /// A PNG of the window, kept where the docs want it.
    async fn screenshot(&self, name: &str) -> Result<()> {
        let png = self.client.screenshot().await?;
        ensure!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        let dir = match std::env::var_os("AGENT_STORE_UPDATE_SCREENSHOTS") {
            Some(_) => workspace_root().join("docs"),
            None => std::env::temp_dir().join("agent-store-console"),
        };
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), png)?;
        Ok(())
    }

    /// Every phone number the test uses is absent from the page.
    async fn shows_no_phone_number(&self) -> Result<()> {
        let page = self.client.source().await? + &self.js("return document.body.innerText").await?.to_string();
        for phone in [ANGRY_PHONE, CALM_PHONE] {
            ensure!(!page.contains(phone) && !page.contains(&phone[2..]), "the page shows {phone}");
        }
        Ok(())
    }

    async fn close(self) -> Result<()> {
        Ok(self.client.close().await?)
    }
}

// -- WhatsApp ----------------------------------------------------------------------------

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

async fn webhook(host: &HostProcess, value: Value) -> Result<()> {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
    })
    .to_string()
    .into_bytes();
    let (status, answer) = crate::whatsapp::post_webhook_to(&host.url, body, APP_SECRET).await?;
    ensure!(status == 200, "the webhook answered {status}: {answer}");
    Ok(())
}

/// A customer's text, as WhatsApp posts it.
async fn say(host: &HostProcess, phone: &str, name: &str, id: &str, text: &str) -> Result<()> {
    agent_store_tests::customer_wrote(Some(phone), text);
    let metadata = json!({"display_phone_number": "15550000001", "phone_number_id": FASHION_NUMBER});
    webhook(
        host,
        json!({
            "messaging_product": "whatsapp", "metadata": metadata,
            "contacts": [{"profile": {"name": name}, "wa_id": phone}],
            "messages": [{"from": phone, "id": id, "timestamp": unix_now().to_string(), "type": "text", "text": {"body": text}}]
        }),
    )
    .await
}

/// WhatsApp's report on a message the store sent.
async fn report(host: &HostProcess, phone: &str, wamid: &str, status: &str) -> Result<()> {
    let metadata = json!({"display_phone_number": "15550000001", "phone_number_id": FASHION_NUMBER});
    webhook(
        host,
        json!({
            "messaging_product": "whatsapp", "metadata": metadata,
            "statuses": [{"id": wamid, "status": status, "timestamp": unix_now().to_string(), "recipient_id": phone}]
        }),
    )
    .await
}

/// The next answer of Luna, the fashion seller, on the tail.
async fn luna_answers(tail: &mut Tail, predicate: impl Fn(&Value) -> bool) -> Result<Value> {
    tail.find(WAIT, |r| {
        is(r, "published", "store.chat.response")
            && r["event"]["source"] == "/agent-store/seller-fashion"
            && predicate(&r["event"]["data"])
    })
    .await
}

/// The texts the fake Cloud API got for `phone`, with WhatsApp's id for each.
fn texts_to(api: &FakeCloudApi, phone: &str) -> Vec<(String, String)> {
    // The fake answers the n-th request (of all) with wamid.E2E<n>.
    api.requests()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.body["to"] == phone && r.body["type"] == "text")
        .map(|(n, r)| (format!("wamid.E2E{:04}", n + 1), r.body["text"]["body"].as_str().unwrap_or_default().into()))
        .collect()
}

async fn until_sent(api: &FakeCloudApi, phone: &str, what: &str, found: impl Fn(&[Recorded]) -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !found(api.requests_to(phone).as_slice()) {
        ensure!(tokio::time::Instant::now() < deadline, "the fake Cloud API never got {what}: {:?}", api.requests());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn store_with(api: &FakeCloudApi) -> HostBuilder {
    crate::whatsapp::repo_store_calling(api).env("SPIN_VARIABLE_SALES_API_TOKENS", TOKENS)
}

// -- the test ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_seller_takes_an_angry_customer_from_the_queue_answers_and_hands_back() -> Result<()> {
    let Some(driver) = Driver::start().await? else { return Ok(()) };
    let api = FakeCloudApi::start().await?;
    let host = store_with(&api).start().await?;
    let mut tail = host.tail(&[]).await?;

    // Two customers want a person: one calm, asking for one; one furious,
    // who first said hello in markup and looked for sneakers.
    say(&host, CALM_PHONE, "Luis", "wamid.CALM1", "Can I talk to a real person, please?").await?;
    let calm = tail.find(WAIT, |r| is(r, "published", "store.sales.escalate")).await?;
    assert_eq!(calm["event"]["data"]["reason"], "customer_request", "{calm}");
    say(&host, ANGRY_PHONE, XSS_NAME, "wamid.ANGRY1", XSS_LINE).await?;
    luna_answers(&mut tail, |_| true).await?;
    say(&host, ANGRY_PHONE, XSS_NAME, "wamid.ANGRY2", "Hi! do you have white sneakers?").await?;
    luna_answers(&mut tail, |data| data.to_string().contains("product_card")).await?;
    say(&host, ANGRY_PHONE, XSS_NAME, "wamid.ANGRY3", ANGRY_LINE).await?;
    let angry = tail.find(WAIT, |r| is(r, "published", "store.sales.escalate")).await?;
    assert_eq!(angry["event"]["data"]["reason"], "low_sentiment", "{angry}");
    let id = angry["event"]["data"]["escalation_id"].as_str().context("an escalation id")?.to_string();

    // Ana signs in (keyboard only) and sees both, the angry one first.
    let ana = driver.browser().await?;
    ana.sign_in(&host, "tok-ana").await?;
    ana.until("two in the queue", "return document.querySelectorAll('#queue .queue-item').length === 2").await?;
    let first = ana.js("return document.querySelector('#queue .queue-item').dataset.id").await?;
    assert_eq!(first, json!(id), "the angry customer comes first");
    let item = ana.text("#queue .queue-item").await?;
    for shown in ["fashion", "angry", "waiting", "frustrated"] {
        assert!(item.contains(shown), "the queue item shows {shown:?}: {item}");
    }
    assert!(ana.text("#queue li:nth-child(2) .queue-item").await?.contains("asked for a person"));
    assert_eq!(ana.text("#queue-count").await?, "2");
    assert!(ana.client.title().await?.starts_with("(2) "), "the title counts them");
    assert_eq!(ana.text("#seller-id").await?, "Signed in as ana");
    ana.shows_no_phone_number().await?;
    ana.screenshot("console-queue.png").await?;

    // Bruno signs in elsewhere; both open the angry customer and accept at once.
    let bruno = driver.browser().await?;
    bruno.sign_in(&host, "tok-bruno").await?;
    let item = format!("#queue .queue-item[data-id=\"{id}\"]");
    for seller in [&ana, &bruno] {
        seller.click(&item).await?;
        seller.until("the accept button", "return !document.getElementById('accept').hidden").await?;
    }
    let (a, b) = tokio::join!(ana.click("#accept"), bruno.click("#accept"));
    a?;
    b?;
    let outcome = "const conflict = document.querySelector('#notice.conflict:not([hidden])'); \
                   if (conflict) return 'conflict: ' + conflict.textContent; \
                   return !document.getElementById('reply-form').hidden && 'accepted'";
    let (for_ana, for_bruno) =
        (ana.until("ana's accept", outcome).await?, bruno.until("bruno's accept", outcome).await?);
    let (seller, other, conflict) = match (for_ana.as_str(), for_bruno.as_str()) {
        (Some("accepted"), Some(conflict)) => (&ana, &bruno, conflict.to_string()),
        (Some(conflict), Some("accepted")) => (&bruno, &ana, conflict.to_string()),
        outcome => bail!("exactly one seller gets the customer: {outcome:?}"),
    };
    assert!(conflict.contains("Another seller accepted this conversation first"), "{conflict}");
    assert!(other.js("return document.getElementById('reply-form').hidden").await? == json!(true));

    // The transcript: customer, AI seller, product cards; the markup as text.
    seller
        .until("the transcript", "return document.querySelectorAll('#transcript .line.customer').length >= 3")
        .await?;
    assert!(seller.js("return document.querySelectorAll('#transcript .line.ai').length").await?.as_u64() >= Some(2));
    seller.until("a product card", "return document.querySelector('#transcript .line.ai .product-card')").await?;
    assert_eq!(seller.text("#conv-title").await?, XSS_NAME, "the name, as text");
    let lines = seller
        .js("return [...document.querySelectorAll('#transcript .line.customer .text')].map(e => e.textContent)")
        .await?;
    assert!(lines.as_array().is_some_and(|l| l.contains(&json!(XSS_LINE))), "the markup, as text: {lines}");
    let ran =
        "return [window.__xss === undefined, document.querySelectorAll('img[src=\"x\"], #transcript script').length]";
    for browser in [&ana, &bruno] {
        assert_eq!(browser.js(ran).await?, json!([true, 0]), "customer markup ran or became elements");
        browser.shows_no_phone_number().await?;
    }

    // A suggestion, edited, sent with Enter; it shows at once.
    seller.until("a suggestion", "return document.querySelectorAll('#drafts .draft').length").await?;
    let draft = seller.text("#drafts .draft .draft-text").await?;
    seller.click("#drafts .draft").await?;
    assert_eq!(seller.js("return document.getElementById('reply').value").await?, json!(draft));
    let sent = format!("{draft} Your order comes first today.");
    seller.type_into("#reply", &format!(" Your order comes first today.{}", Key::Enter)).await?;
    let shown = "return [...document.querySelectorAll('#transcript .line.human .text')].map(e => e.textContent)";
    let started = tokio::time::Instant::now();
    seller.until("the reply in the transcript", &format!("{shown}.includes({})", json!(sent))).await?;
    assert!(started.elapsed() < Duration::from_secs(2), "the reply shows at once, not after a round trip");
    assert_eq!(seller.js("return document.getElementById('reply').value").await?, json!(""));

    // WhatsApp gets it for that customer, then reports it delivered and read.
    until_sent(&api, ANGRY_PHONE, "the human's reply", |_| texts_to(&api, ANGRY_PHONE).iter().any(|(_, t)| *t == sent))
        .await?;
    let wamid = texts_to(&api, ANGRY_PHONE).into_iter().find(|(_, t)| *t == sent).map(|(w, _)| w).context("a wamid")?;
    let mark = "const l = [...document.querySelectorAll('#transcript .line.human')].pop(); \
                const m = l && !l.classList.contains('pending') && l.querySelector('.mark'); return m && m.dataset.status";
    seller.until("the reply marked sent", &format!("{mark} === 'sent'")).await?;
    report(&host, ANGRY_PHONE, &wamid, "delivered").await?;
    seller.until("the reply marked delivered", &format!("{mark} === 'delivered'")).await?;
    report(&host, ANGRY_PHONE, &wamid, "read").await?;
    seller.until("the reply marked read", &format!("{mark} === 'read'")).await?;
    assert_eq!(seller.text("#cart").await?, "Empty.", "she added nothing");
    assert_eq!(seller.text("#orders").await?, "None in this conversation.");
    seller.client.set_window_size(1280, 1200).await?;
    seller.until("the layout at the new size", "return window.innerHeight > 1000").await?;
    seller.screenshot("console-conversation.png").await?;

    // At a phone's width: one pane, nothing wider than the screen.
    seller.client.set_window_size(390, 844).await?;
    seller
        .until(
            "the phone layout",
            "return getComputedStyle(document.getElementById('queue-pane')).display === 'none' \
             && document.documentElement.scrollWidth <= window.innerWidth \
             && document.getElementById('reply').getBoundingClientRect().width > 200",
        )
        .await?;
    seller.screenshot("console-phone.png").await?;
    seller.client.set_window_size(1280, 900).await?;

    // Handed back to Luna with how it ended; she answers the next message.
    let before = api.requests_to(ANGRY_PHONE).len();
    seller.client.find(Locator::Css("#release-resolution")).await?.select_by_value("resolved").await?;
    seller.type_into("#release-note", "Refund policy explained; she may still buy.").await?;
    seller.click("#release").await?;
    seller
        .until("released", "return document.getElementById('conv-meta').textContent.includes('released (resolved)')")
        .await?;
    let released = tail.find(WAIT, |r| is(r, "published", "store.sales.escalation.released")).await?;
    assert_eq!(released["event"]["data"]["note"], "Refund policy explained; she may still buy.");
    luna_answers(&mut tail, |_| true).await?; // she is back
    say(&host, ANGRY_PHONE, XSS_NAME, "wamid.ANGRY4", "ok, what's in my cart?").await?;
    luna_answers(&mut tail, |data| data["from"]["kind"] == "ai").await?;
    until_sent(&api, ANGRY_PHONE, "Luna's answers after the release", |r| r.len() >= before + 2).await?;

    // Insights, as charts.
    seller.click("#nav-insights").await?;
    seller.until("the charts", "return document.querySelectorAll('#chart-volume svg rect').length >= 4").await?;
    assert!(seller.text("#insights-queue").await?.contains("waiting now"));
    seller.screenshot("console-insights.png").await?;

    // Signing out forgets the token.
    seller.click("#signout").await?;
    seller.until("the sign-in form", "return !document.getElementById('signin').hidden").await?;
    let left = "return [sessionStorage.length, document.querySelectorAll('#queue li, #transcript li').length]";
    assert_eq!(seller.js(left).await?, json!([0, 0]), "nothing of the session stays");

    ana.close().await?;
    bruno.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_does_not_get_in_and_the_page_needs_nothing_from_outside() -> Result<()> {
    let Some(driver) = Driver::start().await? else { return Ok(()) };
    let api = FakeCloudApi::start().await?;
    let host = store_with(&api).start().await?;
    let browser = driver.browser().await?;
    browser.client.goto(&format!("{}/sales/console", host.url)).await?;
    browser.type_into("#token", &format!("tok-nobody{}", Key::Enter)).await?;
    let error = browser.until("the refusal", "return document.getElementById('signin-error').textContent").await?;
    assert_eq!(error, json!("That token is not a seller's token."));
    assert_eq!(
        browser.js("return [document.getElementById('desk').hidden, sessionStorage.length]").await?,
        json!([true, 0])
    );
    // Everything the page loaded came from the store itself.
    let origins = browser
        .js("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin).concat([location.origin])")
        .await?;
    let origins: Vec<&str> = origins.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(origins.iter().all(|o| *o == host.url), "{origins:?}");
    browser.close().await?;
    Ok(())
}
