//! Failure modes through the public API: hostile input, a value whose
//! `Clone` panics, memory that must come back, and a store dropped while
//! clones, threads and its sweeper still use it. Every check is exact.
//!
//! The binary counts live heap bytes with its own global allocator, so every
//! test here takes one lock ([`serial`]): a measurement must not see another
//! test's allocations.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{ManualClock, SkipStore};

// ---- harness -------------------------------------------------------------

/// Bytes currently allocated through the global allocator.
static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

struct Counting;

fn count(delta: isize) {
    ALLOCATED.fetch_add(delta, Ordering::Relaxed);
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(signed(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(signed(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(signed(new_size) - signed(layout.size()));
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> isize {
    ALLOCATED.load(Ordering::Relaxed)
}

const MB: isize = 1 << 20;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Polls a store future once: an in-memory store never waits.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a SkipStore future returned Pending"),
    }
}

fn ns(scope: &str) -> Namespace {
    Namespace::new(TenantId::new("t")).with_scope(scope)
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

fn manual<V: Clone + Send + Sync + 'static>() -> (SkipStore<V>, ManualClock) {
    let clock = ManualClock::new();
    (SkipStore::builder().clock(clock.clone()).build(), clock)
}

// ---- shared by the modules ---------------------------------------------------

/// A value whose `Clone` panics while `armed`; counts its live instances.
#[derive(Debug)]
struct Fragile {
    id: u32,
    armed: Arc<AtomicBool>,
    live: Arc<AtomicIsize>,
}

impl Fragile {
    fn new(id: u32, armed: &Arc<AtomicBool>, live: &Arc<AtomicIsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self {
            id,
            armed: Arc::clone(armed),
            live: Arc::clone(live),
        }
    }
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        assert!(!self.armed.load(Ordering::SeqCst), "Fragile::clone refused");
        Self::new(self.id, &self.armed, &self.live)
    }
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// crossbeam-epoch frees retired memory lazily, in batches, once every
/// thread has moved on: flush until `done` holds (or give up).
fn reclaim_until(mut done: impl FnMut() -> bool) -> bool {
    // Miri interprets each flush: fewer, which still cover many epochs.
    let flushes = if cfg!(miri) { 1_000 } else { 20_000 };
    for i in 0..flushes {
        if done() {
            return true;
        }
        crossbeam_epoch::pin().flush();
        if i % 256 == 255 {
            // Let exiting threads hand their garbage over.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    done()
}

/// Lets lazily reclaimed memory go, and returns what is then allocated.
/// crossbeam-epoch (skiplist nodes, value slots) frees retired memory in
/// batches once the epoch moves; papaya's seize frees a batch once later
/// operations fill it. So: cheap operations on one key plus epoch flushes,
/// until the count stops falling.
fn settle(store: &SkipStore<u64>) -> isize {
    let ctx = ExecutionContext::new();
    let probe = ns("probe");
    let (mut lowest, mut flat) = (allocated(), 0);
    for _ in 0..200 {
        for i in 0..256 {
            ready(store.put(&ctx, &probe, "k", i)).unwrap();
            ready(store.get(&ctx, &probe, "k")).unwrap();
            ready(store.delete(&ctx, &probe, "k")).unwrap();
            crossbeam_epoch::pin().flush();
        }
        let now = allocated();
        if now < lowest - 4096 {
            (lowest, flat) = (now, 0);
        } else {
            flat += 1;
            if flat == 8 {
                break;
            }
        }
    }
    allocated()
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / MB as f64
}

#[path = "failure_modes/dropping.rs"]
mod dropping;
#[path = "failure_modes/hostile_input.rs"]
mod hostile_input;
#[path = "failure_modes/memory.rs"]
mod memory;
#[path = "failure_modes/panicking_clone.rs"]
mod panicking_clone;
