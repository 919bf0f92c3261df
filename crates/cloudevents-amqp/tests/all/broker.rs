//! Through the real RabbitMQ on 127.0.0.1:5672 (guest/guest), so the broker
//! and lapin's codecs see every header type we write.

use cloudevents::AttributesReader;
use cloudevents_amqp::{
    DELIVERY_MODE_PERSISTENT, DeliveryExt, body_for, extra_headers, properties_for, to_event, with_extra_headers,
};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Connection, ConnectionProperties};

use crate::{TestResult, full};

/// Overridable for CI; the default is the local broker.
fn broker_url() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_and_get_back() -> TestResult {
    let connection = Connection::connect(&broker_url(), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;

    let queue = format!("cloudevents-amqp-test-{}", uuid::Uuid::new_v4());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() },
            FieldTable::default(),
        )
        .await?;

    let event = full();
    let mut extra = FieldTable::default();
    extra.insert("x-retry-count".into(), AMQPValue::LongLongInt(1));
    extra.insert("x-dead-letter-reason".into(), AMQPValue::LongString(LongString::from("first attempt timed out")));
    let properties = with_extra_headers(properties_for(&event)?, &extra)?;

    let confirm = channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() },
            &body_for(&event),
            properties,
        )
        .await?
        .await?;
    assert!(confirm.is_ack(), "broker nacked the publish");
    assert_eq!(confirm.take_message(), None, "message was unroutable");

    let message = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await?
        .expect("the published message is in the queue");

    assert_eq!(message.properties.delivery_mode(), &Some(DELIVERY_MODE_PERSISTENT));
    assert_eq!(message.properties.message_id().as_ref().map(|id| id.as_str()), Some(event.id()));
    assert_eq!(to_event(&message.properties, &message.data)?, event);
    assert_eq!(message.to_event()?, event);
    assert_eq!(extra_headers(&message.properties), extra);

    channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;
    connection.close(200, "done".into()).await?;
    Ok(())
}
