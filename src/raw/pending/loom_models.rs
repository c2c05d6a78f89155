//! loom models of the sorted copy's protocol (see the module's rules),
//! with crossbeam-epoch in its own loom mode: an item's count goes back
//! through a deferral when a drain unlinks it, and every item carries a
//! loom cell that a reader of a sorted view reads and the item's drop
//! writes, so an item freed while a view (a copy left on the buffer, or a
//! reader's own) may still name it fails the model. Run with
//! `RUSTFLAGS="--cfg skipstore_loom --cfg crossbeam_loom" cargo test --release --lib pending::loom`.

#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use loom::thread;

use super::{Arc, Chained, Drained, Link, Pending, Reach};
use crate::raw::{loom_model as model, pin};

struct Item {
    id: u64,
    link: Link<Item>,
    /// Read by every reader of a view, written by the drop.
    probe: loom::cell::UnsafeCell<()>,
    /// Reported by loom if the item is never dropped.
    _leak: loom::alloc::Track<()>,
}

// SAFETY: R8: items are shared as the store shares entries; the probe
// is loom's checked cell, touched only through `with`/`with_mut`.
unsafe impl Sync for Item {}
unsafe impl Send for Item {}

impl Chained for Item {
    fn chain(&self) -> &Link<Self> {
        &self.link
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        // loom fails the model unless every read happened before this.
        self.probe.with_mut(|_| ());
    }
}

fn push(p: &Pending<Item>, id: u64) {
    p.push(Arc::new(Item {
        id,
        link: Link::new(),
        probe: loom::cell::UnsafeCell::new(()),
        _leak: loom::alloc::Track::new(()),
    }));
}

/// The ids of a sorted view of `p` (kept as the copy when it holds
/// `keep_at` items), each read through its probe.
fn view(p: &Pending<Item>, keep_at: usize) -> Vec<u64> {
    let guard = pin();
    let view = p.sorted(&guard, keep_at, |_| true, |a, b| a.id.cmp(&b.id));
    view.from(|_| false)
        .map(|x| x.probe.with(|_| x.id))
        .collect()
}

/// Unlinks the item `id` (keeps the others).
fn unlink(p: &Pending<Item>, id: u64) {
    assert!(p.drain_with(&pin(), &mut Drained::new(), Reach::All, |x, _| x.id != id));
    crossbeam_epoch::pin().flush();
}

/// A reader of a copy left on the buffer (which it may read as it is)
/// racing a drain that unlinks one of its items: the reader never
/// reads a freed item, and once both are done the buffer's view is
/// exactly what stayed.
#[test]
fn a_kept_copy_racing_a_drain_that_unlinks() {
    model(|| {
        let p = Arc::new(Pending::new());
        push(&p, 1);
        push(&p, 2);
        assert_eq!(view(&p, 1), [1, 2]);
        let drainer = {
            let p = Arc::clone(&p);
            thread::spawn(move || unlink(&p, 1))
        };
        let seen = view(&p, 1);
        assert!(seen == [1, 2] || seen == [2], "{seen:?}");
        drainer.join().unwrap();
        assert_eq!(view(&p, 1), [2]);
    });
}

/// A reader that walks the buffer and installs its copy, racing a
/// pusher that then unlinks an item: the copy is installed only if no
/// unlink came between its read of the buffer's word and its CAS, so
/// no copy ever names a freed item, and a push is never missed.
#[test]
fn a_copy_installed_racing_a_push_and_an_unlink() {
    model(|| {
        let p = Arc::new(Pending::new());
        push(&p, 1);
        push(&p, 2);
        let writer = {
            let p = Arc::clone(&p);
            thread::spawn(move || {
                push(&p, 3);
                unlink(&p, 1);
            })
        };
        let seen = view(&p, 1);
        assert!(seen.contains(&2), "{seen:?}");
        writer.join().unwrap();
        assert_eq!(view(&p, 1), [2, 3]);
        assert_eq!(view(&p, usize::MAX), [2, 3]);
    });
}
