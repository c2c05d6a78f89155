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
    /// Expiry timers not yet fired (one per TTL write still pending).
    pub pending_timers: usize,
}
