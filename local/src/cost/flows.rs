//! The flows the cost report measures, driven through the router as the end-to-end tests
//! drive it, and the states a Step Functions saga of the same steps would enter.
//!
//! Saga model (an assumption, for the comparison line): one Standard execution per order
//! (and one per refund), entering a Task per call (a Lambda decision, a DynamoDB write, a
//! publish), a Task with a task token per wait for an outside answer (an audit result, a
//! fulfilment system's status, a prepayment), a Choice per branch on that answer, a Wait
//! per re-audit backoff, a Parallel for the audit beside the fulfilment (and one for a
//! stage of two systems), and a final Succeed. Every state entered is one transition.

use chrono::{DateTime, Duration, Utc};
use orderflow_local::{router, Runtime};
use serde_json::{json, Value};

use super::proxy::Proxy;

const PLACE: &[&str] = &["ScoreRisk", "SaveOrder", "RiskDecision?", "PublishDispatched"];
const PLACE_HIGH_RISK: &[&str] = &[
    "ScoreRisk",
    "SaveOrder",
    "RiskDecision?",
    "PublishPrepaymentRequested",
    "AwaitPrepayment",
    "RecordPrepayment",
    "PublishDispatched",
];
const AUDIT_BESIDE_FULFILMENT: &[&str] = &["AuditAndFulfil"];
const AUDIT_PASSED: &[&str] = &["RequestAudit", "AuditResult?", "RecordApproval", "PublishApproved"];
const AUDIT_FAILED: &[&str] =
    &["RequestAudit", "AuditResult?", "RecordProvisionalAcceptance", "PublishProvisionallyAccepted", "Notify"];
const REAUDIT_FAILED: &[&str] = &["WaitBackoff", "RequestAudit", "AuditResult?", "RecordFailure"];
const REAUDIT_PASSED: &[&str] = &["WaitBackoff", "RequestAudit", "AuditResult?", "RecordApproval", "PublishApproved"];
const FULFIL_RETAIL: &[&str] = &[
    "PaymentAndInvoice",
    "TriggerPayment",
    "PaymentStatus?",
    "TriggerInvoice",
    "InvoiceStatus?",
    "TriggerWarehouse",
    "WarehouseStatus?",
    "TriggerCarrier",
    "CarrierStatus?",
    "RecordCompleted",
    "PublishCompleted",
];
const FULFIL_DIGITAL: &[&str] = &[
    "TriggerEntitlement",
    "EntitlementStatus?",
    "TriggerNotification",
    "NotificationStatus?",
    "RecordCompleted",
    "PublishCompleted",
];
const REFUND: &[&str] = &[
    "CalculateRefund",
    "RefundDecision?",
    "SaveRefundAndLedger",
    "PublishRefundIssued",
    "PublishEntitlement",
    "Succeed",
];
const SUCCEED: &[&str] = &["Succeed"];

/// The clock every flow starts at, so that sizes (which include timestamps) repeat.
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Retail,
    Reaudited,
    Prepaid,
    DigitalRefunded,
}

impl Flow {
    pub const ALL: [Flow; 4] = [Flow::Retail, Flow::Reaudited, Flow::Prepaid, Flow::DigitalRefunded];

    pub fn key(self) -> &'static str {
        match self {
            Flow::Retail => "a",
            Flow::Reaudited => "b",
            Flow::Prepaid => "c",
            Flow::DigitalRefunded => "d",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Flow::Retail => "retail order placed, audit passed, fulfilled (payment, invoice, warehouse, carrier)",
            Flow::Reaudited => "retail order, audit failed, three re-audits (two fail, the third passes), fulfilled",
            Flow::Prepaid => "high-risk retail order (200000.00 CNY) prepaid, audit passed, fulfilled",
            Flow::DigitalRefunded => "digital membership placed, audit passed, fulfilled, refunded (MEMBERSHIP)",
        }
    }

    pub async fn run(self, d: &mut Driver<'_>) -> Result<(), String> {
        match self {
            Flow::Retail => {
                d.place(retail_order("o-1001", "100.00"), "DISPATCHED", PLACE).await?;
                d.audit_passed("o-1001", "aud-1", AUDIT_PASSED).await?;
                d.fulfil_retail("o-1001").await?;
                d.expect_done("o-1001").await
            }
            Flow::Reaudited => reaudited(d).await,
            Flow::Prepaid => prepaid(d).await,
            Flow::DigitalRefunded => digital_refunded(d).await,
        }
    }
}

async fn reaudited(d: &mut Driver<'_>) -> Result<(), String> {
    d.place(retail_order("o-1002", "100.00"), "DISPATCHED", PLACE).await?;
    d.audit_failed("o-1002", "aud-1", AUDIT_FAILED).await?;
    for attempt in 2..=4 {
        d.reaudit("o-1002", attempt).await?;
        let id = format!("aud-{attempt}");
        match attempt {
            4 => d.audit_passed("o-1002", &id, REAUDIT_PASSED).await?,
            _ => d.audit_failed("o-1002", &id, REAUDIT_FAILED).await?,
        }
    }
    d.fulfil_retail("o-1002").await?;
    d.expect_done("o-1002").await
}

async fn prepaid(d: &mut Driver<'_>) -> Result<(), String> {
    let placed = d.place(retail_order("o-1003", "200000.00"), "AWAITING_PREPAYMENT", PLACE_HIGH_RISK).await?;
    let asked = &placed["prepayment"];
    let payment = json!({"payment_ref": "p-1003", "amount": asked["amount"], "currency": asked["currency"]});
    let paid = d.api("POST", "/orders/o-1003/prepayment", payment, 200).await?;
    expect(&paid["status"], "DISPATCHED", &paid)?;
    d.saga(AUDIT_BESIDE_FULFILMENT);
    d.settle().await?;
    d.audit_passed("o-1003", "aud-1", AUDIT_PASSED).await?;
    d.fulfil_retail("o-1003").await?;
    d.expect_done("o-1003").await
}

async fn digital_refunded(d: &mut Driver<'_>) -> Result<(), String> {
    let started = d.rt.now() - Duration::days(120);
    let order = json!({"order_id": "o-1004", "customer_id": "c-1004", "business_type": "digital", "currency": "CNY",
        "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00", "tax": "6.00", "fee": "1.00"}],
        "product": {"kind": "MEMBERSHIP", "service_start": started.to_rfc3339(),
                    "service_end": (started + Duration::days(360)).to_rfc3339(),
                    "entitlement": {"key": "KEY-1", "user_flags": ["VIP"], "service_content": "ALL_CHANNELS"}},
        "payment": {"method": "BANK_CARD", "paid_at": started.to_rfc3339(),
                    "splits": [{"channel": "BANK_CARD", "amount": "80.00"}, {"channel": "VIRTUAL_COINS", "amount": "27.00"}]}});
    d.place(order, "DISPATCHED", PLACE).await?;
    d.audit_passed("o-1004", "aud-1", AUDIT_PASSED).await?;
    d.saga(FULFIL_DIGITAL);
    d.status("o-1004", "entitlement", "DONE").await?;
    d.status("o-1004", "notification", "COMPLETED").await?;
    d.expect_done("o-1004").await?;
    let refund = json!({"request_id": "r-1004", "order_id": "o-1004", "scenario": "MEMBERSHIP"});
    let answer = d.api("POST", "/refunds", refund, 201).await?;
    expect(&answer["status"], "APPROVED", &answer)?;
    d.saga(REFUND);
    d.settle().await
}

fn retail_order(id: &str, price: &str) -> Value {
    json!({
        "order_id": id, "customer_id": format!("c-{id}"), "business_type": "retail", "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": price}],
        "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"},
        "contact": {"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"}
    })
}

fn expect(found: &Value, wanted: &str, whole: &Value) -> Result<(), String> {
    match found.as_str() == Some(wanted) {
        true => Ok(()),
        false => Err(format!("expected {wanted}, found {found} in {whole}")),
    }
}

/// Drives one flow: counts the API requests (each an API Gateway request and a Lambda
/// invocation) and the saga states the same steps would take.
pub struct Driver<'a> {
    pub rt: &'a Runtime,
    proxy: &'a Proxy,
    pub api_requests: u64,
    pub saga: Vec<&'static str>,
}

impl<'a> Driver<'a> {
    pub fn new(rt: &'a Runtime, proxy: &'a Proxy) -> Driver<'a> {
        Driver { rt, proxy, api_requests: 0, saga: Vec::new() }
    }

    fn saga(&mut self, states: &[&'static str]) {
        self.saga.extend_from_slice(states);
    }

    /// A request a client or a fulfilment system sends through API Gateway.
    async fn api(&mut self, method: &str, path: &str, body: Value, want: u16) -> Result<Value, String> {
        self.api_requests += 1;
        self.send(method, path, &body, want).await
    }

    async fn send(&self, method: &str, path: &str, body: &Value, want: u16) -> Result<Value, String> {
        let text = if body.is_null() { String::new() } else { body.to_string() };
        let reply = router::handle(self.rt, method, path, text.as_bytes()).await;
        let answer = serde_json::from_str(&reply.body).unwrap_or_else(|_| Value::String(reply.body.clone()));
        match reply.status == want {
            true => Ok(answer),
            false => Err(format!("{method} {path} answered {} (expected {want}): {answer}", reply.status)),
        }
    }

    async fn settle(&self) -> Result<(), String> {
        self.send("POST", "/_local/settle", &json!({}), 200).await.map(drop)
    }

    async fn place(&mut self, order: Value, status: &str, saga: &[&'static str]) -> Result<Value, String> {
        let placed = self.api("POST", "/orders", order, 201).await?;
        expect(&placed["status"], status, &placed)?;
        self.saga(saga);
        if status == "DISPATCHED" {
            self.saga(AUDIT_BESIDE_FULFILMENT);
        }
        self.settle().await?;
        Ok(placed)
    }

    /// The middle office reports on `audit-results` (an SNS publish of its own).
    async fn audit_result(&self, kind: &str, data: Value) -> Result<(), String> {
        let message = json!({"message": data, "attributes": {"type": kind}});
        self.send("POST", "/_local/topics/audit-results", &message, 202).await?;
        self.settle().await
    }

    async fn audit_passed(&mut self, order: &str, audit_id: &str, saga: &[&'static str]) -> Result<(), String> {
        let at = self.rt.now().to_rfc3339();
        self.saga(saga);
        self.audit_result("audit.passed", json!({"audit_id": audit_id, "order_id": order, "occurred_at": at})).await
    }

    async fn audit_failed(&mut self, order: &str, audit_id: &str, saga: &[&'static str]) -> Result<(), String> {
        let data = json!({"audit_id": audit_id, "order_id": order, "reason_code": "STOCK_SHORTAGE",
                          "reason": "stock short at the middle office", "occurred_at": self.rt.now().to_rfc3339()});
        self.saga(saga);
        self.audit_result("audit.failed", data).await
    }

    /// Moves the clock past the rule's next attempt, so the schedule sends `attempt`.
    async fn reaudit(&mut self, order: &str, attempt: u64) -> Result<(), String> {
        let rule = self.peek(order).await?["reaudit_rule"].clone();
        let next = rule["next_attempt_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        let next = next.ok_or_else(|| format!("no next attempt in {rule}"))?;
        let seconds = (next.with_timezone(&Utc) - self.rt.now()).num_seconds().max(0) + 60;
        self.send("POST", "/_local/clock/advance", &json!({"seconds": seconds}), 200).await?;
        let sent = self.peek(order).await?["reaudit_rule"]["attempts"].clone();
        match sent.as_u64() == Some(attempt) {
            true => Ok(()),
            false => Err(format!("expected re-audit {attempt} to be sent, the rule says {sent}")),
        }
    }

    async fn status(&mut self, order: &str, system: &str, status: &str) -> Result<(), String> {
        let report = json!({"order_id": order, "system": system, "node": system, "status": status,
                            "occurred_at": self.rt.now().to_rfc3339()});
        self.api("POST", "/fulfilment/status", report, 202).await?;
        self.settle().await
    }

    async fn fulfil_retail(&mut self, order: &str) -> Result<(), String> {
        self.saga(FULFIL_RETAIL);
        for (system, status) in
            [("payment", "DONE"), ("invoice", "DONE"), ("warehouse", "DONE"), ("carrier", "DELIVERED")]
        {
            self.status(order, system, status).await?;
        }
        Ok(())
    }

    /// Checks the order ended approved and fulfilled; the check is not counted.
    async fn expect_done(&mut self, order: &str) -> Result<(), String> {
        let view = self.peek(order).await?;
        expect(&view["audit_status"], "APPROVED", &view)?;
        expect(&view["fulfilment"]["status"], "COMPLETED", &view)?;
        self.saga(SUCCEED);
        Ok(())
    }

    /// `GET /orders/{order}` with the proxy not recording: our reading, not the flow's.
    async fn peek(&self, order: &str) -> Result<Value, String> {
        self.proxy.pause(true);
        let view = self.send("GET", &format!("/orders/{order}"), &Value::Null, 200).await;
        self.proxy.pause(false);
        view
    }
}
