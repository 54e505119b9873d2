//! `orderflow-local demo`: a scripted scenario through the running system, printing
//! every hop and checking that each expected hop happened.

use serde_json::{json, Value};

use crate::router;
use crate::runtime::Runtime;

pub struct Demo<'a> {
    rt: &'a Runtime,
    failures: Vec<String>,
    hops: usize,
}

impl<'a> Demo<'a> {
    pub fn new(rt: &'a Runtime) -> Demo<'a> {
        Demo { rt, failures: Vec::new(), hops: 0 }
    }

    /// Runs every chapter; `Ok(hops)` only if every expected hop happened.
    pub async fn run(mut self) -> Result<usize, Vec<String>> {
        self.risk_check().await;
        self.audit_chain().await;
        self.fulfilment().await;
        self.refunds().await;
        if self.failures.is_empty() {
            Ok(self.hops)
        } else {
            Err(self.failures)
        }
    }

    async fn request(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let text = body.as_ref().map(Value::to_string).unwrap_or_default();
        println!("  → {method} {path}");
        let reply = router::handle(self.rt, method, path, text.as_bytes()).await;
        let value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        (reply.status, value)
    }

    fn check(&mut self, ok: bool, what: String) {
        self.hops += 1;
        if ok {
            println!("    ✓ {what}");
        } else {
            println!("    ✗ {what}");
            self.failures.push(what);
        }
    }

    /// Checks that `topic` carries a message of `kind` about `subject`, once the outbox
    /// relay and the queues have settled.
    async fn expect_published(&mut self, topic: &str, kind: &str, subject: &str) {
        self.request("POST", "/_local/settle", None).await;
        let messages = self.rt.published(topic).await.ok().flatten().unwrap_or_default();
        let found = messages
            .iter()
            .find(|m| m.attributes.get("type").map(String::as_str) == Some(kind) && m.message["subject"] == subject);
        let detail = found.map(|m| format!(" {}", m.message["data"])).unwrap_or_default();
        self.check(found.is_some(), format!("{topic}: {kind} for {subject}{detail}"));
    }

    async fn risk_check(&mut self) {
        println!("\n== Risk check (DOMAIN §2)");
        let low = order("demo-low", "c-demo-1", "10.00");
        let (status, body) = self.request("POST", "/orders", Some(low.clone())).await;
        self.check(
            status == 201 && body["status"] == "DISPATCHED",
            format!("{status} {} risk {}", body["status"], body["risk"]),
        );
        self.expect_published("order-events", "order.dispatched", "demo-low").await;
        self.expect_published("audit-requests", "audit.requested", "demo-low").await;

        let (again, replay) = self.request("POST", "/orders", Some(low)).await;
        self.check(again == 200 && replay == body, format!("duplicate POST answers {again} with the first result"));

        let high = order("demo-high", "c-demo-2", "200000.00");
        let (status, body) = self.request("POST", "/orders", Some(high)).await;
        let prepayment = body["prepayment"].clone();
        self.check(
            status == 201 && body["status"] == "AWAITING_PREPAYMENT",
            format!("{status} {} prepayment {prepayment}", body["status"]),
        );
        self.expect_published("order-events", "order.prepayment_requested", "demo-high").await;
        let pay =
            json!({"payment_ref": "pay-demo-1", "amount": prepayment["amount"], "currency": prepayment["currency"]});
        let (status, body) = self.request("POST", "/orders/demo-high/prepayment", Some(pay)).await;
        self.check(status == 200 && body["status"] == "DISPATCHED", format!("{status} {}", body["status"]));
        self.expect_published("order-events", "order.dispatched", "demo-high").await;

        let blocked = order("demo-blocked", "c-blocked", "10.00");
        let (status, body) = self.request("POST", "/orders", Some(blocked)).await;
        self.check(
            status == 201 && body["status"] == "REJECTED",
            format!("{status} {} risk {}", body["status"], body["risk"]),
        );
        self.expect_published("order-events", "order.rejected", "demo-blocked").await;

        let mut bad = order("demo-bad", "c-demo-3", "10.00");
        bad["items"][0]["unit_price"] = json!(10.0);
        let (status, body) = self.request("POST", "/orders", Some(bad)).await;
        self.check(
            status == 422 && body["error"]["field"] == "items[0].unit_price",
            format!("{status} {}", body["error"]),
        );

        let (status, body) = self.request("GET", "/orders/demo-high", None).await;
        let events: Vec<&str> =
            body["history"].as_array().into_iter().flatten().filter_map(|h| h["event"].as_str()).collect();
        self.check(status == 200 && events == ["PREPAYMENT_REQUESTED", "DISPATCHED"], format!("history {events:?}"));
    }
}

impl Demo<'_> {
    async fn publish_audit_result(&mut self, kind: &str, data: Value) {
        let message = json!({"message": data, "attributes": {"type": kind}});
        let (status, _) = self.request("POST", "/_local/topics/audit-results", Some(message)).await;
        self.check(status == 202, format!("middle office publishes {kind} to audit-results"));
        self.request("POST", "/_local/settle", None).await;
    }

    async fn audit_requests(&self, order: &str) -> Vec<u64> {
        let messages = self.rt.published("audit-requests").await.ok().flatten().unwrap_or_default();
        messages
            .iter()
            .filter(|m| m.message["subject"] == order)
            .filter_map(|m| m.message["data"]["attempt"].as_u64())
            .collect()
    }

    async fn advance(&mut self, minutes: u32) -> Vec<u64> {
        self.request("POST", "/_local/clock/advance", Some(json!({"seconds": minutes * 60}))).await;
        self.audit_requests("demo-low").await
    }

    async fn audit_chain(&mut self) {
        println!("\n== Audit failure, notifier and scheduled retry (DOMAIN §1)");
        let at = self.rt.now().to_rfc3339();
        let failed = json!({"audit_id": "aud-demo-1", "order_id": "demo-low", "reason_code": "STOCK_SHORTAGE",
                            "reason": "2 units short at the warehouse", "occurred_at": at});
        self.publish_audit_result("audit.failed", failed).await;
        let (_, order) = self.request("GET", "/orders/demo-low", None).await;
        let rule = &order["reaudit_rule"];
        self.check(
            order["audit_status"] == "PROVISIONALLY_ACCEPTED",
            format!(
                "audit_status {}; re-audit rule until {}, next attempt {}",
                order["audit_status"], rule["window_ends_at"], rule["next_attempt_at"]
            ),
        );
        self.expect_published("order-events", "order.audit.provisionally_accepted", "demo-low").await;
        let notes = self.rt.published("handler-notifications").await.ok().flatten().unwrap_or_default();
        let note = notes.iter().find(|m| m.message["subject"] == "demo-low");
        let shown = note.map(|n| {
            format!(
                "team {} severity {}: {}",
                n.attributes["team"], n.attributes["severity"], n.message["data"]["subject"]
            )
        });
        self.check(note.is_some(), format!("handler-notifications: {}", shown.unwrap_or_else(|| "nothing".into())));
        let first = self.advance(6).await;
        self.check(first == [1, 2], format!("6 minutes later: audit.requested attempts {first:?}"));
        let second = self.advance(11).await;
        self.check(second == [1, 2, 3], format!("11 minutes later: audit.requested attempts {second:?}"));
        let passed =
            json!({"audit_id": "aud-demo-2", "order_id": "demo-low", "occurred_at": self.rt.now().to_rfc3339()});
        self.publish_audit_result("audit.passed", passed).await;
        let (_, order) = self.request("GET", "/orders/demo-low", None).await;
        self.check(
            order["audit_status"] == "APPROVED" && order["reaudit_rule"].is_null(),
            format!("audit_status {}, rule retired", order["audit_status"]),
        );
        self.expect_published("order-events", "order.audit.approved", "demo-low").await;
    }
}

impl Demo<'_> {
    /// Prints the fulfilment commands sent for `order` since `shown`, returning how many
    /// there are now.
    async fn print_commands(&mut self, order: &str, shown: usize) -> (usize, Vec<String>) {
        let all = self.rt.published("fulfilment-commands").await.ok().flatten().unwrap_or_default();
        let mine: Vec<_> = all.iter().filter(|m| m.message["subject"] == order).collect();
        let mut new = Vec::new();
        for m in mine.iter().skip(shown) {
            let line = format!("{} → {}", m.attributes["type"], m.attributes["system"]);
            println!("      {line}");
            new.push(line);
        }
        (mine.len(), new)
    }

    async fn status(
        &mut self,
        order: &str,
        system: &str,
        node: &str,
        status: &str,
        shown: usize,
    ) -> (usize, Vec<String>) {
        let body = json!({"order_id": order, "system": system, "node": node, "status": status,
                          "occurred_at": self.rt.now().to_rfc3339()});
        let (code, _) = self.request("POST", "/fulfilment/status", Some(body)).await;
        self.request("POST", "/_local/settle", None).await;
        self.check(code == 202, format!("{system} reports {status} at node {node}"));
        self.print_commands(order, shown).await
    }

    async fn fulfilment(&mut self) {
        println!("\n== Fulfilment dispatcher (DOMAIN §3)");
        println!("  demo-high is a retail order: payment and invoice first, then warehouse, then carrier");
        let (mut shown, first) = self.print_commands("demo-high", 0).await;
        self.check(first.len() == 2, format!("first set triggered: {first:?}"));
        for (system, status) in
            [("payment", "DONE"), ("invoice", "DONE"), ("warehouse", "DONE"), ("carrier", "DELIVERED")]
        {
            shown = self.status("demo-high", system, system, status, shown).await.0;
        }
        let (_, done) = self.request("GET", "/orders/demo-high", None).await;
        self.check(done["fulfilment"]["status"] == "COMPLETED", format!("fulfilment {}", done["fulfilment"]["status"]));
        self.expect_published("order-events", "order.fulfilment.completed", "demo-high").await;

        let (status, _) = self.request("POST", "/orders", Some(order("demo-recall", "c-demo-4", "10.00"))).await;
        self.request("POST", "/_local/settle", None).await;
        self.check(status == 201, "demo-recall placed and dispatched".into());
        let (shown, _) = self.print_commands("demo-recall", 0).await;
        let shown = self.status("demo-recall", "payment", "payment", "DONE", shown).await.0;
        let (_, recalled) = self.status("demo-recall", "warehouse", "warehouse", "FAILED", shown).await;
        let cancels = recalled.iter().filter(|l| l.starts_with("fulfilment.cancel")).count();
        self.check(cancels == 3, format!("the warehouse node's triggered systems recalled: {cancels} cancels"));
        self.expect_published("order-events", "order.fulfilment.exception", "demo-recall").await;
    }
}

fn order(id: &str, customer: &str, price: &str) -> Value {
    json!({
        "order_id": id, "customer_id": customer, "business_type": "retail", "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": price}],
        "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"}
    })
}

impl Demo<'_> {
    /// A digital order of one 120.00 item (20.00 off, 6.00 tax, 1.00 fee), paid 80.00
    /// by card and 27.00 in coins `paid_days_ago` before the runtime's clock.
    async fn digital(&mut self, id: &str, product: Value, paid_days_ago: i64) {
        let paid_at = (self.rt.now() - chrono::Duration::days(paid_days_ago)).to_rfc3339();
        let order = json!({
            "order_id": id, "customer_id": format!("c-{id}"), "business_type": "digital", "currency": "CNY",
            "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00",
                       "tax": "6.00", "fee": "1.00"}],
            "product": product,
            "payment": {"method": "BANK_CARD", "paid_at": paid_at,
                        "splits": [{"channel": "BANK_CARD", "amount": "80.00"}, {"channel": "VIRTUAL_COINS", "amount": "27.00"}]}
        });
        let (status, body) = self.request("POST", "/orders", Some(order)).await;
        self.check(status == 201, format!("{status} digital order {id} {}", body["status"]));
    }

    /// A 360-day membership that started `used_days` ago.
    fn membership(&self, used_days: i64) -> Value {
        let start = self.rt.now() - chrono::Duration::days(used_days);
        json!({"kind": "MEMBERSHIP", "service_start": start.to_rfc3339(),
               "service_end": (start + chrono::Duration::days(360)).to_rfc3339(),
               "entitlement": {"key": "KEY-DEMO", "user_flags": ["VIP"]}})
    }

    async fn refund(&mut self, request_id: &str, order_id: &str, scenario: &str) -> Value {
        let body = json!({"request_id": request_id, "order_id": order_id, "scenario": scenario});
        let (status, refund) = self.request("POST", "/refunds", Some(body)).await;
        self.check(
            status == 201,
            format!("{status} {} amount {} reasons {}", refund["status"], refund["amount"], refund["reasons"]),
        );
        refund
    }

    async fn refunds(&mut self) {
        println!("\n== Refund calculator for digital goods (DOMAIN §4)");
        self.digital("demo-vip", self.membership(120), 120).await;
        let refund = self.refund("demo-r-1", "demo-vip", "MEMBERSHIP").await;
        let split: Vec<String> = refund["channel"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} to {} as {}", c["channel"], c["amount"], c["destination"], c["form"]))
            .collect();
        self.check(
            refund["status"] == "APPROVED" && refund["amount"] == "70.67",
            format!(
                "a third of the term used: {} refunded, code {}, split {split:?}",
                refund["amount"], refund["code"]
            ),
        );
        self.expect_published("order-events", "refund.issued", &refund_id(&refund)).await;
        self.expect_published("order-events", "entitlement.updated", "demo-vip").await;

        let album = json!({"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5});
        self.digital("demo-album", album, 3).await;
        let refund = self.refund("demo-r-2", "demo-album", "ALBUM").await;
        self.check(
            refund["status"] == "PENDING_REVIEW" && refund["reviewer_role"] == "seller",
            format!("album sent to the {} reviewer: {}", refund["reviewer_role"], refund["reasons"]),
        );
        let id = refund_id(&refund);
        self.expect_published("order-events", "refund.review_requested", &id).await;
        let decision =
            json!({"decision_id": "demo-dec-1", "decision": "APPROVE", "reviewer": {"role": "seller", "id": "s-demo"}});
        let (status, approved) = self.request("POST", &format!("/refunds/{id}/review"), Some(decision)).await;
        self.check(
            status == 200 && approved["status"] == "APPROVED",
            format!(
                "{status} seller approves: {} refunded, entitlement {}",
                approved["amount"], approved["entitlement"]
            ),
        );
        self.expect_published("order-events", "refund.issued", &id).await;

        self.digital("demo-old", self.membership(300), 300).await;
        let refund = self.refund("demo-r-3", "demo-old", "MEMBERSHIP").await;
        self.check(refund["status"] == "REJECTED", format!("refused: {}", refund["reasons"]));
        self.expect_published("order-events", "refund.rejected", &refund_id(&refund)).await;
    }
}

/// Refund ids are random: the demo follows the ones the answers name.
fn refund_id(refund: &Value) -> String {
    refund["refund_id"].as_str().unwrap_or_default().to_string()
}
