//! The `agent-store` command line. Every option can also be set from the
//! environment (`AGENT_STORE_…`), which is how Knative pods configure it.

mod admin;
pub mod chat;
mod data_dir;
mod deploy;
mod dlq;
mod knative;
mod tail;
mod up;
mod watch;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "agent-store",
    version,
    about = "Runs Agent Store: every agent a WASI component, CloudEvents between them."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log format: `text` for people, `json` for log pipelines (the default
    /// when stderr is not a terminal).
    #[arg(long, global = true, env = "AGENT_STORE_LOG_FORMAT")]
    log_format: Option<LogFormat>,

    /// Export traces to this OTLP/HTTP collector (a base URL, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` takes it; that variable works too).
    /// Off when neither is set.
    #[arg(long, global = true, value_name = "URL")]
    otlp: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Loads the manifest, starts every component and serves.
    Up(up::UpArgs),
    /// Loads the manifest and every component, then exits: a dry run of `up`.
    Check(up::UpArgs),
    /// Compiles every component into `--cache-dir`, for an image whose
    /// hosts start without compiling.
    Compile(up::UpArgs),
    /// Prints every event a running host routes, as it happens.
    Tail(tail::TailArgs),
    /// Chats with the local store as a WhatsApp customer, through the WhatsApp sandbox.
    Chat(chat::ChatArgs),
    /// Lists, shows, replays or purges dead letters: on RabbitMQ directly
    /// (`--broker amqp://…`), or through a running host (`--url`, any broker).
    Dlq(dlq::DlqArgs),
    /// Knative deployment: `knative manifests` prints a Service per agent with
    /// its Triggers (deploy/knative/agents.yaml), `knative triggers` the Triggers.
    Knative(knative::KnativeArgs),
    /// Deploys (or upgrades) a component, or every component of a manifest, into a running host.
    Deploy(deploy::DeployArgs),
    /// Lists the running host's components: version, state, since when, replicas.
    Components(deploy::ComponentsArgs),
    /// Switches a component back to a kept version, without compiling.
    Rollback(deploy::RollbackArgs),
    /// Removes a component from the running host; its queued events and history are kept.
    Remove(deploy::RemoveArgs),
}

/// Options shared by commands that talk to a running host.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// The host's base URL.
    #[arg(long, visible_alias = "host", env = "AGENT_STORE_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,

    /// The admin token; by default the one the host wrote to its data directory.
    #[arg(long, env = "AGENT_STORE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The host's data directory, where it keeps a generated admin token.
    #[arg(long, env = "AGENT_STORE_DATA_DIR", default_value = ".agent-store")]
    pub data_dir: PathBuf,
}

impl HostArgs {
    pub fn token(&self) -> anyhow::Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let path = crate::server::auth_token_path(&self.data_dir);
        std::fs::read_to_string(&path).map(|t| t.trim().to_string()).map_err(|_| {
            anyhow::anyhow!(
                "no admin token: pass --token (or AGENT_STORE_ADMIN_TOKEN), or run where the host's data directory is ({} not found)",
                path.display()
            )
        })
    }
}

/// The entry point of the binary.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Dropped last, after the runtime: the spans still queued are flushed.
    let _telemetry = match crate::telemetry::init(cli.log_format, cli.otlp.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::up(args).await,
            Command::Check(args) => up::check(args).await,
            Command::Compile(args) => up::compile(args).await,
            Command::Tail(args) => tail::tail(args).await,
            Command::Chat(args) => chat::chat(args).await,
            Command::Dlq(args) => dlq::dlq(args).await,
            Command::Knative(args) => knative::knative(args).await,
            Command::Deploy(args) => deploy::deploy(args).await,
            Command::Components(args) => deploy::components(args).await,
            Command::Rollback(args) => deploy::rollback(args).await,
            Command::Remove(args) => deploy::remove(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
