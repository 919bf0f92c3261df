//! `agent-store`, the host: the broker, the running application, the HTTP
//! server and the command line, over the runtime in `agent-store-runtime`.

pub mod app;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod deploy;
pub mod metrics;
pub mod server;
pub mod telemetry;
