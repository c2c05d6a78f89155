//! A striped signed counter: writers touch one cache-padded stripe chosen
//! per thread, readers sum all stripes. Keeps the row count off the write
//! path's contended cache lines.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicIsize, Ordering};

pub(crate) const STRIPES: usize = 8;

pub(crate) struct StripedCounter {
    stripes: [CachePadded<AtomicIsize>; STRIPES],
}

/// Under loom, one stripe: per-thread state that outlives a model iteration
/// would make executions non-deterministic.
#[cfg(skipstore_loom)]
pub(crate) fn stripe() -> usize {
    0
}

#[cfg(not(skipstore_loom))]
#[allow(clippy::disallowed_types)] // a process-wide id source, not part of any protocol
pub(crate) fn stripe() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
    }
    MINE.with(|s| *s)
}

impl StripedCounter {
    pub(crate) fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| CachePadded::new(AtomicIsize::new(0))),
        }
    }

    pub(crate) fn add(&self, n: isize) {
        self.stripes[stripe()].fetch_add(n, Ordering::Relaxed);
    }

    /// The sum, clamped at zero (stripes may be transiently negative when a
    /// removal is counted before the insert it undoes).
    pub(crate) fn sum(&self) -> usize {
        let total: isize = self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum();
        usize::try_from(total).unwrap_or(0)
    }
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StripedCounter").field(&self.sum()).finish()
    }
}

/// True on every `every`-th call made on this thread (for any store): a
/// cadence for amortised work that needs no shared counter.
///
/// Under loom it always says yes, so models see a sweep step on every write
/// (and no per-thread state survives between model iterations).
#[cfg(skipstore_loom)]
pub(crate) fn thread_cadence(_every: u32) -> bool {
    true
}

/// See the loom twin above.
#[cfg(not(skipstore_loom))]
pub(crate) fn thread_cadence(every: u32) -> bool {
    thread_local! {
        static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    CALLS.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n % every.max(1) == 0
    })
}
