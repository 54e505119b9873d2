//! `kill -9` under load. The real `orderflow-local serve --clock manual` runs on a data
//! directory while clients place orders (some twice) and publish audit results; it is
//! killed with SIGKILL at seeded random moments and started again on the same directory,
//! and every request that went unanswered is sent again, unchanged, to the new process.
//! Then the HTTP API must show that nothing answered was lost and nothing was done twice:
//! every answered order as it was answered, one id per message an order caused and one
//! body per id, every fulfilment started, every accepted audit result applied, no dead
//! letters. `KILL9_SEED=n` runs another schedule of kills.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use orderflow_shared::topology::TOPOLOGY;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// 200 orders and six kills: seconds in a debug build on two cores.
const CLIENTS: usize = 4;
const ORDERS_PER_CLIENT: usize = 50;
const KILLS: usize = 6;
const DEFAULT_SEED: u64 = 0x6b69_6c6c_2d39_0001;
/// How long a client keeps sending one request before it gives up on the server.
const PATIENCE: Duration = Duration::from_secs(60);
/// Re-audits back off 5 minutes after a first failure, so 6 minutes send attempt 2.
const REAUDIT_AFTER_SECS: u32 = 6 * 60;

/// The `serve` process; dropping it kills it, so a failing test leaves nothing running.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `serve` on `data`, its log in `log`, and waits for its `listening on` line.
    fn start(data: &Path, log: &Path) -> Server {
        let stderr = std::fs::File::create(log).expect("the server's log file can be created");
        let mut child = Command::new(env!("CARGO_BIN_EXE_orderflow-local"))
            .args(["serve", "--port", "0", "--clock", "manual", "--auth", "off", "--data-dir"])
            .arg(data)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env_remove("ORDERFLOW_RULES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("orderflow-local starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let port = line.strip_prefix("listening on http://127.0.0.1:").and_then(|p| p.trim().parse().ok());
                if let Some(port) = port {
                    let _ = tx.send(port);
                }
            }
        });
        // Built before the wait, so a server that never says it listens is killed too.
        let mut server = Server { child, port: 0, log: log.to_path_buf() };
        server.port = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("no `listening on` line from the server; its log {}:\n{log_text}", log.display())
        });
        server
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps the process.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 exchange on a fresh connection; `None` when no whole answer came back
/// (nothing listening, or the process died before it finished answering).
async fn exchange(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    let length: usize = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    })?;
    (body.len() == length).then(|| (status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// A client's way to the server: whichever process is up now.
#[derive(Clone)]
struct Link {
    port: watch::Receiver<u16>,
    /// Answers received by every client, which the kills are timed by.
    answered: Arc<AtomicUsize>,
}

impl Link {
    /// Sends the request until a server answers, as a client that got no answer does:
    /// the same request again, to whichever process is up. Returns the answer and how
    /// many sends went unanswered.
    async fn until_answered(&self, method: &str, path: &str, body: &Value) -> (u16, Value, u32) {
        let body = body.to_string();
        let deadline = Instant::now() + PATIENCE;
        let mut unanswered = 0;
        loop {
            let port = *self.port.borrow();
            let attempt = tokio::time::timeout(Duration::from_secs(20), exchange(port, method, path, &body));
            if let Ok(Some((status, reply))) = attempt.await {
                self.answered.fetch_add(1, Ordering::Relaxed);
                return (status, reply, unanswered);
            }
            unanswered += 1;
            assert!(Instant::now() < deadline, "{method} {path} {body} unanswered for {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One settle, not retried: `None` if the server died under it or it took over 5 s.
    async fn settle(&self) -> Option<u16> {
        let port = *self.port.borrow();
        let answer = tokio::time::timeout(Duration::from_secs(5), exchange(port, "POST", "/_local/settle", "{}"));
        answer.await.ok().flatten().map(|(status, _)| status)
    }
}

/// Which audit results the middle office sends for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audit {
    None,
    Failed,
    FailedThenPassed,
    Passed,
}

impl Audit {
    fn of(i: usize) -> Audit {
        [Audit::None, Audit::Failed, Audit::FailedThenPassed, Audit::Passed][i % 4]
    }

    fn results(self) -> &'static [&'static str] {
        match self {
            Audit::None => &[],
            Audit::Failed => &["audit.failed"],
            Audit::FailedThenPassed => &["audit.failed", "audit.passed"],
            Audit::Passed => &["audit.passed"],
        }
    }

    fn audit_status(self) -> &'static str {
        match self {
            Audit::None => "PENDING",
            Audit::Failed => "PROVISIONALLY_ACCEPTED",
            Audit::FailedThenPassed | Audit::Passed => "APPROVED",
        }
    }
}

/// What a client sent for one order and what it was answered.
struct Placed {
    id: String,
    body: Value,
    total: String,
    audit: Audit,
    /// Each answered placement: status, reply `status`, sends unanswered before it.
    answers: Vec<(u16, String, u32)>,
    audit_answers: Vec<u16>,
}

#[derive(Default)]
struct Tally {
    placed: Vec<Placed>,
    unanswered: u32,
    settles: Vec<Option<u16>>,
}

/// A low-risk retail order whose price and quantity vary with `i`, and its total.
fn order(id: &str, i: usize) -> (Value, String) {
    let cents = 1_000 + (i * 737) % 9_000;
    let quantity = 1 + i % 3;
    let money = |c: usize| format!("{}.{:02}", c / 100, c % 100);
    let body = json!({
        "order_id": id, "customer_id": format!("c-{id}"), "business_type": "retail", "currency": "CNY",
        "items": [{"sku": format!("SKU-{}", i % 7), "quantity": quantity, "unit_price": money(cents)}],
        "shipping_country": "CN", "billing_country": "CN", "payment": {"method": "BANK_CARD"}
    });
    (body, money(cents * quantity))
}

/// An audit result of `kind` for `order` as the middle office publishes it.
fn audit_result(kind: &str, order: &str, at: DateTime<Utc>) -> Value {
    let data = if kind == "audit.failed" {
        json!({"audit_id": format!("aud-{order}-f"), "order_id": order, "reason_code": "STOCK_SHORTAGE",
               "reason": "short at the warehouse", "occurred_at": at.to_rfc3339()})
    } else {
        let later = at + chrono::Duration::minutes(1);
        json!({"audit_id": format!("aud-{order}-p"), "order_id": order, "occurred_at": later.to_rfc3339()})
    };
    json!({"message": data, "attributes": {"type": kind}})
}

/// One client's load: its orders, every third placed again after its answer (as a
/// client that lost the answer would), their audit results, and a settle now and then.
async fn client(link: Link, n: usize, at: DateTime<Utc>) -> Tally {
    let mut tally = Tally::default();
    for i in 0..ORDERS_PER_CLIENT {
        let id = format!("k9-{n}-{i:02}");
        let (body, total) = order(&id, i);
        let mut placed = Placed { id, body, total, audit: Audit::of(i), answers: vec![], audit_answers: vec![] };
        for _ in 0..if i % 3 == 0 { 2 } else { 1 } {
            let (status, reply, unanswered) = link.until_answered("POST", "/orders", &placed.body).await;
            placed.answers.push((status, reply["status"].as_str().unwrap_or_default().to_string(), unanswered));
            tally.unanswered += unanswered;
        }
        for kind in placed.audit.results() {
            let result = audit_result(kind, &placed.id, at);
            let (status, _, unanswered) = link.until_answered("POST", "/_local/topics/audit-results", &result).await;
            placed.audit_answers.push(status);
            tally.unanswered += unanswered;
        }
        tally.placed.push(placed);
        if i % 8 == 7 {
            tally.settles.push(link.settle().await);
        }
    }
    tally
}

/// xorshift64*: one seed, one schedule of kills.
struct Rng(u64);

impl Rng {
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low)
    }
}

/// The last answer to a request sent to a live server, panicking if it has none.
async fn call(port: u16, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let answer = tokio::time::timeout(Duration::from_secs(90), exchange(port, method, path, &body.to_string())).await;
    answer.ok().flatten().unwrap_or_else(|| panic!("{method} {path}: no answer from the running server"))
}

async fn clock(port: u16) -> DateTime<Utc> {
    let (status, body) = call(port, "GET", "/_local/clock", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["now"].as_str().and_then(|t| t.parse().ok()).expect("the clock's `now` is a time")
}

/// Where the test keeps the data directory and the servers' logs.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let root = std::env::temp_dir().join(format!("orderflow-kill9-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root).expect("a scratch directory");
        Scratch { root }
    }

    fn start(&self, life: usize) -> Server {
        Server::start(&self.root.join("data"), &self.root.join(format!("server-{life}.log")))
    }
}

/// Kills the server at seeded random moments while the clients run, each after a random
/// number of answers, and starts it again on the same directory; returns the kills.
async fn kill_under_load(
    server: &mut Server,
    scratch: &Arc<Scratch>,
    port: &watch::Sender<u16>,
    link: &Link,
    clients: &[JoinHandle<Tally>],
    rng: &mut Rng,
) -> usize {
    let mut kills = 0;
    let mut next = rng.between(20, 80) as usize;
    while kills < KILLS && !clients.iter().all(JoinHandle::is_finished) {
        if link.answered.load(Ordering::Relaxed) < next {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        // Somewhere inside the requests under way, not on an answer's boundary.
        tokio::time::sleep(Duration::from_millis(rng.between(0, 20))).await;
        let before = clock(server.port).await;
        server.kill();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.between(0, 100))).await;
        let scratch = scratch.clone();
        *server = tokio::task::spawn_blocking(move || scratch.start(kills)).await.expect("the server starts again");
        port.send_replace(server.port);
        assert_eq!(clock(server.port).await, before, "the manual clock carries on after kill {kills}");
        next = link.answered.load(Ordering::Relaxed) + rng.between(20, 80) as usize;
    }
    kills
}

/// Every id (message id, CloudEvent id) published with one body only; the CloudEvent ids
/// of each (subject, type), and of each re-audit request's (subject, attempt).
#[derive(Default)]
struct Log {
    ids: BTreeMap<(String, String), BTreeSet<String>>,
    attempts: BTreeMap<(String, u64), BTreeSet<String>>,
    messages: usize,
    /// Publishes of an id already published (with the same body): redeliveries.
    again: usize,
}

impl Log {
    async fn read(port: u16, problems: &mut Vec<String>) -> Log {
        let mut log = Log::default();
        let mut bodies: BTreeMap<String, Value> = BTreeMap::new();
        for topic in TOPOLOGY.topics {
            let (status, messages) =
                call(port, "GET", &format!("/_local/topics/{}/messages", topic.name), &json!({})).await;
            assert_eq!(status, 200, "{messages}");
            for m in messages.as_array().into_iter().flatten() {
                log.messages += 1;
                let message = &m["message"];
                let id = message["id"].as_str();
                let keys = [m["message_id"].as_str().map(|i| format!("message_id {i}")), id.map(|i| format!("id {i}"))];
                for key in keys.into_iter().flatten() {
                    match bodies.get(&key) {
                        Some(first) if first != message => problems.push(format!(
                            "{key} was published with two bodies (on {}):\n  {first}\n  {message}",
                            topic.name
                        )),
                        Some(_) => log.again += usize::from(key.starts_with("id ")),
                        None => drop(bodies.insert(key, message.clone())),
                    }
                }
                let (Some(id), Some(subject), Some(kind)) = (id, message["subject"].as_str(), message["type"].as_str())
                else {
                    continue;
                };
                log.ids.entry((subject.into(), kind.into())).or_default().insert(id.into());
                if let Some(attempt) = message["data"]["attempt"].as_u64().filter(|_| kind == "audit.requested") {
                    log.attempts.entry((subject.into(), attempt)).or_default().insert(id.into());
                }
            }
        }
        log
    }

    fn count(&self, order: &str, kind: &str) -> usize {
        self.ids.get(&(order.to_string(), kind.to_string())).map_or(0, BTreeSet::len)
    }

    /// Each re-audit attempt of `order` and how many ids it was requested under.
    fn attempts(&self, order: &str) -> Vec<(u64, usize)> {
        self.attempts.iter().filter(|((o, _), _)| o == order).map(|((_, a), ids)| (*a, ids.len())).collect()
    }
}

/// What the clients were answered: an order is created once, by its first send (answered
/// 201, or unanswered and then 200), every later send says it exists (200), and every
/// audit result is accepted (202).
fn check_answers(p: &Placed, problems: &mut Vec<String>) {
    let statuses: Vec<u16> = p.answers.iter().map(|a| a.0).collect();
    // A first answer of 200 is right only if an earlier send went unanswered (and created it).
    let first_ok = p.answers.first().is_some_and(|a| a.0 == 201 || (a.0 == 200 && a.2 > 0));
    if !first_ok || statuses.iter().skip(1).any(|s| *s != 200) {
        problems.push(format!("{}: placements answered (status, state, unanswered before) {:?}", p.id, p.answers));
    }
    if p.answers.iter().any(|a| a.1 != "DISPATCHED") {
        problems.push(format!("{}: placements answered {:?}, expected DISPATCHED", p.id, p.answers));
    }
    if p.audit_answers.iter().any(|s| *s != 202) {
        problems.push(format!("{}: audit results answered {:?}", p.id, p.audit_answers));
    }
}

/// The order as the API shows it: as placed, fulfilment started, its audit results applied.
async fn check_order(port: u16, p: &Placed, problems: &mut Vec<String>) {
    let (status, order) = call(port, "GET", &format!("/orders/{}", p.id), &json!({})).await;
    if status != 200 {
        return problems.push(format!("{}: answered {:?}, but GET answers {status}: {order}", p.id, p.answers));
    }
    let item = |o: &Value| {
        let i = &o["items"][0];
        (
            o["customer_id"].clone(),
            o["items"].as_array().map(Vec::len),
            i["sku"].clone(),
            i["quantity"].clone(),
            i["unit_price"].clone(),
        )
    };
    if item(&order) != item(&p.body) || order["total"] != p.total.as_str() {
        problems.push(format!("{}: placed {} (total {}), stored {order}", p.id, p.body, p.total));
    }
    if order["status"] != "DISPATCHED" || order["fulfilment"]["status"] == "NOT_STARTED" {
        problems.push(format!("{}: status {}, fulfilment {}", p.id, order["status"], order["fulfilment"]["status"]));
    }
    if order["audit_status"] != p.audit.audit_status() {
        let wanted = p.audit.audit_status();
        problems.push(format!(
            "{}: audit results {:?}, audit_status {} (wanted {wanted})",
            p.id, p.audit, order["audit_status"]
        ));
    }
}

/// The messages the order caused, each under one id: dispatched, audit requested (and
/// requested again, once the clock moved, after a failure with no pass), the audit's
/// outcomes and notifications.
fn check_messages(log: &Log, p: &Placed, advanced: bool, problems: &mut Vec<String>) {
    let id = p.id.as_str();
    let failed = matches!(p.audit, Audit::Failed | Audit::FailedThenPassed);
    let passed = matches!(p.audit, Audit::FailedThenPassed | Audit::Passed);
    let reaudited = advanced && p.audit == Audit::Failed;
    let attempts: &[(u64, usize)] = if reaudited { &[(1, 1), (2, 1)] } else { &[(1, 1)] };
    if log.count(id, "order.dispatched") != 1 || log.attempts(id) != attempts {
        let dispatched = log.count(id, "order.dispatched");
        problems.push(format!(
            "{id}: order.dispatched under {dispatched} ids; audit.requested (attempt, ids) {:?}, wanted {attempts:?}",
            log.attempts(id)
        ));
    }
    let outcomes = [
        ("order.audit.approved", usize::from(passed), usize::from(passed)),
        ("order.audit.provisionally_accepted", usize::from(p.audit == Audit::Failed), usize::from(failed)),
        ("notification", usize::from(p.audit == Audit::Failed), usize::from(failed)),
    ];
    for (kind, least, most) in outcomes {
        let n = log.count(id, kind);
        if n < least || n > most {
            problems.push(format!("{id} ({:?}): {kind} under {n} ids, wanted {least}..={most}", p.audit));
        }
    }
}

/// Every queue drained, no dead letters.
async fn check_queues(port: u16, problems: &mut Vec<String>) {
    let (status, queues) = call(port, "GET", "/_local/queues", &json!({})).await;
    assert_eq!(status, 200, "{queues}");
    for q in queues.as_array().into_iter().flatten() {
        let name = q["name"].as_str().unwrap_or_default();
        if q["visible"] != 0 || q["in_flight"] != 0 || q["dead_letters"] != 0 {
            let (_, dead) = call(port, "GET", &format!("/_local/queues/{name}/dead-letters"), &json!({})).await;
            problems.push(format!("queue {q} is not drained; dead letters: {dead}"));
        }
    }
}

/// The end of the run: settle, move the clock past the first re-audit, settle again. A
/// step that fails is a problem (shown with the queues and the server's errors) and the
/// steps after it are skipped; the checks still run. Returns whether the clock moved.
async fn finish(server: &Server, problems: &mut Vec<String>) -> bool {
    let steps = [
        ("/_local/settle", json!({})),
        ("/_local/clock/advance", json!({ "seconds": REAUDIT_AFTER_SECS })),
        ("/_local/settle", json!({})),
    ];
    for (step, (path, body)) in steps.into_iter().enumerate() {
        let (status, reply) = call(server.port, "POST", path, &body).await;
        if status != 200 {
            let (_, queues) = call(server.port, "GET", "/_local/queues", &json!({})).await;
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")).collect();
            let log = server.log.display();
            problems.push(format!("POST {path}: {status} {reply}\nqueues: {queues}\n{log}:\n{}", errors.join("\n")));
            return step > 1;
        }
    }
    true
}

/// Runs the clients to the end while killing and restarting the server under them;
/// returns what they were answered and how many kills there were.
async fn load(server: &mut Server, scratch: &Arc<Scratch>, seed: u64) -> (Tally, usize) {
    let (status, body) = call(server.port, "POST", "/_local/clock/advance", &json!({"seconds": 1})).await;
    assert_eq!(status, 200, "{body}");
    // Saved in the data directory once advanced, the clock stays put across the kills.
    let at = clock(server.port).await;
    let (port, port_rx) = watch::channel(server.port);
    let link = Link { port: port_rx, answered: Arc::new(AtomicUsize::new(0)) };
    let clients: Vec<_> = (0..CLIENTS).map(|n| tokio::spawn(client(link.clone(), n, at))).collect();
    let kills = kill_under_load(server, scratch, &port, &link, &clients, &mut Rng(seed | 1)).await;
    let mut tally = Tally::default();
    for c in clients {
        let t = c.await.expect("a client failed (see its panic above)");
        tally.placed.extend(t.placed);
        tally.unanswered += t.unanswered;
        tally.settles.extend(t.settles);
    }
    (tally, kills)
}

/// Everything the clients were answered, as the API shows it now.
async fn check(port: u16, tally: &Tally, advanced: bool, problems: &mut Vec<String>) -> Log {
    let log = Log::read(port, problems).await;
    for p in &tally.placed {
        check_answers(p, problems);
        check_order(port, p, problems).await;
        check_messages(&log, p, advanced, problems);
    }
    check_queues(port, problems).await;
    if tally.settles.iter().any(|s| s.is_some_and(|s| s != 200)) {
        problems.push(format!("settles under load answered {:?}", tally.settles));
    }
    log
}

fn summary(tally: &Tally, kills: usize, log: &Log, started: Instant) -> String {
    let retried: Vec<u16> = tally.placed.iter().flat_map(|p| &p.answers).filter(|a| a.2 > 0).map(|a| a.0).collect();
    let settled = tally.settles.iter().filter(|s| s.is_some()).count();
    format!(
        "kill9: {} orders, {kills} kills, {} unanswered sends retried, {} placements answered after a retry \
         ({} as 200, {} as 201), {settled}/{} settles answered, {} messages published ({} again), {:.1} s",
        tally.placed.len(),
        tally.unanswered,
        retried.len(),
        retried.iter().filter(|s| **s == 200).count(),
        retried.iter().filter(|s| **s == 201).count(),
        tally.settles.len(),
        log.messages,
        log.again,
        started.elapsed().as_secs_f64()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_answered_and_does_nothing_twice() {
    let started = Instant::now();
    let seed = std::env::var("KILL9_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    let scratch = Arc::new(Scratch::new());
    println!("kill9: seed {seed}; data directory and server logs in {}", scratch.root.display());
    let mut server = scratch.start(0);
    let (tally, kills) = load(&mut server, &scratch, seed).await;
    let mut problems = Vec::new();
    let advanced = finish(&server, &mut problems).await;
    let log = check(server.port, &tally, advanced, &mut problems).await;
    assert!(kills >= 3, "only {kills} kills happened while the clients ran");
    let root = scratch.root.display();
    assert!(problems.is_empty(), "{} problems (logs in {root}):\n{}", problems.len(), problems.join("\n"));
    drop(server);
    println!("{}", summary(&tally, kills, &log, started));
    let _ = std::fs::remove_dir_all(&scratch.root);
}
