//! DOMAIN §1 end to end: audit failures, provisional acceptance, notifications, the
//! re-audit schedule and its window, on both backends.

use chrono::Duration;
use serde_json::{json, Value};

use crate::scenario;
use crate::support::{audit_failed, audit_passed, Harness};

const ORDER_EVENTS: &str = "order-events";
const NOTIFICATIONS: &str = "handler-notifications";
const AUDIT_REQUESTS: &str = "audit-requests";

fn attempts(requests: &[orderflow_shared::adapters::embedded::Published]) -> Vec<u64> {
    requests.iter().filter_map(|m| m.message["data"]["attempt"].as_u64()).collect()
}

scenario!(first_retryable_failure_is_provisionally_accepted_with_a_rule_and_a_notification, |h: Harness| async move {
    h.dispatched_order("a-1").await;
    let at = h.now();
    h.audit_result("audit.failed", audit_failed("aud-1", "a-1", "STOCK_SHORTAGE", at)).await;
    let order = h.order("a-1").await;
    assert_eq!(order["audit_status"], "PROVISIONALLY_ACCEPTED");
    let rule = &order["reaudit_rule"];
    assert_eq!(
        rule["window_ends_at"].as_str(),
        Some((at + Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true).as_str())
    );
    assert_eq!(rule["attempts"], 1);
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.provisionally_accepted", "a-1").await.len(), 1);
    let notes = h.about(NOTIFICATIONS, "notification", "a-1").await;
    assert_eq!(notes.len(), 1);
    let note = &notes[0];
    assert_eq!((note.attributes["team"].as_str(), note.attributes["severity"].as_str()), ("inventory", "medium"));
    let data = &note.message["data"];
    assert_eq!(data["team"], "inventory");
    assert!(data["subject"].as_str().unwrap().contains("a-1"), "{data}");
    assert_eq!(data["failure"]["reason_code"], "STOCK_SHORTAGE");
    assert_eq!(data["audit_status"], "PROVISIONALLY_ACCEPTED");
    assert_eq!(data["user"]["email"], "l***@example.com");
    assert_eq!(data["user"]["phone"], "*********8000");
    assert!(!note.message.to_string().contains("li.lei@example.com"));
    assert!(!note.message.to_string().contains("0013 8000"));
});

scenario!(first_non_retryable_failure_is_rejected_without_a_rule, |h: Harness| async move {
    h.dispatched_order("a-2").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-2", "PRICE_MISMATCH", h.now())).await;
    let order = h.order("a-2").await;
    assert_eq!(order["audit_status"], "REJECTED");
    assert_eq!(order["reaudit_rule"], Value::Null);
    let rejected = h.about(ORDER_EVENTS, "order.audit.rejected", "a-2").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].message["data"]["reason_code"], "PRICE_MISMATCH");
    assert!(h.about(NOTIFICATIONS, "notification", "a-2").await.is_empty());
});

scenario!(repeat_failure_inside_the_window_keeps_the_rule_and_moves_its_next_attempt, |h: Harness| async move {
    h.dispatched_order("a-3").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-3", "STOCK_SHORTAGE", h.now())).await;
    let before = h.order("a-3").await["reaudit_rule"].clone();
    h.advance(3 * 60).await;
    h.audit_result("audit.failed", audit_failed("aud-2", "a-3", "STOCK_SHORTAGE", h.now())).await;
    let order = h.order("a-3").await;
    assert_eq!(order["audit_status"], "PROVISIONALLY_ACCEPTED");
    let after = &order["reaudit_rule"];
    assert_eq!(after["failures"], 2);
    assert_eq!(after["window_ends_at"], before["window_ends_at"]);
    assert_ne!(after["next_attempt_at"], before["next_attempt_at"]);
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.provisionally_accepted", "a-3").await.len(), 1);
    assert_eq!(h.about(NOTIFICATIONS, "notification", "a-3").await.len(), 1);
});

scenario!(the_schedule_re_audits_until_the_order_passes, |h: Harness| async move {
    h.dispatched_order("a-4").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-4", "DOWNSTREAM_TIMEOUT", h.now())).await;
    h.advance(6 * 60).await;
    assert_eq!(attempts(&h.about(AUDIT_REQUESTS, "audit.requested", "a-4").await), [1, 2]);
    h.advance(11 * 60).await;
    assert_eq!(attempts(&h.about(AUDIT_REQUESTS, "audit.requested", "a-4").await), [1, 2, 3]);
    h.audit_result("audit.passed", audit_passed("aud-9", "a-4", h.now())).await;
    let order = h.order("a-4").await;
    assert_eq!(order["audit_status"], "APPROVED");
    assert_eq!(order["reaudit_rule"], Value::Null);
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.approved", "a-4").await.len(), 1);
    // A retired rule is never due again.
    h.advance(2 * 3600).await;
    assert_eq!(attempts(&h.about(AUDIT_REQUESTS, "audit.requested", "a-4").await), [1, 2, 3]);
});

scenario!(the_window_closing_rejects_the_order_and_tells_the_docking_team, |h: Harness| async move {
    h.dispatched_order("a-5").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-5", "PAYMENT_DEDUCTION_ERROR", h.now())).await;
    h.advance(25 * 3600).await;
    let order = h.order("a-5").await;
    assert_eq!(order["audit_status"], "REJECTED");
    assert_eq!(order["reaudit_rule"], Value::Null);
    let requests = attempts(&h.about(AUDIT_REQUESTS, "audit.requested", "a-5").await);
    // Backoff 5, 10, 20, 40, 80, 160 minutes, then every 240 until the 24 h window closes.
    assert!(requests.len() >= 8 && requests.len() <= 12, "{requests:?}");
    assert_eq!(requests, (1..=requests.len() as u64).collect::<Vec<_>>());
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.rejected", "a-5").await.len(), 1);
    let notes = h.about(NOTIFICATIONS, "notification", "a-5").await;
    assert_eq!(notes.len(), 2, "provisional acceptance, then the final rejection");
    assert_eq!(notes[1].attributes["team"], "payments");
    assert_eq!(notes[1].attributes["severity"], "high");
});

scenario!(a_failure_after_the_window_deletes_the_rule_and_rejects, |h: Harness| async move {
    h.dispatched_order("a-6").await;
    let first = h.now();
    h.audit_result("audit.failed", audit_failed("aud-1", "a-6", "STOCK_SHORTAGE", first)).await;
    // The middle office reports a failure that happened after the window closed, before
    // any tick noticed the window's end (the clock moves; no schedule fires).
    h.rt.manual_clock().unwrap().advance(Duration::hours(30));
    h.audit_result("audit.failed", audit_failed("aud-2", "a-6", "STOCK_SHORTAGE", first + Duration::hours(30))).await;
    let order = h.order("a-6").await;
    assert_eq!(order["audit_status"], "REJECTED");
    assert_eq!(order["reaudit_rule"], Value::Null);
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.rejected", "a-6").await.len(), 1);
    assert_eq!(h.about(NOTIFICATIONS, "notification", "a-6").await.len(), 2);
});

scenario!(a_redelivered_failure_changes_nothing, |h: Harness| async move {
    h.dispatched_order("a-7").await;
    let failure = audit_failed("aud-1", "a-7", "STOCK_SHORTAGE", h.now());
    h.publish_raw("audit.failed", failure.clone()).await;
    h.publish_raw("audit.failed", failure.clone()).await;
    h.settle().await;
    h.audit_result("audit.failed", failure).await;
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.provisionally_accepted", "a-7").await.len(), 1);
    assert_eq!(h.about(NOTIFICATIONS, "notification", "a-7").await.len(), 1);
    assert_eq!(h.order("a-7").await["reaudit_rule"]["failures"], 1);
});

scenario!(a_redelivered_notification_is_sent_once, |h: Harness| async move {
    h.dispatched_order("a-8").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-8", "STOCK_SHORTAGE", h.now())).await;
    let body = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/sqs-notification.json")).unwrap();
    let event: Value = serde_json::from_str(&body).unwrap();
    let mut request: Value = serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    request["order"]["order_id"] = json!("a-8");
    request["notification_id"] = json!("a-8:notification:audit:aud-1");
    let queues = h.rt.broker();
    for _ in 0..2 {
        queues.send("notifications-queue", &request.to_string(), &Default::default()).await.unwrap();
    }
    h.settle().await;
    assert_eq!(h.about(NOTIFICATIONS, "notification", "a-8").await.len(), 1);
});

scenario!(overlapping_ticks_send_one_request_per_due_attempt, |h: Harness| async move {
    h.dispatched_order("a-9").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-9", "STOCK_SHORTAGE", h.now())).await;
    h.rt.manual_clock().unwrap().advance(Duration::minutes(6));
    let deps = &h.rt.deps;
    let now = h.now();
    // Two ticks read the due index before either acts on what they read...
    let id = orderflow_shared::domain::ids::OrderId::parse("order_id", "a-9").unwrap();
    let shard = orderflow_shared::domain::audit::shard_of("a-9", orderflow_shared::store::DUE_SHARDS);
    let due = orderflow_shared::store::due_orders(deps.store.as_ref(), shard, now, 100, None).await.unwrap();
    let seen = due.orders.into_iter().find(|o| o.value.id() == &id).expect("the rule is due");
    // ...then both act on it: the second's write finds the order moved on, and it skips it.
    let first = scheduled_retry::due::handle(deps, seen.clone(), now).await.unwrap();
    let second = scheduled_retry::due::handle(deps, seen, now).await.unwrap();
    assert_eq!((first, second), (scheduled_retry::due::Outcome::Requested, scheduled_retry::due::Outcome::Skipped));
    // And a whole tick right after finds nothing more due.
    assert_eq!(scheduled_retry::tick(deps, &scheduled_retry::Unlimited).await.requested, 0);
    h.settle().await;
    assert_eq!(attempts(&h.about(AUDIT_REQUESTS, "audit.requested", "a-9").await), [1, 2]);
});

scenario!(a_pass_before_a_late_failure_stays_approved, |h: Harness| async move {
    h.dispatched_order("a-10").await;
    let at = h.now();
    h.audit_result("audit.passed", audit_passed("aud-2", "a-10", at + Duration::minutes(1))).await;
    h.audit_result("audit.failed", audit_failed("aud-1", "a-10", "STOCK_SHORTAGE", at)).await;
    let order = h.order("a-10").await;
    assert_eq!(order["audit_status"], "APPROVED");
    assert_eq!(order["reaudit_rule"], Value::Null);
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.approved", "a-10").await.len(), 1);
    assert!(h.about(ORDER_EVENTS, "order.audit.provisionally_accepted", "a-10").await.is_empty());
    assert!(h.about(NOTIFICATIONS, "notification", "a-10").await.is_empty());
});

scenario!(a_poison_message_in_a_batch_of_ten_ends_in_the_dlq_and_the_rest_is_processed, |h: Harness| async move {
    for i in 0..9 {
        h.dispatched_order(&format!("b-{i}")).await;
    }
    for i in 0..9 {
        h.publish_raw("audit.failed", audit_failed(&format!("aud-{i}"), &format!("b-{i}"), "STOCK_SHORTAGE", h.now()))
            .await;
    }
    let (status, _) = h
        .post(
            "/_local/topics/audit-results",
            &json!({"message": "this is not JSON", "attributes": {"type": "audit.failed"}}),
        )
        .await;
    assert_eq!(status, 202);
    h.settle().await;
    for i in 0..9 {
        assert_eq!(h.order(&format!("b-{i}")).await["audit_status"], "PROVISIONALLY_ACCEPTED");
    }
    let dead = h.dead_letters("audit-results-queue").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (_, queues) = h.get("/_local/queues").await;
    let queue = queues.as_array().unwrap().iter().find(|q| q["name"] == "audit-results-queue").unwrap().clone();
    assert_eq!(
        (queue["visible"].as_u64(), queue["in_flight"].as_u64(), queue["dead_letters"].as_u64()),
        (Some(0), Some(0), Some(1))
    );
});

scenario!(bad_audit_results_end_in_the_dlq, |h: Harness| async move {
    h.dispatched_order("c-1").await;
    let (status, _) = h.post("/orders", &crate::support::retail_order("c-2", "cust-c-2", "200000.00")).await;
    assert_eq!(status, 201);
    let at = h.now();
    // An order still awaiting its prepayment was never sent for audit.
    h.publish_raw("audit.failed", audit_failed("aud-5", "c-2", "STOCK_SHORTAGE", at)).await;
    h.publish_raw("audit.failed", audit_failed("aud-1", "no-such-order", "STOCK_SHORTAGE", at)).await;
    h.publish_raw(
        "audit.failed",
        json!({"audit_id": "aud-2", "reason_code": "STOCK_SHORTAGE", "occurred_at": at.to_rfc3339()}),
    )
    .await;
    h.publish_raw("audit.exploded", audit_passed("aud-3", "c-1", at)).await;
    h.publish_raw("audit.failed", audit_failed("aud-4", "c-1", "MOON_PHASE", at)).await;
    h.settle().await;
    assert_eq!(h.dead_letters("audit-results-queue").await.len(), 5);
    assert_eq!(h.order("c-2").await["reaudit_rule"], Value::Null);
    assert_eq!(h.order("c-1").await["audit_status"], "PENDING");
});

scenario!(a_pass_after_the_final_rejection_changes_nothing_and_publishes_nothing, |h: Harness| async move {
    h.dispatched_order("late-1").await;
    h.audit_result("audit.failed", audit_failed("aud-1", "late-1", "PRICE_MISMATCH", h.now())).await;
    let before = h.published(ORDER_EVENTS).await.len();
    h.audit_result("audit.passed", audit_passed("aud-2", "late-1", h.now())).await;
    let order = h.order("late-1").await;
    assert_eq!(order["audit_status"], "REJECTED");
    assert_eq!(order["history"].as_array().unwrap().last().unwrap()["event"], "AUDIT_PASS_IGNORED");
    assert_eq!(h.published(ORDER_EVENTS).await.len(), before);
    assert!(h.about(ORDER_EVENTS, "order.audit.approved", "late-1").await.is_empty());
    assert!(h.dead_letters("audit-results-queue").await.is_empty());
});

scenario!(a_first_failure_reported_after_its_window_is_rejected_at_once, |h: Harness| async move {
    h.dispatched_order("late-2").await;
    // Reported 25 hours after it happened: its 24-hour retry window is already over.
    h.rt.manual_clock().unwrap().advance(Duration::hours(25));
    h.audit_result("audit.failed", audit_failed("aud-1", "late-2", "STOCK_SHORTAGE", h.now() - Duration::hours(25)))
        .await;
    let order = h.order("late-2").await;
    assert_eq!((order["audit_status"].as_str(), &order["reaudit_rule"]), (Some("REJECTED"), &Value::Null));
    assert!(h.about(ORDER_EVENTS, "order.audit.provisionally_accepted", "late-2").await.is_empty());
    assert_eq!(h.about(ORDER_EVENTS, "order.audit.rejected", "late-2").await.len(), 1);
    let notes = h.about(NOTIFICATIONS, "notification", "late-2").await;
    assert_eq!(notes.len(), 1, "the docking team hears of the final rejection only");
    assert_eq!(notes[0].message["data"]["user"]["name"], "L*** L***");
});

scenario!(a_dead_letter_moved_back_once_its_cause_is_fixed_is_consumed, |h: Harness| async move {
    // A failure reported before its order exists fails every try and is dead-lettered.
    h.publish_raw("audit.failed", audit_failed("aud-r", "late-1", "STOCK_SHORTAGE", h.now())).await;
    h.settle().await;
    assert_eq!(h.dead_letters("audit-results-queue").await.len(), 1);
    let redrive = "/_local/queues/audit-results-queue/dead-letters/redrive";
    let (status, dry) = h.post(redrive, &json!({"dry_run": true})).await;
    assert_eq!((status, dry["message_ids"].as_array().map(Vec::len)), (200, Some(1)), "{dry}");
    assert_eq!(h.dead_letters("audit-results-queue").await.len(), 1, "a dry run moves nothing");
    // The cause fixed, the dead letter is moved back and consumed.
    h.dispatched_order("late-1").await;
    let (status, moved) = h.post(redrive, &json!({})).await;
    assert_eq!((status, moved["message_ids"].clone()), (200, dry["message_ids"].clone()), "{moved}");
    h.settle().await;
    assert!(h.dead_letters("audit-results-queue").await.is_empty());
    assert_eq!(h.order("late-1").await["audit_status"], "PROVISIONALLY_ACCEPTED");
    assert_eq!(h.post("/_local/queues/nope/dead-letters/redrive", &json!({})).await.0, 404);
    assert_eq!(h.post(redrive, &json!({"dry_run": "yes"})).await.0, 422);
    assert_eq!(h.post(redrive, &json!({"max": 1})).await.0, 422);
});
