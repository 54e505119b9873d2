//! `orderflow-local cost-report`: what one order costs on AWS, measured rather than
//! guessed. Each flow runs on a fresh runtime on the aws backend, against moto_server
//! through a counting proxy ([`proxy`]), so every DynamoDB, SNS and SQS request the
//! functions' unchanged code makes is seen. The requests are sized and turned into
//! request units by DynamoDB's rules ([`meter`]), sorted into what an order makes on AWS
//! and what is the local runtime's own or a fixed cost ([`ledger`]), and priced
//! ([`crate::cost_prices`]) into a report ([`report`]). The flows are in [`flows`].

mod flows;
mod ledger;
mod meter;
mod proxy;
mod report;

use std::process::ExitCode;
use std::time::Instant;

use orderflow_local::{Backend, ClockMode, Options, Runtime};
use orderflow_shared::adapters::aws::moto::{unique_name, MotoServer};

pub use flows::Flow;
pub use report::{FlowReport, Report};

use ledger::Tally;
use proxy::Proxy;

/// Runs every flow and prints the report (JSON with `json`). Uses the moto_server at
/// `endpoint_url`, or starts one.
pub async fn run(endpoint_url: Option<String>, json: bool) -> ExitCode {
    let report = match measure(endpoint_url, &Flow::ALL).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("orderflow-local: cost-report: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("orderflow-local: cost-report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}

/// Measures `flows`, one after the other, each on its own runtime.
pub async fn measure(endpoint_url: Option<String>, flows: &[Flow]) -> Result<Report, String> {
    let started = Instant::now();
    let (_moto, upstream) = match endpoint_url {
        Some(url) => (None, url),
        None => {
            let starting = tokio::task::spawn_blocking(MotoServer::start).await.map_err(|e| e.to_string())?;
            let server = starting.map_err(|e| format!("cannot start moto_server: {e}"))?;
            let endpoint = server.endpoint.clone();
            (Some(server), endpoint)
        }
    };
    let proxy = Proxy::start(&upstream).await.map_err(|e| format!("cannot start the counting proxy: {e}"))?;
    let mut measured = Vec::new();
    for &flow in flows {
        measured.push(measure_one(flow, &proxy).await.map_err(|e| format!("flow ({}): {e}", flow.key()))?);
    }
    Ok(Report::new(measured, started.elapsed()))
}

async fn measure_one(flow: Flow, proxy: &Proxy) -> Result<FlowReport, String> {
    let options = Options {
        backend: Backend::Aws { endpoint_url: proxy.endpoint.clone() },
        rules: None,
        clock: ClockMode::Manual { start: flows::start() },
        resource_prefix: format!("{}-", unique_name("cost")),
        data_dir: None,
        faults: Default::default(),
        sync: Default::default(),
        keep_published: None,
    };
    let rt = Runtime::start(&options).await?;
    proxy.reset();
    let started = Instant::now();
    let mut driver = flows::Driver::new(&rt, proxy);
    flow.run(&mut driver).await?;
    let tally = Tally::count(&proxy.take());
    Ok(FlowReport::new(flow, &tally, driver.api_requests, &driver.saga, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost_prices::{micros, DYNAMODB_WRU};

    /// One flow end to end on moto: every request is seen, sized and priced.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retail_order_is_measured_end_to_end() {
        let report = measure(None, &[Flow::Retail]).await.unwrap_or_else(|e| panic!("{e}"));
        let flow = &report.flows[0];
        let count = |service: &str, operation: &str| {
            flow.requests.iter().find(|l| l.service == service && l.operation == operation).map_or(0, |l| l.requests)
        };
        // One write each: the placement, the approval, the fulfilment's start and its four
        // statuses; the messages ride in the writes (no publish marks).
        assert_eq!(count("DynamoDB", "PutItem"), 7, "{flow:#?}");
        // The fulfilment's start publishes its triggers to one topic in one batch.
        assert!(count("SNS", "Publish") >= 6, "{flow:#?}");
        assert!(count("SNS", "PublishBatch") >= 1, "{flow:#?}");
        assert!(count("SQS", "SendMessage") >= 4, "one per fulfilment status: {flow:#?}");
        // Each batch handed over is deleted in one request, as the event source mapping does.
        assert_eq!(count("SQS", "ReceiveMessage"), count("SQS", "DeleteMessageBatch"), "{flow:#?}");
        // The order enters gsi1 at creation: more units than writes.
        assert!(flow.wru > count("DynamoDB", "PutItem"), "{flow:#?}");
        assert!(flow.left_out.iter().all(|e| !e.why.is_empty()));
        assert_eq!(flow.api_requests, 5, "POST /orders and four statuses");
        // The API's, the queue consumers' and the outbox relay's (one per write).
        let relayed = count("DynamoDB", "PutItem");
        assert_eq!(flow.lambda_invocations, flow.api_requests + count("SQS", "ReceiveMessage") + relayed);
        let c = &flow.usd_per_million_orders;
        assert_eq!(c.total, c.dynamodb + c.sns + c.sqs + c.lambda + c.api_gateway);
        assert!(c.dynamodb >= micros(flow.wru, &DYNAMODB_WRU));
        assert_eq!(flow.step_functions.transitions, flow.step_functions.states.len() as u64);
    }
}
