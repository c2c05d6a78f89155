//! The engine's invariant checker (`SkipStore::check_invariants`).

use std::ops::{Bound, ControlFlow};

use super::Engine;
use crate::entry::{Entry, Publication};
use crate::index::{Member, point_hash};
use crate::namespace::NsNode;
use crate::raw::{Guard, pin};
use crate::sync::Arc;

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Checks every structural invariant of a quiescent engine (no operation
    /// in flight): both indexes hold the same live entries, each namespace
    /// node is linked in both namespace indexes, pinned once per row and not
    /// left draining, the linked empty (idle) nodes are the ones counted
    /// idle, the row count is exact, and the wheel is well formed. O(rows).
    pub(crate) fn validate(&self) -> Result<(), String> {
        let guard = pin();
        let mut rows = 0usize;
        let mut idle = 0usize;
        let mut problem: Option<String> = None;
        let mut fail = |p: String| {
            problem.get_or_insert(p);
        };
        self.namespaces.scan(Bound::Unbounded, |node| {
            let held = self.validate_node(node, &mut fail, &guard);
            rows += held;
            idle += usize::from(held == 0);
            ControlFlow::Continue(())
        });
        let mut nodes = 0usize;
        self.ns_lookup.for_each(&guard, |_| nodes += 1);
        let mut ordered = 0usize;
        self.namespaces.scan(Bound::Unbounded, |_| {
            ordered += 1;
            ControlFlow::Continue(())
        });
        if nodes != ordered {
            fail(format!("{nodes} namespaces looked up, {ordered} ordered"));
        }
        let mut indexed = 0usize;
        self.entries.for_each(&guard, |_| indexed += 1);
        if indexed != rows {
            fail(format!("{indexed} entries indexed, {rows} in namespaces"));
        }
        if self.idle.sum() != idle {
            fail(format!(
                "idle count {} but {idle} idle nodes",
                self.idle.sum()
            ));
        }
        if self.rows.sum() != rows {
            fail(format!("row count {} but {rows} rows", self.rows.sum()));
        }
        if let Err(e) = self.expiry.validate() {
            fail(format!("wheel: {e}"));
        }
        problem.map_or(Ok(()), Err)
    }

    /// Checks one linked namespace node and its entries (buffered and
    /// ordered); returns how many live rows it holds.
    fn validate_node(
        &self,
        node: &Arc<NsNode<V>>,
        fail: &mut impl FnMut(String),
        guard: &Guard,
    ) -> usize {
        let name = node.rendered();
        let linked = self.ns_lookup.get(node.hash, "", name, guard);
        if !linked.is_some_and(|n| Arc::ptr_eq(&n, node)) {
            fail(format!("namespace {name:?} ordered but not looked up"));
        }
        if node.is_retired() {
            fail(format!("retired namespace {name:?} still linked"));
        }
        if node.pending.is_draining() {
            // Nothing drains a quiescent store: a flag left set would stop
            // this buffer from ever draining again.
            fail(format!("write buffer of {name:?} left marked as draining"));
        }
        let indexed_as_itself = |entry: &Arc<Entry<V>>, fail: &mut dyn FnMut(String)| {
            if entry.point_hash() != point_hash(name, &entry.key) {
                fail(format!("entry {:?} carries a stale hash", entry.key));
            }
            let indexed = (self.entries).get(entry.point_hash(), name, &entry.key, guard);
            if !indexed.is_some_and(|e| Arc::ptr_eq(&e, entry)) {
                fail(format!("entry {:?} of {name:?} not indexed", entry.key));
            }
            if !Arc::ptr_eq(&entry.ns, node) {
                fail(format!("entry {:?} filed under a foreign node", entry.key));
            }
        };
        let mut rows = 0usize;
        node.pending.for_each(guard, |entry| {
            if entry.slot.is_dead() {
                return; // dropped at the next drain (void ones too)
            }
            if entry.publication() != Publication::Published {
                fail(format!("entry {:?} buffered, never published", entry.key));
            }
            rows += 1;
            if entry.in_keys() {
                fail(format!("entry {:?} both pending and ordered", entry.key));
            }
            indexed_as_itself(entry, fail);
        });
        node.keys.scan(Bound::Unbounded, |entry| {
            rows += 1;
            if !entry.in_keys() {
                fail(format!("ordered entry {:?} not flagged in_keys", entry.key));
            }
            if entry.slot.is_dead() {
                fail(format!("dead entry {:?} in keys of {name:?}", entry.key));
            }
            indexed_as_itself(entry, fail);
            ControlFlow::Continue(())
        });
        // An empty node is idle (kept for reuse): `validate` counts it.
        if node.pins() != rows {
            fail(format!(
                "namespace {name:?}: {} pins, {rows} rows",
                node.pins()
            ));
        }
        rows
    }
}
