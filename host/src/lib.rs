pub mod app;
mod bindings;
pub mod broker;
pub mod capabilities;
pub mod cli;
pub mod manifest;
pub mod runtime;
pub mod server;
