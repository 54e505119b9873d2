//! Orders: the validated request, the stored entity and its transitions.
#![deny(clippy::float_arithmetic, clippy::arithmetic_side_effects)]

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::audit::AuditState;
use super::digital::Product;
use super::ids::{CustomerId, OrderId, Sku};
use super::money::{self, Currency, Money};
use super::policy::Rules;
use super::risk::RiskAssessment;
use crate::error::{Error, Result};
use crate::input::{Fields, TimeWindow};

/// Ways an order can be paid, matching the refund channels.
pub const PAYMENT_METHODS: &[&str] =
    &["PLATFORM_ACCOUNT", "BANK_CARD", "THIRD_PARTY", "LENDING", "WEALTH", "VIRTUAL_COINS"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub fee: Decimal,
}

/// Longest free text an order may carry: it is stored with the order and copied into
/// the messages about it, so it is bounded like everything else that is stored.
pub const MAX_ADDRESS_CHARS: usize = 500;
pub const MAX_NAME_CHARS: usize = 200;
/// RFC 5321's longest address.
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_PHONE_CHARS: usize = 40;

/// The most units of one item an order may ask for.
pub const MAX_QUANTITY: u32 = 1_000_000;

impl LineItem {
    /// quantity × unit price − discount + tax + fee; an error naming `field` when a step
    /// passes [`money::MAX_AMOUNT`].
    pub fn total_for(&self, field: &str) -> Result<Decimal> {
        let price = money::mul(field, self.unit_price, Decimal::from(self.quantity))?;
        let total = money::add(field, money::sub(field, price, self.discount)?, self.tax)?;
        money::add(field, total, self.fee)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSplit {
    pub channel: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInfo {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<PaymentSplit>,
}

/// A `POST /orders` body after validation. Stored with the order, so a retried request
/// can be recognised as the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub business_type: String,
    pub currency: Currency,
    pub items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<String>,
    pub payment: PaymentInfo,
    /// Digital goods: what was bought and the entitlement it grants (the refund
    /// calculator reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// How the docking person can reach the ordering user; shown to them masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl NewOrder {
    /// Reads and checks a `POST /orders` body; `now` bounds the times it may carry.
    pub fn parse(body: &serde_json::Value, rules: &Rules, now: DateTime<Utc>) -> Result<NewOrder> {
        let f = Fields::root(body)?;
        let order_id = OrderId::parse("order_id", f.str("order_id")?)?;
        let customer_id = CustomerId::parse("customer_id", f.str("customer_id")?)?;
        let business_type = f.str("business_type")?.to_string();
        if !rules.business_types.contains(&business_type) {
            let known = rules.business_types.join(", ");
            return Err(Error::validation(
                "business_type",
                format!("unknown business type {business_type:?}: expected one of {known}"),
            ));
        }
        let currency = Currency::parse("currency", f.str("currency")?)?;
        let items = parse_items(&f, currency)?;
        let payment = parse_payment(&f, currency, now)?;
        let total = items_total(&items)?;
        let paid = money::sum("payment.splits", payment.splits.iter().map(|s| s.amount))?;
        if !payment.splits.is_empty() && paid != total {
            return Err(Error::validation("payment.splits", format!("add up to {paid}, but the order totals {total}")));
        }
        let product = Product::parse(&f, now)?;
        Ok(NewOrder {
            order_id,
            customer_id,
            business_type,
            currency,
            items,
            shipping_country: country(&f, "shipping_country")?,
            billing_country: country(&f, "billing_country")?,
            shipping_address: f.opt_text("shipping_address", MAX_ADDRESS_CHARS)?.map(str::to_string),
            payment,
            product,
            contact: parse_contact(&f)?,
        })
    }

    /// The order's total; an error only for an order that never passed [`NewOrder::parse`].
    pub fn total(&self) -> Result<Money> {
        Ok(Money::new(items_total(&self.items)?, self.currency))
    }
}

/// The sum of the items' totals, at most [`money::MAX_AMOUNT`].
fn items_total(items: &[LineItem]) -> Result<Decimal> {
    items.iter().enumerate().try_fold(Decimal::ZERO, |sum, (i, item)| {
        let field = format!("items[{i}]");
        money::add(&field, sum, item.total_for(&field)?)
    })
}

fn parse_contact(f: &Fields<'_>) -> Result<Option<Contact>> {
    let Some(nested) = f.opt_object("contact")? else { return Ok(None) };
    let c = nested.fields();
    let email = c.opt_text("email", MAX_EMAIL_CHARS)?;
    // The error does not repeat the value: it is personal data.
    if email.is_some_and(|e| !e.contains('@')) {
        return Err(Error::validation(c.path("email"), "is not an email address"));
    }
    Ok(Some(Contact {
        name: c.opt_text("name", MAX_NAME_CHARS)?.map(str::to_string),
        email: email.map(str::to_string),
        phone: c.opt_text("phone", MAX_PHONE_CHARS)?.map(str::to_string),
    }))
}

fn country(f: &Fields<'_>, name: &str) -> Result<Option<String>> {
    match f.opt_str(name)? {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) => Ok(Some(c.to_string())),
        Some(c) => {
            Err(Error::validation(f.path(name), format!("{c:?} is not an ISO 3166 alpha-2 code such as \"CN\"")))
        }
        None => Ok(None),
    }
}

fn parse_items(f: &Fields<'_>, currency: Currency) -> Result<Vec<LineItem>> {
    let nested = f.objects("items")?;
    if nested.is_empty() {
        return Err(Error::validation("items", "must list at least one item"));
    }
    nested
        .iter()
        .map(|n| {
            let i = n.fields();
            let quantity = i.u32_in("quantity", 1, MAX_QUANTITY)?;
            let amount = |name: &str| -> Result<Decimal> {
                let text = i.opt_decimal_text(name)?.unwrap_or("0");
                currency.parse_amount(&i.path(name), text)
            };
            i.decimal_text("unit_price")?;
            let item = LineItem {
                sku: Sku::parse(&i.path("sku"), i.str("sku")?)?,
                quantity,
                unit_price: amount("unit_price")?,
                discount: amount("discount")?,
                tax: amount("tax")?,
                fee: amount("fee")?,
            };
            if item.total_for(&i.path("unit_price"))? < Decimal::ZERO {
                return Err(Error::validation(i.path("discount"), "is larger than the item's price"));
            }
            Ok(item)
        })
        .collect()
}

fn parse_payment(f: &Fields<'_>, currency: Currency, now: DateTime<Utc>) -> Result<PaymentInfo> {
    let nested = f.object("payment")?;
    let p = nested.fields();
    let method = payment_method(&p.path("method"), p.str("method")?)?;
    let splits = p
        .objects("splits")?
        .iter()
        .map(|n| {
            let s = n.fields();
            Ok(PaymentSplit {
                channel: payment_method(&s.path("channel"), s.str("channel")?)?,
                amount: currency.parse_amount(&s.path("amount"), s.decimal_text("amount")?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(i) = splits.iter().position(|s| s.amount <= Decimal::ZERO) {
        return Err(Error::validation(format!("{}[{i}].amount", p.path("splits")), "must be above zero"));
    }
    Ok(PaymentInfo { method, paid_at: p.opt_time_within("paid_at", now, TimeWindow::PAYMENT)?, splits })
}

fn payment_method(field: &str, text: &str) -> Result<String> {
    if PAYMENT_METHODS.contains(&text) {
        Ok(text.to_string())
    } else {
        Err(Error::validation(
            field,
            format!("unknown payment method {text:?}: expected one of {}", PAYMENT_METHODS.join(", ")),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    AwaitingPrepayment,
    Dispatched,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingPrepayment => "AWAITING_PREPAYMENT",
            OrderStatus::Dispatched => "DISPATCHED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditStatus {
    Pending,
    ProvisionallyAccepted,
    Approved,
    Rejected,
}

impl AuditStatus {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Pending => "PENDING",
            AuditStatus::ProvisionallyAccepted => "PROVISIONALLY_ACCEPTED",
            AuditStatus::Approved => "APPROVED",
            AuditStatus::Rejected => "REJECTED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepayment {
    pub amount: Decimal,
    pub currency: Currency,
    pub due_at: DateTime<Utc>,
}

/// A prepayment received against the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub payment_ref: String,
    pub amount: Decimal,
    pub currency: Currency,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The stored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub request: NewOrder,
    pub total: Money,
    pub status: OrderStatus,
    /// The status the order was created with: a repeated `POST /orders` answers with
    /// the first result, whatever happened since.
    pub initial_status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_status: Option<AuditStatus>,
    pub risk: RiskAssessment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepayment: Option<Prepayment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepayment_paid: Option<PaymentRecord>,
    pub history: Vec<HistoryEntry>,
    #[serde(default, skip_serializing_if = "AuditState::is_empty")]
    pub audit: AuditState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The W3C `traceparent` of the request that placed it: every message about the
    /// order carries it, whoever causes the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Every transition of the order, oldest first (the latest
    /// [`crate::domain::timeline::MAX_TRANSITIONS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<crate::domain::timeline::Transition>,
}

impl Order {
    pub fn id(&self) -> &OrderId {
        &self.request.order_id
    }

    /// The trace id of the order's trace (empty for an order placed without one), for
    /// log lines about the order written outside its trace.
    pub fn trace_id(&self) -> String {
        let context = self.trace.as_deref().and_then(crate::trace::TraceContext::parse);
        context.map(|t| t.trace_id().to_string()).unwrap_or_default()
    }

    /// The order's state as its timeline shows it: `STATUS` or `STATUS/AUDIT_STATUS`.
    pub fn state_label(&self) -> String {
        match self.audit_status {
            Some(audit) => format!("{}/{}", self.status.as_str(), audit.as_str()),
            None => self.status.as_str().to_string(),
        }
    }

    /// Appends the transition from `before` (none for the creation) to this order.
    pub fn record_transition(&mut self, before: Option<&Order>, context: &crate::domain::timeline::Context) {
        let seen = before.map_or(0, |b| b.history.len());
        let entry = crate::domain::timeline::Transition {
            at: context.at.unwrap_or(self.updated_at),
            events: self.history.get(seen..).unwrap_or_default().iter().map(|h| h.event.clone()).collect(),
            by: context.by.clone(),
            trace_id: context.trace_id.clone(),
            from: before.map(Order::state_label),
            to: self.state_label(),
            messages: context.messages.clone(),
        };
        crate::domain::timeline::push(&mut self.timeline, entry);
    }

    /// Appends a history entry and moves the clock of the order.
    pub fn record(&mut self, at: DateTime<Utc>, event: &str, detail: Option<String>) {
        self.history.push(HistoryEntry { at, event: event.to_string(), detail });
        self.updated_at = at;
    }

    /// The order as the API shows it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "order_id": self.request.order_id,
            "customer_id": self.request.customer_id,
            "business_type": self.request.business_type,
            "status": self.status,
            "audit_status": self.audit_status,
            "total": self.total.amount,
            "currency": self.total.currency,
            "items": self.request.items,
            "risk": self.risk,
            "prepayment": self.prepayment,
            "payment": {
                "method": self.request.payment.method,
                "paid_at": self.request.payment.paid_at,
                "splits": self.request.payment.splits,
                "prepayment": self.prepayment_paid,
            },
            // The dispatcher's own item replaces this once fulfilment has started.
            "fulfilment": {"status": "NOT_STARTED", "systems": [], "statuses": []},
            "reaudit_rule": self.audit.rule,
            "history": self.history,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "traceparent": self.trace,
        })
    }

    /// Whether a prepayment request matches what the order asks for.
    pub fn check_prepayment(&self, amount: &Money) -> Result<()> {
        let Some(due) = &self.prepayment else {
            return Err(Error::Conflict(format!("order {} does not await a prepayment", self.id())));
        };
        if amount.currency != due.currency {
            return Err(Error::validation("currency", format!("the prepayment is due in {}", due.currency)));
        }
        if amount.amount != due.amount {
            return Err(Error::validation("amount", format!("the prepayment due is {} {}", due.amount, due.currency)));
        }
        Ok(())
    }
}
