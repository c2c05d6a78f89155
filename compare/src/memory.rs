//! Bytes held per entry, measured with a counting global allocator.
//!
//! Counting is switched on only around a fill that nothing else runs
//! beside, so the throughput runs pay one relaxed load per allocation and
//! no shared counter traffic.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The system allocator, counting live bytes while [`measure`] runs.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

fn record(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

fn bytes(layout: Layout) -> isize {
    // A layout's size never exceeds isize::MAX (Layout guarantees it).
    layout.size() as isize
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the bookkeeping around the
// calls only touches atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(bytes(layout));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(bytes(layout));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (so from `System`) with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) };
        record(-bytes(layout));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller guarantees `ptr` and
        // `layout` describe a live block of ours and `new_size` is valid.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(new_size as isize - bytes(layout));
        }
        new
    }
}

/// Runs `build` with counting on and returns what it built and the bytes
/// it left allocated (allocated minus freed during the call).
///
/// Meant to be called from one thread with no other thread allocating, so
/// the difference is what `build`'s result holds.
pub fn measure<T>(build: impl FnOnce() -> T) -> (T, isize) {
    LIVE_BYTES.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let built = build();
    COUNTING.store(false, Ordering::SeqCst);
    (built, LIVE_BYTES.load(Ordering::SeqCst))
}

/// Bytes one fresh store holds per row after a fill.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Footprint {
    /// Which store.
    pub store: crate::runner::StoreKind,
    /// Rows filled.
    pub rows: u64,
    /// Bytes the store held after the fill.
    pub bytes: i64,
    /// `bytes / rows`.
    pub bytes_per_entry: f64,
    /// Bytes per row once every namespace has been listed (SkipStore
    /// orders a namespace's rows for its lists, which costs memory); `None`
    /// for a store whose lists keep nothing.
    pub listed_bytes_per_entry: Option<f64>,
    /// Seconds the single-threaded fill took.
    pub fill_seconds: f64,
}
