//! Tests may overflow and panic: only the code under test is checked.
#![allow(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::domain::policy::Rules;
use crate::domain::refund_policy::{apply, failed_conditions, review_reasons};

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn cny() -> Currency {
    Currency::parse("currency", "CNY").unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn entitlement() -> Entitlement {
    Entitlement {
        key: Some("K-1".into()),
        user_flags: vec!["VIP".into()],
        service_content: "FULL".into(),
        product_status: "ACTIVE".into(),
    }
}

/// The README's first worked example: 120.00 − 20.00 discount + 6.00 tax + 1.00 fee,
/// paid 80.00 by card and 27.00 in coins, a 360-day term a third used.
fn membership(used_days: i64) -> Purchase {
    let start = now() - Duration::days(used_days);
    Purchase {
        currency: cny(),
        price: d("120.00"),
        discount: d("20.00"),
        tax: d("6.00"),
        fee: d("1.00"),
        total: d("107.00"),
        method: "BANK_CARD".into(),
        order_type: "STANDARD".into(),
        paid_by_channel: BTreeMap::from([("BANK_CARD".into(), d("80.00")), ("VIRTUAL_COINS".into(), d("27.00"))]),
        paid_at: Some(start),
        product: ProductKind::Membership { service_start: start, service_end: start + Duration::days(360) },
        entitlement: entitlement(),
    }
}

fn album(released: u32, consumed: u32) -> Purchase {
    Purchase {
        price: d("60.00"),
        discount: d("0.00"),
        tax: d("3.00"),
        fee: d("0.50"),
        total: d("63.50"),
        method: "THIRD_PARTY".into(),
        paid_by_channel: BTreeMap::from([("THIRD_PARTY".into(), d("50.00")), ("VIRTUAL_COINS".into(), d("13.50"))]),
        paid_at: Some(now() - Duration::days(3)),
        product: ProductKind::Album { total_episodes: 20, released_episodes: released, consumed_episodes: consumed },
        ..membership(0)
    }
}

fn quote_of(scenario: &str, p: &Purchase, refunded: &Refunded) -> Quote {
    let rules = Rules::defaults();
    quote(&rules.refunds, rules.refunds.scenario(scenario).unwrap(), p, refunded, now()).unwrap()
}

fn amounts(q: &Quote) -> Vec<(String, String)> {
    q.channels.iter().map(|c| (c.channel.clone(), c.amount.to_string())).collect()
}

#[test]
fn membership_a_third_used_refunds_two_thirds_of_price_and_tax_less_the_fee() {
    let q = quote_of("MEMBERSHIP", &membership(120), &Refunded::default());
    assert_eq!(q.amount.to_string(), "70.67");
    let lines: Vec<&str> = q.breakdown.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(lines, ["base", "residual_share", "tax", "fee", "rounding"]);
    assert_eq!(q.breakdown[1].detail, "240 of 360 days unused");
    assert_eq!(q.breakdown.iter().map(|l| l.amount).sum::<Decimal>(), q.amount);
    assert_eq!(amounts(&q), [("BANK_CARD".into(), "52.84".into()), ("VIRTUAL_COINS".into(), "17.83".into())]);
    assert_eq!((q.channels[1].destination.as_str(), q.channels[1].form.as_str()), ("PLATFORM_ACCOUNT", "COINS"));
}

#[test]
fn a_started_day_counts_as_used() {
    let mut p = membership(0);
    if let ProductKind::Membership { service_start, service_end } = &mut p.product {
        *service_start -= Duration::hours(1);
        *service_end -= Duration::hours(1);
    }
    assert_eq!(quote_of("MEMBERSHIP", &p, &Refunded::default()).breakdown[1].detail, "359 of 360 days unused");
}

#[test]
fn album_refunds_the_unreleased_episodes() {
    let q = quote_of("ALBUM", &album(8, 5), &Refunded::default());
    assert_eq!(q.amount.to_string(), "37.80");
    assert_eq!(q.breakdown[1].detail, "12 of 20 episodes unreleased");
    assert_eq!(amounts(&q), [("THIRD_PARTY".into(), "29.76".into()), ("VIRTUAL_COINS".into(), "8.04".into())]);
}

#[test]
fn refund_is_capped_by_what_is_left() {
    let mut refunded = Refunded::default();
    refunded.by_channel.insert("BANK_CARD".into(), d("80.00"));
    let q = quote_of("MEMBERSHIP", &membership(0), &refunded);
    assert_eq!(q.amount.to_string(), "27.00");
    assert_eq!(q.breakdown.last().unwrap().line, "cap");
    assert_eq!(amounts(&q), [("VIRTUAL_COINS".into(), "27.00".into())]);
}

#[test]
fn handling_fees_by_method_and_order_type_are_kept() {
    let mut p = membership(0);
    p.method = "LENDING".into();
    p.order_type = "PROMOTIONAL".into();
    let q = quote_of("MEMBERSHIP", &p, &Refunded::default());
    assert_eq!(q.amount.to_string(), "99.00", "107.00 − 1.00 paid fee − 2.00 LENDING − 5.00 PROMOTIONAL");
}

#[test]
fn rounding_modes_are_named_and_applied_once() {
    let c = cny();
    assert_eq!(round(crate::domain::policy::refund::Rounding::HalfEven, c, d("0.125")).to_string(), "0.12");
    assert_eq!(round(crate::domain::policy::refund::Rounding::HalfUp, c, d("0.125")).to_string(), "0.13");
    assert_eq!(round(crate::domain::policy::refund::Rounding::Down, c, d("0.129")).to_string(), "0.12");
}

#[test]
fn every_failed_condition_is_reported() {
    let rules = Rules::defaults();
    let scenario = rules.refunds.scenario("MEMBERSHIP").unwrap();
    let mut p = membership(300);
    p.entitlement.product_status = "UNSUBSCRIBED".into();
    let failed = failed_conditions(scenario, &p, now());
    assert_eq!(failed, ["REFUND_WINDOW_EXPIRED", "CONSUMED_TOO_MUCH", "ENTITLEMENT_NOT_REFUNDABLE"]);
    p.paid_at = None;
    assert_eq!(failed_conditions(scenario, &p, now())[0], "NOT_PAID");
}

#[test]
fn large_refunds_lending_and_flagged_users_go_to_review() {
    let rules = Rules::defaults();
    let album_rules = rules.refunds.scenario("ALBUM").unwrap();
    let p = album(8, 5);
    let q = quote_of("ALBUM", &p, &Refunded::default());
    assert_eq!(review_reasons(album_rules, &p, &q), ["AMOUNT_ABOVE_AUTO_LIMIT"]);
    let mut p = membership(120);
    p.paid_by_channel = BTreeMap::from([("LENDING".into(), d("107.00"))]);
    p.entitlement.user_flags.push("DISPUTED".into());
    let scenario = rules.refunds.scenario("MEMBERSHIP").unwrap();
    let q = quote_of("MEMBERSHIP", &p, &Refunded::default());
    assert_eq!(review_reasons(scenario, &p, &q), ["CHANNEL_LENDING", "USER_FLAG_DISPUTED"]);
}

#[test]
fn entitlement_after_refund_has_key_revoked_and_flags_changed() {
    let rules = Rules::defaults();
    let change = &rules.refunds.scenario("MEMBERSHIP").unwrap().entitlement;
    let after = apply(change, &entitlement());
    assert_eq!(after.key, None);
    assert_eq!(after.user_flags, ["REFUNDED"]);
    assert_eq!((after.service_content.as_str(), after.product_status.as_str()), ("NONE", "UNSUBSCRIBED"));
}

#[test]
fn paid_is_what_the_order_took_and_never_more_than_its_total() {
    let mut p = membership(0);
    assert_eq!(p.paid(), d("107.00"));
    p.paid_by_channel.insert("BANK_CARD".into(), d("180.00"));
    assert_eq!(p.paid(), d("107.00"), "splits above the total never raise what can be refunded");
    let q = quote_of("MEMBERSHIP", &p, &Refunded::default());
    assert!(q.amount <= d("107.00"), "{q:?}");
    p.paid_by_channel.insert("WEALTH".into(), Decimal::MAX);
    assert_eq!(p.paid(), d("107.00"), "a sum past Decimal's range is still capped by the total");
}

#[test]
fn amounts_past_the_computable_range_are_refused_not_panicked_on() {
    let rules = Rules::defaults();
    let scenario = rules.refunds.scenario("MEMBERSHIP").unwrap();
    let mut p = membership(120);
    p.price = Decimal::MAX;
    p.discount = Decimal::ZERO;
    let refused = quote(&rules.refunds, scenario, &p, &Refunded::default(), now());
    assert!(matches!(&refused, Err(Error::Validation { field, .. }) if field == "order_id"), "{refused:?}");
    let mut p = membership(120);
    p.total = Decimal::MAX;
    p.paid_by_channel = BTreeMap::from([("BANK_CARD".into(), MAX_REFUNDABLE + Decimal::ONE)]);
    assert!(quote(&rules.refunds, scenario, &p, &Refunded::default(), now()).is_err());
    let mut refunded = Refunded::default();
    refunded.by_channel.insert("BANK_CARD".into(), Decimal::MAX);
    let more = ChannelRefund {
        channel: "BANK_CARD".into(),
        amount: d("1.00"),
        destination: "BANK_CARD".into(),
        form: "MONEY".into(),
    };
    assert!(refunded.add(&[more]).is_err());
    assert_eq!(refunded.by_channel["BANK_CARD"], Decimal::MAX, "a failed add changes nothing");
    assert_eq!(MAX_REFUNDABLE, Decimal::from(1_000_000_000_000_000i64));
}

#[test]
fn inconsistent_album_counts_refund_nothing_rather_than_a_negative_share() {
    let product = ProductKind::Album { total_episodes: 4, released_episodes: 9, consumed_episodes: 9 };
    let share = residual_share(crate::domain::policy::refund::Residual::UnreleasedEpisodes {}, &product, now());
    assert_eq!((share.numerator, share.denominator), (0, 4));
}

fn order(status: &str, audit_status: Option<&str>) -> crate::domain::order::Order {
    crate::domain::test_orders::order(serde_json::json!({
        "request": {"order_id": "d-1", "customer_id": "c-1", "business_type": "digital", "currency": "CNY",
            "items": [], "shipping_country": null, "billing_country": null, "shipping_address": null,
            "payment": {"method": "BANK_CARD", "paid_at": null}, "product": null},
        "total": {"amount": "107.00", "currency": "CNY"}, "status": status, "initial_status": status,
        "audit_status": audit_status, "created_at": now().to_rfc3339(), "updated_at": now().to_rfc3339()
    }))
}

#[test]
fn only_a_paid_dispatched_order_not_rejected_by_its_audit_can_be_refunded() {
    use crate::domain::refund_policy::order_refusal;
    for audit in [None, Some("PENDING"), Some("PROVISIONALLY_ACCEPTED"), Some("APPROVED")] {
        assert_eq!(order_refusal(&order("DISPATCHED", audit)), None, "{audit:?}");
    }
    let refused = |status, audit| order_refusal(&order(status, audit)).unwrap();
    let rejected = refused("REJECTED", None);
    assert_eq!(rejected.reason, "ORDER_REJECTED");
    assert_eq!(rejected.message, "order d-1 is REJECTED: only a paid, dispatched order can be refunded");
    assert_eq!(refused("AWAITING_PREPAYMENT", None).reason, "ORDER_AWAITING_PREPAYMENT");
    assert_eq!(refused("CANCELLED", None).reason, "ORDER_CANCELLED");
    let audit = refused("DISPATCHED", Some("REJECTED"));
    assert_eq!(audit.reason, "ORDER_AUDIT_REJECTED");
    assert!(audit.message.contains("audit_status is REJECTED"), "{}", audit.message);
}

#[test]
fn facts_and_shown_entitlements_never_carry_the_key() {
    use crate::domain::refund_policy::{entitlement_view, extract};
    let rules = Rules::defaults();
    let facts = extract(rules.refunds.scenario("MEMBERSHIP").unwrap(), &membership(0));
    assert!(!facts.to_string().contains("K-1"), "{facts}");
    assert_eq!(facts["entitlement"]["key_status"], "ACTIVE");
    let mut revoked = entitlement();
    revoked.key = None;
    assert_eq!(entitlement_view(&revoked)["key_status"], "NONE");
    assert!(entitlement_view(&entitlement()).get("key").is_none());
}

const CHANNELS: [&str; 6] = ["PLATFORM_ACCOUNT", "BANK_CARD", "THIRD_PARTY", "LENDING", "WEALTH", "VIRTUAL_COINS"];

fn channels() -> impl Strategy<Value = Vec<(usize, i64)>> {
    prop::collection::vec((0..CHANNELS.len(), 1i64..5_000_000), 1..6)
}

fn paid_map(parts: &[(usize, i64)]) -> BTreeMap<String, Decimal> {
    let mut map = BTreeMap::new();
    for (i, cents) in parts {
        *map.entry(CHANNELS[*i].to_string()).or_insert(Decimal::ZERO) += Decimal::new(*cents, 2);
    }
    map
}

proptest! {
    #[test]
    fn split_adds_up_exactly_and_no_channel_gets_more_than_it_paid(parts in channels(), pct in 0u32..=100) {
        let paid = paid_map(&parts);
        let sum: Decimal = paid.values().copied().sum();
        let total = round(crate::domain::policy::refund::Rounding::Down, cny(), sum * Decimal::from(pct) / Decimal::from(100));
        let split = split(total, &paid, cny());
        prop_assert_eq!(split.iter().map(|c| c.amount).sum::<Decimal>(), total);
        for c in &split {
            prop_assert!(c.amount <= paid[&c.channel]);
        }
    }

    #[test]
    fn split_does_not_depend_on_the_order_of_the_channels(parts in channels(), cents in 0i64..10_000_000) {
        let mut reversed = parts.clone();
        reversed.reverse();
        let total = Decimal::new(cents, 2).min(paid_map(&parts).values().copied().sum());
        prop_assert_eq!(split(total, &paid_map(&parts), cny()), split(total, &paid_map(&reversed), cny()));
    }

    #[test]
    fn refunds_never_exceed_what_is_left(used in 0i64..400, parts in channels(), already in 0u32..=100) {
        let mut p = membership(used);
        p.paid_by_channel = paid_map(&parts);
        p.total = p.paid_by_channel.values().copied().sum();
        let mut refunded = Refunded::default();
        for (c, paid) in &p.paid_by_channel {
            refunded.by_channel.insert(c.clone(), round(crate::domain::policy::refund::Rounding::Down, cny(), *paid * Decimal::from(already) / Decimal::from(100)));
        }
        let q = quote_of("MEMBERSHIP", &p, &refunded);
        prop_assert!(q.amount <= p.paid() - refunded.total());
        prop_assert!(q.amount >= Decimal::ZERO);
        let mut after = refunded.clone();
        after.add(&q.channels).unwrap();
        for (c, paid) in &p.paid_by_channel {
            prop_assert!(after.by_channel.get(c).copied().unwrap_or_default() <= *paid);
        }
    }

    #[test]
    fn refund_at_purchase_time_returns_the_paid_amount_less_kept_fees(
        price in 100i64..10_000_000, tax in 0i64..100_000, fee in 0i64..10_000, coins in 0i64..100,
    ) {
        let mut p = membership(0);
        p.price = Decimal::new(price, 2);
        p.discount = Decimal::ZERO;
        p.tax = Decimal::new(tax, 2);
        p.fee = Decimal::new(fee, 2);
        let paid = p.price + p.tax + p.fee;
        let coin_part = round(crate::domain::policy::refund::Rounding::Down, cny(), paid * Decimal::from(coins) / Decimal::from(100));
        p.paid_by_channel = BTreeMap::from([("BANK_CARD".into(), paid - coin_part), ("VIRTUAL_COINS".into(), coin_part)]);
        p.paid_by_channel.retain(|_, v| *v > Decimal::ZERO);
        p.total = paid;
        let q = quote_of("MEMBERSHIP", &p, &Refunded::default());
        prop_assert_eq!(q.amount, paid - p.fee);
        prop_assert_eq!(q.channels.iter().map(|c| c.amount).sum::<Decimal>(), q.amount);
    }
}
