//! Removing rows the store no longer wants: expiry (timers fired by the
//! wheel), the entry bound (eviction), and subtree deletes.

use std::ops::{Bound, ControlFlow};

use entelix_memory::NamespacePrefix;

use super::{Cause, Engine, Notices, Timer, thread_cadence};
use crate::entry::Entry;
use crate::expiry::{Fired, SWEEP_EVERY};
use crate::namespace::NsNode;
use crate::render::render_prefix;
use crate::sync::Arc;

/// Rows a write evicts at least, when it finds the store over its bound.
const EVICT_PER_WRITE: usize = 4;
/// Rows one write evicts at most (so no write pays for a large backlog).
const EVICT_CAP: usize = 256;
/// Entries the eviction clock looks at before it evicts regardless.
const CLOCK_PATIENCE: usize = 64;

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// A timer fired: remove its entry if it is still the version that armed
    /// the timer and truly expired; re-arm it if it expires later this tick.
    fn fire(&self, timer: Timer<V>, now: u64, notices: &mut Notices<V>) -> Fired<Timer<V>> {
        let mut not_yet = None;
        let killed = self.kill(
            &timer.entry,
            |v| {
                if v.version != timer.version {
                    return false;
                }
                if !v.claim_expired(now) {
                    not_yet = Some(v.expires_at());
                    return false;
                }
                true
            },
            Cause::Expired,
            notices,
        );
        match (killed, not_yet) {
            (true, _) => Fired::Removed,
            (false, Some(at)) => Fired::NotYet(at, timer),
            (false, None) => Fired::Stale,
        }
    }

    /// Removes every row expired by now; returns how many.
    pub(crate) fn evict_expired(&self) -> usize {
        let now = self.now();
        let mut notices = Notices::new();
        let removed = self
            .expiry
            .sweep_all(now, |t| self.fire(t, now, &mut notices));
        self.hooks.deliver(notices);
        removed
    }

    /// One bounded sweep step; skipped if another thread is sweeping.
    fn sweep_step(&self, notices: &mut Notices<V>) -> usize {
        let now = self.now();
        self.expiry.sweep_step(now, |t| self.fire(t, now, notices))
    }

    /// Every few writes on a thread, one bounded sweep step, if no sweep has
    /// caught up lately and none is running elsewhere.
    pub(super) fn maybe_help_sweep(&self) {
        if thread_cadence(SWEEP_EVERY) && self.expiry.wants_help(self.now()) {
            let mut notices = Notices::new();
            self.sweep_step(&mut notices);
            self.hooks.deliver(notices);
        }
    }

    /// Keeps the store near its entry bound: evicts what has expired, then
    /// the entries closest to expiry, then (a clock over the ordered index)
    /// entries not read since the clock last passed them. Bounded work per
    /// call; under concurrent writers the bound is approximate.
    pub(super) fn enforce_bound(&self, notices: &mut Notices<V>) {
        let Some(max) = self.hooks.max_entries else {
            return;
        };
        // A write evicts at least one row per row of overshoot it sees (up
        // to a cap), so concurrent writers cannot outrun eviction; far over
        // the bound it waits for the clock hand instead of skipping.
        let mut work = 0;
        loop {
            let rows = self.rows.sum();
            if rows <= max || work >= EVICT_PER_WRITE.max(rows - max).min(EVICT_CAP) {
                return;
            }
            work += 1;
            if self.sweep_step(notices) > 0 {
                continue;
            }
            if let Some(timer) = self.expiry.pop_soonest() {
                self.kill(
                    &timer.entry,
                    |v| v.version == timer.version,
                    Cause::Evicted,
                    notices,
                );
                continue;
            }
            let wait = rows - max > EVICT_PER_WRITE;
            if !self.clock_evict_one(wait, notices) && !wait {
                // The hand is busy (someone else is evicting) and we are
                // only a little over: leave it to them.
                return;
            }
        }
    }

    /// Advances the eviction clock: from its cursor, clears reference bits
    /// of recently read entries and evicts the first entry without one (or,
    /// after [`CLOCK_PATIENCE`] entries, the next one regardless). Returns
    /// whether it evicted; `wait` says whether to wait for a busy hand.
    fn clock_evict_one(&self, wait: bool, notices: &mut Notices<V>) -> bool {
        let hand = if wait {
            crate::sync::lock(&self.clock_hand)
        } else {
            match self.clock_hand.try_lock() {
                Ok(hand) => hand,
                Err(_) => return false,
            }
        };
        let mut cursor = hand;
        let mut seen = 0usize;
        let mut victim: Option<Arc<Entry<V>>> = None;
        let from = std::mem::take(&mut *cursor);
        for lap in 0..2 {
            let start = if lap == 0 {
                Bound::Excluded(from.as_str())
            } else {
                Bound::Unbounded
            };
            self.namespaces.scan(start, |node| {
                self.drain(node, notices);
                node.keys.scan(Bound::Unbounded, |entry| {
                    if entry.slot.is_dead() {
                        // Being removed by another thread.
                        return ControlFlow::Continue(());
                    }
                    seen += 1;
                    if entry.take_accessed() && seen < CLOCK_PATIENCE {
                        return ControlFlow::Continue(());
                    }
                    victim = Some(Arc::clone(entry));
                    ControlFlow::Break(())
                });
                if victim.is_none() {
                    // Another thread is draining this namespace's buffer:
                    // its rows are candidates too.
                    node.pending.for_each(|entry| {
                        if victim.is_none() && !entry.slot.is_dead() && self.is_reachable(entry) {
                            victim = Some(Arc::clone(entry));
                        }
                    });
                }
                cursor.clear();
                cursor.push_str(&node.rendered);
                if victim.is_some() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if victim.is_some() {
                break;
            }
        }
        drop(cursor);
        victim.is_some_and(|entry| self.kill(&entry, |_| true, Cause::Evicted, notices))
    }

    /// Deletes every row of every namespace under `prefix`; returns how many.
    pub(crate) fn delete_subtree(&self, prefix: &NamespacePrefix) -> usize {
        let nodes = self.nodes_under(prefix);
        let mut notices = Notices::new();
        let mut removed = 0;
        for node in &nodes {
            let mut doomed = Vec::new();
            node.pending.for_each(|entry| {
                if self.is_reachable(entry) {
                    doomed.push(Arc::clone(entry));
                }
            });
            node.keys.scan(Bound::Unbounded, |entry| {
                doomed.push(Arc::clone(entry));
                ControlFlow::Continue(())
            });
            for entry in &doomed {
                if self.kill(entry, |_| true, Cause::Deleted, &mut notices) {
                    removed += 1;
                }
            }
        }
        self.hooks.deliver(notices);
        removed
    }

    /// The namespace nodes linked under `prefix`, in rendered order.
    pub(super) fn nodes_under(&self, prefix: &NamespacePrefix) -> Vec<Arc<NsNode<V>>> {
        let mut out = Vec::new();
        self.for_each_under(&render_prefix(prefix), |node| {
            out.push(Arc::clone(node));
            ControlFlow::Continue(())
        });
        out
    }
}
