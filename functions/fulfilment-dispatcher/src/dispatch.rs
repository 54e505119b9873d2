//! The queue consumer. Each message is applied with one versioned write of the order's
//! progress carrying the messages it causes (retried on a conflicting write, so
//! concurrent statuses lose no update); the outbox relay sends them. A redelivery
//! changes nothing and sends nothing.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::fulfilment::{Progress, StatusReport};
use orderflow_shared::domain::policy::fulfilment::Strategy;
use orderflow_shared::edge::sqs_batch::{self, Record};
use orderflow_shared::error::{Error, Result, StoreError};
use orderflow_shared::input::{strict_json, Fields, TimeWindow};
use orderflow_shared::messages::fulfilment;
use orderflow_shared::store::transition::{self, Decision, Outcome};
use orderflow_shared::store::{self, Versioned};
use serde_json::Value;
use tracing::info;

/// The `type` attribute of a queued status report.
pub const STATUS_REPORTED: &str = "fulfilment.status";
/// Optimistic-write rounds before the record is left to its redelivery: the statuses
/// of one order's systems arrive together.
const ATTEMPTS: usize = 20;

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch::process(deps, event, |record: Record| async move {
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
    // Started before (or recalled before it could start): nothing more to do.
    if store::get_progress(deps.store.as_ref(), order_id).await?.is_some() {
        return Ok(());
    }
    let now = deps.clock.now();
    let (progress, outcome) = Progress::start(order_id, business_type, strategy(deps, business_type)?, now);
    let messages = fulfilment::of(&progress, &outcome, now);
    match store::create_progress(deps.store.as_ref(), &progress, messages).await {
        Ok(_) => {
            info!(order_id, business_type, "fulfilment started");
            Ok(())
        }
        // A concurrent delivery, or the recall, wrote it first.
        Err(Error::Store(StoreError::ConditionFailed)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A final audit rejection recalls every triggered system (or, if fulfilment has not
/// started, makes sure it never does).
async fn audit_rejected(deps: &Deps, data: &Value, business_type: Option<&String>) -> Result<()> {
    let f = Fields::root(data)?;
    let order_id = f.str("order_id")?;
    if data.get("final").and_then(Value::as_bool) == Some(false) {
        return Ok(());
    }
    if store::get_progress(deps.store.as_ref(), order_id).await?.is_none() {
        let business_type = business_type.map(String::as_str).unwrap_or_default();
        let tombstone = Progress::recalled_before_start(order_id, business_type, "AUDIT_REJECTED", deps.clock.now());
        match store::create_progress(deps.store.as_ref(), &tombstone, Vec::new()).await {
            Ok(_) => return Ok(()),
            // Fulfilment started meanwhile: recall it below.
            Err(Error::Store(StoreError::ConditionFailed)) => {}
            Err(e) => return Err(e),
        }
    }
    let decide = |progress: &mut Progress| {
        let now = deps.clock.now();
        let outcome = progress.recall_all("AUDIT_REJECTED", now);
        if outcome.is_empty() {
            return Ok(Decision::AlreadyApplied);
        }
        Ok(Decision::Apply { messages: fulfilment::of(progress, &outcome, now) })
    };
    transition::apply_with(deps, ATTEMPTS, || load(deps, order_id), decide).await?;
    Ok(())
}

async fn load(deps: &Deps, order_id: &str) -> Result<Versioned<Progress>> {
    store::get_progress(deps.store.as_ref(), order_id)
        .await?
        .ok_or_else(|| Error::NotFound { what: "fulfilment of order", id: order_id.to_string() })
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
/// ([`Progress::apply`]); a report it has seen changes nothing.
pub async fn status(deps: &Deps, (order_id, report): (String, StatusReport)) -> Result<()> {
    let cause = report.key();
    let decide = |progress: &mut Progress| {
        if progress.seen.contains(&cause) {
            return Ok(Decision::AlreadyApplied);
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
        Ok(Decision::Apply { messages: fulfilment::of(progress, &outcome, now) })
    };
    if let Outcome::Applied(progress) = transition::apply_with(deps, ATTEMPTS, || load(deps, &order_id), decide).await?
    {
        info!(order_id = %order_id, system = %report.system, status = %report.status, fulfilment = ?progress.status, "status applied");
    }
    Ok(())
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
