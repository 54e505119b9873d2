//! The Lambda event source mapping, played locally: receive a batch from each queue,
//! invoke its consumer, delete what succeeded and make the reported failures visible
//! again at once (rather than after the visibility timeout, so a poison message reaches
//! its dead-letter queue in moments instead of minutes).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use chrono::{DateTime, Utc};
use orderflow_shared::adapters::embedded::{Faults, NoFaults};
use orderflow_shared::ports::{Broker, ReceivedMessage};
use orderflow_shared::topology::{Queue, Schedule};
use tracing::warn;

use crate::functions;
use crate::runtime::Runtime;

/// One pass over the table's change stream (the outbox relay) and every queue; returns
/// how many records were handed to a function.
pub async fn pump_once(rt: &Runtime) -> Result<usize, String> {
    pump_once_with(rt, &NoFaults).await
}

/// As [`pump_once`], with `faults` failing records of a batch before they reach their
/// consumer ([`Faults::fail_record`]), as a crashed invocation would.
pub async fn pump_once_with(rt: &Runtime, faults: &dyn Faults) -> Result<usize, String> {
    let mut handled = crate::stream::pump_stream(rt).await?;
    for queue in rt.topology.queues {
        handled += pump_queue(rt, queue, faults).await?;
    }
    Ok(handled)
}

/// One poll of `queue`: a batch handed to its consumer; returns how many records it held.
pub async fn pump_queue(rt: &Runtime, queue: &Queue, faults: &dyn Faults) -> Result<usize, String> {
    let batch = rt.broker().receive(queue.name, queue.batch_size as usize).await.map_err(|e| e.to_string())?;
    if batch.is_empty() {
        return Ok(0);
    }
    let handled = batch.len();
    deliver(rt, queue, batch, faults).await?;
    Ok(handled)
}

async fn deliver(rt: &Runtime, queue: &Queue, batch: Vec<ReceivedMessage>, faults: &dyn Faults) -> Result<(), String> {
    // A record the faults fail never reaches the consumer: it is reported failed, as an
    // invocation that crashed before it would leave it.
    let (dropped, handed): (Vec<&ReceivedMessage>, Vec<&ReceivedMessage>) =
        batch.iter().partition(|m| faults.fail_record(queue.name, &m.message_id));
    let mut failed: Vec<String> = dropped.iter().map(|m| m.message_id.clone()).collect();
    if !handed.is_empty() {
        failed.extend(invoke(rt, queue, &handed).await?);
    }
    let broker: &dyn Broker = rt.broker();
    let (retried, done): (Vec<&ReceivedMessage>, Vec<&ReceivedMessage>) =
        batch.iter().partition(|m| failed.contains(&m.message_id));
    let receipts: Vec<&str> = done.iter().map(|m| m.receipt.as_str()).collect();
    broker.delete_batch(queue.name, &receipts).await.map_err(|e| e.to_string())?;
    for message in retried {
        broker.release(queue.name, &message.receipt, 0).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Hands `batch` to the queue's consumer; returns the ids of the records that failed.
async fn invoke(rt: &Runtime, queue: &Queue, batch: &[&ReceivedMessage]) -> Result<Vec<String>, String> {
    let event = sqs_event(queue, batch);
    Ok(match functions::sqs(&rt.deps, queue.consumer, event).await {
        Ok(response) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        // A crashed invocation fails the whole batch, as on Lambda.
        Err(e) => {
            warn!(queue = queue.name, function = queue.consumer, error = %e, "invocation failed");
            batch.iter().map(|m| m.message_id.clone()).collect()
        }
    })
}

/// The event Lambda would hand the function for this batch, built as the typed event
/// the function reads.
fn sqs_event(queue: &Queue, batch: &[&ReceivedMessage]) -> SqsEvent {
    let arn = format!("arn:aws:sqs:local:000000000000:{}", queue.name);
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.receipt_handle = Some(m.receipt.clone());
            record.body = Some(m.body.clone());
            record.attributes = [("ApproximateReceiveCount".to_string(), m.receive_count.to_string())].into();
            record.message_attributes = m
                .attributes
                .iter()
                .map(|(k, v)| {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.string_value = Some(v.clone());
                    attribute.data_type = Some("String".to_string());
                    (k.clone(), attribute)
                })
                .collect();
            record.event_source = Some("aws:sqs".to_string());
            record.event_source_arn = Some(arn.clone());
            record.aws_region = Some("local".to_string());
            record
        })
        .collect();
    event
}

/// Pumps until the change stream is relayed and no queue has a visible or in-flight
/// message. Gives up after `timeout`, naming the queues that are still busy.
pub async fn settle(rt: &Runtime, timeout: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Nothing handled: the stream had no record and no queue a visible message.
        if pump_once(rt).await? == 0 {
            if first_busy_queue(rt).await?.is_none() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("not settled after {timeout:?}: {}", busy_queues(rt).await?.join(", ")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The event sources polled side by side, each by a task of its own, as Lambda's
/// pollers run: the change stream (the outbox relay) and every queue. A runtime with
/// several worker threads relays and consumes on all of them (where the backend cannot
/// serve them side by side, [`Runtime::polls_side_by_side`], one poller takes them in
/// turn). A source that had less than a full batch waits
/// `idle` before it looks again. Stopped when dropped.
pub struct Pollers {
    _tasks: tokio::task::JoinSet<()>,
}

impl Pollers {
    pub fn start(rt: &Arc<Runtime>, idle: Duration) -> Pollers {
        let mut tasks = tokio::task::JoinSet::new();
        if !rt.polls_side_by_side() {
            // One poller takes every source in turn.
            let all = rt.clone();
            tasks.spawn(poll_forever("the event sources", 1, idle, move || {
                let rt = all.clone();
                async move { pump_once(&rt).await }
            }));
            return Pollers { _tasks: tasks };
        }
        let relay = rt.clone();
        tasks.spawn(poll_forever("the change stream", rt.topology.stream.batch_size, idle, move || {
            let rt = relay.clone();
            async move { crate::stream::pump_stream(&rt).await }
        }));
        for queue in rt.topology.queues {
            let rt = rt.clone();
            tasks.spawn(poll_forever(queue.name, queue.batch_size, idle, move || {
                let rt = rt.clone();
                async move { pump_queue(&rt, queue, &NoFaults).await }
            }));
        }
        Pollers { _tasks: tasks }
    }

    /// Waits until the change stream is relayed and no queue has a visible or in-flight
    /// message, looking every `every` while the pollers work; gives up after `timeout`,
    /// naming the queues that are still busy.
    pub async fn idle(&self, rt: &Runtime, every: Duration, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !busy(rt).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("not settled after {timeout:?}: {}", what_is_busy(rt).await?.join(", ")));
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// Polls `source` until stopped. A batch that was not full (`batch` records) means the
/// source has run dry for now, so the poller waits `idle` before it looks again, and
/// the next batch has had time to fill (what Lambda's batching window is for).
async fn poll_forever<F, P>(source: &'static str, batch: u32, idle: Duration, poll: P)
where
    P: Fn() -> F,
    F: std::future::Future<Output = Result<usize, String>>,
{
    let full = batch as usize;
    loop {
        match poll().await {
            Ok(n) if n < full => tokio::time::sleep(idle).await,
            Ok(_) => {}
            Err(e) => {
                warn!(source, error = %e, "polling failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What is still to be done: the queues with a visible or in-flight message, then the
/// change stream's unrelayed records. Queues first: a consumer writes (to the stream)
/// before it deletes its message, and the relay publishes (to the queues) before it
/// acknowledges its records, so work moving between the two is seen in one or the other.
///
/// Asked often while waiting: stops at the first busy source, without counting.
async fn busy(rt: &Runtime) -> Result<bool, String> {
    Ok(first_busy_queue(rt).await?.is_some() || stream_busy(rt).await?)
}

/// What [`busy`] looks for, every source named with its counts: for saying what did
/// not settle.
async fn what_is_busy(rt: &Runtime) -> Result<Vec<String>, String> {
    let mut busy = busy_queues(rt).await?;
    if stream_busy(rt).await? {
        busy.push("the change stream".into());
    }
    Ok(busy)
}

async fn stream_busy(rt: &Runtime) -> Result<bool, String> {
    Ok(!rt.stream().next_batch(1).await?.is_empty())
}

/// The first queue with a visible or in-flight message, the relay's failure queue
/// excepted: it has no consumer, and what waits there is for a person.
async fn first_busy_queue(rt: &Runtime) -> Result<Option<&'static str>, String> {
    for queue in rt.topology.queues {
        if rt.broker().pending(queue.name).await.map_err(|e| e.to_string())? {
            return Ok(Some(queue.name));
        }
    }
    Ok(None)
}

/// What [`first_busy_queue`] looks for, counted in every queue: for saying what did
/// not settle.
async fn busy_queues(rt: &Runtime) -> Result<Vec<String>, String> {
    let failures = rt.topology.stream.failure_queue.name;
    Ok(rt
        .queue_stats()
        .await?
        .into_iter()
        .filter(|s| s.name != failures && s.visible + s.in_flight > 0)
        .map(|s| format!("{} ({} visible, {} in flight)", s.name, s.visible, s.in_flight))
        .collect())
}

/// Rounds up to a multiple of `period` seconds since the epoch, as rate schedules tick.
pub fn align_up(t: DateTime<Utc>, period: i64) -> DateTime<Utc> {
    let secs = t.timestamp();
    let exact = t.timestamp_subsec_nanos() == 0 && secs % period == 0;
    let aligned = if exact { secs } else { (secs.div_euclid(period) + 1) * period };
    DateTime::from_timestamp(aligned, 0).unwrap_or(t)
}

/// With the system clock, fires `schedule` at each of its ticks, as EventBridge would,
/// for as long as the runtime serves.
pub async fn schedule_forever(rt: std::sync::Arc<Runtime>, schedule: &'static Schedule) {
    let Some(period) = rate_seconds(schedule.expression) else {
        warn!(schedule = schedule.name, expression = schedule.expression, "only rate(...) schedules run locally");
        return;
    };
    loop {
        let now = rt.now();
        let next = align_up(now + chrono::Duration::milliseconds(1), period);
        tokio::time::sleep((next - now).to_std().unwrap_or(Duration::from_secs(1))).await;
        if let Err(e) = functions::schedule(&rt.deps, schedule.function).await {
            warn!(schedule = schedule.name, error = %e, "scheduled invocation failed");
        }
    }
}

/// Fires every schedule once (the scheduled functions decide what is due). A tick that
/// cannot run fails the caller; one that ran reports its own errors in its log.
pub async fn fire_schedules(rt: &Runtime) -> Result<(), String> {
    for schedule in rt.topology.schedules {
        functions::schedule(&rt.deps, schedule.function).await?;
    }
    Ok(())
}

/// Seconds between ticks of a `rate(N unit)` expression.
pub fn rate_seconds(expression: &str) -> Option<i64> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: i64 = n.parse().ok()?;
    let unit_secs = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(n * unit_secs)
}

#[cfg(test)]
mod tests {
    use super::rate_seconds;

    #[test]
    fn rate_expressions_convert_to_seconds() {
        assert_eq!(rate_seconds("rate(1 minute)"), Some(60));
        assert_eq!(rate_seconds("rate(5 minutes)"), Some(300));
        assert_eq!(rate_seconds("cron(0 * * * ? *)"), None);
    }
}
