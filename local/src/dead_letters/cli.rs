//! `orderflow-local dead-letters list|show|redrive QUEUE`: on a running runtime (its
//! address, `--url`), a stopped one (`--data-dir`) or a deployed stack (`--stack`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use orderflow_shared::adapters::aws::sdk_config;

use super::http::Http;
use super::stack::Stack;
use super::{DeadLetter, DeadLetterQueues};
use crate::runtime::{Options, Runtime};

#[derive(Subcommand, Debug, Clone)]
pub enum Action {
    /// List a queue's dead letters, each with why its consumer gave up on it.
    List {
        /// The queue (e.g. audit-results-queue), not its dead-letter queue.
        queue: String,
        /// Print the dead letters as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter: its body, attributes and reason, as JSON.
    Show { queue: String, message_id: String },
    /// Move a queue's dead letters back onto it for another try.
    Redrive {
        queue: String,
        /// Say what would be moved, and move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Where the dead letters are.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The address of a running `orderflow-local serve`.
    #[arg(long, global = true, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A stopped runtime's data directory (`serve --data-dir` on the embedded backend).
    #[arg(long, global = true, conflicts_with = "stack")]
    pub data_dir: Option<PathBuf>,
    /// A deployed stack: its queues and table are found from its outputs, with the
    /// AWS credentials and region of the environment.
    #[arg(long, global = true)]
    pub stack: Option<String>,
    /// With --stack: another AWS endpoint (e.g. a moto_server).
    #[arg(long, global = true, requires = "stack")]
    pub endpoint_url: Option<String>,
}

/// The dead-letter queues `target` names.
pub async fn open(target: &Target) -> Result<Box<dyn DeadLetterQueues>, String> {
    if let Some(name) = &target.stack {
        let config = sdk_config(target.endpoint_url.as_deref()).await;
        return Ok(Box::new(Stack::open(&config, name).await?));
    }
    if let Some(dir) = &target.data_dir {
        if !dir.is_dir() {
            return Err(format!("no data directory at {}", dir.display()));
        }
        let options = Options { data_dir: Some(dir.clone()), ..Options::embedded() };
        return Ok(Box::new(Runtime::start(&options).await?));
    }
    Ok(Box::new(Http::new(&target.url)))
}

/// Carries out `action`; the text to print.
pub async fn run(queues: &dyn DeadLetterQueues, action: &Action) -> Result<String, String> {
    match action {
        Action::List { queue, json } => {
            let all = queues.list(queue).await?;
            if *json {
                return serde_json::to_string_pretty(&all).map_err(|e| e.to_string());
            }
            Ok(format!("{} in the dead-letter queue of {queue}\n{}", count(all.len()), lines(&all)))
        }
        Action::Show { queue, message_id } => {
            let all = queues.list(queue).await?;
            let found = all
                .iter()
                .find(|m| &m.message_id == message_id)
                .ok_or_else(|| format!("no dead letter {message_id:?} in the dead-letter queue of {queue}"))?;
            serde_json::to_string_pretty(found).map_err(|e| e.to_string())
        }
        Action::Redrive { queue, dry_run } => {
            let all = queues.list(queue).await?;
            if all.is_empty() {
                return Ok(format!("nothing to move: the dead-letter queue of {queue} is empty"));
            }
            if *dry_run {
                return Ok(format!("would move {} back onto {queue} (dry run):\n{}", count(all.len()), lines(&all)));
            }
            let moved = queues.redrive(queue).await?;
            if moved.is_empty() {
                return Ok(format!("nothing to move: the dead-letter queue of {queue} is empty"));
            }
            Ok(format!("moved {} back onto {queue}:\n{}", count(moved.len()), moved.join("\n")))
        }
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 dead letter".into()
    } else {
        format!("{n} dead letters")
    }
}

/// One line per dead letter: id, type, and why it was given up on.
fn lines(all: &[DeadLetter]) -> String {
    all.iter()
        .map(|m| {
            let kind = m.attributes.get("type").map_or("-", String::as_str);
            let why = match &m.reason {
                Some(r) => format!(
                    "failed {} on receive {} ({}): {}",
                    r.failed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    r.receive_count,
                    if r.retryable { "retried until the limit" } else { "refused as bad" },
                    r.error
                ),
                None => "no reason recorded".into(),
            };
            format!("{}  {kind}  {why}", m.message_id)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
