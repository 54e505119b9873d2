// The orderflow console: plain JavaScript, no dependencies, no build step. Every page
// calls the HTTP API of the origin it was served from (openapi.yaml), with the bearer
// token of the sign-in kept in sessionStorage. Errors are shown in the API's own words
// (`error.code`, `error.message`).
"use strict";

const TOKEN_KEY = "orderflow.token";
const IDENTITY_KEY = "orderflow.identity";
const PKCE_KEY = "orderflow.pkce";
const QUEUES = ["audit-results-queue", "notifications-queue", "fulfilment-orders-queue", "fulfilment-status-queue"];

const PRESETS = {
  docking: { label: "Docking person (inventory)", sub: "dock-1",
    scopes: ["exceptions.handle", "orders.read", "ops.read"], claims: { team: "inventory" } },
  seller: { label: "Seller reviewer (seller s-1)", sub: "seller-rev-1",
    scopes: ["refunds.review"], claims: { reviewer_role: "seller", seller_id: "s-1" } },
  platform: { label: "Platform reviewer", sub: "platform-rev-1",
    scopes: ["refunds.review"], claims: { reviewer_role: "platform" } },
  operator: { label: "Operator", sub: "ops-1", scopes: ["ops.read", "orders.read"], claims: {} },
};

let config = { sign_in: "none" };

// ---------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------

/** An element with attributes (`on*` functions become listeners) and children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function randomId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return prefix + "-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return h("time", { datetime: value }, date.toISOString().replace("T", " ").slice(0, 19) + " UTC");
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

function table(caption, headers, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", class: /amount|value|count|sum|max|receives/i.test(t) ? "num" : null }, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { class: /amount|value|count|sum|max|receives/i.test(headers[i]) ? "num" : null }, c)))))));
}

function query() {
  const [, search = ""] = location.hash.split("?");
  return new URLSearchParams(search);
}

function go(page, params) {
  const search = params ? "?" + new URLSearchParams(params).toString() : "";
  const target = "#/" + page + search;
  if (location.hash === target) render();
  else location.hash = target;
}

// ---------------------------------------------------------------------------------
// Sign-in state
// ---------------------------------------------------------------------------------

function identity() {
  try {
    return JSON.parse(sessionStorage.getItem(IDENTITY_KEY) || "null");
  } catch {
    return null;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function signedIn(tokenValue, who) {
  sessionStorage.setItem(TOKEN_KEY, tokenValue);
  sessionStorage.setItem(IDENTITY_KEY, JSON.stringify(who));
  showWho();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(IDENTITY_KEY);
  showWho();
  go("sign-in");
}

function expired() {
  const who = identity();
  return Boolean(who && who.expires_at && Date.parse(who.expires_at) <= Date.now());
}

function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

function showWho() {
  const who = identity();
  const box = document.getElementById("who");
  box.replaceChildren();
  if (config.sign_in === "off") {
    box.append(h("span", {}, "Tokens are off on this runtime: no sign-in needed"));
  } else if (who && token()) {
    const roles = [who.claims?.reviewer_role && "reviewer: " + who.claims.reviewer_role,
      who.claims?.seller_id && "seller " + who.claims.seller_id, who.claims?.team && "team " + who.claims.team].filter(Boolean);
    box.append(h("span", {}, "Signed in as ", h("strong", {}, who.sub), roles.length ? " (" + roles.join(", ") + ")" : ""),
      h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"));
  } else {
    box.append(h("a", { href: "#/sign-in" }, "Sign in"));
  }
}

// ---------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------

/** `{ok, status, body, error}`; never throws. `status` 0 is a network error. */
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token() && config.sign_in !== "off") headers.authorization = "Bearer " + token();
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  } catch (e) {
    return { ok: false, status: 0, error: { code: "network_error", message: "The API did not answer (" + (e && e.message ? e.message : e) + "). Check the connection and try again." } };
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (response.ok) return { ok: true, status: response.status, body: parsed };
  const error = parsed && parsed.error ? parsed.error : { code: "http_" + response.status, message: text.slice(0, 300) || response.statusText };
  return { ok: false, status: response.status, body: parsed, error };
}

/** A result or an error, in the contract's words, as a notice. */
function notice(kind, ...lines) {
  return h("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, lines.map((l) => h("p", {}, l)));
}

function problem(result) {
  const e = result.error || {};
  const words = h("span", {}, h("code", {}, e.code || "error"), ": ", e.message || "", e.field ? " (field " : "", e.field ? h("code", {}, e.field) : "", e.field ? ")" : "");
  switch (result.status) {
    case 0:
      return notice("error", "Network error: the request did not reach the API.", words);
    case 401:
      return notice("error", h("span", {}, "Your sign-in has expired or was refused (401). ", h("a", { href: "#/sign-in" }, "Sign in again"), "."), words);
    case 403:
      return notice("error", "Not allowed for this sign-in (403 forbidden): your role or scopes do not cover this.", words);
    case 409:
      return notice("error", "Conflict (409): someone else acted first, or this no longer applies. Reload to see the current state.", words);
    default:
      return notice("error", "Refused (" + result.status + ").", words);
  }
}

/**
 * Runs `act` for a click or a submit with its controls disabled while it is in flight,
 * so a double click sends one request.
 */
function guarded(controls, act) {
  let busy = false;
  return async (event) => {
    if (event) event.preventDefault();
    if (busy) return;
    busy = true;
    controls.forEach((c) => { c.disabled = true; c.setAttribute("aria-busy", "true"); });
    try {
      await act(event);
    } finally {
      busy = false;
      controls.forEach((c) => { if (!c.dataset.done) c.disabled = false; c.removeAttribute("aria-busy"); });
    }
  };
}

// ---------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------

function page(title, ...content) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...content.filter(Boolean));
  main.focus();
  return main;
}

/** On a page that needs a sign-in: a prompt instead of a request bound to fail. */
function needsSignIn() {
  if (config.sign_in === "off") return null;
  if (!token()) return notice("warn", h("span", {}, "Not signed in. ", h("a", { href: "#/sign-in" }, "Sign in"), " to use this page."));
  if (expired()) return notice("error", h("span", {}, "Your sign-in has expired. ", h("a", { href: "#/sign-in" }, "Sign in again"), "."));
  return null;
}

function signInPage() {
  if (config.sign_in === "off") {
    return page("Sign in", notice("ok", "Tokens are off on this runtime (serve --auth off): every page works without signing in."));
  }
  if (config.sign_in === "oidc") {
    const button = h("button", { type: "button" }, "Sign in with your organisation");
    const out = h("div", {});
    button.addEventListener("click", guarded([button], async () => {
      try {
        await oidcStart();
      } catch (e) {
        out.replaceChildren(notice("error", "Sign-in could not start: " + (e && e.message ? e.message : e)));
      }
    }));
    return page("Sign in", h("p", {}, "You sign in at the identity provider ", h("code", {}, config.issuer), "."), button, out);
  }
  if (config.sign_in !== "local") {
    return page("Sign in", notice("warn", "Sign-in is not configured for this console (set the stack's ConsoleClientId parameter)."));
  }
  return localSignInPage();
}

function localSignInPage() {
  const preset = h("select", { id: "preset", name: "preset" },
    Object.entries(PRESETS).map(([k, p]) => h("option", { value: k }, p.label)), h("option", { value: "custom" }, "Custom"));
  const sub = h("input", { id: "sub", name: "sub", required: true, autocomplete: "off" });
  const scopeBoxes = (config.scopes || []).map((s) => h("input", { type: "checkbox", name: "scope", value: s, id: "scope-" + s }));
  const claim = (name) => h("input", { id: "claim-" + name, name, autocomplete: "off" });
  const team = claim("team"), sellerId = claim("seller_id"), customerId = claim("customer_id");
  const role = h("select", { id: "claim-reviewer_role", name: "reviewer_role" },
    h("option", { value: "" }, "none"), h("option", { value: "platform" }, "platform"), h("option", { value: "seller" }, "seller"));
  const minutes = h("input", { id: "minutes", name: "minutes", type: "number", min: 1, max: 720, value: 60 });
  const apply = () => {
    const p = PRESETS[preset.value];
    if (!p) return;
    sub.value = p.sub;
    scopeBoxes.forEach((b) => { b.checked = p.scopes.includes(b.value); });
    team.value = p.claims.team || "";
    role.value = p.claims.reviewer_role || "";
    sellerId.value = p.claims.seller_id || "";
    customerId.value = "";
  };
  preset.addEventListener("change", apply);
  apply();
  const submit = h("button", { type: "submit" }, "Sign in");
  const out = h("div", {});
  const form = h("form", { id: "sign-in", "aria-describedby": "sign-in-help" },
    h("p", { id: "sign-in-help" }, "Development sign-in: this runtime issues one of its own tokens for the identity you choose."),
    h("div", { class: "grid" },
      h("label", { for: "preset" }, "Identity", preset),
      h("label", { for: "sub" }, "Subject (sub)", sub),
      h("label", { for: "minutes" }, "Valid for (minutes)", minutes)),
    h("fieldset", {}, h("legend", {}, "Scopes"),
      h("div", { class: "grid" }, scopeBoxes.map((b) => h("label", { class: "inline", for: b.id }, b, " " + b.value)))),
    h("fieldset", {}, h("legend", {}, "Claims"),
      h("div", { class: "grid" },
        h("label", { for: "claim-team" }, "team", team),
        h("label", { for: "claim-reviewer_role" }, "reviewer_role", role),
        h("label", { for: "claim-seller_id" }, "seller_id", sellerId),
        h("label", { for: "claim-customer_id" }, "customer_id", customerId))),
    submit, out);
  form.addEventListener("submit", guarded([submit], async () => {
    const body = {
      sub: sub.value,
      scopes: scopeBoxes.filter((b) => b.checked).map((b) => b.value),
      claims: { team: team.value, reviewer_role: role.value, seller_id: sellerId.value, customer_id: customerId.value },
      minutes: Number(minutes.value) || 60,
    };
    const result = await api("POST", "/_local/console/sign-in", body);
    if (!result.ok) {
      out.replaceChildren(problem(result));
      return;
    }
    signedIn(result.body.token, { sub: result.body.sub, scopes: result.body.scopes, claims: result.body.claims, expires_at: result.body.expires_at });
    go(result.body.claims.reviewer_role ? "refunds" : result.body.scopes.includes("exceptions.handle") ? "exceptions" : "timeline",
      result.body.claims.team ? { team: result.body.claims.team, state: "open" } : undefined);
  }));
  return page("Sign in", form);
}

// Exceptions --------------------------------------------------------------------------

function exceptionsPage() {
  const q = query();
  const who = identity();
  const team = h("input", { id: "team", name: "team", required: true, value: q.get("team") || who?.claims?.team || "" });
  const state = h("select", { id: "state", name: "state" }, ["open", "closed"].map((s) => h("option", { value: s, selected: q.get("state") === s }, s)));
  const load = h("button", { type: "submit" }, "Show exceptions");
  const form = h("form", { class: "query", role: "search" },
    h("label", { for: "team" }, "Team", team), h("label", { for: "state" }, "State", state), load);
  form.addEventListener("submit", (e) => { e.preventDefault(); go("exceptions", { team: team.value.trim(), state: state.value }); });
  const list = h("div", { id: "exceptions", "aria-live": "polite" });
  page("Audit exceptions", form, needsSignIn(), list);
  if (q.get("team")) loadExceptions(list, q.get("team"), q.get("state") || "open", null);
}

async function loadExceptions(list, team, state, cursor) {
  const params = new URLSearchParams({ team, state });
  if (cursor) params.set("cursor", cursor);
  const result = await api("GET", "/exceptions?" + params);
  if (!result.ok) {
    list.append(problem(result));
    return;
  }
  const items = result.body.exceptions || [];
  if (!cursor && items.length === 0) list.append(notice("ok", "No " + state + " exceptions for team " + team + "."));
  const cards = h("div", { class: "cards" }, items.map(exceptionCard));
  list.append(cards);
  if (result.body.next_cursor) {
    const more = h("button", { type: "button", class: "secondary" }, "More exceptions");
    more.addEventListener("click", guarded([more], async () => { more.remove(); await loadExceptions(list, team, state, result.body.next_cursor); }));
    list.append(more);
  }
}

function exceptionCard(x) {
  const failure = x.failure || {};
  const card = h("article", { class: "card", "data-order": x.order_id, "aria-labelledby": "x-" + x.order_id },
    h("h2", { id: "x-" + x.order_id }, "Order ", h("a", { href: "#/timeline?order=" + encodeURIComponent(x.order_id) }, x.order_id), " ", h("span", { class: "pill" }, x.state)),
    facts([
      ["Failure", [x.reason_code || failure.reason_code || "—", x.reason || failure.reason ? " — " + (x.reason || failure.reason) : ""].join("")],
      ["Audit report", failure.audit_id ? h("code", {}, failure.audit_id) : "—"],
      ["First failed", when(failure.occurred_at || x.opened_at)],
      ["Attempts", x.attempts ?? "—"],
      ["Next re-audit", when(x.next_reaudit_at)],
      ["Window ends", when(x.window_ends_at)],
      ["Audit status", x.audit_status || "—"],
      x.reaudits && x.reaudits.length ? ["Re-audits asked", x.reaudits.map((r) => "#" + r.attempt + " by " + r.by + ": " + r.note).join("; ")] : null,
    ]));
  if (x.state === "open") card.append(reauditForm(x.order_id));
  return card;
}

function reauditForm(orderId) {
  const noteId = "note-" + orderId;
  const note = h("textarea", { id: noteId, name: "note", required: true, maxlength: 500 });
  const submit = h("button", { type: "submit" }, "Re-audit now");
  const out = h("div", { class: "result" });
  // One request id per action: a retry after a network error repeats the same request;
  // another note makes another request.
  let requestId = randomId("rq");
  let sentNote = null;
  const form = h("form", { class: "reaudit" }, h("label", { for: noteId }, "Note for the re-audit of " + orderId, note), h("div", { class: "actions" }, submit), out);
  form.addEventListener("submit", guarded([submit, note], async () => {
    if (!note.value.trim()) {
      out.replaceChildren(notice("error", "Write a note saying what was fixed."));
      return;
    }
    if (sentNote !== null && sentNote !== note.value) requestId = randomId("rq");
    sentNote = note.value;
    const result = await api("POST", "/orders/" + encodeURIComponent(orderId) + "/reaudit", { request_id: requestId, note: note.value });
    if (!result.ok) {
      out.replaceChildren(problem(result));
      return;
    }
    submit.dataset.done = "true";
    note.dataset.done = "true";
    out.replaceChildren(notice("ok", "Re-audit requested: attempt " + result.body.attempt + " (" + result.status + ").",
      h("a", { href: "#/timeline?order=" + encodeURIComponent(orderId) }, "See it in the timeline")));
  }));
  return form;
}

// Refunds ------------------------------------------------------------------------------

function refundsPage() {
  const q = query();
  const who = identity();
  const role = h("select", { id: "role", name: "role" }, ["seller", "platform"].map((r) =>
    h("option", { value: r, selected: (q.get("role") || who?.claims?.reviewer_role) === r }, r)));
  const seller = h("input", { id: "seller_id", name: "seller_id", value: q.get("seller_id") || "" });
  const load = h("button", { type: "submit" }, "Show the queue");
  const form = h("form", { class: "query", role: "search" }, h("label", { for: "role" }, "Reviewer role", role),
    config.sign_in === "off" ? h("label", { for: "seller_id" }, "Seller id", seller) : null, load);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go("refunds", Object.assign({ role: role.value }, seller.value ? { seller_id: seller.value } : {}));
  });
  const lookupId = h("input", { id: "refund-id", name: "refund_id", required: true, autocomplete: "off" });
  const lookupButton = h("button", { type: "submit", class: "secondary" }, "Open refund");
  const lookupOut = h("div", { id: "refund-lookup" });
  const lookup = h("form", { class: "query", id: "lookup" }, h("label", { for: "refund-id" }, "Refund id", lookupId), lookupButton);
  lookup.addEventListener("submit", guarded([lookupButton], async () => {
    const result = await api("GET", "/refunds/" + encodeURIComponent(lookupId.value.trim()));
    lookupOut.replaceChildren(result.ok ? h("div", { class: "cards" }, refundCard(result.body)) : problem(result));
  }));
  const list = h("div", { id: "refunds", "aria-live": "polite" });
  page("Refunds awaiting review", needsSignIn(), form, list, h("h2", {}, "A refund by id"), lookup, lookupOut);
  const chosen = q.get("role") || who?.claims?.reviewer_role;
  if (chosen) loadRefunds(list, chosen, q.get("seller_id"), null);
}

async function loadRefunds(list, role, sellerId, cursor) {
  const params = new URLSearchParams({ status: "PENDING_REVIEW", role });
  if (sellerId) params.set("seller_id", sellerId);
  if (cursor) params.set("cursor", cursor);
  const result = await api("GET", "/refunds?" + params);
  if (!result.ok) {
    list.append(problem(result));
    return;
  }
  const items = result.body.refunds || [];
  if (!cursor && items.length === 0) list.append(notice("ok", "No refunds await a " + role + " reviewer."));
  list.append(h("div", { class: "cards" }, items.map(refundCard)));
  if (result.body.next_cursor) {
    const more = h("button", { type: "button", class: "secondary" }, "More refunds");
    more.addEventListener("click", guarded([more], async () => { more.remove(); await loadRefunds(list, role, sellerId, result.body.next_cursor); }));
    list.append(more);
  }
}

function refundCard(r) {
  const quote = r.status === "REJECTED" && r.quoted ? r.quoted : r;
  const card = h("article", { class: "card", "data-refund": r.refund_id, "aria-labelledby": "r-" + r.refund_id },
    h("h2", { id: "r-" + r.refund_id }, "Refund ", h("code", {}, r.refund_id), " ", h("span", { class: "pill" }, r.status)),
    facts([
      ["Order", h("a", { href: "#/timeline?order=" + encodeURIComponent(r.order_id) }, r.order_id)],
      ["Scenario", r.scenario],
      ["Amount", quote.amount ? quote.amount + " " + (quote.currency || r.currency || "") : "—"],
      ["Reviewer", r.reviewer_role || "—"],
      ["Why", (r.reasons || []).join(", ") || "—"],
      ["Requested", when(r.requested_at)],
      r.code ? ["Code", h("code", {}, r.code)] : null,
    ]),
    (quote.breakdown || []).length ? table("Breakdown", ["Line", "Amount", "Detail"], quote.breakdown.map((l) => [l.line, l.amount, l.detail])) : null,
    (quote.channel || []).length ? table("Channel split", ["Channel", "Amount", "Back to", "Form"], quote.channel.map((c) => [c.channel, c.amount, c.destination, c.form])) : null);
  if (r.status === "PENDING_REVIEW") card.append(reviewControls(r.refund_id));
  return card;
}

function reviewControls(refundId) {
  const approve = h("button", { type: "button" }, "Approve");
  const reject = h("button", { type: "button", class: "danger" }, "Reject");
  const out = h("div", { class: "result" });
  // One decision per refund: both buttons share its id, so a retry repeats the same one.
  const decisionId = randomId("dec");
  const decide = (decision) => guarded([approve, reject], async () => {
    const result = await api("POST", "/refunds/" + encodeURIComponent(refundId) + "/review", { decision_id: decisionId, decision });
    if (!result.ok) {
      out.replaceChildren(problem(result));
      return;
    }
    approve.dataset.done = reject.dataset.done = "true";
    const b = result.body;
    out.replaceChildren(notice("ok", "Decided: " + b.status + (b.amount ? ", " + b.amount + " " + (b.currency || "") : "") + (b.code ? ", code " + b.code : "") + "."));
  });
  approve.addEventListener("click", decide("APPROVE"));
  reject.addEventListener("click", decide("REJECT"));
  return h("div", {}, h("div", { class: "actions", role: "group", "aria-label": "Decision on refund " + refundId }, approve, reject), out);
}

// Timeline -----------------------------------------------------------------------------

function timelinePage() {
  const q = query();
  const order = h("input", { id: "order", name: "order", required: true, value: q.get("order") || "", autocomplete: "off" });
  const show = h("button", { type: "submit" }, "Show timeline");
  const form = h("form", { class: "query", role: "search" }, h("label", { for: "order" }, "Order id", order), show);
  form.addEventListener("submit", (e) => { e.preventDefault(); go("timeline", { order: order.value.trim() }); });
  const out = h("div", { id: "timeline", "aria-live": "polite" });
  page("Order timeline", form, needsSignIn(), out);
  if (q.get("order")) loadTimeline(out, q.get("order"));
}

async function loadTimeline(out, orderId) {
  const path = "/orders/" + encodeURIComponent(orderId);
  const [timeline, order] = await Promise.all([api("GET", path + "/timeline"), api("GET", path)]);
  if (!timeline.ok) {
    out.replaceChildren(problem(timeline));
    return;
  }
  const t = timeline.body;
  const o = order.ok ? order.body : {};
  const refunds = t.refunds || o.refunds || [];
  out.replaceChildren(
    facts([
      ["Order", h("code", {}, t.order_id)],
      ["Status", [t.status || o.status, t.audit_status || o.audit_status].filter(Boolean).join(" / ") || "—"],
      ["Trace", t.traceparent ? h("code", {}, t.traceparent) : "—"],
    ]),
    h("ol", { class: "timeline" }, (t.transitions || []).map(transition)),
    refunds.length ? h("section", {}, h("h2", {}, "Refunds"),
      table(null, ["Refund", "Status", "Amount"], refunds.map((r) => typeof r === "string" ? [r, "", ""] : [r.refund_id, r.status || "", r.amount || ""]))) : null);
}

function transition(t) {
  return h("li", { class: "card" },
    h("h2", {}, (t.from ? t.from + " → " : "") + (t.to || ""), " ", h("span", { class: "muted" }, (t.events || []).join(", "))),
    facts([
      ["At", when(t.at)],
      ["By", t.by ? t.by.kind + ": " + t.by.id : "—"],
      ["Trace id", t.trace_id ? h("code", {}, t.trace_id) : "—"],
      ["Messages", (t.messages || []).length ? h("ul", {}, t.messages.map((m) => h("li", {}, h("code", {}, m.type), " ", h("span", { class: "mono muted" }, m.id)))) : "none"],
    ]));
}

// Dead letters (local runtime) ------------------------------------------------------------

function deadLettersPage() {
  if (!isLocal()) return localOnly("Dead letters", "orderflow-local dead-letters list QUEUE --stack NAME");
  const q = query();
  const chosen = q.get("queue") || QUEUES[0];
  const queue = h("select", { id: "queue", name: "queue" }, QUEUES.map((name) => h("option", { value: name, selected: name === chosen }, name)));
  const show = h("button", { type: "submit" }, "Show dead letters");
  const form = h("form", { class: "query", role: "search" }, h("label", { for: "queue" }, "Queue", queue), show);
  form.addEventListener("submit", (e) => { e.preventDefault(); go("dead-letters", { queue: queue.value }); });
  const out = h("div", { id: "dead-letters", "aria-live": "polite" });
  page("Dead letters", form, out);
  loadDeadLetters(out, chosen);
}

async function loadDeadLetters(out, queue) {
  const base = "/_local/queues/" + encodeURIComponent(queue) + "/dead-letters";
  const result = await api("GET", base);
  if (!result.ok) {
    out.replaceChildren(problem(result));
    return;
  }
  const letters = result.body || [];
  const rows = letters.map((m) => [h("code", {}, m.message_id), messageType(m), m.receive_count,
    m.reason ? m.reason.error : "no reason recorded", m.reason ? (m.reason.retryable ? "yes" : "no") : "—", when(m.reason?.failed_at)]);
  const dry = h("button", { type: "button", class: "secondary" }, "Dry run: what would move");
  const run = h("button", { type: "button", disabled: true }, "Redrive");
  const said = h("div", { class: "result" });
  dry.addEventListener("click", guarded([dry], async () => {
    const r = await api("POST", base + "/redrive", { dry_run: true });
    if (!r.ok) {
      said.replaceChildren(problem(r));
      return;
    }
    const ids = r.body.message_ids || [];
    said.replaceChildren(notice("ok", "Dry run: " + ids.length + " message(s) would move back onto " + queue + ": " + (ids.join(", ") || "none") + ". Nothing was moved."));
    run.disabled = ids.length === 0;
    run.textContent = "Redrive " + ids.length + " message(s)";
  }));
  run.addEventListener("click", guarded([run, dry], async () => {
    const r = await api("POST", base + "/redrive", { dry_run: false });
    if (!r.ok) {
      said.replaceChildren(problem(r));
      return;
    }
    run.dataset.done = "true";
    const ids = r.body.message_ids || [];
    said.replaceChildren(notice("ok", "Redriven: " + ids.length + " message(s) moved back onto " + queue + ": " + (ids.join(", ") || "none") + "."));
  }));
  out.replaceChildren(
    letters.length ? table(letters.length + " dead letter(s) of " + queue, ["Message", "Type", "Receives", "Reason", "Retryable", "Failed at"], rows)
      : notice("ok", "No dead letters in " + queue + "."),
    h("p", { class: "muted" }, "Fix the cause first; a redrive gives each message one more try. Run the dry run to enable it."),
    h("div", { class: "actions" }, dry, run), said);
}

/** A dead letter's `type`: its attribute, or in an SNS envelope, the envelope's. */
function messageType(m) {
  const body = m.body && typeof m.body === "object" ? m.body : {};
  return m.attributes?.type || body.MessageAttributes?.type?.Value || body.type || "—";
}

// Counters (local runtime) -----------------------------------------------------------------

function metricsPage() {
  if (!isLocal()) return localOnly("Counters", "the CloudWatch metrics of the stack (namespace orderflow)");
  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  const out = h("div", { id: "metrics", "aria-live": "polite" });
  const load = async () => {
    const result = await api("GET", "/_local/metrics");
    if (!result.ok) {
      out.replaceChildren(problem(result));
      return;
    }
    const all = result.body || [];
    const label = (m) => Object.entries(m.labels || {}).filter(([k]) => k !== "function").map(([k, v]) => k + "=" + v).join(", ");
    const fn = (m) => (m.labels && m.labels.function) || "—";
    const counters = all.filter((m) => "value" in m);
    const histograms = all.filter((m) => "count" in m);
    out.replaceChildren(
      h("h2", {}, "Counters by function"),
      counters.length ? table(null, ["Function", "Metric", "Labels", "Value"], counters.map((m) => [fn(m), m.name, label(m), m.value])) : notice("ok", "Nothing counted yet."),
      histograms.length ? h("h2", {}, "Timings") : null,
      histograms.length ? table(null, ["Function", "Metric", "Labels", "Count", "Sum", "Max"], histograms.map((m) => [fn(m), m.name, label(m), m.count, Number(m.sum).toFixed(1), Number(m.max).toFixed(1)])) : null);
  };
  refresh.addEventListener("click", guarded([refresh], load));
  page("Per-function counters", h("div", { class: "actions" }, refresh), out);
  load();
}

function isLocal() {
  return config.sign_in === "local" || config.sign_in === "off";
}

function localOnly(title, instead) {
  return page(title, notice("warn", "This page reads the local runtime's /_local routes; on AWS use " + instead + "."));
}

// ---------------------------------------------------------------------------------
// OIDC: authorization code with PKCE (RFC 7636), on AWS
// ---------------------------------------------------------------------------------

function redirectUri() {
  return location.origin + "/console";
}

async function discovery() {
  const response = await fetch(config.issuer + "/.well-known/openid-configuration", { credentials: "omit" });
  if (!response.ok) throw new Error("discovery answered " + response.status);
  return response.json();
}

async function oidcStart() {
  const meta = await discovery();
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, token_endpoint: meta.token_endpoint, back_to: location.hash }));
  const params = new URLSearchParams({ response_type: "code", client_id: config.client_id, redirect_uri: redirectUri(),
    scope: config.scopes, state, code_challenge: challenge, code_challenge_method: "S256" });
  location.assign(meta.authorization_endpoint + "?" + params);
}

/** Back from the provider with `?code=&state=`: exchanges the code; `null` if not a callback. */
async function oidcCallback() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return null;
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  } catch {
    saved = null;
  }
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", location.pathname + (saved && saved.back_to ? saved.back_to : "#/sign-in"));
  if (params.has("error")) return "The identity provider refused the sign-in: " + params.get("error") + " " + (params.get("error_description") || "");
  if (!saved || params.get("state") !== saved.state) return "The sign-in answer does not match the sign-in this page started (state check failed); sign in again.";
  let response;
  try {
    response = await fetch(saved.token_endpoint, { method: "POST", credentials: "omit",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectUri(),
        client_id: config.client_id, code_verifier: saved.verifier }) });
  } catch (e) {
    return "Network error while finishing the sign-in: " + (e && e.message ? e.message : e);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) return "The token endpoint refused the code: " + (body.error || response.status) + " " + (body.error_description || "");
  const claims = claimsOf(body.access_token);
  const expires = new Date(Date.now() + 1000 * (Number(body.expires_in) || 3600)).toISOString();
  signedIn(body.access_token, { sub: claims.sub || claims.username || "?", scopes: String(claims.scope || "").split(" "), claims, expires_at: expires });
  return "";
}

// ---------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------

const PAGES = { "sign-in": signInPage, exceptions: exceptionsPage, refunds: refundsPage, timeline: timelinePage,
  "dead-letters": deadLettersPage, metrics: metricsPage };

function render() {
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0]) || (token() || config.sign_in === "off" ? "exceptions" : "sign-in");
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.getAttribute("href") === "#/" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  (PAGES[name] || (() => page("Not found", notice("warn", "No page " + name + "."))))();
}

async function start() {
  const result = await api("GET", "/console/config.json");
  config = result.ok && result.body ? result.body : { sign_in: "none" };
  if (!isLocal()) document.querySelectorAll("[data-local]").forEach((el) => { el.hidden = true; });
  if (config.sign_in === "oidc") {
    const failed = await oidcCallback();
    if (failed) {
      showWho();
      page("Sign in", notice("error", failed), h("a", { href: "#/sign-in" }, "Try again"));
      window.addEventListener("hashchange", render);
      return;
    }
  }
  showWho();
  window.addEventListener("hashchange", render);
  render();
}

document.addEventListener("DOMContentLoaded", start);
