use super::{Rules, RulesError, DEFAULT_RULES};

fn parse_err(text: &str) -> RulesError {
    Rules::parse("bad.toml", text).unwrap_err()
}

#[test]
fn shipped_strategies_follow_the_contract() {
    let rules = Rules::defaults();
    let retail = &rules.fulfilment.strategies["retail"];
    assert_eq!(retail.first, ["payment", "invoice"]);
    assert_eq!(retail.stage_of("carrier"), Some(2));
    assert!(rules.fulfilment.strategies.contains_key("digital"));
}

#[test]
fn an_unknown_system_is_named() {
    let err = parse_err(&DEFAULT_RULES.replacen("trigger = [\"carrier\"]", "trigger = [\"courier\"]", 1));
    assert_eq!(err.field, "fulfilment.strategies.retail.stages[1].trigger");
    assert!(err.problem.contains("courier"), "{err}");
}

#[test]
fn a_strategy_that_cannot_end_is_refused() {
    let err = parse_err(&DEFAULT_RULES.replacen(
        "end = { system = \"carrier\", status = \"DELIVERED\" }",
        "end = { system = \"carrier\", status = \"DONE\" }",
        1,
    ));
    assert_eq!(err.field, "fulfilment.strategies.retail.end.status");
    let err = parse_err(&DEFAULT_RULES.replacen("end = { system = \"carrier\"", "end = { system = \"entitlement\"", 1));
    assert_eq!(err.field, "fulfilment.strategies.retail.end.system");
}

#[test]
fn a_stage_no_status_can_trigger_is_refused() {
    let text = DEFAULT_RULES.replacen(
        "{ after = { system = \"warehouse\", status = \"DONE\" }",
        "{ after = { system = \"notification\", status = \"DONE\" }",
        1,
    );
    let err = parse_err(&text);
    assert_eq!(err.field, "fulfilment.strategies.retail.stages[1].after.system");
}

#[test]
fn a_strategy_without_a_node_for_each_system_is_refused() {
    let err = parse_err(&DEFAULT_RULES.replacen("invoice = [\"invoice\"]\n", "", 1));
    assert_eq!(err.field, "fulfilment.strategies.retail.nodes");
    assert!(err.problem.contains("invoice"), "{err}");
}

#[test]
fn a_business_type_without_a_strategy_is_refused() {
    let err = parse_err(&DEFAULT_RULES.replacen(
        "business_types = [\"retail\", \"digital\"]",
        "business_types = [\"retail\", \"digital\", \"grocery\"]",
        1,
    ));
    assert_eq!(err.field, "fulfilment.strategies.grocery");
}
