//! One stored row: its namespace, its key, and its [`Slot`].
//!
//! An entry is created live by a put and is found through two indexes: the
//! store's point index (by namespace and key) and its namespace's ordered key
//! set. Overwrites update the slot in place, so a key that stays present
//! keeps the same entry and never leaves either index. Delete and expiry kill
//! the slot first (the linearization point) and then unlink the entry.

use compact_str::CompactString;

use crate::index::Member;
use crate::namespace::NsNode;
#[cfg(not(skipstore_loom))]
use crate::pending::{Chained, Link};
use crate::slot::Slot;
use crate::sync::{Arc, AtomicU64, Ordering};

pub(crate) struct Entry<V: Send + Sync + 'static> {
    pub(crate) ns: Arc<NsNode<V>>,
    /// Inline up to 24 bytes (typical keys), so a lookup that compares it
    /// touches no extra cache line.
    pub(crate) key: CompactString,
    pub(crate) slot: Slot<V>,
    /// `point_hash(rendered namespace, key)` (62 bits), with the top bit set
    /// once the entry was added to its namespace's ordered keys (it starts in
    /// the namespace's pending buffer), and the next one set by reads when
    /// the store is bounded (the eviction clock's reference bit). One word
    /// for all three keeps the entry small (see `pending_link`).
    tag: AtomicU64,
    /// The entry's link in its namespace's write buffer (it is buffered
    /// once, when inserted; see [`crate::pending`]). In an entry, not a node
    /// of its own: one allocation less per new row. With the slot's inline
    /// first version, an entry of `String` values is 104 bytes (120 with
    /// the `Arc`'s counts: glibc's 128-byte chunk, where an entry and a
    /// boxed version took 80 + 64).
    #[cfg(not(skipstore_loom))]
    pending_link: Link<Entry<V>>,
}

#[cfg(not(skipstore_loom))]
impl<V: Send + Sync + 'static> Chained for Entry<V> {
    fn chain(&self) -> &Link<Self> {
        &self.pending_link
    }
}

const IN_KEYS: u64 = 1 << 63;
const ACCESSED: u64 = 1 << 62;
const FLAGS: u64 = IN_KEYS | ACCESSED;

impl<V: Send + Sync + 'static> Entry<V> {
    /// A new entry of `ns`, not yet in its ordered keys.
    pub(crate) fn new(ns: Arc<NsNode<V>>, key: &str, slot: Slot<V>, hash: u64) -> Self {
        debug_assert_eq!(hash & FLAGS, 0, "point hashes are 62 bits");
        Self {
            ns,
            key: CompactString::from(key),
            slot,
            tag: AtomicU64::new(hash & !FLAGS),
            #[cfg(not(skipstore_loom))]
            pending_link: Link::new(),
        }
    }

    /// Whether the entry was added to its namespace's ordered keys.
    pub(crate) fn in_keys(&self) -> bool {
        self.tag.load(Ordering::SeqCst) & IN_KEYS != 0
    }

    /// Records that the entry was added to its namespace's ordered keys.
    pub(crate) fn set_in_keys(&self) {
        self.tag.fetch_or(IN_KEYS, Ordering::SeqCst);
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

/// An owning handle to `entry`, as a type-erased pointer, for [`release_inline`]:
/// what the slot's `hold` argument makes when an overwrite displaces
/// the entry's inline first version.
#[cfg(not(skipstore_loom))]
pub(crate) fn hold<V: Send + Sync + 'static>(entry: &Arc<Entry<V>>) -> *mut () {
    Arc::into_raw(Arc::clone(entry)).cast_mut().cast()
}

/// Drops the inline first version of the entry that `handle` (from
/// [`hold`]) owns, then the handle; the release of a [`crate::slot::Graveyard`].
///
/// # Safety
/// `handle` must come from [`hold`], be released once, and only after the
/// grace period of a deferral made after the entry's inline version was
/// displaced (which [`crate::retire::Batch`] provides).
#[cfg(not(skipstore_loom))]
pub(crate) unsafe fn release_inline<V: Send + Sync + 'static>(handle: *mut ()) {
    // SAFETY: per the contract, an owning handle made by `hold`.
    let entry = unsafe { Arc::from_raw(handle.cast_const().cast::<Entry<V>>()) };
    // SAFETY: per the contract, displaced and past its grace period; the
    // handle keeps the slot alive until here.
    unsafe { entry.slot.drop_inline() };
}

/// Under loom the inline version is dropped with its slot (see
/// [`crate::slot`]), so no handle is ever made or released.
#[cfg(skipstore_loom)]
pub(crate) fn hold<V: Send + Sync + 'static>(_entry: &Arc<Entry<V>>) -> *mut () {
    std::ptr::null_mut()
}

/// See the non-loom twin; never called under loom.
#[cfg(skipstore_loom)]
pub(crate) unsafe fn release_inline<V: Send + Sync + 'static>(_handle: *mut ()) {}

impl<V: Send + Sync + 'static> Member for Entry<V> {
    fn sort_key(&self) -> &str {
        &self.key
    }

    /// Entries are found by `(rendered namespace, key)`, so a read needs one
    /// probe and no namespace lookup. At most one un-retired node per rendered
    /// namespace exists, and a node retires only once all its entries are
    /// unlinked, so equal scopes mean the same node among live entries.
    fn scope(&self) -> &str {
        &self.ns.rendered
    }

    fn is_gone(&self) -> bool {
        self.slot.is_dead()
    }

    fn point_hash(&self) -> u64 {
        self.tag.load(Ordering::Relaxed) & !FLAGS
    }

    /// The index unlinks an entry only after it was killed (protocol rule
    /// 2 in [`crate::engine`]), so the grace period of its release covers
    /// every reader of the version the kill displaced: if that was the
    /// inline one, drop it now, on the entry's cache line the release
    /// touches anyway (no handle and no deferral of its own).
    fn unlinked(&self) {
        // SAFETY: per the above; `release_killed` does nothing unless the
        // kill displaced the inline version, and the index releases once.
        unsafe { self.slot.release_killed() };
    }
}
