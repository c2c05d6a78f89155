//! One stored row: its namespace, its key, and its [`Slot`].
//!
//! An entry is created live by a put and is found through two indexes: the
//! store's point index (by namespace and key) and its namespace's ordered key
//! set. Overwrites update the slot in place, so a key that stays present
//! keeps the same entry and never leaves either index. Delete and expiry kill
//! the slot first (the linearization point) and then unlink the entry.

use crate::index::Member;
use crate::namespace::NsNode;
use crate::slot::Slot;
use crate::sync::Arc;

pub(crate) struct Entry<V: Send + Sync + 'static> {
    pub(crate) ns: Arc<NsNode<V>>,
    pub(crate) key: Box<str>,
    pub(crate) slot: Slot<V>,
}

impl<V: Send + Sync + 'static> Entry<V> {
    /// The point-index owner of entries of `ns`: the node's address. Sound as
    /// an identity because an entry keeps its node alive, and a lookup holds
    /// the node it probes with.
    pub(crate) fn owner_of(ns: &NsNode<V>) -> usize {
        std::ptr::from_ref(ns) as usize
    }
}

impl<V: Send + Sync + 'static> Member for Entry<V> {
    fn sort_key(&self) -> &str {
        &self.key
    }

    fn owner(&self) -> usize {
        Entry::owner_of(&self.ns)
    }

    fn is_gone(&self) -> bool {
        self.slot.is_dead()
    }
}
