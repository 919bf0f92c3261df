//! `agent-store up`: load, validate everything, then listen and subscribe.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::data_dir;
use crate::app::{App, AppOptions, DEFAULT_MAX_DEPTH, Producers};
use crate::broker::Broker;
use crate::broker::knative::{self, KnativeBroker};
use crate::broker::memory::{self, MemoryBroker};
use crate::broker::rabbitmq::{self, RabbitBroker, RabbitOptions};
use crate::cluster::Cluster;
use crate::server::{self, AdminToken, Credentials, DeliveryGate, DeliveryOptions, Deployers, ServerState};
use agent_store_manifest::Manifest;
use agent_store_runtime::capabilities::key_value::{BackendKind, KeyValueStores, StoreOptions};
use agent_store_runtime::capabilities::llm::config::models_from_specs;
use agent_store_runtime::{Runtime, RuntimeConfig, Services};

/// How long in-flight events and requests get to finish on SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// The application manifest (a Spin manifest, version 2).
    #[arg(long, short = 'f', env = "AGENT_STORE_MANIFEST", default_value = "spin.toml")]
    manifest: PathBuf,

    /// Address to serve the routes, `/events` and health on.
    #[arg(long, env = "AGENT_STORE_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// Where the host keeps its state: the embedded key-value file, the
    /// compiled-component cache, staged files, the admin token.
    #[arg(long, env = "AGENT_STORE_DATA_DIR", default_value = ".agent-store")]
    data_dir: PathBuf,

    /// Start from the manifest's versions, forgetting which versions
    /// `agent-store deploy` and `rollback` switched to (their history and
    /// files stay, for a later rollback).
    #[arg(long)]
    reset_deploys: bool,

    /// Load and serve only these components (comma-separated): their
    /// routes, subscriptions and admin API, nothing else. One Knative
    /// Service per agent runs `up --components <id>`.
    #[arg(long, env = "AGENT_STORE_COMPONENTS", value_delimiter = ',', value_name = "ID")]
    components: Vec<String>,

    /// Load no component: with `--broker knative`, a dead-letter sink and
    /// the admin API (`agent-store dlq`) alone.
    #[arg(long, conflicts_with = "components")]
    no_components: bool,

    /// Rebuild a component when a file of its `build.watch` globs changes
    /// and deploy it in place, without restarting (like `spin watch`).
    #[arg(long)]
    watch: bool,

    /// The broker: `memory` (embedded, the default), an `amqp://` URL
    /// (RabbitMQ), or `knative` (Knative Eventing: Triggers push deliveries
    /// to `/events/deliver/<component>`, emitted events go to `--sink`).
    #[arg(long, env = "AGENT_STORE_BROKER", default_value = "memory")]
    broker: String,

    #[command(flatten)]
    rabbit: RabbitOptions,

    /// With `--broker knative`: the broker ingress URL events are posted to.
    /// A SinkBinding sets `K_SINK` in the pod.
    #[arg(long, env = "K_SINK")]
    sink: Option<String>,

    #[command(flatten)]
    deliveries: DeliveryOptions,

    /// Key-value backend: `embedded` (a file in the data directory),
    /// `memory`, or a `redis://` URL (for several replicas).
    #[arg(long = "kv", env = "AGENT_STORE_KV", default_value = "embedded")]
    key_value: String,

    /// With several replicas on one Redis (`--kv redis://…`): how long a
    /// deploy waits for every replica to prepare (compile) the new version
    /// before it is aborted everywhere.
    #[arg(long, env = "AGENT_STORE_CUTOVER_TIMEOUT", default_value = crate::cluster::DEFAULT_TIMEOUT, value_parser = agent_store_manifest::parse_duration)]
    cutover_timeout: Duration,

    /// This host's name among the replicas on one Redis (default
    /// `<hostname>-<pid>`; a pod's name is a good one).
    #[arg(long, env = "AGENT_STORE_REPLICA")]
    replica: Option<String>,

    /// The token the admin API and the live tail ask for; generated into the
    /// data directory when not given.
    #[arg(long, env = "AGENT_STORE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,

    /// A producer allowed to `POST /events`: `NAME=TOKEN:PATTERN`, where
    /// PATTERN is the event types it may publish (`store.product.*`;
    /// several joined with `|`). Repeatable; comma-separated in the
    /// environment (a Kubernetes Secret). The admin token may publish
    /// anything; without a token nothing is published.
    #[arg(
        long = "producer",
        env = "AGENT_STORE_PRODUCERS",
        value_delimiter = ',',
        value_name = "NAME=TOKEN:PATTERN",
        hide_env_values = true
    )]
    producers: Vec<String>,

    /// A team that may deploy, roll back and remove its own components
    /// through the admin API (and nothing else): `NAME=TOKEN:COMPONENT[|…]`,
    /// a COMPONENT ending in `*` a prefix (`seller-sports`, `sports-*`).
    #[arg(
        long = "deployer",
        env = "AGENT_STORE_DEPLOYERS",
        value_delimiter = ',',
        value_name = "NAME=TOKEN:COMPONENT",
        hide_env_values = true
    )]
    deployers: Vec<String>,

    /// With `--broker memory`: deliveries queued at once before `POST
    /// /events` answers 503 (with Retry-After) instead of taking more.
    #[arg(long, env = "AGENT_STORE_MEMORY_CAPACITY", default_value_t = memory::DEFAULT_CAPACITY)]
    memory_capacity: usize,

    /// Where compiled components are cached between starts (default: `cache/`
    /// in the data directory).
    #[arg(long, env = "AGENT_STORE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Where built components are when a manifest `source` path is missing.
    #[arg(long, env = "AGENT_STORE_WASM_DIR")]
    wasm_dir: Option<PathBuf>,

    /// Use the on-demand instance allocator instead of the pooling one.
    #[arg(long, env = "AGENT_STORE_NO_POOLING")]
    no_pooling: bool,

    /// Hops an event chain may take before it is treated as a loop.
    #[arg(long, env = "AGENT_STORE_MAX_DEPTH", default_value_t = DEFAULT_MAX_DEPTH)]
    max_depth: u32,

    /// A model backend, `<model>=<backend>` (repeatable; comma-separated in
    /// the environment): `none` (the default for every model), or an
    /// OpenAI-compatible endpoint such as
    /// `chat=openai:https://api.openai.com/v1?model=gpt-4o-mini&key_env=OPENAI_API_KEY`.
    /// Options: model, embedding_model, key_env, auth, api_version, timeout,
    /// concurrency, retries; see docs/llm.md.
    #[arg(long = "llm", env = "AGENT_STORE_LLM", value_delimiter = ',', value_name = "MODEL=BACKEND")]
    llm: Vec<String>,
}

impl UpArgs {
    /// Whether Knative pushes deliveries to this host.
    fn knative(&self) -> bool {
        self.broker == "knative"
    }

    fn key_value_backend(&self) -> Result<BackendKind> {
        Ok(match self.key_value.as_str() {
            "embedded" => BackendKind::Embedded(self.data_dir.join(data_dir::DATABASE)),
            "memory" => BackendKind::Memory,
            url if url.starts_with("redis://") || url.starts_with("rediss://") => BackendKind::Redis(url.to_string()),
            other => bail!("--kv {other}: use `embedded`, `memory` or a redis:// URL"),
        })
    }

    /// The broker, and the Knative backend again by its own type when it
    /// is that one (its deliveries come in through the HTTP server).
    async fn broker(&self, key_value: &Arc<KeyValueStores>) -> Result<(Arc<dyn Broker>, Option<Arc<KnativeBroker>>)> {
        match self.broker.as_str() {
            "memory" => Ok((Arc::new(MemoryBroker::with_capacity(self.rabbit.policy(), self.memory_capacity)), None)),
            url if url.starts_with("amqp://") || url.starts_with("amqps://") => {
                Ok((Arc::new(RabbitBroker::connect(url, &self.rabbit, Some(key_value.clone())).await?), None))
            }
            "knative" => {
                let Some(sink) = &self.sink else {
                    bail!("--broker knative needs the broker ingress URL: --sink or K_SINK (a SinkBinding sets it)")
                };
                let dead = key_value.open(knative::DEAD_LETTERS);
                // Knative redelivers at least once: the same records as on
                // RabbitMQ keep a redelivery from running a component twice.
                let handled = Some(self.rabbit.dedup_window).filter(|w| !w.is_zero()).map(|_| {
                    rabbitmq::handled::Handled::new(
                        key_value.clone(),
                        format!("knative-{}", uuid::Uuid::new_v4().simple()),
                    )
                });
                let broker = Arc::new(KnativeBroker::with_records(sink, dead, handled)?);
                Ok((broker.clone(), Some(broker)))
            }
            other => bail!("--broker {other}: use `memory`, an amqp:// URL or `knative`"),
        }
    }
}

/// What `load` gives `up`.
struct Loaded {
    app: Arc<App>,
    knative: Option<Arc<KnativeBroker>>,
}

/// Everything up to, not including, serving: what `check` runs too.
async fn load(args: &UpArgs) -> Result<Loaded> {
    let manifest = Manifest::load(&args.manifest)?;
    let models = models_from_specs(&args.llm)?.observed_by(Arc::new(crate::metrics::ModelMetrics));
    for (model, backend) in models.describe() {
        tracing::info!(model, backend, "LLM backend");
    }
    data_dir::prepare(&args.data_dir)?;
    let mut store_options: HashMap<String, StoreOptions> = manifest
        .app_tool()?
        .key_value
        .into_iter()
        .map(|(label, spec)| {
            let ttl = spec.ttl.as_deref().map(agent_store_manifest::parse_duration).transpose()?;
            Ok((label, StoreOptions { ttl }))
        })
        .collect::<Result<_>>()?;
    // The broker's idempotency records expire after the dedup window.
    let window = Some(args.rabbit.dedup_window).filter(|w| !w.is_zero());
    store_options.insert(rabbitmq::handled::LABEL.to_string(), StoreOptions { ttl: window });
    store_options.insert(knative::DEAD_LETTERS.to_string(), StoreOptions { ttl: Some(knative::DEAD_LETTER_TTL) });
    let key_value = Arc::new(
        KeyValueStores::new(&args.key_value_backend()?, store_options).await.context("opening the key-value stores")?,
    );
    let (broker, knative) = args.broker(&key_value).await?;
    let services = Services::new(key_value, Arc::new(models));
    let config = RuntimeConfig {
        pooling: !args.no_pooling,
        cache_dir: Some(args.cache_dir.clone().unwrap_or_else(|| args.data_dir.join("cache"))),
    };
    let runtime = Arc::new(Runtime::new(&config, services)?);
    // Replicas on one Redis share their deploys: this one starts on the
    // versions the others run.
    let cluster = match args.key_value_backend()? {
        BackendKind::Redis(url) => {
            let cluster = Cluster::connect(&url, args.cutover_timeout, args.replica.clone()).await?;
            cluster
                .restore(&crate::deploy::Versions::open(&args.data_dir)?)
                .await
                .context("taking the deployed versions the other replicas run")?;
            tracing::info!(replica = %cluster.replica, "replica: deploys reach every host on this Redis");
            Some(cluster)
        }
        _ => None,
    };
    let options = AppOptions {
        data_dir: args.data_dir.clone(),
        wasm_dir: args.wasm_dir.clone(),
        max_depth: args.max_depth,
        cluster,
        only: (args.no_components || !args.components.is_empty()).then(|| args.components.clone()),
    };
    if args.reset_deploys {
        crate::deploy::Versions::open(&args.data_dir)?.reset()?;
        tracing::info!("deploys reset: the manifest's versions serve");
    }
    let app = App::load(manifest, runtime, broker, options).await?;
    Ok(Loaded { app: Arc::new(app), knative })
}

pub async fn check(args: UpArgs) -> Result<()> {
    DeliveryGate::from_options(&args.deliveries, args.knative())?;
    let Loaded { app, .. } = load(&args).await?;
    Producers::parse(&args.producers)?;
    for component in app.components() {
        let pre = &component.pre;
        println!("{:<24} {}  ({:?})", pre.id, &pre.digest[..12], pre.origin);
    }
    println!("manifest {} is valid; {} components load", args.manifest.display(), app.components().len());
    Ok(())
}

/// `agent-store compile`: every component compiled into the cache
/// directory, so that an image that carries it starts without compiling (a
/// seller scaled from zero is ready at once).
pub async fn compile(args: UpArgs) -> Result<()> {
    let cache = args.cache_dir.clone().unwrap_or_else(|| args.data_dir.join("cache"));
    let Loaded { app, .. } = load(&args).await?;
    for component in app.components() {
        let pre = &component.pre;
        println!("{:<24} {}  ({:?})", pre.id, &pre.digest[..12], pre.origin);
    }
    println!("{} components compiled into {}", app.components().len(), cache.display());
    Ok(())
}

pub async fn up(args: UpArgs) -> Result<()> {
    // Everything is validated before listening: a bad manifest or component
    // fails here, not at the first request.
    let deliveries = DeliveryGate::from_options(&args.deliveries, args.knative())?.map(Arc::new);
    let Loaded { app, knative } = load(&args).await?;
    let admin = AdminToken::load_or_create(args.admin_token.clone(), &args.data_dir)?;
    let producers = Producers::parse(&args.producers)?;
    if !producers.names().is_empty() {
        tracing::info!(producers = ?producers.names(), "producers may publish to /events");
    }
    if let Some(gate) = &deliveries {
        gate.announce().await;
    }
    // Signal handlers go in before the host says it is up, so that a SIGTERM
    // right after that line already means "drain and stop".
    let signals = Signals::install()?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    app.start().await?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        broker = app.broker().kind(),
        key_value = %args.key_value,
        components = app.components().len(),
        "Agent Store is up: POST CloudEvents to http://{address}/events"
    );
    for route in app.routes() {
        tracing::info!(route = route.pattern.as_str(), component = %route.component, "route");
    }
    if args.watch {
        super::watch::spawn(app.clone(), args.manifest.clone(), args.wasm_dir.clone());
        tracing::info!("watching the components' build.watch files: a change rebuilds and deploys in place");
    }
    let deployers = Deployers::parse(&args.deployers)?;
    if !deployers.names().is_empty() {
        tracing::info!(deployers = ?deployers.names(), "deployers may deploy their components");
    }
    let credentials = Credentials { admin, producers, deployers };
    let (state, stopping) = ServerState::new(app.clone(), credentials, knative, deliveries, address);
    tokio::spawn(async move {
        signals.recv().await;
        let _ = stopping.send(true);
    });
    server::serve(listener, state).await?;
    tracing::info!("stopping: finishing in-flight events");
    app.shutdown(SHUTDOWN_GRACE).await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT and SIGTERM, registered when created.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
