//! Crash consistency: the store on RabbitMQ, 60 customers of the five
//! brands writing through signed webhooks, and the host killed with SIGKILL
//! at random moments, again and again, then started on the same data. Every
//! customer whose webhook was answered 200 gets an answer, and no customer
//! gets the same message twice (`docs/broker.md`, "A delivery, step by step").
//!
//! Meta redelivers a webhook until it gets a 200, so the customers here do
//! too: a webhook cut off by a kill is sent again to the restarted host.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_store::cli::chat::signature;
use agent_store_tests::{
    HostBuilder, HostProcess, amqp_url, demo_env, private_dir, rabbitmq_shared, redis_url, remove_prefix,
};
use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::whatsapp::{FakeCloudApi, Recorded};

const CUSTOMERS: usize = 60;
const KILLS: usize = 6;
/// Every customer answered within this, once the last host is up.
const ANSWERED_WITHIN: Duration = Duration::from_secs(150);

/// The five brands' business numbers (spin.toml's `whatsapp_brand_numbers`)
/// and what their customers ask for: each message makes the seller query
/// the catalog before it answers, so a kill can fall between any two hops.
const BRANDS: [(&str, &str); 5] = [
    ("100000000000001", "Hi! I'm looking for a linen dress"),
    ("100000000000002", "hello, do you have headphones?"),
    ("100000000000003", "hi, I need a lamp for my living room"),
    ("100000000000004", "hola, busco un sérum"),
    ("100000000000005", "olá, quero um jogo de corrida"),
];

fn phone(n: usize) -> String {
    format!("3460{:07}", 1_000 + n)
}

fn webhook(n: usize, run: &str) -> Vec<u8> {
    let (number, text) = BRANDS[n % BRANDS.len()];
    let phone = phone(n);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": number},
            "contacts": [{"profile": {"name": format!("Customer {n}")}, "wa_id": phone}],
            "messages": [{"from": phone, "id": format!("wamid.CRASH.{run}.{n}"), "timestamp": "1764806400",
                          "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string()
    .into_bytes()
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
struct Setup {
    api: String,
    prefix: String,
    /// `--kv`: the embedded store in the data directory when `None`.
    kv: Option<String>,
}

impl Setup {
    fn host(&self, data_dir: &std::path::Path) -> HostBuilder {
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
struct Doors(Arc<Mutex<Vec<String>>>);

impl Doors {
    fn set(&self, slot: usize, url: Option<&str>) {
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

/// Sends every customer's webhook until it is answered 200, as Meta does.
fn customers(doors: &Doors, run: &str) -> tokio::task::JoinHandle<Result<usize>> {
    let secret = demo_env()
        .into_iter()
        .find(|(name, _)| name == "SPIN_VARIABLE_WHATSAPP_APP_SECRET")
        .map(|(_, v)| v)
        .expect("the app secret in demo.env");
    let (doors, run) = (doors.clone(), run.to_string());
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let sends = (0..CUSTOMERS).map(|n| {
            let (client, doors, secret, body) = (client.clone(), doors.clone(), secret.clone(), webhook(n, &run));
            async move {
                let mut tries = 0;
                loop {
                    tries += 1;
                    if let Some(url) = doors.pick(n + tries) {
                        let sent = client
                            .post(format!("{url}/webhooks/whatsapp"))
                            .header("content-type", "application/json")
                            .header("x-hub-signature-256", signature(&secret, &body))
                            .body(body.clone())
                            .send()
                            .await;
                        if let Ok(response) = sent
                            && response.status() == 200
                        {
                            return Ok::<usize, anyhow::Error>(tries);
                        }
                    }
                    if tries > 600 {
                        bail!("customer {n}: no 200 after {tries} webhooks");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        let tries = futures::future::try_join_all(sends).await?;
        Ok(tries.iter().sum())
    })
}

/// Waits until every customer got an answer, then a little longer for a
/// late duplicate; returns what the Cloud API received per customer.
async fn answers(api: &FakeCloudApi) -> Result<BTreeMap<String, Vec<Recorded>>> {
    let deadline = tokio::time::Instant::now() + ANSWERED_WITHIN;
    loop {
        let mut by_customer: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
        for call in api.requests() {
            by_customer.entry(call.body["to"].as_str().unwrap_or_default().to_string()).or_default().push(call);
        }
        let missing: Vec<String> = (0..CUSTOMERS).map(phone).filter(|p| !by_customer.contains_key(p)).collect();
        if missing.is_empty() {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut settled: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
            for call in api.requests() {
                settled.entry(call.body["to"].as_str().unwrap_or_default().to_string()).or_default().push(call);
            }
            return Ok(settled);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{} of {CUSTOMERS} customers never got an answer: {missing:?}", missing.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// No customer got the same message twice.
fn assert_no_duplicates(answers: &BTreeMap<String, Vec<Recorded>>) {
    let mut duplicates = Vec::new();
    for (customer, calls) in answers {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for call in calls {
            *seen.entry(call.body.to_string()).or_default() += 1;
        }
        for (body, times) in seen.into_iter().filter(|(_, times)| *times > 1) {
            duplicates.push(format!("{customer} got this {times} times: {body}"));
        }
    }
    assert!(duplicates.is_empty(), "{} duplicate messages:\n{}", duplicates.len(), duplicates.join("\n"));
}

/// Nothing was dead-lettered by any component.
async fn assert_nothing_dead(host: &HostProcess) -> Result<()> {
    let dead: Vec<Value> = host.dead_letters().await?;
    assert!(dead.is_empty(), "dead letters after the crashes: {dead:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_again_and_again_the_store_answers_every_customer_once() -> Result<()> {
    let _rabbit = rabbitmq_shared().await;
    let api = FakeCloudApi::start().await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let setup = Setup { api: api.origin.clone(), prefix: format!("crash-{run}"), kv: None };
    let data = private_dir()?;
    let mut dice = Dice::new();

    let doors = Doors::default();
    let mut host = setup.host(data.path()).start().await?;
    doors.set(0, Some(&host.url));
    let customers = customers(&doors, &run);
    for kill in 0..KILLS {
        tokio::time::sleep(dice.millis(200, 1500)).await;
        doors.set(0, None);
        host.kill().await?;
        eprintln!("kill {} done", kill + 1);
        host = setup.host(data.path()).start().await?;
        doors.set(0, Some(&host.url));
    }
    let webhooks = customers.await??;
    eprintln!("{CUSTOMERS} customers accepted after {webhooks} webhooks");
    let answers = answers(&api).await?;
    assert_no_duplicates(&answers);
    assert_nothing_dead(&host).await?;
    drop(host);
    remove_prefix(&setup.prefix).await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_redis_one_killed_again_and_again_the_other_carries_on() -> Result<()> {
    let _rabbit = rabbitmq_shared().await;
    let api = FakeCloudApi::start().await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let prefix = format!("crash-{run}");
    let setup =
        Setup { api: api.origin.clone(), prefix: prefix.clone(), kv: Some(format!("{}#{prefix}", redis_url())) };
    let (data_a, data_b) = (private_dir()?, private_dir()?);
    let mut dice = Dice::new();

    let doors = Doors::default();
    let survivor = setup.host(data_b.path()).arg("--replica").arg("b").start().await?;
    let mut victim = setup.host(data_a.path()).arg("--replica").arg("a").start().await?;
    doors.set(0, Some(&victim.url));
    doors.set(1, Some(&survivor.url));
    let customers = customers(&doors, &run);
    for kill in 0..KILLS {
        tokio::time::sleep(dice.millis(200, 1500)).await;
        doors.set(0, None);
        victim.kill().await?;
        eprintln!("kill {} done", kill + 1);
        victim = setup.host(data_a.path()).arg("--replica").arg("a").start().await?;
        doors.set(0, Some(&victim.url));
    }
    let webhooks = customers.await??;
    eprintln!("{CUSTOMERS} customers accepted after {webhooks} webhooks");
    let answers = answers(&api).await?;
    assert_no_duplicates(&answers);
    assert_nothing_dead(&survivor).await?;
    drop((victim, survivor));
    remove_prefix(&prefix).await
}
