//! A namespace node: the ordered keys of one rendered namespace, and the
//! count that decides when the node may be retired.
//!
//! # Ground rules
//!
//! * `rows` counts the node's entries plus writers that are about to add one
//!   (a writer *pins* the node before touching it). A node whose count
//!   falls to zero stays linked, *idle*, so that the namespace's next write
//!   reuses it instead of building and linking a new node; the engine
//!   retires idle nodes once there are too many (see `Engine::unpin`).
//! * The high bit, `RETIRED`, is set by a CAS from exactly zero, so a
//!   retired node has no entries and no writer can pin it again.
//! * A writer that finds a retired node in an index unlinks it and creates a
//!   fresh node; the indexes replace gone members only, so at most one
//!   un-retired node per rendered namespace is ever linked.

use std::ops::{Bound, ControlFlow};

use entelix_memory::Namespace;

use crate::entry::Entry;
use crate::index::{Member, OrderedSet, scope_hash};
use crate::raw::Guard;
use crate::raw::pending::Pending;
use crate::raw::text::InlineText;
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering};

const RETIRED: usize = 1 << (usize::BITS - 1);

/// What [`NsNode::try_pin`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pinned {
    /// Pinned a node that held rows or pins already.
    Busy,
    /// Pinned an idle node (the idle count drops by one).
    WasIdle,
    /// Not pinned: the node is retired (unlink it, make a new one).
    Retired,
}

/// A namespace's node. `repr(C)`, in this order: every point lookup
/// compares its namespace with its entry's node's name, so `hash` and the
/// name held in place (`name`) come first, right after the `Arc`'s count:
/// one cache line for most names, where a boxed name was two (the field,
/// then the bytes; BENCHMARKS.md, issue 15, "Seventeenth session: a point
/// lookup's namespace compare"). Every write pins its namespace's node
/// (and every expiry unpins it) through `hash` (the lookup), `rows`,
/// `pending` and `drained_at`, so those follow together: two or three
/// cache lines of a node that went cold (most of them, with short-lived
/// rows over 10,000 namespaces), where the compiler's order spread them
/// over three or four (BENCHMARKS.md, issue 15, "The namespace node's hot
/// fields").
#[repr(C)]
pub(crate) struct NsNode<V: Send + Sync + 'static> {
    /// `scope_hash(rendered)`: its lookup hash, and the start of every
    /// entry's point hash (see [`crate::index::point_hash_in`]).
    pub(crate) hash: u64,
    /// The rendered namespace, if it fits in place (most do); else
    /// `long` holds it.
    name: InlineText,
    rows: AtomicUsize,
    /// New entries not yet moved into `keys` (see [`crate::raw::pending`]).
    pub(crate) pending: Pending<Entry<V>>,
    /// Clock time of the last drain of `pending` (0: none yet); tells a
    /// drain how fast the namespace is written.
    pub(crate) drained_at: AtomicU64,
    /// Set once the node is linked in the store's ordered namespaces
    /// (protocol rule 7 in [`crate::engine`]).
    ordered: AtomicBool,
    /// The rendered namespace if `name` could not hold it.
    long: Option<Box<str>>,
    pub(crate) namespace: Namespace,
    pub(crate) keys: OrderedSet<Entry<V>>,
}

impl<V: Send + Sync + 'static> NsNode<V> {
    /// A node pinned once on behalf of its creator.
    pub(crate) fn new_pinned(rendered: &str, namespace: &Namespace) -> Arc<Self> {
        let name = InlineText::new(rendered);
        let long = name.get().is_none().then(|| rendered.into());
        Arc::new(Self {
            name,
            long,
            namespace: namespace.clone(),
            keys: OrderedSet::new(),
            pending: Pending::new(),
            hash: scope_hash(rendered),
            drained_at: AtomicU64::new(0),
            rows: AtomicUsize::new(1),
            ordered: AtomicBool::new(false),
        })
    }

    /// The rendered namespace.
    pub(crate) fn rendered(&self) -> &str {
        match &self.long {
            Some(long) => long,
            None => self.name.get().unwrap_or_default(),
        }
    }

    /// Whether the node's rendered namespace is `rendered`: the compare of
    /// every point lookup, in place for most names.
    #[inline]
    pub(crate) fn is_rendered(&self, rendered: &str) -> bool {
        self.name
            .is(rendered)
            .unwrap_or_else(|| self.long.as_deref() == Some(rendered))
    }

    /// Pins the node for a write. Fails once the node is retired.
    pub(crate) fn try_pin(&self) -> Pinned {
        let mut cur = self.rows.load(Ordering::Acquire);
        loop {
            if cur & RETIRED != 0 {
                return Pinned::Retired;
            }
            // SeqCst: leaving idle races `try_retire`'s CAS from zero.
            match self
                .rows
                .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) if cur == 0 => return Pinned::WasIdle,
                Ok(_) => return Pinned::Busy,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Drops one pin (a writer that did not add a row, or a removed row).
    /// Returns true if this made the node idle (no row, no pin): the caller
    /// counts it, and retires it if idle nodes are too many.
    #[must_use]
    pub(crate) fn unpin(&self) -> bool {
        // SeqCst: pairs with `try_retire` and with a writer that buffers an
        // entry and then checks `is_retired` (see `Engine::drain`).
        let before = self.rows.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(before & !RETIRED > 0, "unpin of an unpinned namespace");
        before == 1
    }

    /// Retires the node if it is idle: afterwards no writer can pin it, and
    /// the caller (the one whose call returned true) must unlink it and
    /// drain its buffer.
    #[must_use]
    pub(crate) fn try_retire(&self) -> bool {
        self.rows
            .compare_exchange(0, RETIRED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Rows plus in-flight pins (without the retired bit).
    pub(crate) fn pins(&self) -> usize {
        self.rows.load(Ordering::Acquire) & !RETIRED
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.rows.load(Ordering::SeqCst) & RETIRED != 0
    }

    /// Whether the node was linked in the ordered namespaces.
    pub(crate) fn is_ordered(&self) -> bool {
        self.ordered.load(Ordering::Acquire)
    }

    /// Records that the node is linked in the ordered namespaces.
    pub(crate) fn set_ordered(&self) {
        self.ordered.store(true, Ordering::Release);
    }

    /// True if some entry is live at `now`; buffered entries count only if
    /// `reachable` says so (see `Engine::is_reachable`). Stops at the first
    /// one.
    pub(crate) fn has_live(
        &self,
        now: u64,
        guard: &Guard,
        reachable: impl Fn(&Arc<Entry<V>>) -> bool,
    ) -> bool {
        if self
            .pending
            .any(guard, |e| reachable(e) && e.is_live_at(now, guard))
        {
            return true;
        }
        let mut live = false;
        self.keys.scan(Bound::Unbounded, |e| {
            live = e.is_live_at(now, guard);
            if live {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        live
    }
}

impl<V: Send + Sync + 'static> Member for NsNode<V> {
    fn sort_key(&self) -> &str {
        self.rendered()
    }

    fn scope(&self) -> &str {
        ""
    }

    fn has_sort_key(&self, key: &str) -> bool {
        self.is_rendered(key)
    }

    fn is_gone(&self) -> bool {
        self.is_retired()
    }

    fn point_hash(&self) -> u64 {
        self.hash
    }
}

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
    use entelix_core::TenantId;
    use entelix_memory::Namespace;

    use super::NsNode;
    use crate::index::Member;

    /// A node's name compares equal to its own rendered namespace only,
    /// held in place or not: near misses differ in the last byte, in
    /// length, or only after the bytes held in place.
    #[test]
    fn a_node_is_its_own_name_only() {
        let namespace = Namespace::new(TenantId::new("t"));
        for len in (0..=60).chain([200, 4096]) {
            let name = "n".repeat(len);
            let node = NsNode::<u32>::new_pinned(&name, &namespace);
            assert_eq!(node.rendered(), name);
            assert_eq!(node.sort_key(), name);
            assert!(node.is_rendered(&name), "{len}");
            assert!(node.has_sort_key(&name), "{len}");
            let longer = format!("{name}n");
            assert!(!node.is_rendered(&longer), "{len}");
            if let Some(shorter) = name.get(..len.saturating_sub(1))
                && len > 0
            {
                assert!(!node.is_rendered(shorter), "{len}");
            }
            for at in [0, len / 2, len.saturating_sub(1), 47] {
                if at < len {
                    let mut other = name.clone().into_bytes();
                    other[at] = b'm';
                    let other = String::from_utf8(other).expect("ASCII");
                    assert!(!node.is_rendered(&other), "{len} at {at}");
                }
            }
        }
    }
}
