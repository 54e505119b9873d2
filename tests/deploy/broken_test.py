"""The deployment test's checks catch a template whose wiring is broken, and say which
resource: each test deploys a copy of the expanded template with one break and runs
just the part of the deployment test that meets it."""

import copy

import pytest

from deployment import Deployment
from deploy_test import retail_order
from pollers import Stuck


@pytest.fixture
def broken(expanded):
    opened = []

    def deploy(change, start=True):
        template = copy.deepcopy(expanded)
        change(template["Resources"])
        d = Deployment(template, name="broken")
        opened.append(d)
        d.deploy()
        if start:
            d.start()
        return d

    yield deploy
    for d in opened:
        d.close()


def test_a_wrong_environment_variable_names_the_function_and_the_variable(broken):
    def point_order_events_at_audit_requests(resources):
        env = resources["OutboxRelayFunction"]["Properties"]["Environment"]["Variables"]
        env["ORDER_EVENTS_TOPIC_ARN"] = {"Ref": "AuditRequestsTopic"}

    d = broken(point_order_events_at_audit_requests, start=False)
    assert d.wiring_problems() == [
        "OutboxRelayFunction: ORDER_EVENTS_TOPIC_ARN is 'AuditRequestsTopic', not OrderEventsTopic",
        "OutboxRelayFunction: may sns:Publish to OrderEventsTopic but ORDER_EVENTS_TOPIC_ARN is "
        f"'{d.stack.physical_id('AuditRequestsTopic')}', not OrderEventsTopic's",
    ]


def test_a_missing_filter_policy_shows_as_dead_letters_naming_the_subscription(broken):
    def drop_the_filter(resources):
        props = resources["FulfilmentOrdersSubscription"]["Properties"]
        del props["FilterPolicy"], props["FilterPolicyScope"]

    d = broken(drop_the_filter)
    assert d.wiring_problems() == []
    status, _ = d.api.request("POST", "/orders", retail_order("h-1", "200000.00"))
    assert status == 201
    d.settle()
    assert d.leftovers() == [
        "FulfilmentOrdersDeadLetterQueue holds 1 message(s) of type order.prepayment_requested at the end "
        "(dead letters of FulfilmentOrdersQueue; fed by FulfilmentOrdersSubscription from OrderEventsTopic "
        "with no filter policy)"
    ]


def test_a_missing_permission_names_the_function_its_role_and_the_call(broken):
    def drop_the_gsi1_index(resources):
        statements = resources["RiskCheckFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        statement = next(s for s in statements if s.get("Sid") == "StateTable")
        statement["Resource"] = [r for r in statement["Resource"] if "gsi1" not in str(r)]

    d = broken(drop_the_gsi1_index)
    status, _ = d.api.request("POST", "/orders", retail_order("o-1", "10.00"))
    assert status == 201
    denied, _ = d.least_privilege()
    table = d.stack.attribute("StateTable", "Arn")
    assert denied == [f"RiskCheckFunction (function) called dynamodb:Query on {table}/index/gsi1: "
                      "its role RiskCheckFunctionRole does not allow it"]


def test_a_missing_invoke_permission_names_the_function_and_the_route(broken):
    def drop_the_route_permission(resources):
        del resources["RiskCheckFunctionPostOrdersPermission"]

    d = broken(drop_the_route_permission)
    with pytest.raises(AssertionError, match=r"RiskCheckFunction has no permission for API Gateway to invoke it "
                                             r"from POST /orders"):
        d.api.request("POST", "/orders", retail_order("o-1", "10.00"))


def test_a_queue_without_its_redrive_policy_is_named_before_and_during_the_run(broken):
    def drop_the_redrive_policy(resources):
        del resources["AuditResultsQueue"]["Properties"]["RedrivePolicy"]

    d = broken(drop_the_redrive_policy)
    assert d.wiring_problems() == [
        "AuditResultsQueue (consumed by AuditFailureFunction through AuditFailureFunctionAuditResultsQueue) "
        "has no RedrivePolicy: a message that keeps failing is retried forever"
    ]
    with pytest.raises(Stuck, match=r"AuditResultsQueue: message .* failed 11 times in AuditFailureFunction and "
                                    r"was never moved to a dead-letter queue: the queue has no RedrivePolicy"):
        d.publish("AuditResultsTopic", "this is not JSON", "audit.failed")


def test_a_resource_type_moto_skips_and_the_test_cannot_create_fails_the_deployment(expanded):
    template = copy.deepcopy(expanded)
    template["Resources"]["ApiDomain"] = {"Type": "AWS::ApiGatewayV2::DomainName", "Properties": {
        "DomainName": "orders.example.com"}}
    d = Deployment(template, name="unknown")
    try:
        with pytest.raises(AssertionError, match=r"cannot create in its stead: ApiDomain \(AWS::ApiGatewayV2::DomainName\)"):
            d.deploy()
    finally:
        d.close()
