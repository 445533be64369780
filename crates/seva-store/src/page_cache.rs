//! SQLite's own page cache, with one of its walks left out.
//!
//! At the end of every write transaction SQLite asks its page cache to drop the pages past
//! the end of the database (`xTruncate`). The default cache (pcache1) knows only the
//! highest page number it was ever given since the last such call, and when that is far
//! beyond the limit it walks its whole hash table and every page in it. It is far beyond
//! after nearly every batch of creates: when a b-tree page splits, SQLite puts the new
//! pages in order of their numbers by swapping them, and parks one page for a moment at
//! the number of the lock-byte page (page 1,048,577 with 1 KiB pages). That walk of the
//! writer's 4,000 cached pages was an eighth of the writer's time (docs/benchmarks.md).
//!
//! This wrapper passes every call to pcache1 unchanged and keeps, per cache, the highest
//! number of a page that may really be in it (the parked page counted apart, since it
//! always moves on). When no page can be at or past the limit, the truncate has nothing
//! to drop and is not passed on; pcache1's stale high mark then only matters to the next
//! truncate that is passed on, which walks as it always did. A truncate that may drop
//! something (after a rolled-back transaction grew the database, say) always reaches
//! pcache1.

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;

use rusqlite::ffi;

/// SQLite's lock-byte page sits at this byte offset of the file (its `PENDING_BYTE`,
/// unchanged in our build), and a split parks a page at that page's number.
const PENDING_BYTE: c_uint = 0x4000_0000;

/// pcache1's methods, as SQLite reported them before ours replaced them.
struct Default(ffi::sqlite3_pcache_methods2);

// SAFETY: the methods are plain function pointers and pcache1's `pArg` (null); SQLite
// calls them from any thread, as it would without this wrapper.
unsafe impl Send for Default {}
unsafe impl Sync for Default {}

static INSTALLED: OnceLock<Option<Default>> = OnceLock::new();

/// Puts the wrapper in place of SQLite's page cache for every connection this process
/// opens. Must run before SQLite is first used (opening a connection, registering a
/// VFS); when it is too late, SQLite keeps its own cache as it is and this says so.
/// Returns whether the wrapper is in use.
pub fn install() -> bool {
    INSTALLED
        .get_or_init(|| {
            let mut default = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
            // SAFETY: SQLITE_CONFIG_GETPCACHE2 fills the struct it is given;
            // SQLITE_CONFIG_PCACHE2 copies the one it is given. Both are refused with
            // SQLITE_MISUSE, changing nothing, once SQLite is initialised.
            unsafe {
                if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, default.as_mut_ptr())
                    != ffi::SQLITE_OK
                {
                    tracing::debug!("SQLite was in use already; its page cache stays as it is");
                    return None;
                }
                let default = default.assume_init();
                let ours = ffi::sqlite3_pcache_methods2 {
                    iVersion: 1,
                    pArg: default.pArg,
                    xInit: default.xInit,
                    xShutdown: default.xShutdown,
                    xCreate: Some(create),
                    xCachesize: Some(cachesize),
                    xPagecount: Some(pagecount),
                    xFetch: Some(fetch),
                    xUnpin: Some(unpin),
                    xRekey: Some(rekey),
                    xTruncate: Some(truncate),
                    xDestroy: Some(destroy),
                    xShrink: Some(shrink),
                };
                if ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &ours) != ffi::SQLITE_OK {
                    tracing::debug!("SQLite was in use already; its page cache stays as it is");
                    return None;
                }
                Some(Default(default))
            }
        })
        .is_some()
}

fn default() -> &'static ffi::sqlite3_pcache_methods2 {
    match INSTALLED.get() {
        Some(Some(d)) => &d.0,
        // SQLite calls these methods only once they were installed.
        _ => unreachable!("the page cache wrapper is called only once installed"),
    }
}

/// One page cache: pcache1's, and what is known of the page numbers in it.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// The number a split parks a page at for a moment (the lock-byte page's).
    parking: c_uint,
    /// The highest number any page in the cache may have, the parked page aside.
    highest: c_uint,
    /// Pages at `parking` now (0, or 1 during a split).
    parked: c_uint,
}

/// # Safety
/// `p` is a cache made by [`create`] and not yet destroyed; SQLite uses a cache from one
/// thread at a time.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: the caller's promise.
    unsafe { &mut *p.cast::<Cache>() }
}

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = default().xCreate else {
        return std::ptr::null_mut();
    };
    // SAFETY: pcache1's own constructor, with SQLite's arguments.
    let inner = unsafe { create(page_size, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let parking = PENDING_BYTE / page_size.max(1) as c_uint + 1;
    Box::into_raw(Box::new(Cache {
        inner,
        parking,
        highest: 0,
        parked: 0,
    }))
    .cast()
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: SQLite passes a cache of ours; the default method gets pcache1's.
    unsafe {
        if let Some(f) = default().xCachesize {
            f(cache(p).inner, pages)
        }
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as in `cachesize`.
    unsafe { default().xPagecount.map_or(0, |f| f(cache(p).inner)) }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        let Some(f) = default().xFetch else {
            return std::ptr::null_mut();
        };
        let page = f(c.inner, key, create);
        // Only a page that is there counts: SQLite asks for the parking number before it
        // parks a page there, and that question must not raise the mark.
        let parked = key == c.parking && c.parked > 0;
        if !page.is_null() && !parked {
            c.highest = c.highest.max(key);
        }
        page
    }
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as in `cachesize`.
    unsafe {
        if let Some(f) = default().xUnpin {
            f(cache(p).inner, page, discard)
        }
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        if old == c.parking && c.parked > 0 {
            c.parked -= 1;
        }
        if new == c.parking {
            c.parked += 1;
        } else {
            c.highest = c.highest.max(new);
        }
        if let Some(f) = default().xRekey {
            f(c.inner, page, old, new)
        }
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        let parked_past = c.parked > 0 && c.parking >= limit;
        if c.highest < limit && !parked_past {
            // Nothing is at or past `limit`: there is nothing to drop.
            return;
        }
        if let Some(f) = default().xTruncate {
            f(c.inner, limit)
        }
        c.highest = c.highest.min(limit.saturating_sub(1));
        if parked_past {
            c.parked = 0;
        }
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: SQLite destroys a cache once; it was made by `create` with Box::into_raw.
    unsafe {
        let c = Box::from_raw(p.cast::<Cache>());
        if let Some(f) = default().xDestroy {
            f(c.inner)
        }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as in `cachesize`.
    unsafe {
        if let Some(f) = default().xShrink {
            f(cache(p).inner)
        }
    }
}

/// Whether the wrapper is in use in this process (for tests).
pub fn in_use() -> bool {
    matches!(INSTALLED.get(), Some(Some(_)))
}
