use super::{Rules, DEFAULT_RULES};

fn field_of(text: &str) -> String {
    Rules::parse("bad.toml", text).unwrap_err().field
}

#[test]
fn shipped_refund_rules_cover_both_scenarios() {
    let rules = Rules::defaults();
    assert!(rules.refunds.scenario("MEMBERSHIP").is_some());
    assert!(rules.refunds.scenario("ALBUM").is_some());
}

#[test]
fn a_condition_on_a_fact_not_extracted_is_named() {
    let text =
        DEFAULT_RULES.replacen("extract = [\"paid_at\", \"service_period\",", "extract = [\"service_period\",", 1);
    assert_eq!(field_of(&text), "refunds.scenarios.MEMBERSHIP.conditions[0]");
}

#[test]
fn an_album_cannot_use_the_membership_formula() {
    let text = DEFAULT_RULES.replacen(
        "basis = \"unreleased_episodes\"",
        "basis = \"unused_time\", partial_day_used = true",
        1,
    );
    assert_eq!(field_of(&text), "refunds.scenarios.ALBUM.residual.basis");
}

#[test]
fn bad_values_name_their_field() {
    assert_eq!(
        field_of(&DEFAULT_RULES.replacen("share = \"0.75\"", "share = \"1.5\"", 1)),
        "refunds.scenarios.MEMBERSHIP.conditions[2].share"
    );
    assert_eq!(
        field_of(&DEFAULT_RULES.replacen("rounding = \"half_even\"", "rounding = \"up\"", 1)),
        "refunds.rounding"
    );
    assert_eq!(
        field_of(&DEFAULT_RULES.replacen("LENDING = \"2.00\"", "LENDNG = \"2.00\"", 1)),
        "refunds.fees.by_payment_method.LENDNG"
    );
    assert_eq!(
        field_of(&DEFAULT_RULES.replacen("reviewer = \"seller\"", "reviewer = \"anyone\"", 1)),
        "refunds.scenarios.ALBUM.review.reviewer"
    );
}
