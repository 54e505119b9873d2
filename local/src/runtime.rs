//! The backend and the functions' dependencies, built once per run.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Timelike, Utc};
use orderflow_shared::adapters::aws::moto::sdk_config_for;
use orderflow_shared::adapters::aws::provision::provision;
use orderflow_shared::adapters::clock::{ManualClock, SystemClock, UuidIds};
use orderflow_shared::adapters::durable::{DataDir, SyncMode};
use orderflow_shared::adapters::embedded::{
    ChangeFeed, EmbeddedBus, EmbeddedStore, Faults, FaultyStore, NoFaults, Published, PublishedLog,
};
use orderflow_shared::app::Deps;
use orderflow_shared::ports::{Broker, Clock, Publisher, QueueSender, QueueStats, ReceivedMessage, StateStore};
use orderflow_shared::rules::Rules;
use orderflow_shared::topology::{Topology, TOPOLOGY};

use crate::stream::{ChangeStream, EmbeddedChanges, Retries};
use crate::taps::Taps;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Everything in this process.
    Embedded,
    /// The aws-sdk adapters against an AWS-compatible endpoint (moto_server), on which
    /// the runtime first creates the table, topics, queues and subscriptions.
    Aws { endpoint_url: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    System,
    /// Starts at `start` and moves only on `POST /_local/clock/advance`.
    Manual {
        start: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    pub rules: Option<PathBuf>,
    pub clock: ClockMode,
    /// Prepended to every resource name on the aws backend.
    pub resource_prefix: String,
    /// Where the runtime keeps what must survive a restart (`serve`'s `--data-dir`);
    /// `None`: nothing is kept. On the aws backend it holds the stream poller's
    /// checkpoint, `<prefix>stream-checkpoint.json`.
    pub data_dir: Option<PathBuf>,
    /// Duplicates and delays of queue deliveries to inject on the embedded backend, and
    /// crashes around store writes on either backend.
    pub faults: FaultPlan,
    /// When the data directory's commits reach the disk (`serve --sync`).
    pub sync: SyncMode,
    /// How many of each topic's latest messages are kept for `GET
    /// /_local/topics/{topic}/messages` (`serve --keep-published`); `None`: all of them.
    pub keep_published: Option<usize>,
}

/// The faults an embedded runtime injects ([`NoFaults`] unless a test or soak run says
/// otherwise).
#[derive(Clone)]
pub struct FaultPlan(pub Arc<dyn Faults>);

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan(Arc::new(NoFaults))
    }
}

impl std::fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultPlan")
    }
}

impl ClockMode {
    /// A manual clock starting at the current whole minute, so schedule ticks (which
    /// fall on whole minutes) line up with the minutes a user advances by.
    pub fn manual_from_now() -> ClockMode {
        let now = Utc::now().trunc_subsecs(0);
        ClockMode::Manual { start: now - chrono::Duration::seconds(i64::from(now.second())) }
    }
}

impl Options {
    pub fn embedded() -> Options {
        Options {
            backend: Backend::Embedded,
            rules: None,
            clock: ClockMode::manual_from_now(),
            resource_prefix: String::new(),
            data_dir: None,
            faults: FaultPlan::default(),
            sync: SyncMode::default(),
            keep_published: None,
        }
    }
}

/// Where published messages can be read back.
enum TopicLog {
    Embedded(Arc<dyn PublishedLog>),
    Aws(Taps),
}

pub struct Runtime {
    pub deps: Deps,
    pub topology: Topology,
    broker: Arc<dyn Broker>,
    topics: TopicLog,
    manual_clock: Option<Arc<ManualClock>>,
    stream: Box<dyn ChangeStream>,
    stream_retries: Retries,
    /// One poll of the change stream at a time: the background pump and a settle would
    /// otherwise both read the same unacknowledged records and relay them twice.
    stream_turn: tokio::sync::Mutex<()>,
    /// The durable embedded backend's directory, which also keeps the manual clock.
    data: Option<DataDir>,
    /// How requests' credentials are checked: off unless the caller sets tokens
    /// (`serve` does, unless `--auth off`).
    pub auth: crate::auth::Auth,
}

/// The embedded backend's parts, in memory or durable.
struct EmbeddedParts {
    store: Arc<dyn StateStore>,
    feed: Arc<dyn ChangeFeed>,
    publisher: Arc<dyn Publisher>,
    sender: Arc<dyn QueueSender>,
    broker: Arc<dyn Broker>,
    log: Arc<dyn PublishedLog>,
}

impl EmbeddedParts {
    fn in_memory(
        topology: Topology,
        clock: Arc<dyn Clock>,
        faults: Arc<dyn Faults>,
        keep: Option<usize>,
    ) -> EmbeddedParts {
        let bus = Arc::new(EmbeddedBus::with_faults(topology, clock, faults.clone()).keeping_published(keep));
        let store = Arc::new(EmbeddedStore::new(faults));
        EmbeddedParts {
            store: store.clone(),
            feed: store,
            publisher: bus.clone(),
            sender: bus.clone(),
            broker: bus.clone(),
            log: bus,
        }
    }

    fn durable(
        data: &DataDir,
        topology: Topology,
        clock: Arc<dyn Clock>,
        faults: Arc<dyn Faults>,
        keep: Option<usize>,
    ) -> EmbeddedParts {
        let bus = data.bus_keeping(topology, clock, faults.clone(), keep);
        let store = data.store(faults);
        EmbeddedParts {
            store: store.clone(),
            feed: store,
            publisher: bus.clone(),
            sender: bus.clone(),
            broker: bus.clone(),
            log: bus,
        }
    }
}

impl Runtime {
    /// Loads the rules (a bad rules file stops here, naming the field) and builds the
    /// backend.
    pub async fn start(options: &Options) -> Result<Runtime, String> {
        let rules = Arc::new(Rules::load(options.rules.as_deref()).map_err(|e| e.to_string())?);
        // The embedded backend keeps its state in the data directory, when there is one.
        let data = match (&options.backend, &options.data_dir) {
            (Backend::Embedded, Some(dir)) => Some(DataDir::open_with(dir, options.sync)?),
            _ => None,
        };
        let saved_clock = match &data {
            Some(data) => data.saved_clock()?,
            None => None,
        };
        let manual_clock = match options.clock {
            // A manual clock carries on from where it stood when the runtime stopped.
            ClockMode::Manual { start } => {
                let at = saved_clock.unwrap_or(start);
                if let (Some(data), None) = (&data, saved_clock) {
                    data.save_clock(at)?;
                }
                Some(Arc::new(ManualClock::new(at)))
            }
            ClockMode::System => None,
        };
        let clock: Arc<dyn Clock> = match &manual_clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let topology = TOPOLOGY;
        crate::metrics::install();
        for function in topology.functions {
            orderflow_shared::edge::metrics::cold_start(function.name);
        }
        let (deps, broker, topics, stream) = match &options.backend {
            Backend::Embedded => {
                let faults = options.faults.0.clone();
                let parts = match &data {
                    Some(data) => EmbeddedParts::durable(data, topology, clock.clone(), faults, options.keep_published),
                    None => EmbeddedParts::in_memory(topology, clock.clone(), faults, options.keep_published),
                };
                let stream: Box<dyn ChangeStream> = Box::new(EmbeddedChanges::new(parts.feed));
                let deps = Deps {
                    store: parts.store,
                    publisher: parts.publisher,
                    queues: Some(parts.sender),
                    clock,
                    ids: Arc::new(UuidIds),
                    rules,
                };
                (deps, parts.broker, TopicLog::Embedded(parts.log), stream)
            }
            Backend::Aws { endpoint_url } => {
                let config = sdk_config_for(endpoint_url).await;
                let made = provision(&config, &topology, &options.resource_prefix)
                    .await
                    .map_err(|e| format!("cannot create the topology at {endpoint_url}: {e}"))?;
                let taps =
                    Taps::create(&config, &made.topic_arns, &options.resource_prefix, options.keep_published).await?;
                let (store, publisher, sqs) = made.adapters(&config);
                let broker: Arc<dyn Broker> = Arc::new(sqs);
                let store: Arc<dyn StateStore> = Arc::new(store);
                let deps = Deps {
                    store: Arc::new(FaultyStore::new(store, options.faults.0.clone())),
                    publisher: Arc::new(publisher),
                    queues: Some(broker.clone()),
                    clock,
                    ids: Arc::new(UuidIds),
                    rules,
                };
                let checkpoint = match &options.data_dir {
                    Some(dir) => {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
                        Some(dir.join(format!("{}stream-checkpoint.json", options.resource_prefix)))
                    }
                    None => None,
                };
                let changes = crate::stream::AwsChanges::open(&config, &made, checkpoint).await?;
                let stream: Box<dyn ChangeStream> = Box::new(changes);
                (deps, broker, TopicLog::Aws(taps), stream)
            }
        };
        let stream_retries = Retries::default();
        let stream_turn = tokio::sync::Mutex::new(());
        let auth = crate::auth::Auth::Off;
        Ok(Runtime { deps, topology, broker, topics, manual_clock, stream, stream_retries, stream_turn, data, auth })
    }

    /// The table's change stream, as the outbox relay's event source mapping reads it.
    pub fn stream(&self) -> &dyn ChangeStream {
        self.stream.as_ref()
    }

    pub(crate) fn stream_retries(&self) -> &Retries {
        &self.stream_retries
    }

    /// Waits for the stream's turn (see `stream_turn`).
    pub(crate) async fn stream_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.stream_turn.lock().await
    }

    /// The queues as the runtime plays Lambda's event source mappings on them (receive,
    /// delete, release) and shows them (stats, dead letters).
    pub fn broker(&self) -> &dyn Broker {
        self.broker.as_ref()
    }

    /// Everything published to `topic`, oldest first; `None` for a topic the topology
    /// does not have.
    pub async fn published(&self, topic: &str) -> Result<Option<Vec<Published>>, String> {
        if self.topology.topic(topic).is_none() {
            return Ok(None);
        }
        match &self.topics {
            TopicLog::Embedded(log) => log.published_on(topic).map_err(|e| e.to_string()),
            TopicLog::Aws(taps) => taps.published(topic).await.map(Some),
        }
    }

    /// Every queue's counts, the outbox relay's failure queue last.
    pub async fn queue_stats(&self) -> Result<Vec<QueueStats>, String> {
        let mut all = Vec::new();
        let names = self.topology.queues.iter().map(|q| q.name).chain([self.topology.stream.failure_queue.name]);
        for name in names {
            all.push(self.broker.stats(name).await.map_err(|e| e.to_string())?);
        }
        Ok(all)
    }

    pub async fn dead_letters(&self, queue: &str) -> Result<Option<Vec<ReceivedMessage>>, String> {
        if self.topology.queue(queue).is_none() {
            return Ok(None);
        }
        self.broker.dead_letters(queue).await.map(Some).map_err(|e| e.to_string())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    pub fn manual_clock(&self) -> Option<&ManualClock> {
        self.manual_clock.as_deref()
    }

    /// Moves a manual clock on by `by`, keeping its time in the data directory if there
    /// is one; `false` with the system clock.
    pub fn advance_clock(&self, by: chrono::Duration) -> Result<bool, String> {
        let Some(clock) = &self.manual_clock else { return Ok(false) };
        clock.advance(by);
        if let Some(data) = &self.data {
            data.save_clock(clock.now())?;
        }
        Ok(true)
    }

    /// Whether its backend serves calls from several pollers side by side. The durable
    /// embedded backend does not: it works through one SQLite connection, one call at
    /// a time. Pollers on several threads only handed its lock to each other (a sixth
    /// slower than one poller taking the sources in turn), and on the one worker thread
    /// it now gets (`orderflow-local`'s `runtime`) a poller per source was still a
    /// little slower (713 and 759 against 749 and 791 orders/s, `bench chain`).
    pub fn polls_side_by_side(&self) -> bool {
        self.data.is_none()
    }

    /// The durable embedded backend's data directory, if the runtime has one.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data.as_ref().map(DataDir::path)
    }
}
