//! The WhatsApp gateway agent: Meta's webhooks in, Cloud API calls out,
//! delivery status in between. The only component that ever sees a
//! customer's phone number.
//!
//! HTTP (routes of its `spin.toml` entry, and service chaining):
//!
//! * `GET /webhooks/whatsapp` — Meta's verification handshake: echoes
//!   `hub.challenge` when `hub.verify_token` is the `verify_token` variable.
//! * `POST /webhooks/whatsapp` — a notification, signed with the app secret
//!   (`X-Hub-Signature-256`, 401 when it does not match). Each customer
//!   message becomes `store.whatsapp.message.received` and
//!   `store.chat.message.new`, each status `store.whatsapp.message.status`,
//!   all published before Meta gets its 200 (a 500 makes Meta retry, and
//!   redeliveries are recognised by message id).
//! * `GET /media/<media_id>` — reachable only in-process: the file a customer
//!   sent (see [`media`]).
//!
//! Events:
//!
//! * `store.chat.response` → one `store.whatsapp.message.send` per message,
//!   in order, so that each Cloud API call is retried on its own. Their ids
//!   derive from the response's, so that a redelivered response is not sent
//!   twice.
//! * `store.whatsapp.message.send` → `POST {api_base}/{phone_number_id}/messages`
//!   to the number the conversation belongs to. Nothing is emitted when
//!   WhatsApp accepts it (its `sent`, `delivered`, `read` statuses follow as
//!   webhooks); a refusal becomes a `failed` `store.whatsapp.message.status`;
//!   throttling, 5xx and unreachable APIs are retried.
//!
//! WhatsApp message ids encode the customer's number, so events carry
//! message tokens instead (see [`privacy::message_token`]); a reply that
//! quotes one is sent quoting the wamid behind it.

pub mod brands;
pub mod cloud_api;
pub mod config;
mod media;
pub mod privacy;
mod store;
pub mod throttle;
pub mod webhook;

use std::collections::{HashMap, HashSet};

use agent_store_events::{
    ChatMessageNew, ChatResponse, CustomerRef, DeliveryStatus, EventData, MessageContent, OutboundMessage,
    WhatsAppMessageReceived, WhatsAppMessageSend, WhatsAppMessageStatus, ext, types,
};
use agent_store_sdk::{AttributesReader, AttributesWriter, Emit, Error, Event, Incoming, Result, auth};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Method, Request, Response};

use crate::brands::Owner;
use crate::cloud_api::Outcome;
use crate::store::{Conversation, Memory};
use crate::throttle::{Meter, RateLimit, Verdict};
use crate::webhook::{InboundMessage, Notification, StatusUpdate};

/// This component's id in `spin.toml`, the `source` of what it emits.
const ID: &str = "whatsapp-gateway";

/// `hub.challenge` values are short numbers; anything much longer is not Meta.
const MAX_CHALLENGE: usize = 256;

async fn handle(event: Incoming) -> Result<Vec<Event>> {
    match event.ty() {
        types::CHAT_RESPONSE => split(&event),
        types::WHATSAPP_MESSAGE_SEND => send(&event).await,
        types::BRAND_ONBOARDED => {
            let data = agent_store_sdk::brands::onboarded(&event)?;
            let done = brands::onboard(&config::brand_numbers()?, &data).map_err(|e| refusal(&event, e))?;
            println!("{done}");
            Ok(Vec::new())
        }
        types::BRAND_REMOVED => {
            let data = agent_store_sdk::brands::removed(&event)?;
            let done = brands::remove(&config::brand_numbers()?, &data).map_err(|e| refusal(&event, e))?;
            println!("{done}");
            Ok(Vec::new())
        }
        other => Err(Error::bad_event(format!("whatsapp-gateway does not handle {other} events"))),
    }
}

/// A refused brand event names itself in the dead letter; failures stay
/// retryable as they were.
fn refusal(event: &Incoming, error: Error) -> Error {
    match error {
        Error::BadEvent(reason) => agent_store_sdk::brands::refused(event, &reason),
        other => other,
    }
}

/// Sets the `brand` and `conversation` extensions from the payload, which is
/// what they must always equal.
fn scoped(mut event: Event, brand: &str, conversation: Option<&str>) -> Event {
    event.set_extension(ext::BRAND, brand.to_string());
    if let Some(conversation) = conversation {
        event.set_extension(ext::CONVERSATION, conversation.to_string());
    }
    event
}

fn split(event: &Incoming) -> Result<Vec<Event>> {
    let response: ChatResponse = event.data()?;
    response.validate().map_err(|e| Error::bad_event(format!("chat response {}: {e}", event.id())))?;
    let mut out = Vec::with_capacity(response.messages.len());
    // (source, id) names the response; its messages get ids derived from it,
    // which [`send`] remembers once WhatsApp has them.
    let origin = format!("{}\0{}", event.event().source(), event.id());
    for (index, message) in response.messages.into_iter().enumerate() {
        let send = WhatsAppMessageSend {
            conversation: response.conversation.clone(),
            brand: response.brand.clone(),
            message,
            // Quoting the customer's message once is enough.
            reply_to: if index == 0 { response.in_reply_to.clone() } else { None },
        };
        let mut split = scoped(event.reply(&send)?, send.brand.as_str(), Some(send.conversation.as_str()));
        split.set_id(stable_id("send", &format!("{origin}\0{index}")));
        out.push(split);
    }
    Ok(out)
}

async fn send(event: &Incoming) -> Result<Vec<Event>> {
    let request: WhatsAppMessageSend = event.data()?;
    let kind = request.message.kind_name();
    request.message.validate().map_err(|e| Error::bad_event(format!("message {}: {e}", event.id())))?;
    let memory = Memory::open()?;
    if memory.delivered_send(event.id())? {
        println!("message {} was already delivered to WhatsApp; not sending it twice", event.id());
        return Ok(Vec::new());
    }
    let conversation_id = request.conversation.as_str();
    let conversation = memory.conversation(conversation_id)?.ok_or_else(|| {
        Error::bad_event(format!("conversation {conversation_id} is unknown or expired: there is nobody to send to"))
    })?;
    if conversation.brand != request.brand.as_str() {
        return Err(Error::bad_event(format!(
            "conversation {conversation_id} belongs to brand {}, not {}",
            conversation.brand, request.brand
        )));
    }
    let quoted = match request.reply_to.as_deref() {
        None => None,
        Some(token) => match memory.wamid_of(token)? {
            Some(wamid) => Some(wamid),
            // A wamid itself still works (a component that got one elsewhere).
            None if privacy::is_wamid(token) => Some(token.to_string()),
            None => {
                // The quote is a nicety: the answer matters more.
                println!("the message to quote ({token}) is unknown or expired: sending without quoting it");
                None
            }
        },
    };
    let api = config::CloudApi::load()?;
    let body = cloud_api::message_body(&conversation.phone, &request.message, quoted.as_deref());
    let call = Request::post(format!("{}/{}/messages", api.api_base, conversation.phone_number_id), body.to_string())
        .header("authorization", format!("Bearer {}", api.access_token))
        .header("content-type", "application/json")
        .build();
    let response: Response = spin_sdk::http::send(call)
        .await
        .map_err(|e| Error::failed(format!("the Cloud API at {} cannot be reached: {e}", api.api_base)))?;
    match cloud_api::outcome(*response.status(), response.body(), &conversation.phone) {
        Outcome::Accepted(wamid) => {
            // WhatsApp has the message: failing now would send it again.
            if let Some(wamid) = &wamid
                && let Err(e) = memory.remember_sent(wamid, conversation_id)
            {
                eprintln!("sent message {} will have statuses without a conversation: {e}", privacy::digest(wamid));
            }
            if let Err(e) = memory.mark_send(event.id()) {
                eprintln!("message {} may be sent twice if redelivered: {e}", event.id());
            }
            let wamid = wamid.as_deref().map(privacy::digest).unwrap_or_else(|| "without an id".into());
            println!("sent a {kind} message to conversation {conversation_id} (WhatsApp message {wamid})");
            Ok(Vec::new())
        }
        Outcome::Retry(reason) => Err(Error::failed(format!("sending a {kind} message: {reason}"))),
        Outcome::Refused(error) => {
            eprintln!(
                "WhatsApp refused a {kind} message for conversation {conversation_id}: error {} {}",
                error.code, error.title
            );
            let status = WhatsAppMessageStatus {
                // There is no wamid for a refused message: the send event's id
                // says which one it was.
                message_id: event.id().to_string(),
                conversation: Some(request.conversation.clone()),
                brand: request.brand.clone(),
                status: DeliveryStatus::Failed,
                timestamp: chrono::Utc::now(),
                errors: vec![error],
            };
            Ok(vec![scoped(event.reply(&status)?, request.brand.as_str(), Some(conversation_id))])
        }
    }
}

/// The name of an outbound message's kind, for logs.
trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for agent_store_events::OutboundMessage {
    fn kind_name(&self) -> &'static str {
        use agent_store_events::OutboundMessage as M;
        match self {
            M::Text { .. } => "text",
            M::Buttons { .. } => "buttons",
            M::List { .. } => "list",
            M::Image { .. } => "image",
            M::ProductCard { .. } => "product_card",
        }
    }
}

async fn route(request: Request) -> Response {
    // Split the way the host matches routes, so that no spelling of a public
    // path can reach the in-process-only ones.
    let segments: Vec<&str> = request.path().split('/').filter(|s| !s.is_empty()).collect();
    match (request.method(), segments.as_slice()) {
        (Method::Get, ["webhooks", "whatsapp"]) => verify(&request),
        (Method::Post, ["webhooks", "whatsapp"]) => receive(&request).await,
        (_, ["webhooks", "whatsapp"]) => json_response(405, "use GET (verification) or POST (notifications)"),
        (Method::Get, ["media", media_id]) => media::serve(media_id).await,
        _ => json_response(404, "no such route on the WhatsApp gateway"),
    }
}

pub(crate) fn json_response(status: u16, message: &str) -> Response {
    let key = if status < 400 { "status" } else { "error" };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::json!({ key: message }).to_string())
        .build()
}

/// One query parameter, percent-decoded (`+` is a space).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| {
        let bytes = value.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |b: u8| (b as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(high), Some(low)) => {
                            out.push((high * 16 + low) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    })
}

fn verify(request: &Request) -> Response {
    let query = request.query();
    let (mode, token, challenge) =
        (query_param(query, "hub.mode"), query_param(query, "hub.verify_token"), query_param(query, "hub.challenge"));
    let (Some("subscribe"), Some(token), Some(challenge)) = (mode.as_deref(), token, challenge) else {
        return json_response(400, "expected hub.mode=subscribe, hub.verify_token and hub.challenge");
    };
    if challenge.len() > MAX_CHALLENGE {
        return json_response(400, "hub.challenge is too long");
    }
    let expected = match config::verify_token() {
        Ok(expected) => expected,
        Err(e) => return json_response(500, &e.to_string()),
    };
    if !auth::same_secret(&token, &expected) {
        eprintln!("webhook verification refused: wrong hub.verify_token");
        return json_response(403, "hub.verify_token does not match");
    }
    println!("webhook verified by Meta");
    Response::builder().status(200).header("content-type", "text/plain").body(challenge).build()
}

async fn receive(request: &Request) -> Response {
    let config = match config::Inbound::load() {
        Ok(config) => config,
        Err(e) => return json_response(500, &e.to_string()),
    };
    let signature = request.header("x-hub-signature-256").and_then(|v| v.as_str());
    if let Err(e) = auth::verify_signature(config.app_secret.as_bytes(), request.body(), signature) {
        eprintln!("webhook refused: X-Hub-Signature-256: {e}");
        return json_response(401, &format!("X-Hub-Signature-256: {e}"));
    }
    let notification = match webhook::parse(request.body()) {
        Ok(notification) => notification,
        Err(e) => {
            eprintln!("webhook refused: {e}");
            return json_response(400, &e.to_string());
        }
    };
    match accept(&config, notification).await {
        Ok(summary) => {
            println!("webhook: {summary}");
            json_response(200, "ok")
        }
        Err(e) => {
            // Meta retries what it did not get a 200 for; redeliveries of what
            // did go out are recognised by message id.
            eprintln!("webhook not accepted, Meta will retry: {e}");
            json_response(500, &e.to_string())
        }
    }
}

/// Publishes what a verified notification carries; returns what it did.
async fn accept(config: &config::Inbound, notification: Notification) -> Result<String> {
    for note in &notification.notes {
        eprintln!("webhook: {note}");
    }
    let memory = Memory::open()?;
    let (limit, meter, now) = (RateLimit::load()?, Meter::open()?, chrono::Utc::now());
    let mut events = Vec::new();
    let (mut messages, mut statuses, mut throttled) = (Vec::new(), Vec::new(), Vec::new());
    let (mut repeated, mut unowned) = (0, HashSet::new());
    let mut in_this_call = HashSet::new();
    let learned = brands::open()?;
    let mut owners: HashMap<String, Owner> = HashMap::new();
    let mut owner_of = |number: &str| -> Result<Owner> {
        if let Some(owner) = owners.get(number) {
            return Ok(owner.clone());
        }
        let owner = brands::owner(&config.brands, learned.as_ref(), number)?;
        owners.insert(number.to_string(), owner.clone());
        Ok(owner)
    };
    let mut retired = 0;
    for message in &notification.messages {
        let (brand, serving) = match owner_of(&message.phone_number_id)? {
            Owner::Serving(brand) => (brand, true),
            Owner::Retired(brand) => (brand, false),
            Owner::Unknown => {
                unowned.insert(message.phone_number_id.clone());
                continue;
            }
        };
        let brand = brand.as_str();
        if !in_this_call.insert(message.message_id.clone()) || memory.seen_message(&message.message_id)? {
            repeated += 1;
            continue;
        }
        let conversation = privacy::conversation_id(&config.hash_salt, brand, &message.phone_number_id, &message.phone);
        memory.remember_conversation(
            &conversation,
            &Conversation {
                phone: message.phone.clone(),
                phone_number_id: message.phone_number_id.clone(),
                brand: brand.to_string(),
                name: message.profile_name.clone(),
            },
        )?;
        let customer = privacy::customer_id(&config.hash_salt, &message.phone);
        if !serving {
            // Nobody sells on this number any more: the customer hears so,
            // once a day at most, and no seller gets the message.
            let text = message.content.text().unwrap_or_default();
            events.push(not_in_service(brand, &conversation, &customer, &message.phone_number_id, now, text)?);
            throttled.push(message.message_id.as_str());
            retired += 1;
            continue;
        }
        if let Verdict::Throttled { first, window } = meter.count(&limit, &customer, now)? {
            if first {
                eprintln!(
                    "webhook: customer {customer} sent more than {} messages in {}s: the rest of the window is dropped",
                    limit.messages,
                    limit.window.as_secs()
                );
                let text = message.content.text().unwrap_or_default();
                events.push(slow_down(brand, &conversation, &customer, window, text)?);
            }
            throttled.push(message.message_id.as_str());
            continue;
        }
        // Before publishing: an answer may quote the message at once.
        for wamid in std::iter::once(&message.message_id).chain(&message.context_message_id) {
            memory.remember_token(&privacy::message_token(&config.hash_salt, wamid), wamid)?;
        }
        events.extend(message_events(message, brand, &conversation, &config.hash_salt)?);
        messages.push(message.message_id.as_str());
    }
    for status in &notification.statuses {
        let brand = match owner_of(&status.phone_number_id)? {
            Owner::Serving(brand) => brand,
            // The statuses of "not in service" answers concern nobody.
            Owner::Retired(_) => continue,
            Owner::Unknown => {
                unowned.insert(status.phone_number_id.clone());
                continue;
            }
        };
        let brand = brand.as_str();
        let name = status_name(status.status);
        if !in_this_call.insert(format!("{}:{name}", status.message_id))
            || memory.seen_status(&status.message_id, name)?
        {
            repeated += 1;
            continue;
        }
        events.push(status_event(&memory, status, brand, &config.hash_salt)?);
        statuses.push((status.message_id.as_str(), name));
    }
    for id in &unowned {
        eprintln!(
            "webhook for business number {id}, which no brand owns: its messages are not published \
             (add `{id}=<brand>` to the whatsapp_brand_numbers variable)"
        );
    }
    agent_store_sdk::publish(&events).await?;
    // A redelivery after a failure here publishes again, with the same event
    // ids: consumers that deduplicate on (source, id) see it once.
    // Dropped ones too: a redelivery of a dropped message stays dropped.
    for id in messages.iter().chain(&throttled) {
        if let Err(e) = memory.mark_message(id) {
            eprintln!("message {} may be published twice if Meta redelivers it: {e}", privacy::digest(id));
        }
    }
    for (id, name) in &statuses {
        if let Err(e) = memory.mark_status(id, name) {
            eprintln!("status {name} of {} may be published twice: {e}", privacy::digest(id));
        }
    }
    Ok(format!(
        "{} messages and {} statuses published, {repeated} already seen, {} over the rate limit, {retired} to \
         numbers out of service, {} for unknown business numbers",
        messages.len(),
        statuses.len(),
        throttled.len() - retired,
        notification.messages.len() + notification.statuses.len()
            - messages.len()
            - statuses.len()
            - throttled.len()
            - repeated
    ))
}

/// The note asking a customer over the rate limit to slow down, once per
/// window: an id of its own per customer and window, so a redelivery does
/// not send it twice.
fn slow_down(brand: &str, conversation: &str, customer: &str, window: u64, text: &str) -> Result<Event> {
    let send = WhatsAppMessageSend {
        conversation: conversation.into(),
        brand: brand.into(),
        message: OutboundMessage::text(throttle::slow_down(text)),
        reply_to: None,
    };
    emit(&send, stable_id("slow-down", &format!("{customer}\0{window}")), brand, Some(conversation))
}

/// The answer to a customer writing to a removed brand's number: an id of
/// its own per customer, number and day, so a customer who keeps writing is
/// told once a day, not once a message (the send is skipped for an id already
/// delivered).
fn not_in_service(
    brand: &str,
    conversation: &str,
    customer: &str,
    number: &str,
    now: chrono::DateTime<chrono::Utc>,
    text: &str,
) -> Result<Event> {
    let send = WhatsAppMessageSend {
        conversation: conversation.into(),
        brand: brand.into(),
        message: OutboundMessage::text(brands::not_in_service(text)),
        reply_to: None,
    };
    let day = now.date_naive();
    emit(&send, stable_id("not-in-service", &format!("{customer}\0{number}\0{day}")), brand, Some(conversation))
}

fn status_name(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Read => "read",
        DeliveryStatus::Failed => "failed",
    }
}

/// An event id derived from what it reports, in UUID form, so that publishing
/// the same message twice gives the same ids.
fn stable_id(kind: &str, wamid: &str) -> String {
    let hash = hex::encode(Sha256::digest(format!("{kind}\0{wamid}").as_bytes()));
    // Version 8 (custom) and the RFC 9562 variant.
    format!("{}-{}-8{}-a{}-{}", &hash[..8], &hash[8..12], &hash[13..16], &hash[17..20], &hash[20..32])
}

fn emit<T: EventData>(data: &T, id: String, brand: &str, conversation: Option<&str>) -> Result<Event> {
    let mut event = scoped(Emit::new(ID, data)?.build()?, brand, conversation);
    event.set_id(id);
    Ok(event)
}

/// A message's content as the agents see it: the wamids in it (a reaction's
/// target, ids in a raw object) replaced by their tokens.
fn tokenised(content: &MessageContent, salt: &str) -> MessageContent {
    match content {
        MessageContent::Reaction { message_id, emoji } => {
            MessageContent::Reaction { message_id: privacy::message_token(salt, message_id), emoji: emoji.clone() }
        }
        MessageContent::Unsupported { raw_type, raw } => {
            let mut raw = raw.clone();
            privacy::tokenise_message_ids(&mut raw, salt);
            MessageContent::Unsupported { raw_type: raw_type.clone(), raw }
        }
        other => other.clone(),
    }
}

fn message_events(message: &InboundMessage, brand: &str, conversation: &str, salt: &str) -> Result<Vec<Event>> {
    let customer = CustomerRef { id: privacy::customer_id(salt, &message.phone), name: message.profile_name.clone() };
    let message_id = privacy::message_token(salt, &message.message_id);
    let content = tokenised(&message.content, salt);
    let received = WhatsAppMessageReceived {
        phone_number_id: message.phone_number_id.clone(),
        brand: brand.into(),
        conversation: conversation.into(),
        customer: customer.clone(),
        message_id: message_id.clone(),
        timestamp: message.timestamp,
        content: content.clone(),
        context_message_id: message.context_message_id.as_deref().map(|wamid| privacy::message_token(salt, wamid)),
    };
    let chat = ChatMessageNew {
        conversation: conversation.into(),
        brand: brand.into(),
        customer,
        message_id,
        text: content.text().map(str::trim).unwrap_or_default().to_string(),
        content,
        received_at: message.timestamp,
    };
    Ok(vec![
        emit(&received, stable_id("received", &message.message_id), brand, Some(conversation))?,
        emit(&chat, stable_id("chat", &message.message_id), brand, Some(conversation))?,
    ])
}

fn status_event(memory: &Memory, status: &StatusUpdate, brand: &str, salt: &str) -> Result<Event> {
    // The message's own record first; else the conversation its recipient
    // has with this business number, which is the same one by construction.
    let conversation = match memory.conversation_of_sent(&status.message_id)? {
        Some(conversation) => Some(conversation),
        None => status
            .recipient
            .as_deref()
            .map(|phone| privacy::conversation_id(salt, brand, &status.phone_number_id, phone)),
    };
    let data = WhatsAppMessageStatus {
        message_id: privacy::message_token(salt, &status.message_id),
        conversation: conversation.clone().map(Into::into),
        brand: brand.into(),
        status: status.status,
        timestamp: status.timestamp,
        errors: status.errors.clone(),
    };
    let kind = format!("status-{}", status_name(status.status));
    emit(&data, stable_id(&kind, &status.message_id), brand, conversation.as_deref())
}

agent_store_sdk::export!(id: "whatsapp-gateway", events: handle, http: route);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my%20token+x&bad=%zz";
        assert_eq!(query_param(query, "hub.mode").as_deref(), Some("subscribe"));
        assert_eq!(query_param(query, "hub.challenge").as_deref(), Some("1158201444"));
        assert_eq!(query_param(query, "hub.verify_token").as_deref(), Some("my token x"));
        assert_eq!(query_param(query, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_param(query, "missing"), None);
    }

    #[test]
    fn stable_ids_look_like_uuids_and_differ_by_kind() {
        let a = stable_id("received", "wamid.A");
        assert_eq!(a, stable_id("received", "wamid.A"));
        assert_ne!(a, stable_id("chat", "wamid.A"));
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "8");
    }
}
