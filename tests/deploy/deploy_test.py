"""The template as a user deploys it, the release binaries as Lambda runs them: orders
driven through the deployed HTTP API, topics, queues, stream and schedule, with the
outcome read from the stack's table, the stack's queues and what reached its topics.

The tests of this module share one deployment and run in order, like the steps of a
day: each step's messages are read from the topics' taps."""

import datetime
import json
import re
from decimal import Decimal

from conftest import REPORTS, ROOT
from deployment import MIDDLE_OFFICE
from skipped import HANDLED

ORDERS, REQUESTS, NOTES = "OrderEventsTopic", "AuditRequestsTopic", "HandlerNotificationsTopic"
COMMANDS, RESULTS = "FulfilmentCommandsTopic", "AuditResultsTopic"


def now(minutes=0):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def retail_order(order_id, price):
    return {"order_id": order_id, "customer_id": f"cust-{order_id}", "business_type": "retail", "currency": "CNY",
            "items": [{"sku": "A-1", "quantity": 1, "unit_price": price}],
            "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"},
            "contact": {"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"}}


def body(d, pk, sk):
    item = d.item(pk, sk)
    assert item is not None, f"no item {pk} / {sk} in the stack's table"
    return json.loads(item["body"]["S"])


def kinds(messages):
    return [m["type"] for m in messages]


def commands(d, order_id):
    return [(m["type"], m["attributes"].get("system")) for m in d.messages(COMMANDS)
            if m["message"]["subject"] == order_id]


def report(d, order_id, system, status):
    answer = d.api.request("POST", "/fulfilment/status", {"order_id": order_id, "system": system, "node": system,
                                                          "status": status, "occurred_at": now()},
                           claims={"system": system})
    d.settle()
    assert answer[0] == 202, f"{system} {status}: {answer}"


def test_the_stack_deploys_with_what_moto_skips_created_from_the_template(deployment):
    d = deployment
    assert set(d.skipped.values()) <= set(HANDLED)
    assert {"AWS::SNS::Subscription", "AWS::SQS::QueuePolicy", "AWS::ApiGatewayV2::Api"} <= set(d.skipped.values())
    assert d.wiring_problems() == []
    template_routes = set()
    for path, methods in d.stack.resources()["HttpApi"]["Properties"]["Body"]["paths"].items():
        template_routes |= {f"{m.upper()} {path}" for m in methods}
    assert d.api.route_keys() == sorted(template_routes)
    assert d.api.request("GET", "/health", signed=False)[0] == 200
    refused = {"AWS_IAM": (403, {"message": "Forbidden"}), "JWT": (401, {"message": "Unauthorized"})}
    assert d.api.request("GET", "/orders/nobody", signed=False) == refused[d.api.auth("GET", "/orders/nobody")]
    if d.api.auth("GET", "/orders/nobody") == "JWT":
        assert d.api.request("GET", "/orders/nobody", claims={"scope": "refunds.review"}) == (403, {"message": "Forbidden"})
    assert d.api.request("GET", "/nowhere")[0] == 404


def test_only_the_middle_office_may_publish_audit_results_and_use_their_key(deployment):
    d = deployment
    sns, kms = d.moto.client("sns"), d.moto.client("kms")
    results = sns.get_topic_attributes(TopicArn=d.stack.physical_id(RESULTS))["Attributes"]
    key = d.stack.physical_id("AuditResultsKey")
    assert results["KmsMasterKeyId"] == key
    policy = json.loads(results["Policy"])
    [allow] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert (allow["Principal"]["AWS"], allow["Action"]) == ([MIDDLE_OFFICE], "sns:Publish")
    [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert (deny["Action"], deny["Condition"]) == ("sns:Publish", {"ArnNotLike": {"aws:PrincipalArn": [MIDDLE_OFFICE]}})

    key_policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    key_policy = key_policy if isinstance(key_policy, dict) else json.loads(key_policy)  # moto hands back CFN's
    users = [s for s in key_policy["Statement"] if "kms:GenerateDataKey" in s["Action"]]
    assert [(s["Principal"]["AWS"], s["Condition"]["StringEquals"]["kms:ViaService"]) for s in users] == [
        ([MIDDLE_OFFICE], f"sns.{d.stack.region}.amazonaws.com")]
    assert d.stack.resources()["AuditResultsKey"]["Type"] == "AWS::KMS::Key"  # customer managed


def test_other_accounts_may_subscribe_to_what_the_stack_tells_the_outside_only_when_configured(deployment):
    d = deployment
    sns = d.moto.client("sns")
    for topic in (ORDERS, COMMANDS):
        policy = json.loads(sns.get_topic_attributes(TopicArn=d.stack.physical_id(topic))["Attributes"]["Policy"])
        subscribers = {p for s in policy["Statement"] if s["Effect"] == "Allow" and s["Action"] == "sns:Subscribe"
                       for p in (s["Principal"]["AWS"] if isinstance(s["Principal"]["AWS"], list)
                                 else [s["Principal"]["AWS"]])}
        assert subscribers == {f"arn:aws:iam::{d.stack.account}:root", "210987654321"}, topic
        assert {a for s in policy["Statement"] for a in [s["Action"]]} == {"sns:Subscribe"}, topic


def test_a_retail_order_is_audited_again_after_a_retryable_failure_then_fulfilled(deployment):
    d = deployment
    status, placed = d.api.request("POST", "/orders", retail_order("r-1", "100.00"))
    assert (status, placed["status"]) == (201, "DISPATCHED"), placed
    d.settle()
    assert kinds(d.about(ORDERS, "order.dispatched", "r-1")) == ["order.dispatched"]
    assert [m["message"]["data"]["attempt"] for m in d.about(REQUESTS, "audit.requested", "r-1")] == [1]
    assert commands(d, "r-1") == [("fulfilment.trigger", "payment"), ("fulfilment.trigger", "invoice")]

    # The middle office reports a retryable failure that happened ten minutes ago, so the
    # first re-audit (about five minutes after it) is already due at the next tick.
    failure = {"audit_id": "aud-1", "order_id": "r-1", "reason_code": "STOCK_SHORTAGE",
               "reason": "2 units of A-1 short at the warehouse", "occurred_at": now(-10)}
    d.publish(RESULTS, failure, "audit.failed")
    order = body(d, "ORDER#r-1", "ORDER")
    assert order["audit_status"] == "PROVISIONALLY_ACCEPTED"
    assert order["audit"]["rule"]["attempts"] == 1
    assert len(d.about(ORDERS, "order.audit.provisionally_accepted", "r-1")) == 1
    (note,) = d.about(NOTES, "notification", "r-1")
    assert (note["attributes"]["team"], note["attributes"]["severity"]) == ("inventory", "medium")
    assert note["message"]["data"]["user"]["email"] == "l***@example.com"
    assert d.item("NOTIFICATION#r-1:notification:audit:aud-1", "SENT") is not None

    tick = d.tick()
    assert tick["requested"] == 1, tick
    assert [m["message"]["data"]["attempt"] for m in d.about(REQUESTS, "audit.requested", "r-1")] == [1, 2]
    assert body(d, "ORDER#r-1", "ORDER")["audit"]["rule"]["attempts"] == 2

    d.publish(RESULTS, {"audit_id": "aud-2", "order_id": "r-1", "occurred_at": now()}, "audit.passed")
    order = body(d, "ORDER#r-1", "ORDER")
    assert (order["audit_status"], order["audit"].get("rule")) == ("APPROVED", None)
    assert len(d.about(ORDERS, "order.audit.approved", "r-1")) == 1

    for system, status in (("payment", "DONE"), ("invoice", "DONE"), ("warehouse", "DONE"), ("carrier", "DELIVERED")):
        report(d, "r-1", system, status)
    assert commands(d, "r-1") == [("fulfilment.trigger", s) for s in ("payment", "invoice", "warehouse", "carrier")]
    assert body(d, "ORDER#r-1", "FULFILMENT")["status"] == "COMPLETED"
    assert len(d.about(ORDERS, "order.fulfilment.completed", "r-1")) == 1
    status, read = d.api.request("GET", "/orders/r-1")
    assert (status, read["audit_status"]) == (200, "APPROVED")


def test_a_high_risk_order_is_dispatched_once_its_prepayment_is_paid(deployment):
    d = deployment
    status, placed = d.api.request("POST", "/orders", retail_order("h-1", "200000.00"))
    assert (status, placed["status"], placed["risk"]["level"]) == (201, "AWAITING_PREPAYMENT", "HIGH"), placed
    assert placed["prepayment"]["amount"] == "60000.00"
    d.settle()
    assert len(d.about(ORDERS, "order.prepayment_requested", "h-1")) == 1
    assert d.about(REQUESTS, "audit.requested", "h-1") == []
    pay = {"payment_ref": "p-1", "amount": "60000.00", "currency": "CNY"}
    assert d.api.request("POST", "/orders/h-1/prepayment", pay) == (200, {"order_id": "h-1", "status": "DISPATCHED"})
    d.settle()
    assert body(d, "ORDER#h-1", "ORDER")["status"] == "DISPATCHED"
    assert len(d.about(ORDERS, "order.dispatched", "h-1")) == 1
    assert len(d.about(REQUESTS, "audit.requested", "h-1")) == 1
    assert commands(d, "h-1") == [("fulfilment.trigger", "payment"), ("fulfilment.trigger", "invoice")]


def test_a_digital_membership_is_refunded_its_residual_value(deployment):
    d = deployment
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=120)
    order = {"order_id": "d-1", "customer_id": "c-d-1", "business_type": "digital", "currency": "CNY",
             "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00",
                        "tax": "6.00", "fee": "1.00"}],
             "product": {"kind": "MEMBERSHIP", "service_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "service_end": (start + datetime.timedelta(days=360)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "entitlement": {"key": "KEY-1", "user_flags": ["VIP"], "service_content": "ALL_CHANNELS"}},
             "payment": {"method": "BANK_CARD", "paid_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "splits": [{"channel": "BANK_CARD", "amount": "80.00"},
                                    {"channel": "VIRTUAL_COINS", "amount": "27.00"}]}}
    status, placed = d.api.request("POST", "/orders", order)
    assert status == 201, placed
    d.settle()
    assert commands(d, "d-1") == [("fulfilment.trigger", "entitlement")]
    status, refund = d.api.request("POST", "/refunds", {"request_id": "rq-1", "order_id": "d-1",
                                                         "scenario": "MEMBERSHIP"})
    # 107.00 paid, a third of the term used (on the wall clock, so a part day counts too).
    assert (status, refund["status"]) == (201, "APPROVED"), refund
    assert Decimal("70.00") < Decimal(refund["amount"]) <= Decimal("70.67"), refund
    d.settle()
    refund_id = refund["refund_id"]
    (issued,) = d.about(ORDERS, "refund.issued", refund_id)
    assert issued["message"]["data"]["channels"] == refund["channel"]
    (entitlement,) = d.about(ORDERS, "entitlement.updated", "d-1")
    assert entitlement["message"]["data"]["entitlement"]["product_status"] == "UNSUBSCRIBED"
    assert body(d, f"REFUND#{refund_id}", "REFUND")["status"] == "APPROVED"
    assert d.api.request("GET", f"/refunds/{refund_id}") == (200, refund)


def test_a_poison_audit_result_ends_in_the_dead_letter_queue(deployment):
    d = deployment
    d.publish(RESULTS, "this is not JSON", "audit.failed")
    dead = d.queue_contents("AuditResultsDeadLetterQueue")
    assert [json.loads(m["Body"])["Message"] for m in dead] == ["this is not JSON"]
    assert d.queue_contents("AuditResultsQueue") == []


def test_nothing_else_was_dead_lettered_lost_or_published_on_the_wrong_topic(deployment):
    d = deployment
    assert d.leftovers(expected=["AuditResultsDeadLetterQueue"]) == []
    for poller in d.stream_pollers:
        assert poller.given_up == [], f"{poller.logical} gave up on stream records: {poller.given_up}"
    schemas = {p.name.split(".schema.json")[0]: json.loads(p.read_text())
               for p in (ROOT / "events" / "schemas").glob("*.schema.json")}
    for topic in d.stack.of_type("AWS::SNS::Topic"):
        name = re.sub(r"(?<!^)(?=[A-Z])", "-", topic[: -len("Topic")]).lower()
        for m in d.messages(topic):
            if topic == RESULTS:
                continue
            assert m["type"] in schemas, f"{topic}: a message of undocumented type {m['type']}"
            assert schemas[m["type"]].get("x-topic") == name, f"{topic} got {m['type']}, documented on another topic"
    for function in d.functions.values():
        assert function.process.poll() is None, f"{function.logical} stopped: {function.log_tail()}"


def test_every_aws_call_of_the_run_is_allowed_by_its_functions_role(deployment):
    d = deployment
    assert d.unparsed_calls() == []
    denied, text = d.least_privilege()
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "least-privilege.txt").write_text(text + "\n")
    assert denied == [], "\n".join(denied)
    called = {logical for logical, calls in d.calls().items() if any(c.via == "function" for c in calls)}
    assert called == set(d.configurations), f"functions that made no AWS call: {set(d.configurations) - called}"
