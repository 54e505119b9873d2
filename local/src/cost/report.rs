//! The report: per flow, the requests an order makes by service and operation, its
//! request units, and its cost per million orders at the prices of `cost_prices`; as a
//! plain-text table or as JSON (dollars as numbers).

use std::fmt;
use std::time::Duration;

use orderflow_shared::ports::Index;
use serde::{Serialize, Serializer};

use super::flows::Flow;
use super::ledger::{Excluded, Line, Tally};
use super::proxy::Service;
use crate::cost_prices::{self as prices, dollars, micros, Price};

pub const ASSUMPTIONS: [&str; 12] = [
    "List prices, no free tier, no savings plans.",
    "Each flow runs alone on a fresh runtime (its own table, topics and queues on moto_server); \
     provisioning is not counted, nor the report's own checks of the outcome.",
    "WRU: 1 per KB started of the larger of the item before and after the write; each index entry put, \
     updated or deleted costs its entry's units (both indexes hold keys only, so an entry is written only \
     when its key appears, moves or goes, at 1 unit), a moved index key twice; a transaction twice; a \
     failed condition the existing item's units (at least 1). A write's messages are stored deflated in \
     the item's outbox attribute and count in its size.",
    "RRU: 1 per 4 KB started of the item (GetItem) or of all items returned (Query), half when eventually \
     consistent (every index query), at least half a unit.",
    "SNS publishes and SQS requests: 1 per 64 KB started of body and attributes (a PublishBatch of up to 10 \
     messages: of all its entries together); SNS deliveries to SQS are free. The middle office's publishes \
     of audit results are counted.",
    "Event source mappings: one invocation, one ReceiveMessage and one delete per batch; every message is \
     its own batch here (one order at a time). The outbox relay: one invocation per committed write (its \
     stream record is a batch of its own here); Lambda's reads of the table's stream are free and left \
     out.",
    "Lambda duration is estimated, not measured: 128 MB x (20 ms an invocation + 10 ms per AWS request \
     the function makes), arm64.",
    "Left out as the local runtime's own (nothing like them is deployed): the tap queues (one per topic, \
     recording what was published for GET /_local/topics; the flows never read them and SNS deliveries to \
     them are free), settle's GetQueueAttributes, the pump's ChangeMessageVisibility, and the manual \
     clock's Limit-1 gsi2 queries for the next due tick.",
    "Fixed, not per order: the schedule's tick every minute (an invocation, 16 gsi2 queries) and the event \
     source mappings' empty polls. The tick's work on the order (its query that finds it, the read of the \
     order and the one conditional write) is counted; the tick's invocation is not.",
    "Not counted: CloudWatch Logs ($0.50 per GB ingested), data transfer (none within the region), KMS \
     (AWS managed keys).",
    "Kept: what the order's items and index entries keep for good (100 bytes of overhead each; items \
     with a TTL left out), priced for a month.",
    "Step Functions line, for comparison, transitions alone (the saga would still call Lambda, DynamoDB \
     and SNS): one Standard execution per order (and per refund) entering a Task per call, a \
     task-token Task per outside answer, a Choice per branch on it, a Wait per re-audit backoff, a \
     Parallel for audit beside fulfilment and per two-system stage, and a Succeed.",
];

#[derive(Debug, Serialize)]
pub struct Report {
    pub region: &'static str,
    pub prices_checked: &'static str,
    pub prices: Vec<Price>,
    pub assumptions: Vec<&'static str>,
    pub flows: Vec<FlowReport>,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct FlowReport {
    pub flow: &'static str,
    pub title: &'static str,
    pub requests: Vec<Line>,
    pub left_out: Vec<Excluded>,
    pub wru: u64,
    /// Of `wru`, what each index's entries took: 0 for an index the flow's items are
    /// not in (a sparse index).
    pub index_wru: std::collections::BTreeMap<&'static str, u64>,
    pub rru: f64,
    pub api_requests: u64,
    pub lambda_invocations: u64,
    pub lambda_gb_seconds: f64,
    pub kept_bytes: u64,
    pub usd_per_million_orders: Costs,
    #[serde(serialize_with = "usd")]
    pub storage_usd_per_million_orders_a_month: u64,
    pub step_functions: Saga,
    pub seconds: f64,
}

/// µ$ per million orders (dollars in JSON).
#[derive(Debug, Serialize)]
pub struct Costs {
    #[serde(serialize_with = "usd")]
    pub dynamodb: u64,
    #[serde(serialize_with = "usd")]
    pub sns: u64,
    #[serde(serialize_with = "usd")]
    pub sqs: u64,
    #[serde(serialize_with = "usd")]
    pub lambda: u64,
    #[serde(serialize_with = "usd")]
    pub api_gateway: u64,
    #[serde(serialize_with = "usd")]
    pub total: u64,
}

#[derive(Debug, Serialize)]
pub struct Saga {
    pub transitions: u64,
    #[serde(serialize_with = "usd")]
    pub usd_per_million_orders: u64,
    pub states: Vec<&'static str>,
}

fn usd<S: Serializer>(micros: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(*micros as f64 / 1e6)
}

impl Report {
    pub fn new(flows: Vec<FlowReport>, took: Duration) -> Report {
        Report {
            region: "us-east-1",
            prices_checked: prices::CHECKED,
            prices: prices::ALL.to_vec(),
            assumptions: ASSUMPTIONS.to_vec(),
            flows,
            seconds: took.as_secs_f64(),
        }
    }
}

impl FlowReport {
    pub fn new(flow: Flow, tally: &Tally, api_requests: u64, saga: &[&'static str], took: Duration) -> FlowReport {
        let invocations = api_requests + tally.queue_invocations;
        let mb_ms = prices::LAMBDA_MEMORY_MB
            * (invocations * prices::LAMBDA_BASE_MS + tally.function_calls * prices::LAMBDA_MS_PER_CALL);
        let dynamodb = micros(tally.wru(), &prices::DYNAMODB_WRU)
            + prices::micros_for_halves(tally.rru_halves(), &prices::DYNAMODB_RRU);
        let lambda = micros(invocations, &prices::LAMBDA_REQUEST) + prices::lambda_duration_micros(mb_ms);
        let mut costs = Costs {
            dynamodb,
            sns: micros(tally.billed(Service::Sns), &prices::SNS_PUBLISH),
            sqs: micros(tally.billed(Service::Sqs), &prices::SQS_REQUEST),
            lambda,
            api_gateway: micros(api_requests, &prices::API_GATEWAY_HTTP),
            total: 0,
        };
        costs.total = costs.dynamodb + costs.sns + costs.sqs + costs.lambda + costs.api_gateway;
        let transitions = saga.len() as u64;
        FlowReport {
            flow: flow.key(),
            title: flow.title(),
            requests: tally.lines.clone(),
            left_out: tally.excluded.clone(),
            wru: tally.wru(),
            index_wru: Index::ALL.iter().map(|i| i.name()).zip(tally.index_wru).collect(),
            rru: tally.rru_halves() as f64 / 2.0,
            api_requests,
            lambda_invocations: invocations,
            lambda_gb_seconds: mb_ms as f64 / 1024.0 / 1000.0,
            kept_bytes: tally.kept_bytes,
            usd_per_million_orders: costs,
            storage_usd_per_million_orders_a_month: prices::storage_micros(tally.kept_bytes),
            step_functions: Saga {
                transitions,
                usd_per_million_orders: micros(transitions, &prices::STEP_FUNCTIONS_TRANSITION),
                states: saga.to_vec(),
            },
            seconds: took.as_secs_f64(),
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.iter().map(|l| l.requests).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Cost per order on AWS, {} on-demand prices checked {}", self.region, self.prices_checked)?;
        for assumption in &self.assumptions {
            writeln!(f, "- {assumption}")?;
        }
        for flow in &self.flows {
            write!(f, "\n{flow}")?;
        }
        writeln!(f, "\nSummary: per order, and $ per million orders")?;
        writeln!(
            f,
            "{:<5}{:>9}{:>6}{:>7}{:>13}{:>9}{:>12}{:>13}{:>9}",
            "flow", "requests", "WRU", "RRU", "invocations", "$ total", "$ kept/mo", "SFN states", "$ SFN"
        )?;
        for flow in &self.flows {
            let saga = &flow.step_functions;
            writeln!(
                f,
                "({}){:>11}{:>6}{:>7.1}{:>13}{:>9}{:>12}{:>13}{:>9}",
                flow.flow,
                flow.requests(),
                flow.wru,
                flow.rru,
                flow.lambda_invocations,
                dollars(flow.usd_per_million_orders.total, 2),
                dollars(flow.storage_usd_per_million_orders_a_month, 2),
                saga.transitions,
                dollars(saga.usd_per_million_orders, 2),
            )?;
        }
        writeln!(f, "\nmeasured in {:.1} s", self.seconds)
    }
}

impl fmt::Display for FlowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "({}) {}", self.flow, self.title)?;
        writeln!(f, "  {:<9}{:<21}{:>9}{:>8}{:>6}{:>7}", "service", "operation", "requests", "billed", "WRU", "RRU")?;
        for l in &self.requests {
            let rru = l.rru_halves as f64 / 2.0;
            writeln!(
                f,
                "  {:<9}{:<21}{:>9}{:>8}{:>6}{:>7.1}",
                l.service, l.operation, l.requests, l.billed, l.wru, rru
            )?;
        }
        let billed: u64 = self.requests.iter().map(|l| l.billed).sum();
        writeln!(f, "  {:<30}{:>9}{billed:>8}{:>6}{:>7.1}", "total", self.requests(), self.wru, self.rru)?;
        let indexes: Vec<String> = self.index_wru.iter().map(|(index, wru)| format!("{index} {wru}")).collect();
        writeln!(f, "  of the WRU, index entries: {}", indexes.join(", "))?;
        writeln!(
            f,
            "  {} API Gateway requests; {} Lambda invocations, {:.3} GB-s estimated",
            self.api_requests, self.lambda_invocations, self.lambda_gb_seconds
        )?;
        let c = &self.usd_per_million_orders;
        writeln!(
            f,
            "  $ per million orders: DynamoDB {}, SNS {}, SQS {}, Lambda {}, API Gateway {}: {}",
            dollars(c.dynamodb, 2),
            dollars(c.sns, 2),
            dollars(c.sqs, 2),
            dollars(c.lambda, 2),
            dollars(c.api_gateway, 2),
            dollars(c.total, 2)
        )?;
        writeln!(
            f,
            "  kept: {} bytes an order, ${} a month per million orders",
            self.kept_bytes,
            dollars(self.storage_usd_per_million_orders_a_month, 2)
        )?;
        let saga = &self.step_functions;
        writeln!(
            f,
            "  Step Functions Standard saga of the same steps: {} state transitions, ${} per million orders",
            saga.transitions,
            dollars(saga.usd_per_million_orders, 2)
        )?;
        for e in &self.left_out {
            writeln!(f, "  left out: {} {} {} ({})", e.requests, e.service, e.operation, e.why)?;
        }
        Ok(())
    }
}
