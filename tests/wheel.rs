//! The public timing wheel (`skipstore::wheel::Wheel`) against a model: after
//! an `advance(now, ..)` that reports it reached `now`, every timer whose
//! deadline is `<= now` has fired exactly once, none fired early, and `len`
//! counts the rest.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use skipstore::wheel::{LEVELS, Wheel};

/// Ticks covered by the wheel's levels; later deadlines overflow.
const RANGE: u64 = 1 << (6 * LEVELS as u32);

/// Regression (fixed in 587380c): a bounded advance stops in the middle of
/// cascading a level-1 slot; the next advance used to fire a finer slot
/// first (moving `elapsed` past the rest of the coarse slot's deadlines),
/// then cascade the rest of the coarse slot behind the wheel (debug: the
/// `debug_assert!` in `next_slot`; release: timer 64 never handed out).
#[test]
fn a_resumed_cascade_fires_every_due_timer() {
    let mut w: Wheel<u64> = Wheel::new();
    w.schedule(64, 64);
    w.schedule(100, 100);
    let mut fired = Vec::new();
    assert!(!w.advance(200, 1, |_, t| fired.push(t)));
    assert!(w.advance(200, usize::MAX, |_, t| fired.push(t)));
    fired.sort_unstable();
    assert_eq!(fired, vec![64, 100]);
    assert!(w.is_empty());
}

/// Regression (fixed in 587380c): a deadline beyond the wheel's range waits
/// in the overflow heap; an advance that jumped past it in one step never
/// handed it out (`pull_overflow` ran after `elapsed` jumped to `now`, and
/// `place` did not clamp the deadline to `elapsed`).
#[test]
fn an_overflowed_timer_fires_after_a_long_jump() {
    let mut w: Wheel<u64> = Wheel::new();
    let d = RANGE + 1000;
    w.schedule(d, d);
    let mut fired = Vec::new();
    assert!(w.advance(d + RANGE / 4, usize::MAX, |_, t| fired.push(t)));
    assert_eq!(fired, vec![d]);
    assert!(w.is_empty());
}

/// Same, jumping far beyond: the timer used to stay in the overflow heap
/// forever (blocking every later overflowed timer behind it).
#[test]
fn an_overflowed_timer_fires_after_a_very_long_jump() {
    let mut w: Wheel<u64> = Wheel::new();
    let d = RANGE + 1000;
    w.schedule(d, d);
    let mut fired = Vec::new();
    assert!(w.advance(d * 8, usize::MAX, |_, t| fired.push(t)));
    assert!(w.advance(d * 9, usize::MAX, |_, t| fired.push(t)));
    assert_eq!(fired, vec![d]);
}

#[test]
fn timers_fire_in_time_with_an_unbounded_budget() {
    let mut w: Wheel<u64> = Wheel::new();
    let deadlines = [0, 1, 63, 64, 65, 4095, 4096, 300_000, RANGE / 2, RANGE - 1];
    for d in deadlines {
        w.schedule(d, d);
    }
    let mut fired = Vec::new();
    let mut now = 0;
    for step in [0, 1, 62, 1, 1, 4000, 100_000, RANGE / 2, RANGE / 2] {
        now += step;
        assert!(w.advance(now, usize::MAX, |_, t| fired.push(t)));
        assert!(fired.iter().all(|&d| d <= now), "fired early at {now}");
    }
    assert_eq!(fired.len(), deadlines.len());
    assert!(w.is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    /// Schedule at `now + ahead` (or in the past when `behind`).
    Schedule { ahead: u64, behind: bool },
    /// Advance by `by` ticks with this budget (`None`: unbounded).
    Advance { by: u64, budget: Option<usize> },
}

/// How far ahead deadlines and advances reach: `max` bounds the largest.
fn ahead(max: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..130,
        3 => 0u64..10_000,
        2 => 0u64..(1 << 24),
        1 => 0u64..max,
    ]
}

fn ops(max: u64, budgets: bool) -> impl Strategy<Value = Vec<Op>> {
    let budget = if budgets {
        prop::option::weighted(0.5, 1usize..6).boxed()
    } else {
        Just(None).boxed()
    };
    let op = prop_oneof![
        5 => (ahead(max), prop::bool::weighted(0.1))
            .prop_map(|(ahead, behind)| Op::Schedule { ahead, behind }),
        3 => (ahead(max), budget).prop_map(|(by, budget)| Op::Advance { by, budget }),
    ];
    prop::collection::vec(op, 1..80)
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut wheel: Wheel<u64> = Wheel::new();
    // id -> deadline, for timers not yet fired.
    let mut pending: BTreeMap<u64, u64> = BTreeMap::new();
    let mut now = 0u64;
    let mut next_id = 0u64;
    for op in ops {
        match op {
            Op::Schedule { ahead, behind } => {
                let deadline = if behind {
                    now.saturating_sub(ahead)
                } else {
                    now + ahead
                };
                wheel.schedule(deadline, next_id);
                pending.insert(next_id, deadline);
                next_id += 1;
            }
            Op::Advance { by, budget } => {
                now += by;
                let budget = budget.unwrap_or(usize::MAX);
                let mut fired = Vec::new();
                let mut rounds = 0;
                while !wheel.advance(now, budget, |_, id| fired.push(id)) {
                    rounds += 1;
                    prop_assert!(rounds < 100_000, "advance never finishes");
                }
                for id in fired {
                    let d = pending.remove(&id);
                    prop_assert!(d.is_some(), "timer {} fired twice", id);
                    prop_assert!(d.unwrap() <= now, "timer {} fired early", id);
                }
                let overdue: Vec<_> = pending.iter().filter(|(_, d)| **d <= now).collect();
                prop_assert!(
                    overdue.is_empty(),
                    "due at {} but not fired: {:?}",
                    now,
                    overdue
                );
            }
        }
        prop_assert_eq!(wheel.len(), pending.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Deadlines within the wheel's range, unbounded advances.
    #[test]
    fn wheel_matches_model(ops in ops(RANGE / 4, false)) {
        check(ops)?;
    }

    /// Bounded advances (as the writers' amortised sweep steps run them).
    #[test]
    fn wheel_matches_model_with_bounded_advances(ops in ops(RANGE / 4, true)) {
        check(ops)?;
    }

    /// Deadlines and jumps beyond the wheel's range (the overflow heap).
    #[test]
    fn wheel_matches_model_with_overflow(ops in ops(RANGE * 4, false)) {
        check(ops)?;
    }
}
