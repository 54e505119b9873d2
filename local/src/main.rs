//! `orderflow-local`: run orderflow on this machine. See `orderflow-local --help`.

// No unwrap, expect or panic outside tests (clippy.toml allows them there): with
// `panic = "abort"`, a reachable panic ends every request in flight. Test support and
// start-up checks that may stop the process say so where they allow it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cost;
mod cost_prices;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use orderflow_local::auth::{Auth, Keys};
use orderflow_local::demo::Demo;
use orderflow_local::{server, Backend, ClockMode, Options, Runtime};

/// mimalloc: the runtime moves many small strings and maps between its functions, its
/// store and its queues, and glibc's allocator spent about a third of a whole-chain run
/// on them (`orderflow-local bench chain`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use orderflow_shared::adapters::durable::SyncMode;

/// Turns transparent huge pages off for this process. mimalloc asks the kernel for
/// huge pages where it may, and the growing heap then had each 2 MiB zeroed whole at
/// its first touch: up to a sixth of the in-memory chain's CPU time (`bench chain`),
/// varying with the kernel's supply of huge pages. With small pages only what is
/// touched is zeroed.
fn no_huge_pages() {
    // A kernel that refuses (older than 3.15) keeps them: slower, not wrong.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

#[derive(Parser)]
#[command(version, about = "Run orderflow locally: the HTTP API, queues, topics and schedules in one process")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and the /_local control routes on 127.0.0.1.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, value_enum, default_value_t = BackendArg::Embedded)]
        backend: BackendArg,
        /// AWS-compatible endpoint for --backend aws, e.g. a moto_server.
        #[arg(long, required_if_eq("backend", "aws"))]
        endpoint_url: Option<String>,
        /// Rules file to use instead of the shipped config/rules.toml.
        #[arg(long, env = "ORDERFLOW_RULES")]
        rules: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ClockArg::System)]
        clock: ClockArg,
        /// On --backend aws, the prefix of every resource's name (table `<prefix>orderflow`,
        /// topics and queues `<prefix><name>`). A runtime restarted with the same prefix
        /// finds its resources and carries on where the last one stopped.
        #[arg(long, default_value = DEFAULT_PREFIX, value_parser = resource_prefix)]
        resource_prefix: String,
        /// Where the runtime keeps what must survive a restart (created if absent).
        #[arg(long, default_value = ".orderflow")]
        data_dir: PathBuf,
        /// Keep nothing: a throw-away run.
        #[arg(long, conflicts_with = "data_dir")]
        in_memory: bool,
        /// When the data directory's commits reach the disk.
        #[arg(long, value_enum, default_value_t = SyncArg::Normal)]
        sync: SyncArg,
        /// `on`: every route but /health needs a bearer token (`orderflow-local token`);
        /// `off`: anyone may do anything, for quick experiments only.
        #[arg(long, value_enum, default_value_t = AuthArg::On)]
        auth: AuthArg,
        /// How many of each topic's latest messages are kept for `GET
        /// /_local/topics/{topic}/messages` (older ones leave memory and the data
        /// directory; the queues' copies are not touched); `all` keeps every one.
        #[arg(long, default_value = "10000", value_parser = keep_published)]
        keep_published: Keep,
    },
    /// Print a bearer token that `serve` on the same data directory accepts.
    Token {
        /// The data directory whose key signs the token (`serve`'s --data-dir).
        #[arg(long, default_value = ".orderflow")]
        data_dir: PathBuf,
        /// The caller's id (`sub`): a customer's, a system's or a reviewer's.
        #[arg(long)]
        sub: String,
        /// A scope the token grants (repeat for more): orders.write, orders.read,
        /// fulfilment.report, refunds.request, refunds.review, ops.read; `all` for every one.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A further claim `name=value` (repeat for more): customer_id=c-1 (a customer's
        /// token), system=carrier (a fulfilment reporter's), reviewer_role=platform|seller.
        #[arg(long = "claim", value_parser = claim)]
        claims: Vec<(String, String)>,
        /// How long the token is valid.
        #[arg(long, default_value_t = 720)]
        minutes: i64,
    },
    /// Measure throughput on the embedded backend (build with --release).
    Bench {
        #[arg(value_enum)]
        what: BenchArg,
        /// Orders (intake) or due rules (tick) per run.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Which backends `chain` measures (all of them unless named).
        #[arg(long, value_enum)]
        backend: Vec<ChainBackend>,
    },
    /// Run the scripted scenario on the embedded backend and print every hop.
    Demo {
        #[arg(long, env = "ORDERFLOW_RULES")]
        rules: Option<PathBuf>,
    },
    /// Measure the AWS requests and request units of an order's flows on moto_server and
    /// price them per million orders.
    CostReport {
        /// A moto_server to use; without it one is started (MOTO_SERVER, .venv, PATH).
        #[arg(long)]
        endpoint_url: Option<String>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// List a queue's dead letters with their reasons, show one, or move them back for
    /// another try: on a running `serve` (--url), a stopped one's --data-dir, or a
    /// deployed --stack.
    DeadLetters {
        #[command(flatten)]
        target: orderflow_local::dead_letters::cli::Target,
        #[command(subcommand)]
        action: orderflow_local::dead_letters::cli::Action,
    },
    /// Drive many orders through every flow under injected faults (duplicated, delayed
    /// and failed deliveries, crashes around writes and publishes), then check that
    /// every effect happened exactly once. Exits non-zero on any violation.
    Soak {
        #[arg(long, default_value_t = 5000)]
        orders: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run on the durable backend in this directory instead of in memory: a new
        /// one, or one a soak of the same orders and seed was killed on (it carries on).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The restart soak: run in child processes on --data-dir, SIGKILL this many of
        /// them at random instants (each next one carries on), then let the last finish.
        #[arg(long, default_value_t = 0, requires = "data_dir")]
        kills: u32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Embedded,
    Aws,
}

#[derive(Clone, Copy, ValueEnum)]
enum BenchArg {
    /// One scheduled-retry tick over `count` due re-audit rules.
    Tick,
    /// `count` orders through the risk check.
    Intake,
    /// `count` orders through the whole chain (placed, audited, fulfilled), in memory
    /// and durable, with p50/p99 per hop.
    Chain,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ChainBackend {
    /// In memory.
    Memory,
    /// A data directory with `--sync normal`.
    Normal,
    /// A data directory with `--sync full`.
    Full,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthArg {
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum SyncArg {
    /// A commit is written before it is answered and synced at checkpoints: survives
    /// any crash of this process; a power cut may lose the last moments' commits.
    Normal,
    /// Every commit is synced to the disk before it is answered: survives a power cut;
    /// each write waits for the disk.
    Full,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockArg {
    System,
    Manual,
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    // The demo prints its own story; its logs only speak up when something is wrong.
    let quiet = matches!(
        cli.command,
        Command::Demo { .. } | Command::Bench { .. } | Command::CostReport { .. } | Command::DeadLetters { .. }
    );
    // Every fault the soak injects is logged as the failure it plays; the report says what counts.
    let level = if matches!(cli.command, Command::Soak { .. }) {
        "off"
    } else if quiet {
        "warn"
    } else {
        "info"
    };
    orderflow_shared::edge::telemetry::init_with_default(level);
    let durable = matches!(cli.command, Command::Serve { backend: BackendArg::Embedded, in_memory: false, .. });
    match runtime(durable) {
        Ok(rt) => rt.block_on(run(cli.command)),
        Err(e) => fail(&format!("cannot start the async runtime: {e}")),
    }
}

/// The async runtime: one worker thread for the durable embedded backend, else one per
/// core (or `TOKIO_WORKER_THREADS`, if set). Every call of the durable backend goes
/// through its one SQLite connection, one at a time, so a second worker mostly waits
/// for that connection's lock: on the development machine the whole chain
/// (`bench chain`) took about a quarter less CPU time an order with one worker, at a
/// sixth higher rate, and each function's invocations were quicker (p99 of
/// `risk-check` 0.18 to 0.24 ms against 1.1 to 1.5 ms).
fn runtime(durable: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if durable && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build()
}

/// The whole chain on one backend, on the runtime `serve` gives that backend
/// ([`runtime`]), which runs on a thread of its own: a runtime cannot be started from
/// within this one.
async fn chain_on_its_runtime(count: usize, runs: usize, backend: Option<SyncMode>) -> Result<(), String> {
    let (done, ran) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let ran =
            runtime(backend.is_some()).map(|rt| rt.block_on(orderflow_local::bench::chain(count, runs, &[backend])));
        let _ = done.send(ran.map_err(|e| format!("cannot start the async runtime: {e}")));
    });
    ran.await.map_err(|_| "the benchmark stopped before it finished".to_string())?
}

/// The backends `bench chain --backend` names; all three when it names none.
fn bench_backends(backend: &[ChainBackend]) -> Vec<Option<SyncMode>> {
    if backend.is_empty() {
        return vec![None, Some(SyncMode::Normal), Some(SyncMode::Full)];
    }
    backend
        .iter()
        .map(|b| match b {
            ChainBackend::Memory => None,
            ChainBackend::Normal => Some(SyncMode::Normal),
            ChainBackend::Full => Some(SyncMode::Full),
        })
        .collect()
}

async fn run(command: Command) -> ExitCode {
    match command {
        Command::Serve {
            port,
            backend,
            endpoint_url,
            rules,
            clock,
            resource_prefix,
            data_dir,
            in_memory,
            sync,
            auth,
            keep_published: Keep(keep_published),
        } => {
            let backend = match (backend, endpoint_url) {
                (BackendArg::Aws, Some(endpoint_url)) => Backend::Aws { endpoint_url },
                _ => Backend::Embedded,
            };
            let clock = match clock {
                ClockArg::System => ClockMode::System,
                ClockArg::Manual => ClockMode::manual_from_now(),
            };
            let data_dir = (!in_memory).then_some(data_dir);
            if let Some(dir) = &data_dir {
                let synced = match sync {
                    SyncArg::Normal => "kept across any crash of this process; --sync full to sync every write",
                    SyncArg::Full => "every write synced to the disk",
                };
                println!("data directory: {} ({synced})", dir.display());
            }
            let sync = match sync {
                SyncArg::Normal => SyncMode::Normal,
                SyncArg::Full => SyncMode::Full,
            };
            let faults = Default::default();
            let options = Options { backend, rules, clock, resource_prefix, data_dir, faults, sync, keep_published };
            serve(options, port, auth).await
        }
        Command::Token { data_dir, sub, scopes, claims, minutes } => token(&data_dir, &sub, scopes, claims, minutes),
        Command::Demo { rules } => demo(Options { rules, ..Options::embedded() }).await,
        Command::Bench { what, count, runs, backend } => {
            match what {
                BenchArg::Tick => orderflow_local::bench::tick(count, runs.max(1)).await,
                BenchArg::Intake => orderflow_local::bench::intake(count, runs.max(1)).await,
                BenchArg::Chain => {
                    for backend in bench_backends(&backend) {
                        if let Err(e) = chain_on_its_runtime(count, runs.max(1), backend).await {
                            return fail(&e);
                        }
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Command::CostReport { endpoint_url, json } => cost::run(endpoint_url, json).await,
        Command::DeadLetters { target, action } => dead_letters(&target, &action).await,
        Command::Soak { orders, seed, data_dir, kills } => {
            orderflow_local::soak::cli(orderflow_local::soak::Options { orders, seed, data_dir }, kills).await
        }
    }
}

async fn serve(options: Options, port: u16, auth: AuthArg) -> ExitCode {
    let mut rt = match Runtime::start(&options).await {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    if auth == AuthArg::Off {
        eprintln!(
            "WARNING: --auth off: every request may do anything, as any customer, system or reviewer. For experiments only."
        );
    } else {
        let keys = match &options.data_dir {
            Some(dir) => match Keys::in_dir(dir) {
                Ok(keys) => keys,
                Err(e) => return fail(&e),
            },
            None => Keys::random(),
        };
        match &options.data_dir {
            Some(dir) => println!(
                "bearer tokens required; get one with: orderflow-local token --data-dir {} --sub me --scope all",
                dir.display()
            ),
            None => match keys.issue(
                "local-admin",
                &all_scopes(),
                &Default::default(),
                chrono::Utc::now(),
                chrono::Duration::hours(12),
            ) {
                Ok(token) => println!("bearer tokens required; one with every scope, valid 12 hours:\n{token}"),
                Err(e) => return fail(&e),
            },
        }
        rt.auth = Auth::Tokens(Arc::new(keys));
    }
    let rt = Arc::new(rt);
    let (address, serving) = match server::bind(rt, port).await {
        Ok(bound) => bound,
        Err(e) => return fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")),
    };
    println!("listening on http://{address}");
    tokio::select! {
        _ = serving => {}
        _ = tokio::signal::ctrl_c() => println!("stopped"),
    }
    ExitCode::SUCCESS
}

/// `orderflow-local dead-letters`: prints what it found or did; an unknown queue or an
/// unreachable runtime or stack fails, naming it.
async fn dead_letters(
    target: &orderflow_local::dead_letters::cli::Target,
    action: &orderflow_local::dead_letters::cli::Action,
) -> ExitCode {
    use orderflow_local::dead_letters::cli;
    let queues = match cli::open(target).await {
        Ok(queues) => queues,
        Err(e) => return fail(&e),
    };
    match cli::run(queues.as_ref(), action).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

async fn demo(options: Options) -> ExitCode {
    let rt = match Runtime::start(&options).await {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    println!("orderflow demo on the embedded backend (clock starts at {})", rt.now());
    match Demo::new(&rt).run().await {
        Ok(hops) => {
            println!("\nall {hops} expected hops happened");
            ExitCode::SUCCESS
        }
        Err(failures) => {
            println!("\n{} expected hops did not happen:", failures.len());
            failures.iter().for_each(|f| println!("  - {f}"));
            ExitCode::FAILURE
        }
    }
}

/// The aws backend's resource prefix unless `--resource-prefix` says otherwise.
const DEFAULT_PREFIX: &str = "orderflow-local-";

/// Letters, digits, `-` and `_`, at most 40: what every name it prefixes allows (SQS
/// queue names are at most 80 characters; the longest here is a dead-letter queue's).
fn all_scopes() -> Vec<String> {
    orderflow_shared::topology::scope::ALL.iter().map(|s| s.to_string()).collect()
}

/// `orderflow-local token`: prints a token signed with the data directory's key.
fn token(
    dir: &std::path::Path,
    sub: &str,
    scopes: Vec<String>,
    claims: Vec<(String, String)>,
    minutes: i64,
) -> ExitCode {
    let keys = match Keys::in_dir(dir) {
        Ok(keys) => keys,
        Err(e) => return fail(&e),
    };
    let scopes: Vec<String> = if scopes.iter().any(|s| s == "all") { all_scopes() } else { scopes };
    if let Some(unknown) = scopes.iter().find(|s| !orderflow_shared::topology::scope::ALL.contains(&s.as_str())) {
        return fail(&format!(
            "--scope {unknown:?} is not one of {} (or all)",
            orderflow_shared::topology::scope::ALL.join(", ")
        ));
    }
    let claims = claims.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
    match keys.issue(sub, &scopes, &claims, chrono::Utc::now(), chrono::Duration::minutes(minutes.max(1))) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `name=value` of `--claim`; the registered claims are the token command's own.
fn claim(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or("a claim is name=value")?;
    if ["sub", "iss", "aud", "exp", "nbf", "iat", "scope"].contains(&name) {
        return Err(format!("{name} is set by the token command itself"));
    }
    Ok((name.to_string(), value.to_string()))
}

fn resource_prefix(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if text.is_empty() || text.len() > 40 || !text.chars().all(allowed) {
        return Err("use 1 to 40 letters, digits, '-' or '_'".into());
    }
    Ok(text.to_string())
}

/// `serve --keep-published`: a number of messages, or every one.
#[derive(Debug, Clone, Copy)]
struct Keep(Option<usize>);

fn keep_published(text: &str) -> Result<Keep, String> {
    if text == "all" {
        return Ok(Keep(None));
    }
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(Keep(Some(n))),
        _ => Err("use a number of messages from 1 up, or `all`".into()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("orderflow-local: {message}");
    ExitCode::from(2)
}
