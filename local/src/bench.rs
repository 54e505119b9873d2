//! `orderflow-local bench`: throughput measurements on the embedded backend. Run them
//! in release mode (`cargo run --release -p orderflow-local -- bench ...`); they report,
//! they do not assert.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Duration as Minutes;
use orderflow_shared::adapters::durable::SyncMode;
use orderflow_shared::adapters::embedded::World;
use orderflow_shared::domain::audit::Failure;
use orderflow_shared::messages::audit::AuditResult;
use serde_json::{json, Value};

use crate::{functions, pump, router, Options, Runtime};

fn order_body(i: usize) -> Value {
    json!({
        "order_id": format!("bench-{i}"), "customer_id": format!("c-{}", i % 5000), "business_type": "retail",
        "currency": "CNY", "items": [{"sku": "A-1", "quantity": 1, "unit_price": "10.00"}],
        "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"}
    })
}

/// `n` dispatched orders, each with a re-audit rule after a retryable failure.
async fn orders_with_rules(n: usize) -> World {
    let w = World::new();
    for i in 0..n {
        risk_check::orders::place(&w.deps, &orderflow_shared::edge::caller::Caller::Unrestricted, &order_body(i))
            .await
            .expect("order placed");
        let failure = Failure {
            audit_id: format!("aud-{i}"),
            reason_code: "STOCK_SHORTAGE".into(),
            reason: "short".into(),
            occurred_at: w.clock_now(),
        };
        let result = AuditResult::Failed { order_id: format!("bench-{i}"), failure };
        audit_failure::flow::apply(&w.deps, &result).await.expect("failure applied");
    }
    w
}

trait Now {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Now for World {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        orderflow_shared::ports::Clock::now(self.clock.as_ref())
    }
}

fn summary(label: &str, runs: &mut [Duration], per_run: usize, unit: &str) {
    runs.sort();
    let median = runs[runs.len() / 2];
    let rate = per_run as f64 / median.as_secs_f64();
    println!(
        "{label}: median {median:?} over {} runs (min {:?}, max {:?}); {rate:.0} {unit}/s",
        runs.len(),
        runs[0],
        runs[runs.len() - 1]
    );
}

/// One schedule tick over `n` due rules.
pub async fn tick(n: usize, runs: usize) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let w = orders_with_rules(n).await;
        w.clock.advance(Minutes::minutes(10));
        let started = Instant::now();
        let report = scheduled_retry::tick(&w.deps, &scheduled_retry::Unlimited).await;
        times.push(started.elapsed());
        assert_eq!(report.requested, n, "every rule was due: {report:?}");
    }
    summary(&format!("scheduled tick over {n} due rules"), &mut times, n, "rules");
}

/// `n` orders through `POST /orders` (risk check, dispatch, events).
pub async fn intake(n: usize, runs: usize) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let w = World::new();
        let bodies: Vec<Value> = (0..n).map(order_body).collect();
        let started = Instant::now();
        for body in &bodies {
            risk_check::orders::place(&w.deps, &orderflow_shared::edge::caller::Caller::Unrestricted, body)
                .await
                .expect("order placed");
        }
        times.push(started.elapsed());
    }
    summary(&format!("risk check intake of {n} orders"), &mut times, n, "orders");
}

/// The statuses that take a retail order from its first stage to the end.
const RETAIL_STATUSES: [(&str, &str); 4] =
    [("payment", "DONE"), ("invoice", "DONE"), ("warehouse", "DONE"), ("carrier", "DELIVERED")];

/// The whole chain on the embedded backend, in memory and then durable (a fresh data
/// directory per run, with each `--sync` mode): `n` retail orders placed, audited (passed) and fulfilled through
/// every stage, driven through the router and the pumps as `serve` runs them. Prints
/// orders per second from the first placement to the last `order.fulfilment.completed`,
/// and p50/p99 of each function's invocations (a hop).
pub async fn chain(n: usize, runs: usize, backends: &[Option<SyncMode>]) {
    for &sync in backends {
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut hops: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
        for run in 0..runs {
            let dir = sync.map(|_| std::env::temp_dir().join(format!("orderflow-bench-{}-{run}", std::process::id())));
            let options = Options { data_dir: dir.clone(), sync: sync.unwrap_or_default(), ..Options::embedded() };
            let rt = std::sync::Arc::new(Runtime::start(&options).await.expect("the runtime starts"));
            // The clients' requests, serialised before the clock starts, as a load
            // generator sends bodies it built beforehand.
            let phases = chain_requests(&rt, n);
            functions::hops::record(true);
            let (started, cpu_before) = (Instant::now(), cpu_time());
            drive_chain(&rt, phases).await;
            times.push(started.elapsed());
            cpu.extend(cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before)));
            check_chain(&rt, n).await;
            for (hop, mut took) in functions::hops::take() {
                hops.entry(hop).or_default().append(&mut took);
            }
            functions::hops::record(false);
            drop(rt);
            if let Some(dir) = dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        let backend = match sync {
            None => "in memory",
            Some(SyncMode::Normal) => "durable (SQLite data directory, --sync normal)",
            Some(SyncMode::Full) => "durable (SQLite data directory, --sync full)",
        };
        summary(&format!("whole chain of {n} orders, {backend}"), &mut times, n, "orders");
        cpu.sort();
        if let Some(median) = cpu.get(cpu.len() / 2) {
            let per_order = median.as_secs_f64() * 1e6 / n.max(1) as f64;
            println!("  CPU time: median {median:?} a run, {per_order:.0} µs an order (user and system, every thread)");
        }
        for (hop, mut took) in hops {
            took.sort();
            let at = |q: usize| took.get((took.len().saturating_sub(1)) * q / 100).copied().unwrap_or_default();
            println!("  {hop}: {} invocations, p50 {:?}, p99 {:?}", took.len(), at(50), at(99));
        }
    }
}

/// The CPU time this process has used so far, user and system, every thread (where the
/// OS reports it): steadier than the rate on a machine whose speed drifts, and what
/// bounds it when every core is busy.
fn cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{getrusage, UsageWho};
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let of = |t: nix::sys::time::TimeVal| {
            Some(
                Duration::from_secs(u64::try_from(t.tv_sec()).ok()?)
                    + Duration::from_micros(u64::try_from(t.tv_usec()).ok()?),
            )
        };
        Some(of(usage.user_time())? + of(usage.system_time())?)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// How many callers send the chain's requests at once, as clients of `serve` would.
const CLIENTS: usize = 4;

/// A request of the chain: a path and its JSON body.
type Request = (String, Vec<u8>);

/// POSTs every request through the router, from [`CLIENTS`] callers at once.
async fn post_all(rt: &std::sync::Arc<Runtime>, requests: Vec<Request>) {
    let mut shares: Vec<Vec<Request>> = (0..CLIENTS).map(|_| Vec::new()).collect();
    for (i, request) in requests.into_iter().enumerate() {
        if let Some(share) = shares.get_mut(i % CLIENTS) {
            share.push(request);
        }
    }
    let mut clients = tokio::task::JoinSet::new();
    for share in shares {
        let rt = rt.clone();
        clients.spawn(async move {
            for (path, body) in share {
                let reply = router::handle(&rt, "POST", &path, &body).await;
                assert!(reply.status < 300, "POST {path}: {} {}", reply.status, reply.body);
            }
        });
    }
    while let Some(client) = clients.join_next().await {
        client.expect("a client ran to its end");
    }
}

/// The chain's requests for `n` orders, phase by phase: the placements, the audits'
/// results, then each fulfilment status in turn.
fn chain_requests(rt: &Runtime, n: usize) -> Vec<Vec<Request>> {
    let request = |path: &str, body: Value| (path.to_string(), body.to_string().into_bytes());
    let orders = (0..n).map(|i| {
        let mut body = order_body(i);
        body["customer_id"] = json!(format!("c-{i}"));
        request("/orders", body)
    });
    let at = rt.now().to_rfc3339();
    let audits = (0..n).map(|i| {
        let passed = json!({"audit_id": format!("a-{i}"), "order_id": format!("bench-{i}"), "occurred_at": at});
        request("/_local/topics/audit-results", json!({"message": passed, "attributes": {"type": "audit.passed"}}))
    });
    let mut phases = vec![orders.collect(), audits.collect()];
    for (system, status) in RETAIL_STATUSES {
        let reports = (0..n).map(|i| {
            let report = json!({"order_id": format!("bench-{i}"), "system": system, "node": system,
                                "status": status, "occurred_at": at});
            request("/fulfilment/status", report)
        });
        phases.push(reports.collect());
    }
    phases
}

/// Sends each phase's requests, then waits for the chain to settle before the next, as
/// `serve` runs it: the event sources polled side by side while requests come in.
async fn drive_chain(rt: &std::sync::Arc<Runtime>, phases: Vec<Vec<Request>>) {
    let pollers = pump::Pollers::start(rt, Duration::from_millis(1));
    for phase in phases {
        post_all(rt, phase).await;
        pollers.idle(rt, Duration::from_millis(1), Duration::from_secs(3600)).await.expect("the chain settles");
    }
}

/// Every one of the `n` orders' fulfilment completed (checked after the clock stops:
/// reading the whole published log back is not part of the chain).
async fn check_chain(rt: &Runtime, n: usize) {
    let events = rt.published("order-events").await.ok().flatten().unwrap_or_default();
    let completed =
        events.iter().filter(|m| m.attributes.get("type").map(String::as_str) == Some("order.fulfilment.completed"));
    assert_eq!(completed.count(), n, "every order's fulfilment completed");
}
