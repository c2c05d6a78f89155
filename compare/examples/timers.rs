//! Expiry bookkeeping follows the rows held, not the writes: the floors of
//! issue 14, part 1, at full size (the tests in `tests/failure_modes/memory.rs`
//! run them smaller).
//!
//! ```text
//! cargo run --release -p skipstore-compare --example timers
//! cargo run --release -p skipstore-compare --example timers -- 2000000 1000000
//! ```
//!
//! Arguments: rewrites (default 2,000,000), rows (default 1,000,000).
//!
//! 1. One key rewritten `rewrites` times with a one-hour TTL on a manual
//!    clock moved 1 us per write (a session row refreshed on every
//!    request): timers pending and bytes grown, for SkipStore and for
//!    entelix's `InMemoryStore`.
//! 2. `rows` rows over 1,000 namespaces written with day-long TTLs, all
//!    deleted, then one `evict_expired`: bytes left over the empty store,
//!    beside the same rows written without a TTL (what the point index's
//!    table keeps either way, since it does not shrink).
//!
//! Bytes are live heap bytes, counted by this binary's global allocator
//! after crossbeam-epoch has been given the chance to free what it retired.

#![allow(clippy::disallowed_types)] // a counting allocator, not store code

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{InMemoryStore, Namespace, PutOptions, Store};
use skipstore::{ManualClock, SkipStore};

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

fn size(layout: Layout) -> isize {
    // A layout's size never exceeds isize::MAX (Layout guarantees it).
    layout.size() as isize
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counting beside it touches one atomic and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(size(layout), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - size(layout), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs a store future to completion (they never wait).
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn ns(scope: &str) -> Namespace {
    Namespace::new(TenantId::new("t")).with_scope(scope)
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Live bytes once crossbeam-epoch has freed what it can: cheap operations
/// on a probe key plus epoch flushes, until the count stops falling.
fn settle(store: &dyn Store<u64>) -> isize {
    let ctx = ExecutionContext::new();
    let probe = ns("probe");
    let (mut lowest, mut flat) = (LIVE.load(Ordering::Relaxed), 0);
    for _ in 0..200 {
        for i in 0..256 {
            let _ = ready(store.put(&ctx, &probe, "k", i));
            let _ = ready(store.delete(&ctx, &probe, "k"));
            crossbeam_epoch::pin().flush();
        }
        let now = LIVE.load(Ordering::Relaxed);
        if now < lowest - 4096 {
            (lowest, flat) = (now, 0);
        } else {
            flat += 1;
            if flat == 8 {
                break;
            }
        }
    }
    LIVE.load(Ordering::Relaxed)
}

/// Part 1: one key rewritten with a one-hour TTL.
fn rewrite(name: &str, store: &dyn Store<u64>, clock: &ManualClock, rewrites: u64) {
    let ctx = ExecutionContext::new();
    let space = ns("session");
    let hour = || ttl(Duration::from_secs(3600));
    let _ = ready(store.put_with_options(&ctx, &space, "profile", 0, hour()));
    let before = settle(store);
    let start = Instant::now();
    for i in 1..=rewrites {
        let _ = ready(store.put_with_options(&ctx, &space, "profile", i, hour()));
        clock.advance(Duration::from_micros(1));
    }
    let took = start.elapsed();
    let grown = settle(store) - before;
    println!(
        "{name:>10}: {rewrites} rewrites of one key (1 h TTL) in {took:.2?}: grew {:.3} MiB ({grown} bytes)",
        mib(grown)
    );
}

/// Part 2: `rows` rows written with `opts`, deleted, one sweep; returns the
/// bytes left over the empty store.
fn fill_delete_sweep(rows: usize, opts: impl Fn() -> PutOptions) -> (isize, isize, usize) {
    let store: SkipStore<u64> = SkipStore::builder().clock(ManualClock::new()).build();
    let ctx = ExecutionContext::new();
    let spaces: Vec<Namespace> = (0..1000).map(|i| ns(&format!("gone{i}"))).collect();
    let key = |i: usize| format!("key-{i:08}");
    let empty = settle(&store);
    for (i, value) in (0..rows).zip(0u64..) {
        let space = &spaces[i % spaces.len()];
        let _ = ready(store.put_with_options(&ctx, space, &key(i), value, opts()));
    }
    let filled = LIVE.load(Ordering::Relaxed) - empty;
    for i in 0..rows {
        let _ = ready(store.delete(&ctx, &spaces[i % spaces.len()], &key(i)));
    }
    let _ = ready(store.evict_expired(&ctx));
    let timers = store.stats().pending_timers;
    (filled, settle(&store) - empty, timers)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rewrites: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let rows: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);

    let clock = ManualClock::new();
    let skip: SkipStore<u64> = SkipStore::builder().clock(clock.clone()).build();
    rewrite("SkipStore", &skip, &clock, rewrites);
    println!(
        "{:>10}  pending timers: {}, rows: {}",
        "",
        skip.stats().pending_timers,
        skip.total_entries()
    );
    drop(skip);
    let base = InMemoryStore::<u64>::new();
    rewrite("baseline", &base, &ManualClock::new(), rewrites);
    drop(base);

    let (filled, plain, _) = fill_delete_sweep(rows, PutOptions::default);
    println!(
        "{rows} rows without TTL: {:.1} MiB filled, {:.2} MiB left after deleting all",
        mib(filled),
        mib(plain)
    );
    let day = || ttl(Duration::from_secs(86_400));
    let (filled, left, timers) = fill_delete_sweep(rows, day);
    println!(
        "{rows} rows, day-long TTLs: {:.1} MiB filled, {:.2} MiB left after deleting all and one evict_expired ({timers} timers pending); {:+.2} MiB against no TTL",
        mib(filled),
        mib(left),
        mib(left - plain)
    );
}
