//! The namespace nodes' life cycle: pinned by a write (created and linked
//! if absent, protocol rule 7), idle once their last row and pin go, and
//! retired (unlinked, buffer drained, rule 5) only when idle nodes exceed
//! [`IDLE_MAX`].

use std::ops::{Bound, ControlFlow};

use entelix_memory::Namespace;

use super::{Drain, Engine, Notices};
use crate::namespace::{NsNode, Pinned};
use crate::raw::Guard;
use crate::raw::pending::Reach;
use crate::sync::Arc;

/// Idle namespace nodes (linked, no row) the store keeps for reuse.
///
/// A namespace that empties between writes (short-lived rows spread over
/// many namespaces) would otherwise build, link, unlink and free a node on
/// every write: half of a churned put at 10,000 namespaces (BENCHMARKS.md,
/// issue 15). An idle node costs a few hundred bytes, so this bounds the
/// memory emptied namespaces hold to a few megabytes. Past it, the write
/// that empties a namespace retires idle nodes (see [`Engine::unpin`]).
#[cfg(not(any(test, skipstore_loom)))]
pub(crate) const IDLE_MAX: usize = 16_384;
#[cfg(test)]
pub(crate) const IDLE_MAX: usize = 8;
/// Under loom every emptied node retires at once, as the models expect.
#[cfg(all(skipstore_loom, not(test)))]
pub(crate) const IDLE_MAX: usize = 0;

/// Namespace nodes an over-the-bound emptying looks at, after its own
/// namespace in rendered order, for idle ones to retire.
#[cfg(not(skipstore_loom))]
const RECLAIM_VISITS: usize = 16;
#[cfg(skipstore_loom)]
const RECLAIM_VISITS: usize = 0;

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// The namespace node for `rendered` (whose lookup hash is `hash`,
    /// `scope_hash(rendered)`), pinned; created if absent.
    pub(super) fn pin_namespace(
        &self,
        rendered: &str,
        hash: u64,
        ns: &Namespace,
        guard: &Guard,
    ) -> Arc<NsNode<V>> {
        loop {
            if let Some(node) = self.ns_lookup.get(hash, "", rendered, guard) {
                let node = Arc::clone(&node);
                match node.try_pin() {
                    Pinned::Busy => {}
                    Pinned::WasIdle => self.idle.add(-1),
                    Pinned::Retired => {
                        self.unlink_namespace(&node, guard);
                        continue;
                    }
                }
                self.link_ordered(&node);
                return node;
            }
            let node = NsNode::new_pinned(rendered, ns);
            match self.ns_lookup.try_insert(Arc::clone(&node), guard) {
                Ok(()) => {
                    self.link_ordered(&node);
                    return node;
                }
                Err(Some(occupant)) if occupant.is_retired() => {
                    self.unlink_namespace(&occupant, guard);
                }
                Err(_) => {}
            }
        }
    }

    /// Links a pinned node into `namespaces` unless that is done (rule 7).
    /// Any node there under its name is retired (nodes leave `ns_lookup`
    /// only once retired), so this node replaces it.
    fn link_ordered(&self, node: &Arc<NsNode<V>>) {
        if !node.is_ordered() {
            self.namespaces.insert_over_gone(node);
            node.set_ordered();
        }
    }

    /// Drops a pin. A node left without rows or pins stays linked, idle,
    /// for its namespace's next write; if that makes more than
    /// [`IDLE_MAX`] idle nodes, this retires some (see
    /// [`reclaim_near`](Self::reclaim_near)).
    pub(super) fn unpin(&self, node: &Arc<NsNode<V>>, notices: &mut Notices<V>, guard: &Guard) {
        if !node.unpin() {
            return;
        }
        self.idle.add(1);
        // Its pending buffer holds only dead entries now (unless a writer
        // pinned it since, whose expired rows the drain removes into
        // `notices`, delivered with the operation's own once its guard is
        // dropped); drop them, they point back at the node.
        self.drain(node, Reach::All, Drain::Order, notices, guard);
        let over = self.idle.sum().saturating_sub(IDLE_MAX);
        if over > 0 {
            self.reclaim_near(node, over, notices, guard);
        }
    }

    /// Retires `want` idle nodes (the count past [`IDLE_MAX`]): those
    /// among the [`RECLAIM_VISITS`] nodes after `emptied` in rendered order
    /// (so a node left idle by a namespace that is never written again goes
    /// eventually), and `emptied` itself if that found none. Lock-free: the
    /// walk is a skiplist scan, each retirement a CAS.
    fn reclaim_near(
        &self,
        emptied: &Arc<NsNode<V>>,
        mut want: usize,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) {
        let mut found = Vec::new();
        if RECLAIM_VISITS > 0 {
            let mut visits = 0;
            let from = Bound::Excluded(emptied.rendered());
            self.namespaces.scan(from, |node| {
                visits += 1;
                if node.pins() == 0 && !node.is_retired() {
                    found.push(Arc::clone(node));
                }
                if visits >= RECLAIM_VISITS || found.len() >= want {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        }
        for node in &found {
            if self.retire_idle(node, notices, guard) {
                want = want.saturating_sub(1);
            }
        }
        if want > 0 {
            self.retire_idle(emptied, notices, guard);
        }
    }

    /// Retires `node` if it is idle, unlinks it and drops its buffer.
    /// Returns whether this call retired it.
    fn retire_idle(&self, node: &Arc<NsNode<V>>, notices: &mut Notices<V>, guard: &Guard) -> bool {
        if !node.try_retire() {
            return false;
        }
        self.idle.add(-1);
        self.unlink_namespace(node, guard);
        // A retired node keeps no entry (protocol rule 5).
        self.drain(node, Reach::All, Drain::Order, notices, guard);
        true
    }

    fn unlink_namespace(&self, node: &Arc<NsNode<V>>, guard: &Guard) {
        self.ns_lookup.remove_same(node, guard);
        self.namespaces.remove_same(node);
    }
}
