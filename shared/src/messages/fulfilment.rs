//! What a fulfilment transition sends: `fulfilment.trigger` / `fulfilment.cancel` to the
//! systems (attribute `system`), and `order.fulfilment.*` to the order's subscribers.
//! Ids derive from the order and the system or event, so re-sends are recognisable.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::EventBuilder;
use crate::domain::fulfilment::{Command, Outcome, Progress};
use crate::ports::OutboundMessage;
use crate::topology::{FULFILMENT_COMMANDS, ORDER_EVENTS};

const SOURCE: &str = "orderflow/fulfilment-dispatcher";

pub fn of(progress: &Progress, outcome: &Outcome, now: DateTime<Utc>) -> Vec<OutboundMessage> {
    let order = progress.order_id.as_str();
    let commands = EventBuilder { topic: FULFILMENT_COMMANDS, source: SOURCE, time: now, trace: None };
    let events = EventBuilder { topic: ORDER_EVENTS, source: SOURCE, time: now, trace: None };
    let mut messages: Vec<OutboundMessage> = outcome
        .commands
        .iter()
        .map(|command| {
            let (kind, system, node, stage) = match command {
                Command::Trigger { system, stage } => ("fulfilment.trigger", system, system, stage),
                Command::Cancel { system, node, stage } => ("fulfilment.cancel", system, node, stage),
            };
            let data = json!({"order_id": order, "system": system, "node": node, "stage": stage});
            commands.event(format!("{order}:{kind}:{system}"), kind, order, data).with_attribute("system", system)
        })
        .collect();
    let systems: Vec<&str> = progress.triggered.iter().map(|t| t.system.as_str()).collect();
    if outcome.completed {
        let kind = "order.fulfilment.completed";
        let data = json!({"order_id": order, "status": progress.status, "systems": systems});
        messages.push(
            events
                .event(format!("{order}:{kind}"), kind, order, data)
                .with_attribute("business_type", &progress.business_type),
        );
    }
    if let Some(node) = &outcome.exception_at {
        let kind = "order.fulfilment.exception";
        let data = json!({
            "order_id": order,
            "status": progress.status,
            "node": node,
            "reason": progress.recalled_for.as_deref().unwrap_or("STATUS_EXCEPTION"),
            "cancelled": progress.cancelled,
        });
        messages.push(
            events
                .event(format!("{order}:{kind}"), kind, order, data)
                .with_attribute("business_type", &progress.business_type),
        );
    }
    messages
}
