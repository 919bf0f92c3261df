//! Bounds on every part of an event, checked wherever events enter the
//! store: at the ingress (`POST /events`, the event router), on what
//! components emit, and on every delivery (for events another producer put
//! on the broker directly). An event past one of them is refused with the reason,
//! never half-published: a type longer than RabbitMQ's routing key, say,
//! would otherwise fail deep inside a broker lane.

use cloudevents::{AttributesReader, Data, Event};

/// `type`: RabbitMQ routes by it, and a routing key is at most 255 bytes.
pub const MAX_TYPE: usize = 255;
/// `id`.
pub const MAX_ID: usize = 256;
/// `source`, `subject`, `dataschema`.
pub const MAX_URI: usize = 1024;
/// An extension attribute's name.
pub const MAX_EXTENSION_NAME: usize = 64;
/// An extension attribute's value.
pub const MAX_EXTENSION_VALUE: usize = 4096;
/// Extension attributes on one event, not counting the trace extensions the
/// host stamps ([`HOST_STAMPED`]).
pub const MAX_EXTENSIONS: usize = 32;
/// What the host sets on every event it publishes (hop count and trace),
/// after the ingress checked it: not counted against [`MAX_EXTENSIONS`],
/// so that an event within the bounds at the door is within them on
/// delivery too, where the bounds are checked again for events that did
/// not come through a door (another producer on the broker).
pub const HOST_STAMPED: &[&str] = &[crate::ext::DEPTH, crate::ext::TRACEPARENT, crate::ext::TRACESTATE];
/// `data`, in bytes: far above any event of the store, far below a broker's
/// message limit.
pub const MAX_DATA: usize = 4 << 20;
/// Events in one batch at the ingress: enough for a bulk producer, bounded
/// well inside the 16 MiB request body.
pub const MAX_BATCH: usize = 1000;

/// Which bound an event passes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// An attribute is longer than its bound.
    #[error("`{attribute}` is {len} bytes long; at most {max} are allowed")]
    Attribute {
        /// The attribute's name.
        attribute: String,
        /// Its length in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Too many extension attributes.
    #[error("{0} extension attributes; at most {MAX_EXTENSIONS} are allowed")]
    Extensions(usize),
    /// `data` too large.
    #[error("`data` is {0} bytes; at most {MAX_DATA} are allowed")]
    Data(usize),
    /// Too many events in one batch.
    #[error("a batch of {0} events; at most {MAX_BATCH} are allowed")]
    Batch(usize),
}

fn bounded(attribute: &str, value: &str, max: usize) -> Result<(), Exceeded> {
    if value.len() > max {
        return Err(Exceeded::Attribute { attribute: attribute.to_string(), len: value.len(), max });
    }
    Ok(())
}

/// Checks one event against every bound.
pub fn check(event: &Event) -> Result<(), Exceeded> {
    bounded("type", event.ty(), MAX_TYPE)?;
    bounded("id", event.id(), MAX_ID)?;
    bounded("source", event.source().as_str(), MAX_URI)?;
    if let Some(subject) = event.subject() {
        bounded("subject", subject, MAX_URI)?;
    }
    if let Some(schema) = event.dataschema() {
        bounded("dataschema", schema.as_str(), MAX_URI)?;
    }
    let mut extensions = 0;
    for (name, value) in event.iter_extensions() {
        if !HOST_STAMPED.contains(&name) {
            extensions += 1;
        }
        bounded("extension name", name, MAX_EXTENSION_NAME)?;
        bounded(name, &value.to_string(), MAX_EXTENSION_VALUE)?;
    }
    if extensions > MAX_EXTENSIONS {
        return Err(Exceeded::Extensions(extensions));
    }
    let data = match event.data() {
        Some(Data::Binary(bytes)) => bytes.len(),
        Some(Data::String(text)) => text.len(),
        Some(Data::Json(value)) => serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX),
        None => 0,
    };
    if data > MAX_DATA {
        return Err(Exceeded::Data(data));
    }
    Ok(())
}

/// Checks a batch's size and then each event.
pub fn check_batch(events: &[Event]) -> Result<(), Exceeded> {
    if events.len() > MAX_BATCH {
        return Err(Exceeded::Batch(events.len()));
    }
    events.iter().try_for_each(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(ty: &str) -> Event {
        EventBuilderV10::new().id("1").source("/t").ty(ty).build().unwrap()
    }

    #[test]
    fn a_routing_key_longer_than_rabbitmq_takes_is_refused() {
        assert!(check(&event(&"a".repeat(255))).is_ok());
        let err = check(&event(&"a".repeat(300))).unwrap_err();
        assert_eq!(err, Exceeded::Attribute { attribute: "type".into(), len: 300, max: 255 });
    }

    #[test]
    fn extensions_and_batches_are_bounded() {
        let mut big = event("t");
        big.set_extension("brand", "x".repeat(5000));
        assert!(matches!(check(&big), Err(Exceeded::Attribute { .. })));
        let mut many = event("t");
        for n in 0..MAX_EXTENSIONS {
            many.set_extension(&format!("e{n}"), "v");
        }
        assert_eq!(check(&many), Ok(()));
        // Stamped by the host after the door's check: the same event passes
        // again on delivery.
        for name in HOST_STAMPED {
            many.set_extension(name, "1");
        }
        assert_eq!(check(&many), Ok(()));
        many.set_extension("one_more", "v");
        assert_eq!(check(&many), Err(Exceeded::Extensions(MAX_EXTENSIONS + 1)));
        let batch: Vec<Event> = (0..=MAX_BATCH).map(|_| event("t")).collect();
        assert_eq!(check_batch(&batch), Err(Exceeded::Batch(MAX_BATCH + 1)));
    }
}
