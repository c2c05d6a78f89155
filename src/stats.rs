//! A snapshot of what a store holds, for monitoring and tests.

/// What a [`crate::SkipStore`] holds right now. Each figure is read without
/// stopping writers, so under concurrent writes they are approximate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Rows held, expired-but-unswept included (`total_entries`).
    pub rows: usize,
    /// Namespace nodes held (namespaces with at least one row, plus any
    /// emptied node not yet unlinked).
    pub namespaces: usize,
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
