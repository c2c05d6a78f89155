//! What the engine tells the world: removal notices for the listener, and
//! operation counters for [`crate::Stats`]. Neither runs on a lock: notices
//! are collected while an operation (or a sweep, under the wheel's mutex)
//! runs, and delivered once it has let go of every lock and flag. Even the
//! removed value is cloned for the listener only then (a value's `Clone` is
//! user code): until delivery the notice keeps the removed version itself
//! readable ([`Keepsakes`]).

#![allow(clippy::disallowed_types)] // counters and the listener are not part of any protocol

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use entelix_memory::Namespace;

use crate::counter::{STRIPES, stripe};
use crate::entry::Entry;
use crate::index::Released;
use crate::raw::pending::Drained;
use crate::raw::slot::{Graveyard, Keepsakes};
use crate::sync::Arc as SyncArc;

/// Why an entry left the store, as told to a removal listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// Its TTL ran out and a sweep removed it (or a write replaced it after
    /// it had expired).
    Expired,
    /// A `delete` or a subtree delete removed it.
    Deleted,
    /// A later write replaced its value.
    Replaced,
    /// The store was over its entry bound and chose it.
    Evicted,
}

pub(crate) type Cause = RemovalCause;

/// One removal, as handed to a listener: the namespace and key, the value
/// that left, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct Removal<'a, V> {
    /// The entry's namespace.
    pub namespace: &'a Namespace,
    /// The entry's key.
    pub key: &'a str,
    /// The value removed (a clone: the listener may keep it).
    pub value: V,
    /// Why it was removed.
    pub cause: RemovalCause,
}

/// A removal listener.
pub(crate) type Listener<V> = Arc<dyn Fn(Removal<'_, V>) + Send + Sync>;

/// Wraps a listener closure.
pub(crate) fn listener_of<V>(f: impl Fn(Removal<'_, V>) + Send + Sync + 'static) -> Listener<V> {
    Arc::new(f)
}

/// What one operation leaves for after it: removals to tell the listener
/// about (each an entry, a cause and its removed version among the
/// keepsakes), and the versions it killed and the index counts it released
/// (retired together when this drops).
pub(crate) struct Notices<V: Send + Sync + 'static> {
    removals: Vec<(SyncArc<Entry<V>>, Cause, usize)>,
    /// The removed versions, readable until delivery.
    pub(crate) keepsakes: Keepsakes<V>,
    pub(crate) graveyard: Graveyard<V, Entry<V>>,
    /// The point index's counts of the entries it removed.
    pub(crate) released: Released<Entry<V>>,
    /// The write buffers' counts of the entries drains removed.
    pub(crate) drained: Drained<Entry<V>>,
}

impl<V: Send + Sync + 'static> Notices<V> {
    pub(crate) fn new() -> Self {
        Self {
            removals: Vec::new(),
            keepsakes: Keepsakes::new(),
            graveyard: Graveyard::new(),
            released: Released::new(),
            drained: Drained::new(),
        }
    }

    /// Retires what the operation unlinked so far (displaced versions,
    /// released counts) through its own guard, before it drops it: a pin
    /// saved per write. Kept versions stay readable: their keepsakes hold a
    /// pin of their own until delivery.
    pub(crate) fn retire_now(&mut self, guard: &crate::raw::Guard) {
        self.graveyard.retire_now(guard);
        self.released.retire_now(guard);
        self.drained.retire_now(guard);
    }

    /// A removal of `entry`'s version kept at `kept` (in `keepsakes`).
    pub(crate) fn push(&mut self, entry: &SyncArc<Entry<V>>, kept: usize, cause: Cause) {
        self.removals.push((SyncArc::clone(entry), cause, kept));
    }
}

const HITS: usize = 0;
const MISSES: usize = 1;
const WRITES: usize = 2;
const DELETES: usize = 3;
const EXPIRATIONS: usize = 4;
const EVICTIONS: usize = 5;
const REPLACEMENTS: usize = 6;

/// Operation counters, striped per thread so that counting costs one
/// uncontended atomic add on a cache line of the thread's own.
pub(crate) struct Tally {
    stripes: [CachePadded<[AtomicU64; 8]>; STRIPES],
}

impl Tally {
    fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| {
                CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0)))
            }),
        }
    }

    fn add(&self, which: usize) {
        self.stripes[stripe()][which].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_read(&self, hit: bool) {
        self.add(if hit { HITS } else { MISSES });
    }

    pub(crate) fn add_write(&self) {
        self.add(WRITES);
    }

    pub(crate) fn add_removal(&self, cause: Cause) {
        self.add(match cause {
            Cause::Expired => EXPIRATIONS,
            Cause::Deleted => DELETES,
            Cause::Replaced => REPLACEMENTS,
            Cause::Evicted => EVICTIONS,
        });
    }

    /// `(hits, misses, writes, deletes, expirations, evictions)`.
    pub(crate) fn read(&self) -> [u64; 6] {
        let sum = |i: usize| {
            self.stripes
                .iter()
                .map(|s| s[i].load(Ordering::Relaxed))
                .sum()
        };
        [
            sum(HITS),
            sum(MISSES),
            sum(WRITES),
            sum(DELETES),
            sum(EXPIRATIONS),
            sum(EVICTIONS),
        ]
    }
}

/// The optional behaviours a store was built with.
pub(crate) struct Hooks<V> {
    listener: Option<Listener<V>>,
    pub(crate) stats: Tally,
    /// Entry bound (`SkipStoreBuilder::max_entries`).
    pub(crate) max_entries: Option<usize>,
}

impl<V> Hooks<V> {
    pub(crate) fn new(listener: Option<Listener<V>>, max_entries: Option<usize>) -> Self {
        Self {
            listener,
            stats: Tally::new(),
            max_entries,
        }
    }

    pub(crate) fn wants_notices(&self) -> bool {
        self.listener.is_some()
    }

    pub(crate) fn bounded(&self) -> bool {
        self.max_entries.is_some()
    }
}

impl<V: Clone + Send + Sync + 'static> Hooks<V> {
    /// Calls the listener for each notice; called with no lock held and no
    /// flag set.
    ///
    /// First clones every removed value (while the keepsakes' pin keeps the
    /// versions readable), then lets the pin go, then calls the listener: it
    /// runs unpinned, so a slow listener holds back no reclamation. A value
    /// whose `Clone` panics costs its own notice only; a listener that panics
    /// costs nothing but its call.
    pub(crate) fn deliver(&self, notices: Notices<V>) {
        let Some(listener) = &self.listener else {
            return;
        };
        let Notices {
            removals,
            keepsakes,
            graveyard,
            released,
            drained,
        } = notices;
        let values: Vec<Option<V>> = removals
            .iter()
            .map(|&(_, _, kept)| {
                let version = keepsakes.get(kept)?;
                catch_unwind(AssertUnwindSafe(|| version.value.clone())).ok()
            })
            .collect();
        drop((keepsakes, graveyard, released, drained));
        for ((entry, cause, _), value) in removals.into_iter().zip(values) {
            let Some(value) = value else {
                continue;
            };
            let removal = Removal {
                namespace: &entry.ns.namespace,
                key: &entry.key,
                value,
                cause,
            };
            // A listener that panics must not break the operation that
            // already completed, nor the notices after it.
            let _ = catch_unwind(AssertUnwindSafe(|| listener(removal)));
        }
    }
}
