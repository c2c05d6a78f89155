//! A snapshot of what a store holds, for monitoring and tests.

/// What a [`crate::SkipStore`] holds right now. Each figure is read without
/// stopping writers, so under concurrent writes they are approximate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Rows held, expired-but-unswept included (`total_entries`).
    pub rows: usize,
    /// Namespaces with at least one row (plus any node a write in flight
    /// pins, or one retired but not yet unlinked).
    pub namespaces: usize,
    /// Emptied namespace nodes kept linked so that the namespace's next
    /// write reuses them (no rows; never listed). About
    /// [`Stats::MAX_IDLE_NAMESPACES`] of them stay at most (a few
    /// megabytes); past it, emptying a namespace retires idle ones.
    pub idle_namespaces: usize,
    /// Expiry timers held: one live timer per row with a TTL, plus stale
    /// ones (of removed rows, or superseded by an earlier expiry) not yet
    /// dropped; pruning keeps the total near at most twice the rows plus 64.
    pub pending_timers: usize,
    /// Reads (`get`, `get_versioned`) that found a live value.
    pub hits: u64,
    /// Reads that found nothing live.
    pub misses: u64,
    /// Writes stored (puts and conditional writes that succeeded).
    pub writes: u64,
    /// Rows removed by `delete` or `delete_subtree`.
    pub deletes: u64,
    /// Rows removed because they expired.
    pub expirations: u64,
    /// Rows evicted to respect `max_entries`.
    pub evictions: u64,
}

impl Stats {
    /// The bound on [`idle_namespaces`](Self::idle_namespaces): past it, a
    /// write that empties a namespace retires idle nodes (concurrent
    /// writers may overshoot it briefly, by a few nodes each).
    pub const MAX_IDLE_NAMESPACES: usize = crate::engine::IDLE_MAX;
}
