//! The API human sellers work through, under `/sales` (see
//! `docs/sales-assistant.md`). Every request needs `Authorization: Bearer
//! <token>`; the token says which seller is calling and for which brands
//! (see [`crate::auth`]): everything below covers those brands only, and
//! another brand's escalation is a 404.
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/sales/escalations` | the queue by priority, and the caller's accepted ones |
//! | GET | `/sales/escalations/<id>` | one escalation with transcript, cart, orders and suggestions |
//! | GET | `/sales/escalations/<id>/suggestions` | strategies and reply drafts |
//! | POST | `/sales/escalations/<id>/accept` | takes it (one seller only; 409 for the others) |
//! | POST | `/sales/escalations/<id>/reply` | `{"text"}` to the customer, as `store.chat.response` |
//! | POST | `/sales/escalations/<id>/release` | `{"resolution", "note"}` back to the AI seller |
//! | GET | `/sales/analytics` | escalation rate, time to accept, resolutions, conversion |
//!
//! `/sales/console` is the web page human sellers use over this API
//! ([`crate::console`]); it needs no token, the API it calls does.

use agent_store_events::{
    ChatResponse, EscalationAccepted, EscalationReleased, EventData, OutboundMessage, Resolution, Responder, Speaker,
    TranscriptEntry,
};
use agent_store_sdk::{Emit, Event};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};

use crate::auth::{Brands, Seller, Sellers};
use crate::model::{Conversation, Escalation, Expiry, Status};
use crate::settings::Settings;
use crate::store::{Store, Update};
use crate::{ACTIVE, ID, QUEUE, analytics, index, insight, queue};

/// The longest note a seller may leave for the AI seller.
const MAX_NOTE: usize = 1000;

/// A failed request: status and a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

fn error(status: u16, message: impl Into<String>) -> ApiError {
    ApiError { status, message: message.into() }
}

impl From<agent_store_sdk::Error> for ApiError {
    fn from(e: agent_store_sdk::Error) -> Self {
        // Store failures are ours, not the caller's.
        error(503, e.to_string())
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

type ApiResult = Result<Response, ApiError>;

/// The HTTP entry point (every request that is not an event).
pub async fn route(request: Request) -> Response {
    // The console's page and assets are public; everything they call is not.
    if let Some(page) = crate::console::serve(request.method(), request.path()) {
        return page;
    }
    match handle(&request).await {
        Ok(response) => response,
        Err(e) => {
            if e.status >= 500 {
                eprintln!("{ID}: {} {} failed: {}", method_name(request.method()), request.path(), e.message);
            }
            let mut response = json_response(e.status, &json!({ "error": e.message }));
            if e.status == 401 {
                response.set_header("www-authenticate", "Bearer realm=\"sales\"");
            }
            response
        }
    }
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        _ => "other",
    }
}

/// The path below `/sales`, as decoded segments.
fn segments(path: &str) -> Vec<String> {
    let rest = path.strip_prefix("/sales").unwrap_or(path);
    rest.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(request: &Request) -> ApiResult {
    let tokens = spin_sdk::variables::get("api_tokens")
        .map_err(|e| error(500, format!("the api_tokens variable is not available: {e}")))?;
    let sellers = Sellers::parse(&tokens).map_err(|e| error(500, format!("the API is misconfigured: {e}")))?;
    let authorization = request.header("authorization").and_then(|v| v.as_str());
    let Some(seller) = sellers.authenticate(authorization) else {
        return Err(error(401, "a seller token is required: Authorization: Bearer <token>"));
    };
    let settings = Settings::load().map_err(|e| error(500, format!("the API is misconfigured: {e}")))?;
    let at = At { settings: &settings, now: Utc::now() };
    let segments = segments(request.path());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let now = at.now;
    let method = request.method();
    match (segments.as_slice(), method) {
        (["escalations"], Method::Get) => list(seller, &at).await,
        (["escalations", id], Method::Get) => {
            detail(seller, id, !request.query().contains("suggestions=false"), &at).await
        }
        (["escalations", id, "suggestions"], Method::Get) => suggestions(seller, id, &at).await,
        (["escalations", id, "accept"], Method::Post) => accept(seller, id, &at).await,
        (["escalations", id, "reply"], Method::Post) => reply(seller, id, request.body()).await,
        (["escalations", id, "release"], Method::Post) => release(seller, id, request.body(), now).await,
        (["analytics"], Method::Get) => analytics(seller, &at),
        (["escalations"] | ["escalations", _] | ["escalations", _, "suggestions"] | ["analytics"], _)
        | (["escalations", _, "accept" | "reply" | "release"], _) => Err(error(405, "method not allowed")),
        _ => Err(error(404, format!("no such API path: {}", request.path()))),
    }
}

fn missing(id: &str) -> ApiError {
    error(404, format!("no escalation `{id}`"))
}

/// The escalation, if it exists for `seller`: another brand's is answered as
/// one that does not exist, so a seller cannot tell it from a wrong id.
fn load(store: &Store, id: &str, seller: &Seller) -> Result<Escalation, ApiError> {
    crate::check_id("escalation id", id).map_err(|e| error(400, e.to_string()))?;
    store
        .get::<Escalation>(&Escalation::key(id))?
        .filter(|escalation| seller.covers(escalation.escalate.brand.as_str()))
        .ok_or_else(|| missing(id))
}

/// The bounds in force and the time of the request.
struct At<'a> {
    settings: &'a Settings,
    now: DateTime<Utc>,
}

/// The escalation as it stands at `at`: one that has waited out its lifetime
/// expires now, and its AI seller is told (if that cannot be published, the
/// customer's next message tells it; see [`queue`]).
async fn current(store: &Store, escalation: Escalation, at: &At<'_>) -> Result<Escalation, ApiError> {
    let ttl = at.settings.escalation_ttl;
    if !escalation.is_due(at.now, ttl) {
        return Ok(escalation);
    }
    let Some(expired) = queue::expire(store, escalation.id(), Expiry::Unanswered, Some(ttl), at.now)? else {
        // Someone else moved it first.
        return Ok(store.get(&Escalation::key(escalation.id()))?.unwrap_or(escalation));
    };
    if let Some(back) = queue::handed_back(&expired)?
        && let Err(e) = publish(&[back]).await
    {
        eprintln!(
            "{ID}: the hand-back of expired escalation {} waits for the next message: {}",
            expired.id(),
            e.message
        );
    }
    Ok(expired)
}

/// Who may see an escalation of their brands: anyone while it is queued or
/// after it was released or expired; only its seller while it is accepted.
fn visible_to(escalation: &Escalation, seller: &Seller) -> Result<(), ApiError> {
    match &escalation.state {
        Status::Accepted { seller_id, .. } if *seller_id != seller.id => {
            Err(error(403, format!("escalation `{}` is another seller's", escalation.id())))
        }
        _ => Ok(()),
    }
}

/// What the API shows of an escalation.
fn view(escalation: &Escalation, now: DateTime<Utc>) -> Value {
    let e = &escalation.escalate;
    let mut view = json!({
        "escalation_id": e.escalation_id,
        "conversation": e.conversation,
        "brand": e.brand,
        "customer": e.customer,
        "reason": e.reason,
        "sentiment": e.sentiment,
        "summary": e.summary,
        "cart": e.cart,
        "escalated_at": e.escalated_at,
        "queued_at": escalation.queued_at,
        "status": escalation.state.name(),
        "priority": (escalation.priority(now) * 1000.0).round() / 1000.0,
        "waited_s": escalation.waited(now).num_seconds(),
        "converted": escalation.converted,
    });
    match &escalation.state {
        Status::Queued => {}
        Status::Accepted { seller_id, accepted_at } => {
            view["seller_id"] = json!(seller_id);
            view["accepted_at"] = json!(accepted_at);
        }
        Status::Released { seller_id, accepted_at, released_at, resolution, note } => {
            view["seller_id"] = json!(seller_id);
            view["accepted_at"] = json!(accepted_at);
            view["released_at"] = json!(released_at);
            view["resolution"] = json!(resolution);
            view["note"] = json!(note);
        }
        Status::Expired { expired_at, cause } => {
            view["expired_at"] = json!(expired_at);
            view["expiry"] = json!(cause);
        }
    }
    view
}

fn records(store: &Store, index_key: &str) -> Result<Vec<Escalation>, ApiError> {
    let ids: Vec<String> = store.get(index_key)?.unwrap_or_default();
    let mut found = Vec::new();
    for id in ids {
        if let Some(escalation) = store.get::<Escalation>(&Escalation::key(&id))? {
            found.push(escalation);
        }
    }
    Ok(found)
}

/// The escalations listed at `index_key` that are `seller`'s brands'.
fn records_for(store: &Store, index_key: &str, seller: &Seller) -> Result<Vec<Escalation>, ApiError> {
    Ok(records(store, index_key)?.into_iter().filter(|e| seller.covers(e.escalate.brand.as_str())).collect())
}

async fn list(seller: &Seller, at: &At<'_>) -> ApiResult {
    let now = at.now;
    let store = Store::open()?;
    let mut queued = Vec::new();
    for escalation in records_for(&store, QUEUE, seller)? {
        let escalation = current(&store, escalation, at).await?;
        if escalation.state == Status::Queued {
            queued.push(escalation);
        }
    }
    // The order customers are told their place in (`queue::waiting`).
    let queued = queue::in_order(queued, now);
    let mine: Vec<Escalation> = records_for(&store, ACTIVE, seller)?
        .into_iter()
        .filter(|e| matches!(&e.state, Status::Accepted { seller_id, .. } if *seller_id == seller.id))
        .collect();
    Ok(json_response(
        200,
        &json!({
            "seller_id": seller.id,
            "queued": queued.iter().map(|e| view(e, now)).collect::<Vec<_>>(),
            "mine": mine.iter().map(|e| view(e, now)).collect::<Vec<_>>(),
        }),
    ))
}

async fn detail(seller: &Seller, id: &str, with_suggestions: bool, at: &At<'_>) -> ApiResult {
    let now = at.now;
    let store = Store::open()?;
    let escalation = current(&store, load(&store, id, seller)?, at).await?;
    visible_to(&escalation, seller)?;
    let conversation = store.get::<Conversation>(&Conversation::key(&escalation.escalate.conversation))?;
    let transcript = match &conversation {
        Some(c) if !c.transcript.is_empty() => &c.transcript,
        _ => &escalation.escalate.transcript,
    };
    let lines: Vec<Value> = transcript.iter().map(|line| transcript_line(line, conversation.as_ref())).collect();
    // The cart as it last changed, else as it was when the seller escalated.
    let cart = conversation.as_ref().and_then(|c| c.cart.as_ref()).or(escalation.escalate.cart.as_ref());
    let orders = conversation.as_ref().map(|c| c.orders.as_slice()).unwrap_or_default();
    let mut body = json!({
        "escalation": view(&escalation, now),
        "transcript": lines,
        "cart": cart,
        "orders": orders,
    });
    if with_suggestions {
        body["suggestions"] = json!(crate::suggestions(&escalation, conversation.as_ref()));
    }
    Ok(json_response(200, &body))
}

/// A transcript line as the API shows it: who, what and when, the product
/// cards it showed, and for lines to the customer how far WhatsApp got
/// with them (`sent`, `delivered`, `read`).
fn transcript_line(line: &TranscriptEntry, conversation: Option<&Conversation>) -> Value {
    let mut shown = json!(line);
    let Some(conversation) = conversation else { return shown };
    let products: Vec<_> = conversation.cards_at(line.at).collect();
    if !products.is_empty() {
        shown["products"] = json!(products);
    }
    if line.from != Speaker::Customer {
        shown["status"] = json!(conversation.receipts.of(line.at));
    }
    shown
}

async fn suggestions(seller: &Seller, id: &str, at: &At<'_>) -> ApiResult {
    let store = Store::open()?;
    let escalation = current(&store, load(&store, id, seller)?, at).await?;
    visible_to(&escalation, seller)?;
    let conversation = store.get::<Conversation>(&Conversation::key(&escalation.escalate.conversation))?;
    Ok(json_response(200, &json!(crate::suggestions(&escalation, conversation.as_ref()))))
}

/// An event from the API, on the escalation's brand and conversation.
fn event<T: EventData>(escalation: &Escalation, data: &T) -> Result<Event, ApiError> {
    Ok(Emit::new(ID, data)?
        .brand(escalation.escalate.brand.to_string())
        .conversation(escalation.escalate.conversation.to_string())
        .build()?)
}

async fn publish(events: &[Event]) -> Result<(), ApiError> {
    agent_store_sdk::publish(events)
        .await
        .map_err(|e| error(503, format!("the event could not be published, try again: {e}")))
}

enum Claim {
    Won(Escalation),
    AlreadyYours(Escalation),
    Taken,
    Closed,
    Expired,
    Missing,
}

async fn accept(seller: &Seller, id: &str, at: &At<'_>) -> ApiResult {
    let now = at.now;
    let store = Store::open()?;
    crate::check_id("escalation id", id).map_err(|e| error(400, e.to_string()))?;
    if let Some(escalation) = store.get::<Escalation>(&Escalation::key(id))?
        && seller.covers(escalation.escalate.brand.as_str())
    {
        current(&store, escalation, at).await?;
    }
    let key = Escalation::key(id);
    // The compare-and-swap is the decision: of sellers accepting at once,
    // exactly one writer sees `Queued` and wins.
    let claim = store.update(&key, |current: Option<Escalation>| {
        let Some(mut escalation) = current.filter(|e| seller.covers(e.escalate.brand.as_str())) else {
            return Ok(Update::Keep(Claim::Missing));
        };
        Ok(match &escalation.state {
            Status::Queued => {
                escalation.state = Status::Accepted { seller_id: seller.id.clone(), accepted_at: now };
                Update::Write(escalation.clone(), Claim::Won(escalation))
            }
            Status::Accepted { seller_id, .. } if *seller_id == seller.id => {
                Update::Keep(Claim::AlreadyYours(escalation))
            }
            Status::Accepted { .. } => Update::Keep(Claim::Taken),
            Status::Released { .. } => Update::Keep(Claim::Closed),
            Status::Expired { .. } => Update::Keep(Claim::Expired),
        })
    })?;
    let escalation = match claim {
        Claim::Won(escalation) => escalation,
        Claim::AlreadyYours(escalation) => {
            return Ok(json_response(200, &json!({ "escalation": view(&escalation, now) })));
        }
        Claim::Taken => return Err(error(409, format!("escalation `{id}` was already accepted by another seller"))),
        Claim::Closed => return Err(error(409, format!("escalation `{id}` was already released"))),
        Claim::Expired => return Err(expired(id)),
        Claim::Missing => return Err(missing(id)),
    };
    let accepted = EscalationAccepted {
        escalation_id: id.to_string(),
        conversation: escalation.escalate.conversation.clone(),
        brand: escalation.escalate.brand.clone(),
        seller_id: seller.id.clone(),
        accepted_at: now,
    };
    if let Err(e) = publish(&[event(&escalation, &accepted)?]).await {
        // Nobody heard of the accept: put the escalation back in the queue.
        store.update(&key, |current: Option<Escalation>| {
            Ok(match current {
                Some(mut e) if e.state == escalation.state => {
                    e.state = Status::Queued;
                    Update::Write(e, ())
                }
                _ => Update::Keep(()),
            })
        })?;
        return Err(e);
    }
    index(&store, QUEUE, id, false)?;
    index(&store, ACTIVE, id, true)?;
    analytics::accepted(&store, &escalation, &seller.id, now)?;
    Ok(json_response(200, &json!({ "escalation": view(&escalation, now) })))
}

/// The escalation, if `seller` has it accepted.
fn accepted_by(store: &Store, id: &str, seller: &Seller) -> Result<Escalation, ApiError> {
    let escalation = load(store, id, seller)?;
    match &escalation.state {
        Status::Accepted { seller_id, .. } if *seller_id == seller.id => Ok(escalation),
        Status::Accepted { .. } => Err(error(403, format!("escalation `{id}` is another seller's"))),
        Status::Queued => Err(error(409, format!("escalation `{id}` is not accepted yet: accept it first"))),
        Status::Released { .. } => Err(error(409, format!("escalation `{id}` was already released"))),
        Status::Expired { .. } => Err(expired(id)),
    }
}

fn expired(id: &str) -> ApiError {
    error(409, format!("escalation `{id}` expired unanswered: the AI seller has the conversation back"))
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| error(400, format!("the body is not the JSON expected: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: String,
}

async fn reply(seller: &Seller, id: &str, bytes: &[u8]) -> ApiResult {
    let store = Store::open()?;
    let escalation = accepted_by(&store, id, seller)?;
    let ReplyBody { text } = body(bytes)?;
    let response = ChatResponse {
        conversation: escalation.escalate.conversation.clone(),
        brand: escalation.escalate.brand.clone(),
        in_reply_to: None,
        from: Responder::Human { seller_id: seller.id.clone() },
        messages: vec![OutboundMessage::text(text.trim())],
    };
    response.validate().map_err(|e| error(400, e))?;
    let event = event(&escalation, &response)?;
    let event_id = agent_store_sdk::AttributesReader::id(&event).to_string();
    publish(&[event]).await?;
    Ok(json_response(202, &json!({ "sent": true, "event_id": event_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    resolution: String,
    #[serde(default)]
    note: Option<String>,
}

fn resolution(name: &str) -> Result<Resolution, ApiError> {
    Ok(match name {
        "sold" => Resolution::Sold,
        "resolved" => Resolution::Resolved,
        "returned_to_ai" => Resolution::ReturnedToAi,
        "unresolved" => Resolution::Unresolved,
        "other" => Resolution::Other,
        other => {
            return Err(error(
                400,
                format!("resolution `{other}`: use sold, resolved, returned_to_ai, unresolved or other"),
            ));
        }
    })
}

async fn release(seller: &Seller, id: &str, bytes: &[u8], now: DateTime<Utc>) -> ApiResult {
    let store = Store::open()?;
    accepted_by(&store, id, seller)?;
    let ReleaseBody { resolution: name, note } = body(bytes)?;
    let resolution = resolution(&name)?;
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(error(400, format!("the note is longer than {MAX_NOTE} characters")));
    }
    let key = Escalation::key(id);
    let released = store.update(&key, |current: Option<Escalation>| {
        let Some(mut escalation) = current else { return Ok(Update::Keep(None)) };
        let Status::Accepted { seller_id, accepted_at } = &escalation.state else {
            return Ok(Update::Keep(None));
        };
        if *seller_id != seller.id {
            return Ok(Update::Keep(None));
        }
        let before = escalation.state.clone();
        escalation.state = Status::Released {
            seller_id: seller.id.clone(),
            accepted_at: *accepted_at,
            released_at: now,
            resolution,
            note: note.clone(),
        };
        Ok(Update::Write(escalation.clone(), Some((escalation, before))))
    });
    let Some((escalation, before)) = released.map_err(ApiError::from)? else {
        // Someone changed it between the check and the write.
        return Err(error(409, format!("escalation `{id}` changed meanwhile; look again")));
    };
    let released = EscalationReleased {
        escalation_id: id.to_string(),
        conversation: escalation.escalate.conversation.clone(),
        brand: escalation.escalate.brand.clone(),
        seller_id: seller.id.clone(),
        resolution,
        note: note.clone(),
        released_at: now,
    };
    if let Err(e) = publish(&[event(&escalation, &released)?]).await {
        store.update(&key, |current: Option<Escalation>| {
            Ok(match current {
                Some(mut e) if e.state == escalation.state => {
                    e.state = before.clone();
                    Update::Write(e, ())
                }
                _ => Update::Keep(()),
            })
        })?;
        return Err(e);
    }
    index(&store, ACTIVE, id, false)?;
    analytics::released(&store, &escalation, &seller.id, resolution)?;
    // Performance figures travel on the release itself: components have no
    // timers to send them on. A failure here loses a report, not the release.
    let performance = analytics::report(&store)
        .map_err(ApiError::from)
        .and_then(|report| event(&escalation, &insight::released(&escalation, &report, now)));
    let published = match performance {
        Ok(performance) => publish(&[performance]).await,
        Err(e) => Err(e),
    };
    if let Err(e) = published {
        eprintln!("{ID}: the performance insight of {id} was not published: {}", e.message);
    }
    Ok(json_response(200, &json!({ "escalation": view(&escalation, now) })))
}

/// The figures of `seller`'s brands; a seller scoped to some brands sees
/// their own figures, and one for every brand everybody's.
fn analytics(seller: &Seller, at: &At<'_>) -> ApiResult {
    let now = at.now;
    let store = Store::open()?;
    let mut report = analytics::report(&store)?;
    report.brands.retain(|brand, _| seller.covers(brand));
    if seller.brands != Brands::All {
        report.sellers.retain(|id, _| *id == seller.id);
    }
    let queued: Vec<Escalation> = records_for(&store, QUEUE, seller)?
        .into_iter()
        .filter(|e| e.state == Status::Queued && !e.is_due(now, at.settings.escalation_ttl))
        .collect();
    let oldest = queued.iter().map(|e| e.waited(now).num_seconds()).max();
    let accepted = records_for(&store, ACTIVE, seller)?.len();
    Ok(json_response(
        200,
        &json!({
            "generated_at": now,
            "queue": { "waiting": queued.len(), "oldest_wait_s": oldest, "in_progress": accepted },
            "brands": report.brands,
            "sellers": report.sellers,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_split_below_sales_and_decoded() {
        assert_eq!(segments("/sales/escalations/esc%2D1/accept"), ["escalations", "esc-1", "accept"]);
        assert_eq!(segments("/sales/"), Vec::<String>::new());
        assert_eq!(segments("/sales/analytics/"), ["analytics"]);
        assert_eq!(percent_decode("a%zz%4"), "a%zz%4", "broken escapes stay as they are");
    }

    #[test]
    fn resolutions_are_checked() {
        assert_eq!(resolution("sold").unwrap(), Resolution::Sold);
        assert_eq!(resolution("returned_to_ai").unwrap(), Resolution::ReturnedToAi);
        assert_eq!(resolution("won").unwrap_err().status, 400);
    }
}
