"""Schemathesis hooks for scripts/api-fuzz.

Some rules cannot be written in JSON Schema: they relate two fields (the payment splits
add up to the order total), depend on the currency (its decimal places), on the
runtime's clock (a time window) or on stored state (the prepayment due). A request that
satisfies the schema can still break one, and the API then answers 422 naming the field.
openapi.yaml lists those rules in the 422 response of each operation as
`x-refused-beyond-schema` entries (`field`, a phrase of the `message`, the `rule`).

`filter_failure` drops exactly those "schema-valid request rejected" failures: a 422
whose `error.field` and `error.message` match an entry listed for that operation. Any
other rejection of schema-valid data is still a failure.

`map_case` moves the times of schema-valid requests into the windows around the
runtime's clock (read from `GET /_local/clock` at API_FUZZ_URL), so those requests get
past validation to the handlers instead of mostly ending in a documented 422. Requests
meant to be invalid are left as generated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import requests
import schemathesis
import yaml

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"
REJECTED_POSITIVE_DATA = "ST202"
DAY = 86_400


@lru_cache(maxsize=None)
def refusals(method: str, path: str, status: int) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The documented (field pattern, message phrase) pairs of an operation's 422 (or 400)."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    operation = spec.get("paths", {}).get(path, {}).get(method.lower(), {})
    response = operation.get("responses", {}).get(str(status), {})
    # A shared response (`$ref: "#/components/responses/BadCursor"`) lists its own.
    ref = response.get("$ref", "")
    if ref.startswith("#/"):
        response = resolve(spec, ref)
    entries = response.get("x-refused-beyond-schema", [])
    return tuple((field_pattern(entry["field"]), entry["message"]) for entry in entries)


def resolve(spec: dict, ref: str) -> dict:
    """The object a local `$ref` (`#/components/responses/BadCursor`) points at."""
    node = spec
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def field_pattern(field: str) -> re.Pattern[str]:
    """`items[*].discount` matches `items[0].discount`, `items[12].discount`, ..."""
    return re.compile(re.escape(field).replace(r"\[\*\]", r"\[[0-9]+\]"))


def documented(method: str, path: str, status: int, error: dict) -> bool:
    field, message = str(error.get("field", "")), str(error.get("message", ""))
    return any(
        pattern.fullmatch(field) and phrase in message for pattern, phrase in refusals(method, path, status)
    )


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keeps every failure except a documented 422 (or 400) for schema-valid data."""
    if failure.code != REJECTED_POSITIVE_DATA or response.status_code not in (400, 422):
        return True
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return True
    status = response.status_code
    return not (isinstance(error, dict) and documented(case.operation.method, case.operation.path, status, error))


def runtime_now() -> datetime:
    """The runtime's clock, which is not this machine's when it runs a manual clock."""
    url = os.environ.get("API_FUZZ_URL")
    if url:
        try:
            now = requests.get(f"{url}/_local/clock", timeout=5).json()["now"]
            return datetime.fromisoformat(now.replace("Z", "+00:00"))
        except (requests.RequestException, ValueError, KeyError, TypeError):
            pass
    return datetime.now(timezone.utc)


def before(now: datetime, generated: object, max_seconds: int) -> str:
    """A time up to `max_seconds` before `now`, chosen by the generated value (so a
    seed still gives the same requests against the same clock)."""
    digest = hashlib.sha256(repr(generated).encode()).digest()
    offset = int.from_bytes(digest[:8], "big") % max_seconds
    return (now - timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def place_times(body: dict, now: datetime) -> None:
    payment = body.get("payment")
    if isinstance(payment, dict) and isinstance(payment.get("paid_at"), str):
        payment["paid_at"] = before(now, payment["paid_at"], 3650 * DAY)
    product = body.get("product")
    if isinstance(product, dict) and product.get("kind") == "MEMBERSHIP":
        start = before(now, product.get("service_start"), 365 * DAY)
        length = 1 + int(hashlib.sha256(repr(product.get("service_end")).encode()).hexdigest(), 16) % (730 * DAY)
        end = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(seconds=length)
        product["service_start"], product["service_end"] = start, end.strftime("%Y-%m-%dT%H:%M:%SZ")


@schemathesis.hook
def map_case(context, case):
    """Schema-valid requests carry times inside the windows the API accepts."""
    meta, body = case.meta, case.body
    if meta is None or not meta.generation.mode.is_positive or not isinstance(body, dict):
        return case
    route = (case.operation.method.upper(), case.operation.path)
    if route == ("POST", "/orders"):
        place_times(body, runtime_now())
    elif route == ("POST", "/fulfilment/status") and isinstance(body.get("occurred_at"), str):
        body["occurred_at"] = before(runtime_now(), body["occurred_at"], 29 * DAY)
    return case
