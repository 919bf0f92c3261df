//! Our own AMQP headers, beside the event's `cloudEvents:` ones, and the
//! pure functions behind them: which partition an event belongs to, which
//! attempt a delivery is, what a dead letter says about itself.
//!
//! None of these names starts with `cloudEvents:`, `cloudEvents_` or `ce-`
//! (they are never read back as extensions) nor with `x-` (a headers
//! exchange ignores binding arguments with that prefix, and the partition
//! header is matched by one).

use cloudevents::Event;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::broker::ordering_key;

/// Which partition queue of a subscription the message goes to.
pub const PARTITION: &str = "agent-store-partition";
/// The delivery attempt this message is (1 when absent).
pub const ATTEMPT: &str = "agent-store-attempt";
/// Dead letters: an id of their own, for `agent-store dlq show|replay`.
pub const DEAD_ID: &str = "agent-store-dead-letter-id";
/// Dead letters: why.
pub const DEAD_REASON: &str = "agent-store-dead-reason";
/// Dead letters: when (RFC 3339).
pub const DEAD_AT: &str = "agent-store-dead-at";
/// Dead letters: the component that could not handle it.
pub const DEAD_COMPONENT: &str = "agent-store-dead-component";
/// Dead letters: how many attempts were made.
pub const DEAD_ATTEMPTS: &str = "agent-store-dead-attempts";
/// Dead letters: the routing key the message was published with (the event
/// type, or whatever a foreign publisher used).
pub const DEAD_ROUTING_KEY: &str = "agent-store-dead-routing-key";

/// FNV-1a, 64 bits: every host, whatever its Rust version, must send one
/// conversation to the same partition, which rules out `DefaultHasher`.
pub fn stable_hash(key: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    key.bytes().fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// The partition of an ordering key, in `0..partitions`.
pub fn partition_of(key: &str, partitions: u16) -> u16 {
    (stable_hash(key) % u64::from(partitions.max(1))) as u16
}

/// The ordering key of a delivery, read from its headers without decoding
/// the event: the conversation, else the event id. Any spelling of the
/// attribute headers counts, so that another producer's conversation stays
/// in order too.
pub fn ordering_key_of(properties: &BasicProperties) -> Option<String> {
    let attribute = |name| cloudevents_amqp::attribute_header(properties, name).and_then(value_text);
    if let Some(conversation) = attribute("conversation") {
        return Some(conversation);
    }
    match properties.message_id() {
        Some(id) => Some(id.to_string()),
        // Where the binding puts an id too long for `message-id`, and where
        // other producers put every id.
        None => attribute("id"),
    }
}

/// The properties to publish `event` with: the binding's (binary mode,
/// persistent) plus the partition its conversation hashes to.
pub fn event_properties(event: &Event, partitions: u16) -> cloudevents_amqp::Result<BasicProperties> {
    let mut extra = FieldTable::default();
    let partition = partition_of(&ordering_key(event), partitions);
    extra.insert(PARTITION.into(), AMQPValue::LongLongInt(partition.into()));
    cloudevents_amqp::with_extra_headers(cloudevents_amqp::properties_for(event)?, &extra)
}

/// The attempt a delivery is: its header, else the first.
pub fn attempt_of(properties: &BasicProperties) -> u32 {
    header(properties, ATTEMPT).and_then(value_int).and_then(|n| u32::try_from(n).ok()).unwrap_or(1).max(1)
}

/// What a retry is published with: the original message as it was, its
/// attempt header set to `next`.
pub fn retry_properties(original: &BasicProperties, next: u32) -> BasicProperties {
    let mut headers = ours_removed(original, &[ATTEMPT]);
    headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(next.into()));
    original.clone().with_headers(headers.into())
}

/// Why, when and where a message was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeathNote {
    pub id: String,
    pub component: String,
    pub reason: String,
    pub attempts: u32,
    pub at: chrono::DateTime<chrono::Utc>,
    pub routing_key: String,
}

/// What a dead letter is published with: the original properties and
/// `cloudEvents:` headers untouched, plus the [`DeathNote`].
pub fn dead_letter_properties(original: &BasicProperties, note: &DeathNote) -> BasicProperties {
    let mut headers = ours_removed(original, &[ATTEMPT]);
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.to_string()));
    headers.insert(DEAD_ID.into(), text(&note.id));
    headers.insert(DEAD_COMPONENT.into(), text(&note.component));
    headers.insert(DEAD_REASON.into(), text(&note.reason));
    headers.insert(DEAD_ATTEMPTS.into(), AMQPValue::LongLongInt(note.attempts.into()));
    headers.insert(DEAD_AT.into(), text(&note.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    headers.insert(DEAD_ROUTING_KEY.into(), text(&note.routing_key));
    original.clone().with_headers(headers.into())
}

/// Reads the [`DeathNote`] back; `None` for a message that has none.
pub fn death_note(properties: &BasicProperties) -> Option<DeathNote> {
    let text = |name| header(properties, name).and_then(value_text);
    Some(DeathNote {
        id: text(DEAD_ID)?,
        component: text(DEAD_COMPONENT).unwrap_or_default(),
        reason: text(DEAD_REASON).unwrap_or_default(),
        attempts: header(properties, DEAD_ATTEMPTS)
            .and_then(value_int)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        at: text(DEAD_AT)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default(),
        routing_key: text(DEAD_ROUTING_KEY).unwrap_or_default(),
    })
}

/// What a replayed dead letter is published with: the original message,
/// without the death note and with a fresh attempt count.
pub fn replay_properties(dead: &BasicProperties) -> BasicProperties {
    let headers =
        ours_removed(dead, &[ATTEMPT, DEAD_ID, DEAD_COMPONENT, DEAD_REASON, DEAD_ATTEMPTS, DEAD_AT, DEAD_ROUTING_KEY]);
    dead.clone().with_headers(headers.into())
}

/// The headers without `names` and without RabbitMQ's dead-lettering
/// history (`x-death` and friends), which only grows on every retry and is
/// not part of the event.
fn ours_removed(properties: &BasicProperties, names: &[&str]) -> std::collections::BTreeMap<ShortString, AMQPValue> {
    let mut headers = properties.headers().as_ref().map(|h| h.inner().clone()).unwrap_or_default();
    headers.retain(|name, _| {
        let name = name.as_str();
        !names.contains(&name)
            && name != "x-death"
            && !name.starts_with("x-first-death-")
            && !name.starts_with("x-last-death-")
    });
    headers
}

fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(name)
}

fn value_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        AMQPValue::ByteArray(b) => Some(String::from_utf8_lossy(b.as_slice()).into_owned()),
        other => value_int(other).map(|n| n.to_string()),
    }
}

fn value_int(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok()?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(id: &str, conversation: Option<&str>) -> Event {
        let mut builder = EventBuilderV10::new().id(id).source("/test").ty("store.chat.message.new");
        if let Some(c) = conversation {
            builder = builder.extension("conversation", c);
        }
        builder.build().unwrap()
    }

    #[test]
    fn the_hash_is_fnv1a_and_stable() {
        // Reference values of FNV-1a 64: a change here re-partitions every
        // conversation of a running deployment.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn partitions_stay_in_range_and_spread() {
        let mut seen = [0usize; 8];
        for n in 0..8000 {
            let key = format!("conversation-{n}");
            let p = partition_of(&key, 8);
            seen[usize::from(p)] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
        assert_eq!(partition_of("anything", 0), 0, "no partitions counts as one");
    }

    #[test]
    fn one_conversation_one_partition_whatever_the_event() {
        let a = event_properties(&event("1", Some("c-42")), 8).unwrap();
        let b = event_properties(&event("2", Some("c-42")), 8).unwrap();
        let partition = |p: &BasicProperties| header(p, PARTITION).cloned();
        assert_eq!(partition(&a), partition(&b));
        assert_eq!(partition(&a), Some(AMQPValue::LongLongInt(partition_of("c-42", 8).into())));
        assert_eq!(ordering_key_of(&a).as_deref(), Some("c-42"));
        let alone = event_properties(&event("solo", None), 8).unwrap();
        assert_eq!(ordering_key_of(&alone).as_deref(), Some("solo"), "the id when there is no conversation");
    }

    #[test]
    fn another_producer_s_conversation_is_its_ordering_key() {
        let with = |name: String, value: &str| {
            let mut headers = FieldTable::default();
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
            headers
        };
        for prefix in cloudevents_amqp::HEADER_PREFIXES {
            let properties = BasicProperties::default()
                .with_message_id("m-1".into())
                .with_headers(with(format!("{prefix}conversation"), "c-7"));
            assert_eq!(ordering_key_of(&properties).as_deref(), Some("c-7"), "{prefix}");
            let properties = BasicProperties::default().with_headers(with(format!("{prefix}id"), "id-9"));
            assert_eq!(ordering_key_of(&properties).as_deref(), Some("id-9"), "{prefix}");
        }
    }

    #[test]
    fn retries_count_attempts_and_keep_the_event() {
        let original = event_properties(&event("1", Some("c")), 4).unwrap();
        assert_eq!(attempt_of(&original), 1);
        let mut with_history = original.headers().clone().unwrap();
        with_history.insert("x-death".into(), AMQPValue::FieldArray(Default::default()));
        let retried = retry_properties(&original.clone().with_headers(with_history), 2);
        assert_eq!(attempt_of(&retried), 2);
        assert_eq!(attempt_of(&retry_properties(&retried, 3)), 3);
        assert!(header(&retried, "x-death").is_none(), "RabbitMQ's history is dropped");
        let back = cloudevents_amqp::to_event(&retried, &[]).unwrap();
        assert_eq!(back, event("1", Some("c")));
    }

    #[test]
    fn a_dead_letter_keeps_the_event_and_says_why() {
        let original = retry_properties(&event_properties(&event("1", Some("c")), 4).unwrap(), 3);
        let note = DeathNote {
            id: "dl-1".into(),
            component: "seller-fashion".into(),
            reason: "answered 500".into(),
            attempts: 3,
            at: chrono::DateTime::parse_from_rfc3339("2026-05-01T12:00:00.250Z").unwrap().with_timezone(&chrono::Utc),
            routing_key: "store.chat.message.new".into(),
        };
        let dead = dead_letter_properties(&original, &note);
        assert_eq!(death_note(&dead), Some(note));
        assert!(header(&dead, ATTEMPT).is_none());
        assert_eq!(cloudevents_amqp::to_event(&dead, &[]).unwrap(), event("1", Some("c")));
        let cloud = |p: &BasicProperties| {
            p.headers().as_ref().unwrap().inner().iter().filter(|(k, _)| k.as_str().starts_with("cloudEvents:")).count()
        };
        assert_eq!(cloud(&dead), cloud(&original), "every cloudEvents: header kept");

        let replay = replay_properties(&dead);
        assert_eq!(death_note(&replay), None);
        assert_eq!(attempt_of(&replay), 1, "a replay starts over");
        assert_eq!(header(&replay, PARTITION), header(&original, PARTITION));
        assert_eq!(replay.message_id(), original.message_id());
    }
}
