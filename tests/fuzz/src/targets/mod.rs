//! One module per parser that reads what outsiders send.

pub mod amqp_binding;
pub mod http_binding;
pub mod manifest;
pub mod order_hooks;
pub mod whatsapp_webhook;
