//! Selling like a good shop assistant (issue 17), end to end: signed WhatsApp
//! webhooks in, the repository's store (real sellers, catalog, order
//! processor, sales assistant) in between, and what the customer is sent
//! arriving at a fake Cloud API on 127.0.0.1.
//!
//! - a size, colour or shade named in the first message follows the product
//!   into the cart, the order summary, the order and its confirmation, and
//!   the catalog holds that variant's stock;
//! - a customer waiting for a person hears that their messages are passed on
//!   (once, not on every message) and their place in the queue, is told who
//!   joined, and everything they wrote — a photo too — is in the transcript
//!   the person reads.

use std::time::Duration;

use agent_store_tests::{HostProcess, Tail, event, is};
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::whatsapp::FakeCloudApi;

const WAIT: Duration = Duration::from_secs(60);
/// `demo.env`'s app secret, which the repository's store checks webhooks with.
const APP_SECRET: &str = "demo-app-secret";

/// The repository's store, its Cloud API the fake one.
async fn shop(api: &FakeCloudApi) -> Result<HostProcess> {
    crate::whatsapp::repo_store_calling(api).env("SPIN_VARIABLE_SALES_API_TOKENS", "tok-ana=ana").start().await
}

/// A brand's WhatsApp number in the repository's spin.toml.
fn brand_number(brand: &str) -> &'static str {
    match brand {
        "fashion" => "100000000000001",
        "tech" => "100000000000002",
        "home" => "100000000000003",
        "beauty" => "100000000000004",
        _ => "100000000000005",
    }
}

/// One customer's phone, writing to one brand.
struct Phone<'a> {
    host: &'a HostProcess,
    api: &'a FakeCloudApi,
    number: String,
    brand: &'static str,
    sent: u32,
    /// Cloud API requests to this phone already read.
    read: usize,
}

/// What the customer got: the words of each message and the ids of the
/// buttons and rows offered.
#[derive(Debug, Default)]
struct Got {
    text: String,
    ids: Vec<String>,
}

impl<'a> Phone<'a> {
    fn new(host: &'a HostProcess, api: &'a FakeCloudApi, brand: &'static str, number: &str) -> Self {
        Self { host, api, number: number.to_owned(), brand, sent: 0, read: 0 }
    }

    async fn send(&mut self, message: Value) -> Result<()> {
        self.sent += 1;
        agent_store_tests::customer_wrote(Some(&self.number), message["text"]["body"].as_str().unwrap_or_default());
        let mut message = message;
        message["from"] = json!(self.number);
        message["id"] = json!(format!("wamid.SELL{}{}", self.number, self.sent));
        message["timestamp"] = json!("1749416383");
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000001", "phone_number_id": brand_number(self.brand)},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": self.number}],
                "messages": [message]
            }}]}]
        })
        .to_string()
        .into_bytes();
        let (status, answer) = crate::whatsapp::post_webhook_to(&self.host.url, body, APP_SECRET).await?;
        ensure!(status == 200, "webhook: {status}: {answer}");
        Ok(())
    }

    async fn say(&mut self, text: &str) -> Result<()> {
        self.send(json!({"type": "text", "text": {"body": text}})).await
    }

    async fn tap(&mut self, id: &str) -> Result<()> {
        let kind = if id.starts_with("variant:") || id.starts_with("product:") { "list_reply" } else { "button_reply" };
        self.send(json!({"type": "interactive", "interactive": {"type": kind, kind: {"id": id, "title": "tap"}}})).await
    }

    async fn photo(&mut self) -> Result<()> {
        self.send(json!({"type": "image", "image": {"id": "1234567890", "mime_type": "image/jpeg"}})).await
    }

    /// What reached the phone until a message containing `needle` (all of
    /// it, in order); fails after [`WAIT`].
    async fn until(&mut self, needle: &str) -> Result<Got> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut got = Got::default();
        loop {
            let requests = self.api.requests_to(&self.number);
            while self.read < requests.len() {
                let body = &requests[self.read].body;
                self.read += 1;
                collect(body, &mut got);
                if body.to_string().contains(needle) {
                    return Ok(got);
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{}: nothing with {needle:?} reached the phone; got {got:?}", self.brand);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message to the phone so far, from the first.
    fn all(&self) -> Got {
        let mut got = Got::default();
        for request in self.api.requests_to(&self.number) {
            collect(&request.body, &mut got);
        }
        got
    }
}

/// The words and choices of one Cloud API message.
fn collect(body: &Value, got: &mut Got) {
    for text in [&body["text"]["body"], &body["interactive"]["body"]["text"], &body["image"]["caption"]] {
        if let Some(text) = text.as_str() {
            got.text.push_str(text);
            got.text.push('\n');
        }
    }
    for button in body["interactive"]["action"]["buttons"].as_array().into_iter().flatten() {
        got.ids.extend(button["reply"]["id"].as_str().map(str::to_owned));
    }
    for section in body["interactive"]["action"]["sections"].as_array().into_iter().flatten() {
        for row in section["rows"].as_array().into_iter().flatten() {
            got.ids.extend(row["id"].as_str().map(str::to_owned));
        }
    }
}

/// A customer who names the variant in their first message.
struct Sale {
    brand: &'static str,
    phone: &'static str,
    first: &'static str,
    product: &'static str,
    variant: &'static str,
    /// How the cart names it: `Canvas Low-Top Sneakers (size 38)`.
    label: &'static str,
    /// Words of the order confirmation in the customer's language.
    placed: &'static str,
}

const SALES: [Sale; 6] = [
    Sale {
        brand: "fashion",
        phone: "34600000101",
        first: "Hi! do you have white sneakers in size 38?",
        product: "fsh-022",
        variant: "38",
        label: "Canvas Low-Top Sneakers (size 38)",
        placed: "order",
    },
    Sale {
        brand: "fashion",
        phone: "34600000102",
        first: "hola, busco un vestido de lino en talla M",
        product: "fsh-001",
        variant: "M",
        label: "Linen Wrap Midi Dress (talla M)",
        placed: "pedido",
    },
    Sale {
        brand: "fashion",
        phone: "34600000103",
        first: "oi! vocês têm tênis branco tamanho 37?",
        product: "fsh-022",
        variant: "37",
        label: "Canvas Low-Top Sneakers (tamanho 37)",
        placed: "pedido",
    },
    Sale {
        brand: "beauty",
        phone: "34600000104",
        first: "hi, do you have a lipstick in the shade Cherry?",
        product: "bty-015",
        variant: "Cherry",
        label: "Velvet Satin Lipstick (shade Cherry)",
        placed: "order",
    },
    Sale {
        brand: "beauty",
        phone: "34600000105",
        first: "hola, ¿tienen labial en tono Coral?",
        product: "bty-015",
        variant: "Coral",
        label: "Velvet Satin Lipstick (tono Coral)",
        placed: "pedido",
    },
    Sale {
        brand: "beauty",
        phone: "34600000106",
        first: "oi, vocês têm batom no tom Berry?",
        product: "bty-015",
        variant: "Berry",
        label: "Velvet Satin Lipstick (tom Berry)",
        placed: "pedido",
    },
];

/// The catalog's live figures for a product's variants, read as a seller
/// would: a `store.product.query` for its name, the answer on the tail.
async fn variant_stock(host: &HostProcess, tail: &mut Tail, brand: &str, product: &str) -> Result<Value> {
    let request_id = format!("q-stock-{}", uuid::Uuid::new_v4().simple());
    let mut query = event(
        "store.product.query",
        json!({"request_id": request_id, "brand": brand, "text": product_name(brand, product), "limit": 10}),
    );
    query.set_extension("brand", brand);
    let (status, body) = host.post_event(&query).await?;
    ensure!(status == 202, "{status}: {body}");
    let result = tail
        .find(WAIT, |r| {
            is(r, "published", "store.product.query.result") && r["event"]["data"]["request_id"] == request_id.as_str()
        })
        .await?;
    result["event"]["data"]["products"]
        .as_array()
        .and_then(|products| products.iter().find(|p| p["id"] == product))
        .map(|p| p["variants"].clone())
        .with_context(|| format!("{product} in {result}"))
}

fn product_name(brand: &str, product: &str) -> &'static str {
    match (brand, product) {
        ("fashion", "fsh-022") => "canvas low-top sneakers",
        ("fashion", "fsh-001") => "linen wrap midi dress",
        ("tech", "tec-013") => "voltix airbook 14 laptop",
        _ => "velvet satin lipstick",
    }
}

fn option_stock(variants: &Value, value: &str) -> Option<u64> {
    variants["options"].as_array()?.iter().find(|o| o["value"] == value)?["stock"].as_u64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_variant_named_first_reaches_the_cart_the_order_and_the_stock_in_three_languages() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    let mut tail = host.tail(&[]).await?;
    for sale in &SALES {
        let (brand, product, variant) = (sale.brand, sale.product, sale.variant);
        let before = variant_stock(&host, &mut tail, brand, product).await?;
        let mut phone = Phone::new(&host, &api, brand, sale.phone);

        // The search shows the product; the customer opens it and adds it,
        // without saying the size again.
        phone.say(sale.first).await?;
        let got = phone.until(product).await?;
        if !got.ids.contains(&format!("add:{product}")) {
            ensure!(got.ids.contains(&format!("product:{product}")), "{brand}: {product} shown: {got:?}");
            phone.tap(&format!("product:{product}")).await?;
            phone.until(&format!("add:{product}")).await?;
        }
        phone.tap(&format!("add:{product}")).await?;
        let got = phone.until("checkout").await?;
        ensure!(got.text.contains(sale.label), "{brand}: the cart line names the variant: {got:?}");

        // The order summary, then the order.
        phone.tap("checkout").await?;
        let got = phone.until("\"yes\"").await?;
        ensure!(got.text.contains(&format!("({variant})")), "{brand}: the summary names it: {got:?}");
        phone.tap("yes").await?;
        let create =
            tail.find(WAIT, |r| is(r, "published", "store.order.create") && r["event"]["brand"] == brand).await?;
        assert_eq!(create["event"]["data"]["lines"][0]["variant"], variant, "{brand}: {create}");
        let created = tail
            .find(WAIT, |r| is(r, "published", "store.order.created") || is(r, "published", "store.order.rejected"))
            .await?;
        assert_eq!(created["event"]["type"], "store.order.created", "{created}");
        let order = &created["event"]["data"]["order"];
        assert_eq!(order["lines"][0]["product_id"], product);
        assert_eq!(order["lines"][0]["variant"], variant, "{brand}: the order keeps it");
        let id = order["id"].as_str().context("an order id")?.to_owned();
        let got = phone.until(&id).await?;
        ensure!(got.text.contains(&format!("({variant})")), "{brand}: the confirmation names it: {got:?}");
        ensure!(got.text.to_lowercase().contains(sale.placed), "{brand}: in the customer's language: {got:?}");

        // The catalog holds one unit of that variant, and of no other.
        let after = variant_stock(&host, &mut tail, brand, product).await?;
        for option in before["options"].as_array().context("options")? {
            let value = option["value"].as_str().unwrap_or_default();
            let held = u64::from(value == variant);
            assert_eq!(
                option_stock(&after, value),
                option["stock"].as_u64().map(|s| s - held),
                "{brand}: {product} {value}: {before} → {after}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_variant_with_its_own_price_is_charged_that_price_from_the_cart_to_the_confirmation() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    let mut tail = host.tail(&[]).await?;
    // The Airbook's 1 TB costs more than the laptop's price: the catalog
    // says how much, promotions applied, and that is what is charged.
    let variants = variant_stock(&host, &mut tail, "tech", "tec-013").await?;
    let option = variants["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["value"] == "1 TB"))
        .with_context(|| format!("a 1 TB option: {variants}"))?;
    let price = option.get("sale_price").filter(|p| !p.is_null()).unwrap_or(&option["price"]);
    let minor = price["amount_minor"].as_i64().with_context(|| format!("the 1 TB's own price: {option}"))?;
    let shown = format!("USD {}.{:02}", minor / 100, minor % 100);

    let mut phone = Phone::new(&host, &api, "tech", "34600000151");
    phone.say("hi, do you have the airbook laptop in 1 TB?").await?;
    let got = phone.until("tec-013").await?;
    if !got.ids.contains(&"add:tec-013".to_owned()) {
        phone.tap("product:tec-013").await?;
        phone.until("add:tec-013").await?;
    }
    phone.tap("add:tec-013").await?;
    let got = phone.until("checkout").await?;
    ensure!(got.text.contains("(storage 1 TB)") && got.text.contains(&shown), "the cart prices the 1 TB: {got:?}");
    phone.tap("checkout").await?;
    let got = phone.until("\"yes\"").await?;
    ensure!(got.text.contains(&shown), "the summary's total is the 1 TB's: {got:?}");
    phone.tap("yes").await?;
    let created = tail
        .find(WAIT, |r| is(r, "published", "store.order.created") || is(r, "published", "store.order.rejected"))
        .await?;
    assert_eq!(created["event"]["type"], "store.order.created", "{created}");
    let order = &created["event"]["data"]["order"];
    assert_eq!(order["lines"][0]["variant"], "1 TB");
    assert_eq!(order["lines"][0]["unit_price"]["amount_minor"], minor, "{order}");
    assert_eq!(order["total"]["amount_minor"], minor, "{order}");
    let id = order["id"].as_str().context("an order id")?.to_owned();
    let got = phone.until(&id).await?;
    ensure!(got.text.contains(&shown), "the confirmation states the 1 TB's price: {got:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_size_that_is_missing_is_asked_for_with_buttons() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    // Spanish, then Portuguese, two brands: the sneakers in sizes, the
    // lipstick in shades.
    for (brand, number, first, product, pick, label) in [
        ("fashion", "34600000201", "hola, busco zapatillas blancas", "fsh-022", "39", "(talla 39)"),
        ("beauty", "34600000202", "oi, vocês têm batom?", "bty-015", "Plum", "(tom Plum)"),
    ] {
        let mut phone = Phone::new(&host, &api, brand, number);
        phone.say(first).await?;
        let got = phone.until(product).await?;
        if !got.ids.contains(&format!("add:{product}")) {
            phone.tap(&format!("product:{product}")).await?;
            phone.until(&format!("add:{product}")).await?;
        }
        phone.tap(&format!("add:{product}")).await?;
        let got = phone.until("variant:").await?;
        let choice = format!("variant:{product}#{pick}");
        ensure!(got.ids.contains(&choice), "{brand}: {choice} offered: {got:?}");
        // Written rather than tapped: the customer names it in words.
        phone.say(pick).await?;
        let got = phone.until("checkout").await?;
        ensure!(got.text.contains(label), "{brand}: {label} in {got:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_customer_is_answered_told_who_joined_and_a_photo_reaches_the_person() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    let client = reqwest::Client::new();
    // What the customer writes while waiting, in their language (a word
    // of another language would rightly switch the seller's).
    for (brand, number, language, ask, meanwhile, waiting, joined, back) in [
        (
            "fashion",
            "34600000301",
            "en",
            "can I talk to a human please?",
            ["hello?", "are you there", "still waiting"],
            "passed that on",
            "Ana from our team",
            "back",
        ),
        (
            "tech",
            "34600000302",
            "es",
            "quiero hablar con una persona",
            ["¿hola?", "¿sigues ahí?", "sigo esperando"],
            "ya se lo pasé",
            "Ana de nuestro equipo",
            "vuelta",
        ),
        (
            "home",
            "34600000303",
            "pt",
            "quero falar com um atendente",
            ["olá?", "tem alguém aí", "ainda esperando"],
            "já repassei",
            "Ana da nossa equipe",
            "Voltei",
        ),
    ] {
        let mut phone = Phone::new(&host, &api, brand, number);
        // A photo first: the seller says honestly it cannot see it, and offers a person.
        phone.photo().await?;
        let got = phone.until("human").await?;
        ensure!(got.ids.first().map(String::as_str) == Some("human"), "{brand} ({language}): {got:?}");

        phone.say(ask).await?;
        phone.until("text").await?;
        // Waiting: the first message is acknowledged, the next ones within
        // minutes are not.
        phone.say(meanwhile[0]).await?;
        let got = phone.until(waiting).await?;
        ensure!(!got.text.is_empty(), "{brand}: {got:?}");
        phone.say(meanwhile[1]).await?;
        phone.say(meanwhile[2]).await?;

        // The person sees everything, the photo included, and takes it.
        let listed: Value =
            client.get(format!("{}/sales/escalations", host.url)).bearer_auth("tok-ana").send().await?.json().await?;
        let escalation = listed["queued"]
            .as_array()
            .and_then(|q| q.iter().find(|e| e["brand"] == brand))
            .with_context(|| format!("{brand} queued: {listed}"))?["escalation_id"]
            .as_str()
            .context("an id")?
            .to_owned();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let detail: Value = client
                .get(format!("{}/sales/escalations/{escalation}?suggestions=false", host.url))
                .bearer_auth("tok-ana")
                .send()
                .await?
                .json()
                .await?;
            let transcript = detail["transcript"].to_string();
            if std::iter::once("[image image/jpeg, media 1234567890]")
                .chain(meanwhile)
                .all(|line| transcript.contains(line))
            {
                break;
            }
            ensure!(tokio::time::Instant::now() < deadline, "{brand}: the transcript lacks lines: {transcript}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let accepted = client
            .post(format!("{}/sales/escalations/{escalation}/accept", host.url))
            .bearer_auth("tok-ana")
            .send()
            .await?;
        ensure!(accepted.status().is_success(), "{brand}: accept {}", accepted.status());
        phone.until(joined).await?;
        let released = client
            .post(format!("{}/sales/escalations/{escalation}/release", host.url))
            .bearer_auth("tok-ana")
            .json(&json!({"resolution": "returned_to_ai"}))
            .send()
            .await?;
        ensure!(released.status().is_success(), "{brand}: release {}", released.status());
        phone.until(back).await?;

        // One acknowledgement for the three messages written while waiting.
        let all = phone.all();
        assert_eq!(all.text.matches(waiting).count(), 1, "{brand}: {}", all.text);
    }
    Ok(())
}

/// Waits until the sales assistant lists an escalation of `brand` as queued.
async fn queued(host: &HostProcess, client: &reqwest::Client, brand: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed: Value =
            client.get(format!("{}/sales/escalations", host.url)).bearer_auth("tok-ana").send().await?.json().await?;
        if listed["queued"].as_array().is_some_and(|q| q.iter().any(|e| e["brand"] == brand)) {
            return Ok(());
        }
        ensure!(tokio::time::Instant::now() < deadline, "{brand} never queued: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_waiting_for_a_person_are_told_their_place_in_the_queue_in_three_languages() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    let client = reqwest::Client::new();
    // Three customers ask for a person one after the other, all alike in
    // mood and with no cart: the queue is in the order they asked.
    let customers = [
        ("home", "34600000311", "quero falar com um atendente", "olá? tem alguém aí?", "Você é o próximo da fila"),
        ("fashion", "34600000312", "can I talk to a human please?", "hello? anyone?", "You're 2nd in line"),
        (
            "tech",
            "34600000313",
            "quiero hablar con una persona",
            "¿hola? ¿sigues ahí?",
            "Estás en el puesto 3 de la fila",
        ),
    ];
    let mut phones = Vec::new();
    for (brand, number, ask, _, _) in customers {
        let mut phone = Phone::new(&host, &api, brand, number);
        phone.say(ask).await?;
        phone.until("text").await?;
        queued(&host, &client, brand).await?;
        phones.push(phone);
    }
    // The last in line writes first: the place is the queue's, not the
    // order of the messages.
    for (phone, (brand, _, _, meanwhile, place)) in phones.iter_mut().zip(customers).rev() {
        phone.say(meanwhile).await?;
        let got = phone.until(place).await?;
        // One acknowledgement, with the place, and nothing else.
        ensure!(got.text.matches(place).count() == 1, "{brand}: {got:?}");
    }
    // The first in line is taken; the second's place is now first.
    let listed: Value =
        client.get(format!("{}/sales/escalations", host.url)).bearer_auth("tok-ana").send().await?.json().await?;
    let first = listed["queued"][0]["escalation_id"].as_str().context("a queued escalation")?.to_owned();
    ensure!(listed["queued"][0]["brand"] == "home", "the first asked is first in line: {listed}");
    let accepted =
        client.post(format!("{}/sales/escalations/{first}/accept", host.url)).bearer_auth("tok-ana").send().await?;
    ensure!(accepted.status().is_success(), "accept {}", accepted.status());
    phones[0].until("Ana").await?;
    let detail: Value =
        client.get(format!("{}/sales/escalations", host.url)).bearer_auth("tok-ana").send().await?.json().await?;
    ensure!(detail["queued"][0]["brand"] == "fashion" && detail["queued"][1]["brand"] == "tech", "{detail}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_question_is_answered_from_the_catalog_with_its_card_in_three_languages() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    // (brand, phone, what the customer looked at first, the question, the
    // product, words of the answer, whether a person is offered because the
    // catalog does not say, the card's title: the name in the customer's
    // language)
    let cases = [
        (
            "tech",
            "34600000401",
            None,
            "does the nova 12 support 5G?",
            "tec-009",
            "Yes! Here's what our catalog says: Connectivity: 5G",
            false,
            "*Voltix Nova 12 Smartphone 128 GB*",
        ),
        (
            "beauty",
            "34600000402",
            None,
            "is the vitamin c serum cruelty free?",
            "bty-002",
            "Our catalog doesn't say that about Vitamin C",
            true,
            "*Vitamin C 15% Brightening Serum*",
        ),
        (
            "tech",
            "34600000403",
            None,
            "¿el smartwatch es resistente al agua?",
            "tec-007",
            "¡Sí! Esto dice nuestro catálogo: Resistencia al agua: 5 ATM",
            false,
            "*Reloj inteligente Voltix Orbit*",
        ),
        (
            "home",
            "34600000404",
            Some("silla de rattan"),
            "¿es fácil de montar?",
            "hom-005",
            "Nuestro catálogo no dice eso de Silla de comedor de ratán",
            true,
            "*Silla de comedor de ratán*",
        ),
        (
            "gaming",
            "34600000405",
            Some("controle sem fio"),
            "esse controle funciona no celular?",
            "gam-012",
            "Sim! Nosso catálogo diz: Plataforma:",
            false,
            "*Controle sem fio PixelForge Vortex*",
        ),
        (
            "beauty",
            "34600000406",
            Some("batom"),
            "o batom tem no tom Cherry?",
            "bty-015",
            "Sim! Nosso catálogo diz: Tom: Cherry",
            false,
            "*Batom acetinado aveludado*",
        ),
    ];
    for (brand, number, first, question, product, answer, unsure, card) in cases {
        let mut phone = Phone::new(&host, &api, brand, number);
        if let Some(first) = first {
            phone.say(first).await?;
            phone.until(product).await?;
        }
        phone.say(question).await?;
        let got = phone.until(answer).await?;
        // The card with it, and a person offered only when the catalog is silent.
        let got = if got.ids.contains(&format!("add:{product}")) {
            got
        } else {
            phone.until(&format!("add:{product}")).await?
        };
        ensure!(got.ids.contains(&format!("add:{product}")), "{brand}: the card of {product}: {got:?}");
        ensure!(phone.all().text.contains(card), "{brand}: the card titled {card}: {got:?}");
        if unsure {
            let got = phone.until("\"human\"").await?;
            ensure!(got.ids.contains(&"human".to_owned()), "{brand}: a person offered: {got:?}");
        } else {
            ensure!(!phone.all().ids.contains(&"human".to_owned()), "{brand}: answered, no person needed");
        }
    }
    Ok(())
}

/// The catalog's answer to a `store.product.recommend` the tail saw.
async fn recommend_result(tail: &mut Tail, request: &Value) -> Result<Value> {
    let request_id = request["event"]["data"]["request_id"].clone();
    tail.find(WAIT, |r| {
        is(r, "published", "store.product.recommend.result") && r["event"]["data"]["request_id"] == request_id
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stated_need_is_advised_on_from_what_fits_it_in_three_languages() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    let mut tail = host.tail(&[]).await?;
    // (brand, phone, the need, a word of it the catalog is asked with, the
    // product that fits best when the test knows it)
    let cases = [
        ("beauty", "34600000501", "I have dry skin, which moisturiser should I use?", "dry", None),
        ("fashion", "34600000502", "I need something to wear to a beach wedding", "wedding", Some("fsh-001")),
        ("beauty", "34600000503", "tengo la piel grasa, ¿qué limpiador me recomiendas?", "grasa", None),
        ("gaming", "34600000504", "¿qué juego me recomiendas si me gustan los de terror?", "terror", None),
        ("fashion", "34600000505", "qual tênis combina com um vestido de festa?", "festa", None),
        ("home", "34600000506", "o que fica bem numa sala pequena?", "sala", None),
    ];
    for (brand, number, message, word, best) in cases {
        let mut phone = Phone::new(&host, &api, brand, number);
        phone.say(message).await?;
        let request =
            tail.find(WAIT, |r| is(r, "published", "store.product.recommend") && r["event"]["brand"] == brand).await?;
        let need = request["event"]["data"]["need"].as_str().unwrap_or_default();
        ensure!(need.contains(word), "{brand}: the need reaches the catalog: {request}");
        let result = recommend_result(&mut tail, &request).await?;
        let picks = result["event"]["data"]["recommendations"].as_array().context("recommendations")?;
        ensure!(picks.first().is_some_and(|p| p["kind"] == "fits"), "{brand}: what fits comes first: {result}");
        let first = picks[0]["product"]["id"].as_str().context("an id")?;
        if let Some(best) = best {
            ensure!(first == best, "{brand}: {best} fits best: {result}");
        }
        // The customer sees the advice, the best fit first.
        let got = phone.until(&format!("product:{first}")).await?;
        ensure!(got.ids.iter().find(|id| id.starts_with("product:")) == Some(&format!("product:{first}")), "{got:?}");
    }
    Ok(())
}

/// A budget said with the need reaches the catalog with it, and the advice
/// the customer gets stays within it (sale prices counted).
#[tokio::test(flavor = "multi_thread")]
async fn a_budget_said_with_a_need_bounds_the_advice_in_three_languages() -> Result<()> {
    let api = FakeCloudApi::start().await?;
    let host = shop(&api).await?;
    let mut tail = host.tail(&[]).await?;
    let cases = [
        ("34600000511", "I have oily skin, which cleanser should I use? under 20 dollars"),
        ("34600000512", "tengo la piel grasa, ¿qué limpiador me recomiendas? menos de 20 dólares"),
        ("34600000513", "tenho pele oleosa, qual limpador você recomenda? até 20 dólares"),
    ];
    for (number, message) in cases {
        let mut phone = Phone::new(&host, &api, "beauty", number);
        phone.say(message).await?;
        let request = tail
            .find(WAIT, |r| {
                is(r, "published", "store.product.recommend")
                    && r["event"]["brand"] == "beauty"
                    && r["event"]["data"]["conversation"].as_str().is_some()
                    && r["event"]["data"]["max_price_minor"] == 2000
            })
            .await
            .with_context(|| format!("{message}: the budget reaches the catalog"))?;
        ensure!(request["event"]["data"]["need"].is_string(), "{message}: the need travels too: {request}");
        let result = recommend_result(&mut tail, &request).await?;
        let picks = result["event"]["data"]["recommendations"].as_array().context("recommendations")?;
        ensure!(!picks.is_empty(), "{message}: something within the budget: {result}");
        for pick in picks {
            let product = &pick["product"];
            let price = product["sale_price"]["amount_minor"].as_i64().or(product["price"]["amount_minor"].as_i64());
            ensure!(price.is_some_and(|p| p <= 2000), "{message}: over the budget: {product}");
        }
        let first = picks[0]["product"]["id"].as_str().context("an id")?;
        phone.until(&format!("product:{first}")).await?;
    }
    Ok(())
}

/// The repository's store with `--llm chat=openai:…` pointed at `model`.
async fn shop_with_model(api: &FakeCloudApi, model: &crate::llm::FakeModel) -> Result<HostProcess> {
    crate::whatsapp::repo_store_calling(api)
        .arg("--llm")
        .arg(format!("chat=openai:{}?model=test&key_env=AGENT_STORE_TEST_LLM_KEY", model.url))
        .env("AGENT_STORE_TEST_LLM_KEY", "sk-selling-e2e")
        .start()
        .await
}

/// A fake model for the sellers: it answers a question about a product
/// with what `answers` gives for the question (matched by its words), and
/// reads no messages (the rules do), so the answers are all these tests
/// are about. A rewording is given back unchanged.
fn answering(answers: Vec<(&'static str, String)>) -> crate::llm::Completer {
    std::sync::Arc::new(move |prompt: &str| {
        if prompt.contains("A customer asks about one product") {
            let question = prompt.rsplit("Question: ").next().unwrap_or_default();
            return answers
                .iter()
                .find(|(asked, _)| question.contains(asked))
                .map(|(_, answer)| answer.clone())
                .unwrap_or_else(|| "no scripted answer".to_owned());
        }
        if let Some(message) = prompt.split("Message: ").nth(1).and_then(|m| m.strip_suffix("\nRewritten:")) {
            return message.to_owned();
        }
        "no reading".to_owned()
    })
}

/// One question of a customer to a seller with a model, and what the model
/// answers.
struct Asked {
    brand: &'static str,
    phone: &'static str,
    /// What the customer looked at first, if anything.
    first: Option<&'static str>,
    question: &'static str,
    product: &'static str,
    /// A fact of the product the model's prompt must carry.
    fact: &'static str,
    /// The model's completion.
    completion: Value,
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_model_a_product_question_is_answered_from_the_catalogs_facts_in_three_languages() -> Result<()> {
    let cases = [
        Asked {
            brand: "tech",
            phone: "34600000601",
            first: None,
            question: "does the nova 12 support 5G?",
            product: "tec-009",
            fact: "- connectivity: 5G, Wi-Fi 6E, Bluetooth 5.3, NFC\n",
            completion: json!({
                "verdict": "yes",
                "answer": "Yes! The Nova 12 is 5G-ready, with Wi-Fi 6E and NFC on board too ⚡",
                "evidence": ["connectivity: 5G, Wi-Fi 6E, Bluetooth 5.3, NFC"],
            }),
        },
        Asked {
            brand: "tech",
            phone: "34600000602",
            first: None,
            question: "¿el smartwatch es resistente al agua?",
            product: "tec-007",
            fact: "- water_resistance: 5 ATM\n",
            completion: json!({
                "verdict": "yes",
                "answer": "¡Sí! El Orbit aguanta hasta 5 ATM: la lluvia y la ducha no son problema 💧",
                "evidence": ["water_resistance: 5 ATM"],
            }),
        },
        Asked {
            brand: "gaming",
            phone: "34600000603",
            first: Some("controle sem fio"),
            question: "esse controle funciona no celular?",
            product: "gam-012",
            fact: "- platform: PC, PixelForge Deck, phones, tablets, smart TVs\n",
            completion: json!({
                "verdict": "yes",
                "answer": "Sim! O Vortex conecta por Bluetooth no celular, no PC e na smart TV 🎮",
                "evidence": ["platform: PC, PixelForge Deck, phones", "Bluetooth 5.2"],
            }),
        },
        // The catalog is silent: the model says so in its own words, and a
        // person is offered as without a model.
        Asked {
            brand: "beauty",
            phone: "34600000604",
            first: None,
            question: "is the vitamin c serum cruelty free?",
            product: "bty-002",
            fact: "- fragrance_free: yes\n",
            completion: json!({
                "verdict": "unknown",
                "answer": "Good question! Our catalog doesn't say whether it's cruelty free, and I won't guess 💛",
                "evidence": [],
            }),
        },
    ];
    let answers = cases.iter().map(|c| (c.question, c.completion.to_string())).collect();
    let model = crate::llm::FakeModel::completing(answering(answers)).await?;
    let api = FakeCloudApi::start().await?;
    let host = shop_with_model(&api, &model).await?;
    for case in &cases {
        let mut phone = Phone::new(&host, &api, case.brand, case.phone);
        if let Some(first) = case.first {
            phone.say(first).await?;
            phone.until(case.product).await?;
        }
        phone.say(case.question).await?;
        let answer = case.completion["answer"].as_str().context("an answer")?;
        let needle: String = answer.chars().take(12).collect();
        let got = phone.until(&needle).await?;
        ensure!(got.text.contains(answer), "{}: the model's answer whole: {got:?}", case.brand);
        let got = if got.ids.contains(&format!("add:{}", case.product)) {
            got
        } else {
            phone.until(&format!("add:{}", case.product)).await?
        };
        ensure!(got.ids.contains(&format!("add:{}", case.product)), "{}: the card: {got:?}", case.brand);
        let unknown = case.completion["verdict"] == "unknown";
        if unknown {
            phone.until("\"human\"").await?;
        } else {
            ensure!(!phone.all().ids.contains(&"human".to_owned()), "{}: answered, no person needed", case.brand);
        }
        let prompts = model.prompts();
        let prompt = prompts
            .iter()
            .find(|p| p.contains("A customer asks about one product") && p.contains(case.question))
            .with_context(|| format!("{}: the model was asked {:?}", case.brand, case.question))?;
        ensure!(prompt.contains(case.fact), "{}: the prompt carries {:?}: {prompt}", case.brand, case.fact);
        ensure!(prompt.contains("- price: USD "), "{}: and the price: {prompt}", case.brand);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_answer_that_invents_or_turns_the_catalog_round_is_not_sent_in_three_languages() -> Result<()> {
    // (brand, phone, first, question, the model's completion, what it must
    // not get through, the catalog's answer sent instead, a person offered)
    let cases = [
        (
            "tech",
            "34600000611",
            None,
            "does the nova 12 support 5G?",
            json!({
                "verdict": "yes",
                "answer": "Yes, 5G! And this week only USD 299.00 🔥",
                "evidence": ["5G"],
            }),
            "299.00",
            "Yes! Here's what our catalog says: Connectivity: 5G",
            false,
        ),
        (
            "tech",
            "34600000612",
            None,
            "¿el smartwatch es resistente al agua?",
            json!({ "verdict": "no", "answer": "No, el Orbit no es resistente al agua.", "evidence": ["5 ATM"] }),
            "no es resistente",
            "¡Sí! Esto dice nuestro catálogo: Resistencia al agua: 5 ATM",
            false,
        ),
        (
            "home",
            "34600000613",
            Some("cadeira de rattan"),
            "essa cadeira vem montada?",
            json!({
                "verdict": "yes",
                "answer": "Sim! Ela chega montada e com frete grátis 🚚",
                "evidence": ["arrives fully assembled"],
            }),
            "chega montada",
            "Nosso catálogo não diz isso sobre Cadeira de jantar de rattan",
            true,
        ),
        (
            "home",
            "34600000614",
            Some("silla de rattan"),
            "¿es fácil de montar?",
            json!({ "verdict": "unknown", "answer": "No lo sé, pero te llega en 2 días 📦", "evidence": [] }),
            "2 días",
            "Nuestro catálogo no dice eso de Silla de comedor de ratán",
            true,
        ),
    ];
    let answers = cases.iter().map(|c| (c.3, c.4.to_string())).collect();
    let model = crate::llm::FakeModel::completing(answering(answers)).await?;
    let api = FakeCloudApi::start().await?;
    let host = shop_with_model(&api, &model).await?;
    for (brand, number, first, question, _, refused, instead, unsure) in cases {
        let mut phone = Phone::new(&host, &api, brand, number);
        if let Some(first) = first {
            phone.say(first).await?;
            phone.until("hom-005").await?;
        }
        phone.say(question).await?;
        phone.until(instead).await?;
        if unsure {
            phone.until("\"human\"").await?;
        }
        ensure!(
            model.prompts().iter().any(|p| p.contains("A customer asks about one product") && p.contains(question)),
            "{brand}: the model was asked {question:?}"
        );
        let all = phone.all();
        ensure!(!all.text.contains(refused), "{brand}: {refused:?} reached the customer: {}", all.text);
    }
    host.wait_for_log("was refused, the catalog's is sent", WAIT).await?;
    Ok(())
}
