//! `agent-store dlq`: the dead-letter queues on RabbitMQ, read, replayed and
//! purged directly on the broker — no host needs to run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use cloudevents::AttributesReader;
use serde_json::json;

use crate::broker::rabbitmq::dlq::{DeadLetters, DeadMessage};
use crate::broker::rabbitmq::link::Link;
use crate::broker::rabbitmq::topology::Names;
use crate::broker::rabbitmq::{DEFAULT_PREFIX, redact};
use agent_store_manifest::Manifest;

#[derive(Debug, Clone, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: Action,

    /// The RabbitMQ broker, an `amqp://` URL.
    #[arg(long, env = "AGENT_STORE_BROKER", global = true)]
    broker: Option<String>,

    /// The prefix of the exchanges and queues, as the hosts use it.
    #[arg(long = "broker-prefix", env = "AGENT_STORE_BROKER_PREFIX", default_value = DEFAULT_PREFIX, global = true)]
    prefix: String,

    /// Only this component's dead letters (repeatable); by default, those of
    /// every component of the manifest that subscribes to events.
    #[arg(long, short = 'c', global = true)]
    component: Vec<String>,

    /// The manifest listing the components, when `--component` is not given.
    #[arg(long, short = 'f', env = "AGENT_STORE_MANIFEST", default_value = "spin.toml", global = true)]
    manifest: PathBuf,

    /// One JSON object per line instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Clone, Subcommand)]
enum Action {
    /// Lists the dead letters: id, type, component, reason, when, attempts.
    List,
    /// Prints one dead letter in full: why, its headers and its event.
    Show { id: String },
    /// Sends dead letters back to their component as fresh events (attempt
    /// 1) and removes them from the dead-letter queue.
    Replay {
        /// The dead letter to replay.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Every dead letter of the selected components.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Deletes every dead letter of the selected components.
    Purge,
}

impl DlqArgs {
    /// `--component`, else the manifest's subscribing components.
    fn components(&self) -> Result<Vec<String>> {
        if !self.component.is_empty() {
            return Ok(self.component.clone());
        }
        let manifest = Manifest::load(&self.manifest).with_context(|| {
            format!(
                "finding the components: pass --component, or a manifest with -f (tried {})",
                self.manifest.display()
            )
        })?;
        let mut components = Vec::new();
        for id in manifest.active_components()? {
            let tool = manifest.tool(&id)?;
            if !tool.router && !tool.subscribe.is_empty() {
                components.push(id);
            }
        }
        Ok(components)
    }
}

pub async fn dlq(args: DlqArgs) -> Result<()> {
    let Some(url) = args.broker.clone().filter(|u| u.starts_with("amqp://") || u.starts_with("amqps://")) else {
        bail!("dead letters live on RabbitMQ: pass --broker amqp://… (or AGENT_STORE_BROKER)");
    };
    let components = args.components()?;
    let link = Link::open(&url, "agent-store dlq", 0)
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", redact(&url)))?;
    let names = Names::new(&args.prefix);
    let queues = DeadLetters::new(&link, &names);
    let result = run(&args, &queues, &components).await;
    link.close().await;
    result
}

async fn run(args: &DlqArgs, queues: &DeadLetters<'_>, components: &[String]) -> Result<()> {
    match &args.action {
        Action::List => {
            if !args.json {
                println!(
                    "{:<36}  {:<28}  {:<18}  {:>8}  {:<24}  REASON",
                    "ID", "TYPE", "COMPONENT", "ATTEMPTS", "WHEN"
                );
            }
            for component in components {
                for message in queues.list(component).await? {
                    print_row(component, &message, args.json);
                }
            }
        }
        Action::Show { id } => {
            let (component, message) = find(queues, components, id).await?;
            print_full(&component, &message, args.json)?;
        }
        Action::Replay { id, all } => {
            let mut replayed = Vec::new();
            for component in components {
                let done = if *all {
                    queues.replay(component, |_| true).await?
                } else {
                    let id = id.as_deref().unwrap_or_default();
                    queues.replay(component, |note| note.id == id).await?
                };
                replayed.extend(done.into_iter().map(|id| (component.clone(), id)));
            }
            if let (Some(id), true) = (id, replayed.is_empty()) {
                bail!("no dead letter {id} in the queues of {}", components.join(", "));
            }
            for (component, id) in &replayed {
                if args.json {
                    println!("{}", json!({ "replayed": id, "component": component }));
                } else {
                    println!("replayed {id} to {component}");
                }
            }
        }
        Action::Purge => {
            for component in components {
                let purged = queues.purge(component).await?;
                if args.json {
                    println!("{}", json!({ "purged": purged, "component": component }));
                } else {
                    println!("purged {purged} dead letters of {component}");
                }
            }
        }
    }
    Ok(())
}

async fn find(queues: &DeadLetters<'_>, components: &[String], id: &str) -> Result<(String, DeadMessage)> {
    for component in components {
        if let Some(message) = queues.list(component).await?.into_iter().find(|m| m.note.id == id) {
            return Ok((component.clone(), message));
        }
    }
    bail!("no dead letter {id} in the queues of {}", components.join(", "))
}

fn event_type(message: &DeadMessage) -> String {
    match &message.event {
        Ok(event) => event.ty().to_string(),
        Err(_) => format!("({})", message.note.routing_key),
    }
}

fn summary(component: &str, message: &DeadMessage) -> serde_json::Value {
    let note = &message.note;
    json!({
        "id": note.id,
        "type": event_type(message),
        "component": if note.component.is_empty() { component } else { note.component.as_str() },
        "reason": note.reason,
        "at": note.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "attempts": note.attempts,
        "event_id": message.event.as_ref().ok().map(|e| e.id().to_string()),
        "source": message.event.as_ref().ok().map(|e| e.source().to_string()),
    })
}

fn print_row(component: &str, message: &DeadMessage, json: bool) {
    let row = summary(component, message);
    if json {
        println!("{row}");
        return;
    }
    let text = |name: &str| row[name].as_str().unwrap_or_default().to_string();
    let reason: String = text("reason").chars().take(100).collect();
    println!(
        "{:<36}  {:<28}  {:<18}  {:>8}  {:<24}  {reason}",
        text("id"),
        text("type"),
        text("component"),
        message.note.attempts,
        text("at")
    );
}

fn print_full(component: &str, message: &DeadMessage, json: bool) -> Result<()> {
    let mut all = summary(component, message);
    let headers: serde_json::Map<String, serde_json::Value> = message
        .properties
        .headers()
        .iter()
        .flat_map(|h| h.inner())
        .map(|(name, value)| (name.to_string(), serde_json::Value::String(format!("{value:?}"))))
        .collect();
    all["headers"] = headers.into();
    all["routing_key"] = message.note.routing_key.clone().into();
    match &message.event {
        Ok(event) => all["event"] = serde_json::to_value(event)?,
        Err(error) => {
            all["not_an_event"] = error.clone().into();
            all["body"] = String::from_utf8_lossy(&message.body).into_owned().into();
        }
    }
    if json {
        println!("{all}");
    } else {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}
