//! The store's one engine: every operation, synchronous, on `&self`.
//!
//! # Layout
//!
//! * `namespaces`: the namespace nodes in rendered order (range scans for
//!   `list_namespaces`), and `ns_lookup`, the same nodes by rendered name.
//! * Each node's `keys`: its entries in key order (range scans for `list`),
//!   fed in batches from the node's `pending` write buffer.
//! * `entries`: every entry by `(rendered namespace, key)`, for O(1) point
//!   operations.
//!
//! # Memory
//!
//! The engine is safe code over the raw layer (`crate::raw`), which owns
//! every `unsafe` block and every decision to free memory. An operation
//! pins the epoch once (`raw::pin`) and passes the guard down to each raw
//! step; every version or member a step hands out borrows that guard, so
//! none can be used after the pin is let go. The guard is dropped before
//! notices are delivered: a removal listener never runs pinned.
//!
//! # Protocol (the invariants loom-tests/ checks)
//!
//! 1. A put that finds the key's entry in `entries` replaces its version
//!    in place (a CAS on the slot, which fails once the slot is dead); it
//!    takes no pin of its own, since a live entry holds one on its node.
//!    Otherwise it pins the namespace node (linked in `namespaces` before
//!    the pin is handed out, see rule 7), buffers a new entry in the
//!    node's `pending` buffer and only then publishes it in `entries` (the
//!    linearization point of an insert). So a key `get` can read is
//!    already reachable by `list`. A buffered entry is *fresh* until its
//!    insert knows the outcome: *published*, or *void* when another entry
//!    of the key won (the loser kills its slot and retries with a copy of
//!    its version, see `Engine::void`). Whoever walks a buffer reads a
//!    fresh entry's slot only after finding that very entry in `entries`
//!    (`Engine::is_reachable`); a drain keeps fresh entries and drops void
//!    ones. A drain later moves live published entries into `keys`, except
//!    that it removes the expired ones (as their timers would, see rule 6)
//!    and may leave those about to expire in the buffer, so that
//!    short-lived rows never touch the skiplist; a write's drain also
//!    leaves live rows buffered in a namespace whose `keys` are empty
//!    (see [`Drain`]), until the buffer's bound orders them. Where a row
//!    waits is policy: every reader of a namespace's rows reads both the
//!    buffer and `keys`. A list reads the buffer through the sorted copy
//!    a list before it left there, while that copy stands for it (no row
//!    pushed or unlinked since: `crate::raw::pending`'s rules).
//! 2. Delete, expiry and eviction kill the slot (the linearization point of a
//!    removal), then unlink the entry from `entries` and (if it got there)
//!    from `keys`, and unpin the node. A node whose last pin goes stays
//!    linked, idle, and its buffer is drained of the dead; an idle node
//!    retires (a CAS from zero pins, so never while a writer holds it) only
//!    when idle nodes exceed [`IDLE_MAX`], and its retirer unlinks it and
//!    drains it again.
//! 3. A key that stays present keeps one entry that never leaves either index,
//!    so no reader can miss it (crossbeam-skiplist 0.1.3 can briefly hide a
//!    key that is being re-inserted; we never re-insert a live key).
//! 4. A drain fences and re-checks the slot after adding an entry to `keys`;
//!    a killer fences between killing and looking at `in_keys`. One of the
//!    two always sees the other, so a dead entry never stays in `keys`.
//! 5. An insert buffers its entry while it holds a pin on the node (the pin
//!    the entry then keeps until it is killed, or the insert drops when it
//!    loses), so every push into a node comes before the node can retire;
//!    a retirer drains after retiring, so a retired node keeps no entry
//!    (entries point back at their node).
//! 6. An entry has one live timer (its `Arming` names it), filed for a
//!    tick at or before its current expiry: a write arms a new one only if
//!    its expiry comes before the live timer's tick. A timer kills only a
//!    version whose expiry stamp it claims as expired (so a concurrent
//!    sliding read either extends it first or sees it gone, and a later
//!    write's value goes only once that value has expired); a live timer
//!    that comes early is filed again at the current expiry. A writer
//!    fences between installing its version and reading the ticket; a
//!    timer filed again fences between replacing the ticket and reading
//!    the version: one of the two sees the other, so no expiry is left
//!    without a timer at or before it.
//! 7. A namespace node enters `ns_lookup` (which decides the one node per
//!    name) and then `namespaces`; a writer that pins a node its creator has
//!    not yet linked in `namespaces` links it itself before writing. So a
//!    namespace holding a key `get` can read is reachable by
//!    `list_namespaces`.

use std::ops::{Bound, ControlFlow};
use std::time::Duration;

use entelix_memory::Namespace;

use crate::clock::{SharedClock, saturating_nanos};
use crate::counter::{StripedCounter, thread_cadence};
use crate::entry::{Entry, Publication};
use crate::expiry::{Arm, Expiry, ceil_tick};
use crate::index::{Member, OrderedSet, PointSet, point_hash, point_hash_in, scope_hash};
use crate::namespace::NsNode;
use crate::raw::pending::{Drained, Reach};
use crate::raw::slot::{Displaced, Killed, NEVER, Replaced, Slide, Slot, Version, first_version};
use crate::raw::{Guard, pin};
use crate::render::with_rendered;
use crate::sync::{Arc, Mutex, Ordering, fence};

mod drain;
mod expire;
mod hooks;
mod namespaces;
mod scan;
mod validate;

use drain::{DRAIN_AT, Drain, KEEP_MAX};
use hooks::Cause;
pub(crate) use hooks::{Hooks, Listener, Notices, listener_of};
pub use hooks::{Removal, RemovalCause};
pub(crate) use namespaces::IDLE_MAX;

/// A scheduled expiry: this entry, while `ticket` is the one its
/// [`Arming`](crate::expiry::Arming) names.
pub(crate) struct Timer<V: Send + Sync + 'static> {
    entry: Arc<Entry<V>>,
    ticket: u64,
}

/// How a write treats the live value it finds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Condition {
    /// Replace it (a plain put).
    Always,
    /// Only write if there is none (an expired value counts as none).
    IfAbsent,
    /// Only replace the live value with this version number.
    IfVersion(u64),
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Stored, as this version.
    Stored(u64),
    /// Refused by its condition; the live version found, if any.
    Refused(Option<u64>),
}

/// The expiry options of one write.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Expiring {
    pub(crate) ttl: Option<Duration>,
    /// Sliding: reads push the expiry to `now + ttl`, up to this long after
    /// the write (`Duration::MAX`: no cap).
    pub(crate) slide_cap: Option<Duration>,
}

impl Expiring {
    /// A plain write: `ttl`, no sliding.
    pub(crate) const fn plain(ttl: Option<Duration>) -> Self {
        Self {
            ttl,
            slide_cap: None,
        }
    }
}

pub(crate) struct Engine<V: Send + Sync + 'static> {
    namespaces: OrderedSet<NsNode<V>>,
    ns_lookup: PointSet<NsNode<V>>,
    entries: PointSet<Entry<V>>,
    expiry: Expiry<Timer<V>>,
    clock: SharedClock,
    rows: StripedCounter,
    /// Idle namespace nodes still linked (see [`IDLE_MAX`]).
    idle: StripedCounter,
    hooks: Hooks<V>,
    /// The eviction clock: the namespace it last visited, and the entries
    /// it chose there.
    clock_hand: Mutex<expire::ClockHand<V>>,
}

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(clock: SharedClock, hooks: Hooks<V>) -> Self {
        Self {
            namespaces: OrderedSet::new(),
            ns_lookup: PointSet::new(),
            entries: PointSet::new(),
            expiry: Expiry::new(),
            clock,
            rows: StripedCounter::new(),
            idle: StripedCounter::new(),
            hooks,
            clock_hand: Mutex::new(expire::ClockHand::new()),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now_nanos()
    }

    /// The first version of a write now with these options.
    fn version_for(&self, value: V, expiring: Expiring) -> Version<V> {
        let Some(ttl) = expiring.ttl else {
            return Version::new(value, NEVER, None);
        };
        let now = self.now();
        let ttl = saturating_nanos(ttl);
        let slide = expiring.slide_cap.map(|cap| Slide {
            ttl,
            cap_at: finite_expiry(now, saturating_nanos(cap)),
        });
        // The cap bounds the first expiry too.
        let expires_at = slide.map_or(finite_expiry(now, ttl), |s| {
            finite_expiry(now, ttl).min(s.cap_at)
        });
        Version::new(value, expires_at, slide)
    }

    // ---- writes --------------------------------------------------------

    pub(crate) fn put(&self, ns: &Namespace, key: &str, value: V, ttl: Option<Duration>) {
        self.write(ns, key, value, Expiring::plain(ttl), Condition::Always);
    }

    /// Writes `(ns, key)` under `condition`.
    pub(crate) fn write(
        &self,
        ns: &Namespace,
        key: &str,
        value: V,
        expiring: Expiring,
        condition: Condition,
    ) -> Written {
        let next = self.version_for(value, expiring);
        let mut notices = Notices::new();
        let written = {
            let guard = pin();
            let written = with_rendered(ns, |rendered| {
                self.write_pinned(ns, rendered, key, next, condition, &mut notices, &guard)
            });
            notices.retire_now(&guard);
            written
        };
        if matches!(written, Written::Stored(_)) {
            self.hooks.stats.add_write();
        }
        self.hooks.deliver(notices);
        self.maybe_help_sweep();
        written
    }

    /// [`Engine::write`] of `next` under `guard`, with `ns` rendered.
    #[allow(clippy::too_many_arguments)] // `write`'s body, split out
    fn write_pinned(
        &self,
        ns: &Namespace,
        rendered: &str,
        key: &str,
        mut next: Version<V>,
        condition: Condition,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> Written {
        // The namespace's lookup hash, and the key's from it: the rendered
        // namespace is hashed once.
        let ns_hash = scope_hash(rendered);
        let hash = point_hash_in(ns_hash, key);
        // If the key is new, the namespace's lookup follows the probe:
        // start loading both, so that their misses overlap.
        self.entries.prefetch(hash, guard);
        self.ns_lookup.prefetch(ns_hash, guard);
        loop {
            // An overwrite needs no pin of its own: the live entry holds
            // one on its node (rule 1).
            let attempt = match self.entries.get(hash, rendered, key, guard) {
                // Borrowed under the guard: a count of our own is taken only
                // if the displaced version needs one (see `replace`).
                Some(entry) => self.replace(&entry, next, condition, notices, guard),
                None if matches!(condition, Condition::IfVersion(_)) => {
                    return Written::Refused(None);
                }
                None => {
                    let node = self.pin_namespace(rendered, ns_hash, ns, guard);
                    self.insert(node, key, hash, next, notices, guard)
                }
            };
            match attempt {
                Ok(written) => return written,
                // Raced with a removal or another insert (any pin taken was
                // released): start over with the version handed back.
                Err(back) => next = back,
            }
        }
    }

    /// Writes over the entry found for the key. `Err` hands `next` back
    /// when the entry turned out dead.
    fn replace(
        &self,
        entry: &Arc<Entry<V>>,
        next: Version<V>,
        condition: Condition,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> Result<Written, Version<V>> {
        let now = std::cell::OnceCell::new();
        let now = || *now.get_or_init(|| self.now());
        let allowed = |cur: &Version<V>| match condition {
            Condition::Always => true,
            Condition::IfAbsent => !cur.is_live(now),
            Condition::IfVersion(v) => cur.version == v && cur.is_live(now),
        };
        let wants = self.hooks.wants_notices();
        let keepsakes = &mut notices.keepsakes;
        // No user code here but the clock: the value is cloned for the
        // listener at delivery, after every lock and flag is released.
        let keep_old = |old: Displaced<'_, V>| {
            let cause = if old.is_live(now) {
                Cause::Replaced
            } else {
                Cause::Expired
            };
            (wants.then(|| keepsakes.keep(old)), cause)
        };
        let hold = || Arc::clone(entry);
        let outcome =
            (entry.slot).replace_if(next, allowed, keep_old, &mut notices.graveyard, hold, guard);
        match outcome {
            Replaced::Done(version, (kept, cause)) => {
                if let Some(kept) = kept {
                    notices.push(entry, kept, cause);
                }
                self.hooks.stats.add_removal(cause);
                self.arm(entry, guard);
                Ok(Written::Stored(version))
            }
            Replaced::Declined => {
                let live = (entry.slot.load(guard))
                    .filter(|v| v.is_live(now))
                    .map(|v| v.version);
                Ok(Written::Refused(live))
            }
            Replaced::Dead(back) => {
                // Dead but not yet unlinked: help, then retry.
                self.entries.remove_same(entry, guard);
                Err(back)
            }
        }
    }

    /// Buffers, then publishes, a new entry for the key (the node is
    /// pinned; the pin goes to the new row, or is released). `Err` hands
    /// `next` back when another writer published the key first.
    fn insert(
        &self,
        node: Arc<NsNode<V>>,
        key: &str,
        hash: u64,
        mut next: Version<V>,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> Result<Written, Version<V>> {
        next.version = first_version();
        let version = next.version;
        // The entry takes over our count of the node (and our pin).
        let entry = Arc::new(Entry::new(node, key, Slot::new(next), hash));
        // Buffered before it is published (rule 1), while we hold the pin
        // (rule 5).
        let buffered = entry.ns.pending.push(Arc::clone(&entry));
        let written = match self.entries.try_insert(Arc::clone(&entry), guard) {
            Ok(()) => {
                entry.set_published();
                // The node's pin now belongs to the new row.
                self.rows.add(1);
                Ok(Written::Stored(version))
            }
            Err(occupant) => {
                if let Some(occupant) = occupant
                    && occupant.slot.is_dead()
                {
                    self.entries.remove_same(&occupant, guard);
                }
                Err(self.void(&entry, notices, guard))
            }
        };
        if buffered >= DRAIN_AT {
            // The kept run waits until it fills (see `KEEP_MAX`).
            let reach = Reach::New {
                unless_kept_over: KEEP_MAX - DRAIN_AT,
            };
            self.drain(&entry.ns, reach, Drain::Write, notices, guard);
        }
        match written {
            Ok(written) => {
                self.arm(&entry, guard);
                self.enforce_bound(notices, guard);
                Ok(written)
            }
            Err(Some(back)) => Err(back),
            Err(None) => Ok(Written::Refused(None)),
        }
    }

    /// Gives up a buffered entry whose insert lost: marks it void (the
    /// next drain drops it), kills its slot, releases its pin, and returns
    /// a copy of its version for the retry.
    ///
    /// A copy, not the version itself: by rule 1 nobody reads a void
    /// entry's slot, but that is the engine's protocol, which the raw
    /// layer cannot check, so the version goes the way every displaced
    /// one goes (R1 in [`crate::raw`]) and the retry writes a clone. The
    /// value is cloned (user code) after the pin is released, from a
    /// keepsake; this costs a clone only when two inserts of one key race.
    fn void(
        &self,
        entry: &Arc<Entry<V>>,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> Option<Version<V>> {
        entry.set_void();
        let keepsakes = &mut notices.keepsakes;
        let mut kept = None;
        entry.slot.kill_if(
            |_| true,
            |lost| kept = Some(keepsakes.keep(lost)),
            &mut notices.graveyard,
            guard,
        );
        debug_assert!(kept.is_some(), "a lost insert's version is its own");
        // The retirer, if this retires the node, drains the void entry.
        self.unpin(&entry.ns, notices, guard);
        kept.and_then(|at| notices.keepsakes.get(at))
            .map(Version::duplicate)
    }

    /// Whether a buffered entry counts for readers (its slot may be read):
    /// published, or fresh but already in `entries` (rule 1).
    fn is_reachable(&self, entry: &Arc<Entry<V>>, guard: &Guard) -> bool {
        match entry.publication() {
            Publication::Published => true,
            Publication::Void => false,
            Publication::Fresh => self
                .entries
                .get(entry.point_hash(), entry.ns.rendered(), &entry.key, guard)
                .is_some_and(|e| Arc::ptr_eq(&e, entry)),
        }
    }

    /// Makes sure a timer fires at or before `entry`'s current expiry:
    /// files one unless the live timer already does (protocol rule 6).
    fn arm(&self, entry: &Arc<Entry<V>>, guard: &Guard) {
        loop {
            // The version (installed just before) first, then the ticket,
            // then the expiry. Pairs with the fence after `refile` (see
            // `fire_live`): of a write whose expiry comes before a timer
            // filed again and that timer's look at the version, one sees
            // the other.
            fence(Ordering::SeqCst);
            let seen = entry.timer.current();
            let Some(expires_at) = entry.slot.load(guard).map(|v| v.expires_at()) else {
                return; // dead: its killer disarmed it
            };
            if expires_at == NEVER {
                return;
            }
            let tick = ceil_tick(expires_at);
            match entry.timer.arm(seen, tick) {
                Arm::Covered => return,
                Arm::Raced => {}
                Arm::New(ticket) => {
                    let timer = Timer {
                        entry: Arc::clone(entry),
                        ticket,
                    };
                    self.expiry.schedule(tick, timer);
                    // Pairs with the disarm in `kill`: a kill that came
                    // before the ticket was set did not see it.
                    fence(Ordering::SeqCst);
                    if entry.slot.is_dead() {
                        entry.timer.disarm(ticket);
                    }
                    return;
                }
            }
        }
    }

    /// Kills `entry` if `pred` holds for its current version, then unlinks
    /// it. Returns whether this call removed it; the removed value goes to
    /// `notices` (for the listener) with `cause`.
    fn kill(
        &self,
        entry: &Arc<Entry<V>>,
        pred: impl FnMut(&Version<V>) -> bool,
        cause: Cause,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> bool {
        let wants = self.hooks.wants_notices();
        let keepsakes = &mut notices.keepsakes;
        let mut kept = None;
        // No user code here: the value is cloned for the listener at
        // delivery, after every lock and flag is released.
        let killed = entry.slot.kill_if(
            pred,
            |old| {
                if wants {
                    kept = Some(keepsakes.keep(old));
                }
            },
            &mut notices.graveyard,
            guard,
        );
        match killed {
            Killed::No => false,
            Killed::Now => {
                if let Some(kept) = kept {
                    notices.push(entry, kept, cause);
                }
                // Its timer stops counting: a pruning pass may drop it now.
                entry.timer.disarm_any();
                (self.entries).remove_same_into(entry, &mut notices.released, guard);
                // Pairs with the fence in `order`.
                fence(Ordering::SeqCst);
                if entry.in_keys() {
                    entry.ns.keys.remove_same(entry);
                }
                self.rows.add(-1);
                self.unpin(&entry.ns, notices, guard);
                self.hooks.stats.add_removal(cause);
                true
            }
        }
    }

    pub(crate) fn delete(&self, ns: &Namespace, key: &str) -> bool {
        let mut notices = Notices::new();
        let removed = {
            let guard = pin();
            let removed = self.find(ns, key, &guard).is_some_and(|entry| {
                self.kill(&entry, |_| true, Cause::Deleted, &mut notices, &guard)
            });
            notices.retire_now(&guard);
            removed
        };
        self.hooks.deliver(notices);
        self.maybe_help_sweep();
        removed
    }

    fn find(&self, ns: &Namespace, key: &str, guard: &Guard) -> Option<Arc<Entry<V>>> {
        with_rendered(ns, |rendered| {
            let hash = point_hash(rendered, key);
            (self.entries.get(hash, rendered, key, guard)).map(|e| Arc::clone(&e))
        })
    }

    // ---- reads ---------------------------------------------------------

    /// Runs `f` on the live version of `(ns, key)`, refreshing a sliding
    /// expiry. Lock-free, no allocation.
    pub(crate) fn read<R>(
        &self,
        ns: &Namespace,
        key: &str,
        f: impl FnOnce(&Version<V>) -> R,
    ) -> Option<R> {
        let guard = pin();
        let out = with_rendered(ns, |rendered| {
            let hash = point_hash(rendered, key);
            let entry = self.entries.get(hash, rendered, key, &guard)?;
            if self.hooks.bounded() {
                entry.mark_accessed();
            }
            let cur = entry.slot.load(&guard)?;
            cur.touch(|| self.now()).then(|| f(&cur))
        });
        self.hooks.stats.add_read(out.is_some());
        out
    }

    pub(crate) fn get(&self, ns: &Namespace, key: &str) -> Option<V> {
        self.read(ns, key, |v| v.value.clone())
    }

    /// Rows held, expired-but-unswept included.
    pub(crate) fn total_entries(&self) -> usize {
        self.rows.sum()
    }

    /// Operation counters: hits, misses, writes, deletes, expirations,
    /// evictions.
    pub(crate) fn counters(&self) -> [u64; 6] {
        self.hooks.stats.read()
    }

    /// Timers not yet fired (a measure of expiry bookkeeping memory).
    pub(crate) fn pending_timers(&self) -> usize {
        self.expiry.pending()
    }

    /// Namespace nodes linked in the index and not idle: namespaces holding
    /// a row (or pinned by a write), plus retired ones not yet unlinked.
    pub(crate) fn namespace_nodes(&self) -> usize {
        self.ns_lookup.len().saturating_sub(self.idle.sum())
    }

    /// Idle namespace nodes kept linked for reuse (at most about
    /// [`IDLE_MAX`]).
    pub(crate) fn idle_namespaces(&self) -> usize {
        self.idle.sum()
    }
}

/// The expiry stamp of a TTL of `ttl` nanoseconds written at `now`. A TTL
/// too long for the clock (`Duration::MAX`, or anything past `u64::MAX`
/// nanoseconds) never expires; any other TTL expires, even on a clock that
/// reached its last instant (a manual clock can).
fn finite_expiry(now: u64, ttl: u64) -> u64 {
    if ttl == u64::MAX {
        NEVER
    } else {
        now.saturating_add(ttl).min(NEVER - 1)
    }
}

impl<V: Send + Sync + 'static> Drop for Engine<V> {
    fn drop(&mut self) {
        // Entries point at their node and nodes hold their entries: break the
        // cycle so both are freed.
        self.namespaces.scan(Bound::Unbounded, |node| {
            node.keys.clear();
            // A pin per node, not one for the whole drop: the epoch may move
            // on (and free what earlier nodes let go of) meanwhile, instead
            // of leaving a whole store's garbage to whatever pins next.
            node.pending
                .drain_with(&pin(), &mut Drained::new(), Reach::All, |_, _| false);
            ControlFlow::Continue(())
        });
        self.namespaces.clear();
    }
}
