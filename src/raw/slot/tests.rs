//! The slot alone: the inline first version, its release, and the
//! claim of a free cell by later writes, counted with values that know
//! whether they are alive.
#![allow(clippy::disallowed_types)] // test bookkeeping, not the protocol

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::{Graveyard, Killed, Replaced, Slot, Version};
use crate::raw::retire::reclaim_until;
use crate::raw::{Unlinked, pin};

/// A value that counts itself and poisons its canary when dropped, so a
/// read of a dropped value (in a cell that stays allocated) shows.
struct Tracked {
    canary: AtomicU64,
    id: u64,
    live: Arc<AtomicI64>,
}

const ALIVE: u64 = 0xA11C_E5A1_1CE5_A11C;

impl Tracked {
    fn new(id: u64, live: &Arc<AtomicI64>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self {
            canary: AtomicU64::new(ALIVE),
            id,
            live: Arc::clone(live),
        }
    }
    fn check(&self) -> u64 {
        assert_eq!(
            self.canary.load(Ordering::SeqCst),
            ALIVE,
            "read a dropped value"
        );
        self.id
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert_eq!(
            self.canary.swap(0, Ordering::SeqCst),
            ALIVE,
            "dropped twice"
        );
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An owner as the engine's entries are: the slot in the crate's `Arc`, which an
/// overwrite's release of the inline version holds.
type Owner = crate::sync::Arc<Slot<Tracked>>;

type Grave = Graveyard<Tracked, Slot<Tracked>>;

/// What the point set's release of a killed slot's owner proves (R3):
/// here the tests know that nobody is reading.
fn released(slot: &Slot<Tracked>) -> Unlinked<'_, Slot<Tracked>> {
    Unlinked(slot)
}

fn version(id: u64, live: &Arc<AtomicI64>) -> Version<Tracked> {
    Version::new(Tracked::new(id, live), super::NEVER, None)
}

fn is_inline(slot: &Slot<Tracked>) -> bool {
    slot.tag() & super::imp::INLINE != 0
}

fn is_free(slot: &Slot<Tracked>) -> bool {
    slot.tag() & super::imp::FREE != 0
}

fn replace(owner: &Owner, id: u64, live: &Arc<AtomicI64>) -> u64 {
    let mut grave = Grave::new();
    match owner.replace_if(
        version(id, live),
        |_| true,
        |old| old.value.check(),
        &mut grave,
        || Owner::clone(owner),
        &pin(),
    ) {
        Replaced::Done(_, old) => old,
        _ => panic!("a live slot refused a plain replace"),
    }
}

#[test]
fn the_inline_cell_is_reclaimed_and_reused() {
    let live = Arc::new(AtomicI64::new(0));
    let owner: Owner = Owner::new(Slot::new(version(1, &live)));
    assert!(is_inline(&owner));
    assert_eq!(replace(&owner, 2, &live), 1);
    assert!(!is_inline(&owner), "the second version is boxed");
    // The first version is dropped in place once the epoch moves on,
    // and the cell marked free.
    reclaim_until(|| live.load(Ordering::SeqCst) == 1);
    assert!(is_free(&owner));
    assert_eq!(replace(&owner, 3, &live), 2);
    assert!(
        is_inline(&owner),
        "a free cell is claimed by the next write"
    );
    assert!(!is_free(&owner));
    assert_eq!(owner.load(&pin()).map(|v| v.value.check()), Some(3));
    // A boxed write over a free cell keeps the mark.
    assert_eq!(replace(&owner, 4, &live), 3);
    reclaim_until(|| is_free(&owner) && live.load(Ordering::SeqCst) == 1);
    // And a kill of a slot whose cell is free leaves nothing behind.
    let mut grave = Grave::new();
    let killed = owner.kill_if(
        |_| true,
        |v| assert_eq!(v.value.check(), 4),
        &mut grave,
        &pin(),
    );
    assert!(matches!(killed, Killed::Now));
    drop(grave);
    reclaim_until(|| live.load(Ordering::SeqCst) == 0 && Owner::strong_count(&owner) == 1);
}

#[test]
fn a_write_that_claims_the_cell_and_is_refused_gives_it_back() {
    let live = Arc::new(AtomicI64::new(0));
    let owner: Owner = Owner::new(Slot::new(version(1, &live)));
    replace(&owner, 2, &live);
    reclaim_until(|| is_free(&owner));
    let mut grave = Grave::new();
    let out = owner.replace_if(
        version(3, &live),
        |_| false,
        |_| (),
        &mut grave,
        || Owner::clone(&owner),
        &pin(),
    );
    assert!(matches!(out, Replaced::Declined));
    assert!(is_free(&owner), "a declined write gives the cell back");
    assert_eq!(live.load(Ordering::SeqCst), 1);
    assert_eq!(replace(&owner, 4, &live), 2);
    assert!(is_inline(&owner));
    drop(grave);
    drop(owner);
    reclaim_until(|| live.load(Ordering::SeqCst) == 0);
}

#[test]
fn racing_writers_readers_and_a_killer_lose_and_repeat_nothing() {
    use std::sync::Barrier;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};
    const WRITERS: u64 = 3;
    /// Writes that land in the reused inline cell before the kill.
    const REUSES: u64 = if cfg!(miri) { 2 } else { 50 };
    let live = Arc::new(AtomicI64::new(0));
    let owner: Owner = Owner::new(Slot::new(version(0, &live)));
    let (displaced, inline_seen) = (AtomicU64::new(0), AtomicU64::new(0));
    let killed = AtomicBool::new(false);
    // The writers, the reader and the killer.
    let start = Barrier::new(3 + 2);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (owner, live, start) = (&owner, &live, &start);
            let (displaced, inline_seen, killed) = (&displaced, &inline_seen, &killed);
            s.spawn(move || {
                start.wait();
                let mut i = 0;
                while !killed.load(Ordering::SeqCst) {
                    let mut grave = Grave::new();
                    let id = (w + 1) * 1_000_000_000 + i;
                    let out = owner.replace_if(
                        version(id, live),
                        |_| true,
                        |old| old.value.check(),
                        &mut grave,
                        || Owner::clone(owner),
                        &pin(),
                    );
                    match out {
                        Replaced::Done(..) => {
                            displaced.fetch_add(1, Ordering::SeqCst);
                            if is_inline(owner) {
                                inline_seen.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Replaced::Dead(v) => drop(v),
                        Replaced::Declined => unreachable!(),
                    }
                    drop(grave);
                    if i % 8 == 0 {
                        crossbeam_epoch::pin().flush();
                    }
                    i += 1;
                }
            });
        }
        s.spawn(|| {
            start.wait();
            while !killed.load(Ordering::SeqCst) {
                if let Some(v) = owner.load(&pin()) {
                    v.value.check();
                }
            }
        });
        s.spawn(|| {
            start.wait();
            // Kill once the writers have reused the inline cell a few
            // times (not after a fixed time: how far they get in one
            // depends on the machine, and under Miri on its scheduler),
            // or give up after a while (the check below then fails).
            let give_up = Instant::now() + Duration::from_secs(10);
            while inline_seen.load(Ordering::SeqCst) < REUSES && Instant::now() < give_up {
                std::thread::yield_now();
            }
            let mut grave = Grave::new();
            owner.kill_if(
                |_| true,
                |v| {
                    v.value.check();
                },
                &mut grave,
                &pin(),
            );
            killed.store(true, Ordering::SeqCst);
        });
    });
    assert!(owner.is_dead());
    assert!(displaced.load(Ordering::SeqCst) > 0);
    assert!(
        inline_seen.load(Ordering::SeqCst) > 0,
        "the writers never reused the inline cell"
    );
    // Every reader is gone: what the point index's release would do.
    owner.release_killed(&released(&owner));
    reclaim_until(|| live.load(Ordering::SeqCst) == 0 && Owner::strong_count(&owner) == 1);
}

/// A value's `Drop` runs in crossbeam-epoch's deferred destruction: its
/// panic is contained there (not let out into whatever pin ran it), and
/// the value is not dropped a second time by its slot.
#[test]
fn a_panicking_drop_in_the_kill_release_is_contained_and_not_repeated() {
    use std::sync::atomic::AtomicUsize;
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            if DROPS.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("the first drop panics");
            }
        }
    }
    let slot = Slot::new(Version::new(Boom, super::NEVER, None));
    let mut grave = Graveyard::<Boom, Slot<Boom>>::new();
    assert!(matches!(
        slot.kill_if(|_| true, |_| (), &mut grave, &pin()),
        Killed::Now
    ));
    drop(grave);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let released = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        slot.release_killed(&Unlinked(&slot));
    }));
    std::panic::set_hook(hook);
    assert!(released.is_ok(), "the value's panic got out");
    drop(slot);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1, "dropped once, not twice");
}

#[test]
fn a_killed_inline_version_is_dropped_by_its_release_or_with_the_slot() {
    let live = Arc::new(AtomicI64::new(0));
    let mut grave = Grave::new();
    let released = Slot::new(version(1, &live));
    let kept = Slot::new(version(2, &live));
    for slot in [&released, &kept] {
        assert!(matches!(
            slot.kill_if(|_| true, |_| (), &mut grave, &pin()),
            Killed::Now
        ));
        assert!(slot.is_dead());
        assert!(matches!(
            slot.kill_if(|_| true, |_| (), &mut grave, &pin()),
            Killed::No
        ));
    }
    drop(grave);
    assert_eq!(live.load(Ordering::SeqCst), 2, "a kill alone drops nothing");
    released.release_killed(&Unlinked(&released));
    assert_eq!(live.load(Ordering::SeqCst), 1);
    // A second call finds nothing to drop.
    released.release_killed(&Unlinked(&released));
    assert_eq!(live.load(Ordering::SeqCst), 1);
    drop(kept);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "the slot drops what was never released"
    );
    drop(released);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

/// The check that lets a release trust its handle: a field lies within
/// its struct, another value does not, nor does a value that straddles
/// the struct's end.
#[test]
fn offset_within_accepts_only_what_lies_wholly_inside() {
    struct Outer {
        _head: u64,
        inner: [u8; 8],
    }
    let outer = Outer {
        _head: 0,
        inner: [0; 8],
    };
    let other = [0u8; 8];
    assert_eq!(
        super::offset_within(&outer, &outer.inner),
        Some(std::mem::offset_of!(Outer, inner))
    );
    assert_eq!(super::offset_within(&outer, &outer), Some(0));
    assert_eq!(super::offset_within(&outer, &other), None);
    // The whole struct seen from its last field: it starts before it.
    assert_eq!(super::offset_within(&outer.inner, &outer), None);
}
