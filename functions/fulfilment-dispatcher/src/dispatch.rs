//! The queue consumer. Each message is applied with a versioned write of the order's
//! progress (retried on a conflicting write, so concurrent statuses lose no update),
//! then its messages are sent and marked sent; a redelivery changes nothing and sends
//! only what was not yet marked.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::fulfilment::{Progress, StatusReport};
use orderflow_shared::error::{Error, Result, StoreError};
use orderflow_shared::input::{strict_json, Fields, TimeWindow};
use orderflow_shared::repo::{self, Versioned};
use orderflow_shared::rules::Strategy;
use orderflow_shared::sqs_batch::{self, Record};
use orderflow_shared::transition::{self, Decision, Outcome};
use serde_json::Value;
use tracing::info;

use crate::messages;

/// The `type` attribute of a queued status report.
pub const STATUS_REPORTED: &str = "fulfilment.status";
/// Optimistic-write rounds before the record is left to its redelivery.
const ATTEMPTS: usize = 20;
const STARTED: &str = "start";
const RECALLED: &str = "audit-rejected";

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch::process(event, |record: Record| async move {
        let body =
            strict_json(record.body.as_bytes()).map_err(|e| Error::validation("body", format!("is not JSON: {e}")))?;
        let kind = record.attributes.get("type").map(String::as_str).or_else(|| body["type"].as_str()).unwrap_or("");
        // Order events arrive as CloudEvents envelopes; status reports as they were posted.
        let data = if body.get("specversion").is_some() { &body["data"] } else { &body };
        match kind {
            "order.dispatched" => dispatched(deps, data).await,
            "order.audit.rejected" => audit_rejected(deps, data, record.attributes.get("business_type")).await,
            STATUS_REPORTED => status(deps, parse_report(data, deps.clock.now())?).await,
            other => Err(Error::validation("type", format!("unknown message type {other:?}"))),
        }
    })
    .await
}

fn strategy<'a>(deps: &'a Deps, business_type: &str) -> Result<&'a Strategy> {
    deps.rules.fulfilment.strategies.get(business_type).ok_or_else(|| {
        Error::validation("business_type", format!("no fulfilment strategy for business type {business_type:?}"))
    })
}

/// DOMAIN §3 steps 1–2.
async fn dispatched(deps: &Deps, data: &Value) -> Result<()> {
    let f = Fields::root(data)?;
    let (order_id, business_type) = (f.str("order_id")?, f.str("business_type")?);
    for _ in 0..ATTEMPTS {
        if let Some(existing) = repo::get_progress(deps.store.as_ref(), order_id).await? {
            return repo::publish_pending(deps, existing.value, existing.version, STARTED).await;
        }
        let now = deps.clock.now();
        let (mut progress, outcome) = Progress::start(order_id, business_type, strategy(deps, business_type)?, now);
        let sent = messages::of(&progress, &outcome, now);
        progress.outbox.emit(STARTED, sent);
        match repo::create_progress(deps.store.as_ref(), &progress).await {
            Ok(version) => {
                info!(order_id, business_type, "fulfilment started");
                return repo::publish_pending(deps, progress, version, STARTED).await;
            }
            Err(Error::Store(StoreError::ConditionFailed)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(conflicts())
}

/// A final audit rejection recalls every triggered system (or, if fulfilment has not
/// started, makes sure it never does).
async fn audit_rejected(deps: &Deps, data: &Value, business_type: Option<&String>) -> Result<()> {
    let f = Fields::root(data)?;
    let order_id = f.str("order_id")?;
    if data.get("final").and_then(Value::as_bool) == Some(false) {
        return Ok(());
    }
    for _ in 0..ATTEMPTS {
        let now = deps.clock.now();
        let Some(Versioned { value: mut progress, version }) =
            repo::get_progress(deps.store.as_ref(), order_id).await?
        else {
            let business_type = business_type.map(String::as_str).unwrap_or_default();
            let tombstone = Progress::recalled_before_start(order_id, business_type, "AUDIT_REJECTED", now);
            match repo::create_progress(deps.store.as_ref(), &tombstone).await {
                Ok(_) => return Ok(()),
                Err(Error::Store(StoreError::ConditionFailed)) => continue,
                Err(e) => return Err(e),
            }
        };
        let outcome = progress.recall_all("AUDIT_REJECTED", now);
        if outcome.is_empty() {
            return repo::publish_pending(deps, progress, version, RECALLED).await;
        }
        let sent = messages::of(&progress, &outcome, now);
        progress.outbox.emit(RECALLED, sent);
        match repo::save(deps.store.as_ref(), &progress, version).await {
            Ok(version) => return repo::publish_pending(deps, progress, version, RECALLED).await,
            Err(Error::Store(StoreError::ConditionFailed)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(conflicts())
}

/// Reads a status report (as `POST /fulfilment/status` took it); its `occurred_at` must
/// lie in the event window around `now`.
pub fn parse_report(data: &Value, now: chrono::DateTime<chrono::Utc>) -> Result<(String, StatusReport)> {
    let f = Fields::root(data)?;
    let order_id = orderflow_shared::domain::ids::OrderId::parse("order_id", f.str("order_id")?)?.to_string();
    let occurred_at = f
        .opt_time_within("occurred_at", now, TimeWindow::EVENT)?
        .ok_or_else(|| Error::validation("occurred_at", "is required"))?;
    let report = StatusReport {
        system: f.str("system")?.to_string(),
        node: f.str("node")?.to_string(),
        status: f.str("status")?.to_string(),
        occurred_at,
    };
    Ok((order_id, report))
}

/// DOMAIN §3 steps 3–6, through the one transition helper: the progress decides
/// ([`Progress::apply`]); a report it has seen re-sends what is not yet out.
pub async fn status(deps: &Deps, (order_id, report): (String, StatusReport)) -> Result<()> {
    let cause = report.key();
    let load = || async {
        repo::get_progress(deps.store.as_ref(), &order_id)
            .await?
            .ok_or_else(|| Error::NotFound { what: "fulfilment of order", id: order_id.clone() })
    };
    let decide = |progress: &mut Progress| {
        if progress.seen.contains(&cause) {
            return Ok(Decision::AlreadyApplied { cause: cause.clone() });
        }
        let now = deps.clock.now();
        let outcome = if progress.is_over() {
            // Completed or recalled while the report was queued: acknowledged, no effect
            // (a recall before the start has no strategy to consult).
            progress.seen.push(cause.clone());
            Default::default()
        } else {
            let strategy = strategy(deps, &progress.business_type)?;
            progress
                .apply(&deps.rules.fulfilment, strategy, report.clone(), now)
                .map_err(|r| Error::validation(r.field, r.problem))?
        };
        Ok(Decision::Apply { cause: cause.clone(), messages: messages::of(progress, &outcome, now) })
    };
    if let Outcome::Applied(progress) = transition::apply_with(deps, ATTEMPTS, load, decide).await? {
        info!(order_id = %order_id, system = %report.system, status = %report.status, fulfilment = ?progress.status, "status applied");
    }
    Ok(())
}

fn conflicts() -> Error {
    Error::Store(StoreError::Backend("fulfilment kept changing under concurrent writes; retried on redelivery".into()))
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
