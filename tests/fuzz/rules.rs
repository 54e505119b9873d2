//! The rules file: mutations of the shipped `config/rules.toml`, structural (a value
//! replaced by a hostile one, removed, wrapped) and textual (a line cut, doubled or
//! replaced, the file truncated). Parsing must answer a value or an error, never
//! panic; a file it accepts runs a short scenario on a runtime started with it, which
//! must not panic, answer `5xx` or fail to settle.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use orderflow_shared::ports::{OutboundMessage, Via};
use orderflow_shared::rules::{Rules, DEFAULT_RULES};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

use crate::checks;
use crate::engine::{fuzz, Failure};
use crate::hostile::{hostile, mutation, number};
use crate::json::{show, Mutation, J};
use crate::toml_tree::{changes, j_to_toml, toml_to_j};
use crate::world::{album, membership, retail, World, START};

/// A rules file, and what makes it differ from the shipped one.
#[derive(Clone)]
pub struct RulesText {
    text: String,
    changes: Vec<String>,
}

impl RulesText {
    /// Described by the lines that differ from the shipped file.
    fn edited(text: String) -> RulesText {
        let shipped: Vec<&str> = DEFAULT_RULES.lines().collect();
        let lines: Vec<&str> = text.lines().collect();
        let removed = shipped.iter().filter(|l| !lines.contains(l)).count();
        let mut changes = vec![format!("{} lines, {removed} of the shipped ones missing; new lines:", lines.len())];
        changes.extend(lines.iter().filter(|l| !shipped.contains(l)).take(20).map(|l| show(l.as_bytes())));
        RulesText { text, changes }
    }
}

impl fmt::Debug for RulesText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the shipped rules file with:")?;
        self.changes.iter().try_for_each(|c| write!(f, "\n    {c}"))
    }
}

fn structural() -> BoxedStrategy<RulesText> {
    let shipped: toml::Table = DEFAULT_RULES.parse().expect("the shipped rules are TOML");
    let tree = toml_to_j(&toml::Value::Table(shipped));
    // Aim at the leaves and small tables, which are most of the nodes.
    vec(mutation(), 1..=3)
        .prop_map(move |mutations: Vec<Mutation>| {
            let mut mutated = tree.clone();
            mutations.iter().for_each(|m| m.apply(&mut mutated));
            let text = match j_to_toml(&mutated) {
                Some(toml::Value::Table(t)) => toml::to_string(&t).unwrap_or_default(),
                Some(other) => format!("value = {other}"),
                None => String::new(),
            };
            RulesText { text, changes: changes(&tree, &mutated) }
        })
        .boxed()
}

/// A line that replaces or joins a line of the file.
fn hostile_line() -> BoxedStrategy<String> {
    let lines = &[
        "[risk]",
        "[[risk.rules]]",
        "business_types = []",
        "x = ",
        "= 1",
        "\u{0}",
        "a = \"\\u0000\"",
        "score = 99999999999999999999",
        "prepayment_due_minutes = 9223372036854775807",
        "retry_window_minutes = 0",
        "multiplier = 0",
        "jitter_percent = 1000",
        "first_delay_minutes = 18446744073709551615",
        "max_delay_minutes = -1",
        "claim_seconds = -1",
        "days = -1",
        "share = \"1e3\"",
        "amount = \"-0.00\"",
        "auto_max_amount = \"79228162514264337593543950335\"",
        "HIGH = \"1.5\"",
        "MEDIUM = 4294967296",
        "[refunds.scenarios.X]",
        "[fulfilment.strategies.digital]",
        "first = []",
        "stages = [{}]",
    ];
    prop_oneof![
        3 => select(&lines[..]).prop_map(str::to_string),
        1 => (1usize..3000).prop_map(|d| format!("a = {}{}", "[".repeat(d), "]".repeat(d))),
        1 => (1usize..3000).prop_map(|d| format!("a = {}1{}", "{b = ".repeat(d), "}".repeat(d))),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Delete(usize),
    Double(usize),
    Insert(usize, String),
    /// The value of a `key = value` line becomes a hostile one.
    Value(usize, J),
}

fn textual() -> BoxedStrategy<RulesText> {
    let edit = prop_oneof![
        1 => (0usize..10_000).prop_map(Edit::Truncate),
        2 => (0usize..300).prop_map(Edit::Delete),
        2 => (0usize..300).prop_map(Edit::Double),
        2 => (0usize..300, hostile_line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        6 => (0usize..300, prop_oneof![2 => number(), 3 => hostile()]).prop_map(|(i, v)| Edit::Value(i, v)),
    ];
    vec(edit, 1..=3).prop_map(|edits| RulesText::edited(edits.iter().fold(DEFAULT_RULES.to_string(), edited))).boxed()
}

fn edited(text: String, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match edit {
        Edit::Truncate(at) => return text.chars().take(at % (text.chars().count() + 1)).collect(),
        Edit::Delete(i) if !lines.is_empty() => drop(lines.remove(i % n)),
        Edit::Double(i) if !lines.is_empty() => lines.insert(i % n, lines[i % n].clone()),
        Edit::Insert(i, line) => lines.insert(i % n, line.clone()),
        Edit::Value(i, value) => {
            let assignments: Vec<usize> = (0..lines.len()).filter(|&l| lines[l].contains(" = ")).collect();
            if let Some(&l) = assignments.get(i % assignments.len().max(1)) {
                let key = lines[l].split(" = ").next().unwrap_or_default().to_string();
                lines[l] = format!("{key} = {}", value.text());
            }
        }
        _ => {}
    }
    lines.join("\n")
}

static FILES: AtomicUsize = AtomicUsize::new(0);

/// A rules file on disk for one case, removed however the case ends.
struct TempRules(std::path::PathBuf);

impl TempRules {
    fn write(text: &str) -> Result<TempRules, Failure> {
        let n = FILES.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("orderflow-fuzz-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).map_err(|e| Failure::new("cannot write a rules file", e.to_string()))?;
        Ok(TempRules(path))
    }
}

impl Drop for TempRules {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn run(rules: RulesText) -> Result<(), Failure> {
    if Rules::parse("fuzz.toml", &rules.text).is_err() {
        crate::capture::tally("refused");
        return Ok(());
    }
    crate::capture::tally("accepted");
    let file = TempRules::write(&rules.text)?;
    scenario(World::empty(Some(file.0.clone())).await).await
}

/// Orders of each kind, an audit failure, a prepayment, a status, refunds and two days
/// of the schedule, on a runtime with the accepted rules.
async fn scenario(world: Result<World, Failure>) -> Result<(), Failure> {
    let w = world?;
    let call = |path: &'static str, body: Value| {
        let w = &w;
        async move {
            let reply = w.call("POST", path, body.to_string().as_bytes()).await;
            checks::reply(&format!("with accepted rules, POST {path}"), &reply)?;
            w.settle().await?;
            Ok::<Value, Failure>(serde_json::from_str(&reply.body).unwrap_or_default())
        }
    };
    call("/orders", retail("o-1", "5.00")).await?;
    let high = call("/orders", retail("o-hi", "100000.00")).await?;
    call("/orders", membership("d-1")).await?;
    call("/orders", album("a-1")).await?;
    let failed = json!({"audit_id": "aud-1", "order_id": "o-1", "reason_code": "STOCK_SHORTAGE", "reason": "short", "occurred_at": START});
    let message = OutboundMessage {
        id: "aud-1".into(),
        topic: "audit-results".into(),
        body: failed.to_string(),
        attributes: [("type".to_string(), "audit.failed".to_string())].into(),
        via: Via::Topic,
    };
    w.rt.deps.publisher.publish(&message).await.map_err(|e| Failure::new("cannot publish", e.to_string()))?;
    w.settle().await?;
    let prepayment = &high["prepayment"];
    let pay = json!({"payment_ref": "p-1", "amount": prepayment["amount"], "currency": prepayment["currency"]});
    let reply = w.call("POST", "/orders/o-hi/prepayment", pay.to_string().as_bytes()).await;
    checks::reply("with accepted rules, POST /orders/{order_id}/prepayment", &reply)?;
    let status =
        json!({"order_id": "o-1", "system": "payment", "node": "payment", "status": "DONE", "occurred_at": START});
    call("/fulfilment/status", status).await?;
    call("/refunds", json!({"request_id": "r-d1", "order_id": "d-1", "scenario": "MEMBERSHIP"})).await?;
    call("/refunds", json!({"request_id": "r-a1", "order_id": "a-1", "scenario": "ALBUM"})).await?;
    call("/_local/clock/advance", json!({"seconds": 2 * 86_400})).await.map(drop)
}

#[test]
fn rules_file() {
    fuzz("rules file", 400, prop_oneof![structural(), textual()], run);
}

#[test]
fn shipped_rules_survive_the_round_trip_through_the_mutation_tree() {
    let shipped: toml::Table = DEFAULT_RULES.parse().expect("the shipped rules are TOML");
    let tree = toml_to_j(&toml::Value::Table(shipped));
    let Some(toml::Value::Table(t)) = j_to_toml(&tree) else { panic!("a table") };
    let text = toml::to_string(&t).expect("TOML text");
    Rules::parse("round trip", &text).expect("accepted");
}
