//! The five AI sellers through the running host, with the repository's
//! manifest: customer messages posted to `/events` as the WhatsApp gateway
//! would emit them, the real catalog, order processor and sales assistant
//! answering, everything read off the live tail.
//!
//! The seed's two flows, for every brand, each brand's customer writing in
//! one of the three languages: the purchase journey and the escalation
//! flow. The sales assistant's own API (priorities, races, refusals) is
//! tested in `assistant.rs`; here it is the human seller's side of a real
//! seller's escalation.

use std::time::Duration;

use agent_store_events::{ChatResponse, OutboundMessage};
use agent_store_tests::{HostBuilder, HostProcess, Tail, event, is};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// A brand's customer: what they write, in their language, and a product
/// the search must show.
pub(crate) struct Script {
    pub(crate) brand: &'static str,
    pub(crate) agent: &'static str,
    pub(crate) language: &'static str,
    pub(crate) hello: &'static str,
    pub(crate) search: &'static str,
    pub(crate) product: &'static str,
    pub(crate) recommend: &'static str,
    pub(crate) frustrated: &'static str,
    pub(crate) cart: &'static str,
    /// The size, colour or shade the customer picks, for a product sold in several.
    pub(crate) variant: Option<&'static str>,
}

pub(crate) const SCRIPTS: [Script; 5] = [
    Script {
        brand: "fashion",
        agent: "Luna",
        language: "en",
        hello: "hello!",
        search: "Hi! do you have white sneakers?",
        product: "fsh-022",
        recommend: "what do you recommend?",
        frustrated: "This is ridiculous, worst service ever, nobody helps me!!",
        cart: "what's in my cart?",
        variant: Some("38"),
    },
    Script {
        brand: "tech",
        agent: "Max",
        language: "es",
        hello: "hola",
        search: "hola, busco un teclado mecánico",
        product: "tec-016",
        recommend: "¿qué me recomiendas?",
        frustrated: "¡Esto es ridículo, pésimo servicio, nadie me ayuda!",
        cart: "¿qué hay en mi carrito?",
        variant: None,
    },
    Script {
        brand: "home",
        agent: "Sofia",
        language: "pt",
        hello: "oi, tudo bem?",
        search: "oi! vocês têm luminária de mesa?",
        product: "hom-013",
        recommend: "o que você recomenda?",
        frustrated: "Isso é ridículo, péssimo atendimento, ninguém me ajuda!!",
        cart: "o que tem no meu carrinho?",
        variant: None,
    },
    Script {
        brand: "beauty",
        agent: "Bella",
        language: "en",
        hello: "good morning",
        search: "do you have vitamin c serum?",
        product: "bty-002",
        recommend: "any recommendations?",
        frustrated: "I'm fed up, this is a joke, terrible service",
        cart: "show me my cart",
        variant: None,
    },
    Script {
        brand: "gaming",
        agent: "Pixel",
        language: "es",
        hello: "buenas tardes",
        search: "¿tienen juegos de fútbol?",
        product: "gam-006",
        recommend: "¿qué me recomiendas?",
        frustrated: "Estoy harto, esto es una estafa, pésimo!!",
        cart: "mi carrito",
        variant: None,
    },
];

/// How each language says the seller is handing over to a person.
fn handover_word(language: &str) -> &'static str {
    match language {
        "es" => "compañero",
        "pt" => "colega",
        _ => "colleague",
    }
}

/// One customer's conversation with one brand.
pub(crate) struct Customer<'a> {
    host: &'a HostProcess,
    script: &'a Script,
    pub(crate) conversation: String,
    n: u32,
}

/// What the seller said in one `store.chat.response`.
pub(crate) struct Said {
    pub(crate) text: String,
    /// The ids of the buttons and list rows it offers.
    pub(crate) ids: Vec<String>,
}

impl<'a> Customer<'a> {
    pub(crate) fn new(host: &'a HostProcess, script: &'a Script, tag: &str) -> Self {
        Self { host, script, conversation: format!("cv-{}-{tag}", script.brand), n: 0 }
    }

    pub(crate) async fn tail(&self) -> Result<Tail> {
        self.host.tail(&[("conversation", self.conversation.as_str())]).await
    }

    async fn send(&mut self, content: Value) -> Result<()> {
        self.n += 1;
        let text = content.get("body").or(content.get("title")).cloned().unwrap_or(json!(""));
        if content["kind"] == "text" {
            agent_store_tests::customer_wrote(None, text.as_str().unwrap_or_default());
        }
        let brand = self.script.brand;
        let mut message = event(
            "store.chat.message.new",
            json!({
                "conversation": self.conversation, "brand": brand,
                "customer": {"id": format!("cus-{}", self.conversation), "name": "Ana"},
                "message_id": format!("wamid.{}.{}", self.conversation, self.n),
                "text": text, "content": content, "received_at": "2026-12-01T12:00:00Z"
            }),
        );
        message.set_extension("brand", brand);
        message.set_extension("conversation", self.conversation.as_str());
        let (status, body) = self.host.post_event(&message).await?;
        ensure!(status == 202, "{status}: {body}");
        Ok(())
    }

    pub(crate) async fn say(&mut self, text: &str) -> Result<()> {
        self.send(json!({"kind": "text", "body": text})).await
    }

    pub(crate) async fn tap(&mut self, id: &str, title: &str) -> Result<()> {
        self.send(json!({"kind": "button_reply", "id": id, "title": title})).await
    }

    /// The seller's next event of type `ty` on the tail.
    pub(crate) async fn next(&self, tail: &mut Tail, ty: &str) -> Result<Value> {
        let source = format!("/agent-store/seller-{}", self.script.brand);
        let record = tail
            .find(WAIT, |r| is(r, "published", ty) && r["event"]["source"] == source.as_str())
            .await
            .with_context(|| format!("{}: waiting for {ty}", self.script.brand))?;
        Ok(record["event"].clone())
    }

    /// The intent the seller read in the last message, checked for the
    /// customer's language.
    pub(crate) async fn intent(&self, tail: &mut Tail) -> Result<Value> {
        let intent = self.next(tail, "store.chat.intent.detected").await?;
        assert_eq!(intent["data"]["language"], self.script.language, "{}: {intent}", self.script.brand);
        let sentiment = intent["data"]["sentiment"].as_f64().context("a sentiment on every message")?;
        assert!((0.0..=1.0).contains(&sentiment), "{intent}");
        Ok(intent["data"].clone())
    }

    /// The seller's next reply to the customer.
    pub(crate) async fn reply(&self, tail: &mut Tail) -> Result<Said> {
        let event = self.next(tail, "store.chat.response").await?;
        let response: ChatResponse = serde_json::from_value(event["data"].clone())?;
        response.validate().map_err(anyhow::Error::msg)?;
        assert_eq!(event["data"]["from"]["agent"], self.script.agent, "{event}");
        let mut text = Vec::new();
        let mut ids = Vec::new();
        for message in &response.messages {
            ids.extend(message.choices().into_iter().map(str::to_string));
            match message {
                OutboundMessage::Text { body, .. }
                | OutboundMessage::Buttons { body, .. }
                | OutboundMessage::List { body, .. } => text.push(body.clone()),
                OutboundMessage::ProductCard { product, .. } => {
                    text.push(format!("{} {}", product.name, product.sale_price.as_ref().unwrap_or(&product.price)))
                }
                OutboundMessage::Image { caption, .. } => text.extend(caption.clone()),
            }
        }
        Ok(Said { text: text.join("\n"), ids })
    }

    /// Searches, opens the product and puts it in the cart; returns the
    /// `store.cart.item.added` event.
    pub(crate) async fn search_and_add(&mut self, tail: &mut Tail) -> Result<Value> {
        let (brand, product) = (self.script.brand, self.script.product);
        self.say(self.script.search).await?;
        let intent = self.intent(tail).await?;
        assert_eq!(intent["intent"], "browse", "{brand}: {intent}");
        let query = self.next(tail, "store.product.query").await?;
        assert_eq!(query["brand"], brand);
        assert_eq!(query["correlation"], query["data"]["request_id"], "{brand}: the request correlates");
        assert_eq!(query["data"]["conversation"], self.conversation.as_str());
        let result = tail.find(WAIT, |r| is(r, "published", "store.product.query.result")).await?;
        assert_eq!(result["event"]["correlation"], query["correlation"], "{brand}: the answer correlates");
        let mut said = self.reply(tail).await?;
        assert!(said.text.contains("USD"), "{brand}: prices: {}", said.text);
        if !said.ids.contains(&format!("add:{product}")) {
            // A list: the customer opens the product for its price, stock
            // and the buttons to buy.
            assert!(
                said.ids.contains(&format!("product:{product}")),
                "{brand}: {product} in {:?}\n{}",
                said.ids,
                said.text
            );
            self.tap(&format!("product:{product}"), "View").await?;
            said = self.reply(tail).await?;
            assert!(said.ids.contains(&format!("add:{product}")), "{brand}: {:?}", said.ids);
        }
        let stock = result["event"]["data"]["products"]
            .as_array()
            .and_then(|products| products.iter().find(|p| p["id"] == product))
            .and_then(|p| p["stock"].as_u64())
            .context("the product's stock in the catalog's answer")?;
        assert!(said.text.contains(&format!("{stock}")), "{brand}: the stock ({stock}): {}", said.text);

        self.tap(&format!("add:{product}"), "Add to cart").await?;
        if let Some(size) = self.script.variant {
            // Sold in sizes: the seller asks which, with buttons, before the cart.
            let said = self.reply(tail).await?;
            let id = format!("variant:{product}#{size}");
            assert!(said.ids.contains(&id), "{brand}: {id} offered in {:?}\n{}", said.ids, said.text);
            self.tap(&id, size).await?;
        }
        let added = self.next(tail, "store.cart.item.added").await?;
        assert_eq!(added["data"]["item"]["product_id"], product);
        assert_eq!(added["data"]["cart"]["items"][0]["quantity"], 1);
        let said = self.reply(tail).await?;
        assert!(said.ids.contains(&"checkout".to_owned()), "{brand}: {:?}", said.ids);
        Ok(added)
    }
}

pub(crate) async fn store() -> Result<HostProcess> {
    HostBuilder::repo_manifest()
        .arg("--kv")
        .arg("memory")
        .env("SPIN_VARIABLE_SALES_API_TOKENS", "tok-ana=ana")
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_seller_sells_from_greeting_to_the_order_number() -> Result<()> {
    let host = store().await?;
    for script in &SCRIPTS {
        let brand = script.brand;
        let mut customer = Customer::new(&host, script, "journey");
        let mut tail = customer.tail().await?;

        customer.say(script.hello).await?;
        assert_eq!(customer.intent(&mut tail).await?["intent"], "greeting");
        let said = customer.reply(&mut tail).await?;
        assert!(said.text.contains(script.agent), "{brand} greets in character: {}", said.text);
        assert!(said.ids.iter().any(|id| id.starts_with("browse:")), "{brand}: categories offered: {:?}", said.ids);

        customer.say(script.recommend).await?;
        assert_eq!(customer.intent(&mut tail).await?["intent"], "recommendation");
        let ask = customer.next(&mut tail, "store.product.recommend").await?;
        assert_eq!(ask["correlation"], ask["data"]["request_id"]);
        let result = tail.find(WAIT, |r| is(r, "published", "store.product.recommend.result")).await?;
        assert_eq!(result["event"]["correlation"], ask["correlation"]);
        let recommended: Vec<String> = result["event"]["data"]["recommendations"]
            .as_array()
            .context("recommendations")?
            .iter()
            .filter_map(|r| r["product"]["id"].as_str().map(str::to_owned))
            .collect();
        let said = customer.reply(&mut tail).await?;
        let shown: Vec<&str> = said
            .ids
            .iter()
            .filter_map(|id| id.split_once(':'))
            .filter(|(kind, _)| matches!(*kind, "product" | "add" | "similar"))
            .map(|(_, product)| product)
            .collect();
        assert!(!shown.is_empty(), "{brand}: recommendations shown: {}", said.text);
        assert!(shown.iter().all(|id| recommended.iter().any(|r| r == id)), "{brand}: {shown:?} ⊄ {recommended:?}");

        let added = customer.search_and_add(&mut tail).await?;

        customer.tap("checkout", "Checkout").await?;
        let said = customer.reply(&mut tail).await?;
        assert!(said.ids.contains(&"yes".to_owned()), "{brand}: confirm with a button: {}", said.text);
        customer.tap("yes", "Place order").await?;
        let create = customer.next(&mut tail, "store.order.create").await?;
        assert_eq!(create["correlation"], create["data"]["request_id"]);
        assert_eq!(create["data"]["expected_total"], added["data"]["cart"]["subtotal"]);
        let mut line = json!({ "product_id": script.product, "quantity": 1 });
        if let Some(variant) = script.variant {
            line["variant"] = json!(variant);
        }
        assert_eq!(create["data"]["lines"], json!([line]), "{brand}: the size goes into the order");
        assert_eq!(create["data"]["language"], script.language);

        // The order processor creates it; the seller tells the customer.
        let created = tail
            .find(WAIT, |r| is(r, "published", "store.order.created") || is(r, "published", "store.order.rejected"))
            .await?;
        assert_eq!(created["event"]["type"], "store.order.created", "{brand}: {created}");
        let order = created["event"]["data"]["order"]["id"].as_str().context("an order id")?.to_owned();
        let told = tail
            .find(WAIT, |r| {
                is(r, "published", "store.chat.response")
                    && r["event"]["source"] == format!("/agent-store/seller-{brand}").as_str()
                    && r["event"]["data"].to_string().contains(&order)
            })
            .await;
        told.with_context(|| format!("{brand}: the customer hears order {order}"))?;

        // The cart was emptied by the order.
        customer.say(script.cart).await?;
        assert_eq!(customer.intent(&mut tail).await?["intent"], "view_cart");
        let said = customer.reply(&mut tail).await?;
        assert!(!said.ids.contains(&"checkout".to_owned()), "{brand}: nothing left to check out: {}", said.text);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_seller_hands_a_frustrated_customer_to_a_human_and_takes_back() -> Result<()> {
    let host = store().await?;
    let client = reqwest::Client::new();
    let api = |path: String| format!("{}/sales/escalations/{path}", host.url);
    for script in &SCRIPTS {
        let brand = script.brand;
        let mut customer = Customer::new(&host, script, "escalation");
        let mut tail = customer.tail().await?;
        let added = customer.search_and_add(&mut tail).await?;

        customer.say(script.frustrated).await?;
        let intent = customer.intent(&mut tail).await?;
        assert!(intent["sentiment"].as_f64().unwrap_or(1.0) < 0.3, "{brand}: {intent}");
        let escalation = customer.next(&mut tail, "store.sales.escalate").await?;
        let data = &escalation["data"];
        assert_eq!(data["reason"], "low_sentiment", "{escalation}");
        assert_eq!(data["sentiment"], intent["sentiment"]);
        assert_eq!(data["cart"], added["data"]["cart"], "{brand}: the cart goes with it");
        assert!(data["summary"].as_str().is_some_and(|s| s.contains("frustrated")), "{escalation}");
        assert!(data["transcript"].to_string().contains(script.search), "{brand}: the conversation so far");
        let id = data["escalation_id"].as_str().context("an escalation id")?.to_owned();
        let said = customer.reply(&mut tail).await?;
        assert!(said.text.contains(handover_word(script.language)), "{brand}: the customer is told: {}", said.text);

        // A human seller accepts through the sales assistant's API, once the
        // assistant has queued the escalation.
        let mut status = 404;
        for _ in 0..100 {
            status = client.post(api(format!("{id}/accept"))).bearer_auth("tok-ana").send().await?.status().as_u16();
            if status != 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "{brand}: accepted");
        // The seller tells the customer who joined, then keeps quiet.
        let said = customer.reply(&mut tail).await?;
        assert!(said.text.contains("Ana"), "{brand}: the customer hears who joined: {}", said.text);

        // The human sees the conversation, the cart and suggestions in the
        // customer's language.
        let detail: Value = client.get(api(id.clone())).bearer_auth("tok-ana").send().await?.json().await?;
        assert_eq!(detail["escalation"]["cart"], added["data"]["cart"], "{detail}");
        assert!(detail["transcript"].to_string().contains(script.frustrated), "{detail}");
        let suggestions = &detail["suggestions"];
        assert_eq!(suggestions["language"], script.language, "{brand}: {suggestions}");
        let draft = suggestions["drafts"][0]["text"].as_str().context("a reply draft")?.to_owned();

        // The AI seller keeps quiet; the human answers.
        customer.say(script.cart).await?;
        assert_eq!(customer.intent(&mut tail).await?["intent"], "view_cart");
        let sent: Value = client
            .post(api(format!("{id}/reply")))
            .bearer_auth("tok-ana")
            .json(&json!({"text": draft}))
            .send()
            .await?
            .json()
            .await?;
        let human = tail.find(WAIT, |r| is(r, "published", "store.chat.response")).await?;
        assert_eq!(human["event"]["id"], sent["event_id"], "{brand}: only the human speaks: {human}");
        assert_eq!(human["event"]["data"]["from"], json!({"kind": "human", "seller_id": "ana"}));
        assert_eq!(human["event"]["data"]["messages"][0]["body"], draft.as_str());

        let response = client
            .post(api(format!("{id}/release")))
            .bearer_auth("tok-ana")
            .json(&json!({"resolution": "returned_to_ai"}))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        let said = customer.reply(&mut tail).await?;
        assert!(!said.text.is_empty(), "{brand}: the AI seller is back");

        // The cart waited for the customer.
        customer.say(script.cart).await?;
        customer.intent(&mut tail).await?;
        let said = customer.reply(&mut tail).await?;
        assert!(said.ids.contains(&"checkout".to_owned()), "{brand}: the cart is still there: {}", said.text);
    }
    Ok(())
}
