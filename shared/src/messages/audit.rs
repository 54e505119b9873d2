//! Messages of the re-audit chain: inbound audit results, the outbound events of the
//! audit transitions, and the notification requests queued for the notifier.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::privacy::{mask_email, mask_name, mask_phone};
use super::EventBuilder;
use crate::domain::audit::{Failure, ReauditRule};
use crate::domain::ids::{AuditId, OrderId};
use crate::domain::order::{AuditStatus, Order};
use crate::domain::order_audit::AuditEvent;
use crate::domain::policy::audit::AuditRules;
use crate::error::{Error, Result};
use crate::input::{strict_json, Fields, TimeWindow};
use crate::ports::OutboundMessage;
use crate::topology::{AUDIT_REQUESTS, NOTIFICATIONS_QUEUE, ORDER_EVENTS};

/// Longest free-text `reason` an audit failure may carry (it is stored and shown to
/// the docking person).
pub const MAX_REASON_CHARS: usize = 1000;

/// A message on `audit-results`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditResult {
    Failed { order_id: String, failure: Failure },
    Passed { order_id: String, audit_id: String, occurred_at: DateTime<Utc> },
}

impl AuditResult {
    pub fn order_id(&self) -> &str {
        match self {
            AuditResult::Failed { order_id, .. } | AuditResult::Passed { order_id, .. } => order_id,
        }
    }

    pub fn audit_id(&self) -> &str {
        match self {
            AuditResult::Failed { failure, .. } => &failure.audit_id,
            AuditResult::Passed { audit_id, .. } => audit_id,
        }
    }
}

/// Reads an audit result: a CloudEvents envelope (`type` + `data`) or a bare JSON object
/// whose type is in the `type` message attribute (or its own `type` field).
/// Its `occurred_at` must lie in the event window around `now`.
pub fn parse_audit_result(body: &str, type_attribute: Option<&str>, now: DateTime<Utc>) -> Result<AuditResult> {
    let value = strict_json(body.as_bytes()).map_err(|e| Error::validation("body", format!("is not JSON: {e}")))?;
    let envelope = value.get("specversion").is_some();
    let kind = match (envelope, type_attribute) {
        (true, _) => value.get("type").and_then(Value::as_str),
        (false, Some(kind)) => Some(kind),
        (false, None) => value.get("type").and_then(Value::as_str),
    };
    let data = if envelope { value.get("data").unwrap_or(&Value::Null) } else { &value };
    let fields = Fields::root(data).map_err(|_| Error::validation("data", "must be a JSON object"))?;
    let order_id = OrderId::parse("order_id", fields.str("order_id")?)?.to_string();
    let audit_id = AuditId::parse("audit_id", fields.str("audit_id")?)?.to_string();
    let occurred_at = fields
        .opt_time_within("occurred_at", now, TimeWindow::EVENT)?
        .ok_or_else(|| Error::validation("occurred_at", "is required"))?;
    match kind {
        Some("audit.failed") => {
            let reason_code = fields.str("reason_code")?.to_string();
            let reason = fields.opt_str("reason")?.unwrap_or_default().to_string();
            if reason.chars().count() > MAX_REASON_CHARS {
                return Err(Error::validation("reason", format!("must be at most {MAX_REASON_CHARS} characters")));
            }
            Ok(AuditResult::Failed { order_id, failure: Failure { audit_id, reason_code, reason, occurred_at } })
        }
        Some("audit.passed") => Ok(AuditResult::Passed { order_id, audit_id, occurred_at }),
        Some(other) => Err(Error::validation(
            "type",
            format!("unknown message type {other:?}: expected audit.failed or audit.passed"),
        )),
        None => Err(Error::validation("type", "is missing")),
    }
}

/// The messages of an audit transition's events (see [`AuditEvent`]), under `cause`,
/// from `source`. Both the audit-failure flow and the schedule's tick send through here,
/// so a window closed by either announces and notifies alike.
pub fn audit_messages(
    source: &str,
    rules: &AuditRules,
    order: &Order,
    cause: &str,
    events: &[AuditEvent],
) -> Vec<OutboundMessage> {
    let mut messages = Vec::new();
    for event in events {
        match event {
            AuditEvent::ProvisionallyAccepted { failure, rule, team, severity, template } => {
                let data = json!({
                    "order_id": order.id(),
                    "audit_status": AuditStatus::ProvisionallyAccepted,
                    "reason_code": failure.reason_code,
                    "retry_until": rule.window_ends_at,
                });
                let kind = "order.audit.provisionally_accepted";
                messages.push(order_audit_event(source, order, kind, cause, data));
                let note = NotificationSpec { kind: "provisional_acceptance", team, severity, template };
                messages.push(notification(order, cause, &note, failure, Some(rule)));
            }
            AuditEvent::Rejected { failure } => messages.push(final_rejection(source, order, cause, Some(failure))),
            AuditEvent::WindowClosed { failure, first, rule } => {
                let reported = failure.as_ref().or(first.as_ref());
                messages.push(final_rejection(source, order, cause, reported));
                // The docking team hears about the failure that started it all.
                if let Some(about) = first.as_ref().or(failure.as_ref()) {
                    let team = rule.as_ref().map(|r| r.team.as_str()).unwrap_or_default();
                    let note = NotificationSpec {
                        kind: "final_rejection",
                        team,
                        severity: &rules.final_severity,
                        template: &rules.final_template,
                    };
                    messages.push(notification(order, cause, &note, about, rule.as_ref()));
                }
            }
            AuditEvent::Approved => {
                let data = json!({"order_id": order.id(), "audit_status": AuditStatus::Approved});
                messages.push(order_audit_event(source, order, "order.audit.approved", cause, data));
            }
            AuditEvent::ReauditRequested { attempt } => messages.push(audit_request(source, order, *attempt)),
        }
    }
    messages
}

/// Who a notification goes to and how it reads.
pub struct NotificationSpec<'a> {
    /// `provisional_acceptance` or `final_rejection`.
    pub kind: &'a str,
    pub team: &'a str,
    pub severity: &'a str,
    pub template: &'a str,
}

/// Source of the audit chain's events.
fn builder<'a>(topic: &'a str, source: &'a str, order: &'a Order) -> EventBuilder<'a> {
    EventBuilder { topic, source, time: order.updated_at, trace: order.trace.as_deref() }
}

/// An `order.audit.*` event about `order`, caused by `cause` (an audit id or a tick).
pub fn order_audit_event(source: &str, order: &Order, kind: &str, cause: &str, data: Value) -> OutboundMessage {
    builder(ORDER_EVENTS, source, order)
        .event(format!("{}:{kind}:{cause}", order.id()), kind, order.id().as_str(), data)
        .with_attribute("business_type", &order.request.business_type)
}

/// `audit.requested` for attempt `attempt`: the id is the order and the attempt, so a
/// request re-sent after a crash is recognisably the same request.
pub fn audit_request(source: &str, order: &Order, attempt: u32) -> OutboundMessage {
    builder(AUDIT_REQUESTS, source, order).event(
        format!("{}:audit.requested:{attempt}", order.id()),
        "audit.requested",
        order.id().as_str(),
        json!({"order_id": order.id(), "attempt": attempt}),
    )
}

/// The final rejection: the user system learns it from `order.audit.rejected`.
pub fn final_rejection(source: &str, order: &Order, cause: &str, failure: Option<&Failure>) -> OutboundMessage {
    let data = json!({
        "order_id": order.id(),
        "audit_status": AuditStatus::Rejected,
        "reason_code": failure.map(|f| f.reason_code.as_str()),
        "reason": failure.map(|f| f.reason.as_str()),
        "final": true,
    });
    order_audit_event(source, order, "order.audit.rejected", cause, data)
}

/// The ordering user as a docking person sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedUser {
    pub customer_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A notification for a docking person, queued for the notifier to render and publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRequest {
    /// Stable across redelivery: the notifier sends each id once.
    pub notification_id: String,
    /// `provisional_acceptance` or `final_rejection`.
    pub kind: String,
    pub team: String,
    pub severity: String,
    pub template: String,
    pub order: Value,
    pub failure: Failure,
    pub audit_status: AuditStatus,
    pub user: MaskedUser,
    pub rule: Option<ReauditRule>,
}

/// Builds the queued notification about `order` (which carries its current audit
/// state). Personal data is masked here, before it leaves the order.
pub fn notification(
    order: &Order,
    cause: &str,
    spec: &NotificationSpec<'_>,
    failure: &Failure,
    rule: Option<&ReauditRule>,
) -> OutboundMessage {
    let contact = order.request.contact.clone().unwrap_or_default();
    let request = NotificationRequest {
        notification_id: format!("{}:notification:{cause}", order.id()),
        kind: spec.kind.to_string(),
        team: spec.team.to_string(),
        severity: spec.severity.to_string(),
        template: spec.template.to_string(),
        order: json!({
            "order_id": order.id(),
            "customer_id": order.request.customer_id,
            "business_type": order.request.business_type,
            "total": order.total.amount,
            "currency": order.total.currency,
        }),
        failure: failure.clone(),
        audit_status: order.audit_status.unwrap_or(AuditStatus::Pending),
        user: MaskedUser {
            customer_id: order.request.customer_id.to_string(),
            name: contact.name.as_deref().map(mask_name),
            email: contact.email.as_deref().map(mask_email),
            phone: contact.phone.as_deref().map(mask_phone),
        },
        rule: rule.cloned(),
    };
    #[allow(clippy::expect_used, reason = "strings and string-keyed maps only: serialising cannot fail")]
    let body = serde_json::to_string(&request).expect("notification requests serialise");
    let mut message = OutboundMessage {
        id: request.notification_id.clone(),
        topic: NOTIFICATIONS_QUEUE.to_string(),
        body,
        attributes: Default::default(),
        via: Default::default(),
    };
    message.attributes.insert("type".into(), "notification.requested".into());
    // Not a CloudEvent: the order's trace travels as an attribute only.
    if let Some(trace) = order.trace.clone().or_else(|| crate::trace::current().map(|t| t.to_string())) {
        message.attributes.insert(crate::trace::TRACEPARENT.into(), trace);
    }
    message.via_queue(NOTIFICATIONS_QUEUE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
    }

    fn parse_audit_result(body: &str, kind: Option<&str>) -> Result<AuditResult> {
        super::parse_audit_result(body, kind, now())
    }

    #[test]
    fn results_dated_far_from_the_clock_are_refused_naming_occurred_at() {
        for at in ["9999-12-31T23:59:59Z", "+10000-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-11-23T10:00:00Z"] {
            let body =
                format!(r#"{{"audit_id":"a1","order_id":"o-1","reason_code":"STOCK_SHORTAGE","occurred_at":"{at}"}}"#);
            let err = parse_audit_result(&body, Some("audit.failed")).unwrap_err().to_string();
            assert!(err.starts_with("occurred_at: "), "{at}: {err}");
        }
    }

    #[test]
    fn duplicate_keys_and_long_ids_are_refused() {
        let dup = r#"{"audit_id":"a1","order_id":"o-1","order_id":"o-2","occurred_at":"2026-11-22T10:00:00Z"}"#;
        assert!(parse_audit_result(dup, Some("audit.passed")).unwrap_err().to_string().contains("duplicate key"));
        let long =
            format!(r#"{{"audit_id":"{}","order_id":"o-1","occurred_at":"2026-11-22T10:00:00Z"}}"#, "a".repeat(65));
        assert!(parse_audit_result(&long, Some("audit.passed")).unwrap_err().to_string().starts_with("audit_id"));
    }

    #[test]
    fn bare_and_enveloped_results_parse_alike() {
        let bare = r#"{"audit_id":"a1","order_id":"o-1","reason_code":"STOCK_SHORTAGE","reason":"no stock","occurred_at":"2026-11-22T10:00:00Z"}"#;
        let parsed = parse_audit_result(bare, Some("audit.failed")).unwrap();
        let envelope = format!(r#"{{"specversion":"1.0","id":"x","type":"audit.failed","source":"mo","data":{bare}}}"#);
        assert_eq!(parse_audit_result(&envelope, None).unwrap(), parsed);
        assert_eq!(parsed.order_id(), "o-1");
    }

    #[test]
    fn bad_results_name_the_problem() {
        let err = |body: &str, kind| parse_audit_result(body, kind).unwrap_err().to_string();
        assert!(err("not json", None).starts_with("body: is not JSON"));
        assert!(err(r#"{"audit_id":"a","occurred_at":"2026-11-22T10:00:00Z"}"#, Some("audit.passed"))
            .starts_with("order_id"));
        let passed = r#"{"audit_id":"a","order_id":"o","occurred_at":"2026-11-22T10:00:00Z"}"#;
        assert!(err(passed, Some("audit.exploded")).starts_with("type: unknown message type"));
        assert!(err(passed, None).starts_with("type: is missing"));
    }
}
