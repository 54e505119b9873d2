//! The refund calculator's items in the single table (see `docs/storage.md`):
//! `REFUND#<refund_id>`/`REFUND` holds a refund with its outbox,
//! `REFUND_REQUEST#<request_id>`/`REFUND_REQUEST` finds the refund a request created
//! (refund ids are random, so a retried request cannot derive it), and
//! `ORDER#<order_id>`/`REFUNDS` is the order's refund ledger: what each channel got
//! back so far and the entitlement now in force. A new refund and its request item are
//! written in one transaction, both only if absent; an issued refund and its ledger
//! update in one transaction conditioned on the ledger's version, so two refunds racing
//! on one order can never both spend the same remaining amount. The keys, like every
//! key of the table, are in `orderflow_shared::store` (`store::refund`).

use chrono::{DateTime, Utc};
use orderflow_shared::domain::digital::Entitlement;
use orderflow_shared::domain::ids::OrderId;
use orderflow_shared::domain::policy::refund::ReviewerRole;
use orderflow_shared::domain::refund::{Quote, Refunded};
use orderflow_shared::error::{Error, Result, StoreError};
use orderflow_shared::ports::{Condition, Index, Item, OutboundMessage, StateStore, Write};
use orderflow_shared::store::refund::{ledger_key, refund_key, request_key};
use orderflow_shared::store::{check_outbox, decode, encode, queues, Stored, Versioned};
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
    /// The seller of the order's product, if the order names one: who a seller
    /// reviewer must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    pub quote: Option<Quote>,
    pub code: Option<String>,
    pub decision: Option<Decision>,
    pub entitlement: Option<Entitlement>,
    /// The messages of the transition being written: stored in the item's outbox, for
    /// the outbox relay; never part of the refund's body.
    #[serde(skip)]
    pub outbox: Vec<OutboundMessage>,
    /// What `POST /refunds` first answered: a retried request answers the same, even
    /// after a reviewer decided.
    #[serde(default)]
    pub first_result: Option<serde_json::Value>,
}

impl Refund {
    /// Sets the messages the next write of the refund carries.
    pub fn emit(&mut self, messages: Vec<OutboundMessage>) {
        self.outbox = messages;
    }
}

impl Stored for Refund {
    fn to_item(&self) -> Item {
        let item = Item::new(refund_key(&self.refund_id), encode(self)).with_outbox(self.outbox.clone());
        // Only a refund awaiting a reviewer is in its reviewers' queue (sparse index).
        match (self.status, self.reviewer_role) {
            (RefundStatus::PendingReview, Some(role)) => item.with_index(
                Index::Gsi3,
                queues::review_pk(role.as_str(), self.seller_id.as_deref().filter(|_| role == ReviewerRole::Seller)),
                queues::newest_first(self.requested_at, &self.refund_id),
            ),
            _ => item,
        }
    }
}

/// The per-order refund ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub refunded: Refunded,
    pub refund_ids: Vec<String>,
    pub entitlement: Entitlement,
}

/// What a request id leads to: the refund it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RequestRecord {
    refund_id: String,
}

fn request_item(refund: &Refund) -> Write {
    let record = RequestRecord { refund_id: refund.refund_id.clone() };
    Write::Put { item: Item::new(request_key(&refund.request_id), encode(&record)), condition: Condition::NotExists }
}

pub async fn get_refund(store: &dyn StateStore, refund_id: &str) -> Result<Option<Versioned<Refund>>> {
    let item = store.get(&refund_key(refund_id)).await?;
    item.map(|i| Ok(Versioned { value: decode(&i)?, version: i.version })).transpose()
}

/// The refund `request_id` created, if any.
pub async fn find_by_request(store: &dyn StateStore, request_id: &str) -> Result<Option<Versioned<Refund>>> {
    let Some(item) = store.get(&request_key(request_id)).await? else { return Ok(None) };
    let record: RequestRecord = decode(&item)?;
    // Written in one transaction with the refund: one without the other is corrupt.
    let missing =
        || Error::Store(StoreError::Corrupt(format!("request {request_id}: refund {} is missing", record.refund_id)));
    get_refund(store, &record.refund_id).await?.map(Some).ok_or_else(missing)
}

pub async fn get_ledger(store: &dyn StateStore, order_id: &OrderId) -> Result<Option<Versioned<Ledger>>> {
    let item = store.get(&ledger_key(order_id)).await?;
    item.map(|i| Ok(Versioned { value: decode(&i)?, version: i.version })).transpose()
}

fn condition(version: Option<u64>) -> Condition {
    version.map_or(Condition::NotExists, Condition::VersionIs)
}

/// The writes of a refund: a new one (`None`) with its request item, both only if
/// absent, so a request id creates one refund; a known one over its `version`.
fn refund_writes(refund: &Refund, version: Option<u64>) -> Vec<Write> {
    let put = Write::Put { item: refund.to_item(), condition: condition(version) };
    match version {
        None => vec![put, request_item(refund)],
        Some(_) => vec![put],
    }
}

fn next_version(version: Option<u64>) -> u64 {
    version.map_or(1, |v| v.saturating_add(1))
}

/// Writes a refund that moves no money: new (`None`) or over `version`.
pub async fn put_refund(store: &dyn StateStore, refund: &Refund, version: Option<u64>) -> Result<u64> {
    check_outbox(&refund.outbox)?;
    match version {
        Some(_) => Ok(store.write(Write::Put { item: refund.to_item(), condition: condition(version) }).await?),
        None => {
            store.transact(refund_writes(refund, None)).await?;
            Ok(next_version(None))
        }
    }
}

/// Writes an issued refund (with its request item, if new) and the ledger it updates,
/// all or none.
pub async fn put_issued(
    store: &dyn StateStore,
    refund: &Refund,
    refund_version: Option<u64>,
    ledger: &Ledger,
    ledger_version: Option<u64>,
) -> Result<u64> {
    check_outbox(&refund.outbox)?;
    let ledger_item = Item::new(ledger_key(&refund.order_id), encode(ledger));
    let mut writes = refund_writes(refund, refund_version);
    writes.push(Write::Put { item: ledger_item, condition: condition(ledger_version) });
    store.transact(writes).await?;
    Ok(next_version(refund_version))
}
