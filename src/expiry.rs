//! Where timers meet the wheel: the one place that hands timers to the
//! [`Wheel`] and the one place that advances it.
//!
//! Writers never wait for the wheel. A TTL write pushes a [`Timer`](crate::engine::Timer) onto a
//! lock-free inbox; whoever holds the wheel's mutex drains the inbox into the
//! wheel and advances it. There is one inbox and wheel per *lane*, and a
//! thread files its timers in its own lane (one per stripe of the crate's
//! striped counters), so writers on different cores share no inbox, no
//! mutex and, mostly, no rows to fire. Sweeps run
//!
//! * in full from `evict_expired`, lane after lane (blocking on each
//!   mutex), and
//! * in bounded steps from the write path: every [`SWEEP_EVERY`] writes on a
//!   thread, when its lane (or, in turn, another) has not been swept for a
//!   tick, a `try_lock` (never waiting) and at most [`STEP_BUDGET`] timers
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
//! stay bounded by the rows held, whatever the history of writes. A
//! writer's step counts its own lane's timers (so its passes keep that
//! promise lane by lane: at most twice the rows plus the slack per lane in
//! use); `evict_expired` counts every lane's, and after it the store as a
//! whole holds no more than twice its rows plus the slack, as with one lane.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, lock, try_lock};
use crate::wheel::{LEVELS, PruneCursor, TICK_NANOS, Wheel};

mod arming;

pub(crate) use arming::{Arm, Arming};

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

/// Writers help sweep a lane only when no sweep has caught up with it for
/// this long: one wheel tick, so a writer fires its own lane's expired rows
/// about once per tick, in small steps, on its own core.
///
/// It was 4 ms, meant to leave the work to a host that runs
/// `evict_expired` every few milliseconds; but with a sweep every 10 ms
/// writers did most of it anyway, and what the host's thread did (killing
/// rows writers were touching, on the other core) cost the writers more
/// than doing it themselves: a writer that never helped (25 ms) was
/// slower, one that helped every tick faster (BENCHMARKS.md, issue 15,
/// "Writers' sweep steps").
#[cfg(not(any(test, skipstore_loom)))]
pub(crate) const HELP_AFTER_NANOS: u64 = crate::wheel::TICK_NANOS;
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

/// What became of a timer the wheel handed out. Each outcome hands the
/// timer back: the wheel files it again, or keeps it until its mutex is
/// released (its drop may drop a row's last handle, and with it user code).
pub(crate) enum Fired<T> {
    /// It removed a row.
    Removed(T),
    /// Nothing to do (the entry was rewritten, deleted, or already gone).
    Stale(T),
    /// Its entry expires later: file it again at this tick, once the sweep
    /// is done.
    NotYet(u64, T),
}

/// The owner's side of a sweep: what to do with the timers the wheel hands
/// out. Called with the wheel's mutex held, so implementations run no user
/// code; the timers they let go of come back to the wheel, which drops
/// them once the mutex is released, before
/// [`between_chunks`](Firing::between_chunks).
pub(crate) trait Firing<T> {
    /// A timer came due.
    fn fire(&mut self, timer: T) -> Fired<T>;
    /// Whether a timer still counts (false: a pruning pass drops it).
    fn counts(&mut self, timer: &T) -> bool;
    /// The rows held now, against which the timers held are weighed (see
    /// the module docs). Read afresh for each chunk of a sweep, since the
    /// sweep itself removes rows.
    fn rows(&mut self) -> usize;
    /// After each hold of the wheel's mutex, with the mutex released.
    fn between_chunks(&mut self);
}

/// Expiry lanes: one per stripe of the crate's striped counters, so that
/// each writer thread files its timers into, and sweeps, a lane of its own.
///
/// With one wheel for the whole store, every TTL write of every thread
/// CASed the same inbox tail, writers' sweep steps took turns on one
/// mutex, and a step killed rows other threads had written, freeing their
/// allocations on the wrong thread (BENCHMARKS.md, issue 15, "Writers'
/// sweep steps"). A lane per thread keeps all of that on the writer's
/// own core. Under loom every thread is stripe 0: one lane.
#[cfg(not(skipstore_loom))]
const LANES: usize = crate::counter::STRIPES;
#[cfg(skipstore_loom)]
const LANES: usize = 1;

/// The calling thread's lane.
fn own_lane() -> usize {
    crate::counter::stripe() % LANES
}

/// The wheel and, beside it, the timers a sweep re-arms once it is done.
struct Swept<T> {
    wheel: Wheel<T>,
    /// Where a bounded step collects the timers it must re-arm (see
    /// [`Expiry::run`]). A step holds the lock throughout and leaves it
    /// empty; the buffer stays, so steps do not allocate.
    again: Vec<(u64, T)>,
    /// Where a bounded step collects the timers it let go of (fired or
    /// pruned), to drop them once the mutex is released. Given back after
    /// that, empty, so steps do not allocate.
    spent: Vec<T>,
    /// The pruning pass under way, if one is.
    pruning: Option<PruneCursor>,
}

/// One lane: timers waiting for their tick, plus the inbox that feeds them.
struct Lane<T> {
    inbox: Inbox<(u64, T)>,
    wheel: Mutex<Swept<T>>,
    /// Clock time of the last sweep that drained the inbox and reached `now`.
    caught_up_at: AtomicU64,
    /// Timers the wheel held when its mutex was last let go (for the other
    /// lanes' count of the timers held, see [`Expiry::sweep_all`]).
    held: AtomicUsize,
}

impl<T> Lane<T> {
    fn new() -> Self {
        Self {
            inbox: Inbox::new(),
            wheel: Mutex::new(Swept {
                wheel: Wheel::new(),
                again: Vec::new(),
                spent: Vec::new(),
                pruning: None,
            }),
            caught_up_at: AtomicU64::new(0),
            held: AtomicUsize::new(0),
        }
    }

    /// No sweep of this lane has caught up recently.
    fn is_late(&self, now: u64) -> bool {
        now.saturating_sub(self.caught_up_at.load(Ordering::Relaxed)) >= HELP_AFTER_NANOS
    }

    /// Timers held, as far as another lane can tell without the mutex.
    fn held_estimate(&self) -> usize {
        self.held.load(Ordering::Relaxed) + self.inbox.len()
    }

    /// No timer held, as far as a thread can tell without the mutex (a
    /// timer being filed meanwhile may be missed, as a step that finds the
    /// lane busy misses it).
    fn is_empty(&self) -> bool {
        self.held_estimate() == 0
    }
}

/// What one [`Expiry::run`] did.
struct Ran {
    /// Rows the firing removed.
    removed: usize,
    /// It drained the inbox and reached the tick it was asked to.
    caught_up: bool,
    /// No pruning pass is under way.
    idle: bool,
    /// The timers held (as its caller counts them) call for pruning.
    crowded: bool,
    /// A pruning pass began in it.
    began: bool,
    /// A pruning pass ended in it.
    passed: bool,
}

/// Timers waiting for their tick, in [`LANES`] lanes.
pub(crate) struct Expiry<T> {
    lanes: Box<[CachePadded<Lane<T>>]>,
}

impl<T> Expiry<T> {
    pub(crate) fn new() -> Self {
        Self {
            lanes: (0..LANES).map(|_| CachePadded::new(Lane::new())).collect(),
        }
    }

    /// Hands a timer for tick `tick` (see [`ceil_tick`]) to the wheel of
    /// the calling thread's lane.
    pub(crate) fn schedule(&self, tick: u64, timer: T) {
        self.lanes[own_lane()].inbox.push((tick, timer));
    }

    /// Timers held (in the inboxes or the wheels), stale ones included.
    pub(crate) fn pending(&self) -> usize {
        self.lanes
            .iter()
            .map(|lane| lane.inbox.len() + lock(&lane.wheel).wheel.len())
            .sum()
    }

    /// Checks every lane's wheel's invariants.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for lane in self.lanes.iter() {
            lock(&lane.wheel).wheel.check()?;
        }
        Ok(())
    }

    /// Advances every lane's wheel to `now` and fires everything due;
    /// returns how many rows `firing` removed. Waits for a concurrent sweep
    /// of a lane to finish. Then prunes: each lane whose timers, with the
    /// other lanes', outnumber twice the rows left (see the module docs)
    /// gets a whole pass, so that afterwards the store holds no more than
    /// twice its rows plus [`PRUNE_SLACK`] timers.
    ///
    /// Two rounds over the lanes: the first fires, the second prunes. Were
    /// pruning decided in one round, a lane swept early would weigh its
    /// stale timers against rows that a later lane was about to fire, and
    /// keep them (two rows left holding 95 timers, in a stress run).
    ///
    /// Works in chunks of [`SWEEP_CHUNK`] timers and lets go of a wheel
    /// between them: a sweeper thread descheduled mid-sweep (writers on every
    /// core) must not keep writers from helping.
    pub(crate) fn sweep_all(&self, now: u64, firing: &mut impl Firing<T>) -> usize {
        let mut removed = 0;
        for prune in [false, true] {
            for at in 0..self.lanes.len() {
                removed += self.sweep_lane(at, now, prune, firing);
            }
        }
        removed
    }

    /// One round of [`sweep_all`](Self::sweep_all) on one lane; it begins
    /// a pruning pass only if `prune` (it goes on with one under way).
    fn sweep_lane(&self, at: usize, now: u64, prune: bool, firing: &mut impl Firing<T>) -> usize {
        let lane = &self.lanes[at];
        let mut removed = 0;
        // Timers that fired early are re-armed only once the sweep is done,
        // so no chunk meets them twice. Its own list: other sweeps may run
        // between its chunks.
        let mut again = Vec::new();
        // Timers let go of, dropped after each chunk with the mutex released.
        let mut spent = Vec::new();
        // Bounded by the timers held when the sweep began (each is drained
        // once, cascades at most once per level, fires once and is looked at
        // once by a pruning pass), so writers that keep adding timers cannot
        // keep it going forever.
        let mut chunks_left = {
            let swept = lock(&lane.wheel);
            (lane.inbox.len() + swept.wheel.len()) * (LEVELS + 3) / SWEEP_CHUNK + 3
        };
        // Whether a pruning pass began in this sweep, and whether one that
        // did has ended (a pass a writer's step began has skipped the
        // timers filed behind its cursor meanwhile).
        let (mut began, mut passed) = (false, false);
        loop {
            let others = self.held_elsewhere(at);
            let rows = prune.then(|| firing.rows());
            let done = {
                let mut swept = lock(&lane.wheel);
                // Through the tick that contains `now`, so that every row
                // expired by `now` is found.
                let ran = self.run(
                    lane,
                    &mut swept,
                    (now, ceil_tick(now)),
                    SWEEP_CHUNK,
                    (rows, others),
                    firing,
                    (&mut again, &mut spent),
                );
                removed += ran.removed;
                began |= ran.began;
                passed |= ran.passed && began;
                chunks_left -= 1;
                // Timers filed behind the cursor during a pass wait for the
                // next one: a lane still crowded gets one of this sweep's
                // own (once: more would find the same, when what crowds
                // the store is other lanes' timers).
                let settled = ran.idle && (!ran.crowded || passed);
                let done = (ran.caught_up && settled) || chunks_left == 0;
                if done {
                    rearm(&mut swept.wheel, &mut again);
                }
                lane.held
                    .store(swept.wheel.len() + again.len(), Ordering::Relaxed);
                done
            };
            spent.clear();
            firing.between_chunks();
            if done {
                return removed;
            }
        }
    }

    /// Timers held by the lanes other than `at` (an estimate: read without
    /// their mutexes).
    fn held_elsewhere(&self, at: usize) -> usize {
        self.lanes
            .iter()
            .enumerate()
            .filter(|&(other, _)| other != at)
            .map(|(_, lane)| lane.held_estimate())
            .sum()
    }

    /// Takes one timer due soonest in the calling thread's lane (or the
    /// first other lane that has one), for eviction, after moving a bounded
    /// number of new timers into the wheel. `None` if the wheels are busy or
    /// empty. It may be stale: the caller checks.
    pub(crate) fn pop_soonest(&self) -> Option<T> {
        let own = own_lane();
        (0..LANES).find_map(|i| {
            let lane = &self.lanes[(own + i) % LANES];
            if lane.is_empty() {
                return None; // as it is when no row has a TTL
            }
            let mut swept = try_lock(&lane.wheel)?;
            for _ in 0..STEP_BUDGET {
                let Some((tick, timer)) = lane.inbox.pop() else {
                    break;
                };
                swept.wheel.schedule(tick, timer);
            }
            let popped = swept.wheel.pop_earliest().map(|(_, timer)| timer);
            lane.held.store(swept.wheel.len(), Ordering::Relaxed);
            popped
        })
    }

    /// The lane a writer should help sweep, if any: its own when no sweep
    /// of it has caught up recently, else (one each millisecond, in turn)
    /// another lane in that state, so that the timers of threads that
    /// stopped writing are still fired.
    pub(crate) fn wants_help(&self, now: u64) -> Option<usize> {
        let own = own_lane();
        if self.lanes[own].is_late(now) {
            return Some(own);
        }
        if LANES == 1 {
            return None;
        }
        let turn = usize::try_from(now / TICK_NANOS).unwrap_or(0) % (LANES - 1);
        let other = (own + 1 + turn) % LANES;
        self.lanes[other].is_late(now).then_some(other)
    }

    /// Whether lane `at` holds no timer (see [`Lane::is_empty`]).
    pub(crate) fn lane_is_empty(&self, at: usize) -> bool {
        self.lanes.get(at).is_none_or(|lane| lane.is_empty())
    }

    /// The calling thread's lane (for a step that is not a writer's help).
    pub(crate) fn own_lane(&self) -> usize {
        own_lane()
    }

    /// One bounded step on lane `at`, skipped if another thread is
    /// sweeping it.
    ///
    /// It stops at the last tick that ended by `now`: every timer it fires
    /// has expired, so none comes back for a second look. Rows that expired
    /// earlier in the current tick wait for the next step (a millisecond at
    /// most); `evict_expired` is the sweep that is exact to the nanosecond.
    /// It prunes when its own lane's timers outnumber twice the rows (so
    /// that each pass drops at least half of what it looks at).
    pub(crate) fn sweep_step(&self, at: usize, now: u64, firing: &mut impl Firing<T>) -> usize {
        let Some(lane) = self.lanes.get(at) else {
            return 0;
        };
        let rows = firing.rows();
        let (removed, mut spent) = {
            let Some(mut swept) = try_lock(&lane.wheel) else {
                return 0;
            };
            let mut again = std::mem::take(&mut swept.again);
            let mut spent = std::mem::take(&mut swept.spent);
            let ran = self.run(
                lane,
                &mut swept,
                (now, now / TICK_NANOS),
                STEP_BUDGET,
                (Some(rows), 0),
                firing,
                (&mut again, &mut spent),
            );
            rearm(&mut swept.wheel, &mut again);
            swept.again = again;
            lane.held.store(swept.wheel.len(), Ordering::Relaxed);
            (ran.removed, spent)
        };
        spent.clear();
        // The buffer back for the next step, unless another sweep holds
        // the wheel now (then it goes, and the next step grows one).
        if let Some(mut swept) = try_lock(&lane.wheel)
            && swept.spent.capacity() == 0
        {
            swept.spent = spent;
        }
        firing.between_chunks();
        removed
    }

    /// Drains the lane's inbox, advances its wheel through `through` (a
    /// tick; `now` is the clock) and goes on with a pruning pass if one is
    /// under way or due, within `budget` timers. A pass is due when the
    /// lane's timers plus `others` (held by other lanes) outnumber twice
    /// `rows` plus [`PRUNE_SLACK`]; with `rows` `None`, none begins.
    #[allow(clippy::too_many_arguments)] // one private step, called twice
    fn run(
        &self,
        lane: &Lane<T>,
        swept: &mut Swept<T>,
        (now, through): (u64, u64),
        mut budget: usize,
        (rows, others): (Option<usize>, usize),
        firing: &mut impl Firing<T>,
        (again, spent): (&mut Vec<(u64, T)>, &mut Vec<T>),
    ) -> Ran {
        let Swept { wheel, pruning, .. } = swept;
        while budget > 0 {
            let Some((tick, timer)) = lane.inbox.pop() else {
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
                Fired::Removed(timer) => {
                    removed += 1;
                    spent.push(timer);
                }
                Fired::Stale(timer) => spent.push(timer),
                Fired::NotYet(tick, timer) => again.push((tick, timer)),
            });
        let caught_up = drained && reached;
        if caught_up {
            lane.caught_up_at.fetch_max(now, Ordering::Relaxed);
        }
        let crowded = |wheel: &Wheel<T>, again: &Vec<(u64, T)>| {
            let held = wheel.len() + lane.inbox.len() + again.len() + others;
            rows.is_some_and(|rows| held > rows.saturating_mul(2).saturating_add(PRUNE_SLACK))
        };
        let began = pruning.is_none() && crowded(wheel, again);
        if began {
            *pruning = Some(PruneCursor::default());
        }
        let mut passed = false;
        if let Some(cursor) = pruning
            && budget > 0
            && wheel.prune(cursor, budget, |t| firing.counts(t), |t| spent.push(t))
        {
            *pruning = None;
            passed = true;
        }
        Ran {
            removed,
            caught_up,
            idle: pruning.is_none(),
            crowded: crowded(wheel, again),
            began,
            passed,
        }
    }
}

/// Puts back the timers a sweep found early, once the sweep is done.
fn rearm<T>(wheel: &mut Wheel<T>, again: &mut Vec<(u64, T)>) {
    for (tick, timer) in again.drain(..) {
        wheel.schedule(tick, timer);
    }
}

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
    #![allow(clippy::disallowed_types, clippy::unwrap_used)] // plain threads, as tests do

    use super::{Expiry, Fired, Firing, TICK_NANOS, own_lane};

    /// Fires every timer (a `u64` id) it is handed, and remembers it.
    #[derive(Default)]
    struct Record(Vec<u64>);

    impl Firing<u64> for Record {
        fn fire(&mut self, timer: u64) -> Fired<u64> {
            self.0.push(timer);
            Fired::Removed(timer)
        }
        fn counts(&mut self, _: &u64) -> bool {
            true
        }
        fn rows(&mut self) -> usize {
            0
        }
        fn between_chunks(&mut self) {}
    }

    /// Timers filed by a thread that then stops writing still fire from
    /// another writer's steps (in turn, one other lane per call that finds
    /// its own lane swept), with nobody calling `evict_expired`: memory
    /// stays bounded however the writing moves between threads.
    #[test]
    fn a_quiet_lanes_timers_fire_from_other_writers_steps() {
        let expiry = Expiry::<u64>::new();
        let mine = own_lane();
        // A thread whose lane is not this one (threads take lanes in turn).
        let mut theirs = mine;
        for _ in 0..32 {
            theirs = std::thread::scope(|s| {
                s.spawn(|| {
                    let lane = own_lane();
                    if lane != mine {
                        for id in 0..10 {
                            expiry.schedule(1 + id % 3, id);
                        }
                    }
                    lane
                })
                .join()
                .unwrap()
            });
            if theirs != mine {
                break;
            }
        }
        assert_ne!(theirs, mine, "no thread got another lane");
        assert_eq!(expiry.pending(), 10);
        let mut record = Record::default();
        for tick in 10..100 {
            let now = tick * TICK_NANOS;
            // Twice per tick: the first call steps this thread's own lane,
            // the second (own lane just swept) another one.
            for _ in 0..2 {
                if let Some(lane) = expiry.wants_help(now) {
                    expiry.sweep_step(lane, now, &mut record);
                }
            }
        }
        record.0.sort_unstable();
        assert_eq!(record.0, (0..10).collect::<Vec<_>>());
        assert_eq!(expiry.pending(), 0);
        expiry.validate().unwrap();
    }

    /// Ids from this one up are stale timers; below it, rows that expire.
    const STALE: u64 = 1000;

    /// Rows that remove themselves when their timer fires, counted down;
    /// timers from [`STALE`] up no longer count.
    struct Rows(usize);

    impl Firing<u64> for Rows {
        fn fire(&mut self, timer: u64) -> Fired<u64> {
            if timer >= STALE {
                return Fired::Stale(timer);
            }
            self.0 -= 1;
            Fired::Removed(timer)
        }
        fn counts(&mut self, timer: &u64) -> bool {
            *timer < STALE
        }
        fn rows(&mut self) -> usize {
            self.0
        }
        fn between_chunks(&mut self) {}
    }

    /// `evict_expired` weighs the timers held against the rows left once
    /// everything due has fired, in every lane: stale timers in a lane swept
    /// before the lane whose rows expire are pruned all the same. (When one
    /// round decided both, two rows were left holding 95 timers.)
    #[test]
    fn a_sweep_prunes_against_the_rows_its_firing_left() {
        let expiry = Expiry::<u64>::new();
        let (due, stale) = (100, 100);
        // Stale timers in one lane, due ones in a later lane (threads take
        // lanes in turn, so a few threads find both). Each thread files into
        // its own lane and says which timers it filed.
        let mut stale_lane: Option<usize> = None;
        let mut both = false;
        for _ in 0..32 {
            let (lane, filed_stale, filed_due) = std::thread::scope(|s| {
                s.spawn(|| {
                    let lane = own_lane();
                    let filed_stale = stale_lane.is_none() && lane + 1 < super::LANES;
                    let filed_due = stale_lane.is_some_and(|first| lane > first);
                    if filed_stale {
                        for id in 0..stale {
                            expiry.schedule(1 << 20, STALE + id);
                        }
                    }
                    if filed_due {
                        for id in 0..due {
                            expiry.schedule(1 + id % 3, id);
                        }
                    }
                    (lane, filed_stale, filed_due)
                })
                .join()
                .unwrap()
            });
            if filed_stale {
                stale_lane = Some(lane);
            }
            if filed_due {
                both = true;
                break;
            }
        }
        assert!(both, "no two threads got lanes in order");
        assert_eq!(expiry.pending(), (due + stale) as usize);
        let left = 2;
        let mut rows = Rows(due as usize + left);
        let removed = expiry.sweep_all(10 * TICK_NANOS, &mut rows);
        assert_eq!((removed, rows.0), (due as usize, left));
        assert!(
            expiry.pending() <= 2 * left + super::PRUNE_SLACK,
            "{} timers for {left} rows",
            expiry.pending()
        );
        expiry.validate().unwrap();
    }
}
