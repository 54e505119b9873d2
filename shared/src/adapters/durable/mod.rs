//! The embedded backend kept in a data directory: the same semantics as
//! [`crate::adapters::embedded`]'s in-memory store and bus, on one SQLite database
//! (`orderflow.db`, through `rusqlite` with SQLite bundled), so the local runtime keeps
//! its items, change feed, queues and clock across a restart or a crash.
//!
//! - [`open`]: opening a directory: its lock, its format, its schema.
//! - [`store`]: [`DurableStore`], the table and its change feed; `table`: their SQL.
//! - [`bus`]: [`DurableBus`], topics and queues; `queues`: receiving and inspecting them.
//! - `codec`: how items, change images and times are kept in rows.
//! - `wal_writes`: the VFS the database is opened with, SQLite's own with the WAL's
//!   writes gathered into fewer calls.
//!
//! # What survives what
//! Every call that changes anything is one SQLite transaction, committed before the call
//! returns `Ok`: a write and its change record, a publish and every copy it queues, a
//! receive and the receipts it hands out. A crash at any instant leaves each of them
//! whole or absent. The database is in WAL mode; how often it is synced to the disk is
//! the opener's choice ([`SyncMode`]): by default (`NORMAL`) a commit is written to the
//! WAL before it returns and the WAL is synced at checkpoints, so an answered write
//! survives any crash or `kill -9` of the runtime, and a power cut or an OS crash may
//! lose the last moments' commits (never half of one); `FULL` syncs every commit
//! before it returns, so an answered write survives a power cut too, at the price of a
//! disk flush per write (about a third of the whole chain's rate on the development
//! machine).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::embedded::Faults;
use crate::ports::Clock;
use crate::topology::Topology;

pub mod bus;
mod codec;
pub mod open;
mod queues;
pub mod store;
mod table;
mod wal_writes;

pub use bus::DurableBus;
pub use store::DurableStore;

/// The layout of the database this code writes and reads (`meta` row `format`).
pub const FORMAT: i64 = 2;

/// The database's file name in the data directory.
pub const DATABASE_FILE: &str = "orderflow.db";

/// The file whose OS lock marks the directory as open, holding the opener's pid.
pub const LOCK_FILE: &str = "orderflow.lock";

/// When a commit reaches the disk: SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// `NORMAL`: a commit is in the WAL when it returns; the WAL is synced at
    /// checkpoints. Survives any crash of the process; a power cut may lose the last
    /// commits.
    #[default]
    Normal,
    /// `FULL`: every commit is synced before it returns; survives a power cut.
    Full,
}

impl SyncMode {
    fn pragma(self) -> &'static str {
        match self {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        }
    }
}

/// What the store and the bus of one directory share: the one connection, and the
/// directory's lock, held until the last of them is dropped.
struct Shared {
    // Declared before `_lock`, so the database closes before the lock is let go.
    conn: Mutex<Connection>,
    database: PathBuf,
    /// The number of this open of the directory, and the ids handed out in it.
    opened: i64,
    ids: AtomicU64,
    _lock: File,
}

impl Shared {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh id, unique in this directory across restarts: `prefix-<open>-<n>` (the
    /// open is counted in the database before anything runs; `n` in memory, since a
    /// counter row updated per id was a write in every transaction).
    fn fresh_id(&self, prefix: &str) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}-{}-{n:08}", self.opened)
    }

    /// An SQLite failure, naming the database it happened on.
    fn failed(&self, e: &rusqlite::Error) -> String {
        failure(&self.database, e)
    }
}

/// An SQLite failure on `database`, naming it, and saying what to do about a full disk:
/// SQLite rolls the failed transaction back whole, so what was committed is kept and
/// nothing of the failed call is (a request answers `500` and may be sent again; a
/// queue record is retried).
fn failure(database: &Path, e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => format!(
            "{}: the disk is full ({e}): free space on it; everything committed is kept, and what failed was not written",
            database.display()
        ),
        _ => format!("{}: {e}", database.display()),
    }
}

/// An open data directory: the one place the durable store and bus keep everything.
pub struct DataDir {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl DataDir {
    /// Opens the data directory at `path`, creating it (and the database `orderflow.db`
    /// in it) if absent. Refuses, saying what to do, a directory of another format
    /// version, a database that is not ours, a directory another runtime has open, and
    /// a disk error (naming the path). See [`open`].
    pub fn open(path: &Path) -> Result<DataDir, String> {
        DataDir::open_with(path, SyncMode::default())
    }

    /// [`DataDir::open`], its commits synced to the disk as `sync` says.
    pub fn open_with(path: &Path, sync: SyncMode) -> Result<DataDir, String> {
        let (conn, lock, opened) = open::open(path, sync)?;
        let shared = Shared {
            conn: Mutex::new(conn),
            database: path.join(DATABASE_FILE),
            opened,
            ids: AtomicU64::new(0),
            _lock: lock,
        };
        Ok(DataDir { shared: Arc::new(shared), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state store on this directory; `faults` run around writes exactly as
    /// `EmbeddedStore` runs them.
    pub fn store(&self, faults: Arc<dyn Faults>) -> Arc<DurableStore> {
        Arc::new(DurableStore::new(self.shared.clone(), faults))
    }

    /// The topics and queues of `topology` on this directory, with the in-memory bus's
    /// semantics (`EmbeddedBus::with_faults`).
    pub fn bus(&self, topology: Topology, clock: Arc<dyn Clock>, faults: Arc<dyn Faults>) -> Arc<DurableBus> {
        self.bus_keeping(topology, clock, faults, None)
    }

    /// [`DataDir::bus`], keeping only the latest `keep` messages of each topic
    /// (`EmbeddedBus::keeping_published`; `None`: all of them): older ones are deleted
    /// from the directory every [`bus::TRIM_EVERY`] publishes.
    pub fn bus_keeping(
        &self,
        topology: Topology,
        clock: Arc<dyn Clock>,
        faults: Arc<dyn Faults>,
        keep: Option<usize>,
    ) -> Arc<DurableBus> {
        Arc::new(DurableBus::new(self.shared.clone(), topology, clock, faults, keep))
    }

    /// The manual clock's time as last saved (`None` if never saved).
    pub fn saved_clock(&self) -> Result<Option<DateTime<Utc>>, String> {
        let conn = self.shared.conn();
        let nanos: Option<i64> = conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'clock'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
            .map_err(|e| format!("the saved clock in {}", self.shared.failed(&e)))?;
        Ok(nanos.map(DateTime::from_timestamp_nanos))
    }

    pub fn save_clock(&self, at: DateTime<Utc>) -> Result<(), String> {
        let nanos = codec::nanos(at)?;
        let conn = self.shared.conn();
        conn.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('clock', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .and_then(|mut s| s.execute(params![nanos]))
        .map_err(|e| format!("saving the clock in {}", self.shared.failed(&e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod testdir;

#[cfg(test)]
mod open_tests;

#[cfg(test)]
mod durability_tests;

#[cfg(test)]
mod crash_tests;
