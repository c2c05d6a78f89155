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

use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::wheel::{LEVELS, TICK_NANOS, Wheel};

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

/// The first tick at or after `nanos`.
pub(crate) fn ceil_tick(nanos: u64) -> u64 {
    nanos.div_ceil(TICK_NANOS)
}

/// The lock-free handoff from writers to the wheel.
#[cfg(not(skipstore_loom))]
struct Inbox<T>(crossbeam_queue::SegQueue<T>);

#[cfg(not(skipstore_loom))]
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

/// Under loom the inbox is a mutexed `Vec` (SegQueue spins on other threads'
/// in-flight pushes, which loom cannot schedule around).
#[cfg(skipstore_loom)]
struct Inbox<T>(Mutex<Vec<T>>);

#[cfg(skipstore_loom)]
impl<T> Inbox<T> {
    fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }
    fn push(&self, t: T) {
        lock(&self.0).push(t);
    }
    fn pop(&self) -> Option<T> {
        lock(&self.0).pop()
    }
    fn len(&self) -> usize {
        lock(&self.0).len()
    }
}

/// What to do with a timer the wheel handed out.
pub(crate) enum Fired<T> {
    /// It removed a row.
    Removed,
    /// Nothing to do (the entry was rewritten, deleted, or already gone).
    Stale,
    /// Its entry expires later within the current tick: schedule it again.
    NotYet(u64, T),
}

/// The wheel and, beside it, the timers a sweep re-arms once it is done.
struct Swept<T> {
    wheel: Wheel<T>,
    /// Where a bounded step collects the timers it must re-arm (see
    /// [`Expiry::run`]). A step holds the lock throughout and leaves it
    /// empty; the buffer stays, so steps do not allocate.
    again: Vec<(u64, T)>,
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
            }),
            caught_up_at: AtomicU64::new(0),
        }
    }

    /// Hands a timer for `expires_at` (clock nanoseconds) to the wheel.
    pub(crate) fn schedule(&self, expires_at: u64, timer: T) {
        self.inbox.push((ceil_tick(expires_at), timer));
    }

    /// Timers held (in the inbox or the wheel).
    pub(crate) fn pending(&self) -> usize {
        self.inbox.len() + lock(&self.wheel).wheel.len()
    }

    /// Checks the wheel's invariants.
    pub(crate) fn validate(&self) -> Result<(), String> {
        lock(&self.wheel).wheel.check()
    }

    /// Advances the wheel to `now` and fires everything due; returns how many
    /// rows `fire` removed. Waits for a concurrent sweep to finish.
    ///
    /// Works in chunks of [`SWEEP_CHUNK`] timers and lets go of the wheel
    /// between them: a sweeper thread descheduled mid-sweep (writers on every
    /// core) must not keep writers from helping.
    pub(crate) fn sweep_all(&self, now: u64, mut fire: impl FnMut(T) -> Fired<T>) -> usize {
        let mut removed = 0;
        // Timers that fired early are re-armed only once the sweep is done,
        // so no chunk meets them twice. Its own list: other sweeps may run
        // between its chunks.
        let mut again = Vec::new();
        // Bounded by the timers held when the sweep began (each is drained
        // once, cascades at most once per level and fires once), so writers
        // that keep adding timers cannot keep it going forever.
        let mut chunks_left = {
            let swept = lock(&self.wheel);
            (self.inbox.len() + swept.wheel.len()) * (LEVELS + 2) / SWEEP_CHUNK + 2
        };
        loop {
            let mut swept = lock(&self.wheel);
            // Through the tick that contains `now`, so that every row expired
            // by `now` is found.
            let Swept { wheel, .. } = &mut *swept;
            let (chunk, caught_up) = self.run(
                wheel,
                now,
                ceil_tick(now),
                SWEEP_CHUNK,
                &mut fire,
                &mut again,
            );
            removed += chunk;
            chunks_left -= 1;
            if caught_up || chunks_left == 0 {
                rearm(wheel, &mut again);
                return removed;
            }
        }
    }

    /// Takes one timer due soonest (for eviction), after moving a bounded
    /// number of new timers into the wheel. `None` if the wheel is busy or
    /// empty.
    pub(crate) fn pop_soonest(&self) -> Option<T> {
        let mut swept = self.wheel.try_lock().ok()?;
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
    pub(crate) fn sweep_step(&self, now: u64, fire: impl FnMut(T) -> Fired<T>) -> usize {
        let Ok(mut swept) = self.wheel.try_lock() else {
            return 0;
        };
        let Swept { wheel, again } = &mut *swept;
        let (removed, _) = self.run(wheel, now, now / TICK_NANOS, STEP_BUDGET, fire, again);
        rearm(wheel, again);
        removed
    }

    /// Drains the inbox and advances the wheel through `through` (a tick),
    /// within `budget` timers; returns the rows removed and whether it got
    /// there.
    fn run(
        &self,
        wheel: &mut Wheel<T>,
        now: u64,
        through: u64,
        mut budget: usize,
        mut fire: impl FnMut(T) -> Fired<T>,
        again: &mut Vec<(u64, T)>,
    ) -> (usize, bool) {
        while budget > 0 {
            let Some((tick, timer)) = self.inbox.pop() else {
                break;
            };
            budget -= 1;
            wheel.schedule(tick, timer);
        }
        // Timers of the last tick whose rows expire later in it come back as
        // `NotYet`, for the caller to re-arm after the sweep.
        let drained = budget > 0;
        let mut removed = 0;
        let reached = wheel.advance(through, budget, |_, timer| match fire(timer) {
            Fired::Removed => removed += 1,
            Fired::Stale => {}
            Fired::NotYet(expires_at, timer) => again.push((ceil_tick(expires_at), timer)),
        });
        let caught_up = drained && reached;
        if caught_up {
            self.caught_up_at.fetch_max(now, Ordering::Relaxed);
        }
        (removed, caught_up)
    }
}

/// Puts back the timers a sweep found early, once the sweep is done.
fn rearm<T>(wheel: &mut Wheel<T>, again: &mut Vec<(u64, T)>) {
    for (tick, timer) in again.drain(..) {
        wheel.schedule(tick, timer);
    }
}
