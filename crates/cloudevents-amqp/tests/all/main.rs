//! The binding's tests: one binary, one module per concern.

mod broker;
mod read;
mod round_trip;

use cloudevents::{Event, EventBuilder, EventBuilderV10};
use lapin::BasicProperties;
use lapin::types::AMQPValue;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A v1.0 event with the required attributes only.
fn minimal() -> EventBuilderV10 {
    EventBuilderV10::new().id("0001").ty("com.example.order.placed").source("/agent-store/order-processor")
}

/// A v1.0 event with every attribute, extensions of each type, and JSON data.
fn full() -> Event {
    minimal()
        .subject("order/42")
        .time("2026-05-01T12:34:56.123456789Z")
        .extension("brand", "fashion")
        .extension("depth", 3)
        .extension("replay", true)
        .data_with_schema(
            "application/json",
            "https://schemas.example.com/order-placed.json",
            serde_json::json!({ "order": 42, "items": ["shoe", "sock"], "paid": true }),
        )
        .build()
        .unwrap()
}

/// The value of header `name`, if any.
fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(name)
}
