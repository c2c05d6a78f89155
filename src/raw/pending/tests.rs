//! Unit tests of the write buffer and its sorted copies (their Miri
//! steps: `miri/run.sh`).

#![allow(clippy::disallowed_types, clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Arc, Chained, Drained, Link, Pending, Reach};
use crate::raw::pin;

struct Item {
    id: u64,
    link: Link<Item>,
}

impl Chained for Item {
    fn chain(&self) -> &Link<Self> {
        &self.link
    }
}

fn item(id: u64) -> Arc<Item> {
    Arc::new(Item {
        id,
        link: Link::new(),
    })
}

/// The ids of the buffered items, newest first.
fn buffered(p: &Pending<Item>) -> Vec<u64> {
    let mut ids = Vec::new();
    p.for_each(&pin(), |x| ids.push(x.id));
    ids
}

/// Items below this are kept by every drain; the rest are kept by some
/// drains and dropped by a later one, so drains relink past removed
/// nodes, keep runs of nodes, and drop nodes kept before.
/// Miri interprets every step, so it runs a few hundred pushes; the
/// native run, tens of thousands.
const STABLE: u64 = if cfg!(miri) { 8 } else { 64 };
const PUSH_BURSTS: u64 = if cfg!(miri) { 30 } else { 2_000 };
const BURST: u64 = if cfg!(miri) { 4 } else { 16 };
const READS: usize = if cfg!(miri) { 30 } else { 2_000 };

/// `any` visits newest first and stops at the first item it is looking
/// for; `for_each` visits them all.
#[test]
fn any_stops_at_the_first_match() {
    let p = Pending::<Item>::new();
    for id in 0..8 {
        p.push(item(id));
    }
    let mut seen = Vec::new();
    assert!(p.any(&pin(), |x| {
        seen.push(x.id);
        x.id == 5
    }));
    assert_eq!(seen, [7, 6, 5]);
    let mut seen = 0;
    assert!(!p.any(&pin(), |_| {
        seen += 1;
        false
    }));
    assert_eq!(seen, 8);
    assert_eq!(buffered(&p), [7, 6, 5, 4, 3, 2, 1, 0]);
}

/// A drain whose `keep` panics (it reads a clock, which may be the
/// user's) must not leave the buffer marked as draining: no later drain
/// would run, and every listing would walk the whole buffer.
#[test]
fn a_panicking_drain_leaves_the_buffer_drainable() {
    let p = Pending::<Item>::new();
    for id in 0..8 {
        p.push(item(id));
    }
    // A drain that keeps them all: the next drain of new items would
    // have nothing to walk, had the panicking one not reset that.
    assert!(p.drain_with(&pin(), &mut Drained::new(), Reach::All, |_, _| true));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.drain_with(&pin(), &mut Drained::new(), Reach::All, |x, _| {
            assert!(x.id != 3, "keep refused");
            true
        })
    }));
    assert!(panicked.is_err());
    assert!(!p.is_draining());
    let mut left = buffered(&p);
    left.sort_unstable();
    assert_eq!(
        left,
        (0..8).collect::<Vec<_>>(),
        "an abandoned drain lost items"
    );
    let reach = Reach::New {
        unless_kept_over: usize::MAX,
    };
    assert!(p.drain_with(&pin(), &mut Drained::new(), reach, |x, _| x.id % 2 == 0));
    let mut left = buffered(&p);
    left.sort_unstable();
    assert_eq!(left, [0, 2, 4, 6]);
}

/// Drains that remove up to [`ON_STACK`](super::ON_STACK) items hand
/// the chain's counts of them to the caller's batch, which gives each
/// back once it drops; bigger drains give theirs back on their own.
/// Either way, none is lost and none given twice.
#[test]
fn drained_counts_are_given_back_once() {
    let few = super::ON_STACK as u64;
    let n = 4 * few;
    let items: Vec<Arc<Item>> = (0..n).map(item).collect();
    let p = Pending::<Item>::new();
    for it in &items {
        p.push(Arc::clone(it));
    }
    let mut drained = Drained::new();
    // Two small drains into one batch: exactly `few` items, then one.
    assert!(p.drain_with(&pin(), &mut drained, Reach::All, |x, _| x.id >= few));
    assert!(p.drain_with(&pin(), &mut drained, Reach::All, |x, _| x.id != few));
    // The batch holds them until it drops (fewer than it retires on
    // its own), so none of those was given back yet.
    assert!(
        items[..=few as usize]
            .iter()
            .all(|it| Arc::strong_count(it) == 2)
    );
    // One big drain, past the stack's places, of the rest.
    assert!(p.drain_with(&pin(), &mut drained, Reach::All, |_, _| false));
    assert!(p.is_empty());
    drop(drained);
    crate::raw::retire::reclaim_until(|| items.iter().all(|it| Arc::strong_count(it) == 1));
}

/// What a drain was shown, newest first, and the counts it passed.
fn drain_seen(p: &Pending<Item>, reach: Reach, keep: &[u64]) -> Vec<(u64, usize)> {
    let mut seen = Vec::new();
    assert!(p.drain_with(&pin(), &mut Drained::new(), reach, |x, kept| {
        seen.push((x.id, kept));
        keep.contains(&x.id)
    }));
    seen
}

/// A drain of new items hands `keep` only the items pushed since the
/// last drain (with the count kept below them), leaves the run that
/// drain kept as it was, and links what it keeps (or, keeping nothing,
/// the link into its snapshot) to that run; once the run is longer than
/// the caller allows, or after a drain of every item, it walks every
/// item. No item's count is lost or given back twice.
#[test]
fn a_drain_of_new_items_leaves_the_kept_run_alone() {
    let items: Vec<Arc<Item>> = (0..12).map(item).collect();
    let p = Pending::<Item>::new();
    let new = |over| Reach::New {
        unless_kept_over: over,
    };
    for it in &items[..4] {
        p.push(Arc::clone(it));
    }
    // No drain before: a walk of every item, whatever the reach.
    let seen = drain_seen(&p, new(8), &[0, 2]);
    assert_eq!(seen, [(3, 0), (2, 0), (1, 1), (0, 1)]);
    assert_eq!(buffered(&p), [2, 0]);
    // New items only: removed above and below the one kept, which
    // then links past them to the kept run.
    for it in &items[4..8] {
        p.push(Arc::clone(it));
    }
    let seen = drain_seen(&p, new(8), &[6]);
    assert_eq!(seen, [(7, 2), (6, 2), (5, 3), (4, 3)]);
    assert_eq!(buffered(&p), [6, 2, 0]);
    // Keeping none of the new: the head moves down to the kept run.
    for it in &items[8..10] {
        p.push(Arc::clone(it));
    }
    assert_eq!(drain_seen(&p, new(3), &[]), [(9, 3), (8, 3)]);
    assert_eq!(buffered(&p), [6, 2, 0]);
    // Counted since the last drain: the kept items are not.
    assert_eq!(p.push(Arc::clone(&items[10])), 1);
    // The kept run (3) is longer than allowed (2): every item.
    let seen = drain_seen(&p, new(2), &[10, 6, 0]);
    assert_eq!(seen, [(10, 0), (6, 1), (2, 2), (0, 2)]);
    assert_eq!(buffered(&p), [10, 6, 0]);
    // A drain of every item, then new items only again.
    p.push(Arc::clone(&items[11]));
    assert_eq!(drain_seen(&p, new(8), &[11]), [(11, 3)]);
    assert_eq!(drain_seen(&p, Reach::All, &[6]).len(), 4);
    assert_eq!(buffered(&p), [6]);
    assert!(drain_seen(&p, new(8), &[]).is_empty());
    assert_eq!(drain_seen(&p, Reach::All, &[]), [(6, 0)]);
    assert!(p.is_empty());
    crate::raw::retire::reclaim_until(|| items.iter().all(|it| Arc::strong_count(it) == 1));
}

/// Stops the other threads of a racing test even if a check fails.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A buffer holding the items every racing drain keeps.
fn stable_buffer() -> Pending<Item> {
    let p = Pending::<Item>::new();
    for id in 0..STABLE {
        p.push(item(id));
    }
    p
}

#[test]
fn drains_keep_exactly_what_they_are_told_under_readers_and_pushers() {
    let p = stable_buffer();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (p, stop) = (&p, &stop);
            s.spawn(move || {
                // A bounded number of pushes, in bursts, so the drainer
                // keeps up (pushes are cheaper than a drain's walk).
                for burst in 0..PUSH_BURSTS {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    for i in 0..BURST {
                        p.push(item(1_000 + 2 * (burst * BURST + i) + t));
                    }
                    std::thread::yield_now();
                }
            });
        }
        let (p, stop) = (&p, &stop);
        s.spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                // Every third drain walks every item; the others only
                // the new ones, above the run the last drain kept.
                let reach = if round.is_multiple_of(3) {
                    Reach::All
                } else {
                    Reach::New {
                        unless_kept_over: 4 * STABLE as usize,
                    }
                };
                assert!(
                    p.drain_with(&pin(), &mut Drained::new(), reach, |x, _| x.id < STABLE
                        || (x.id + round).is_multiple_of(3))
                );
            }
        });
        let _stop = StopOnDrop(stop);
        for _ in 0..READS {
            let mut seen = HashSet::new();
            p.for_each(&pin(), |x| {
                assert!(seen.insert(x.id), "item {} listed twice", x.id)
            });
            for id in 0..STABLE {
                assert!(seen.contains(&id), "kept item {id} missed");
            }
        }
    });
    assert!(
        p.drain_with(&pin(), &mut Drained::new(), Reach::All, |x, _| x.id
            < STABLE)
    );
    let mut left = buffered(&p);
    left.sort_unstable();
    assert_eq!(left, (0..STABLE).collect::<Vec<_>>());
    // Counted since the last drain: the kept items are not.
    assert_eq!(p.push(item(STABLE)), 1);
    assert!(p.drain_with(&pin(), &mut Drained::new(), Reach::All, |_, _| false));
    assert!(p.is_empty());
}

/// The ids of the sorted view of `p` (keeping it from `keep_at` items),
/// and whether the view is the copy the buffer keeps.
fn sorted_ids(p: &Pending<Item>, keep_at: usize, wanted: impl Fn(&Item) -> bool) -> Vec<u64> {
    let guard = pin();
    let view = p.sorted(&guard, keep_at, wanted, |a, b| a.id.cmp(&b.id));
    view.from(|_| false).map(|x| x.id).collect()
}

/// The copy on `p`: its address, its ids, whether it is current.
fn copy(p: &Pending<Item>) -> Option<(usize, Vec<u64>, bool)> {
    p.kept_copy(&pin(), |x| x.id)
}

/// A copy stands for the chain until an item is pushed (then the next
/// reader merges the new items into it) or a drain unlinks one (then
/// it is gone); a drain that unlinks nothing leaves it.
#[test]
fn a_sorted_copy_stands_until_a_push_or_an_unlink() {
    let p = Pending::<Item>::new();
    let all = |_: &Item| true;
    for id in [5, 3, 9, 1] {
        p.push(item(id));
    }
    // Too few to keep: the reader's own.
    assert_eq!(sorted_ids(&p, 5, all), [1, 3, 5, 9]);
    assert!(copy(&p).is_none());
    assert_eq!(sorted_ids(&p, 4, all), [1, 3, 5, 9]);
    let (first, ids, current) = copy(&p).expect("kept");
    assert_eq!((ids, current), (vec![1, 3, 5, 9], true));
    // Read from the copy: no walk sorts again.
    assert_eq!(sorted_ids(&p, 4, |_| false), [1, 3, 5, 9]);
    assert_eq!(copy(&p).expect("kept").0, first);
    let guard = pin();
    let from = p.sorted(&guard, 4, all, |a, b| a.id.cmp(&b.id));
    let ids: Vec<u64> = from.from(|x| x.id < 4).map(|x| x.id).collect();
    assert_eq!(ids, [5, 9]);
    drop(guard);

    p.push(item(4));
    p.push(item(10));
    assert!(!copy(&p).expect("kept").2, "stale after a push");
    // Only the new items are walked (and filtered): the copy's stay.
    assert_eq!(sorted_ids(&p, 4, |x| x.id != 10), [1, 3, 4, 5, 9]);
    let (_, ids, current) = copy(&p).expect("kept");
    assert_eq!((ids, current), (vec![1, 3, 4, 5, 9], true));

    // A drain that keeps every item leaves the copy current.
    assert!(p.drain_with(&pin(), &mut Drained::new(), Reach::All, |_, _| true));
    assert!(
        copy(&p).expect("kept").2,
        "a drain that unlinked nothing dropped it"
    );
    // One that unlinks an item takes it away, before its count goes.
    assert!(p.drain_with(&pin(), &mut Drained::new(), Reach::All, |x, _| x.id != 3));
    assert!(copy(&p).is_none());
    assert_eq!(sorted_ids(&p, 100, all), [1, 4, 5, 9, 10]);
    assert_eq!(sorted_ids(&p, 2, all), [1, 4, 5, 9, 10]);
    assert!(copy(&p).is_some());
    // Every copy made is freed: the last one by the buffer's drop.
    drop(p);
}

/// Readers of sorted views while pushers push and a drainer drains:
/// every view is sorted, holds each item once, and holds every item
/// that stayed buffered throughout; every item a view names is valid
/// (Miri checks that), copies or not.
#[test]
fn sorted_views_under_pushers_and_drains() {
    let p = stable_buffer();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (p, stop) = (&p, &stop);
        s.spawn(move || {
            for burst in 0..PUSH_BURSTS {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                for i in 0..BURST {
                    p.push(item(1_000 + burst * BURST + i));
                }
                std::thread::yield_now();
            }
        });
        s.spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                assert!(
                    p.drain_with(&pin(), &mut Drained::new(), Reach::All, |x, _| {
                        x.id < STABLE || (x.id + round).is_multiple_of(4)
                    })
                );
                std::thread::yield_now();
            }
        });
        let _stop = StopOnDrop(stop);
        for read in 0..READS {
            // Half the reads keep their view as the copy.
            let keep_at = if read % 2 == 0 { 1 } else { usize::MAX };
            let ids = sorted_ids(p, keep_at, |_| true);
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "not sorted: {ids:?}");
            for id in 0..STABLE {
                assert!(ids.binary_search(&id).is_ok(), "kept item {id} missed");
            }
        }
    });
    assert!(p.drain_with(&pin(), &mut Drained::new(), Reach::All, |_, _| false));
    assert!(p.is_empty());
    assert_eq!(sorted_ids(&p, 1, |_| true), Vec::<u64>::new());
}
