//! Every end-to-end test of Agent Store, one module per area.

mod assistant;
mod brands;
mod broker;
mod console;
mod crash;
mod host;
mod hotswap;
mod knative;
mod llm;
mod logs;
mod metrics;
mod orders;
mod producers;
mod runtime;
mod security;
mod sellers;
mod selling;
mod spin;
mod traces;
mod whatsapp;
