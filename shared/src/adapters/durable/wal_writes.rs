//! Fewer, larger writes to the WAL: a VFS that is SQLite's own (`unix`) except that a
//! WAL file's writes are gathered and handed to the file as one `pwrite` per run of
//! adjacent bytes, no later than the commit that ends them.
//!
//! SQLite writes a frame to the WAL as two calls, its 24-byte header and its page, and a
//! commit of the chain's typical size writes about six frames: a dozen system calls for
//! what is one stretch of the file. In a profile of the durable chain `pwrite` took about
//! a fifth of the process's time, much of it per call (the kernel's buffered write path
//! prepares and dirties a page cache page per call). A 2,000-order `bench chain` made
//! 372,000 `pwrite` calls (186 an order) on `unix` and makes 83,000 (41) on this VFS: a
//! commit's frames go in two calls, everything up to the commit frame's header and then
//! its page (the README has the rates).
//!
//! Every MiB written to a WAL, the kernel is also asked (from a thread of its own) to
//! start writing the WAL's pages to the disk without waiting for them
//! ([`start_writeback`]), so a checkpoint's sync finds them there or on their way.
//!
//! # What stays as it was
//! A commit is written to the file before `COMMIT` returns, as with `unix`: a frame
//! header whose commit field is set (bytes 4 to 8, the database's size after the commit;
//! zero in every other frame) is written out at once with everything gathered before it,
//! and so is the write after it, the commit frame's page. A transaction that rewrote
//! frames ends by rewriting headers, the commit frame's last, so its last write is also
//! one with the commit field set. Anything gathered is written before the file is read,
//! synced, truncated, sized, controlled or closed, and before a write that does not
//! follow on from it. If writing it fails, the call that caused it fails with SQLite's
//! error (a full disk stays `SQLITE_FULL`), and SQLite rolls the transaction back as it
//! would after a failed write of its own. So a `kill -9` leaves the WAL as `unix` would
//! have left it at that instant, up to writes of a transaction not yet committed, which
//! recovery ignores either way.
//!
//! Written here rather than taken from a crate: the Rust VFS crates implement a whole
//! VFS (files, locks, the WAL index) to be kept correct; this one forwards every call to
//! SQLite's own and changes only when a WAL's bytes are handed to the kernel.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};

use rusqlite::ffi;

/// The name the data directory's connection opens its database with.
pub(super) const VFS_NAME: &CStr = c"orderflow-unix-gathered-wal";

/// The size of a WAL frame's header, and where its commit field lies in it.
const FRAME_HEADER: usize = 24;
const COMMIT_FIELD: std::ops::Range<usize> = 4..8;

/// Gathered bytes are written out once this many have been gathered (a transaction
/// larger than that writes in pieces of this size).
const GATHER_AT_MOST: usize = 1 << 20;

/// Once this many bytes have been written to a WAL since the last time, the kernel is
/// asked to start writing them to the disk ([`start_writeback`]).
const WRITEBACK_EVERY: usize = 1 << 20;

/// The most one call to the underlying file writes: `unix` writes at most 128 KiB less
/// one byte per call, and reports a longer write as a full disk.
const WRITE_AT_MOST: usize = 64 << 10;

/// A WAL file as SQLite holds it: SQLite's `sqlite3_file` first (its methods are
/// [`WAL_METHODS`]), then the file of the VFS underneath, at [`INNER_OFFSET`] in the
/// same allocation (SQLite allocates `szOsFile` bytes for each file it opens).
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    /// Bytes gathered and not yet written, to be written at `at`.
    gathered: Vec<u8>,
    at: i64,
    /// The last write had the commit field set: the next is written out at once too.
    after_commit: bool,
    /// The same file, opened again for [`start_writeback`] (`None` where that could not
    /// be done), and how many bytes were written since its last call.
    writeback: Option<Arc<std::fs::File>>,
    written_since: usize,
}

/// Where the underlying file starts in a [`WalFile`]'s allocation (8-byte aligned, as
/// SQLite's own files need).
const INNER_OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(8);

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// Registers the VFS (once per process; not as the default). Fails if SQLite has no
/// default VFS to build on.
pub(super) fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns the
            // default VFS, which lives as long as the process. The copy made of it is
            // leaked, so it outlives every connection that names it, as SQLite requires.
            unsafe {
                let unix = ffi::sqlite3_vfs_find(std::ptr::null());
                if unix.is_null() {
                    return Err("SQLite has no default VFS".to_string());
                }
                let Ok(size) = c_int::try_from(INNER_OFFSET).map(|offset| offset + (*unix).szOsFile) else {
                    return Err("SQLite's file size does not fit".to_string());
                };
                let mut vfs = *unix;
                vfs.pNext = std::ptr::null_mut();
                vfs.zName = VFS_NAME.as_ptr();
                vfs.szOsFile = size;
                vfs.pAppData = unix.cast::<c_void>();
                vfs.xOpen = Some(open);
                let vfs = Box::leak(Box::new(vfs));
                match ffi::sqlite3_vfs_register(vfs, 0) {
                    ffi::SQLITE_OK => Ok(()),
                    rc => Err(format!("SQLite would not register the {VFS_NAME:?} VFS (error {rc})")),
                }
            }
        })
        .clone()
}

/// The VFS underneath, as [`register`] kept it.
unsafe fn underneath(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    unsafe { (*vfs).pAppData.cast::<ffi::sqlite3_vfs>() }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls with the VFS it registered and `szOsFile` bytes at `file`.
    unsafe {
        let unix = underneath(vfs);
        let Some(unix_open) = (*unix).xOpen else { return ffi::SQLITE_CANTOPEN };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Every other file is the underlying VFS's own, at the allocation's start.
            return unix_open(unix, name, file, flags, out_flags);
        }
        let inner = file.cast::<u8>().add(INNER_OFFSET).cast::<ffi::sqlite3_file>();
        let rc = unix_open(unix, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            // No methods: SQLite does not close a file it failed to open.
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        file.cast::<WalFile>().write(WalFile {
            base: ffi::sqlite3_file { pMethods: &WAL_METHODS },
            inner,
            gathered: Vec::new(),
            at: 0,
            after_commit: false,
            writeback: writeback_handle(name),
            written_since: 0,
        });
        ffi::SQLITE_OK
    }
}

/// The WAL file SQLite hands a method.
///
/// # Safety
/// `file` is one [`open`] set [`WAL_METHODS`] on, and SQLite uses it from one thread
/// at a time (it does: a connection's files are used under the connection's mutex).
unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    unsafe { &mut *file.cast::<WalFile>() }
}

/// The underlying file's methods.
unsafe fn methods<'a>(inner: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    unsafe { &*(*inner).pMethods }
}

/// Writes out what is gathered, in calls of at most [`WRITE_AT_MOST`] bytes (forgotten
/// whether that succeeded or failed: SQLite writes a failed transaction's frames again
/// from the start).
unsafe fn write_out(wal: &mut WalFile) -> c_int {
    let mut rc = ffi::SQLITE_OK;
    let mut at = wal.at;
    for piece in wal.gathered.chunks(WRITE_AT_MOST) {
        let Ok(amount) = c_int::try_from(piece.len()) else {
            rc = ffi::SQLITE_IOERR_WRITE;
            break;
        };
        #[cfg(test)]
        if tests::disk_is_full() {
            rc = ffi::SQLITE_FULL;
            break;
        }
        // SAFETY: the underlying file is open until `wal_close`, and the bytes outlive the call.
        rc = unsafe {
            match methods(wal.inner).xWrite {
                Some(write) => write(wal.inner, piece.as_ptr().cast::<c_void>(), amount, at),
                None => ffi::SQLITE_IOERR_WRITE,
            }
        };
        if rc != ffi::SQLITE_OK {
            break;
        }
        at += i64::from(amount);
        wal.written_since += piece.len();
    }
    wal.gathered.clear();
    if wal.written_since >= WRITEBACK_EVERY {
        wal.written_since = 0;
        start_writeback(wal.writeback.as_ref());
    }
    rc
}

/// A second handle on the WAL at `name`, for [`start_writeback`]; `None` where there is
/// no such call, or the file cannot be opened again (the WAL is then written as `unix`
/// writes it, and synced whole at checkpoints). Read-only, and it takes no lock. SQLite
/// locks the database file, never its WAL, so closing this handle cannot drop one of the
/// process's locks (closing any handle of a file drops the process's POSIX locks on it).
unsafe fn writeback_handle(name: *const c_char) -> Option<Arc<std::fs::File>> {
    if !cfg!(target_os = "linux") || name.is_null() {
        return None;
    }
    // SAFETY: SQLite passes a WAL's full path as a NUL-terminated string that outlives
    // the call.
    let path = unsafe { CStr::from_ptr(name) }.to_str().ok()?;
    std::fs::File::open(path).ok().map(Arc::new)
}

/// Asks the kernel to start writing the WAL's dirty pages to the disk, without waiting
/// for them (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`), on a thread of its own.
///
/// In `NORMAL` sync mode nothing syncs the WAL until a checkpoint, whose `fsync` then
/// had every page written since the last one to write (the 32 MiB a checkpoint follows),
/// and the one thread that runs the durable backend waited for it: about a fifth of the
/// durable chain's time. Started as they are written, the pages are on the disk or on
/// their way when the checkpoint syncs. The call is made on another thread because
/// starting the writes takes the kernel some time of its own, and that thread has a
/// core to spare.
///
/// Nothing depends on it: the checkpoint's sync still decides what is durable, so a
/// failure is ignored. RocksDB's `wal_bytes_per_sync` does the same.
fn start_writeback(file: Option<&Arc<std::fs::File>>) {
    let Some(file) = file else { return };
    #[cfg(test)]
    tests::writeback_requested();
    static WRITER: OnceLock<Option<Sender<Arc<std::fs::File>>>> = OnceLock::new();
    let writer = WRITER.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::channel::<Arc<std::fs::File>>();
        let spawned = std::thread::Builder::new().name("wal-writeback".into()).spawn(move || {
            for file in receive {
                sync_file_range(&file);
            }
        });
        spawned.ok().map(|_| send)
    });
    let sent = writer.as_ref().and_then(|send| send.send(file.clone()).ok());
    if sent.is_none() {
        sync_file_range(file);
    }
}

fn sync_file_range(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for as long as `file` is; the call reads no memory.
        let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

unsafe extern "C" fn wal_write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: see `wal`; SQLite passes `amount` readable bytes at `data`.
    unsafe {
        let wal = wal(file);
        let Ok(length) = usize::try_from(amount) else { return ffi::SQLITE_IOERR_WRITE };
        if length == 0 {
            return ffi::SQLITE_OK;
        }
        if data.is_null() {
            return ffi::SQLITE_IOERR_WRITE;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), length);
        let follows_on = i64::try_from(wal.gathered.len()).ok().and_then(|n| wal.at.checked_add(n)) == Some(offset);
        if !wal.gathered.is_empty() && !follows_on {
            let rc = write_out(wal);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if wal.gathered.is_empty() {
            wal.at = offset;
        }
        wal.gathered.extend_from_slice(bytes);
        let commit = length == FRAME_HEADER && bytes.get(COMMIT_FIELD).is_some_and(|field| field != [0; 4]);
        let ends_commit = commit || wal.after_commit;
        wal.after_commit = commit;
        if ends_commit || wal.gathered.len() >= GATHER_AT_MOST {
            return write_out(wal);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `wal`; SQLite calls this once, and never uses the file after it.
    unsafe {
        let wal_file = file.cast::<WalFile>();
        let written = write_out(wal(file));
        let inner = (*wal_file).inner;
        let closed = match methods(inner).xClose {
            Some(close) => close(inner),
            None => ffi::SQLITE_OK,
        };
        std::ptr::drop_in_place(wal_file);
        (*file).pMethods = std::ptr::null();
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

/// Writes out what is gathered, then runs `call` on the underlying file.
unsafe fn then(file: *mut ffi::sqlite3_file, call: impl FnOnce(*mut ffi::sqlite3_file) -> c_int) -> c_int {
    // SAFETY: see `wal`.
    unsafe {
        let wal = wal(file);
        let rc = write_out(wal);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        call(wal.inner)
    }
}

/// A method SQLite's own files always have; `SQLITE_IOERR` stands for its absence.
macro_rules! forward {
    ($file:expr, $method:ident ( $($arg:expr),* )) => {
        then($file, |inner| match methods(inner).$method {
            Some(method) => method(inner $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        })
    };
}

unsafe extern "C" fn wal_read(file: *mut ffi::sqlite3_file, data: *mut c_void, amount: c_int, offset: i64) -> c_int {
    unsafe { forward!(file, xRead(data, amount, offset)) }
}

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe { forward!(file, xTruncate(size)) }
}

unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { forward!(file, xSync(flags)) }
}

unsafe extern "C" fn wal_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe { forward!(file, xFileSize(size)) }
}

unsafe extern "C" fn wal_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { forward!(file, xLock(level)) }
}

unsafe extern "C" fn wal_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { forward!(file, xUnlock(level)) }
}

unsafe extern "C" fn wal_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe { forward!(file, xCheckReservedLock(out)) }
}

unsafe extern "C" fn wal_file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    unsafe { forward!(file, xFileControl(op, arg)) }
}

unsafe extern "C" fn wal_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `wal`; nothing is written for it.
    unsafe {
        let inner = wal(file).inner;
        methods(inner).xSectorSize.map_or(4096, |size| size(inner))
    }
}

unsafe extern "C" fn wal_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: see `wal`; nothing is written for it.
    unsafe {
        let inner = wal(file).inner;
        methods(inner).xDeviceCharacteristics.map_or(0, |characteristics| characteristics(inner))
    }
}

#[cfg(test)]
#[path = "wal_writes_tests.rs"]
mod tests;
