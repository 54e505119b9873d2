"""The console in a real browser: Debian's chromium, headless, driven through
chromedriver's W3C WebDriver API (plain HTTP, Python's standard library only), against
`orderflow-local serve` (in memory, tokens on, manual clock).

    console_browser.py test BINARY          the scenarios (scripts/console-test)
    console_browser.py screenshots BINARY   PNGs of every page into docs/console/

The data is set up through the API and the /_local routes, as an outside system would.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
WAIT = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None):
    """(status, parsed JSON or text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


class Runtime:
    """`orderflow-local serve --in-memory --clock manual` on a free port."""

    def __init__(self, binary):
        self.log = tempfile.NamedTemporaryFile(prefix="console-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [binary, "serve", "--in-memory", "--clock", "manual", "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        self.base = None
        deadline = time.time() + 60
        while time.time() < deadline and self.base is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.base = found.group(1)
        if self.base is None:
            self.stop()
            raise SystemExit(f"orderflow-local serve did not start; see {self.log.name}")
        self.admin = self.sign_in("console-test-admin", ["all"], {})

    def sign_in(self, sub, scopes, claims):
        status, body = http("POST", self.base + "/_local/console/sign-in", {"sub": sub, "scopes": scopes, "claims": claims})
        assert status == 200, body
        return body["token"]

    def call(self, method, path, body=None, token=None, expect=None):
        status, answer = http(method, self.base + path, body, token or self.admin)
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {answer}"
        return answer

    def now(self):
        return self.call("GET", "/_local/clock", expect=200)["now"]

    def settle(self):
        self.call("POST", "/_local/settle", {}, expect=200)

    def audit_failed(self, audit_id, order_id, code="STOCK_SHORTAGE"):
        data = {"audit_id": audit_id, "order_id": order_id, "reason_code": code,
                "reason": f"{code} at the middle office", "occurred_at": self.now()}
        self.call("POST", "/_local/topics/audit-results",
                  {"message": data, "attributes": {"type": "audit.failed"}}, expect=202)
        self.settle()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def retail_order(order_id):
    return {"order_id": order_id, "customer_id": "c-" + order_id, "business_type": "retail", "currency": "CNY",
            "items": [{"sku": "A-1", "quantity": 1, "unit_price": "100.00"}],
            "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"}}


def album(order_id, paid_at, seller="s-1"):
    """tests/e2e/auth.rs's album: 63.50 paid 50.00 third-party, 13.50 in coins; a seller review."""
    return {"order_id": order_id, "customer_id": "c-" + order_id, "business_type": "digital", "currency": "CNY",
            "items": [{"sku": "ALBUM-1", "quantity": 1, "unit_price": "60.00", "tax": "3.00", "fee": "0.50"}],
            "product": {"kind": "ALBUM", "total_episodes": 20, "released_episodes": 8, "consumed_episodes": 5,
                        "seller_id": seller},
            "payment": {"method": "THIRD_PARTY", "paid_at": paid_at,
                        "splits": [{"channel": "THIRD_PARTY", "amount": "50.00"},
                                   {"channel": "VIRTUAL_COINS", "amount": "13.50"}]}}


def lending_membership(order_id, start, end):
    """tests/e2e/work_queues.rs's: paid by LENDING, so a platform reviewer decides."""
    return {"order_id": order_id, "customer_id": "c-" + order_id, "business_type": "digital", "currency": "CNY",
            "items": [{"sku": "VIP-12M", "quantity": 1, "unit_price": "120.00", "discount": "20.00",
                       "tax": "6.00", "fee": "1.00"}],
            "product": {"kind": "MEMBERSHIP", "service_start": start, "service_end": end},
            "payment": {"method": "LENDING", "paid_at": start, "splits": [{"channel": "LENDING", "amount": "107.00"}]}}


def shift(iso, days):
    from datetime import datetime, timedelta
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(days=days)).isoformat()


def refund(rt, order, request_id):
    rt.call("POST", "/orders", order, expect=201)
    answer = rt.call("POST", "/refunds", {"request_id": request_id, "order_id": order["order_id"],
                                          "scenario": order["product"]["kind"]}, expect=201)
    assert answer["status"] == "PENDING_REVIEW", answer
    return answer["refund_id"]


class Browser:
    """One chromium session through chromedriver."""

    def __init__(self):
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.port = free_port()
        self.driver = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if http("GET", self.url + "/status")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        self.profile = tempfile.mkdtemp(prefix="console-chromium-")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--hide-scrollbars", "--force-color-profile=srgb", f"--user-data-dir={self.profile}",
                "--window-size=1280,800"]
        status, body = http("POST", self.url + "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}}})
        if status != 200:
            self.quit()
            raise SystemExit(f"chromedriver could not start chromium: {body}")
        self.session = f"{self.url}/session/{body['value']['sessionId']}"
        self.viewport(1280, 800)

    def _do(self, method, path, body=None):
        status, answer = http(method, self.session + path, body)
        if status != 200:
            raise AssertionError(f"webdriver {method} {path}: {status} {answer}")
        return answer["value"]

    def viewport(self, width, height, mobile=False):
        self._do("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}})

    def open(self, url):
        self._do("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self._do("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css, timeout=WAIT):
        """The first element matching `css`, waited for."""
        deadline = time.time() + timeout
        while True:
            status, answer = http("POST", self.session + "/element", {"using": "css selector", "value": css})
            if status == 200:
                return answer["value"][ELEMENT]
            if time.time() > deadline:
                raise AssertionError(f"no element {css!r} on the page; it shows:\n{self.text('body')}")
            time.sleep(0.1)

    def click(self, css):
        self._do("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        element = self.find(css)
        self._do("POST", f"/element/{element}/clear", {})
        self._do("POST", f"/element/{element}/value", {"text": text})

    def select(self, css, value):
        self.js("const s = document.querySelector(arguments[0]); s.value = arguments[1];"
                " s.dispatchEvent(new Event('change'));", css, value)

    def text(self, css):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)

    def wait_text(self, css, *needles, timeout=WAIT):
        """Waits until the element `css` shows every one of `needles`; returns its text."""
        deadline = time.time() + timeout
        while True:
            shown = self.text(css)
            if all(n in shown for n in needles):
                return shown
            if time.time() > deadline:
                raise AssertionError(f"{css} never showed {needles!r}; it shows:\n{shown}")
            time.sleep(0.1)

    def count_posts(self):
        """Counts the page's POST requests from now on (window.__posts)."""
        self.js("window.__posts = 0; if (window.__counting) return; window.__counting = true;"
                " const f = window.fetch; window.fetch = (u, o) => {"
                " if (o && o.method === 'POST') window.__posts += 1; return f(u, o); };")

    def posts(self):
        return self.js("return window.__posts;")

    def double_click(self, css):
        """Two clicks in the same task, as a double click delivers them."""
        self.js("const b = document.querySelector(arguments[0]); b.click(); b.click();", css)

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(self._do("GET", "/screenshot")))

    def overflows(self):
        return self.js("return document.documentElement.scrollWidth > window.innerWidth + 1;")

    def quit(self):
        try:
            http("DELETE", self.session)
        except Exception:  # noqa: BLE001 - best effort at the end
            pass
        self.driver.terminate()
        shutil.rmtree(getattr(self, "profile", ""), ignore_errors=True)


def sign_in(b, rt, preset):
    b.open(rt.base + "/console#/sign-in")
    b.find("#sign-in")
    b.select("#preset", preset)
    b.click("#sign-in button[type=submit]")
    b.wait_text("#who", "Signed in as")


class Data:
    """What the scenarios act on, set up through the API."""

    def __init__(self, rt):
        for order_id in ("cx-1", "cx-2"):
            rt.call("POST", "/orders", retail_order(order_id), expect=201)
        rt.audit_failed("aud-cx-1", "cx-1")
        rt.audit_failed("aud-cx-2", "cx-2")
        now = rt.now()
        paid = shift(now, -3)
        self.seller_refund = refund(rt, album("rf-s1", paid), "r-s1")
        self.taken_refund = refund(rt, album("rf-s2", paid), "r-s2")
        self.platform_refund = refund(rt, lending_membership("rf-p1", now, shift(now, 360)), "r-p1")
        # An audit result for an order that does not exist: refused, then dead-lettered.
        rt.audit_failed("aud-ghost", "ghost-order")


def scenarios(rt, b, data):
    # Not signed in: the sign-in page; a docking person signs in and sees its team's queue.
    b.open(rt.base + "/console")
    b.wait_text("main", "Sign in")
    sign_in(b, rt, "docking")
    b.wait_text("#exceptions", "cx-1", "cx-2", "STOCK_SHORTAGE", "Next re-audit", "Window ends")
    card = '[data-order="cx-1"]'
    assert "Attempts\n1" in b.text(card) or "Attempts 1" in b.text(card), b.text(card)
    print("ok - a docking person sees the team's open exceptions")

    # Re-audit now, double-clicked: one request, attempt 2, then in the timeline.
    b.type(f"{card} textarea", "restocked at the warehouse")
    b.count_posts()
    b.double_click(f"{card} button[type=submit]")
    b.wait_text(f"{card} .result", "Re-audit requested: attempt 2")
    assert b.posts() == 1, f"{b.posts()} POSTs for a double click"
    ask = rt.call("GET", "/exceptions?team=inventory&state=open")
    asked = [e for e in ask["exceptions"] if e["order_id"] == "cx-1"][0]["reaudits"]
    assert len(asked) == 1 and asked[0]["by"] == "dock-1", asked
    print("ok - re-audit now sends one request for a double click")
    b.click(f"{card} .result a")
    b.wait_text("#timeline", "dock-1", "audit.requested", "Trace")
    print("ok - the re-audit shows in the order's timeline")

    # An expired (or refused) sign-in is said plainly.
    b.js("sessionStorage.setItem('orderflow.token', 'not-a-token');")
    b.open(rt.base + "/console#/exceptions?team=inventory&state=open")
    b.wait_text("#exceptions", "expired or was refused (401)", "unauthorized", "Sign in again")
    print("ok - a refused sign-in is shown as 401 with a way to sign in again")

    # A seller reviewer approves its refund, meets a conflict, and is refused a platform refund.
    sign_in(b, rt, "seller")
    mine, taken = f'[data-refund="{data.seller_refund}"]', f'[data-refund="{data.taken_refund}"]'
    b.wait_text(mine, "Breakdown", "Channel split", "THIRD_PARTY", "VIRTUAL_COINS")
    b.count_posts()
    b.js("document.querySelector(arguments[0]).querySelectorAll('button')[0].click();"
         "document.querySelector(arguments[0]).querySelectorAll('button')[0].click();", mine)
    b.wait_text(f"{mine} .result", "Decided: APPROVED")
    assert b.posts() == 1, f"{b.posts()} POSTs for a double click"
    print("ok - a seller reviewer approves a refund, once for a double click")
    colleague = rt.sign_in("seller-rev-2", ["refunds.review"], {"reviewer_role": "seller", "seller_id": "s-1"})
    rt.call("POST", f"/refunds/{data.taken_refund}/review", {"decision_id": "dec-colleague", "decision": "REJECT"},
            token=colleague, expect=200)
    b.js("document.querySelector(arguments[0]).querySelectorAll('button')[0].click();", taken)
    b.wait_text(f"{taken} .result", "Conflict (409)", "conflict")
    print("ok - a refund someone else decided first shows the 409 conflict")
    # A seller's reviewer may not even read a refund of a product no seller sells.
    b.type("#refund-id", data.platform_refund)
    b.click("#lookup button")
    b.wait_text("#refund-lookup", "Not allowed for this sign-in (403 forbidden)", "forbidden")
    assert "CHANNEL_LENDING" not in b.text("#refund-lookup"), "the refund was not shown"
    print("ok - a platform refund is refused to a seller reviewer (403 shown)")

    # A network error is said plainly, and nothing was sent.
    b.open(rt.base + "/console#/refunds")
    b.find("#refund-id")
    b.js("window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));")
    b.type("#refund-id", data.seller_refund)
    b.click("#lookup button")
    b.wait_text("main", "Network error", "network_error")
    print("ok - a network error is shown plainly")
    b.js("location.reload();")

    # Dead letters with their reasons; a dry run first, then the redrive.
    b.open(rt.base + "/console#/dead-letters?queue=audit-results-queue")
    b.wait_text("#dead-letters", "ghost-order", "not found", "audit.failed")
    assert b.js("return document.querySelectorAll('#dead-letters .actions button')[1].disabled;"), "redrive before a dry run"
    b.click("#dead-letters .actions button")
    b.wait_text("#dead-letters .result", "Dry run: 1 message(s) would move", "Nothing was moved")
    assert len(rt.call("GET", "/_local/queues/audit-results-queue/dead-letters", expect=200)) == 1
    b.js("document.querySelectorAll('#dead-letters .actions button')[1].click();")
    b.wait_text("#dead-letters .result", "Redriven: 1 message(s) moved back onto audit-results-queue")
    print("ok - a dead letter is redriven after a dry run")

    # The per-function counters.
    b.open(rt.base + "/console#/metrics")
    b.wait_text("#metrics", "risk-check", "refund-calculator")
    print("ok - the per-function counters are listed")

    # Readable on a phone: nothing wider than the screen.
    b.viewport(390, 844, mobile=True)
    for view in ("exceptions?team=inventory&state=open", "refunds", "timeline?order=cx-1", "dead-letters", "metrics"):
        b.open(rt.base + "/console#/" + view)
        b.find("main h1")
        time.sleep(0.3)
        assert not b.overflows(), f"{view} is wider than a 390px screen"
    b.viewport(1280, 800)
    print("ok - every page fits a 390px phone screen")


def screenshots(rt, b, data):
    out = ROOT / "docs" / "console"
    out.mkdir(parents=True, exist_ok=True)
    rt.call("POST", "/orders/cx-2/reaudit", {"request_id": "rq-shot", "note": "stock moved from the north depot"},
            token=rt.sign_in("dock-1", ["exceptions.handle"], {}), expect=202)
    pages = [
        ("sign-in", "sign-in", None, "#sign-in"),
        ("exceptions", "exceptions?team=inventory&state=open", "docking", '[data-order="cx-1"]'),
        ("timeline", "timeline?order=cx-2", "docking", "ol.timeline li"),
        ("refunds", "refunds", "seller", f'[data-refund="{data.seller_refund}"]'),
        ("dead-letters", "dead-letters?queue=audit-results-queue", "docking", "#dead-letters table"),
        ("metrics", "metrics", "docking", "#metrics table"),
    ]
    for width, height, suffix in ((1280, 800, "desktop"), (390, 844, "phone")):
        b.viewport(width, height, mobile=suffix == "phone")
        signed = None
        for name, view, preset, ready in pages:
            if preset and preset != signed:
                sign_in(b, rt, preset)
                signed = preset
            b.open(rt.base + "/console#/" + view)
            b.find(ready)
            time.sleep(0.3)
            b.screenshot(out / f"{name}-{suffix}.png")
            print(f"wrote docs/console/{name}-{suffix}.png")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("test", "screenshots"):
        raise SystemExit(__doc__)
    started = time.time()
    rt = Runtime(sys.argv[2])
    b = None
    try:
        data = Data(rt)
        b = Browser()
        (scenarios if sys.argv[1] == "test" else screenshots)(rt, b, data)
    finally:
        if b:
            b.quit()
        rt.stop()
    if sys.argv[1] == "test":
        print(f"console in chromium: all scenarios passed in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
