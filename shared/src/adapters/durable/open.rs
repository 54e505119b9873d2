//! Opening a data directory: take its lock, open the database, check it is ours and of
//! this format (or create it), all before anything is read or written.
//!
//! # Lock
//! A directory is open in at most one runtime. The opener takes an exclusive OS lock
//! (`flock` on Unix, `LockFileEx` on Windows, through `std::fs::File::try_lock`) on
//! `orderflow.lock` and writes its pid there, as cargo locks its build directory and
//! PostgreSQL records its postmaster's pid: the kernel lets the lock go when the process
//! dies, however it dies, so a `kill -9` never leaves a stale lock, and a second opener
//! can say who holds it. SQLite's own locks would also refuse a second writer, but
//! cannot name the holder, and `locking_mode = EXCLUSIVE` would also shut out someone
//! reading the database with the `sqlite3` shell while the runtime runs.
//!
//! # Schema (format 2)
//! - `meta (key, value)`: `application` = `orderflow-local`, `format` = 2, `next_id`
//!   (counts the opens; message, publish and receipt ids are `prefix-<open>-<n>`, so
//!   they stay unique across restarts), `clock` (the saved manual clock, Unix
//!   nanoseconds).
//! - `items (pk, sk, version, body, expires_at, outbox, index_keys)`: the table;
//!   `outbox` is `Item::outbox_bytes`; `index_keys` the item's keys in each index it is
//!   in, as JSON (`{"gsi1": [pk, sk]}`, `NULL` for none), read with the item.
//! - `index_entries (idx, ipk, isk, pk, sk)`: one row per item per index it is in,
//!   ordered as the index is queried (the same keys as `items.index_keys`).
//! - `changes (sequence, pk, sk, old, old_outbox, new, new_outbox)`: the change feed;
//!   `old`/`new` are the images (a JSON line, then the body: see `codec`; format 1's
//!   were one JSON object), `AUTOINCREMENT` so a sequence number is never reused, even
//!   after the feed is trimmed.
//! - `published (seq, topic, message_id, message, attributes, published_at)`: every
//!   publish, per topic in order.
//! - `messages (seq, queue, message_id, body, attributes, receive_count, visible_at,
//!   receipt)`: queued and in-flight messages, in queue order (`visible_at` in Unix
//!   nanoseconds; a receipt is `<seq>/<id>`, found by its row).
//! - `dead_letters (seq, queue, message_id, body, attributes, receive_count)`: what
//!   each queue redrove, oldest first.
//!
//! A directory of format 1 is upgraded as it is opened, in the transaction that opens
//! it ([`UPGRADE_FROM_1`]); one of a later format is refused, saying what to do.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::{wal_writes, SyncMode, DATABASE_FILE, FORMAT, LOCK_FILE};

/// The page size of a database this code creates.
const PAGE_SIZE: i64 = 2048;

/// The `meta` row `application` marks a database as this program's.
pub const APPLICATION: &str = "orderflow-local";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE items (
    pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    expires_at INTEGER, outbox BLOB, index_keys TEXT, PRIMARY KEY (pk, sk));
CREATE TABLE index_entries (
    idx TEXT NOT NULL, ipk TEXT NOT NULL, isk TEXT NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL,
    PRIMARY KEY (idx, ipk, isk, pk, sk)) WITHOUT ROWID;
CREATE INDEX index_entries_by_item ON index_entries (pk, sk);
CREATE TABLE changes (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT, pk TEXT NOT NULL, sk TEXT NOT NULL,
    old TEXT, old_outbox BLOB, new TEXT, new_outbox BLOB);
CREATE TABLE published (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, message_id TEXT NOT NULL, message TEXT NOT NULL,
    attributes TEXT NOT NULL, published_at INTEGER NOT NULL);
CREATE INDEX published_by_topic ON published (topic, seq);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, receive_count INTEGER NOT NULL, visible_at INTEGER NOT NULL, receipt TEXT);
CREATE INDEX messages_by_queue ON messages (queue, seq);
CREATE TABLE dead_letters (
    seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, receive_count INTEGER NOT NULL);
CREATE INDEX dead_letters_by_queue ON dead_letters (queue, seq);
";

/// Locks the directory at `dir` (creating it if absent), then opens and checks (or
/// creates) its database. The lock file is held for as long as the connection is used.
/// The open connection, the directory's lock, and the number of this open (see
/// [`prepare`]).
pub(super) fn open(dir: &Path, sync: SyncMode) -> Result<(Connection, File, i64), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let lock = lock(dir)?;
    let database = dir.join(DATABASE_FILE);
    let failed = |e: rusqlite::Error| describe(&database, e);
    // SQLite's own VFS, with a WAL's writes gathered into one call per run of adjacent
    // bytes, written out by each commit (see `wal_writes`).
    wal_writes::register()?;
    let mut conn =
        Connection::open_with_flags_and_vfs(&database, OpenFlags::default(), wal_writes::VFS_NAME).map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
    // One connection of one process uses the database (the directory's lock says so):
    // with exclusive locking SQLite takes its file locks once instead of per transaction,
    // and keeps the WAL index in memory rather than in a shared-memory file. Set before
    // the database is first read, as the WAL index's place is chosen then.
    let locking: String = conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0)).map_err(failed)?;
    if !locking.eq_ignore_ascii_case("exclusive") {
        return Err(format!("{}: SQLite would not lock the database exclusively", database.display()));
    }
    // Pages of 2 KiB for a new database (an existing one keeps the size it was made
    // with; SQLite reads it from the header). A commit writes every page it dirtied to
    // the WAL, and most of the chain's commits change one short row and its index
    // entries: halving the page halves the bytes copied and checksummed per frame.
    // `bench chain`, durable, four pairs alternated: 937 to 1,026 orders/s with 4 KiB
    // pages, 1,117 to 1,182 with 2 KiB (1 KiB was in between).
    conn.pragma_update(None, "page_size", PAGE_SIZE).map_err(failed)?;
    // The first statement that reads the file's header: a file that is not a database
    // fails here, before anything is written to it.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("{}: SQLite would not switch to WAL mode (it is in {mode} mode)", database.display()));
    }
    conn.pragma_update(None, "synchronous", sync.pragma()).map_err(failed)?;
    // 32 MiB of page cache (SQLite's default is 2 MB): the pump and the handlers read
    // back what was just written, and a cache miss is a read from the file.
    conn.pragma_update(None, "cache_size", -32 * 1024).map_err(failed)?;
    // A checkpoint every 16,384 pages of WAL (32 MiB of 2 KiB pages) rather than
    // SQLite's 1,000: each one syncs the WAL and the database file, and the pages
    // written most (the queues', the feed's) are copied back once per checkpoint however
    // often they changed. The WAL is cut back to 64 MiB after one.
    conn.pragma_update(None, "wal_autocheckpoint", 16 * 1024).map_err(failed)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(failed)?;
    // Every statement the stores and queues run stays prepared: they use about 30, and
    // rusqlite keeps 16 by default, so the least recent were parsed and planned again.
    conn.set_prepared_statement_cache_capacity(64);
    // Plans that do not depend on the values bound: SQLite otherwise plans a `LIMIT ?`
    // for the value bound, and so prepares the statement again at every new binding
    // (the queue's receive, the change feed's read and index queries: about a tenth of
    // the durable chain's SQLite time). The tables' indexes serve every query as well
    // without it.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(failed)?;
    let opened = prepare(&mut conn, &database)?;
    Ok((conn, lock, opened))
}

/// How many times (10 ms apart) a lock this process holds is tried again.
const OWN_LOCK_WAITS: u32 = 50;

/// Takes the directory's lock and records this process's pid in it.
fn lock(dir: &Path) -> Result<File, String> {
    let path = dir.join(LOCK_FILE);
    let cannot = |e: std::io::Error| format!("cannot lock the data directory through {}: {e}", path.display());
    // Not truncated before the lock is ours: the file names the holder's pid.
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(cannot)?;
    // Held by this very process, the lock may be on its way out: a handle being closed,
    // or a child process being started, which shares the open lock file until it runs
    // its program. That is waited out for a moment before the directory counts as in use.
    let mut waits = 0;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let pid = file.seek(SeekFrom::Start(0)).ok().and_then(|_| holder(&mut file));
                if pid == Some(std::process::id()) && waits < OWN_LOCK_WAITS {
                    waits += 1;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                return Err(in_use(dir, pid));
            }
            Err(TryLockError::Error(e)) => return Err(cannot(e)),
        }
    }
    file.set_len(0).map_err(cannot)?;
    file.seek(SeekFrom::Start(0)).map_err(cannot)?;
    writeln!(file, "{}", std::process::id()).map_err(cannot)?;
    Ok(file)
}

/// The pid the lock's holder wrote, if it has and it reads as one.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn in_use(dir: &Path, pid: Option<u32>) -> String {
    let who = match pid {
        Some(pid) if pid == std::process::id() => format!(" (this process, pid {pid})"),
        Some(pid) => format!(" (pid {pid})"),
        None => String::new(),
    };
    format!("{} is in use by another orderflow-local{who}; stop it or use another --data-dir", dir.display())
}

/// An SQLite error at open, naming the database; a file that is not one says so.
fn describe(database: &Path, e: rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!(
            "{} is not an SQLite database ({e}); move it away or start with --data-dir on a new directory",
            database.display()
        ),
        _ => super::failure(database, &e),
    }
}

/// Creates the schema in an empty database, or checks that a non-empty one is ours
/// and of [`FORMAT`]. One transaction: a crash while creating leaves an empty database.
///
/// Messages a previous runtime had received and not yet deleted are made visible again
/// here: the directory's lock proves that runtime gone, so nothing can still be working
/// on them or hold their receipts. (Waiting for their visibility timeout instead would,
/// under a manual clock that only moves after the queues settle, keep them hidden for
/// good.) Their receive counts stay, so one that keeps crashing the runtime still ends
/// in its dead-letter queue.
///
/// Counts the open (`next_id`) and returns the count: the ids this open hands out
/// (messages, publishes, receipts) are `prefix-<open>-<n>`, with `n` counted in memory,
/// so they stay unique across restarts without a write per id.
fn prepare(conn: &mut Connection, database: &Path) -> Result<i64, String> {
    let failed = |e: rusqlite::Error| describe(database, e);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    let tables = {
        let mut names = tx
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .map_err(failed)?;
        let rows = names.query_map([], |r| r.get::<_, String>(0)).map_err(failed)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(failed)?
    };
    if tables.is_empty() {
        tx.execute_batch(SCHEMA).map_err(failed)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('application', ?1), ('format', ?2), ('next_id', 0)",
            rusqlite::params![APPLICATION, FORMAT],
        )
        .map_err(failed)?;
    } else {
        if check_ours(&tx, database, &tables)? == 1 {
            tx.execute_batch(UPGRADE_FROM_1).map_err(failed)?;
        }
        tx.execute("UPDATE messages SET visible_at = 0, receipt = NULL WHERE receipt IS NOT NULL", [])
            .map_err(failed)?;
    }
    let opened: i64 = tx
        .query_row("UPDATE meta SET value = value + 1 WHERE key = 'next_id' RETURNING value", [], |r| r.get(0))
        .map_err(failed)?;
    tx.commit().map_err(failed)?;
    Ok(opened)
}

/// Format 1 to 2, in the transaction that opens the directory: each item's index keys
/// are copied into its row (read with the item, one query where there were two), and
/// the index of receipts goes (a receipt names its row). The change feed is left as it
/// is: its format-1 images stay readable ([`super::codec::Row::from_image`]).
const UPGRADE_FROM_1: &str = "
ALTER TABLE items ADD COLUMN index_keys TEXT;
UPDATE items SET index_keys = (
    SELECT json_group_object(e.idx, json_array(e.ipk, e.isk)) FROM index_entries e
    WHERE e.pk = items.pk AND e.sk = items.sk)
WHERE EXISTS (SELECT 1 FROM index_entries e WHERE e.pk = items.pk AND e.sk = items.sk);
DROP INDEX messages_by_receipt;
UPDATE meta SET value = 2 WHERE key = 'format';
";

/// Checks that the database is ours and of a format this code reads: [`FORMAT`], or 1
/// (upgraded as it is opened, [`UPGRADE_FROM_1`]). Returns its format.
fn check_ours(conn: &Connection, database: &Path, tables: &[String]) -> Result<i64, String> {
    let not_ours = |why: String| {
        format!(
            "{} is an SQLite database that orderflow-local did not write ({why}); move it away or start with \
             --data-dir on a new directory",
            database.display()
        )
    };
    if !tables.iter().any(|t| t == "meta") {
        return Err(not_ours(format!("it has the tables {} and no meta table", tables.join(", "))));
    }
    let meta = |key: &str| -> Result<Option<rusqlite::types::Value>, String> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| not_ours(format!("its meta table cannot be read: {e}")))
    };
    let application = meta("application")?;
    let ours = matches!(&application, Some(rusqlite::types::Value::Text(a)) if a == APPLICATION);
    if !ours {
        return Err(not_ours(format!("its meta table has no application {APPLICATION:?}")));
    }
    let format = meta("format")?;
    let format = format.as_ref().map(ValueRef::from);
    match format {
        Some(ValueRef::Integer(n @ (1 | FORMAT))) => Ok(n),
        Some(ValueRef::Integer(n)) => Err(format!(
            "{} was written by another version of orderflow-local (format {n}); move it away or start with \
             --data-dir on a new directory",
            database.display()
        )),
        other => Err(format!(
            "{} has an unreadable format version ({other:?}); move it away or start with --data-dir on a new \
             directory",
            database.display()
        )),
    }
}
