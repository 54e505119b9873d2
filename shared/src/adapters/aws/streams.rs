//! The table's DynamoDB stream read as Lambda's event source mapping reads it, for the
//! local runtime's aws backend: batches in stream order from one shard at a time
//! (parents before children), each record in the JSON shape Lambda hands a function
//! (the embedded backend's `embedded::stream::lambda_record` makes the same shape).
//!
//! Only acknowledgements move the reader: every batch starts right after the shard's
//! last acknowledged record (TRIM_HORIZON before the first), so whatever was not
//! acknowledged comes again. The one iterator kept is that of an empty read, which
//! nothing lies before; an idle poll is then a DescribeStream and a GetRecords per open
//! shard.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodbstreams::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_dynamodbstreams::operation::get_shard_iterator::{GetShardIteratorError, GetShardIteratorOutput};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::warn;

use crate::error::{Error, StoreError};

/// GetRecords returns at most this many records.
const MAX_RECORDS: usize = 1000;

/// Reads one stream; `&self` methods, calls serialised by an inner lock.
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    /// Shard id → the last acknowledged sequence number.
    acked: HashMap<String, String>,
    /// Shards read to their end, everything in them acknowledged.
    finished: HashSet<String>,
    /// Shard id → the next iterator of a read that found nothing after the acknowledged
    /// position (so reading on from it skips nothing).
    idle: HashMap<String, String>,
    /// The shard and sequence numbers of the last batch, which `ack` applies to.
    last: Option<(String, Vec<String>)>,
    /// The shard of the last batch that had records; the next read starts after it, so
    /// a busy shard does not starve the others.
    turn: Option<String>,
}

/// A shard as DescribeStream lists it.
struct Shard {
    id: String,
    parent: Option<String>,
    start: String,
}

enum Read {
    Records(Vec<Record>),
    /// Nothing yet; the shard is still open.
    Empty,
    /// Closed and read to its end.
    Finished,
}

/// Where a reader stands, to carry on from after a restart (Lambda's event source
/// mapping keeps the same for itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Shard id → the last acknowledged sequence number.
    pub acked: BTreeMap<String, String>,
    /// Shards read to their end.
    pub finished: std::collections::BTreeSet<String>,
}

impl StreamReader {
    /// Opens the stream `stream_arn` from its oldest record (TRIM_HORIZON).
    pub async fn open(config: &SdkConfig, stream_arn: &str) -> Result<StreamReader, Error> {
        StreamReader::open_at(config, stream_arn, Checkpoint::default()).await
    }

    /// Opens the stream `stream_arn` right after `checkpoint`.
    pub async fn open_at(config: &SdkConfig, stream_arn: &str, checkpoint: Checkpoint) -> Result<StreamReader, Error> {
        let progress = Progress {
            acked: checkpoint.acked.into_iter().collect(),
            finished: checkpoint.finished.into_iter().collect(),
            ..Progress::default()
        };
        let reader = StreamReader {
            client: Client::new(config),
            stream_arn: stream_arn.to_string(),
            progress: Mutex::new(progress),
        };
        reader.shards().await?;
        Ok(reader)
    }

    /// Where the reader stands now.
    pub async fn checkpoint(&self) -> Checkpoint {
        let progress = self.progress.lock().await;
        Checkpoint {
            acked: progress.acked.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            finished: progress.finished.iter().cloned().collect(),
        }
    }

    /// Up to `max` records not yet acknowledged, oldest first, all from one shard
    /// (parent shards before their children), in Lambda's record JSON shape. Records not
    /// acknowledged are returned again by the next call.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Value>, Error> {
        let mut progress = self.progress.lock().await;
        progress.last = None;
        if max == 0 {
            return Ok(Vec::new());
        }
        let shards = self.shards().await?;
        progress.forget_unlisted(&shards);
        let mut tried = HashSet::new();
        while let Some(shard) = progress.next_shard(&shards, &tried) {
            tried.insert(shard.id.as_str());
            match self.read(&mut progress, shard, max.min(MAX_RECORDS)).await? {
                Read::Records(records) => {
                    let batch = records.iter().map(|r| lambda_record(&self.stream_arn, r)).collect::<Result<_, _>>()?;
                    let sequence_numbers = records.iter().filter_map(|r| r.dynamodb()?.sequence_number());
                    progress.last = Some((shard.id.clone(), sequence_numbers.map(str::to_string).collect()));
                    progress.turn = Some(shard.id.clone());
                    return Ok(batch);
                }
                Read::Empty => {}
                Read::Finished => {
                    progress.finished.insert(shard.id.clone());
                }
            }
        }
        Ok(Vec::new())
    }

    /// Marks the records of the last batch's shard up to and including
    /// `sequence_number` as handled. It must be a record of the last batch.
    pub async fn ack(&self, sequence_number: &str) -> Result<(), Error> {
        let mut progress = self.progress.lock().await;
        let Some((shard, sequence_numbers)) = progress.last.clone() else {
            return Err(Error::Conflict(format!("ack of {sequence_number}: the last batch was empty")));
        };
        if !sequence_numbers.iter().any(|s| s == sequence_number) {
            return Err(Error::Conflict(format!("ack of {sequence_number}: not a record of the last batch")));
        }
        let moves_on = progress.acked.get(&shard).is_none_or(|acked| later(sequence_number, acked));
        if moves_on {
            progress.acked.insert(shard, sequence_number.to_string());
        }
        Ok(())
    }

    /// Every shard of the stream, oldest first.
    async fn shards(&self) -> Result<Vec<Shard>, Error> {
        let (mut shards, mut start) = (Vec::new(), None);
        loop {
            let request =
                self.client.describe_stream().stream_arn(&self.stream_arn).set_exclusive_start_shard_id(start);
            let out = request.send().await.map_err(|e| self.error("DescribeStream", &e))?;
            let description = out.stream_description.ok_or_else(|| self.missing("DescribeStream", "a description"))?;
            for shard in description.shards.unwrap_or_default() {
                let range = shard.sequence_number_range;
                shards.push(Shard {
                    id: shard.shard_id.ok_or_else(|| self.missing("DescribeStream", "a shard id"))?,
                    parent: shard.parent_shard_id,
                    start: range.and_then(|r| r.starting_sequence_number).unwrap_or_default(),
                });
            }
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                break;
            }
        }
        shards.sort_by(|a, b| (a.start.len(), &a.start).cmp(&(b.start.len(), &b.start)));
        Ok(shards)
    }

    /// One GetRecords of `shard` from its idle iterator, else from after its last
    /// acknowledged record.
    async fn read(&self, progress: &mut Progress, shard: &Shard, limit: usize) -> Result<Read, Error> {
        let mut out = None;
        if let Some(idle) = progress.idle.remove(&shard.id) {
            match self.get_records(&idle, limit).await {
                Err(e) if e.as_service_error().is_some_and(GetRecordsError::is_expired_iterator_exception) => {}
                result => out = Some(result.map_err(|e| self.error("GetRecords", &e))?),
            }
        }
        let out = match out {
            Some(out) => out,
            None => {
                let iterator = self.iterator(&shard.id, progress.acked.get(&shard.id).map(String::as_str)).await?;
                self.get_records(&iterator, limit).await.map_err(|e| self.error("GetRecords", &e))?
            }
        };
        let records = out.records.unwrap_or_default();
        Ok(match (records.is_empty(), out.next_shard_iterator) {
            (false, _) => Read::Records(records),
            (true, Some(next)) => {
                progress.idle.insert(shard.id.clone(), next);
                Read::Empty
            }
            (true, None) => Read::Finished,
        })
    }

    async fn get_records(&self, iterator: &str, limit: usize) -> Result<GetRecordsOutput, SdkError<GetRecordsError>> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        self.client.get_records().shard_iterator(iterator).limit(limit).send().await
    }

    /// An iterator after `acked`, or at the shard's oldest record. Records trimmed
    /// (older than the stream keeps) before they were acknowledged are lost, as they
    /// are to Lambda: the shard is read on from its oldest record.
    async fn iterator(&self, shard_id: &str, acked: Option<&str>) -> Result<String, Error> {
        let iterator = match self.shard_iterator(shard_id, acked).await {
            Err(e) if e.as_service_error().is_some_and(GetShardIteratorError::is_trimmed_data_access_exception) => {
                warn!(shard_id, acked, "stream records trimmed before they were acknowledged");
                self.shard_iterator(shard_id, None).await
            }
            result => result,
        };
        let iterator = iterator.map_err(|e| self.error("GetShardIterator", &e))?;
        iterator.shard_iterator.ok_or_else(|| self.missing("GetShardIterator", "an iterator"))
    }

    async fn shard_iterator(
        &self,
        shard_id: &str,
        after: Option<&str>,
    ) -> Result<GetShardIteratorOutput, SdkError<GetShardIteratorError>> {
        let request = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(shard_id);
        let request = match after {
            Some(sequence_number) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence_number)
            }
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        request.send().await
    }

    fn error(&self, operation: &str, e: &impl std::error::Error) -> Error {
        Error::Store(StoreError::Backend(format!("{operation} on {}: {}", self.stream_arn, DisplayErrorContext(e))))
    }

    fn missing(&self, operation: &str, what: &str) -> Error {
        Error::Store(StoreError::Backend(format!("{operation} on {} gave no {what}", self.stream_arn)))
    }
}

impl Progress {
    /// Drops what it knows of shards the stream no longer lists (trimmed away).
    fn forget_unlisted(&mut self, shards: &[Shard]) {
        let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
        self.acked.retain(|id, _| listed.contains(id.as_str()));
        self.finished.retain(|id| listed.contains(id.as_str()));
        self.idle.retain(|id, _| listed.contains(id.as_str()));
    }

    /// The next shard to read: not finished, not tried in this call, its parent finished
    /// or gone; the first after the last batch's shard, round the list.
    fn next_shard<'a>(&self, shards: &'a [Shard], tried: &HashSet<&str>) -> Option<&'a Shard> {
        let gone_or_finished = |id: &String| self.finished.contains(id) || !shards.iter().any(|s| &s.id == id);
        let ready = |shard: &&Shard| {
            !self.finished.contains(&shard.id)
                && !tried.contains(shard.id.as_str())
                && shard.parent.as_ref().is_none_or(gone_or_finished)
        };
        let turn = self.turn.as_ref().and_then(|t| shards.iter().position(|s| &s.id == t));
        let (after, upto) = shards.split_at(turn.map_or(0, |i| i + 1));
        upto.iter().chain(after).find(ready)
    }
}

/// Whether sequence number `a` comes after `b` (decimal strings of any length).
fn later(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

/// One stream record as Lambda hands it to a function.
fn lambda_record(stream_arn: &str, record: &Record) -> Result<Value, Error> {
    let change = record.dynamodb().ok_or_else(|| corrupt(record, "no dynamodb part"))?;
    let mut dynamodb = json!({
        "Keys": image(change.keys().unwrap_or(&HashMap::new())).map_err(|e| corrupt(record, &e))?,
        "SequenceNumber": change.sequence_number().ok_or_else(|| corrupt(record, "no sequence number"))?,
        "SizeBytes": change.size_bytes().unwrap_or(0),
        "StreamViewType": change.stream_view_type().map(|v| v.as_str()),
    });
    if let Some(at) = change.approximate_creation_date_time() {
        dynamodb["ApproximateCreationDateTime"] = json!(at.secs());
    }
    if let Some(old) = change.old_image() {
        dynamodb["OldImage"] = image(old).map_err(|e| corrupt(record, &format!("old image: {e}")))?;
    }
    if let Some(new) = change.new_image() {
        dynamodb["NewImage"] = image(new).map_err(|e| corrupt(record, &format!("new image: {e}")))?;
    }
    let mut lambda = json!({
        "eventID": record.event_id().ok_or_else(|| corrupt(record, "no event id"))?,
        "eventName": record.event_name().ok_or_else(|| corrupt(record, "no event name"))?.as_str(),
        "eventVersion": record.event_version(),
        "eventSource": record.event_source(),
        "awsRegion": record.aws_region().unwrap_or_default(),
        "eventSourceARN": stream_arn,
        "dynamodb": dynamodb,
    });
    if let Some(identity) = record.user_identity() {
        lambda["userIdentity"] = json!({ "type": identity.r#type(), "principalId": identity.principal_id() });
    }
    Ok(lambda)
}

fn corrupt(record: &Record, why: &str) -> Error {
    let sequence_number = record.dynamodb().and_then(|d| d.sequence_number()).unwrap_or("?");
    Error::Store(StoreError::Corrupt(format!("stream record {sequence_number}: {why}")))
}

/// Attributes in DynamoDB's JSON, binaries in base64, as `aws_lambda_events` reads them.
fn image(attributes: &HashMap<String, AttributeValue>) -> Result<Value, String> {
    let converted: BTreeMap<&str, serde_dynamo::AttributeValue> =
        attributes.iter().map(|(name, value)| Ok((name.as_str(), attribute(value)?))).collect::<Result<_, String>>()?;
    serde_json::to_value(converted).map_err(|e| e.to_string())
}

fn attribute(value: &AttributeValue) -> Result<serde_dynamo::AttributeValue, String> {
    use serde_dynamo::AttributeValue as Json;
    Ok(match value {
        AttributeValue::S(s) => Json::S(s.clone()),
        AttributeValue::N(n) => Json::N(n.clone()),
        AttributeValue::B(b) => Json::B(b.as_ref().to_vec()),
        AttributeValue::Bool(b) => Json::Bool(*b),
        AttributeValue::Null(null) => Json::Null(*null),
        AttributeValue::M(map) => {
            Json::M(map.iter().map(|(k, v)| Ok((k.clone(), attribute(v)?))).collect::<Result<_, String>>()?)
        }
        AttributeValue::L(list) => Json::L(list.iter().map(attribute).collect::<Result<_, _>>()?),
        AttributeValue::Ss(set) => Json::Ss(set.clone()),
        AttributeValue::Ns(set) => Json::Ns(set.clone()),
        AttributeValue::Bs(set) => Json::Bs(set.iter().map(|b| b.as_ref().to_vec()).collect()),
        other => return Err(format!("an attribute of a type this reader does not know: {other:?}")),
    })
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
