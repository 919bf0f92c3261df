//! `agent-store tail`: follows `GET /events/tail` and prints one line per
//! record, like wasmCloud's `wash spy`.

use anyhow::{Context, Result, bail};
use clap::Args;
use cloudevents::AttributesReader;
use futures::StreamExt;

use super::HostArgs;
use crate::app::tap::{TapKind, TapRecord};

#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    #[command(flatten)]
    host: HostArgs,

    /// Only events of this type (`*` and `#` wildcards as in subscriptions).
    #[arg(long = "type", short = 't')]
    event_type: Option<String>,

    /// Only events whose attribute has this value, e.g. `brand=fashion`
    /// (`component=<id>` selects deliveries to one component).
    #[arg(long = "where", short = 'w', value_parser = parse_pair)]
    filters: Vec<(String, String)>,

    /// Print each record as one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{text}` is not name=value"))
}

pub async fn tail(args: TailArgs) -> Result<()> {
    let token = args.host.token()?;
    let mut url = reqwest::Url::parse(&format!("{}/events/tail", args.host.url.trim_end_matches('/')))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(t) = &args.event_type {
            query.append_pair("type", t);
        }
        for (k, v) in &args.filters {
            query.append_pair(k, v);
        }
    }
    let response = reqwest::Client::new()
        .get(url.clone())
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("connecting to {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}: {}", response.status(), response.text().await.unwrap_or_default());
    }
    eprintln!("following {} (Ctrl-C to stop)", args.host.url);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
            if data.is_empty() {
                continue;
            }
            if args.json {
                println!("{data}");
            } else if let Ok(record) = serde_json::from_str::<TapRecord>(&data) {
                println!("{}", summary(&record));
            } else {
                println!("{data}");
            }
        }
    }
    Ok(())
}

/// `14:02:11 published  store.product.query  brand=fashion conversation=c-1  {"request_id":…}`
pub fn summary(record: &TapRecord) -> String {
    let event = &record.event;
    let time = chrono::Local::now().format("%H:%M:%S");
    let kind = match record.kind {
        TapKind::Published => "published",
        TapKind::Delivered => "delivered",
        TapKind::Failed => "FAILED   ",
        TapKind::Rejected => "REJECTED ",
    };
    let mut line = format!("{time} {kind} {:<34}", event.ty());
    if let Some(component) = &record.component {
        line.push_str(&format!(" → {component}"));
    }
    for name in ["brand", "conversation", "correlation"] {
        if let Some(value) = event.extension(name) {
            line.push_str(&format!(" {name}={value}"));
        }
    }
    if let Some(ms) = record.elapsed_ms {
        line.push_str(&format!(" {ms}ms"));
    }
    if let Some(detail) = &record.detail {
        line.push_str(&format!(" ({detail})"));
    }
    if record.kind == TapKind::Published {
        let data = match event.data() {
            Some(cloudevents::Data::Json(v)) => v.to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let short: String = data.chars().take(160).collect();
        if !short.is_empty() {
            line.push_str(&format!("  {short}{}", if data.chars().count() > 160 { "…" } else { "" }));
        }
    }
    line
}
