//! A `kill -9` at any instant loses nothing a call answered and leaves no half write.
//! A child process (this test binary, running only [`child_writes_until_killed`]) writes
//! through a data directory and prints each answered write; the parent kills it in the
//! middle of that, reopens the directory and checks it, a dozen times over.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::testdir::TestDir;
use super::{DataDir, DurableStore};
use crate::adapters::embedded::{ChangeFeed, NoFaults, SystemClock};
use crate::ports::{Broker, Condition, Item, Key, QueueSender, StateStore, Write};
use crate::topology::TOPOLOGY;

/// Tells the child which directory to write to and which round it is.
const DIR_VAR: &str = "ORDERFLOW_DURABLE_CRASH_DIR";
const ROUND_VAR: &str = "ORDERFLOW_DURABLE_CRASH_ROUND";
const CHILD: &str = "adapters::durable::crash_tests::child_writes_until_killed";

fn pair(round: u32, i: u32) -> [Key; 2] {
    [Key::new(format!("r{round}-a-{i}"), "A"), Key::new(format!("r{round}-b-{i}"), "A")]
}

/// Writes pairs of items in one transaction each and sends a message after each, and
/// prints `acked N` once both calls for `N` have answered; stops by itself after a
/// minute if nobody kills it.
#[tokio::test]
#[ignore = "run by a_kill_9_loses_no_answered_write_and_leaves_no_half_write in a child process"]
async fn child_writes_until_killed() {
    let (Some(dir), Some(round)) = (std::env::var_os(DIR_VAR), std::env::var_os(ROUND_VAR)) else { return };
    let round: u32 = round.to_string_lossy().parse().unwrap();
    let data = DataDir::open(Path::new(&dir)).unwrap();
    let store = data.store(Arc::new(NoFaults));
    let bus = data.bus(TOPOLOGY, Arc::new(SystemClock), Arc::new(NoFaults));
    let queue = TOPOLOGY.stream.failure_queue.name;
    let started = Instant::now();
    for i in 0..100_000 {
        let writes = pair(round, i).map(|key| Write::Put {
            item: Item::new(key, format!("{i}{}", "x".repeat(500))),
            condition: Condition::NotExists,
        });
        store.transact(writes.into()).await.unwrap();
        bus.send(queue, &format!("{round}-{i}"), &BTreeMap::new()).await.unwrap();
        println!("acked {i}");
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
}

#[tokio::test]
async fn a_kill_9_loses_no_answered_write_and_leaves_no_half_write() {
    let dir = TestDir::new("crash");
    let mut items = 0;
    for round in 0..12 {
        let acked = run_and_kill(dir.path(), round, 20 + 7 * round);
        // Reopening works at once: the dead child's lock went with it.
        let data = DataDir::open(dir.path()).unwrap();
        let store = data.store(Arc::new(NoFaults));
        let pairs = whole_pairs(&store, round).await;
        assert!(pairs > acked, "round {round}: {pairs} pairs stored, {acked} acked");
        items += 2 * pairs;
        assert_eq!(store.len().unwrap(), items as usize, "no item without its pair");
        let changes = store.read_changes(0, usize::MAX).unwrap();
        let sequences: Vec<u64> = changes.iter().map(|c| c.sequence).collect();
        assert_eq!(sequences, (1..=u64::from(items)).collect::<Vec<_>>(), "one change per item, none lost");

        let bus = data.bus(TOPOLOGY, Arc::new(SystemClock), Arc::new(NoFaults));
        let queue = TOPOLOGY.stream.failure_queue.name;
        let sent: Vec<String> = bus.receive(queue, usize::MAX).await.unwrap().into_iter().map(|m| m.body).collect();
        for m in bus.receive(queue, usize::MAX).await.unwrap() {
            bus.delete(queue, &m.receipt).await.unwrap();
        }
        let this_round: Vec<_> = sent.iter().filter(|b| b.starts_with(&format!("{round}-"))).collect();
        assert!(this_round.len() as u32 > acked, "round {round}: {} sent, {acked} acked", this_round.len());
        assert!(this_round.len() as u32 == pairs || this_round.len() as u32 + 1 == pairs, "a send follows its pair");
    }
}

/// Runs the child on `dir` until it has acked `at_least` writes, kills it (SIGKILL) and
/// returns the last write it acked.
fn run_and_kill(dir: &Path, round: u32, at_least: u32) -> u32 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", CHILD, "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir)
        .env(ROUND_VAR, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kept open until the child is dead: a closed pipe would stop it at a print, between
    // two writes, not at any instant.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = None;
    for line in lines.by_ref() {
        let Some(n) = line.unwrap().strip_prefix("acked ").map(|n| n.parse::<u32>().unwrap()) else { continue };
        acked = Some(n);
        if n >= at_least {
            break;
        }
    }
    // A different instant of the child's next write in each round.
    std::thread::sleep(Duration::from_micros(u64::from(round % 6) * 60));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(lines);
    acked.unwrap_or_else(|| panic!("round {round}: the child acked nothing"))
}

/// How many pairs of `round` the store holds, checking each is whole and in order.
async fn whole_pairs(store: &DurableStore, round: u32) -> u32 {
    let mut i = 0;
    loop {
        let [a, b] = pair(round, i);
        let (a, b) = (store.get(&a).await.unwrap(), store.get(&b).await.unwrap());
        match (a, b) {
            (Some(a), Some(b)) => assert_eq!(a.body, b.body, "pair {i} of round {round}"),
            (None, None) => return i,
            (a, b) => panic!("pair {i} of round {round} is half written: {:?} {:?}", a.is_some(), b.is_some()),
        }
        i += 1;
    }
}
