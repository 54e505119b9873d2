//! Rendering a notification and sending it once.

use std::collections::BTreeMap;

use orderflow_shared::app::Deps;
use orderflow_shared::domain::policy::audit::render;
use orderflow_shared::error::{Error, Result};
use orderflow_shared::messages::audit::{MaskedUser, NotificationRequest};
use orderflow_shared::messages::privacy::mask_name;
use orderflow_shared::messages::EventBuilder;
use orderflow_shared::store;
use orderflow_shared::topology::HANDLER_NOTIFICATIONS;
use serde_json::{json, Value};
use tracing::info;

const SOURCE: &str = "orderflow/notifier";

/// Records the notification with the rendered message in the record's outbox, unless
/// it is recorded already (a redelivery): one conditional write, after which the outbox
/// relay sends it. A crash before the write leaves it to the redelivery; one after it
/// has done its work.
pub async fn send_once(deps: &Deps, request: &NotificationRequest) -> Result<()> {
    let now = deps.clock.now();
    let template = deps.rules.audit.templates.get(&request.template).ok_or_else(|| {
        Error::validation("template", format!("no template named {:?} in [audit.templates]", request.template))
    })?;
    // Producers mask the name; a request queued before they did is masked here.
    let user = MaskedUser { name: request.user.name.as_deref().map(mask_name), ..request.user.clone() };
    let values = values(request, &user);
    let order_id = request.order["order_id"].as_str().unwrap_or_default();
    let data = json!({
        "notification_id": request.notification_id,
        "order_id": order_id,
        "team": request.team,
        "subject": render(&template.subject, &values),
        "body": render(template.body.trim(), &values),
        "order": request.order,
        "failure": request.failure,
        "audit_status": request.audit_status,
        "user": user,
    });
    let message = EventBuilder { topic: HANDLER_NOTIFICATIONS, source: SOURCE, time: now, trace: None }
        .event(request.notification_id.clone(), "notification", order_id, data)
        .with_attribute("team", &request.team)
        .with_attribute("severity", &request.severity);
    if !store::record_notification(deps.store.as_ref(), &request.notification_id, now, message).await? {
        info!(notification_id = %request.notification_id, "already sent; dropping the redelivery");
        return Ok(());
    }
    // Team and kind only: the user's details stay out of the logs.
    info!(notification_id = %request.notification_id, team = %request.team, kind = %request.kind, "notification sent");
    Ok(())
}

/// The template values. The user's name, email and phone are masked.
fn values(request: &NotificationRequest, user: &MaskedUser) -> BTreeMap<&'static str, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
    let rule = request.rule.as_ref();
    let audit_status = serde_json::to_value(request.audit_status).map(|v| text(&v)).unwrap_or_default();
    BTreeMap::from([
        ("order_id", text(&request.order["order_id"])),
        ("customer_id", user.customer_id.clone()),
        ("business_type", text(&request.order["business_type"])),
        ("total", text(&request.order["total"])),
        ("currency", text(&request.order["currency"])),
        ("reason_code", request.failure.reason_code.clone()),
        ("reason", request.failure.reason.clone()),
        ("audit_status", audit_status),
        ("user_name", or_dash(&user.name)),
        ("user_email", or_dash(&user.email)),
        ("user_phone", or_dash(&user.phone)),
        ("first_failure_at", time(rule.map(|r| r.first_failure_at))),
        ("window_ends_at", time(rule.map(|r| r.window_ends_at))),
        ("next_attempt_at", time(rule.map(|r| r.next_attempt_at))),
        ("attempts", rule.map(|r| r.attempts.to_string()).unwrap_or_else(|| "0".into())),
    ])
}
