//! One stored row: its namespace, its key, and its [`Slot`].
//!
//! An entry is created live by a put and is found through two indexes: the
//! store's point index (by namespace and key) and its namespace's ordered key
//! set. Overwrites update the slot in place, so a key that stays present
//! keeps the same entry and never leaves either index. Delete and expiry kill
//! the slot first (the linearization point) and then unlink the entry.

use compact_str::CompactString;

use crate::expiry::Arming;
use crate::index::Member;
use crate::namespace::NsNode;
use crate::raw::Guard;
use crate::raw::pending::{Chained, Link};
use crate::raw::slot::Slot;
use crate::sync::{Arc, AtomicU64, Ordering};

pub(crate) struct Entry<V: Send + Sync + 'static> {
    pub(crate) ns: Arc<NsNode<V>>,
    /// Inline up to 24 bytes (typical keys), so a lookup that compares it
    /// touches no extra cache line.
    pub(crate) key: CompactString,
    pub(crate) slot: Slot<V>,
    /// `point_hash(rendered namespace, key)` (60 bits), with four flags in
    /// the top bits: `IN_KEYS`, set once the entry was added to its
    /// namespace's ordered keys (it starts in the namespace's pending
    /// buffer); `ACCESSED`, set by reads when the store is bounded (the
    /// eviction clock's reference bit); and the entry's publication state
    /// (see [`Publication`]). One word for all keeps the entry small (see
    /// `pending_link`).
    tag: AtomicU64,
    /// Which of the timers the wheel holds for this entry counts, and its
    /// tick: an entry has one live timer whatever its write history (see
    /// [`crate::expiry`]). A word of its own (the hash word has no room
    /// for a tick): 8 bytes per row.
    pub(crate) timer: Arming,
    /// The entry's link in its namespace's write buffer (it is buffered
    /// once, when inserted; see [`crate::raw::pending`]). In an entry, not a node
    /// of its own: one allocation less per new row. With the slot's inline
    /// first version and the timer word, an entry of `String` values is
    /// 112 bytes (120 with the [`Arc`]'s count: glibc's 128-byte chunk;
    /// with std's `Arc` and its weak count, 128 bytes in a 144-byte chunk;
    /// 80 + 64 when an entry and a boxed version were two allocations).
    pending_link: Link<Entry<V>>,
}

impl<V: Send + Sync + 'static> Chained for Entry<V> {
    fn chain(&self) -> &Link<Self> {
        &self.pending_link
    }
}

const IN_KEYS: u64 = 1 << 63;
const ACCESSED: u64 = 1 << 62;
const PUBLISHED: u64 = 1 << 61;
const VOID: u64 = 1 << 60;
const FLAGS: u64 = IN_KEYS | ACCESSED | PUBLISHED | VOID;

/// Where a new entry stands between its namespace's buffer and the point
/// index (protocol rule 1 in [`crate::engine`]): an insert buffers its
/// entry first, then tries to publish it in the point index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Publication {
    /// Buffered; its insert is still deciding. It may or may not be in the
    /// point index: only the index can say.
    Fresh,
    /// In the point index (and it stays until it is killed).
    Published,
    /// Its insert lost to another entry of the same key and took its
    /// version back: never in the point index, never to be read.
    Void,
}

impl<V: Send + Sync + 'static> Entry<V> {
    /// A new entry of `ns`, not yet in its ordered keys.
    pub(crate) fn new(ns: Arc<NsNode<V>>, key: &str, slot: Slot<V>, hash: u64) -> Self {
        debug_assert_eq!(hash & FLAGS, 0, "point hashes are 60 bits");
        Self {
            ns,
            key: CompactString::from(key),
            slot,
            tag: AtomicU64::new(hash & !FLAGS),
            timer: Arming::new(),
            pending_link: Link::new(),
        }
    }

    /// Whether the entry holds a version live at `now` (a plain look: a
    /// sliding expiry is not refreshed).
    pub(crate) fn is_live_at(&self, now: u64, guard: &Guard) -> bool {
        (self.slot.load(guard)).is_some_and(|v| v.is_live(|| now))
    }

    /// Whether the entry was added to its namespace's ordered keys.
    pub(crate) fn in_keys(&self) -> bool {
        self.tag.load(Ordering::SeqCst) & IN_KEYS != 0
    }

    /// Records that the entry was added to its namespace's ordered keys.
    pub(crate) fn set_in_keys(&self) {
        self.tag.fetch_or(IN_KEYS, Ordering::SeqCst);
    }

    /// The entry's publication state.
    pub(crate) fn publication(&self) -> Publication {
        let tag = self.tag.load(Ordering::Acquire);
        if tag & PUBLISHED != 0 {
            Publication::Published
        } else if tag & VOID != 0 {
            Publication::Void
        } else {
            Publication::Fresh
        }
    }

    /// Records that the entry's insert published it in the point index.
    pub(crate) fn set_published(&self) {
        self.tag.fetch_or(PUBLISHED, Ordering::Release);
    }

    /// Records that the entry's insert lost: it is never published, and
    /// nobody may read its slot (its inserter takes the version back).
    pub(crate) fn set_void(&self) {
        self.tag.fetch_or(VOID, Ordering::Release);
    }

    /// Sets the reference bit (reads of a bounded store). Writes only when
    /// the bit is clear, so hot entries cost readers no cache-line traffic.
    pub(crate) fn mark_accessed(&self) {
        if self.tag.load(Ordering::Relaxed) & ACCESSED == 0 {
            self.tag.fetch_or(ACCESSED, Ordering::Relaxed);
        }
    }

    /// Clears the reference bit; returns whether it was set.
    pub(crate) fn take_accessed(&self) -> bool {
        self.tag.fetch_and(!ACCESSED, Ordering::Relaxed) & ACCESSED != 0
    }
}

impl<V: Send + Sync + 'static> Member for Entry<V> {
    fn sort_key(&self) -> &str {
        &self.key
    }

    /// Entries are found by `(rendered namespace, key)`, so a read needs one
    /// probe and no namespace lookup. At most one un-retired node per rendered
    /// namespace exists, and a node retires only once all its entries are
    /// unlinked, so equal scopes mean the same node among live entries.
    fn scope(&self) -> &str {
        self.ns.rendered()
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.ns.is_rendered(scope)
    }

    fn is_gone(&self) -> bool {
        self.slot.is_dead()
    }

    fn point_hash(&self) -> u64 {
        self.tag.load(Ordering::Relaxed) & !FLAGS
    }

    /// The index unlinks an entry only once it is gone (its slot dead, R3
    /// in [`crate::raw`]), so the grace period of its release covers every
    /// reader of the version the kill displaced: if that was the inline
    /// one, drop it now, on the entry's cache line the release touches
    /// anyway (no handle and no deferral of its own).
    fn unlinked(&self, proof: &crate::raw::Unlinked<'_, Self>) {
        self.slot.release_killed(proof);
    }
}

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
    use super::Entry;

    /// The sizes `pending_link`'s docs give: a row of `String` values is one
    /// 112-byte entry behind an 8-byte count (one 120-byte request).
    #[test]
    fn an_entry_of_strings_requests_120_bytes() {
        assert_eq!(size_of::<Entry<String>>(), 112);
        let counted = std::alloc::Layout::new::<(usize, Entry<String>)>();
        assert_eq!(counted.size(), 120);
    }
}
