use super::*;
use crate::domain::risk::RiskLevel;

#[test]
fn shipped_rules_parse() {
    let rules = Rules::defaults();
    assert!(rules.business_types.contains(&"retail".to_string()));
    assert_eq!(rules.risk.band_of(0), RiskLevel::Low);
    assert_eq!(rules.risk.band_of(60), RiskLevel::High);
    assert_eq!(rules.risk.longest_velocity_window(), Some(60));
}

fn parse_err(text: &str) -> RulesError {
    Rules::parse("bad.toml", text).unwrap_err()
}

#[test]
fn unknown_condition_kind_names_the_rule() {
    let text = DEFAULT_RULES.replacen("kind = \"new_customer\"", "kind = \"new_custmer\"", 1);
    let err = parse_err(&text);
    assert_eq!(err.file, "bad.toml");
    assert!(err.field.starts_with("risk.rules[2]"), "{err}");
    assert!(err.problem.contains("new_custmer"), "{err}");
}

#[test]
fn rule_with_both_effects_is_refused() {
    let text = DEFAULT_RULES.replacen("score = 10", "score = 10\nforce = \"HIGH\"", 1);
    let err = parse_err(&text);
    assert_eq!(err.field, "risk.rules[2].score");
}

#[test]
fn bands_must_increase() {
    let err = parse_err(&DEFAULT_RULES.replacen("HIGH = 60", "HIGH = 20", 1));
    assert_eq!(err.field, "risk.bands.HIGH");
    assert!(err.to_string().starts_with("rules file bad.toml: risk.bands.HIGH: must be above MEDIUM (30)"), "{err}");
}

#[test]
fn missing_prepayment_share_is_named() {
    let err = parse_err(&DEFAULT_RULES.replacen("HIGH = \"0.30\"", "", 1));
    assert_eq!(err.field, "risk.prepayment_share.HIGH");
}

#[test]
fn unknown_keys_on_a_condition_are_refused() {
    let err =
        parse_err(&DEFAULT_RULES.replacen("{ kind = \"new_customer\" }", "{ kind = \"new_customer\", days = 3 }", 1));
    assert!(err.field.starts_with("risk.rules[2].when"), "{err}");
    assert!(err.problem.contains("days"), "{err}");
}

#[test]
fn unknown_payment_methods_in_a_rule_are_refused() {
    let err = parse_err(&DEFAULT_RULES.replacen("methods = [\"LENDING\"]", "methods = [\"LENDNG\"]", 1));
    assert_eq!(err.field, "risk.rules[6].when.methods");
}

#[test]
fn wrong_type_names_the_field() {
    let err =
        parse_err(&DEFAULT_RULES.replacen("prepayment_due_minutes = 1440", "prepayment_due_minutes = \"a day\"", 1));
    assert_eq!(err.field, "risk.prepayment_due_minutes");
    let err = parse_err("business_types = [\"retail\"]\n[risk\n");
    assert_eq!(err.field, "(syntax)");
}

#[test]
fn text_too_long_to_be_a_rule_is_refused_naming_it() {
    let long = "é".repeat(MAX_RULE_TEXT_CHARS + 1);
    let text = format!("{DEFAULT_RULES}\n[extra]\nnote = \"{long}\"\n");
    let err = parse_err(&text);
    assert_eq!(err.field, "extra.note");
    assert!(err.problem.contains("at most 4000 characters"), "{err}");
}
