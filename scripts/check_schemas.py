#!/usr/bin/env python3
"""Checks the message schemas in events/schemas/ against the code.

1. Every events/schemas/<type>.schema.json is a valid JSON Schema (draft 2020-12) whose
   title is <type>.
2. The messages inside the SQS fixtures validate: events/sqs-audit-failed.json and
   events/sqs-audit-passed.json (the SNS envelope in each SQS body is unwrapped),
   events/sqs-notification.json, events/sqs-order-dispatched.json (raw delivery: the
   CloudEvent is the body, its attributes SQS message attributes) and
   events/sqs-fulfilment-status.json.
3. A scripted run of the local runtime (`orderflow-local serve --clock manual`, driven
   over HTTP) publishes every topic message type the code builds; each message on every
   topic must validate against the schema named by its `type` attribute (a type without
   a schema fails), sit on the schema's `x-topic`, carry the attributes of its
   `x-attributes`, and use no field the schema does not declare. For CloudEvents the
   `type` attribute must equal the envelope's `type`, and the `id` must start with the
   order or refund id (`subject`) it is derived from. The run fulfils one retail order to the end,
   has another recalled by a FAILED at the warehouse and two more by their final audit
   rejection, and feeds the fulfilment fixtures (events/api-post-fulfilment-status.json,
   events/sqs-order-dispatched.json, events/sqs-fulfilment-status.json) to the runtime,
   which must accept them. Every body posted to `POST /fulfilment/status` (which the
   route queues as it is) must validate against `fulfilment.status`.

Run with the project's venv: `.venv/bin/python scripts/check_schemas.py`. It builds
`orderflow-local` first (`cargo build -q -p orderflow-local`); `--no-build` skips that.
Exits 0 when everything holds, 1 otherwise.
"""

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "events" / "schemas"
# The topology's topics (shared/src/topology.rs); an unknown one answers 404.
TOPICS = ["audit-results", "audit-requests", "order-events", "handler-notifications", "fulfilment-commands"]
# Every type the scripted run must see published (notification.requested and
# fulfilment.status travel on queues, not topics: they are checked through their fixtures
# and, for fulfilment.status, the bodies the run posts).
EXPECTED_TYPES = {
    "audit.failed",
    "audit.passed",
    "audit.requested",
    "order.dispatched",
    "order.prepayment_requested",
    "order.rejected",
    "order.audit.provisionally_accepted",
    "order.audit.approved",
    "order.audit.rejected",
    "notification",
    "refund.issued",
    "refund.rejected",
    "refund.review_requested",
    "entitlement.updated",
    "fulfilment.trigger",
    "fulfilment.cancel",
    "order.fulfilment.completed",
    "order.fulfilment.exception",
}

SQS_FIXTURES = [
    "sqs-audit-failed.json",
    "sqs-audit-passed.json",
    "sqs-notification.json",
    "sqs-order-dispatched.json",
    "sqs-fulfilment-status.json",
]

problems = []


def fail(message):
    problems.append(message)
    print(f"  FAIL {message}")


def strict_copy(schema):
    """The schema with every object that lists `properties` closed to other fields:
    finds fields the code sends that the schema does not document."""
    schema = copy.deepcopy(schema)

    def close(node, in_if=False):
        if isinstance(node, dict):
            if not in_if and "properties" in node and "additionalProperties" not in node:
                node.setdefault("unevaluatedProperties", False)
            for key, value in node.items():
                close(value, in_if or key == "if")
        elif isinstance(node, list):
            for value in node:
                close(value, in_if)

    close(schema)
    return schema


def load_schemas():
    print("== schemas are valid draft 2020-12 JSON Schemas")
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        kind = path.name[: -len(".schema.json")]
        try:
            schema = json.loads(path.read_text())
            Draft202012Validator.check_schema(schema)
        except Exception as e:  # noqa: BLE001 - report any problem with the file
            fail(f"{path.relative_to(ROOT)}: {e}")
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            fail(f"{path.name}: $schema must be draft 2020-12")
        if schema.get("title") != kind:
            fail(f"{path.name}: title {schema.get('title')!r} is not the type {kind!r}")
        checker = Draft202012Validator.FORMAT_CHECKER
        schemas[kind] = (
            schema,
            Draft202012Validator(schema, format_checker=checker),
            Draft202012Validator(strict_copy(schema), format_checker=checker),
        )
        print(f"  ok   {path.name}")
    if not schemas:
        fail(f"no schemas in {SCHEMAS.relative_to(ROOT)}")
    return schemas


def errors_of(validator, instance):
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(instance)]


def check_message(schemas, where, kind, message, attributes, topic=None, strict=True):
    """Validates one message; `strict` makes undocumented fields a failure (else a warning)."""
    if kind not in schemas:
        fail(f"{where}: type {kind!r} has no schema in events/schemas/")
        return
    schema, validator, strict_validator = schemas[kind]
    before = len(problems)
    errors = errors_of(validator, message)
    for error in errors:
        fail(f"{where} ({kind}): {error}")
    if not errors:
        for error in errors_of(strict_validator, message):
            if strict:
                fail(f"{where} ({kind}): field not in the schema: {error}")
            else:
                print(f"  WARN {where} ({kind}): field not in the schema: {error}")
    expected_topic = schema.get("x-topic")
    if topic is not None and expected_topic != topic:
        fail(f"{where} ({kind}): published on {topic}, the schema says {expected_topic}")
    for name in schema.get("x-attributes", {}):
        if name not in attributes:
            fail(f"{where} ({kind}): message attribute {name!r} is missing")
    if attributes.get("type") not in (None, kind):
        fail(f"{where}: type attribute {attributes.get('type')!r} is not {kind!r}")
    if isinstance(message, dict) and "specversion" in message and topic is not None:
        if message.get("type") != attributes.get("type"):
            fail(f"{where}: envelope type {message.get('type')!r} != type attribute {attributes.get('type')!r}")
        subject = message.get("subject")
        if kind not in ("audit.failed", "audit.passed") and not str(message.get("id", "")).startswith(f"{subject}:"):
            fail(f"{where}: id {message.get('id')!r} is not derived from the order {subject!r}")
    if len(problems) == before:
        print(f"  ok   {where} ({kind})")


def check_fixtures(schemas):
    print("== events/sqs-*.json fixtures")
    for name in SQS_FIXTURES:
        event = json.loads((ROOT / "events" / name).read_text())
        for i, record in enumerate(event["Records"]):
            body = json.loads(record["body"])
            attributes = {k: v.get("stringValue") for k, v in record.get("messageAttributes", {}).items()}
            if isinstance(body, dict) and body.get("Type") == "Notification":
                for k, v in body.get("MessageAttributes", {}).items():
                    attributes[k] = v.get("Value")
                body = json.loads(body["Message"])
            kind = attributes.get("type") or (body.get("type") if isinstance(body, dict) else None)
            # Fixtures are hand-written: an extra field there is reported, not fatal.
            check_message(schemas, f"{name} record {i}", kind, body, attributes, strict=False)


class Server:
    """`orderflow-local serve --port 0 --clock manual --in-memory --auth off` (what is
    checked is the messages, not who may send the requests), started and stopped by PID."""

    def __init__(self, binary):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="orderflow-local-", suffix=".log", delete=False)
        self.out = tempfile.NamedTemporaryFile("w+", prefix="orderflow-local-", suffix=".out", delete=False)
        self.process = subprocess.Popen(
            [str(binary), "serve", "--port", "0", "--clock", "manual", "--in-memory", "--auth", "off"],
            stdout=self.out,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.base = self._wait_for_address()

    def _wait_for_address(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", Path(self.out.name).read_text())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"orderflow-local exited with {self.process.returncode}: {self.tail()}")
            time.sleep(0.05)
        raise RuntimeError("orderflow-local did not print its address within 60 s")

    def tail(self):
        return "\n".join(Path(self.log.name).read_text().splitlines()[-20:])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for f in (self.log, self.out):
            f.close()
            os.unlink(f.name)

    def call(self, method, path, body=None, expect=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        answer = json.loads(text) if text else None
        if expect is not None and status != expect:
            raise RuntimeError(f"{method} {path}: expected {expect}, got {status} {answer}")
        return answer


def order(order_id, customer_id, price, contact=None):
    body = {
        "order_id": order_id,
        "customer_id": customer_id,
        "business_type": "retail",
        "currency": "CNY",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price": price}],
        "shipping_country": "CN",
        "billing_country": "CN",
        "payment": {"method": "BANK_CARD"},
    }
    if contact:
        body["contact"] = contact
    return body


def publish_result(server, kind, data, envelope=False):
    """Publishes to audit-results as the middle office would, bare or as a CloudEvent."""
    if envelope:
        message = {
            "specversion": "1.0",
            "id": data["audit_id"],
            "source": "middle-office",
            "type": kind,
            "time": data["occurred_at"],
            "subject": data["order_id"],
            "data": data,
        }
        server.call("POST", "/_local/topics/audit-results", {"message": message}, expect=202)
    else:
        body = {"message": data, "attributes": {"type": kind}}
        server.call("POST", "/_local/topics/audit-results", body, expect=202)
    server.call("POST", "/_local/settle", expect=200)


def fixture_records(name):
    """(body as JSON, string message attributes) of each record of an SQS fixture."""
    event = json.loads((ROOT / "events" / name).read_text())
    return [
        (json.loads(r["body"]), {k: v["stringValue"] for k, v in r.get("messageAttributes", {}).items()})
        for r in event["Records"]
    ]


def report_status(server, schemas, order_id, system, status, node=None, occurred_at=None):
    """Posts a fulfilment status as a fulfilment system would, and lets the chain settle.
    The body is what the route queues, so it must be a valid `fulfilment.status`."""
    if occurred_at is None:
        occurred_at = server.call("GET", "/_local/clock", expect=200)["now"]
    body = {"order_id": order_id, "system": system, "node": node or system, "status": status,
            "occurred_at": occurred_at}
    post_status(server, schemas, body)


def post_status(server, schemas, body):
    where = f"POST /fulfilment/status {body['order_id']} {body['system']} {body['status']}"
    check_message(schemas, where, "fulfilment.status", body, {"type": "fulfilment.status"})
    server.call("POST", "/fulfilment/status", body, expect=202)
    server.call("POST", "/_local/settle", expect=200)


def replay_fixtures(server, schemas):
    """The fulfilment fixtures, fed to the runtime: the order of api-post-order.json
    (o-1001) is placed, its order.dispatched delivered once more (as the fixture), then
    the warehouse reports before its stage started (held) and the payment after it."""
    api_order = json.loads((ROOT / "events" / "api-post-order.json").read_text())
    server.call("POST", "/orders", json.loads(api_order["body"]), expect=201)
    server.call("POST", "/_local/settle", expect=200)
    for message, attributes in fixture_records("sqs-order-dispatched.json"):
        body = {"message": message, "attributes": attributes}
        server.call("POST", "/_local/topics/order-events", body, expect=202)
    server.call("POST", "/_local/settle", expect=200)
    api_status = json.loads((ROOT / "events" / "api-post-fulfilment-status.json").read_text())
    post_status(server, schemas, json.loads(api_status["body"]))
    for message, _ in fixture_records("sqs-fulfilment-status.json"):
        post_status(server, schemas, message)


def fulfilment_outcome(fulfilment):
    """What the scenario checks of an order's `fulfilment`."""
    systems = [s["system"] if isinstance(s, dict) else s for s in fulfilment.get("systems", [])]
    return (fulfilment.get("status"), systems, fulfilment.get("cancelled"), fulfilment.get("recalled_for"),
            len(fulfilment.get("held", [])))


def digital(server, order_id, product, paid_at):
    """A digital order of one 120.00 item, paid 80.00 by card and 27.00 in coins."""
    body = {
        "order_id": order_id, "customer_id": f"c-{order_id}", "business_type": "digital", "currency": "CNY",
        "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00",
                   "tax": "6.00", "fee": "1.00"}],
        "product": product,
        "payment": {"method": "BANK_CARD", "paid_at": paid_at,
                    "splits": [{"channel": "BANK_CARD", "amount": "80.00"},
                               {"channel": "VIRTUAL_COINS", "amount": "27.00"}]},
    }
    server.call("POST", "/orders", body, expect=201)


def drive_refunds(server):
    """Refunds issued, sent to review and approved, and refused."""
    now = datetime.fromisoformat(server.call("GET", "/_local/clock", expect=200)["now"].replace("Z", "+00:00"))
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    start = now - timedelta(days=120)
    membership = {"kind": "MEMBERSHIP", "service_start": iso(start), "service_end": iso(start + timedelta(days=360)),
                  "entitlement": {"key": "KEY-1", "user_flags": ["VIP"]}}
    digital(server, "sc-vip", membership, iso(start))
    issued = server.call("POST", "/refunds", {"request_id": "sc-r-1", "order_id": "sc-vip",
                                              "scenario": "MEMBERSHIP"}, expect=201)
    album = {"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5}
    digital(server, "sc-album", album, iso(now - timedelta(days=3)))
    pending = server.call("POST", "/refunds", {"request_id": "sc-r-2", "order_id": "sc-album", "scenario": "ALBUM"},
                          expect=201)
    decision = {"decision_id": "sc-dec-1", "decision": "APPROVE", "reviewer": {"role": "seller", "id": "s-1"}}
    approved = server.call("POST", f"/refunds/{pending['refund_id']}/review", decision, expect=200)
    old_start = now - timedelta(days=300)
    old = dict(membership, service_start=iso(old_start), service_end=iso(old_start + timedelta(days=360)))
    digital(server, "sc-old", old, iso(old_start))
    refused = server.call("POST", "/refunds", {"request_id": "sc-r-3", "order_id": "sc-old",
                                               "scenario": "MEMBERSHIP"}, expect=201)
    got = (issued["status"], approved["status"], refused["status"])
    if got != ("APPROVED", "APPROVED", "REJECTED"):
        fail(f"scenario: refunds ended {got}")


def drive(server, schemas):
    """The scenario: every outbound message type, both forms of inbound audit results,
    staged fulfilment to the end, a recall at a node and recalls by the audit."""
    now = server.call("GET", "/_local/clock", expect=200)["now"]
    contact = {"name": "Li Lei", "email": "li.lei@example.com", "phone": "+86 138 0013 8000"}
    server.call("POST", "/orders", order("sc-low", "c-sc-1", "10.00", contact), expect=201)
    high = server.call("POST", "/orders", order("sc-high", "c-sc-2", "200000.00"), expect=201)
    prepayment = high["prepayment"]
    pay = {"payment_ref": "pay-sc-1", "amount": prepayment["amount"], "currency": prepayment["currency"]}
    server.call("POST", "/orders/sc-high/prepayment", pay, expect=200)
    server.call("POST", "/orders", order("sc-blocked", "c-blocked", "10.00"), expect=201)
    server.call("POST", "/orders", order("sc-window", "c-sc-4", "10.00"), expect=201)
    late = server.call("POST", "/orders", order("sc-late", "c-sc-5", "200000.00"), expect=201)
    server.call("POST", "/orders", order("sc-recall", "c-sc-6", "10.00"), expect=201)
    server.call("POST", "/_local/settle", expect=200)

    failed = {"audit_id": "aud-sc-1", "order_id": "sc-low", "reason_code": "STOCK_SHORTAGE",
              "reason": "2 units short at the warehouse", "occurred_at": now}
    publish_result(server, "audit.failed", failed)
    timeout = {"audit_id": "aud-sc-2", "order_id": "sc-window", "reason_code": "DOWNSTREAM_TIMEOUT",
               "occurred_at": now}
    publish_result(server, "audit.failed", timeout, envelope=True)
    later = server.call("POST", "/_local/clock/advance", {"seconds": 600}, expect=200)["now"]
    passed = {"audit_id": "aud-sc-3", "order_id": "sc-low", "occurred_at": later}
    publish_result(server, "audit.passed", passed, envelope=True)
    mismatch = {"audit_id": "aud-sc-4", "order_id": "sc-high", "reason_code": "PRICE_MISMATCH",
                "reason": "unit price changed", "occurred_at": later}
    publish_result(server, "audit.failed", mismatch)
    # Fulfilment (DOMAIN §3): sc-low runs through every stage of the retail strategy;
    # sc-recall fails at the warehouse, which recalls payment, invoice and warehouse.
    # (sc-high's final rejection above has already recalled its first stage.)
    for system, status in [("payment", "DONE"), ("invoice", "DONE"), ("warehouse", "DONE"),
                           ("carrier", "DELIVERED")]:
        report_status(server, schemas, "sc-low", system, status)
    report_status(server, schemas, "sc-recall", "payment", "DONE")
    report_status(server, schemas, "sc-recall", "warehouse", "FAILED")
    replay_fixtures(server, schemas)
    # A day later: sc-window's retry window has closed and sc-late's prepayment is overdue.
    server.call("POST", "/_local/clock/advance", {"seconds": 25 * 3600}, expect=200)
    late_pay = {"payment_ref": "pay-sc-2", "amount": late["prepayment"]["amount"], "currency": "CNY"}
    server.call("POST", "/orders/sc-late/prepayment", late_pay, expect=409)
    server.call("POST", "/_local/settle", expect=200)
    drive_refunds(server)
    # The refunds' messages leave through the outbox relay.
    server.call("POST", "/_local/settle", expect=200)

    outcome = {oid: server.call("GET", f"/orders/{oid}", expect=200)
               for oid in ["sc-low", "sc-high", "sc-blocked", "sc-window", "sc-late", "sc-recall", "o-1001"]}
    want = {"sc-low": ("DISPATCHED", "APPROVED"), "sc-high": ("DISPATCHED", "REJECTED"),
            "sc-blocked": ("REJECTED", None), "sc-window": ("DISPATCHED", "REJECTED"),
            "sc-late": ("CANCELLED", None), "sc-recall": ("DISPATCHED", "PENDING"),
            "o-1001": ("DISPATCHED", "PENDING")}
    for oid, (status, audit_status) in want.items():
        got = (outcome[oid]["status"], outcome[oid]["audit_status"])
        if got != (status, audit_status):
            fail(f"scenario: {oid} is {got}, expected {(status, audit_status)}")
    first = ["payment", "invoice"]
    every = ["payment", "invoice", "warehouse", "carrier"]
    want_fulfilment = {
        "sc-low": ("COMPLETED", every, [], None, 0),
        "sc-recall": ("EXCEPTION", first + ["warehouse"], first + ["warehouse"], None, 0),
        "sc-high": ("EXCEPTION", first, first, "AUDIT_REJECTED", 0),
        "sc-window": ("EXCEPTION", first, first, "AUDIT_REJECTED", 0),
        "sc-blocked": ("NOT_STARTED", [], None, None, 0),
        "sc-late": ("NOT_STARTED", [], None, None, 0),
        "o-1001": ("IN_PROGRESS", every, [], None, 0),
    }
    for oid, expected in want_fulfilment.items():
        got = fulfilment_outcome(outcome[oid]["fulfilment"])
        if got != expected:
            fail(f"scenario: {oid} fulfilment (status, systems, cancelled, recalled_for, held) is {got}, "
                 f"expected {expected}")
    for queue in server.call("GET", "/_local/queues", expect=200):
        if queue["dead_letters"]:
            dead = server.call("GET", f"/_local/queues/{queue['name']}/dead-letters", expect=200)
            fail(f"scenario: {queue['name']} has dead letters: {json.dumps(dead)[:500]}")


def check_run(schemas, build):
    print("== messages published during a scripted run of orderflow-local serve")
    if build:
        subprocess.run(["cargo", "build", "-q", "-p", "orderflow-local"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    server = Server(target / "debug" / "orderflow-local")
    try:
        try:
            drive(server, schemas)
        except Exception:
            print(server.tail(), file=sys.stderr)
            raise
        seen = set()
        for topic in TOPICS:
            messages = server.call("GET", f"/_local/topics/{topic}/messages", expect=200)
            for m in messages:
                kind = m["attributes"].get("type")
                seen.add(kind)
                where = f"{topic} {m['message_id']}"
                check_message(schemas, where, kind, m["message"], m["attributes"], topic=topic)
        for kind in sorted(EXPECTED_TYPES - seen):
            fail(f"scenario: no {kind} was published")
    finally:
        server.stop()


def main():
    build = "--no-build" not in sys.argv[1:]
    schemas = load_schemas()
    check_fixtures(schemas)
    check_run(schemas, build)
    if problems:
        print(f"\n{len(problems)} problem(s)")
        return 1
    print("\nevery schema is valid and every message matches its schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
