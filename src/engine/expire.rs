//! Removing rows the store no longer wants: expiry (timers fired by the
//! wheel), the entry bound (eviction), and subtree deletes.

use std::ops::{Bound, ControlFlow};

use entelix_memory::NamespacePrefix;

use super::{Cause, Drain, Engine, Notices, Timer, thread_cadence};
use crate::entry::Entry;
use crate::expiry::{Fired, Firing, SWEEP_EVERY, ceil_tick};
use crate::namespace::NsNode;
use crate::raw::pending::Reach;
use crate::raw::slot::NEVER;
use crate::raw::{Guard, pin};
use crate::render::render_prefix;
use crate::sync::{Arc, Ordering, fence};

/// Rows a write evicts at least, when it finds the store over its bound.
const EVICT_PER_WRITE: usize = 4;
/// Rows one write evicts at most (so no write pays for a large backlog).
const EVICT_CAP: usize = 256;
/// Entries the eviction clock looks at before it evicts regardless.
const CLOCK_PATIENCE: usize = 64;
/// Entries one visit of the eviction clock chooses at most (see
/// [`Engine::clock_visit`]).
#[cfg(not(any(test, skipstore_loom)))]
const CLOCK_CHOICE: usize = 16;
#[cfg(any(test, skipstore_loom))]
const CLOCK_CHOICE: usize = 2;

/// The eviction clock (behind the engine's `clock_hand` mutex): where it
/// stands, and the entries its last visit chose and no write has evicted
/// yet.
///
/// The chosen entries are kept alive until they are evicted or passed
/// over, even if another thread removes them first: at most
/// [`CLOCK_CHOICE`] entries' memory, never a row (a removed entry is
/// out of every index and count, and is never evicted twice: `kill`
/// removes only a live one).
pub(super) struct ClockHand<V: Send + Sync + 'static> {
    /// The rendered namespace it last visited.
    cursor: String,
    /// Entries chosen there, the next to evict last.
    chosen: Vec<Arc<Entry<V>>>,
}

impl<V: Send + Sync + 'static> ClockHand<V> {
    pub(super) fn new() -> Self {
        Self {
            cursor: String::new(),
            chosen: Vec::new(),
        }
    }
}

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// A timer came due. If it is the entry's live one (protocol rule 6):
    /// remove the entry if its version truly expired, else file the timer
    /// again at the version's expiry. Every outcome hands the timer back:
    /// the wheel keeps those it let go of until its mutex is released.
    fn fire(
        &self,
        timer: Timer<V>,
        now: u64,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> Fired<Timer<V>> {
        let fired = self.fire_live(&timer.entry, timer.ticket, now, notices, guard);
        let Timer { entry, .. } = timer;
        match fired {
            Fired::NotYet(tick, ticket) => Fired::NotYet(tick, Timer { entry, ticket }),
            Fired::Removed(ticket) => Fired::Removed(Timer { entry, ticket }),
            Fired::Stale(ticket) => Fired::Stale(Timer { entry, ticket }),
        }
    }

    /// [`fire`](Self::fire) on the entry and ticket; `NotYet` carries the
    /// new ticket, the others the one it came with.
    fn fire_live(
        &self,
        entry: &Arc<Entry<V>>,
        ticket: u64,
        now: u64,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> Fired<u64> {
        if !entry.timer.is_live(ticket) {
            return Fired::Stale(ticket); // superseded by an earlier timer, or dead
        }
        let mut later = None;
        let claim = |v: &crate::raw::slot::Version<V>| {
            if v.claim_expired(now) {
                return true;
            }
            later = Some(v.expires_at());
            false
        };
        if self.kill(entry, claim, Cause::Expired, notices, guard) {
            return Fired::Removed(ticket);
        }
        match later.filter(|&at| at != NEVER) {
            Some(at) => {
                let tick = ceil_tick(at);
                let Some(next) = entry.timer.refile(ticket, tick) else {
                    return Fired::Stale(ticket); // a write filed an earlier one
                };
                // The ticket first, then the expiry: a write that installed
                // an earlier expiry before we replaced the ticket is seen
                // here, and filed a timer of its own otherwise.
                fence(Ordering::SeqCst);
                self.arm(entry, guard);
                Fired::NotYet(tick, next)
            }
            None => {
                // Dead, or rewritten without a TTL.
                entry.timer.disarm(ticket);
                Fired::Stale(ticket)
            }
        }
    }

    /// Removes every row expired by now; returns how many.
    pub(crate) fn evict_expired(&self) -> usize {
        let now = self.now();
        let mut notices = Notices::new();
        let mut sweep = Sweep::new(self, now, &mut notices, true);
        self.expiry.sweep_all(now, &mut sweep)
    }

    /// One bounded sweep step of expiry lane `lane`; skipped if another
    /// thread is sweeping it.
    fn sweep_step(&self, lane: usize, notices: &mut Notices<V>) -> usize {
        let now = self.now();
        let mut sweep = Sweep::new(self, now, notices, false);
        self.expiry.sweep_step(lane, now, &mut sweep)
    }

    /// Every few writes on a thread, one bounded sweep step of a lane no
    /// sweep has caught up with lately (the thread's own, or another in
    /// turn), unless one is running there.
    pub(super) fn maybe_help_sweep(&self) {
        if !thread_cadence(SWEEP_EVERY) {
            return;
        }
        if let Some(lane) = self.expiry.wants_help(self.now()) {
            let mut notices = Notices::new();
            self.sweep_step(lane, &mut notices);
            self.hooks.deliver(notices);
        }
    }

    /// Evicts the entry of a timer taken off the wheel (the one due
    /// soonest), if the timer still counts.
    fn evict_timed(&self, timer: Timer<V>, notices: &mut Notices<V>, guard: &Guard) {
        let Timer { entry, ticket } = timer;
        let mut evicted = || self.kill(&entry, |_| true, Cause::Evicted, notices, guard);
        if entry.timer.is_live(ticket) && !evicted() {
            entry.timer.disarm(ticket);
        }
    }

    /// Keeps the store near its entry bound: evicts what has expired, then
    /// the entries closest to expiry, then (a clock over the ordered index)
    /// entries not read since the clock last passed them. Bounded work per
    /// call; under concurrent writers the bound is approximate.
    pub(super) fn enforce_bound(&self, notices: &mut Notices<V>, guard: &Guard) {
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
            // A lane without timers has nothing expired (the common case
            // of a bound without TTLs): skip the step and its clock read.
            let lane = self.expiry.own_lane();
            if !self.expiry.lane_is_empty(lane) && self.sweep_step(lane, notices) > 0 {
                continue;
            }
            if let Some(timer) = self.expiry.pop_soonest() {
                self.evict_timed(timer, notices, guard);
                continue;
            }
            let wait = rows - max > EVICT_PER_WRITE;
            if !self.clock_evict_one(wait, notices, guard) && !wait {
                // The hand is busy (someone else is evicting) and we are
                // only a little over: leave it to them.
                return;
            }
        }
    }

    /// Evicts one entry by the eviction clock: the next of the entries its
    /// last visit chose, or, when none is left, the first of those a new
    /// visit chooses. Returns whether it evicted; `wait` says whether to
    /// wait for a busy hand.
    ///
    /// A chosen entry read since its visit chose it is passed over (its
    /// second chance, as the visit would have given it), and so is one that
    /// is gone already.
    fn clock_evict_one(&self, wait: bool, notices: &mut Notices<V>, guard: &Guard) -> bool {
        let mut hand = if wait {
            crate::sync::lock(&self.clock_hand)
        } else {
            match crate::sync::try_lock(&self.clock_hand) {
                Some(hand) => hand,
                None => return false,
            }
        };
        // Two visits at most: one whose choices were all read in between
        // (by other threads) leaves the next write to try again.
        for _ in 0..2 {
            while let Some(entry) = hand.chosen.pop() {
                if entry.slot.is_dead() || entry.take_accessed() {
                    continue;
                }
                drop(hand);
                return self.kill(&entry, |_| true, Cause::Evicted, notices, guard);
            }
            self.clock_visit(&mut hand, notices, guard);
            if hand.chosen.is_empty() {
                return false; // nothing to evict
            }
        }
        false
    }

    /// Moves the eviction clock from its cursor to the next namespace that
    /// holds rows, and chooses there up to [`CLOCK_CHOICE`] entries in key
    /// order: each not read since the clock last passed it (the reference
    /// bit, cleared as it passes), or, after [`CLOCK_PATIENCE`] entries,
    /// each regardless. One visit serves that many evictions, so the
    /// search for the cursor and the drain of the namespace's buffer are
    /// paid once for all of them.
    fn clock_visit(&self, hand: &mut ClockHand<V>, notices: &mut Notices<V>, guard: &Guard) {
        let ClockHand { cursor, chosen } = hand;
        let mut seen = 0usize;
        let from = std::mem::take(cursor);
        for lap in 0..2 {
            let start = if lap == 0 {
                Bound::Excluded(from.as_str())
            } else {
                Bound::Unbounded
            };
            self.namespaces.scan(start, |node| {
                if node.pins() == 0 {
                    // Idle: no row to evict, and nothing to drain but the
                    // dead. One load, not a drain and a scan.
                    return ControlFlow::Continue(());
                }
                self.drain(node, Reach::All, Drain::Order, notices, guard);
                node.keys.scan(Bound::Unbounded, |entry| {
                    if entry.slot.is_dead() {
                        // Being removed by another thread.
                        return ControlFlow::Continue(());
                    }
                    seen += 1;
                    if entry.take_accessed() && seen < CLOCK_PATIENCE {
                        return ControlFlow::Continue(());
                    }
                    chosen.push(Arc::clone(entry));
                    if chosen.len() < CLOCK_CHOICE {
                        ControlFlow::Continue(())
                    } else {
                        ControlFlow::Break(())
                    }
                });
                if chosen.is_empty() {
                    // Another thread is draining this namespace's buffer:
                    // its rows are candidates too.
                    node.pending.for_each(guard, |entry| {
                        let reachable = || self.is_reachable(entry, guard);
                        if chosen.is_empty() && !entry.slot.is_dead() && reachable() {
                            chosen.push(Arc::clone(entry));
                        }
                    });
                }
                cursor.clear();
                cursor.push_str(node.rendered());
                if chosen.is_empty() {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            });
            if !chosen.is_empty() {
                break;
            }
        }
        // Evicted last chosen first: `pop` takes them in key order.
        chosen.reverse();
    }

    /// Deletes every row of every namespace under `prefix`; returns how many.
    pub(crate) fn delete_subtree(&self, prefix: &NamespacePrefix) -> usize {
        let nodes = self.nodes_under(prefix);
        let mut notices = Notices::new();
        let mut removed = 0;
        for node in &nodes {
            let mut doomed = Vec::new();
            {
                let guard = pin();
                node.pending.for_each(&guard, |entry| {
                    if self.is_reachable(entry, &guard) {
                        doomed.push(Arc::clone(entry));
                    }
                });
            }
            node.keys.scan(Bound::Unbounded, |entry| {
                doomed.push(Arc::clone(entry));
                ControlFlow::Continue(())
            });
            // A pin per removal, as a `delete` takes: one held across a
            // namespace of many rows would keep the epoch from moving on,
            // and every row removed so far from being freed, until the end.
            for entry in &doomed {
                if self.kill(entry, |_| true, Cause::Deleted, &mut notices, &pin()) {
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

/// One sweep's side of the wheel (see [`Firing`]).
struct Sweep<'a, V: Clone + Send + Sync + 'static> {
    engine: &'a Engine<V>,
    now: u64,
    notices: &'a mut Notices<V>,
    /// Deliver the notices between chunks (`evict_expired`), rather than
    /// leave them to the caller (a write's step, delivered after it).
    deliver: bool,
    /// The pin the fired timers' removals run under: taken at the first
    /// timer of a chunk and let go between chunks, before notices are
    /// delivered (a listener never runs pinned).
    guard: Option<Guard>,
}

impl<'a, V: Clone + Send + Sync + 'static> Sweep<'a, V> {
    fn new(engine: &'a Engine<V>, now: u64, notices: &'a mut Notices<V>, deliver: bool) -> Self {
        Self {
            engine,
            now,
            notices,
            deliver,
            guard: None,
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Firing<Timer<V>> for Sweep<'_, V> {
    fn fire(&mut self, timer: Timer<V>) -> Fired<Timer<V>> {
        let guard = self.guard.get_or_insert_with(pin);
        (self.engine).fire(timer, self.now, self.notices, guard)
    }

    fn counts(&mut self, timer: &Timer<V>) -> bool {
        timer.entry.timer.is_live(timer.ticket)
    }

    fn rows(&mut self) -> usize {
        self.engine.rows.sum()
    }

    fn between_chunks(&mut self) {
        self.guard = None;
        if self.deliver {
            let notices = std::mem::replace(self.notices, Notices::new());
            self.engine.hooks.deliver(notices);
        }
    }
}
