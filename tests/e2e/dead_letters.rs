//! Dead letters with their reasons: a poison record is dead-lettered with why, listed
//! with it, moved back once its cause is fixed and processed; through the `/_local`
//! routes, `orderflow-local dead-letters` against a running runtime, and against a
//! deployed stack's outputs.

use std::sync::Arc;

use orderflow_local::dead_letters::cli::{self, Action};
use orderflow_local::dead_letters::http::Http;
use orderflow_local::dead_letters::stack::{url_output, Stack, TABLE_OUTPUT};
use orderflow_local::dead_letters::DeadLetterQueues;
use orderflow_local::{router, server, Backend, ClockMode, Options, Runtime};
use orderflow_shared::adapters::aws::moto::{sdk_config_for, unique_name, MotoServer};
use orderflow_shared::adapters::aws::provision::provision;
use orderflow_shared::topology::{Topology, AUDIT_RESULTS_QUEUE, TOPOLOGY};
use serde_json::{json, Value};

use crate::scenario;
use crate::support::{audit_failed, retail_order, Harness};

async fn call(rt: &Runtime, method: &str, path: &str, body: Value) -> (u16, Value) {
    let reply = router::handle(rt, method, path, body.to_string().as_bytes()).await;
    (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null))
}

async fn settle(rt: &Runtime) {
    assert_eq!(call(rt, "POST", "/_local/settle", json!({})).await.0, 200);
}

/// An audit failure for an order that does not exist yet: refused on every receive.
async fn poison(rt: &Runtime, order: &str) {
    let at = rt.now();
    let message =
        json!({"message": audit_failed("aud-dl", order, "STOCK_SHORTAGE", at), "attributes": {"type": "audit.failed"}});
    assert_eq!(call(rt, "POST", "/_local/topics/audit-results", message).await.0, 202);
    settle(rt).await;
}

async fn place(rt: &Runtime, order: &str) {
    let (status, body) = call(rt, "POST", "/orders", retail_order(order, &format!("cust-{order}"), "100.00")).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("DISPATCHED")), "{body}");
}

async fn audit_status(rt: &Runtime, order: &str) -> Value {
    call(rt, "GET", &format!("/orders/{order}"), Value::Null).await.1["audit_status"].clone()
}

/// The poison record's whole story through `queues`, which see the runtime `rt`.
async fn poison_is_listed_with_its_reason_then_redriven(rt: &Runtime, queues: &dyn DeadLetterQueues, order: &str) {
    poison(rt, order).await;
    let (status, listed) = call(rt, "GET", "/_local/queues/audit-results-queue/dead-letters", Value::Null).await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    let reason = &listed[0]["reason"];
    assert_eq!(reason["message_id"], listed[0]["message_id"], "{listed}");
    assert_eq!((reason["queue"].as_str(), reason["retryable"].as_bool()), (Some(AUDIT_RESULTS_QUEUE), Some(false)));
    assert!(reason["error"].as_str().is_some_and(|e| e.contains(order) && e.contains("not found")), "{reason}");
    assert!(reason["failed_at"].is_string() && reason["receive_count"] == 5, "{reason}");

    let id = listed[0]["message_id"].as_str().unwrap().to_string();
    let list = cli::run(queues, &Action::List { queue: AUDIT_RESULTS_QUEUE.into(), json: false }).await.unwrap();
    assert!(list.starts_with("1 dead letter in") && list.contains(&id) && list.contains("not found"), "{list}");
    let show = Action::Show { queue: AUDIT_RESULTS_QUEUE.into(), message_id: id.clone() };
    let shown: Value = serde_json::from_str(&cli::run(queues, &show).await.unwrap()).unwrap();
    assert_eq!(shown["reason"], *reason);
    let missing = Action::Show { queue: AUDIT_RESULTS_QUEUE.into(), message_id: "no-such-id".into() };
    assert!(cli::run(queues, &missing).await.unwrap_err().contains("no-such-id"));

    let dry = cli::run(queues, &Action::Redrive { queue: AUDIT_RESULTS_QUEUE.into(), dry_run: true }).await.unwrap();
    assert!(dry.starts_with("would move 1 dead letter") && dry.contains(&id), "{dry}");
    assert_eq!(queues.list(AUDIT_RESULTS_QUEUE).await.unwrap().len(), 1, "a dry run moves nothing");

    // The cause fixed (the order exists), the record is moved back and processed.
    place(rt, order).await;
    let moved = cli::run(queues, &Action::Redrive { queue: AUDIT_RESULTS_QUEUE.into(), dry_run: false }).await.unwrap();
    assert!(moved.starts_with("moved 1 dead letter") && moved.contains(&id), "{moved}");
    settle(rt).await;
    assert_eq!(audit_status(rt, order).await, "PROVISIONALLY_ACCEPTED");
    assert!(queues.list(AUDIT_RESULTS_QUEUE).await.unwrap().is_empty());

    let empty = cli::run(queues, &Action::Redrive { queue: AUDIT_RESULTS_QUEUE.into(), dry_run: false }).await.unwrap();
    assert!(empty.starts_with("nothing to move"), "{empty}");
    let unknown = cli::run(queues, &Action::Redrive { queue: "nope".into(), dry_run: true }).await.unwrap_err();
    assert!(unknown.contains("unknown queue \"nope\""), "{unknown}");
}

scenario!(a_poison_record_is_listed_with_its_reason_and_redriven_from_the_command, |h: Harness| async move {
    let rt = Arc::new(h.rt);
    let (address, serving) = server::bind(rt.clone(), 0).await.expect("binds");
    let serving = tokio::spawn(serving);
    let queues = Http::new(&format!("http://{address}"));
    poison_is_listed_with_its_reason_then_redriven(&rt, &queues, "dl-1").await;
    let (status, metrics) = call(&rt, "GET", "/_local/metrics", Value::Null).await;
    let counted =
        |name: &str| {
            metrics.as_array().into_iter().flatten().any(|m| {
                m["name"] == name && m["labels"]["function"] == "audit-failure" && m["value"].as_u64() >= Some(1)
            })
        };
    assert_eq!(status, 200, "{metrics}");
    for name in ["processed", "failed", "retried", "dead_lettered", "cold_starts"] {
        assert!(counted(name), "{name} not counted: {metrics}");
    }
    serving.abort();
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_stack_s_dead_letters_are_found_from_its_outputs_listed_and_redriven() {
    let endpoint_url = MotoServer::shared().endpoint.clone();
    let prefix = format!("{}-", unique_name("stack"));
    let options = Options {
        backend: Backend::Aws { endpoint_url: endpoint_url.clone() },
        rules: None,
        clock: ClockMode::manual_from_now(),
        resource_prefix: prefix.clone(),
        data_dir: None,
        faults: Default::default(),
        sync: Default::default(),
        keep_published: None,
    };
    let rt = Runtime::start(&options).await.expect("aws runtime starts on moto");
    // The stack the template would make, with the outputs it declares.
    let config = sdk_config_for(&endpoint_url).await;
    let made = provision(&config, &TOPOLOGY, &prefix).await.expect("provisioned already");
    let mut outputs = serde_json::Map::new();
    outputs.insert(TABLE_OUTPUT.into(), json!({"Value": made.table}));
    for q in TOPOLOGY.queues {
        outputs.insert(url_output(q.logical_id), json!({"Value": made.queue_urls[q.name]}));
        outputs.insert(url_output(q.dlq_logical_id), json!({"Value": made.queue_urls[&Topology::dlq_name(q.name)]}));
    }
    let template = json!({"Resources": {"Anchor": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs});
    let name = unique_name("orderflow-stack");
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    cloudformation.create_stack().stack_name(&name).template_body(template.to_string()).send().await.expect("stack");

    let stack = Stack::open(&config, &name).await.expect("outputs read");
    poison_is_listed_with_its_reason_then_redriven(&rt, &stack, "dl-stack-1").await;
    let missing = Stack::open(&config, "no-such-stack").await.err().expect("unknown stack");
    assert!(missing.contains("no-such-stack"), "{missing}");
}
