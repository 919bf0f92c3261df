//! Crash consistency: the store on RabbitMQ, 60 customers of the five
//! brands writing through signed webhooks, and the host killed with SIGKILL
//! at random moments, again and again, then started on the same data. Every
//! customer whose webhook was answered 200 gets an answer, and no customer
//! gets the same message twice (`docs/broker.md`, "A delivery, step by step").
//! One customer in three goes on to buy (add to cart, checkout, confirm):
//! each of them has one order, none has two.
//!
//! Meta redelivers a webhook until it gets a 200, so the customers here do
//! too: a webhook cut off by a kill is sent again to the restarted host.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_store::cli::chat::signature;
use agent_store_tests::{HostBuilder, HostProcess, amqp_url, demo_env, private_dir};
use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::broker::Sandbox;
use crate::whatsapp::{FakeCloudApi, Recorded};

const CUSTOMERS: usize = 60;
const KILLS: usize = 6;
/// Every customer answered within this, once the last host is up.
const ANSWERED_WITHIN: Duration = Duration::from_secs(150);

/// The five brands' business numbers (spin.toml's `whatsapp_brand_numbers`)
/// and what their customers ask for: each question makes the seller query
/// the catalog before it answers, so a kill can fall between any two hops.
const BRANDS: [(&str, &str); 5] = [
    ("100000000000001", "Hi! do you have white sneakers?"),
    ("100000000000002", "hola, busco un teclado mecánico"),
    ("100000000000003", "oi! vocês têm luminária de mesa?"),
    ("100000000000004", "do you have vitamin c serum?"),
    ("100000000000005", "¿tienen juegos de fútbol?"),
];

/// The customers who buy: one in three, four of each brand.
fn buys(n: usize) -> bool {
    n.is_multiple_of(3)
}

const BUYERS: usize = CUSTOMERS.div_ceil(3);

fn phone(n: usize) -> String {
    format!("3460{:07}", 1_000 + n)
}

/// Customer `n`'s `step`th message, as the Cloud API's webhook carries it.
fn webhook(n: usize, run: &str, step: usize, content: Value) -> Vec<u8> {
    let (number, _) = BRANDS[n % BRANDS.len()];
    let phone = phone(n);
    agent_store_tests::customer_wrote(Some(&phone), content["text"]["body"].as_str().unwrap_or_default());
    let mut message = json!({"from": phone, "id": format!("wamid.CRASH.{run}.{n}.{step}"), "timestamp": "1764806400"});
    message.as_object_mut().unwrap().extend(content.as_object().unwrap().clone());
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": number},
            "contacts": [{"profile": {"name": format!("Customer {n}")}, "wa_id": phone}],
            "messages": [message]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

fn tap(id: &str, title: &str) -> Value {
    // Sizes and colours come as a list when there are more than three.
    let kind = if id.starts_with("variant:") { "list_reply" } else { "button_reply" };
    json!({"type": "interactive", "interactive": {"type": kind, kind: {"id": id, "title": title}}})
}

/// A small random source seeded from the clock, printed so that a failing
/// schedule can be read back from the log.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7) | 1;
        eprintln!("crash schedule seed: {seed}");
        Self(seed)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(from + self.0 % (to - from))
    }
}

/// How the hosts of one crash test start.
#[derive(Clone)]
pub(crate) struct Setup {
    pub(crate) api: String,
    pub(crate) prefix: String,
    /// `--kv`: the embedded store in the data directory when `None`.
    pub(crate) kv: Option<String>,
}

impl Setup {
    pub(crate) fn host(&self, data_dir: &std::path::Path) -> HostBuilder {
        let mut builder = HostBuilder::new(agent_store_tests::workspace_root().join("spin.toml"));
        for (name, value) in demo_env() {
            if !name.starts_with("SPIN_VARIABLE_WHATSAPP_API_") && name != "SPIN_VARIABLE_WHATSAPP_SANDBOX" {
                builder = builder.env(&name, &value);
            }
        }
        builder = builder
            .env("SPIN_VARIABLE_WHATSAPP_API_BASE", &format!("{}/v21.0", self.api))
            .env("SPIN_VARIABLE_WHATSAPP_API_ORIGIN", &self.api)
            .env("SPIN_VARIABLE_WHATSAPP_SANDBOX", "off")
            .arg("--broker")
            .arg(amqp_url())
            .arg("--broker-prefix")
            .arg(&self.prefix)
            .data_dir(data_dir);
        if let Some(kv) = &self.kv {
            builder = builder.arg("--kv").arg(kv);
        }
        builder
    }
}

/// Where the customers send their webhooks: the hosts alive now.
#[derive(Clone, Default)]
pub(crate) struct Doors(Arc<Mutex<Vec<String>>>);

impl Doors {
    pub(crate) fn set(&self, slot: usize, url: Option<&str>) {
        let mut doors = self.0.lock().unwrap();
        if doors.len() <= slot {
            doors.resize(slot + 1, String::new());
        }
        doors[slot] = url.unwrap_or_default().to_string();
    }

    fn pick(&self, n: usize) -> Option<String> {
        let doors = self.0.lock().unwrap();
        let open: Vec<&String> = doors.iter().filter(|d| !d.is_empty()).collect();
        (!open.is_empty()).then(|| open[n % open.len()].clone())
    }
}

/// One customer: sends each message until it is answered 200, as Meta
/// does, and (a buyer) reads the seller's answers to tap what a person
/// would: the product, "Add to cart", "Checkout", "Place order".
struct Shopper {
    n: usize,
    run: String,
    doors: Doors,
    api: Arc<FakeCloudApi>,
    client: reqwest::Client,
    secret: String,
    webhooks: usize,
}

impl Shopper {
    async fn send(&mut self, step: usize, content: Value) -> Result<()> {
        let body = webhook(self.n, &self.run, step, content);
        loop {
            self.webhooks += 1;
            if let Some(url) = self.doors.pick(self.n + self.webhooks) {
                let sent = self
                    .client
                    .post(format!("{url}/webhooks/whatsapp"))
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature(&self.secret, &body))
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(response) = sent
                    && response.status() == 200
                {
                    return Ok(());
                }
            }
            if self.webhooks > 600 {
                bail!("customer {}: no 200 after {} webhooks", self.n, self.webhooks);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first choice offered to this customer, after the `skip` messages
    /// it had already, whose id starts with one of `prefixes`.
    async fn offered(&self, skip: usize, prefixes: &[&str]) -> Result<String> {
        let deadline = tokio::time::Instant::now() + ANSWERED_WITHIN;
        loop {
            for call in self.mine().into_iter().skip(skip) {
                let text = call.body.to_string();
                for prefix in prefixes {
                    let needle = format!("\"id\":\"{prefix}");
                    if let Some(at) = text.find(&needle) {
                        let id = &text[at + 6..];
                        return Ok(id[..id.find('"').unwrap_or(id.len())].to_string());
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("customer {} was never offered {prefixes:?}: {:#?}", self.n, self.mine());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every choice whose id starts with `prefix` in the first message,
    /// after the `skip` this customer had, that offers one.
    fn choices(&self, skip: usize, prefix: &str) -> Vec<String> {
        let needle = format!("\"id\":\"{prefix}");
        self.mine()
            .into_iter()
            .skip(skip)
            .map(|call| call.body.to_string())
            .find(|text| text.contains(&needle))
            .map(|text| {
                text.match_indices(&needle)
                    .map(|(at, _)| {
                        let id = &text[at + 6..];
                        id[..id.find('"').unwrap_or(id.len())].to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn mine(&self) -> Vec<Recorded> {
        self.api.requests_to(&phone(self.n))
    }

    async fn shop(mut self) -> Result<usize> {
        let question = BRANDS[self.n % BRANDS.len()].1;
        let had = self.mine().len();
        self.send(0, json!({"type": "text", "text": {"body": question}})).await?;
        if !buys(self.n) {
            return Ok(self.webhooks);
        }
        let mut id = self.offered(had, &["add:", "product:"]).await?;
        let mut step = 1;
        if let Some(product) = id.strip_prefix("product:").map(str::to_string) {
            let had = self.mine().len();
            self.send(step, tap(&id, "View")).await?;
            step += 1;
            id = self.offered(had, &[&format!("add:{product}")]).await?;
        }
        // Adding a product that comes in sizes is answered with the sizes
        // first. The buyers of one brand pick different ones: a size has
        // only a few in stock, and a sold-out size is rightly no order.
        let had = self.mine().len();
        self.send(step, tap(&id, "Add to cart")).await?;
        step += 1;
        let offered = self.offered(had, &["checkout", "variant:"]).await?;
        if offered.starts_with("variant:") {
            let sizes = self.choices(had, "variant:");
            let size = sizes.get((self.n / BRANDS.len()) % sizes.len().max(1)).cloned().unwrap_or(offered);
            let had = self.mine().len();
            self.send(step, tap(&size, "Size")).await?;
            step += 1;
            self.offered(had, &["checkout"]).await?;
        }
        let had = self.mine().len();
        self.send(step, tap("checkout", "Checkout")).await?;
        step += 1;
        self.offered(had, &["yes"]).await?;
        self.send(step, tap("yes", "Place order")).await?;
        Ok(self.webhooks)
    }
}

/// Customer `n` (a buyer when `n` is a multiple of 3) asks, and a buyer
/// goes on to place an order; the webhooks it sent.
pub(crate) async fn shop(n: usize, doors: &Doors, run: &str, api: &Arc<FakeCloudApi>) -> Result<usize> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let shopper = Shopper {
        n,
        run: run.to_string(),
        doors: doors.clone(),
        api: api.clone(),
        client,
        secret: app_secret(),
        webhooks: 0,
    };
    shopper.shop().await
}

fn app_secret() -> String {
    demo_env()
        .into_iter()
        .find(|(name, _)| name == "SPIN_VARIABLE_WHATSAPP_APP_SECRET")
        .map(|(_, v)| v)
        .expect("the app secret in demo.env")
}

/// Every customer writing at once; the sum of the webhooks they sent.
fn customers(doors: &Doors, run: &str, api: &Arc<FakeCloudApi>) -> tokio::task::JoinHandle<Result<usize>> {
    let secret = app_secret();
    let (doors, run, api) = (doors.clone(), run.to_string(), api.clone());
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let shoppers = (0..CUSTOMERS).map(|n| {
            let shopper = Shopper {
                n,
                run: run.clone(),
                doors: doors.clone(),
                api: api.clone(),
                client: client.clone(),
                secret: secret.clone(),
                webhooks: 0,
            };
            shopper.shop()
        });
        let webhooks = futures::future::try_join_all(shoppers).await?;
        Ok(webhooks.iter().sum())
    })
}

/// The messages the Cloud API got, by recipient. A request the kill cut off
/// before its body was read has none, and never reached a customer.
fn messages(api: &FakeCloudApi) -> Vec<(String, Recorded)> {
    api.requests().into_iter().filter_map(|call| Some((call.body["to"].as_str()?.to_string(), call))).collect()
}

/// Waits until every customer got an answer, then a little longer for a
/// late duplicate; returns what the Cloud API received per customer.
async fn answers(api: &FakeCloudApi) -> Result<BTreeMap<String, Vec<Recorded>>> {
    let deadline = tokio::time::Instant::now() + ANSWERED_WITHIN;
    loop {
        let mut by_customer: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
        for (to, call) in messages(api) {
            by_customer.entry(to).or_default().push(call);
        }
        let missing: Vec<String> = (0..CUSTOMERS).map(phone).filter(|p| !by_customer.contains_key(p)).collect();
        if missing.is_empty() {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut settled: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
            for (to, call) in messages(api) {
                settled.entry(to).or_default().push(call);
            }
            return Ok(settled);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{} of {CUSTOMERS} customers never got an answer: {missing:?}", missing.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a host counted of deliveries that ran again after a crash and may
/// have repeated an outside call (`GET /metrics`).
async fn counted_repeats(host: &HostProcess) -> u64 {
    let Ok(response) = reqwest::get(format!("{}/metrics", host.url)).await else { return 0 };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("agent_store_outside_calls_may_repeat_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// No customer got the same message twice, but for a Cloud API call in
/// flight when a host was killed: the host cannot know whether it went out,
/// and its redelivery makes it again (`docs/broker.md`, "The guarantee,
/// precisely"). So every repeated message was first sent before a kill and
/// again after it, and the hosts counted each such redelivery at
/// `/metrics` (printed: a killed host's count dies with it if it was not
/// scraped in time).
fn assert_no_duplicates(answers: &BTreeMap<String, Vec<Recorded>>, kills: &[std::time::Instant], counted: u64) {
    let mut repeated = 0;
    let mut unexplained = Vec::new();
    for (customer, calls) in answers {
        let mut first: HashMap<String, std::time::Instant> = HashMap::new();
        for call in calls {
            let body = call.body.to_string();
            match first.get(&body) {
                None => {
                    first.insert(body, call.at);
                }
                Some(before) => {
                    repeated += 1;
                    if !kills.iter().any(|kill| *before < *kill && *kill < call.at) {
                        unexplained.push(format!("{customer} got this twice with no kill between: {body}"));
                    }
                }
            }
        }
    }
    eprintln!("{repeated} messages repeated across a kill, {counted} possible repeats counted by the hosts");
    assert!(unexplained.is_empty(), "{} repeated messages:\n{}", unexplained.len(), unexplained.join("\n"));
}

/// Every buyer has one order, and no order was made twice.
async fn assert_one_order_per_buyer(host: &HostProcess, api: &FakeCloudApi) -> Result<()> {
    let token = demo_env()
        .into_iter()
        .find(|(name, _)| name == "SPIN_VARIABLE_ORDERS_API_TOKEN")
        .map(|(_, v)| v)
        .expect("the orders token in demo.env");
    let list = || async {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/orders?limit=100", host.url))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(answer["orders"].as_array().cloned().unwrap_or_default())
    };
    let list_raw = || async {
        let response = reqwest::Client::new()
            .get(format!("{}/orders?limit=100", host.url))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<String, String>(format!("{}: {}", response.status(), response.text().await.unwrap_or_default()))
    };
    let deadline = tokio::time::Instant::now() + ANSWERED_WITHIN;
    while list().await?.len() < BUYERS && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let orders = list().await?;
    let mut by_conversation: HashMap<String, usize> = HashMap::new();
    for order in &orders {
        *by_conversation.entry(order["conversation"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    if by_conversation.len() != BUYERS {
        // What the buyers without an order were told, to see where they stopped.
        let names: Vec<String> =
            orders.iter().filter_map(|o| o["customer"]["name"].as_str().map(str::to_string)).collect();
        for n in (0..CUSTOMERS).filter(|n| buys(*n) && !names.contains(&format!("Customer {n}"))) {
            for call in api.requests().iter().filter(|c| c.body["to"] == phone(n).as_str()) {
                let text = call.body["text"]["body"].as_str().or(call.body["interactive"]["body"]["text"].as_str());
                eprintln!("customer {n} was told: {}", text.unwrap_or_default());
            }
        }
        eprintln!(
            "host log tail:\n{}",
            host.logs().iter().rev().take(80).rev().cloned().collect::<Vec<_>>().join("\n")
        );
    }
    assert_eq!(by_conversation.len(), BUYERS, "every buyer has an order: {} ({:?})", orders.len(), list_raw().await);
    assert!(by_conversation.values().all(|n| *n == 1), "an order made twice: {by_conversation:?}");
    Ok(())
}

/// Nothing was dead-lettered by any component.
async fn assert_nothing_dead(host: &HostProcess) -> Result<()> {
    let dead: Vec<Value> = host.dead_letters().await?;
    assert!(dead.is_empty(), "dead letters after the crashes: {dead:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_again_and_again_the_store_answers_every_customer_once() -> Result<()> {
    // Its queues and keys go when the test ends, pass or fail.
    let sandbox = Sandbox::new().await?;
    let api = Arc::new(FakeCloudApi::start().await?);
    let run = sandbox.prefix.clone();
    let setup = Setup { api: api.origin.clone(), prefix: sandbox.prefix.clone(), kv: None };
    let data = private_dir()?;
    let mut dice = Dice::new();

    let doors = Doors::default();
    let mut host = setup.host(data.path()).start().await?;
    doors.set(0, Some(&host.url));
    let customers = customers(&doors, &run, &api);
    let (mut counted, mut kills) = (0, Vec::new());
    for kill in 0..KILLS {
        tokio::time::sleep(dice.millis(200, 1500)).await;
        counted += counted_repeats(&host).await;
        doors.set(0, None);
        host.kill().await?;
        kills.push(std::time::Instant::now());
        eprintln!("kill {} done", kill + 1);
        host = setup.host(data.path()).start().await?;
        doors.set(0, Some(&host.url));
    }
    let webhooks = customers.await??;
    eprintln!("{CUSTOMERS} customers accepted after {webhooks} webhooks");
    let answers = answers(&api).await?;
    assert_no_duplicates(&answers, &kills, counted + counted_repeats(&host).await);
    assert_one_order_per_buyer(&host, &api).await?;
    assert_nothing_dead(&host).await?;
    drop(host);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_redis_one_killed_again_and_again_the_other_carries_on() -> Result<()> {
    let sandbox = Sandbox::new().await?;
    let api = Arc::new(FakeCloudApi::start().await?);
    let run = sandbox.prefix.clone();
    let setup = Setup { api: api.origin.clone(), prefix: sandbox.prefix.clone(), kv: Some(sandbox.kv()) };
    let (data_a, data_b) = (private_dir()?, private_dir()?);
    let mut dice = Dice::new();

    let doors = Doors::default();
    let survivor = setup.host(data_b.path()).arg("--replica").arg("b").start().await?;
    let mut victim = setup.host(data_a.path()).arg("--replica").arg("a").start().await?;
    doors.set(0, Some(&victim.url));
    doors.set(1, Some(&survivor.url));
    let customers = customers(&doors, &run, &api);
    let (mut counted, mut kills) = (0, Vec::new());
    for kill in 0..KILLS {
        tokio::time::sleep(dice.millis(200, 1500)).await;
        counted += counted_repeats(&victim).await;
        doors.set(0, None);
        victim.kill().await?;
        kills.push(std::time::Instant::now());
        eprintln!("kill {} done", kill + 1);
        victim = setup.host(data_a.path()).arg("--replica").arg("a").start().await?;
        doors.set(0, Some(&victim.url));
    }
    let webhooks = customers.await??;
    eprintln!("{CUSTOMERS} customers accepted after {webhooks} webhooks");
    let answers = answers(&api).await?;
    let counted = counted + counted_repeats(&victim).await + counted_repeats(&survivor).await;
    assert_no_duplicates(&answers, &kills, counted);
    assert_one_order_per_buyer(&survivor, &api).await?;
    assert_nothing_dead(&survivor).await?;
    drop((victim, survivor));
    Ok(())
}
