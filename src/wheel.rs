//! A hierarchical timing wheel: a plain sequential type (`&mut self`, no
//! atomics), driven from one place in the crate's `expiry` module.
//!
//! # Shape
//!
//! Time is counted in ticks of [`TICK_NANOS`] (1 ms). There are [`LEVELS`]
//! levels of 64 slots; a slot of level `l` spans `64^l` ticks, so the levels
//! cover 64 ms, 4.1 s, 4.4 min, 4.7 h, 12.4 days and 2.2 years ahead.
//! Deadlines further out than that wait in an overflow heap and move into the
//! wheel when they come within range; deadlines are `u64` ticks, so every
//! TTL up to `Duration::MAX` is representable.
//!
//! Why these sizes: 1 ms is finer than any TTL an agent host sets, and far
//! coarser than the cost of firing; the entry's exact expiry (nanoseconds) is
//! re-checked when its timer fires, and reads never depend on the wheel at
//! all. 64 slots per level let one `u64` bitmap per level say which slots are
//! occupied, so finding the next deadline is a few `trailing_zeros`.
//!
//! # Cost
//!
//! Scheduling is O(1). Advancing costs O(timers fired + timers cascaded +
//! levels), and each timer cascades at most once per level. Pruning (dropping
//! timers that became useless before their deadline) costs O(timers looked
//! at), in bounded steps.
//!
//! The level of a deadline `d` at elapsed time `e` is that of the highest bit
//! in which `d` and `e` differ; all timers in a level therefore sit in slots
//! at or after `e`'s slot of that level, inside `e`'s window of that level.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Nanoseconds per tick.
pub const TICK_NANOS: u64 = 1_000_000;
/// Slots per level (one `u64` bitmap).
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
/// Number of levels; deadlines beyond `64^LEVELS` ticks ahead overflow.
pub const LEVELS: usize = 6;

/// Timers a slot's buffer may keep room for once it is emptied (128 KiB of
/// timers of two words; 96 KiB of the store's three-word timers). Slots fill and empty once per turn of their level;
/// keeping the buffer spares the allocator a run of growing reallocations
/// (each of 1 KiB or more makes glibc consolidate its free lists) every
/// turn, while a slot that held a rare burst gives its memory back.
const KEEP_ROOM: usize = 4096;

struct Level<T> {
    occupied: u64,
    slots: Vec<Vec<(u64, T)>>,
}

impl<T> Level<T> {
    fn new() -> Self {
        Self {
            occupied: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
        }
    }
}

/// An overflowed timer, ordered by deadline only.
struct Far<T>(u64, T);
impl<T> PartialEq for Far<T> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<T> Eq for Far<T> {}
impl<T> PartialOrd for Far<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Far<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

/// Where a [`Wheel::prune`] pass has got to.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneCursor {
    /// `level * 64 + slot`; past the last slot, the overflow heap is next.
    at: usize,
    /// Timers of that slot already looked at.
    index: usize,
}

/// A hierarchical timing wheel holding payloads `T` keyed by deadline tick.
pub struct Wheel<T> {
    /// Every timer with a deadline `<= elapsed` has been handed out, except
    /// those left in place by a bounded [`Wheel::advance`].
    elapsed: u64,
    /// Empty until the first timer is placed: a store keeps a wheel per
    /// expiry lane, and lanes no thread writes TTLs into (or a store
    /// without TTLs) should not cost the 9 KiB of slot headers.
    levels: Vec<Level<T>>,
    overflow: BinaryHeap<Reverse<Far<T>>>,
    len: usize,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Level a deadline belongs in, or `LEVELS` for overflow.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (level as u32 * SLOT_BITS)) & (SLOTS as u64 - 1)) as usize
}

impl<T> Wheel<T> {
    /// An empty wheel at tick zero.
    #[must_use]
    pub fn new() -> Self {
        Self {
            elapsed: 0,
            levels: Vec::new(),
            overflow: BinaryHeap::new(),
            len: 0,
        }
    }

    /// Timers held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no timer is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tick the wheel has advanced to.
    #[must_use]
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Schedules `payload` for `deadline` (a tick). A deadline in the past
    /// fires on the next advance. O(1).
    pub fn schedule(&mut self, deadline: u64, payload: T) {
        self.len += 1;
        self.place(deadline, payload);
    }

    /// Files a timer by deadline. An overdue deadline (possible when a bounded
    /// advance resumes a coarse slot after finer ones moved time on) is filed
    /// at `elapsed`, so it fires on the current pass.
    fn place(&mut self, deadline: u64, payload: T) {
        let deadline = deadline.max(self.elapsed);
        let level = level_for(self.elapsed, deadline);
        if level >= LEVELS {
            self.overflow.push(Reverse(Far(deadline, payload)));
            return;
        }
        let slot = slot_for(deadline, level);
        if self.levels.is_empty() {
            self.levels = (0..LEVELS).map(|_| Level::new()).collect();
        }
        let lvl = &mut self.levels[level];
        lvl.occupied |= 1 << slot;
        lvl.slots[slot].push((deadline, payload));
    }

    /// The earliest occupied slot: `(level, slot, slot start tick)`.
    ///
    /// Normally the first occupied level holds it (finer levels cover earlier
    /// time), but a coarse slot left half-cascaded by a bounded advance sits at
    /// the current position and is older than anything finer; so take the
    /// minimum over the levels (coarser first on ties, so it cascades first).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for (level, lvl) in self.levels.iter().enumerate().rev() {
            if lvl.occupied == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let now_slot = slot_for(self.elapsed, level) as u32;
            let ahead = lvl.occupied >> now_slot;
            debug_assert!(ahead != 0, "a timer sits behind the wheel's position");
            if ahead == 0 {
                continue;
            }
            let slot = now_slot + ahead.trailing_zeros();
            let window = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
            let start = window + (u64::from(slot) << shift);
            if best.is_none_or(|b| start < b.2) {
                best = Some((level, slot as usize, start));
            }
        }
        best
    }

    /// Moves overflowed timers that came within the wheel's range into it.
    fn pull_overflow(&mut self) {
        while let Some(Reverse(Far(deadline, _))) = self.overflow.peek() {
            if level_for(self.elapsed, *deadline) >= LEVELS {
                return;
            }
            if let Some(Reverse(Far(deadline, payload))) = self.overflow.pop() {
                self.place(deadline, payload);
            }
        }
    }

    /// Advances to tick `now`, handing every timer whose deadline is `<= now`
    /// to `fire` (with the tick it was filed at, which is its deadline, or
    /// later if it was scheduled in the past), earliest slot first. Stops
    /// early once `budget` timers were fired or cascaded; returns whether it
    /// reached `now` (false: call again to continue).
    pub fn advance(&mut self, now: u64, mut budget: usize, fire: impl FnMut(u64, T)) -> bool {
        self.advance_within(now, &mut budget, fire)
    }

    /// [`Wheel::advance`], spending from `budget` (what is left stays there).
    ///
    /// Unwind-safe: timers are taken from their slot one at a time, and the
    /// count and the slot's occupied bit are settled before `fire` runs, so
    /// a `fire` that panics loses only its own timer and leaves the wheel
    /// well formed.
    pub fn advance_within(
        &mut self,
        now: u64,
        budget: &mut usize,
        mut fire: impl FnMut(u64, T),
    ) -> bool {
        loop {
            self.pull_overflow();
            let Some((level, slot, start)) = self.next_slot().filter(|s| s.2 <= now) else {
                // Nothing in the wheel is due. An overflowed timer may be: jump
                // to it (every wheel timer is later, so positions stay valid).
                if let Some(Reverse(Far(first, _))) = self.overflow.peek()
                    && *first <= now
                {
                    self.elapsed = self.elapsed.max(*first);
                    continue;
                }
                self.elapsed = self.elapsed.max(now);
                self.pull_overflow();
                return true;
            };
            self.elapsed = self.elapsed.max(start);
            loop {
                let lvl = &mut self.levels[level];
                let Some((deadline, payload)) = lvl.slots[slot].pop() else {
                    break;
                };
                if *budget == 0 {
                    lvl.slots[slot].push((deadline, payload));
                    return false;
                }
                *budget -= 1;
                if lvl.slots[slot].is_empty() {
                    lvl.occupied &= !(1 << slot);
                }
                if level == 0 || level_for(self.elapsed, deadline) >= level {
                    // Level 0 fires. A coarse timer that would not move to a
                    // finer level cannot exist (see the module docs); firing it
                    // early is harmless, because the owner re-checks exact
                    // expiry, whereas re-placing it could loop forever.
                    debug_assert!(level == 0, "cascade must reach a finer level");
                    self.len -= 1;
                    fire(deadline, payload);
                } else {
                    // Cascades only move timers to finer levels, never back
                    // into this slot.
                    self.place(deadline, payload);
                }
            }
            // A slot that held a rare burst gives its memory back.
            let emptied = &mut self.levels[level].slots[slot];
            if emptied.capacity() > KEEP_ROOM {
                *emptied = Vec::new();
            }
        }
    }

    /// Drops the timers `keep` refuses, handing each to `discard`: up to
    /// `budget` timers looked at, from where `cursor` says the last call
    /// stopped. Returns true once a pass over the whole wheel is complete
    /// (the cursor then starts over).
    ///
    /// For timers that became useless before their deadline (their owner
    /// rescheduled or went away): without this they would be held until
    /// they came due. The slots are visited in a fixed order; timers filed
    /// or cascaded meanwhile behind the cursor wait for the next pass.
    /// The overflow heap (deadlines years ahead) is filtered in one go at
    /// the end of a pass.
    pub fn prune(
        &mut self,
        cursor: &mut PruneCursor,
        mut budget: usize,
        mut keep: impl FnMut(&T) -> bool,
        mut discard: impl FnMut(T),
    ) -> bool {
        let Self { levels, len, .. } = self;
        // A wheel that never held a timer in its levels has no slots to visit.
        let slots = if levels.is_empty() { 0 } else { LEVELS * SLOTS };
        while cursor.at < slots {
            let (level, slot) = (cursor.at / SLOTS, cursor.at % SLOTS);
            let lvl = &mut levels[level];
            let timers = &mut lvl.slots[slot];
            while cursor.index < timers.len() {
                if budget == 0 {
                    return false;
                }
                budget -= 1;
                if keep(&timers[cursor.index].1) {
                    cursor.index += 1;
                } else {
                    let (_, payload) = timers.swap_remove(cursor.index);
                    *len -= 1;
                    if timers.is_empty() {
                        lvl.occupied &= !(1 << slot);
                    }
                    discard(payload);
                }
            }
            // A slot mostly pruned gives back what it no longer needs.
            if timers.capacity() > KEEP_ROOM && timers.len() < timers.capacity() / 4 {
                timers.shrink_to(KEEP_ROOM.max(timers.len() * 2));
            }
            cursor.at += 1;
            cursor.index = 0;
        }
        let far = std::mem::take(&mut self.overflow).into_vec();
        let mut kept = Vec::with_capacity(far.len());
        for Reverse(Far(deadline, payload)) in far {
            if keep(&payload) {
                kept.push(Reverse(Far(deadline, payload)));
            } else {
                self.len -= 1;
                discard(payload);
            }
        }
        self.overflow = BinaryHeap::from(kept);
        *cursor = PruneCursor::default();
        true
    }

    /// Removes and returns a timer from the earliest occupied slot, without
    /// advancing time: the timer due soonest, or (from a coarse slot) one of
    /// the timers due soonest. For evicting entries closest to expiry.
    pub fn pop_earliest(&mut self) -> Option<(u64, T)> {
        self.pull_overflow();
        let Some((level, slot, _)) = self.next_slot() else {
            let Reverse(Far(deadline, payload)) = self.overflow.pop()?;
            self.len -= 1;
            return Some((deadline, payload));
        };
        let lvl = &mut self.levels[level];
        let popped = lvl.slots[slot].pop();
        if lvl.slots[slot].is_empty() {
            lvl.occupied &= !(1 << slot);
        }
        if popped.is_some() {
            self.len -= 1;
        }
        popped
    }

    /// Checks the wheel's invariants: occupied bits match slots, every timer
    /// sits in the slot of its deadline at a level no finer than it needs, and
    /// the count is right. O(timers); for tests, fuzzing and debugging.
    ///
    /// # Errors
    ///
    /// A description of the first broken invariant.
    pub fn check(&self) -> Result<(), String> {
        let mut count = self.overflow.len();
        for (level, lvl) in self.levels.iter().enumerate() {
            for (slot, timers) in lvl.slots.iter().enumerate() {
                if (lvl.occupied & (1 << slot) != 0) == timers.is_empty() {
                    return Err(format!("occupied bit of level {level} slot {slot}"));
                }
                for &(deadline, _) in timers {
                    if slot_for(deadline, level) != slot {
                        return Err(format!("deadline {deadline} in level {level} slot {slot}"));
                    }
                    if level_for(self.elapsed, deadline) > level {
                        return Err(format!("deadline {deadline} filed too fine at {level}"));
                    }
                }
                count += timers.len();
            }
        }
        if count != self.len {
            return Err(format!("len {} but {count} timers held", self.len));
        }
        Ok(())
    }

    #[cfg(test)]
    fn validate(&self) {
        if let Err(e) = self.check() {
            panic!("wheel invariant broken: {e}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types)] // proptest's macros expand to std's Arc
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Drives a wheel and a brute-force model (a map of pending timers) with
    /// the same operations and checks that exactly the due timers fire.
    struct Checked {
        wheel: Wheel<u64>,
        pending: BTreeMap<u64, u64>, // id -> deadline
        now: u64,
        next_id: u64,
    }

    impl Checked {
        fn new() -> Self {
            Self {
                wheel: Wheel::new(),
                pending: BTreeMap::new(),
                now: 0,
                next_id: 0,
            }
        }

        fn schedule(&mut self, deadline: u64) {
            let id = self.next_id;
            self.next_id += 1;
            self.pending.insert(id, deadline.max(self.wheel.elapsed()));
            self.wheel.schedule(deadline, id);
            self.wheel.validate();
        }

        /// A bounded prune step that drops the timers whose id is `odd`
        /// modulo 2 (a stand-in for "rescheduled or gone").
        fn prune(&mut self, cursor: &mut PruneCursor, budget: usize, odd: u64) {
            let mut dropped = Vec::new();
            let before = self.wheel.len();
            let done = self
                .wheel
                .prune(cursor, budget, |id| id % 2 != odd, |id| dropped.push(id));
            self.wheel.validate();
            // The overflow heap is filtered in one go, at the end of a pass.
            assert!(done || dropped.len() <= budget);
            for id in &dropped {
                assert_eq!(id % 2, odd, "kept timer {id} dropped");
                assert!(
                    self.pending.remove(id).is_some(),
                    "timer {id} dropped twice"
                );
            }
            assert_eq!(self.wheel.len(), before - dropped.len());
            assert_eq!(self.wheel.len(), self.pending.len());
        }

        fn advance(&mut self, to: u64, budget: usize) {
            let to = to.max(self.now);
            let mut fired = Vec::new();
            let done = self
                .wheel
                .advance(to, budget, |deadline, id| fired.push((deadline, id)));
            self.wheel.validate();
            for &(filed, id) in &fired {
                let deadline = self
                    .pending
                    .remove(&id)
                    .expect("fired twice or never scheduled");
                assert!(deadline <= to, "timer {id} fired early: {deadline} > {to}");
                assert!(
                    (deadline..=to).contains(&filed),
                    "timer {id} filed at {filed}, deadline {deadline}, now {to}"
                );
            }
            if done {
                self.now = to;
                let overdue: Vec<_> = self.pending.iter().filter(|(_, d)| **d <= to).collect();
                assert!(overdue.is_empty(), "not fired by {to}: {overdue:?}");
            } else {
                assert!(fired.len() <= budget);
            }
            assert_eq!(self.wheel.len(), self.pending.len());
        }
    }

    #[test]
    fn fires_exactly_at_level_boundaries() {
        let mut c = Checked::new();
        for level in 0..LEVELS as u32 {
            for delta in [0u64, 1, 2] {
                let span = 64u64.pow(level + 1);
                c.schedule(span - 1 + delta);
                c.schedule(span * 2 + delta);
            }
        }
        for to in [
            0,
            1,
            62,
            63,
            64,
            65,
            4095,
            4096,
            4097,
            1 << 20,
            1 << 30,
            1 << 36,
            1 << 40,
        ] {
            c.advance(to, usize::MAX);
        }
        assert!(c.pending.is_empty());
    }

    #[test]
    fn far_future_overflows_and_returns() {
        let mut c = Checked::new();
        let top = 64u64.pow(LEVELS as u32);
        c.schedule(top);
        c.schedule(top * 3 + 17);
        c.schedule(u64::MAX);
        c.schedule(u64::MAX - 1);
        c.advance(top - 1, usize::MAX);
        assert_eq!(c.pending.len(), 4);
        c.advance(top, usize::MAX);
        assert_eq!(c.pending.len(), 3);
        c.advance(top * 3 + 16, usize::MAX);
        c.advance(top * 3 + 17, usize::MAX);
        assert_eq!(c.pending.len(), 2);
        c.advance(u64::MAX - 1, usize::MAX);
        c.advance(u64::MAX, usize::MAX);
        assert!(c.pending.is_empty());
    }

    #[test]
    fn past_deadlines_fire_on_next_advance() {
        let mut c = Checked::new();
        c.advance(1000, usize::MAX);
        c.schedule(3);
        c.advance(1000, usize::MAX);
        assert!(c.pending.is_empty());
    }

    #[test]
    fn bounded_advance_resumes_where_it_stopped() {
        let mut c = Checked::new();
        for d in 0..500u64 {
            c.schedule(d * 37 % 5000);
        }
        while !c.pending.is_empty() {
            c.advance(6000, 7);
        }
    }

    #[test]
    fn a_complete_prune_pass_drops_every_refused_timer() {
        let mut c = Checked::new();
        // 300 under Miri: every step of `Checked` validates the whole
        // wheel, which interpreted takes minutes at 3,000 timers.
        let timers: u64 = if cfg!(miri) { 300 } else { 3000 };
        for d in 0..timers {
            c.schedule(d * 7919 % (1 << 20));
        }
        c.schedule(u64::MAX);
        c.schedule(u64::MAX - 2);
        c.advance(100, usize::MAX);
        let mut cursor = PruneCursor::default();
        let mut steps = 0;
        loop {
            c.prune(&mut cursor, 17, 1);
            steps += 1;
            if c.pending.keys().all(|id| id % 2 == 0) {
                break;
            }
            assert!(steps < 10_000, "the pass never ends");
        }
        assert!(!c.pending.is_empty());
        c.advance(u64::MAX, usize::MAX);
        assert!(c.pending.is_empty());
    }

    /// A `fire` that panics loses its own timer only: the rest of its slot
    /// stays filed and counted, and fires on the next advance.
    #[test]
    fn a_panicking_fire_leaves_the_wheel_whole() {
        let mut w: Wheel<u64> = Wheel::new();
        for id in 0..10 {
            w.schedule(5, id);
        }
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            w.advance(10, usize::MAX, |_, id| assert!(id != 6, "fire refused"));
        }));
        assert!(panicked.is_err());
        w.validate();
        let mut rest = Vec::new();
        assert!(w.advance(10, usize::MAX, |_, id| rest.push(id)));
        w.validate();
        assert!(w.is_empty());
        assert_eq!(rest.len() + 4, 10, "fired before the panic: 9, 8, 7, 6");
    }

    /// A store keeps a wheel per expiry lane: one that never held a timer
    /// in its levels has no slots allocated, and every operation works on
    /// it (a prune pass over it ends at once).
    #[test]
    fn an_unused_wheel_allocates_no_slots() {
        let mut w: Wheel<u64> = Wheel::new();
        assert!(w.levels.is_empty());
        assert!(w.advance(1000, usize::MAX, |_, _| panic!("nothing to fire")));
        assert!(w.pop_earliest().is_none());
        let mut cursor = PruneCursor::default();
        assert!(w.prune(&mut cursor, 10, |_| false, |_| panic!("nothing to drop")));
        w.validate();
        assert!(w.levels.is_empty());
        w.schedule(1005, 7);
        assert_eq!(w.levels.len(), LEVELS);
        w.validate();
        let mut fired = Vec::new();
        assert!(w.advance(1005, usize::MAX, |_, id| fired.push(id)));
        assert_eq!(fired, [7]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Schedule(u64),
        Advance(u64, usize),
        Prune(usize, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let deadline = prop_oneof![
            0u64..200,
            0u64..10_000,
            0u64..(1 << 24),
            0u64..(1 << 40),
            any::<u64>(),
        ];
        prop_oneof![
            3 => deadline.prop_map(Op::Schedule),
            1 => (0u64..(1 << 26), prop_oneof![Just(usize::MAX), 1usize..8])
                .prop_map(|(d, b)| Op::Advance(d, b)),
            1 => (0usize..40, 0u64..2).prop_map(|(b, odd)| Op::Prune(b, odd)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[cfg_attr(miri, ignore = "256 cases of up to 200 operations take too long interpreted; the wheel has no unsafe code")]
        #[test]
        fn matches_brute_force(ops in prop::collection::vec(op(), 1..200)) {
            let mut c = Checked::new();
            let mut cursor = PruneCursor::default();
            for op in ops {
                match op {
                    Op::Prune(budget, odd) => c.prune(&mut cursor, budget, odd),
                    // Deadlines relative to now, as the store schedules them.
                    Op::Schedule(d) => c.schedule(c.now.saturating_add(d)),
                    Op::Advance(d, budget) => c.advance(c.now.saturating_add(d), budget),
                }
            }
            c.advance(u64::MAX, usize::MAX);
            prop_assert!(c.pending.is_empty());
        }
    }
}
