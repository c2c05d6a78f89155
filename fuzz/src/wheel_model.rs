//! The `wheel` target: `skipstore::wheel::Wheel<u64>` alone, against a
//! brute-force model (a map of pending timer ids to deadlines).
//!
//! Deadlines are drawn relative to the wheel's position and absolute,
//! including the past and the last ticks before `u64::MAX`; advances go
//! forwards, backwards (the store can advance with a stale `now`) and to the
//! end of time, with budgets from zero to unlimited. After every step:
//!
//! * each fired timer was pending, with its deadline at or before the
//!   target, and was filed at a tick in `[deadline, target]`;
//! * no more timers fired than the budget allowed;
//! * an advance that reports completion left nothing pending at or before
//!   the target, and moved the wheel to the target (or left it, if ahead);
//! * the wheel never moves backwards, `check()` holds and `len()` matches;
//! * a pruning step drops only timers its predicate refuses (ids of one
//!   parity), each at most once and within its budget (the overflow heap
//!   is filtered whole at the end of a pass), and the rest stay due.
//!
//! A timer scheduled in the past is due at the wheel's position when it is
//! scheduled (it fires on the next advance), so the model records
//! `max(deadline, elapsed)` as its deadline.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use skipstore::wheel::{LEVELS, PruneCursor, Wheel};

const MAX_STEPS: usize = 2_000;
/// Budget of the final drain's advances.
const DRAIN_BUDGET: usize = 3;

#[derive(Arbitrary, Debug)]
enum Deadline {
    Ahead(u16),
    AheadWide(u32),
    AheadAny(u64),
    Absolute(u64),
    NearMax(u16),
    Past(u16),
}

impl Deadline {
    fn tick(&self, elapsed: u64) -> u64 {
        match *self {
            Self::Ahead(d) => elapsed.saturating_add(u64::from(d)),
            Self::AheadWide(d) => elapsed.saturating_add(u64::from(d)),
            Self::AheadAny(d) => elapsed.saturating_add(d),
            Self::Absolute(t) => t,
            Self::NearMax(d) => u64::MAX - u64::from(d),
            Self::Past(d) => elapsed.saturating_sub(u64::from(d)),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Target {
    Ahead(u16),
    AheadWide(u32),
    AheadAny(u64),
    Absolute(u64),
    NearMax(u16),
    Back(u16),
    End,
}

impl Target {
    fn tick(&self, elapsed: u64) -> u64 {
        match *self {
            Self::Ahead(d) => elapsed.saturating_add(u64::from(d)),
            Self::AheadWide(d) => elapsed.saturating_add(u64::from(d)),
            Self::AheadAny(d) => elapsed.saturating_add(d),
            Self::Absolute(t) => t,
            Self::NearMax(d) => u64::MAX - u64::from(d),
            Self::Back(d) => elapsed.saturating_sub(u64::from(d)),
            Self::End => u64::MAX,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Budget {
    Unlimited,
    Small(u8),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Schedule(Deadline),
    Advance {
        to: Target,
        budget: Budget,
    },
    /// A pruning step that drops the timers whose id has this parity.
    Prune {
        budget: Budget,
        odd: bool,
    },
}

struct Checked {
    wheel: Wheel<u64>,
    /// Timer id -> the tick it is due at.
    pending: BTreeMap<u64, u64>,
    next_id: u64,
    /// The pruning pass under way.
    cursor: PruneCursor,
}

impl Checked {
    fn schedule(&mut self, deadline: u64) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, deadline.max(self.wheel.elapsed()));
        self.wheel.schedule(deadline, id);
    }

    /// Advances the wheel and checks what fired; returns whether it finished.
    fn advance(&mut self, to: u64, budget: usize, at: &str) -> bool {
        let before = self.wheel.elapsed();
        let mut fired = Vec::new();
        let done = self
            .wheel
            .advance(to, budget, |filed, id| fired.push((filed, id)));
        assert!(
            fired.len() <= budget,
            "{at}: {} fired, budget {budget}",
            fired.len()
        );
        for &(filed, id) in &fired {
            let Some(deadline) = self.pending.remove(&id) else {
                panic!("{at}: timer {id} fired twice or was never scheduled");
            };
            assert!(
                deadline <= to,
                "{at}: timer {id} due {deadline} fired by {to}"
            );
            assert!(
                (deadline..=to).contains(&filed),
                "{at}: timer {id} due {deadline} filed at {filed}, target {to}"
            );
        }
        let elapsed = self.wheel.elapsed();
        assert!(
            elapsed >= before,
            "{at}: wheel went back from {before} to {elapsed}"
        );
        assert!(
            elapsed <= before.max(to),
            "{at}: wheel ran ahead to {elapsed}"
        );
        if done {
            assert_eq!(
                elapsed,
                before.max(to),
                "{at}: finished short of the target"
            );
            let overdue: Vec<_> = self.pending.iter().filter(|(_, d)| **d <= to).collect();
            assert!(overdue.is_empty(), "{at}: not fired by {to}: {overdue:?}");
        }
        done
    }

    /// A pruning step: drops only refused timers, each once, within the
    /// budget (the overflow heap is filtered whole at the end of a pass).
    fn prune(&mut self, budget: usize, odd: bool, at: &str) {
        let parity = u64::from(odd);
        let mut dropped = Vec::new();
        let done = self.wheel.prune(
            &mut self.cursor,
            budget,
            |id| id % 2 != parity,
            |id| dropped.push(id),
        );
        assert!(
            done || dropped.len() <= budget,
            "{at}: {} dropped, budget {budget}",
            dropped.len()
        );
        for id in dropped {
            assert_eq!(id % 2, parity, "{at}: kept timer {id} dropped");
            assert!(
                self.pending.remove(&id).is_some(),
                "{at}: timer {id} dropped twice or never scheduled"
            );
        }
    }

    fn check(&self, at: &str) {
        if let Err(e) = self.wheel.check() {
            panic!("{at}: wheel invariant broken: {e}");
        }
        assert_eq!(self.wheel.len(), self.pending.len(), "{at}: len");
        assert_eq!(
            self.wheel.is_empty(),
            self.pending.is_empty(),
            "{at}: is_empty"
        );
    }

    /// Runs the wheel to the end of time in small steps: it must finish in
    /// bounded work and fire everything.
    fn drain(&mut self) {
        // Each timer is fired once and cascaded at most once per level.
        let work = (self.pending.len() + 1) * (LEVELS + 2);
        let mut calls = 0;
        while !self.advance(u64::MAX, DRAIN_BUDGET, "drain") {
            calls += 1;
            assert!(calls <= work, "drain: no end after {calls} calls");
            self.check("drain");
        }
        self.check("drain");
        assert!(self.pending.is_empty(), "drain: left {:?}", self.pending);
    }
}

/// Runs the `wheel` target on one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut c = Checked {
        wheel: Wheel::new(),
        pending: BTreeMap::new(),
        next_id: 0,
        cursor: PruneCursor::default(),
    };
    for step in 0..MAX_STEPS {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let at = format!("step {step} ({op:?})");
        match &op {
            Op::Schedule(d) => c.schedule(d.tick(c.wheel.elapsed())),
            Op::Advance { to, budget } => {
                let budget = match *budget {
                    Budget::Unlimited => usize::MAX,
                    Budget::Small(b) => usize::from(b),
                };
                c.advance(to.tick(c.wheel.elapsed()), budget, &at);
            }
            Op::Prune { budget, odd } => {
                let budget = match *budget {
                    Budget::Unlimited => usize::MAX,
                    Budget::Small(b) => usize::from(b),
                };
                c.prune(budget, *odd, &at);
            }
        }
        c.check(&at);
        if u.is_empty() {
            break;
        }
    }
    c.drain();
}
