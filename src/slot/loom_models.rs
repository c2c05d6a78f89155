//! loom models of the slot's claim of a free inline cell: racing writers
//! (one may claim the cell, the other boxes or claims after a give-back),
//! a reader, and a kill racing a claim. The cell is loom-tracked, so two
//! owners of it, or a read racing its write, fail the model; every value
//! is counted, so a leak or a second drop fails it too. Run with
//! `RUSTFLAGS="--cfg skipstore_loom" cargo test --release --lib slot::loom`.
//!
//! There is no epoch under loom, so a model frees the displaced first
//! version itself (`drop_inline`) before any other thread starts: the
//! slot then holds a boxed version and a free cell, the state a real store
//! reaches once the epoch has let go of the first version.

#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::sync::atomic::{AtomicIsize, Ordering as StdOrdering};

use loom::sync::Arc;
use loom::thread;

use super::{Graveyard, Killed, NEVER, Replaced, Slot, Version};

/// A value that counts itself (per model run).
struct Counted {
    id: u64,
    live: std::sync::Arc<AtomicIsize>,
}

impl Counted {
    fn new(id: u64, live: &std::sync::Arc<AtomicIsize>) -> Version<Self> {
        live.fetch_add(1, StdOrdering::SeqCst);
        Version::new(
            Self {
                id,
                live: std::sync::Arc::clone(live),
            },
            NEVER,
            None,
        )
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, StdOrdering::SeqCst);
    }
}

unsafe fn nothing(_: *mut ()) {}

/// A slot holding version `2` boxed and a free cell (version `1` was
/// displaced and dropped), as after the epoch released the first version.
fn slot_with_free_cell(live: &std::sync::Arc<AtomicIsize>) -> Arc<Slot<Counted>> {
    let slot = Slot::new(Counted::new(1, live));
    let mut grave = Graveyard::new(nothing);
    let out = slot.replace_if(
        Counted::new(2, live),
        |_| true,
        |_| (),
        &mut grave,
        std::ptr::null_mut,
    );
    assert!(matches!(out, Replaced::Done(..)));
    // SAFETY: displaced, and no other thread exists yet.
    unsafe { slot.drop_inline() };
    assert_eq!(slot.tag() & super::imp::FREE, super::imp::FREE);
    Arc::new(slot)
}

fn write(slot: &Slot<Counted>, id: u64, live: &std::sync::Arc<AtomicIsize>) -> bool {
    let mut grave = Graveyard::new(nothing);
    match slot.replace_if(
        Counted::new(id, live),
        |_| true,
        |_| (),
        &mut grave,
        std::ptr::null_mut,
    ) {
        Replaced::Done(..) => true,
        Replaced::Dead(v) => {
            drop(v);
            false
        }
        Replaced::Declined => unreachable!("the predicate accepts all"),
    }
}

#[test]
fn writers_racing_for_a_free_cell() {
    loom::model(|| {
        let live = std::sync::Arc::new(AtomicIsize::new(0));
        let slot = slot_with_free_cell(&live);
        let writers: Vec<_> = [3, 4]
            .into_iter()
            .map(|id| {
                let (slot, live) = (Arc::clone(&slot), std::sync::Arc::clone(&live));
                thread::spawn(move || assert!(write(&slot, id, &live)))
            })
            .collect();
        let seen = slot.read(|v| v.map(|v| v.value.id));
        assert!(matches!(seen, Some(2..=4)), "{seen:?}");
        for w in writers {
            w.join().unwrap();
        }
        let last = slot.read(|v| v.map(|v| v.value.id));
        assert!(matches!(last, Some(3 | 4)), "{last:?}");
        drop(slot);
        assert_eq!(
            live.load(StdOrdering::SeqCst),
            0,
            "a value leaked or dropped twice"
        );
    });
}

#[test]
fn a_kill_racing_a_claim() {
    loom::model(|| {
        let live = std::sync::Arc::new(AtomicIsize::new(0));
        let slot = slot_with_free_cell(&live);
        let writer = {
            let (slot, live) = (Arc::clone(&slot), std::sync::Arc::clone(&live));
            thread::spawn(move || write(&slot, 3, &live))
        };
        let killer = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                let mut grave = Graveyard::new(nothing);
                matches!(slot.kill_if(|_| true, |_| (), &mut grave), Killed::Now)
            })
        };
        let wrote = writer.join().unwrap();
        assert!(
            killer.join().unwrap(),
            "the kill always finds a live version"
        );
        assert!(slot.is_dead());
        // The write either landed before the kill or found the slot dead.
        let _ = wrote;
        drop(slot);
        assert_eq!(
            live.load(StdOrdering::SeqCst),
            0,
            "a value leaked or dropped twice"
        );
    });
}
