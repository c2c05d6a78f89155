//! The near cache's counters.

use crate::counter::StripedCounter;
use crate::sync::{AtomicU64, Ordering};

/// What a [`super::NearCache`] has done since it was built, for monitoring
/// and tests. Each figure is read without stopping anyone, so under load
/// they are approximate; clones of one cache share them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NearStats {
    /// `get`s served by the local tier (no network round trip).
    pub local_hits: u64,
    /// `get`s that went to Redis (not held locally, or tracking down).
    pub misses: u64,
    /// Misses that waited for another miss of the same key to answer
    /// instead of sending their own request.
    pub shared_fetches: u64,
    /// Values installed in the local tier after a miss.
    pub fills: u64,
    /// Values read from Redis but not installed, because an invalidation of
    /// their key (or a full clear) was processed while they were in flight:
    /// the fill/invalidation race, closed.
    pub fills_discarded: u64,
    /// Keys named by invalidation messages from Redis (rows and indexes).
    pub invalidations: u64,
    /// Times the whole local tier was dropped: tracking lost, `FLUSHALL` /
    /// `FLUSHDB`, tracking re-established.
    pub full_clears: u64,
    /// Times tracking was established again after a loss (a new session:
    /// one connection to the server, or to every master of a cluster).
    pub reconnects: u64,
    /// Whether tracking is up right now, on every master (local hits and
    /// fills happen only while it is).
    pub tracking: bool,
}

/// The live counters behind [`NearStats`]. The two that every `get` bumps
/// are striped: one shared atomic would put a contended cache line on the
/// local hit path, which otherwise writes nothing shared.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) local_hits: StripedCounter,
    pub(crate) misses: StripedCounter,
    pub(crate) shared_fetches: AtomicU64,
    pub(crate) fills: AtomicU64,
    pub(crate) fills_discarded: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) full_clears: AtomicU64,
    pub(crate) reconnects: AtomicU64,
}

/// Adds one to a counter (monitoring only: no ordering needed).
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, tracking: bool) -> NearStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NearStats {
            local_hits: u64::try_from(self.local_hits.sum()).unwrap_or(u64::MAX),
            misses: u64::try_from(self.misses.sum()).unwrap_or(u64::MAX),
            shared_fetches: read(&self.shared_fetches),
            fills: read(&self.fills),
            fills_discarded: read(&self.fills_discarded),
            invalidations: read(&self.invalidations),
            full_clears: read(&self.full_clears),
            reconnects: read(&self.reconnects),
            tracking,
        }
    }
}
