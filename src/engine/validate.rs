//! The engine's invariant checker (`SkipStore::check_invariants`).

use std::ops::{Bound, ControlFlow};

use super::Engine;
use crate::index::{Member, point_hash};
use crate::sync::Arc;

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
