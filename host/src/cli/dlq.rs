//! `agent-store dlq`: dead letters listed, shown, replayed and purged, two
//! ways with the same output:
//! * `--url`: through a running host's admin API (`/admin/dead-letters`),
//!   whatever its broker — the only way on Knative, whose dead letters are
//!   in Redis;
//! * `--broker amqp://…`: on RabbitMQ's dead-letter queues directly, no
//!   host needs to run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use cloudevents::AttributesReader;
use serde_json::json;

use super::HostArgs;
use super::admin::Admin;
use crate::broker::rabbitmq::dlq::{DeadLetters, DeadMessage};
use crate::broker::rabbitmq::link::Link;
use crate::broker::rabbitmq::topology::Names;
use crate::broker::rabbitmq::{DEFAULT_PREFIX, redact};
use agent_store_manifest::Manifest;

#[derive(Debug, Clone, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: Action,

    /// A running host's base URL: its admin API reads and replays the dead
    /// letters of any broker (Knative's included). Taken over `--broker`.
    #[arg(long, visible_alias = "host", env = "AGENT_STORE_URL", global = true)]
    url: Option<String>,

    /// With `--url`: the admin token; by default the one the host wrote to
    /// its data directory.
    #[arg(long, env = "AGENT_STORE_ADMIN_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,

    /// With `--url`: the host's data directory, where it keeps a generated
    /// admin token.
    #[arg(long, env = "AGENT_STORE_DATA_DIR", default_value = ".agent-store", global = true)]
    data_dir: PathBuf,

    /// The RabbitMQ broker, an `amqp://` URL: its queues are read directly.
    #[arg(long, env = "AGENT_STORE_BROKER", global = true)]
    broker: Option<String>,

    /// The prefix of the exchanges and queues, as the hosts use it.
    #[arg(long = "broker-prefix", env = "AGENT_STORE_BROKER_PREFIX", default_value = DEFAULT_PREFIX, global = true)]
    prefix: String,

    /// Only this component's dead letters (repeatable); by default, those of
    /// every component of the manifest that subscribes to events (with
    /// `--url`: of every component).
    #[arg(long, short = 'c', global = true)]
    component: Vec<String>,

    /// The manifest listing the components, when `--component` is not given
    /// (RabbitMQ only).
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
    /// Prints one dead letter in full: why, its event and (on RabbitMQ) its
    /// headers.
    Show { id: String },
    /// Sends dead letters back to their component as fresh events (attempt
    /// 1) and removes them from the dead letters (on Knative: to the
    /// Broker, with their own ids; see docs/knative.md).
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
    if let Some(url) = &args.url {
        let host = HostArgs { url: url.clone(), token: args.token.clone(), data_dir: args.data_dir.clone() };
        return through_host(&args, &Admin::new(&host)?).await;
    }
    let Some(url) = args.broker.clone().filter(|u| u.starts_with("amqp://") || u.starts_with("amqps://")) else {
        bail!(
            "where are the dead letters? Pass --url <a running host> (its admin API, any broker, Knative's \
             included; AGENT_STORE_URL) with --token, or --broker amqp://… (RabbitMQ's queues directly; \
             AGENT_STORE_BROKER){}",
            match args.broker.as_deref() {
                Some(other) => format!(" — --broker is `{other}`"),
                None => String::new(),
            }
        );
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

/// `--url`: the same actions through the host's admin API.
async fn through_host(args: &DlqArgs, admin: &Admin) -> Result<()> {
    let dead_letters = |rest: &[&str]| admin.url(&[&["admin", "dead-letters"][..], rest].concat());
    // One call per `--component`, or one for every component.
    let only: Vec<Option<&str>> = match args.component.as_slice() {
        [] => vec![None],
        some => some.iter().map(|c| Some(c.as_str())).collect(),
    };
    match &args.action {
        Action::List => {
            print_header(args.json);
            for component in &only {
                let answer = admin.call(admin.http.get(dead_letters(&[])?).query(&[("component", component)])).await?;
                for letter in answer["dead_letters"].as_array().into_iter().flatten() {
                    print_summary(&letter_summary(letter), args.json);
                }
            }
        }
        Action::Show { id } => {
            let answer = admin.call(admin.http.get(dead_letters(&[id])?)).await?;
            let letter = &answer["dead_letter"];
            let component = letter["component"].as_str().unwrap_or_default();
            if !args.component.is_empty() && !args.component.iter().any(|c| c == component) {
                bail!("no dead letter {id} among those of {} (it is `{component}`'s)", args.component.join(", "));
            }
            let mut all = letter_summary(letter);
            all["event"] = letter["event"].clone();
            if args.json {
                println!("{all}");
            } else {
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
        }
        Action::Replay { id, all } => {
            let request = match id {
                Some(id) if !*all => json!({ "ids": [id], "components": args.component }),
                _ => json!({ "all": true, "components": args.component }),
            };
            let answer = admin.call(admin.http.post(dead_letters(&["replay"])?).json(&request)).await?;
            let replayed = answer["replayed"].as_array().cloned().unwrap_or_default();
            for letter in &replayed {
                let (id, component) = (&letter["id"], &letter["component"]);
                if args.json {
                    println!("{}", json!({ "replayed": id, "component": component }));
                } else {
                    println!(
                        "replayed {} to {}",
                        id.as_str().unwrap_or_default(),
                        component.as_str().unwrap_or_default()
                    );
                }
            }
            let limit = answer["limit"].as_u64().unwrap_or(u64::MAX);
            if *all && replayed.len() as u64 >= limit {
                eprintln!("at most {limit} are replayed at once: run `dlq replay --all` again for the rest");
            }
        }
        Action::Purge => {
            for component in &only {
                let answer =
                    admin.call(admin.http.delete(dead_letters(&[])?).query(&[("component", component)])).await?;
                let purged = &answer["purged"];
                match (component, args.json) {
                    (Some(component), true) => println!("{}", json!({ "purged": purged, "component": component })),
                    (Some(component), false) => println!("purged {purged} dead letters of {component}"),
                    (None, true) => println!("{}", json!({ "purged": purged })),
                    (None, false) => println!("purged {purged} dead letters"),
                }
            }
        }
    }
    Ok(())
}

/// A dead letter of the admin API in the shape of [`summary`], so that
/// both ways print alike.
fn letter_summary(letter: &serde_json::Value) -> serde_json::Value {
    let at = letter["at"]
        .as_str()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    json!({
        "id": letter["id"],
        "type": letter["event"]["type"],
        "component": letter["component"],
        "reason": letter["reason"],
        "at": at.map(serde_json::Value::from).unwrap_or_else(|| letter["at"].clone()),
        "attempts": letter["attempts"],
        "event_id": letter["event"]["id"],
        "source": letter["event"]["source"],
    })
}

async fn run(args: &DlqArgs, queues: &DeadLetters<'_>, components: &[String]) -> Result<()> {
    match &args.action {
        Action::List => {
            print_header(args.json);
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
    print_summary(&summary(component, message), json);
}

fn print_header(json: bool) {
    if !json {
        println!("{:<36}  {:<28}  {:<18}  {:>8}  {:<24}  REASON", "ID", "TYPE", "COMPONENT", "ATTEMPTS", "WHEN");
    }
}

/// One line of `list`: a row of the table, or the summary as JSON.
fn print_summary(row: &serde_json::Value, json: bool) {
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
        row["attempts"].as_u64().unwrap_or_default(),
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
