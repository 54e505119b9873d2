use std::str::FromStr;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::domain::policy::risk::RiskRule;
use crate::domain::policy::Rules;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn cny(amount: &str) -> Money {
    let c = Currency::parse("currency", "CNY").unwrap();
    Money::new(Decimal::from_str(amount).unwrap(), c)
}

fn facts(total: Money) -> RiskFacts<'static> {
    RiskFacts {
        total,
        customer_id: "c-7",
        shipping_country: Some("CN"),
        billing_country: Some("CN"),
        shipping_address: None,
        payment_method: "BANK_CARD",
        has_history: false,
        recent_orders: &[],
    }
}

fn defaults() -> Rules {
    Rules::defaults()
}

#[test]
fn small_order_from_new_customer_is_dispatched() {
    let rules = defaults();
    let a = assess(&rules.risk, &facts(cny("10.00")), now());
    assert_eq!(a.level, RiskLevel::Low);
    assert_eq!(decide(&rules.risk, a.level, cny("10.00"), now()), RiskDecision::Dispatch);
}

#[test]
fn large_order_needs_prepayment_of_its_share_due_later() {
    let rules = defaults();
    let total = cny("200000.00");
    let a = assess(&rules.risk, &facts(total), now());
    assert_eq!(a.level, RiskLevel::High);
    match decide(&rules.risk, a.level, total, now()) {
        RiskDecision::RequirePrepayment { amount, due_at } => {
            assert_eq!(amount.amount.to_string(), "60000.00");
            assert!(due_at > now());
        }
        other => panic!("expected prepayment, got {other:?}"),
    }
}

#[test]
fn blocklisted_customer_is_blocked_whatever_the_score() {
    let rules = defaults();
    let mut f = facts(cny("10.00"));
    f.customer_id = "c-blocked";
    let a = assess(&rules.risk, &f, now());
    assert_eq!(a.level, RiskLevel::Block);
    assert!(a.matched_rules.iter().any(|r| r == "customer-blocklist"));
    assert_eq!(decide(&rules.risk, a.level, f.total, now()), RiskDecision::Reject);
}

#[test]
fn velocity_counts_only_orders_inside_the_window() {
    let rules = defaults();
    let recent: Vec<_> = (1..=5).map(|m| now() - Duration::minutes(m)).collect();
    let old: Vec<_> = (1..=5).map(|d| now() - Duration::days(d)).collect();
    let mut f = facts(cny("10.00"));
    f.has_history = true;
    f.recent_orders = &recent;
    assert!(assess(&rules.risk, &f, now()).matched_rules.iter().any(|r| r == "velocity"));
    f.recent_orders = &old;
    assert!(!assess(&rules.risk, &f, now()).matched_rules.iter().any(|r| r == "velocity"));
}

#[test]
fn address_blocklist_ignores_case_and_spacing() {
    let mut rules = defaults();
    rules.risk.rules.push(RiskRule::new(
        "bad-address",
        Condition::AddressBlocklist { addresses: vec!["1 Fraud Street".into()] },
        Effect::Force(RiskLevel::Block),
    ));
    let mut f = facts(cny("10.00"));
    f.shipping_address = Some("  1  fraud street ");
    assert_eq!(assess(&rules.risk, &f, now()).level, RiskLevel::Block);
}

#[test]
fn country_mismatch_adds_its_score() {
    let rules = defaults();
    let mut f = facts(cny("10.00"));
    let base = assess(&rules.risk, &f, now()).score;
    f.billing_country = Some("US");
    let a = assess(&rules.risk, &f, now());
    assert!(a.score > base);
    assert!(a.matched_rules.iter().any(|r| r == "country-mismatch"));
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        (0u32..1_000_000).prop_map(|a| Condition::AmountOver { amount: Decimal::from(a), currency: None }),
        (0u32..10, 1u32..600).prop_map(|(m, w)| Condition::Velocity { max_orders: m, window_minutes: w }),
        Just(Condition::NewCustomer {}),
        Just(Condition::CountryMismatch {}),
        Just(Condition::PaymentMethod { methods: vec!["LENDING".into()] }),
        Just(Condition::CustomerBlocklist { customers: vec!["c-7".into()] }),
    ]
}

fn arb_effect() -> impl Strategy<Value = Effect> {
    prop_oneof![
        (0u32..200).prop_map(Effect::Score),
        prop::sample::select(RiskLevel::ALL.to_vec()).prop_map(Effect::Force),
    ]
}

proptest! {
    /// Adding a rule that matches never lowers the level (and never lowers the score).
    #[test]
    fn adding_a_matched_rule_never_lowers_the_level(
        base in prop::collection::vec((arb_condition(), arb_effect()), 0..8),
        extra in arb_effect(),
        amount in 1u32..500_000,
        mismatch in any::<bool>(),
        history in any::<bool>(),
    ) {
        let mut rules = defaults();
        rules.risk.rules = base
            .into_iter()
            .enumerate()
            .map(|(i, (c, e))| RiskRule::new(&format!("r{i}"), c, e))
            .collect();
        let mut f = facts(cny(&format!("{amount}.00")));
        f.has_history = history;
        if mismatch { f.billing_country = Some("US"); }
        let before = assess(&rules.risk, &f, now());
        // A rule that certainly matches: the customer is on its list.
        rules.risk.rules.push(RiskRule::new(
            "extra",
            Condition::CustomerBlocklist { customers: vec![f.customer_id.to_string()] },
            extra,
        ));
        let after = assess(&rules.risk, &f, now());
        prop_assert!(after.level >= before.level);
        prop_assert!(after.score >= before.score);
        prop_assert_eq!(after.matched_rules.len(), before.matched_rules.len() + 1);
    }
}
