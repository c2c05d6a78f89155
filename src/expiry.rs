//! Where timers meet the wheel: the one place that hands timers to the
//! [`Wheel`] and the one place that advances it.
//!
//! Writers never wait for the wheel. A TTL write pushes a [`Timer`](crate::engine::Timer) onto a
//! lock-free inbox; whoever holds the wheel's mutex drains the inbox into the
//! wheel and advances it. Sweeps run
//!
//! * in full from `evict_expired` (blocking on the mutex), and
//! * in bounded steps from the write path: every [`SWEEP_EVERY`] writes on a
//!   thread, a `try_lock` (never waiting) and at most [`STEP_BUDGET`] timers
//!   of work, so no single write pays for a backlog, and memory stays bounded
//!   under TTL churn with nobody calling `evict_expired`.
//!
//! Reads never touch any of this.
//!
//! # One timer per row
//!
//! An entry carries an [`Arming`]: the ticket of the one timer, among those
//! the wheel may hold for it, that counts, and that timer's tick. A write
//! whose expiry comes at or after that tick leaves the wheel alone: the
//! timer fires early, finds the entry's current expiry later, and is filed
//! again for it (tokio's timer entries are rescheduled the same lazy way).
//! Only a write that moves the expiry earlier files a new timer, and the
//! one it supersedes becomes stale; so does the timer of an entry that is
//! deleted, expired or evicted. Stale timers are dropped when they come
//! due, and before that by pruning passes, which run (in bounded steps)
//! whenever the timers held outnumber twice the rows plus
//! [`PRUNE_SLACK`]: each pass then drops at least half of what it looks
//! at, so pruning is amortised O(1) per stale timer, and the timers held
//! stay bounded by the rows held, whatever the history of writes.

use crate::sync::{AtomicU64, Mutex, Ordering, lock, try_lock};
use crate::wheel::{LEVELS, PruneCursor, TICK_NANOS, Wheel};

// The sizes below are smaller under tests and loom, so that a few operations
// reach every path (a drain, a sweep step, a prune); only the numbers change,
// the code is the same.

/// Writes per thread between amortised sweep steps.
#[cfg(not(any(test, skipstore_loom)))]
pub(crate) const SWEEP_EVERY: u32 = 64;
#[cfg(any(test, skipstore_loom))]
pub(crate) const SWEEP_EVERY: u32 = 2;

/// Timers (drained, fired or cascaded) one amortised step may handle.
#[cfg(not(any(test, skipstore_loom)))]
pub(crate) const STEP_BUDGET: usize = 1024;
#[cfg(any(test, skipstore_loom))]
pub(crate) const STEP_BUDGET: usize = 4;

/// Writers help sweep only when no sweep has caught up for this long, so a
/// host that runs `evict_expired` (or the background sweeper) keeps expiry
/// work off its write path entirely, and one that does not still has expired
/// rows removed within a few milliseconds of writes.
#[cfg(not(any(test, skipstore_loom)))]
pub(crate) const HELP_AFTER_NANOS: u64 = 4_000_000;
#[cfg(any(test, skipstore_loom))]
pub(crate) const HELP_AFTER_NANOS: u64 = 1;

/// Timers `evict_expired` handles per hold of the wheel's mutex.
#[cfg(not(any(test, skipstore_loom)))]
const SWEEP_CHUNK: usize = 4096;
#[cfg(any(test, skipstore_loom))]
const SWEEP_CHUNK: usize = 3;

/// Timers held beyond twice the rows held before pruning passes start
/// (see the module docs).
#[cfg(not(any(test, skipstore_loom)))]
pub(crate) const PRUNE_SLACK: usize = 64;
#[cfg(any(test, skipstore_loom))]
pub(crate) const PRUNE_SLACK: usize = 2;

/// The first tick at or after `nanos`.
pub(crate) fn ceil_tick(nanos: u64) -> u64 {
    nanos.div_ceil(TICK_NANOS)
}

/// Bits of a ticket that count the arms of one entry; the bits above hold
/// the timer's tick plus one (ticks of finite expiries are below 2^45).
const ARM_BITS: u32 = 19;
const ARM_MASK: u64 = (1 << ARM_BITS) - 1;
/// No timer counts for the entry.
const UNARMED: u64 = 0;

/// An entry's claim on the wheel (see the module docs): the ticket of the
/// timer that counts for it, or none.
///
/// A ticket is the timer's tick and a count of the entry's arms, so a
/// stale timer is told from the live one even when both sit at the same
/// tick (unless 2^19 arms of one entry wrapped the count meanwhile: then a
/// stale timer is kept until its tick, and nothing else happens).
/// Every change is a CAS or a swap, and a ticket is replaced only by the
/// thread that holds the timer it names (refile, disarm) or by a writer
/// that files a new timer (arm), so whoever changes it knows which timer
/// stopped counting.
pub(crate) struct Arming(AtomicU64);

/// What [`Arming::arm`] decided.
pub(crate) enum Arm {
    /// A live timer fires at or before the tick: nothing to do.
    Covered,
    /// File a timer with this ticket.
    New(u64),
    /// The ticket changed since it was read: read again.
    Raced,
}

impl Arming {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(UNARMED))
    }

    fn ticket(tick: u64, after: u64) -> u64 {
        debug_assert!(
            tick < (1 << (64 - ARM_BITS)) - 1,
            "tick {tick} out of range"
        );
        ((tick + 1) << ARM_BITS) | ((after + 1) & ARM_MASK)
    }

    /// The tick of the timer a ticket names.
    pub(crate) fn tick_of(ticket: u64) -> u64 {
        (ticket >> ARM_BITS).saturating_sub(1)
    }

    /// The current ticket (SeqCst: see `Engine::arm`).
    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn is_live(&self, ticket: u64) -> bool {
        self.current() == ticket
    }

    /// For an expiry in tick `tick`, given the ticket `seen` read before the
    /// expiry: covered by the live timer, or a new ticket to file.
    pub(crate) fn arm(&self, seen: u64, tick: u64) -> Arm {
        if seen != UNARMED && Self::tick_of(seen) <= tick {
            return Arm::Covered;
        }
        let ticket = Self::ticket(tick, seen);
        match self
            .0
            .compare_exchange(seen, ticket, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Arm::New(ticket),
            Err(_) => Arm::Raced,
        }
    }

    /// The holder of the live timer `ticket` files it again at `tick`;
    /// `None` if it stopped counting meanwhile.
    pub(crate) fn refile(&self, ticket: u64, tick: u64) -> Option<u64> {
        let next = Self::ticket(tick, ticket);
        self.0
            .compare_exchange(ticket, next, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| next)
    }

    /// The holder of timer `ticket` drops it: no timer counts any more,
    /// unless another one already does.
    pub(crate) fn disarm(&self, ticket: u64) {
        let _ = self
            .0
            .compare_exchange(ticket, UNARMED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The entry is dead: whatever timer counted stops counting.
    pub(crate) fn disarm_any(&self) {
        self.0.store(UNARMED, Ordering::SeqCst);
    }
}

/// The lock-free handoff from writers to the wheel.
///
/// The same queue under loom: crossbeam-queue has no loom mode, its atomics
/// are `core`'s, so loom runs each push and pop as one step (it never
/// preempts a push between claiming a slot and filling it, so the queue's
/// wait for an in-flight push never comes up) and explores the store's
/// protocol around the queue, not the queue itself.
struct Inbox<T>(crossbeam_queue::SegQueue<T>);

impl<T> Inbox<T> {
    fn new() -> Self {
        Self(crossbeam_queue::SegQueue::new())
    }
    fn push(&self, t: T) {
        self.0.push(t);
    }
    fn pop(&self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// What became of a timer the wheel handed out.
pub(crate) enum Fired<T> {
    /// It removed a row (the firer kept or dropped the timer).
    Removed,
    /// Nothing to do (the entry was rewritten, deleted, or already gone).
    Stale,
    /// Its entry expires later: file it again at this tick, once the sweep
    /// is done.
    NotYet(u64, T),
}

/// The owner's side of a sweep: what to do with the timers the wheel hands
/// out. Called with the wheel's mutex held, so implementations run no user
/// code: timers they let go of are kept (not dropped) until
/// [`between_chunks`](Firing::between_chunks), which runs with the mutex
/// released.
pub(crate) trait Firing<T> {
    /// A timer came due.
    fn fire(&mut self, timer: T) -> Fired<T>;
    /// Whether a timer still counts (false: a pruning pass drops it).
    fn counts(&mut self, timer: &T) -> bool;
    /// Takes a timer a pruning pass dropped.
    fn discard(&mut self, timer: T);
    /// After each hold of the wheel's mutex, with the mutex released.
    fn between_chunks(&mut self);
}

/// The wheel and, beside it, the timers a sweep re-arms once it is done.
struct Swept<T> {
    wheel: Wheel<T>,
    /// Where a bounded step collects the timers it must re-arm (see
    /// [`Expiry::run`]). A step holds the lock throughout and leaves it
    /// empty; the buffer stays, so steps do not allocate.
    again: Vec<(u64, T)>,
    /// The pruning pass under way, if one is.
    pruning: Option<PruneCursor>,
}

/// Timers waiting for their tick, plus the inbox that feeds them.
pub(crate) struct Expiry<T> {
    inbox: Inbox<(u64, T)>,
    wheel: Mutex<Swept<T>>,
    /// Clock time of the last sweep that drained the inbox and reached `now`.
    caught_up_at: AtomicU64,
}

impl<T> Expiry<T> {
    pub(crate) fn new() -> Self {
        Self {
            inbox: Inbox::new(),
            wheel: Mutex::new(Swept {
                wheel: Wheel::new(),
                again: Vec::new(),
                pruning: None,
            }),
            caught_up_at: AtomicU64::new(0),
        }
    }

    /// Hands a timer for tick `tick` (see [`ceil_tick`]) to the wheel.
    pub(crate) fn schedule(&self, tick: u64, timer: T) {
        self.inbox.push((tick, timer));
    }

    /// Timers held (in the inbox or the wheel), stale ones included.
    pub(crate) fn pending(&self) -> usize {
        self.inbox.len() + lock(&self.wheel).wheel.len()
    }

    /// Checks the wheel's invariants.
    pub(crate) fn validate(&self) -> Result<(), String> {
        lock(&self.wheel).wheel.check()
    }

    /// Advances the wheel to `now` and fires everything due; returns how many
    /// rows `firing` removed. Waits for a concurrent sweep to finish. `rows`
    /// (the rows held) decides whether stale timers are pruned too (see the
    /// module docs); a pruning pass begun here is finished here.
    ///
    /// Works in chunks of [`SWEEP_CHUNK`] timers and lets go of the wheel
    /// between them: a sweeper thread descheduled mid-sweep (writers on every
    /// core) must not keep writers from helping.
    pub(crate) fn sweep_all(&self, now: u64, rows: usize, firing: &mut impl Firing<T>) -> usize {
        let mut removed = 0;
        // Timers that fired early are re-armed only once the sweep is done,
        // so no chunk meets them twice. Its own list: other sweeps may run
        // between its chunks.
        let mut again = Vec::new();
        // Bounded by the timers held when the sweep began (each is drained
        // once, cascades at most once per level, fires once and is looked at
        // once by a pruning pass), so writers that keep adding timers cannot
        // keep it going forever.
        let mut chunks_left = {
            let swept = lock(&self.wheel);
            (self.inbox.len() + swept.wheel.len()) * (LEVELS + 3) / SWEEP_CHUNK + 3
        };
        loop {
            let done = {
                let mut swept = lock(&self.wheel);
                // Through the tick that contains `now`, so that every row
                // expired by `now` is found.
                let (chunk, caught_up, pruned) = self.run(
                    &mut swept,
                    now,
                    ceil_tick(now),
                    SWEEP_CHUNK,
                    rows,
                    firing,
                    &mut again,
                );
                removed += chunk;
                chunks_left -= 1;
                let done = (caught_up && pruned) || chunks_left == 0;
                if done {
                    rearm(&mut swept.wheel, &mut again);
                }
                done
            };
            firing.between_chunks();
            if done {
                return removed;
            }
        }
    }

    /// Takes one timer due soonest (for eviction), after moving a bounded
    /// number of new timers into the wheel. `None` if the wheel is busy or
    /// empty. It may be stale: the caller checks.
    pub(crate) fn pop_soonest(&self) -> Option<T> {
        let mut swept = try_lock(&self.wheel)?;
        for _ in 0..STEP_BUDGET {
            let Some((tick, timer)) = self.inbox.pop() else {
                break;
            };
            swept.wheel.schedule(tick, timer);
        }
        swept.wheel.pop_earliest().map(|(_, timer)| timer)
    }

    /// Whether writers should help: no sweep has caught up recently.
    pub(crate) fn wants_help(&self, now: u64) -> bool {
        now.saturating_sub(self.caught_up_at.load(Ordering::Relaxed)) >= HELP_AFTER_NANOS
    }

    /// One bounded step, skipped if another thread is sweeping.
    ///
    /// It stops at the last tick that ended by `now`: every timer it fires
    /// has expired, so none comes back for a second look. Rows that expired
    /// earlier in the current tick wait for the next step (a millisecond at
    /// most); `evict_expired` is the sweep that is exact to the nanosecond.
    pub(crate) fn sweep_step(&self, now: u64, rows: usize, firing: &mut impl Firing<T>) -> usize {
        let removed = {
            let Some(mut swept) = try_lock(&self.wheel) else {
                return 0;
            };
            let mut again = std::mem::take(&mut swept.again);
            let (removed, _, _) = self.run(
                &mut swept,
                now,
                now / TICK_NANOS,
                STEP_BUDGET,
                rows,
                firing,
                &mut again,
            );
            rearm(&mut swept.wheel, &mut again);
            swept.again = again;
            removed
        };
        firing.between_chunks();
        removed
    }

    /// Drains the inbox, advances the wheel through `through` (a tick) and
    /// goes on with a pruning pass if one is due, within `budget` timers;
    /// returns the rows removed, whether it caught up with `through`, and
    /// whether no pruning is left to do.
    #[allow(clippy::too_many_arguments)] // one private step, called twice
    fn run(
        &self,
        swept: &mut Swept<T>,
        now: u64,
        through: u64,
        mut budget: usize,
        rows: usize,
        firing: &mut impl Firing<T>,
        again: &mut Vec<(u64, T)>,
    ) -> (usize, bool, bool) {
        let Swept { wheel, pruning, .. } = swept;
        while budget > 0 {
            let Some((tick, timer)) = self.inbox.pop() else {
                break;
            };
            budget -= 1;
            wheel.schedule(tick, timer);
        }
        // Timers whose rows expire later come back as `NotYet`, for the
        // caller to re-arm after the sweep.
        let drained = budget > 0;
        let mut removed = 0;
        let reached =
            wheel.advance_within(through, &mut budget, |_, timer| match firing.fire(timer) {
                Fired::Removed => removed += 1,
                Fired::Stale => {}
                Fired::NotYet(tick, timer) => again.push((tick, timer)),
            });
        let caught_up = drained && reached;
        if caught_up {
            self.caught_up_at.fetch_max(now, Ordering::Relaxed);
        }
        let crowded = |wheel: &Wheel<T>, again: &Vec<(u64, T)>| {
            let held = wheel.len() + self.inbox.len() + again.len();
            held > rows.saturating_mul(2).saturating_add(PRUNE_SLACK)
        };
        if pruning.is_none() && crowded(wheel, again) {
            *pruning = Some(PruneCursor::default());
        }
        if let Some(cursor) = pruning
            && budget > 0
        {
            let mut dropped = Vec::new();
            if wheel.prune(cursor, budget, |t| firing.counts(t), |t| dropped.push(t)) {
                *pruning = None;
            }
            for timer in dropped {
                firing.discard(timer);
            }
        }
        // Timers filed behind the cursor during a pass wait for the next
        // one: a pass that ends still crowded is followed by another.
        let settled = pruning.is_none() && !crowded(wheel, again);
        (removed, caught_up, settled)
    }
}

/// Puts back the timers a sweep found early, once the sweep is done.
fn rearm<T>(wheel: &mut Wheel<T>, again: &mut Vec<(u64, T)>) {
    for (tick, timer) in again.drain(..) {
        wheel.schedule(tick, timer);
    }
}
