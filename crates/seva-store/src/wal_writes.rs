//! A thin SQLite VFS for the writer's connection that gathers the write-ahead log frames
//! of one commit into one `pwrite`.
//!
//! SQLite writes each frame of the log with two system calls, its 24-byte header and its
//! page; with 1 KiB pages a batch of creates is about 90 of them, a fifth of the writer's
//! time in profiles. This VFS is the platform's own (unix) with one change: the log file
//! holds what SQLite writes to it in memory while the writes follow one another, and
//! hands it to the real file in one write when the transaction's commit frame is complete
//! (its header carries the database size, a documented part of the WAL format), or before
//! anything that could see the file (a read of that range, its size, a truncate, a sync,
//! a close). The commit only becomes visible to readers (through the shared-memory
//! index, which SQLite writes after the frames) once its frames are in the file. SQLite
//! may still rewrite some frame headers after that (when a page was written twice in one
//! transaction); [`flush_log`] writes those out, and the writer calls it after every
//! `COMMIT`, before the sync thread makes the commit durable. A test copies the files
//! right after a large transaction, as a crash would leave them, and checks that SQLite's
//! recovery finds all of it.
//!
//! Every other file (the database, temporary files) is opened by the platform VFS itself
//! and used unchanged: this VFS's file object is the platform's, with room after it for
//! the log's buffer.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name connections pass to `open_with_flags_and_vfs`.
pub const NAME: &CStr = c"seva-wal-writes";

/// Bytes of a WAL frame header; bytes 4 to 7 hold, for the commit frame, the database size.
const FRAME_HEADER: usize = 24;

/// The most handed to the platform in one write: its unix VFS writes at most 128 KiB a
/// call. Held bytes beyond this go to the file before the commit (a large transaction).
const MOST_HELD: usize = 64 << 10;

/// What the log's file object holds after the platform's own part.
struct Held {
    /// The platform's methods for this file.
    methods: *const ffi::sqlite3_io_methods,
    /// Bytes written but not yet in the file, from offset `start` on.
    bytes: Vec<u8>,
    start: i64,
    /// The last write was a commit frame's header: the next, its page, ends the commit.
    commit_page_next: bool,
}

struct Registered {
    /// The platform VFS (`*mut sqlite3_vfs`, kept as an address to be `Sync`).
    platform: usize,
    /// Where [`Held`] starts in a file object.
    held_at: usize,
}

static REGISTERED: OnceLock<Result<Registered, c_int>> = OnceLock::new();

/// Registers the VFS once per process (not as the default). Returns SQLite's error code
/// when it cannot.
pub fn register() -> Result<(), c_int> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: sqlite3_vfs_find with NULL returns the default VFS, which lives as
            // long as the process; the copy made of it is leaked, so it does too.
            unsafe {
                let platform = ffi::sqlite3_vfs_find(std::ptr::null());
                if platform.is_null() {
                    return Err(ffi::SQLITE_ERROR);
                }
                let held_at = ((*platform).szOsFile as usize).next_multiple_of(16);
                let mut vfs = *platform;
                vfs.szOsFile = (held_at + std::mem::size_of::<Held>()) as c_int;
                vfs.zName = NAME.as_ptr();
                vfs.pNext = std::ptr::null_mut();
                vfs.xOpen = Some(open);
                let vfs = Box::leak(Box::new(vfs));
                let rc = ffi::sqlite3_vfs_register(vfs, 0);
                if rc != ffi::SQLITE_OK {
                    return Err(rc);
                }
                Ok(Registered {
                    platform: platform as usize,
                    held_at,
                })
            }
        })
        .as_ref()
        .map(|_| ())
        .map_err(|&rc| rc)
}

fn registered() -> &'static Registered {
    match REGISTERED.get() {
        Some(Ok(r)) => r,
        // Only a registered VFS's open can get here.
        _ => unreachable!("the VFS is used only after it was registered"),
    }
}

/// # Safety
/// `file` is a file object of this VFS whose log part was set up by [`open`].
unsafe fn held<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Held {
    // SAFETY: the caller's promise; SQLite uses a file object from one thread at a time.
    unsafe { &mut *file.cast::<u8>().add(registered().held_at).cast::<Held>() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let platform = registered().platform as *mut ffi::sqlite3_vfs;
    // SAFETY: the platform VFS opens into the first szOsFile bytes of the object SQLite
    // allocated (ours is larger); the log part after it is written before it is used.
    unsafe {
        let Some(platform_open) = (*platform).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        let rc = platform_open(platform, name, file, flags, out_flags);
        if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_WAL == 0 || (*file).pMethods.is_null() {
            return rc;
        }
        let at = file.cast::<u8>().add(registered().held_at).cast::<Held>();
        at.write(Held {
            methods: (*file).pMethods,
            bytes: Vec::new(),
            start: 0,
            commit_page_next: false,
        });
        (*file).pMethods = &LOG_METHODS;
        rc
    }
}

/// Writes what is held to the file.
///
/// # Safety
/// As for [`held`].
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: the caller's promise; the platform's write takes its own file object.
    unsafe {
        let h = held(file);
        if h.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = (*h.methods).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut at = h.start;
        for chunk in h.bytes.chunks(MOST_HELD) {
            rc = write(file, chunk.as_ptr().cast(), chunk.len() as c_int, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += chunk.len() as i64;
        }
        h.bytes.clear();
        rc
    }
}

/// Writes out what the log of `conn` still holds. The writer calls it after every
/// `COMMIT`, before the log is synced: SQLite may rewrite frame headers after the commit
/// frame (when a page was written twice in one transaction), and those must be in the
/// file before the sync that makes the commit durable.
pub fn flush_log(conn: &rusqlite::Connection) -> c_int {
    let mut log: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: SQLITE_FCNTL_JOURNAL_POINTER stores the journal's (here the log's) file
    // object in `log`; it is ours only when its methods are, and the connection is used
    // from this thread alone.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_JOURNAL_POINTER,
            (&raw mut log).cast(),
        );
        if rc != ffi::SQLITE_OK || log.is_null() || !std::ptr::eq((*log).pMethods, &LOG_METHODS) {
            return ffi::SQLITE_OK;
        }
        flush(log)
    }
}

/// Calls the platform's method; with `flush`, after writing out what is held.
macro_rules! platform {
    ($file:expr, $method:ident ( $($arg:expr),* ), flush) => {{
        let rc = flush($file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        platform!($file, $method($($arg),*))
    }};
    ($file:expr, $method:ident ( $($arg:expr),* )) => {{
        match (*held($file).methods).$method {
            Some(m) => m($file $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

unsafe extern "C" fn log_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes `amount` readable bytes at `data`.
    unsafe {
        let h = held(file);
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), amount.max(0) as usize);
        if !h.bytes.is_empty() && offset != h.start + h.bytes.len() as i64 {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let h = held(file);
        if h.bytes.is_empty() {
            h.start = offset;
        }
        h.bytes.extend_from_slice(bytes);
        if h.commit_page_next {
            h.commit_page_next = false;
            return flush(file);
        }
        if bytes.len() == FRAME_HEADER && bytes[4..8] != [0, 0, 0, 0] {
            h.commit_page_next = true;
        }
        if h.bytes.len() >= MOST_HELD {
            return flush(file);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn log_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: forwarded as SQLite gave them.
    unsafe {
        let h = held(file);
        // Only a read reaching into what is held needs it in the file first.
        if !h.bytes.is_empty() && offset + i64::from(amount) > h.start {
            platform!(file, xRead(data, amount, offset), flush)
        } else {
            platform!(file, xRead(data, amount, offset))
        }
    }
}

unsafe extern "C" fn log_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: the log part was written by `open`; it is dropped once, here, before the
    // platform closes (and clears) its part.
    unsafe {
        let flushed = flush(file);
        let methods = held(file).methods;
        std::ptr::drop_in_place(held(file));
        (*file).pMethods = methods;
        let rc = match (*methods).xClose {
            Some(close) => close(file),
            None => ffi::SQLITE_OK,
        };
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            rc
        }
    }
}

unsafe extern "C" fn log_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe { platform!(file, xTruncate(size), flush) }
}

unsafe extern "C" fn log_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { platform!(file, xSync(flags), flush) }
}

unsafe extern "C" fn log_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe { platform!(file, xFileSize(size), flush) }
}

unsafe extern "C" fn log_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { platform!(file, xLock(level)) }
}

unsafe extern "C" fn log_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { platform!(file, xUnlock(level)) }
}

unsafe extern "C" fn log_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    unsafe { platform!(file, xCheckReservedLock(out)) }
}

unsafe extern "C" fn log_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe { platform!(file, xFileControl(op, arg), flush) }
}

unsafe extern "C" fn log_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe { platform!(file, xSectorSize()) }
}

unsafe extern "C" fn log_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe { platform!(file, xDeviceCharacteristics()) }
}

unsafe extern "C" fn log_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe { platform!(file, xShmMap(page, size, extend, out)) }
}

unsafe extern "C" fn log_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    unsafe { platform!(file, xShmLock(offset, n, flags)) }
}

unsafe extern "C" fn log_shm_barrier(file: *mut ffi::sqlite3_file) {
    unsafe {
        if let Some(barrier) = (*held(file).methods).xShmBarrier {
            barrier(file)
        }
    }
}

unsafe extern "C" fn log_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe { platform!(file, xShmUnmap(delete)) }
}

unsafe extern "C" fn log_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe { platform!(file, xFetch(offset, amount, out), flush) }
}

unsafe extern "C" fn log_unfetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    p: *mut c_void,
) -> c_int {
    unsafe { platform!(file, xUnfetch(offset, p)) }
}

static LOG_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(log_close),
    xRead: Some(log_read),
    xWrite: Some(log_write),
    xTruncate: Some(log_truncate),
    xSync: Some(log_sync),
    xFileSize: Some(log_file_size),
    xLock: Some(log_lock),
    xUnlock: Some(log_unlock),
    xCheckReservedLock: Some(log_check_reserved_lock),
    xFileControl: Some(log_file_control),
    xSectorSize: Some(log_sector_size),
    xDeviceCharacteristics: Some(log_device_characteristics),
    xShmMap: Some(log_shm_map),
    xShmLock: Some(log_shm_lock),
    xShmBarrier: Some(log_shm_barrier),
    xShmUnmap: Some(log_shm_unmap),
    xFetch: Some(log_fetch),
    xUnfetch: Some(log_unfetch),
};
