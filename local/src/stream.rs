//! The table's change stream feeding the outbox relay, played as Lambda's event source
//! mapping for DynamoDB streams does it: batches in stream order; a reported failure is
//! retried from that record on, the records before it acknowledged; after the mapping's
//! `maximum_retry_attempts` retries the record's position goes to the failure queue
//! (the mapping's on-failure destination) and the stream moves past it.
//!
//! On the embedded backend the stream is the store's change feed; on the aws backend
//! the table's DynamoDB stream, read through the DynamoDB Streams API.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use chrono::{DateTime, SecondsFormat, Utc};
use orderflow_shared::adapters::aws::streams::{Checkpoint, StreamReader};
use orderflow_shared::adapters::embedded::stream::{event_record, LOCAL_STREAM_ARN};
use orderflow_shared::adapters::embedded::ChangeFeed;
use orderflow_shared::ports::QueueSender;
use serde_json::{json, Value};
use tracing::warn;

use crate::functions;
use crate::runtime::Runtime;

/// A change stream, as the event source mapping reads it.
#[async_trait]
pub trait ChangeStream: Send + Sync {
    /// Up to `max` records not yet acknowledged, oldest first, as Lambda hands them over.
    async fn next_batch(&self, max: usize) -> Result<Vec<EventRecord>, String>;
    /// Acknowledges the records up to and including `sequence_number`.
    async fn ack(&self, sequence_number: &str) -> Result<(), String>;
    /// The stream's ARN, for the failure records.
    fn arn(&self) -> String;
}

/// An embedded store's change feed (in memory or durable). Acknowledged changes are
/// trimmed from it.
pub struct EmbeddedChanges {
    store: Arc<dyn ChangeFeed>,
    acked: Mutex<u64>,
}

impl EmbeddedChanges {
    pub fn new(store: Arc<dyn ChangeFeed>) -> EmbeddedChanges {
        EmbeddedChanges { store, acked: Mutex::new(0) }
    }

    fn acked(&self) -> u64 {
        *self.acked.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ChangeStream for EmbeddedChanges {
    async fn next_batch(&self, max: usize) -> Result<Vec<EventRecord>, String> {
        let changes = self.store.read_changes(self.acked(), max).map_err(|e| e.to_string())?;
        Ok(changes.iter().map(|change| event_record(change)).collect())
    }

    async fn ack(&self, sequence_number: &str) -> Result<(), String> {
        let sequence: u64 =
            sequence_number.parse().map_err(|_| format!("{sequence_number:?} is not a sequence number of the feed"))?;
        let mut acked = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        *acked = (*acked).max(sequence);
        self.store.trim_changes(sequence).map_err(|e| e.to_string())
    }

    fn arn(&self) -> String {
        LOCAL_STREAM_ARN.to_string()
    }
}

/// Failed attempts at the record the stream is stuck on: (sequence number, attempts).
#[derive(Default)]
pub struct Retries(Mutex<Option<(String, u32)>>);

impl Retries {
    /// Counts one more failed attempt at `sequence`; returns how many there have been.
    fn failed(&self, sequence: &str) -> u32 {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let attempts = match state.as_ref() {
            Some((s, n)) if s == sequence => n.saturating_add(1),
            _ => 1,
        };
        *state = Some((sequence.to_string(), attempts));
        attempts
    }

    fn clear(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn sequence_of(record: &EventRecord) -> Option<String> {
    record.change.sequence_number.clone()
}

/// One poll of the stream: hands a batch to the relay and acknowledges what it
/// relayed; returns how many records it handed over.
pub async fn pump_stream(rt: &Runtime) -> Result<usize, String> {
    let _turn = rt.stream_turn().await;
    let mapping = rt.topology.stream;
    let stream = rt.stream();
    let batch = stream.next_batch(mapping.batch_size as usize).await?;
    // Where each record is and when it arrived: what is needed once the batch is handed over.
    let positions: Vec<(Option<String>, DateTime<Utc>)> =
        batch.iter().map(|r| (sequence_of(r), r.change.approximate_creation_date_time)).collect();
    let Some(last) = positions.last().and_then(|(s, _)| s.clone()) else { return Ok(0) };
    let mut event = Event::default();
    event.records = batch;
    let failed = match functions::stream(&rt.deps, mapping.function, event).await {
        Ok(response) => response.batch_item_failures.into_iter().find_map(|f| f.item_identifier),
        // A crashed invocation fails the batch from its first record, as on Lambda.
        Err(e) => {
            warn!(function = mapping.function, error = %e, "invocation failed");
            positions.first().and_then(|(s, _)| s.clone())
        }
    };
    let Some(failed) = failed else {
        rt.stream_retries().clear();
        stream.ack(&last).await?;
        return Ok(positions.len());
    };
    // Everything before the failed record is done.
    let position = positions.iter().position(|(s, _)| s.as_deref() == Some(failed.as_str()));
    let before = position.and_then(|i| i.checked_sub(1)).and_then(|i| positions.get(i)).and_then(|(s, _)| s.clone());
    if let Some(before) = before {
        stream.ack(&before).await?;
    }
    let attempts = rt.stream_retries().failed(&failed);
    if attempts > mapping.maximum_retry_attempts {
        let arrival = position.and_then(|i| positions.get(i)).map(|(_, at)| *at);
        give_up(rt, stream.arn(), arrival, &failed, attempts).await?;
        rt.stream_retries().clear();
        stream.ack(&failed).await?;
    }
    Ok(positions.len())
}

/// What Lambda sends a stream mapping's on-failure destination when a record has used
/// up its retries: where the record is, not the record.
async fn give_up(
    rt: &Runtime,
    stream_arn: String,
    arrival: Option<DateTime<Utc>>,
    sequence: &str,
    attempts: u32,
) -> Result<(), String> {
    let failure = &rt.topology.stream.failure_queue;
    warn!(sequence_number = sequence, attempts, queue = failure.name, "stream record failed every retry");
    // Epoch seconds, as the stream record carries it; unknown (null) when not stamped.
    let arrival =
        arrival.filter(|at| at.timestamp() != 0).map_or(Value::Null, |at| json!(at.timestamp_millis() as f64 / 1000.0));
    let body = json!({
        "requestContext": {
            "requestId": rt.deps.ids.next_id(),
            "functionArn": format!("arn:aws:lambda:local:000000000000:function:{}", rt.topology.stream.function),
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": null},
        "version": "1.0",
        "timestamp": rt.now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "DDBStreamBatchInfo": {
            "shardId": "local",
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "approximateArrivalOfFirstRecord": arrival,
            "approximateArrivalOfLastRecord": arrival,
            "batchSize": 1,
            "streamArn": stream_arn,
        },
    });
    let queues: &dyn QueueSender = rt.broker();
    let attributes = [("type".to_string(), "outbox.retries_exhausted".to_string())].into();
    queues.send(failure.name, &body.to_string(), &attributes).await.map_err(|e| e.to_string())
}

/// The table's DynamoDB stream on the aws backend, read as Lambda's poller would. With
/// a checkpoint file, where it stands survives a restart (as an event source mapping's
/// position does), so a restarted runtime neither skips nor re-sends what the last one
/// relayed.
pub struct AwsChanges {
    reader: StreamReader,
    arn: String,
    checkpoint_file: Option<PathBuf>,
}

/// The checkpoint file's content: the stream it belongs to and where the reader stood.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedCheckpoint {
    stream_arn: String,
    checkpoint: Checkpoint,
}

impl AwsChanges {
    pub async fn open(
        config: &aws_config::SdkConfig,
        made: &orderflow_shared::adapters::aws::provision::Provisioned,
        checkpoint_file: Option<PathBuf>,
    ) -> Result<AwsChanges, String> {
        let saved = match &checkpoint_file {
            Some(path) => load_checkpoint(path)?,
            None => None,
        };
        // A checkpoint of another stream (the table was made again) does not apply.
        let checkpoint = saved.filter(|s| s.stream_arn == made.stream_arn).map(|s| s.checkpoint).unwrap_or_default();
        let reader = StreamReader::open_at(config, &made.stream_arn, checkpoint)
            .await
            .map_err(|e| format!("cannot read the table's stream {}: {e}", made.stream_arn))?;
        Ok(AwsChanges { reader, arn: made.stream_arn.clone(), checkpoint_file })
    }

    async fn save(&self) -> Result<(), String> {
        let Some(path) = &self.checkpoint_file else { return Ok(()) };
        let saved = SavedCheckpoint { stream_arn: self.arn.clone(), checkpoint: self.reader.checkpoint().await };
        let text = serde_json::to_string_pretty(&saved).map_err(|e| e.to_string())?;
        // Written aside and renamed over: a crash leaves the old checkpoint or the new.
        let aside = path.with_extension("json.new");
        std::fs::write(&aside, text)
            .and_then(|()| std::fs::rename(&aside, path))
            .map_err(|e| format!("cannot save the stream checkpoint {}: {e}", path.display()))
    }
}

fn load_checkpoint(path: &std::path::Path) -> Result<Option<SavedCheckpoint>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "the stream checkpoint {} cannot be read ({e}); delete it to read the stream from its oldest record",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the stream checkpoint {}: {e}", path.display())),
    }
}

#[async_trait]
impl ChangeStream for AwsChanges {
    async fn next_batch(&self, max: usize) -> Result<Vec<EventRecord>, String> {
        let records = self.reader.next_batch(max).await.map_err(|e| e.to_string())?;
        records
            .into_iter()
            .map(|r| serde_json::from_value(r).map_err(|e| format!("reading a stream record: {e}")))
            .collect()
    }

    async fn ack(&self, sequence_number: &str) -> Result<(), String> {
        self.reader.ack(sequence_number).await.map_err(|e| e.to_string())?;
        self.save().await
    }

    fn arn(&self) -> String {
        self.arn.clone()
    }
}
