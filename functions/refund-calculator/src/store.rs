//! The refund calculator's items in the single table (see `docs/storage.md`):
//! `REFUND#<refund_id>`/`REFUND` holds a refund with its outbox, and
//! `ORDER#<order_id>`/`REFUNDS` is the order's refund ledger: what each channel got
//! back so far and the entitlement now in force. An issued refund and its ledger
//! update are written in one transaction conditioned on the ledger's version, so two
//! refunds racing on one order can never both spend the same remaining amount.

use chrono::{DateTime, Utc};
use orderflow_shared::app::Deps;
use orderflow_shared::domain::digital::Entitlement;
use orderflow_shared::domain::ids::OrderId;
use orderflow_shared::domain::refund::{Quote, Refunded};
use orderflow_shared::error::Result;
use orderflow_shared::outbox::Outbox;
use orderflow_shared::ports::{Condition, Item, Key, OutboundMessage, StateStore, Write};
use orderflow_shared::repo::{self, decode, encode, Stored, Versioned};
use orderflow_shared::rules_refund::ReviewerRole;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Approved,
    PendingReview,
    Rejected,
}

/// A reviewer's decision, kept to answer its retries and refuse a second one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub decision: String,
    pub reviewer_role: ReviewerRole,
    pub reviewer_id: String,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub request_id: String,
    pub order_id: OrderId,
    pub customer_id: String,
    pub scenario: String,
    pub status: RefundStatus,
    /// The time of unsubscription: the clock at the request.
    pub requested_at: DateTime<Utc>,
    /// What the scenario's extraction template collected.
    pub facts: serde_json::Value,
    /// Failed conditions (REJECTED), why a reviewer is needed (PENDING_REVIEW), or
    /// the reviewer's refusal.
    pub reasons: Vec<String>,
    pub reviewer_role: Option<ReviewerRole>,
    pub quote: Option<Quote>,
    pub code: Option<String>,
    pub decision: Option<Decision>,
    pub entitlement: Option<Entitlement>,
    pub outbox: Outbox,
    /// What `POST /refunds` first answered: a retried request answers the same, even
    /// after a reviewer decided.
    #[serde(default)]
    pub first_result: Option<serde_json::Value>,
}

impl Refund {
    pub fn emit(&mut self, cause: &str, messages: Vec<OutboundMessage>) {
        self.outbox.emit(cause, messages);
    }
}

impl Stored for Refund {
    fn to_item(&self) -> Item {
        Item::new(refund_key(&self.refund_id), encode(self))
    }

    fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn outbox_mut(&mut self) -> &mut Outbox {
        &mut self.outbox
    }
}

/// The per-order refund ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub refunded: Refunded,
    pub refund_ids: Vec<String>,
    pub entitlement: Entitlement,
}

pub fn refund_key(refund_id: &str) -> Key {
    Key::new(format!("REFUND#{refund_id}"), "REFUND")
}

fn ledger_key(order_id: &OrderId) -> Key {
    Key::new(format!("ORDER#{order_id}"), "REFUNDS")
}

pub async fn get_refund(store: &dyn StateStore, refund_id: &str) -> Result<Option<Versioned<Refund>>> {
    let item = store.get(&refund_key(refund_id)).await?;
    item.map(|i| Ok(Versioned { value: decode(&i)?, version: i.version })).transpose()
}

pub async fn get_ledger(store: &dyn StateStore, order_id: &OrderId) -> Result<Option<Versioned<Ledger>>> {
    let item = store.get(&ledger_key(order_id)).await?;
    item.map(|i| Ok(Versioned { value: decode(&i)?, version: i.version })).transpose()
}

fn condition(version: Option<u64>) -> Condition {
    version.map_or(Condition::NotExists, Condition::VersionIs)
}

/// Writes a refund that moves no money: new (`None`) or over `version`.
pub async fn put_refund(store: &dyn StateStore, refund: &Refund, version: Option<u64>) -> Result<u64> {
    Ok(store.write(Write::Put { item: refund.to_item(), condition: condition(version) }).await?)
}

/// Writes an issued refund and the ledger it updates, both or neither.
pub async fn put_issued(
    store: &dyn StateStore,
    refund: &Refund,
    refund_version: Option<u64>,
    ledger: &Ledger,
    ledger_version: Option<u64>,
) -> Result<u64> {
    let refund_item = refund.to_item();
    let ledger_item = Item::new(ledger_key(&refund.order_id), encode(ledger));
    store
        .transact(vec![
            Write::Put { item: refund_item, condition: condition(refund_version) },
            Write::Put { item: ledger_item, condition: condition(ledger_version) },
        ])
        .await?;
    Ok(refund_version.map_or(1, |v| v + 1))
}

/// Sends the messages of `cause` not yet out, then records that they are.
pub async fn publish_pending(deps: &Deps, refund: Refund, version: u64, cause: &str) -> Result<()> {
    repo::publish_pending(deps, refund, version, cause).await
}
