//! One schedule tick over every shard of the due index.

use std::time::{Duration, Instant};

use orderflow_shared::app::Deps;
use orderflow_shared::edge::metrics;
use orderflow_shared::store::{self, DUE_SHARDS};
use orderflow_shared::topology::REAUDIT_TICK as TICK;
use orderflow_shared::topology::SCHEDULED_RETRY;
use orderflow_shared::trace::{self, Actor, TraceContext};
use serde::Serialize;
use tracing::{info, info_span, warn, Instrument};

use crate::due::{self, Outcome};

/// Due orders read per index query.
const PAGE: usize = 100;

/// Whether the invocation must stop now to finish before its deadline.
pub trait Budget: Send + Sync {
    fn exhausted(&self) -> bool;
}

/// Never runs out: the local runtime and tests.
pub struct Unlimited;

impl Budget for Unlimited {
    fn exhausted(&self) -> bool {
        false
    }
}

/// Runs out `margin` before the Lambda deadline.
pub struct Deadline(pub Instant);

impl Deadline {
    pub fn after(remaining: Duration, margin: Duration) -> Deadline {
        Deadline(Instant::now() + remaining.saturating_sub(margin))
    }
}

impl Budget for Deadline {
    fn exhausted(&self) -> bool {
        Instant::now() >= self.0
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub requested: usize,
    pub expired: usize,
    /// Orders cancelled because their prepayment never came.
    pub cancelled: usize,
    /// Due orders another tick or a concurrent write got to first.
    pub skipped: usize,
    pub errors: usize,
    /// True when the budget ran out with work possibly left for the next tick.
    pub stopped_early: bool,
}

impl TickReport {
    /// Due orders this tick changed: requested, expired or cancelled (not the skipped).
    pub fn acted_on(&self) -> usize {
        self.requested + self.expired + self.cancelled
    }
}

/// When the next tick will find work: the earliest due time over every shard. The
/// local runtime uses it to replay hours of schedule without idle ticks.
pub async fn next_due(deps: &Deps) -> orderflow_shared::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let mut earliest = None;
    for shard in 0..DUE_SHARDS {
        if let Some(at) = store::earliest_due(deps.store.as_ref(), shard).await? {
            earliest = Some(earliest.map_or(at, |e: chrono::DateTime<chrono::Utc>| e.min(at)));
        }
    }
    Ok(earliest)
}

pub async fn tick(deps: &Deps, budget: &dyn Budget) -> TickReport {
    let now = deps.clock.now();
    let mut report = TickReport::default();
    for shard in 0..DUE_SHARDS {
        if !drain_shard(deps, shard, now, budget, &mut report).await {
            report.stopped_early = true;
            break;
        }
    }
    info!(
        requested = report.requested,
        expired = report.expired,
        cancelled = report.cancelled,
        skipped = report.skipped,
        errors = report.errors,
        stopped_early = report.stopped_early,
        "tick done"
    );
    metrics::processed(SCHEDULED_RETRY, report.acted_on(), report.errors);
    report
}

/// Works through one shard page by page, each page starting after the last one, so
/// entries this tick cannot act on (moved on by another tick, unreadable, skipped) never
/// hide the due ones behind them; `false` if the budget ran out.
async fn drain_shard(
    deps: &Deps,
    shard: u32,
    now: chrono::DateTime<chrono::Utc>,
    budget: &dyn Budget,
    report: &mut TickReport,
) -> bool {
    let mut after = None;
    loop {
        if budget.exhausted() {
            return false;
        }
        let page = match store::due_orders(deps.store.as_ref(), shard, now, PAGE, after).await {
            Ok(page) => page,
            Err(e) => {
                warn!(shard, error = %e, "reading due rules failed");
                report.errors += 1;
                return true;
            }
        };
        report.errors += page.unreadable;
        for order in page.orders {
            if budget.exhausted() {
                return false;
            }
            // The order's own trace (from its placement), so the re-audit's messages and
            // log lines carry the order's trace id.
            let context = order.value.trace.as_deref().and_then(TraceContext::parse);
            let context = context.unwrap_or_else(|| TraceContext::derived(order.value.id().as_str()));
            let span = info_span!("due", order_id = %order.value.id(), trace_id = %context.trace_id());
            let acted =
                trace::acting(Actor::Schedule(TICK.to_string()), due::handle(deps, order, now).instrument(span));
            match trace::scope(context, acted).await {
                Ok(Outcome::Requested) => report.requested += 1,
                Ok(Outcome::Expired) => report.expired += 1,
                Ok(Outcome::Cancelled) => report.cancelled += 1,
                Ok(Outcome::Skipped) => report.skipped += 1,
                Err(e) => {
                    warn!(error = %e, "due rule failed; the next tick retries it");
                    report.errors += 1;
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return true,
        }
    }
}
