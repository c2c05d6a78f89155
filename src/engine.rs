//! The store's one engine: every operation, synchronous, on `&self`.
//!
//! # Layout
//!
//! * `namespaces`: the live namespace nodes in rendered order (range scans
//!   for `list_namespaces`), and `ns_lookup`, the same nodes by rendered name.
//! * Each node's `keys`: its entries in key order (range scans for `list`).
//! * `entries`: every entry by `(node, key)`, for O(1) point operations.
//!
//! # Protocol (the invariants loom-tests/ checks)
//!
//! 1. A put pins the namespace node, then either overwrites the live entry's
//!    slot in place or publishes a new entry in `entries` (the linearization
//!    point of an insert) and then in the node's `keys`.
//! 2. Delete and expiry kill the slot (the linearization point of a removal),
//!    then unlink the entry from `entries` and from `keys`, and unpin the node.
//! 3. A key that stays present keeps one entry that never leaves either index,
//!    so no reader can miss it (crossbeam-skiplist 0.1.3 can briefly hide a
//!    key that is being re-inserted; we never re-insert a live key).
//! 4. A put that published an entry fences and re-checks the slot after
//!    adding it to `keys`; a killer fences between killing and unlinking. One
//!    of the two always sees the other, so a dead entry never stays in `keys`.
//! 5. Timers carry the entry and the version number of the write that armed
//!    them; they kill only that version, and only once it is truly expired.

use std::ops::{Bound, ControlFlow};
use std::time::Duration;

use entelix_memory::{Namespace, NamespacePrefix};

use crate::clock::{SharedClock, saturating_nanos};
use crate::counter::{StripedCounter, thread_cadence};
use crate::entry::Entry;
use crate::expiry::{Expiry, Fired, SWEEP_EVERY};

/// Pending entries per namespace that trigger a drain into its ordered keys.
#[cfg(not(any(test, skipstore_loom)))]
const DRAIN_AT: usize = 32;
#[cfg(any(test, skipstore_loom))]
const DRAIN_AT: usize = 2;
use crate::index::{Member, OrderedSet, PointSet, point_hash};
use crate::namespace::NsNode;
use crate::render::{render_prefix, with_rendered};
use crate::slot::{Killed, NEVER, Slot, Version};
use crate::sync::{Arc, Ordering, fence};

/// A scheduled expiry: this entry, as written by this version.
pub(crate) struct Timer<V: Send + Sync + 'static> {
    entry: Arc<Entry<V>>,
    version: u64,
}

pub(crate) struct Engine<V: Send + Sync + 'static> {
    namespaces: OrderedSet<NsNode<V>>,
    ns_lookup: PointSet<NsNode<V>>,
    entries: PointSet<Entry<V>>,
    expiry: Expiry<Timer<V>>,
    clock: SharedClock,
    rows: StripedCounter,
}

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(clock: SharedClock) -> Self {
        Self {
            namespaces: OrderedSet::new(),
            ns_lookup: PointSet::new(),
            entries: PointSet::new(),
            expiry: Expiry::new(),
            clock,
            rows: StripedCounter::new(),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now_nanos()
    }

    /// Expiry stamp for a write now with `ttl`; huge TTLs saturate to never.
    fn expiry_for(&self, ttl: Option<Duration>) -> u64 {
        match ttl {
            None => NEVER,
            Some(ttl) => self.now().saturating_add(saturating_nanos(ttl)),
        }
    }

    // ---- writes --------------------------------------------------------

    pub(crate) fn put(&self, ns: &Namespace, key: &str, value: V, ttl: Option<Duration>) {
        let expires_at = self.expiry_for(ttl);
        let next = Box::new(Version {
            value,
            expires_at,
            version: 1,
        });
        with_rendered(ns, |rendered| self.put_rendered(rendered, ns, key, next));
        self.maybe_help_sweep();
    }

    fn put_rendered(&self, rendered: &str, ns: &Namespace, key: &str, mut next: Box<Version<V>>) {
        let expires_at = next.expires_at;
        let hash = point_hash(rendered, key);
        loop {
            let node = self.pin_namespace(rendered, ns);
            if let Some(entry) = self.entries.with(hash, rendered, key, Arc::clone) {
                match entry.slot.overwrite(next, |_| ()) {
                    Ok((version, ())) => {
                        self.unpin(&node);
                        self.arm(entry, version, expires_at);
                        return;
                    }
                    Err(back) => {
                        // Dead but not yet unlinked: help, then retry.
                        next = back;
                        self.entries.remove_same(&entry);
                        self.unpin(&node);
                        continue;
                    }
                }
            }
            let entry = Arc::new(Entry::new(Arc::clone(&node), key, Slot::new(*next), hash));
            match self.entries.try_insert(Arc::clone(&entry)) {
                Ok(()) => {
                    // The node's pin now belongs to the new row.
                    self.rows.add(1);
                    self.buffer(&node, Arc::clone(&entry));
                    self.arm(entry, 1, expires_at);
                    return;
                }
                Err(occupant) => {
                    if let Some(occupant) = occupant
                        && occupant.slot.is_dead()
                    {
                        self.entries.remove_same(&occupant);
                    }
                    self.unpin(&node);
                    match reclaim(entry) {
                        Some(back) => next = back,
                        None => return,
                    }
                }
            }
        }
    }

    /// Puts a newly published entry in its namespace's pending buffer, and
    /// moves the buffer into the ordered keys once it is large enough.
    fn buffer(&self, node: &NsNode<V>, entry: Arc<Entry<V>>) {
        let buffered = node.pending.push(entry);
        fence(Ordering::SeqCst);
        // The entry may already have been killed and the node retired; a
        // retired node must not keep entries (they point back at it), so
        // drain it here as its retirer would.
        if buffered >= DRAIN_AT || node.is_retired() {
            self.drain(node);
        }
    }

    /// Moves `node`'s pending entries into its ordered keys, dropping the
    /// dead ones. Returns at once if another thread is draining `node`.
    fn drain(&self, node: &NsNode<V>) {
        loop {
            if !node.pending.drain_with(|entry| self.order(node, entry)) {
                return; // The active drainer re-checks below when it is done.
            }
            // Loop only while there is something to drop: each pass removes
            // what it saw, so this ends.
            if !node.is_retired() || node.pending.is_empty() {
                return;
            }
        }
    }

    /// Adds a pending entry to its namespace's ordered keys, unless dead.
    fn order(&self, node: &NsNode<V>, entry: &Arc<Entry<V>>) {
        if entry.slot.is_dead() {
            return;
        }
        node.keys.insert_over_gone(Arc::clone(entry));
        entry.set_in_keys();
        // Pairs with the fence in `kill`: one of the two sees the other, so a
        // dead entry never stays in `keys`.
        fence(Ordering::SeqCst);
        if entry.slot.is_dead() {
            node.keys.remove_same(entry);
        }
    }

    fn arm(&self, entry: Arc<Entry<V>>, version: u64, expires_at: u64) {
        if expires_at != NEVER {
            self.expiry.schedule(expires_at, Timer { entry, version });
        }
    }

    /// The namespace node for `rendered`, pinned; created if absent.
    fn pin_namespace(&self, rendered: &str, ns: &Namespace) -> Arc<NsNode<V>> {
        let hash = point_hash("", rendered);
        loop {
            if let Some(node) = self.ns_lookup.with(hash, "", rendered, Arc::clone) {
                if node.try_pin() {
                    return node;
                }
                self.unlink_namespace(&node);
                continue;
            }
            let node = NsNode::new_pinned(rendered, ns);
            match self.ns_lookup.try_insert(Arc::clone(&node)) {
                Ok(()) => {
                    self.namespaces.insert_over_gone(Arc::clone(&node));
                    return node;
                }
                Err(Some(occupant)) if occupant.is_retired() => {
                    self.unlink_namespace(&occupant);
                }
                Err(_) => {}
            }
        }
    }

    fn unpin(&self, node: &Arc<NsNode<V>>) {
        if node.unpin() {
            self.unlink_namespace(node);
            // Its pending buffer holds only dead entries now; drop them (they
            // point back at the node).
            self.drain(node);
        }
    }

    fn unlink_namespace(&self, node: &Arc<NsNode<V>>) {
        self.ns_lookup.remove_same(node);
        self.namespaces.remove_same(node);
    }

    /// Kills `entry` if `pred` holds for its current version, then unlinks
    /// it. Returns whether this call removed it.
    fn kill(&self, entry: &Arc<Entry<V>>, pred: impl FnMut(&Version<V>) -> bool) -> bool {
        match entry.slot.kill_if(pred, |_| ()) {
            Killed::No => false,
            Killed::Now => {
                self.entries.remove_same(entry);
                // Pairs with the fence in `order`.
                fence(Ordering::SeqCst);
                if entry.in_keys() {
                    entry.ns.keys.remove_same(entry);
                }
                self.rows.add(-1);
                self.unpin(&entry.ns);
                true
            }
        }
    }

    pub(crate) fn delete(&self, ns: &Namespace, key: &str) -> bool {
        let removed = self
            .find(ns, key)
            .is_some_and(|entry| self.kill(&entry, |_| true));
        self.maybe_help_sweep();
        removed
    }

    fn find(&self, ns: &Namespace, key: &str) -> Option<Arc<Entry<V>>> {
        with_rendered(ns, |rendered| {
            let hash = point_hash(rendered, key);
            self.entries.with(hash, rendered, key, Arc::clone)
        })
    }

    // ---- reads ---------------------------------------------------------

    /// Runs `f` on the live version of `(ns, key)`. Lock-free, no allocation.
    pub(crate) fn read<R>(
        &self,
        ns: &Namespace,
        key: &str,
        f: impl FnOnce(&Version<V>) -> R,
    ) -> Option<R> {
        with_rendered(ns, |rendered| {
            let hash = point_hash(rendered, key);
            self.entries.with(hash, rendered, key, |entry| {
                entry
                    .slot
                    .read(|cur| cur.filter(|v| v.is_live(|| self.now())).map(f))
            })
        })
        .flatten()
    }

    pub(crate) fn get(&self, ns: &Namespace, key: &str) -> Option<V> {
        self.read(ns, key, |v| v.value.clone())
    }

    /// Live keys of `ns` that start with `prefix`, in order.
    pub(crate) fn list(&self, ns: &Namespace, prefix: &str) -> Vec<String> {
        let Some(node) = with_rendered(ns, |r| {
            self.ns_lookup.with(point_hash("", r), "", r, Arc::clone)
        }) else {
            return Vec::new();
        };
        let now = self.now();
        let live = |entry: &Entry<V>| entry.slot.read(|v| v.is_some_and(|v| v.is_live(|| now)));
        // The pending buffer first, then the ordered keys: an entry leaves the
        // buffer only after it entered the keys, so none is missed.
        let mut buffered = Vec::new();
        node.pending.for_each(|entry| {
            if entry.key.starts_with(prefix) && live(entry) {
                buffered.push(entry.key.to_string());
            }
        });
        let mut out = Vec::new();
        node.keys.scan(Bound::Included(prefix), |entry| {
            if !entry.key.starts_with(prefix) {
                return ControlFlow::Break(());
            }
            if live(entry) {
                out.push(entry.key.to_string());
            }
            ControlFlow::Continue(())
        });
        if !buffered.is_empty() {
            out.append(&mut buffered);
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// Namespaces under `prefix` holding a live entry, in rendered order.
    pub(crate) fn list_namespaces(&self, prefix: &NamespacePrefix) -> Vec<Namespace> {
        let exact = render_prefix(prefix);
        let now = self.now();
        let mut out = Vec::new();
        if let Some(node) = self.namespaces.get(&exact)
            && node.has_live(now)
        {
            out.push(node.namespace.clone());
        }
        let mut below = exact;
        below.push(':');
        self.namespaces.scan(Bound::Included(&below), |node| {
            if !node.rendered.starts_with(below.as_str()) {
                return ControlFlow::Break(());
            }
            if node.has_live(now) {
                out.push(node.namespace.clone());
            }
            ControlFlow::Continue(())
        });
        out
    }

    /// Rows held, expired-but-unswept included.
    pub(crate) fn total_entries(&self) -> usize {
        self.rows.sum()
    }

    // ---- expiry --------------------------------------------------------

    fn fire(&self, timer: Timer<V>, now: u64) -> Fired<Timer<V>> {
        let mut not_yet = None;
        let killed = self.kill(&timer.entry, |v| {
            if v.version != timer.version {
                return false;
            }
            if v.is_live(|| now) {
                not_yet = Some(v.expires_at);
                return false;
            }
            true
        });
        match (killed, not_yet) {
            (true, _) => Fired::Removed,
            (false, Some(at)) => Fired::NotYet(at, timer),
            (false, None) => Fired::Stale,
        }
    }

    /// Removes every row expired by now; returns how many.
    pub(crate) fn evict_expired(&self) -> usize {
        let now = self.now();
        self.expiry.sweep_all(now, |t| self.fire(t, now))
    }

    /// Every few writes on a thread, one bounded sweep step, if no sweep has
    /// caught up lately and none is running elsewhere.
    fn maybe_help_sweep(&self) {
        if thread_cadence(SWEEP_EVERY) {
            let now = self.now();
            if self.expiry.wants_help(now) {
                self.expiry.sweep_step(now, |t| self.fire(t, now));
            }
        }
    }

    /// Timers not yet fired (a measure of expiry bookkeeping memory).
    pub(crate) fn pending_timers(&self) -> usize {
        self.expiry.pending()
    }

    /// Namespaces linked in the index (retired-but-unlinked ones included).
    pub(crate) fn namespace_nodes(&self) -> usize {
        self.ns_lookup.len()
    }
}

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Checks every structural invariant of a quiescent engine (no operation
    /// in flight): both indexes hold the same live entries, each namespace
    /// node is linked in both namespace indexes and pinned once per row, no
    /// empty namespace stays linked, the row count is exact, and the wheel is
    /// well formed. O(rows).
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut rows_in_keys = 0usize;
        let mut problem: Option<String> = None;
        let mut fail = |p: String| {
            problem.get_or_insert(p);
        };
        self.namespaces.scan(Bound::Unbounded, |node| {
            let linked = self
                .ns_lookup
                .with(node.hash, "", &node.rendered, Arc::clone);
            if !linked.is_some_and(|n| Arc::ptr_eq(&n, node)) {
                fail(format!(
                    "namespace {:?} ordered but not looked up",
                    node.rendered
                ));
            }
            if node.is_retired() {
                fail(format!(
                    "retired namespace {:?} still linked",
                    node.rendered
                ));
            }
            let mut in_node = 0usize;
            node.pending.for_each(|entry| {
                if entry.slot.is_dead() {
                    return;
                }
                in_node += 1;
                if entry.in_keys() {
                    fail(format!("entry {:?} both pending and ordered", entry.key));
                }
                let indexed =
                    self.entries
                        .with(entry.point_hash(), &node.rendered, &entry.key, Arc::clone);
                if !indexed.is_some_and(|e| Arc::ptr_eq(&e, entry)) {
                    fail(format!("pending entry {:?} not indexed", entry.key));
                }
            });
            node.keys.scan(Bound::Unbounded, |entry| {
                in_node += 1;
                if !entry.in_keys() {
                    fail(format!("ordered entry {:?} not flagged in_keys", entry.key));
                }
                if entry.slot.is_dead() {
                    fail(format!(
                        "dead entry {:?} in keys of {:?}",
                        entry.key, node.rendered
                    ));
                }
                if !Arc::ptr_eq(&entry.ns, node) {
                    fail(format!("entry {:?} filed under a foreign node", entry.key));
                }
                let indexed =
                    self.entries
                        .with(entry.point_hash(), &node.rendered, &entry.key, Arc::clone);
                if entry.point_hash() != point_hash(&node.rendered, &entry.key) {
                    fail(format!("entry {:?} carries a stale hash", entry.key));
                }
                if !indexed.is_some_and(|e| Arc::ptr_eq(&e, entry)) {
                    fail(format!("entry {:?} ordered but not indexed", entry.key));
                }
                ControlFlow::Continue(())
            });
            if in_node == 0 {
                fail(format!("empty namespace {:?} still linked", node.rendered));
            }
            if node.pins() != in_node {
                fail(format!(
                    "namespace {:?}: {} pins, {in_node} rows",
                    node.rendered,
                    node.pins()
                ));
            }
            rows_in_keys += in_node;
            ControlFlow::Continue(())
        });
        let mut nodes = 0usize;
        self.ns_lookup.for_each(|_| nodes += 1);
        let mut ordered = 0usize;
        self.namespaces.scan(Bound::Unbounded, |_| {
            ordered += 1;
            ControlFlow::Continue(())
        });
        if nodes != ordered {
            fail(format!("{nodes} namespaces looked up, {ordered} ordered"));
        }
        let mut indexed = 0usize;
        self.entries.for_each(|_| indexed += 1);
        if indexed != rows_in_keys {
            fail(format!("{indexed} entries indexed, {rows_in_keys} ordered"));
        }
        if self.rows.sum() != rows_in_keys {
            fail(format!(
                "row count {} but {rows_in_keys} rows",
                self.rows.sum()
            ));
        }
        if let Err(e) = self.expiry.validate() {
            fail(format!("wheel: {e}"));
        }
        problem.map_or(Ok(()), Err)
    }
}

/// Takes the version back out of an entry that was never published (so has
/// one owner and a live slot; `None` would mean a broken invariant).
fn reclaim<V: Send + Sync + 'static>(entry: Arc<Entry<V>>) -> Option<Box<Version<V>>> {
    let back = Arc::try_unwrap(entry)
        .ok()
        .and_then(|e| e.slot.into_version());
    debug_assert!(back.is_some(), "an unpublished entry has one owner");
    back
}

impl<V: Send + Sync + 'static> Drop for Engine<V> {
    fn drop(&mut self) {
        // Entries point at their node and nodes hold their entries: break the
        // cycle so both are freed.
        self.namespaces.scan(Bound::Unbounded, |node| {
            node.keys.clear();
            node.pending.drain_with(|_| ());
            ControlFlow::Continue(())
        });
        self.namespaces.clear();
    }
}
