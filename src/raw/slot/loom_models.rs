//! loom models of the shipping slot (`epoch_imp.rs`), with crossbeam-epoch
//! in its own loom mode: retirement, the epoch's grace periods and the
//! deferred drops are part of every model. Run with
//! `RUSTFLAGS="--cfg skipstore_loom --cfg crossbeam_loom" cargo test --release --lib slot::loom`.
//!
//! Two kinds of failure are watched. The slot's inline cell is a loom cell,
//! so two owners of it, a read racing its write, or a drop of its version
//! racing a reader fail the model. And every value carries a loom cell of
//! its own that a read reads and the value's drop writes, so a version
//! (boxed or inline) dropped while a reader may still be reading it fails
//! the model too: loom checks that the read happened before the drop. Every
//! value is tracked by loom (a leak fails the execution) and dropped at
//! most once (a second drop fails it).
//!
//! When the epoch frees is itself explored: loom may let a thread read
//! stale epoch words, so no number of flushes is sure to reclaim once
//! other threads have run. A model therefore reaches its starting state
//! (a free cell) on the main thread alone, where reclamation is
//! deterministic, and checks leaks at the end of each execution, when
//! crossbeam-epoch's collector (a loom lazy static) drops and runs every
//! deferred drop left.

#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicIsize, Ordering as StdOrdering};

use loom::sync::Arc;
use loom::thread;

use super::imp::FREE;
use super::{Graveyard, Killed, NEVER, Replaced, Slot, Version};
use crate::raw::{Unlinked, loom_model as model, pin};

/// A value that counts itself (per model run) and whose reads and drop
/// loom orders.
struct Counted {
    id: u64,
    live: std::sync::Arc<AtomicIsize>,
    /// Read by every read of the value, written by its drop.
    probe: loom::cell::UnsafeCell<()>,
    /// Reported by loom if the value is never dropped.
    _leak: loom::alloc::Track<()>,
}

// SAFETY: R8: values are shared as the store shares them. The probe is
// loom's checked cell, touched only through `with`/`with_mut`: a read
// racing the drop's write is exactly what the models fail on.
unsafe impl Sync for Counted {}

std::thread_local! {
    /// Ids of the values dropped in the current model execution (ids are
    /// unique within one).
    static DROPPED: std::cell::RefCell<HashSet<u64>> = std::cell::RefCell::new(HashSet::new());
}

impl Counted {
    fn new(id: u64, live: &std::sync::Arc<AtomicIsize>) -> Version<Self> {
        live.fetch_add(1, StdOrdering::SeqCst);
        Version::new(
            Self {
                id,
                live: std::sync::Arc::clone(live),
                probe: loom::cell::UnsafeCell::new(()),
                _leak: loom::alloc::Track::new(()),
            },
            NEVER,
            None,
        )
    }

    /// Reads the value's id, as a reader of the store would read a value.
    fn read(&self) -> u64 {
        self.probe.with(|_| self.id)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // A write: loom fails the model unless every read of this value
        // happened before it.
        self.probe.with_mut(|_| ());
        self.live.fetch_sub(1, StdOrdering::SeqCst);
        let first = DROPPED.with(|d| d.borrow_mut().insert(self.id));
        assert!(first, "value {} dropped twice", self.id);
    }
}

type Owner = Arc<Slot<Counted>>;

type Grave = Graveyard<Counted, Slot<Counted>>;

/// Lets the epoch run what it can: each flush hands this thread's deferred
/// drops to the collector, tries to advance the epoch and runs what is
/// past its grace period.
fn flush(times: usize) {
    for _ in 0..times {
        crossbeam_epoch::pin().flush();
    }
}

/// Flushes until no value but `left` is alive, then checks it. Only on
/// the main thread before it spawns any (see the module docs).
fn settle(live: &AtomicIsize, left: isize) {
    for _ in 0..8 {
        if live.load(StdOrdering::SeqCst) == left {
            return;
        }
        flush(1);
    }
    assert_eq!(
        live.load(StdOrdering::SeqCst),
        left,
        "leaked or dropped twice"
    );
}

/// Starts a model execution: values are counted and their drops recorded
/// per execution.
fn begin() -> std::sync::Arc<AtomicIsize> {
    // Dropped values are recorded by id on whichever loom thread drops
    // them; loom runs every thread of an execution on the test's thread.
    DROPPED.with(|d| d.borrow_mut().clear());
    std::sync::Arc::new(AtomicIsize::new(0))
}

fn write(slot: &Owner, id: u64, live: &std::sync::Arc<AtomicIsize>) -> bool {
    let mut grave = Grave::new();
    match slot.replace_if(
        Counted::new(id, live),
        |_| true,
        |_| (),
        &mut grave,
        || Arc::clone(slot),
        &pin(),
    ) {
        Replaced::Done(..) => true,
        Replaced::Dead(v) => {
            drop(v);
            false
        }
        Replaced::Declined => unreachable!("the predicate accepts all"),
    }
}

fn read(slot: &Slot<Counted>) -> Option<u64> {
    slot.load(&pin()).map(|v| v.value.read())
}

/// A slot holding version `2` boxed and a free cell: version `1` (inline)
/// was displaced, and the epoch has released it.
fn slot_with_free_cell(live: &std::sync::Arc<AtomicIsize>) -> Owner {
    let slot = Arc::new(Slot::new(Counted::new(1, live)));
    assert!(write(&slot, 2, live));
    settle(live, 1);
    assert_eq!(slot.tag() & FREE, FREE, "the release marks the cell free");
    slot
}

#[test]
fn writers_racing_for_a_free_cell() {
    model(|| {
        let live = begin();
        let slot = slot_with_free_cell(&live);
        let writers: Vec<_> = [3, 4]
            .into_iter()
            .map(|id| {
                let (slot, live) = (Arc::clone(&slot), std::sync::Arc::clone(&live));
                thread::spawn(move || assert!(write(&slot, id, &live)))
            })
            .collect();
        let seen = read(&slot);
        assert!(matches!(seen, Some(2..=4)), "{seen:?}");
        for w in writers {
            w.join().unwrap();
        }
        let last = read(&slot);
        assert!(matches!(last, Some(3 | 4)), "{last:?}");
    });
}

#[test]
fn a_kill_racing_a_claim() {
    model(|| {
        let live = begin();
        let slot = slot_with_free_cell(&live);
        let writer = {
            let (slot, live) = (Arc::clone(&slot), std::sync::Arc::clone(&live));
            thread::spawn(move || write(&slot, 3, &live))
        };
        let killer = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                let mut grave = Grave::new();
                matches!(
                    slot.kill_if(|_| true, |_| (), &mut grave, &pin()),
                    Killed::Now
                )
            })
        };
        // The write either landed before the kill or found the slot dead.
        let _ = writer.join().unwrap();
        assert!(
            killer.join().unwrap(),
            "the kill always finds a live version"
        );
        assert!(slot.is_dead());
        // A kill that displaced a claimed inline version leaves it to
        // `release_killed` (here) or the slot's drop.
        // Every reader is gone (the threads joined): what the point
        // set's release proves (R3).
        slot.release_killed(&Unlinked(&*slot));
    });
}

/// The first version (inline) is displaced while a reader reads it, and the
/// writer then lets the epoch run: the release that drops it in place must
/// wait for the reader. Breaking the protocol (dropping a displaced version
/// at once instead of deferring it) fails this model.
#[test]
fn a_reader_racing_the_release_of_the_first_version() {
    model(|| {
        let live = begin();
        let slot = Arc::new(Slot::new(Counted::new(1, &live)));
        let reader = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || read(&slot))
        };
        assert!(write(&slot, 2, &live));
        flush(3);
        let seen = reader.join().unwrap();
        assert!(matches!(seen, Some(1 | 2)), "{seen:?}");
    });
}

/// As above for a boxed version: version `2` (boxed) is displaced by a
/// write that claims the free cell while a reader reads it, and its free
/// must wait for the reader.
#[test]
fn a_reader_racing_the_free_of_a_boxed_version() {
    model(|| {
        let live = begin();
        let slot = slot_with_free_cell(&live);
        let reader = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || read(&slot))
        };
        assert!(write(&slot, 3, &live));
        flush(3);
        let seen = reader.join().unwrap();
        assert!(matches!(seen, Some(2 | 3)), "{seen:?}");
    });
}
