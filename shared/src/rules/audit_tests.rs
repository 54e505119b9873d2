use super::{Rules, RulesError, DEFAULT_RULES};

fn parse_err(text: &str) -> RulesError {
    Rules::parse("bad.toml", text).unwrap_err()
}

#[test]
fn shipped_reasons_follow_the_contract() {
    let rules = Rules::defaults();
    for code in ["STOCK_SHORTAGE", "PAYMENT_DEDUCTION_ERROR", "DOWNSTREAM_TIMEOUT"] {
        assert!(rules.audit.reasons[code].retryable, "{code}");
    }
    for code in ["PRICE_MISMATCH", "ADDRESS_INVALID"] {
        assert!(!rules.audit.reasons[code].retryable, "{code}");
    }
}

#[test]
fn unknown_placeholder_is_named() {
    let err = parse_err(&DEFAULT_RULES.replacen("{reason_code}); provisionally", "{reson}); provisionally", 1));
    assert_eq!(err.field, "audit.templates.retryable-failure.subject");
    assert!(err.problem.contains("{reson}"), "{err}");
}

#[test]
fn missing_template_is_named() {
    let err = parse_err(&DEFAULT_RULES.replacen("template = \"retryable-failure\"", "template = \"nope\"", 1));
    assert_eq!(err.field, "audit.reasons.STOCK_SHORTAGE.template");
}
