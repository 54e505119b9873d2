//! DOMAIN §3 end to end: staged fulfilment, waiting, exceptions and recalls, on both
//! backends.

use serde_json::{json, Value};

use crate::scenario;
use crate::support::{audit_failed, Harness};

const COMMANDS: &str = "fulfilment-commands";

/// Reports a status as a fulfilment system would, and lets the chain settle.
async fn report(h: &Harness, order: &str, system: &str, node: &str, status: &str) -> (u16, Value) {
    let body = json!({"order_id": order, "system": system, "node": node, "status": status,
                      "occurred_at": h.now().to_rfc3339()});
    let answer = h.post("/fulfilment/status", &body).await;
    h.settle().await;
    answer
}

async fn ok(h: &Harness, order: &str, system: &str, status: &str) {
    let (code, body) = report(h, order, system, system, status).await;
    assert_eq!(code, 202, "{system} {status}: {body}");
}

/// `(kind, system)` of every command sent for `order`, in order.
async fn commands(h: &Harness, order: &str) -> Vec<(String, String)> {
    h.published(COMMANDS)
        .await
        .iter()
        .filter(|m| m.message["subject"] == order)
        .map(|m| (m.attributes["type"].clone(), m.attributes["system"].clone()))
        .collect()
}

fn sent(kind: &str, systems: &[&str]) -> Vec<(String, String)> {
    systems.iter().map(|s| (kind.to_string(), s.to_string())).collect()
}

async fn fulfilment(h: &Harness, order: &str) -> Value {
    h.order(order).await["fulfilment"].clone()
}

async fn digital_order(h: &Harness, id: &str) {
    let body = json!({"order_id": id, "customer_id": "c-8", "business_type": "digital", "currency": "CNY",
        "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00", "tax": "6.00", "fee": "1.00"}],
        "product": {"kind": "MEMBERSHIP", "service_start": "2026-01-01T00:00:00Z", "service_end": "2027-01-01T00:00:00Z"},
        "payment": {"method": "BANK_CARD", "paid_at": "2026-01-01T00:00:00Z",
                    "splits": [{"channel": "BANK_CARD", "amount": "80.00"}, {"channel": "VIRTUAL_COINS", "amount": "27.00"}]}});
    let (status, answer) = h.post("/orders", &body).await;
    assert_eq!((status, answer["status"].as_str()), (201, Some("DISPATCHED")), "{answer}");
    h.settle().await;
}

scenario!(a_retail_order_is_fulfilled_stage_by_stage, |h: Harness| async move {
    h.dispatched_order("r-1").await;
    h.settle().await;
    assert_eq!(commands(&h, "r-1").await, sent("fulfilment.trigger", &["payment", "invoice"]));
    assert_eq!(fulfilment(&h, "r-1").await["status"], "IN_PROGRESS");
    ok(&h, "r-1", "payment", "DONE").await;
    ok(&h, "r-1", "invoice", "DONE").await;
    ok(&h, "r-1", "warehouse", "DONE").await;
    assert_eq!(commands(&h, "r-1").await, sent("fulfilment.trigger", &["payment", "invoice", "warehouse", "carrier"]));
    ok(&h, "r-1", "carrier", "DELIVERED").await;
    assert_eq!(fulfilment(&h, "r-1").await["status"], "COMPLETED");
    assert_eq!(h.about("order-events", "order.fulfilment.completed", "r-1").await.len(), 1);
    let trigger = &h.published(COMMANDS).await[0];
    assert_eq!(trigger.message["data"], json!({"order_id": "r-1", "system": "payment", "node": "payment", "stage": 0}));
});

scenario!(a_digital_order_is_fulfilled_stage_by_stage, |h: Harness| async move {
    digital_order(&h, "d-1").await;
    assert_eq!(commands(&h, "d-1").await, sent("fulfilment.trigger", &["entitlement"]));
    ok(&h, "d-1", "entitlement", "DONE").await;
    ok(&h, "d-1", "notification", "COMPLETED").await;
    assert_eq!(commands(&h, "d-1").await, sent("fulfilment.trigger", &["entitlement", "notification"]));
    assert_eq!(fulfilment(&h, "d-1").await["status"], "COMPLETED");
    assert_eq!(h.about("order-events", "order.fulfilment.completed", "d-1").await.len(), 1);
});

scenario!(an_exception_at_each_node_recalls_exactly_its_triggered_systems, |h: Harness| async move {
    // (order, statuses before the failure, failing node, systems cancelled)
    let cases: [(&str, &[&str], &str, &[&str]); 4] = [
        ("x-pay", &[], "payment", &["payment", "invoice"]),
        ("x-inv", &[], "invoice", &["invoice"]),
        ("x-wh", &["payment"], "warehouse", &["payment", "invoice", "warehouse"]),
        ("x-car", &["payment", "warehouse"], "carrier", &["payment", "invoice", "warehouse", "carrier"]),
    ];
    for (order, before, node, cancelled) in cases {
        h.dispatched_order(order).await;
        h.settle().await;
        for system in before {
            ok(&h, order, system, "DONE").await;
        }
        ok(&h, order, node, "FAILED").await;
        let cancels: Vec<_> = commands(&h, order).await.into_iter().filter(|(k, _)| k == "fulfilment.cancel").collect();
        assert_eq!(cancels, sent("fulfilment.cancel", cancelled), "{order}");
        assert_eq!(fulfilment(&h, order).await["status"], "EXCEPTION", "{order}");
        let exception = h.about("order-events", "order.fulfilment.exception", order).await;
        assert_eq!(exception.len(), 1, "{order}");
        assert_eq!(exception[0].message["data"]["node"], node);
    }
    digital_order(&h, "x-dig").await;
    ok(&h, "x-dig", "entitlement", "DONE").await;
    ok(&h, "x-dig", "notification", "FAILED").await;
    let cancels: Vec<_> = commands(&h, "x-dig").await.into_iter().filter(|(k, _)| k == "fulfilment.cancel").collect();
    assert_eq!(cancels, sent("fulfilment.cancel", &["entitlement", "notification"]));
    digital_order(&h, "x-ent").await;
    ok(&h, "x-ent", "entitlement", "FAILED").await;
    let cancels: Vec<_> = commands(&h, "x-ent").await.into_iter().filter(|(k, _)| k == "fulfilment.cancel").collect();
    assert_eq!(cancels, sent("fulfilment.cancel", &["entitlement"]));
    // After the recall a new report is refused; the report that recalled, posted again,
    // is still acknowledged as the same one.
    let (status, body) = report(&h, "x-ent", "notification", "notification", "COMPLETED").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    ok(&h, "x-ent", "entitlement", "FAILED").await;
});

scenario!(a_status_that_triggers_nothing_is_stored_and_a_later_one_resumes, |h: Harness| async move {
    h.dispatched_order("w-1").await;
    h.settle().await;
    ok(&h, "w-1", "invoice", "DONE").await;
    let waiting = fulfilment(&h, "w-1").await;
    assert_eq!(waiting["waiting"]["system"], "invoice", "{waiting}");
    assert_eq!(commands(&h, "w-1").await.len(), 2);
    ok(&h, "w-1", "payment", "DONE").await;
    assert_eq!(commands(&h, "w-1").await, sent("fulfilment.trigger", &["payment", "invoice", "warehouse"]));
    assert_eq!(fulfilment(&h, "w-1").await["waiting"], Value::Null);
});

scenario!(duplicated_and_reordered_statuses_trigger_each_system_once, |h: Harness| async move {
    h.dispatched_order("d-2").await;
    h.settle().await;
    // The warehouse reports before its stage started: held, applied when it starts.
    ok(&h, "d-2", "warehouse", "DONE").await;
    assert_eq!(commands(&h, "d-2").await.len(), 2);
    ok(&h, "d-2", "payment", "DONE").await;
    ok(&h, "d-2", "payment", "DONE").await;
    ok(&h, "d-2", "warehouse", "DONE").await;
    assert_eq!(commands(&h, "d-2").await, sent("fulfilment.trigger", &["payment", "invoice", "warehouse", "carrier"]));
    let progress = fulfilment(&h, "d-2").await;
    assert_eq!(progress["statuses"].as_array().unwrap().len(), 2, "{progress}");
});

scenario!(fifty_statuses_at_once_for_one_order_lose_no_update, |h: Harness| async move {
    h.dispatched_order("c-50").await;
    h.settle().await;
    let systems = ["payment", "invoice", "warehouse", "carrier"];
    // 16 distinct reports (every system at every node), most of them several times.
    for i in 0..50 {
        let body = json!({"order_id": "c-50", "system": systems[i % 4], "node": systems[(i / 4) % 4],
                          "status": "DONE", "occurred_at": h.now().to_rfc3339()});
        assert_eq!(h.post("/fulfilment/status", &body).await.0, 202);
    }
    h.settle().await;
    let progress = fulfilment(&h, "c-50").await;
    let seen: std::collections::BTreeSet<String> =
        progress["statuses"].as_array().unwrap().iter().map(|s| format!("{}|{}", s["system"], s["node"])).collect();
    assert_eq!(seen.len(), 16, "{progress}");
    assert_eq!(progress["statuses"].as_array().unwrap().len(), 16, "each report applied once");
    assert_eq!(commands(&h, "c-50").await, sent("fulfilment.trigger", &["payment", "invoice", "warehouse", "carrier"]));
});

scenario!(a_final_audit_rejection_recalls_every_triggered_system, |h: Harness| async move {
    h.dispatched_order("a-r").await;
    h.settle().await;
    ok(&h, "a-r", "payment", "DONE").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-r", "PRICE_MISMATCH", h.now())).await;
    let cancels: Vec<_> = commands(&h, "a-r").await.into_iter().filter(|(k, _)| k == "fulfilment.cancel").collect();
    assert_eq!(cancels, sent("fulfilment.cancel", &["payment", "invoice", "warehouse"]));
    let progress = fulfilment(&h, "a-r").await;
    assert_eq!(
        (progress["status"].as_str(), progress["recalled_for"].as_str()),
        (Some("EXCEPTION"), Some("AUDIT_REJECTED"))
    );
});

scenario!(bad_status_reports_are_refused_and_change_nothing, |h: Harness| async move {
    h.dispatched_order("b-1").await;
    h.settle().await;
    let cases = [
        (report(&h, "nobody", "payment", "payment", "DONE").await, 404, None),
        (report(&h, "b-1", "teleporter", "payment", "DONE").await, 422, Some("system")),
        (report(&h, "b-1", "payment", "payment", "MAYBE").await, 422, Some("status")),
        (report(&h, "b-1", "payment", "moon", "DONE").await, 422, Some("node")),
    ];
    for ((status, body), want, field) in cases {
        assert_eq!(status, want, "{body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{body}");
    }
    let (status, body) = h.send("POST", "/fulfilment/status", b"{not json").await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("body")));
    assert_eq!(commands(&h, "b-1").await.len(), 2);
    ok(&h, "b-1", "payment", "DONE").await;
    ok(&h, "b-1", "warehouse", "DONE").await;
    ok(&h, "b-1", "carrier", "DELIVERED").await;
    let (status, body) = report(&h, "b-1", "invoice", "invoice", "DONE").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
});

/// Truly concurrent on the embedded store (moto does not make conditional writes atomic
/// under concurrent requests, so the scenario above queues them instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_status_writers_converge_on_one_state() {
    let h = Harness::embedded().await;
    h.dispatched_order("cc-1").await;
    h.settle().await;
    let systems = ["payment", "invoice", "warehouse", "carrier"];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let deps = h.rt.deps.clone();
        let body = json!({"order_id": "cc-1", "system": systems[i % 4], "node": systems[(i / 4) % 4],
                          "status": "DONE", "occurred_at": h.now().to_rfc3339()});
        tasks.spawn(async move {
            // A writer that loses every optimistic round fails; its redelivery retries.
            loop {
                let report = fulfilment_dispatcher::dispatch::parse_report(&body, deps.clock.now()).unwrap();
                if fulfilment_dispatcher::dispatch::status(&deps, report).await.is_ok() {
                    break;
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let progress = fulfilment(&h, "cc-1").await;
    assert_eq!(progress["statuses"].as_array().unwrap().len(), 16, "{progress}");
    // Writers racing on the same report may each send its not-yet-marked messages: the
    // same ids again, which consumers drop. What counts is one trigger per system by id.
    let mut ids = std::collections::BTreeSet::new();
    let triggers: Vec<(String, String)> = h
        .published(COMMANDS)
        .await
        .iter()
        .filter(|m| m.message["subject"] == "cc-1" && ids.insert(m.message["id"].to_string()))
        .map(|m| (m.attributes["type"].clone(), m.attributes["system"].clone()))
        .collect();
    assert_eq!(triggers, sent("fulfilment.trigger", &["payment", "invoice", "warehouse", "carrier"]));
}
