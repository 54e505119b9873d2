//! A commit on the gathering VFS is in the files when it returns: what a `kill -9` would
//! leave at that instant (the files copied as they are, opened by SQLite's own VFS,
//! which recovers the WAL as a restart does) holds every committed row and nothing else.

use std::cell::Cell;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};

use super::{register, VFS_NAME};
use crate::adapters::durable::testdir::TestDir;

const FILES: [&str; 2] = ["t.db", "t.db-wal"];

thread_local! {
    /// How many more writes to the file underneath succeed on this thread before the
    /// disk is full (`None`: it never is). SQLite writes on the thread that called it.
    static WRITES_LEFT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Whether the next write to the file underneath fails as on a full disk.
pub(super) fn disk_is_full() -> bool {
    WRITES_LEFT.with(|left| match left.get() {
        Some(0) => true,
        Some(n) => {
            left.set(Some(n - 1));
            false
        }
        None => false,
    })
}

thread_local! {
    /// How many times this thread asked for a WAL's pages to be written to the disk.
    static WRITEBACKS: Cell<u32> = const { Cell::new(0) };
}

/// Counts a request to write a WAL's pages to the disk ([`super::start_writeback`]).
pub(super) fn writeback_requested() {
    WRITEBACKS.with(|n| n.set(n.get() + 1));
}

/// The disk fills after `writes` more writes on this thread; `None` frees it.
fn disk_fills_after(writes: Option<u32>) {
    WRITES_LEFT.with(|left| left.set(writes));
}

/// A database on the gathering VFS, set up as the data directory's is.
fn open(dir: &Path, synchronous: &str, settings: &str) -> Connection {
    register().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let conn = Connection::open_with_flags_and_vfs(dir.join("t.db"), OpenFlags::default(), VFS_NAME).unwrap();
    let locking: String = conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0)).unwrap();
    assert_eq!(locking, "exclusive");
    conn.execute_batch("PRAGMA page_size = 2048").unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(&format!("PRAGMA synchronous = {synchronous}; {settings}")).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, body TEXT NOT NULL)").unwrap();
    conn
}

/// The rows of a copy of the files as they are now, opened by SQLite's own VFS.
fn as_a_crash_leaves_them(dir: &Path) -> Vec<(i64, String)> {
    let copy = TestDir::new("wal-writes-crash");
    std::fs::create_dir_all(copy.path()).unwrap();
    for name in FILES {
        if dir.join(name).exists() {
            std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
        }
    }
    rows(&Connection::open(copy.path().join("t.db")).unwrap())
}

fn rows(conn: &Connection) -> Vec<(i64, String)> {
    let mut statement = conn.prepare("SELECT n, body FROM t ORDER BY n").unwrap();
    statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// A body of a few hundred to a few thousand bytes, so commits span one to several pages.
fn body(n: i64, round: usize) -> String {
    let length = 100 + (n as usize * 397 + round * 131) % 3000;
    format!("{n}-{round}-").repeat(length / 6 + 1)
}

#[test]
fn every_commit_is_in_the_files_when_it_returns_whatever_the_sync_mode() {
    for synchronous in ["NORMAL", "FULL"] {
        let dir = TestDir::new("wal-writes-commits");
        let conn = open(dir.path(), synchronous, "");
        let mut expected = Vec::new();
        for n in 0..40 {
            conn.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![n, body(n, 0)]).unwrap();
            expected.push((n, body(n, 0)));
            assert_eq!(as_a_crash_leaves_them(dir.path()), expected, "{synchronous}, after commit {n}");
        }
        assert_eq!(rows(&conn), expected);
    }
}

#[test]
fn a_transaction_larger_than_the_page_cache_is_whole_after_its_commit_and_absent_after_its_rollback() {
    let dir = TestDir::new("wal-writes-spill");
    // A page cache of 8 pages: the transaction's pages spill to the WAL before it
    // commits, and rewriting them overwrites frames it already wrote.
    let mut conn = open(dir.path(), "NORMAL", "PRAGMA cache_size = 8;");
    let tx = conn.transaction().unwrap();
    for n in 0..500 {
        tx.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![n, body(n, 0)]).unwrap();
    }
    for n in 0..500 {
        tx.execute("UPDATE t SET body = ?2 WHERE n = ?1", params![n, body(n, 1)]).unwrap();
    }
    tx.commit().unwrap();
    let committed: Vec<_> = (0..500).map(|n| (n, body(n, 1))).collect();
    assert_eq!(as_a_crash_leaves_them(dir.path()), committed);

    let tx = conn.transaction().unwrap();
    for n in 0..500 {
        tx.execute("UPDATE t SET body = ?2 WHERE n = ?1", params![n, body(n, 2)]).unwrap();
    }
    tx.rollback().unwrap();
    assert_eq!(as_a_crash_leaves_them(dir.path()), committed);

    conn.execute("UPDATE t SET body = 'last' WHERE n = 7", []).unwrap();
    let mut last = committed;
    if let Some(row) = last.get_mut(7) {
        row.1 = "last".into();
    }
    assert_eq!(as_a_crash_leaves_them(dir.path()), last);
    assert_eq!(rows(&conn), last);
}

#[test]
fn commits_after_checkpoints_restarted_the_wal_are_in_the_files_and_survive_a_reopen() {
    let dir = TestDir::new("wal-writes-restart");
    let mut expected: Vec<(i64, String)> = Vec::new();
    {
        // A checkpoint every 16 pages: the WAL restarts from its start again and again,
        // its new frames written over the old.
        let conn = open(dir.path(), "NORMAL", "PRAGMA wal_autocheckpoint = 16;");
        for round in 0..300 {
            let n = (round % 60) as i64;
            conn.execute("INSERT OR REPLACE INTO t (n, body) VALUES (?1, ?2)", params![n, body(n, round)]).unwrap();
            match expected.iter_mut().find(|(m, _)| *m == n) {
                Some(row) => row.1 = body(n, round),
                None => expected.push((n, body(n, round))),
            }
            if round % 25 == 24 {
                assert_eq!(as_a_crash_leaves_them(dir.path()), expected, "after commit {round}");
            }
        }
    }
    let conn = open(dir.path(), "NORMAL", "");
    assert_eq!(rows(&conn), expected);
}

#[test]
fn a_commit_the_disk_has_no_room_for_fails_whole_and_the_next_ones_succeed_once_there_is_room() {
    let dir = TestDir::new("wal-writes-full");
    let conn = open(dir.path(), "NORMAL", "");
    let mut expected = Vec::new();
    for n in 0..10 {
        conn.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![n, body(n, 0)]).unwrap();
        expected.push((n, body(n, 0)));
    }
    // A commit is written in two calls (up to its commit frame's header, then that
    // frame's page), and a transaction of more than 64 KiB in pieces of 64 KiB: the disk
    // fills at the first call, at the commit frame's page, and partway through.
    let large: String = "x".repeat(200_000);
    for (writes, n, text) in [(0, 100, "small"), (1, 101, "small"), (1, 102, large.as_str()), (2, 103, large.as_str())]
    {
        disk_fills_after(Some(writes));
        let failed = conn.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![n, text]);
        assert!(
            matches!(&failed, Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DiskFull),
            "{writes} writes left: {failed:?}"
        );
        disk_fills_after(None);
        assert_eq!(rows(&conn), expected, "{writes} writes left, {text}");
        assert_eq!(as_a_crash_leaves_them(dir.path()), expected, "{writes} writes left, {text}");
    }
    for n in 10..15 {
        conn.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![n, body(n, 0)]).unwrap();
        expected.push((n, body(n, 0)));
    }
    assert_eq!(as_a_crash_leaves_them(dir.path()), expected);
    drop(conn);
    assert_eq!(rows(&open(dir.path(), "NORMAL", "")), expected);
}

#[test]
fn the_wal_is_handed_to_the_disk_every_mebibyte_and_its_commits_are_unchanged() {
    let dir = TestDir::new("wal-writes-writeback");
    let conn = open(dir.path(), "NORMAL", "PRAGMA wal_autocheckpoint = 0");
    let before = WRITEBACKS.with(Cell::get);
    let mut expected = Vec::new();
    // About 5 MiB of commits of a few pages each, and one larger transaction.
    for n in 0..1_600 {
        conn.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![n, body(n, 1)]).unwrap();
        expected.push((n, body(n, 1)));
    }
    let large: String = "y".repeat(1_500_000);
    conn.execute("INSERT INTO t (n, body) VALUES (?1, ?2)", params![2_000, large]).unwrap();
    expected.push((2_000, large));
    let asked = WRITEBACKS.with(Cell::get) - before;
    let wal = std::fs::metadata(dir.path().join("t.db-wal")).unwrap().len();
    // Asked once per MiB written, on Linux (where `sync_file_range` is): never more
    // often, and at least once per 2 MiB (what a write out carries past the MiB is not
    // carried over).
    let every = u64::try_from(super::WRITEBACK_EVERY).unwrap();
    if cfg!(target_os = "linux") {
        assert!(wal > 5 * every, "{wal} bytes of WAL");
        assert!(
            u64::from(asked) >= wal / (2 * every) && u64::from(asked) <= wal / every,
            "{asked} requests for {wal} bytes"
        );
    }
    assert_eq!(as_a_crash_leaves_them(dir.path()), expected);
    drop(conn);
    assert_eq!(rows(&open(dir.path(), "NORMAL", "")), expected);
}
