//! The host side of every capability in the platform world, one module each.

pub mod key_value;
pub mod llm;
pub mod outbound_http;
pub mod variables;
