//! A namespace's write buffer: entries written but not yet in its ordered
//! key index.
//!
//! Inserting into a skiplist costs a cache miss per node visited; a row that
//! lives for milliseconds (TTL churn) would pay that twice, once to insert
//! and once to unlink. New entries are therefore pushed onto this small
//! lock-free stack and moved into the skiplist in batches by [`drain_with`];
//! entries that died meanwhile are simply dropped, and entries about to
//! expire may stay buffered (the drainer decides, see `Engine::drain`), so
//! most short-lived rows never touch the skiplist. Readers that list a
//! namespace look at both.
//!
//! [`drain_with`]: Pending::drain_with
//!
//! # Ground rules
//!
//! * The chain is intrusive: each item carries its own link ([`Chained`]),
//!   so buffering a row allocates nothing. An item is pushed at most once
//!   in its life, and the chain owns one strong count of it from the push
//!   until the item is unlinked and the epoch lets that count go.
//! * Pushes only prepend: they write the link of their own, not yet
//!   published item and CAS the head.
//! * One drainer at a time (the `draining` flag). Only the drainer writes the
//!   link of a published item: after it has handled every item of a
//!   snapshot of the chain, it unlinks the items it did not keep (pointing
//!   each kept item past them, and the link into the snapshot at the first
//!   kept item), so an item leaves the buffer only after its destination
//!   saw it, and a kept item never leaves it.
//! * A drain may walk only the items pushed since the last drain
//!   ([`Reach::New`]): it stops at the top of the run the last drain kept
//!   (`kept_top`) and leaves that run as it is. Only drainers unlink, and
//!   each one records the first item it kept, so that item is on the chain
//!   when the next drain comes; a drain clears the record while it runs, so
//!   one abandoned midway leaves the next to walk every item. Such a walk
//!   does exactly what a walk of every item does when `keep` keeps the
//!   whole run below it (no link in that run changes), so the rules above
//!   cover it.
//! * Unlinked items' counts are released through crossbeam-epoch once the
//!   drain has unlinked them: a drain that removes a few hands them to the
//!   caller's [`Drained`] batch (so an operation that drains many
//!   namespaces, each of a row or two, allocates no list per drain and
//!   defers one closure per 64 items, not one per drain), a bigger one
//!   defers its own list in one closure; a reader walking the chain is pinned, so an item it reaches
//!   stays valid, and a reader on an unlinked item follows its unchanged
//!   link back to the kept items below it. The loom build runs this same
//!   chain, with crossbeam-epoch in its own loom mode (see [`crate::sync`]).

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};

/// An item that carries its own link in a [`Pending`] chain (so buffering
/// it allocates nothing). An item is buffered at most once in its life.
/// Items are `Send + Sync`: the chain hands `&Arc<T>` to every thread that
/// walks it and gives its counts back on whichever thread collects (R8).
pub(crate) trait Chained: Send + Sync + Sized {
    /// The link to the item below this one; written only by the thread that
    /// pushes the item (before publishing it) and by the drainer.
    fn chain(&self) -> &Link<Self>;
}

/// The link field a [`Chained`] item embeds.
pub(crate) struct Link<T>(crate::sync::AtomicPtr<T>);

impl<T> Link<T> {
    pub(crate) fn new() -> Self {
        Self(crate::sync::AtomicPtr::new(std::ptr::null_mut()))
    }
}

/// The drainer's flag, held: cleared when this drops, so a drain whose
/// `keep` panics (it reads the clock, which may be the user's) leaves the
/// buffer drainable. Nothing is unlinked before every item was handed to
/// `keep`, so an abandoned drain leaves the chain as it found it.
struct Draining<'a>(&'a AtomicBool);

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Takes the drainer's flag. A CAS, not a swap: a thread that finds the
/// flag taken must not write it.
fn begin_drain(flag: &AtomicBool) -> Option<Draining<'_>> {
    // The guard exists only once the flag is ours: one made and dropped on
    // failure would clear another drainer's flag.
    if flag
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        Some(Draining(flag))
    } else {
        None
    }
}

/// Which buffered items a drain hands to its `keep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Every one.
    All,
    /// Only those pushed since the last drain, unless that drain kept more
    /// than `unless_kept_over` (then every one): the run of items the last
    /// drain kept stays as it is, dead ones included, until a drain of
    /// every item. Under churn most kept items are rows that expire soon,
    /// which their timers remove; looking at each of them on every drain
    /// was most of a drain's cost.
    New { unless_kept_over: usize },
}

/// Removed items a drain remembers on its stack before it needs a vector:
/// most drains under churn remove a row or two (the emptied namespace's
/// last), so they allocate nothing.
const ON_STACK: usize = 16;

mod imp {
    use std::ptr;

    use super::{
        Arc, AtomicBool, AtomicUsize, Chained, Draining, ON_STACK, Ordering, Reach, begin_drain,
    };
    use crate::raw::retire::Batch;
    use crate::raw::{Guard, Lent};
    use crate::sync::AtomicPtr;

    /// The chain's counts of the items drains unlinked, given back together
    /// through the epoch (see [`crate::raw::retire`]): one batch per
    /// operation, however many buffers it drains.
    pub(crate) struct Drained<T: Chained + 'static> {
        counts: Batch<Arc<T>>,
    }

    impl<T: Chained + 'static> Drained<T> {
        pub(crate) const fn new() -> Self {
            Self {
                counts: Batch::new(),
            }
        }

        /// Gives the counts drained so far back through the caller's pin
        /// (see [`crate::raw::retire::Batch::retire_now`]).
        pub(crate) fn retire_now(&mut self, guard: &crate::raw::Guard) {
            self.counts.retire_now(guard);
        }

        /// # Safety
        /// `item` is a chain's strong count (R6) of an item that this
        /// thread's drain unlinked (R2, R7): unreachable from the chain's
        /// head for threads that pin from now on.
        unsafe fn push(&mut self, item: *mut T) {
            // SAFETY: R6, R2: the chain's count, handed over once per the
            // contract; R1: the batch gives it back through a deferral made
            // from now on, after the unlink.
            self.counts.push(unsafe { Arc::from_raw(item) });
        }
    }

    /// The items a drain removes, remembered until it has unlinked them:
    /// up to [`ON_STACK`] in place; past that, all of them in a vector
    /// sized once (from the buffer's count), which the drain then gives
    /// back in one deferral of its own, as it did before batches.
    struct Removed<T> {
        few: [*mut T; ON_STACK],
        len: usize,
        many: Vec<*mut T>,
    }

    impl<T> Removed<T> {
        fn new() -> Self {
            Self {
                few: [ptr::null_mut(); ON_STACK],
                len: 0,
                many: Vec::new(),
            }
        }

        /// `expect`: about how many items the drain may remove (the
        /// buffer's count), to size the vector once.
        fn push(&mut self, item: *mut T, expect: impl FnOnce() -> usize) {
            if let Some(place) = self.few.get_mut(self.len) {
                *place = item;
            } else {
                if self.many.is_empty() {
                    // Capped: the count is approximate.
                    self.many.reserve_exact(expect().clamp(ON_STACK + 1, 1024));
                    self.many.extend_from_slice(&self.few);
                }
                self.many.push(item);
            }
            self.len += 1;
        }
    }

    impl<T: Chained + 'static> Removed<T> {
        /// Gives the chain's counts of the removed items back: a few
        /// through the caller's batch, many in one deferral of their own.
        ///
        /// # Safety
        /// Every item in `self` is one this thread's drain unlinked (R2,
        /// R7): unreachable from the chain's head for threads that pin from
        /// now on, and given back by no one else.
        unsafe fn give_back(self, drained: &mut Drained<T>, guard: &Guard) {
            if self.many.is_empty() {
                for &raw in self.few.iter().take(self.len) {
                    // SAFETY: R6, R2, R7: the chain's strong count of an
                    // item this (the single) drain unlinked, handed over
                    // once; R1: it is unreachable from the head (the
                    // contract), so the batch's deferral, made from now on,
                    // waits for every reader still on it. R8: the batch
                    // moves counts of `Send + Sync` items (`Chained`) to
                    // the collecting thread.
                    unsafe { drained.push(raw) };
                }
                return;
            }
            let many = self.many;
            let release = move || {
                for raw in many {
                    // SAFETY: R6, R2: the chain's strong count of an item
                    // this drain unlinked, given back once.
                    drop(unsafe { Arc::from_raw(raw) });
                }
            };
            // SAFETY: R1: every item in `many` is unreachable from the head
            // (the contract); readers still on one are pinned, and the
            // deferred call waits for them. R8: the closure moves counts of
            // `Send + Sync` items (`Chained`) to the collecting thread.
            unsafe { guard.epoch().defer_unchecked(release) };
        }
    }

    /// The chain owns one strong count of each item on it, taken by `push`
    /// (`Arc::into_raw`) and given back, through the epoch, once a drain has
    /// unlinked the item (or when the buffer drops).
    pub(crate) struct Pending<T: Chained> {
        head: AtomicPtr<T>,
        len: AtomicUsize,
        /// Items the last drain kept (written by the drainer only).
        kept: AtomicUsize,
        /// The first item the last drain kept: the top of the kept run,
        /// where a drain of [`Reach::New`] items stops. Written and read by
        /// the drainer only (the flag's `SeqCst` CAS orders successive
        /// drainers); null while a drain runs, so a drain abandoned midway
        /// (its `keep` panicked) leaves the next one to walk everything.
        kept_top: AtomicPtr<T>,
        draining: AtomicBool,
    }

    impl<T: Chained> Pending<T> {
        pub(crate) fn new() -> Self {
            Self {
                head: AtomicPtr::new(ptr::null_mut()),
                len: AtomicUsize::new(0),
                kept: AtomicUsize::new(0),
                kept_top: AtomicPtr::new(ptr::null_mut()),
                draining: AtomicBool::new(false),
            }
        }

        /// Adds `item`; returns the number of items pushed since the last
        /// drain (approximate: counted before the item is published, so
        /// never below the truth while no drain runs).
        pub(crate) fn push(&self, item: Arc<T>) -> usize {
            let count = (self.len.fetch_add(1, Ordering::SeqCst) + 1)
                .saturating_sub(self.kept.load(Ordering::Relaxed));
            let raw = Arc::into_raw(item).cast_mut();
            // SAFETY: R6: we hold the strong count just taken from `item`.
            let link = unsafe { &(*raw).chain().0 };
            let mut head = self.head.load(Ordering::Acquire);
            loop {
                // The item is not on the chain yet: its link is ours alone.
                link.store(head, Ordering::Relaxed);
                // SeqCst: `is_empty` after a drain must see a push whose
                // pusher saw the drain flag set (see `Engine::drain`).
                match self
                    .head
                    .compare_exchange(head, raw, Ordering::SeqCst, Ordering::Acquire)
                {
                    Ok(_) => return count,
                    Err(current) => head = current,
                }
            }
        }

        /// True when no item is buffered (exact, unlike the count).
        pub(crate) fn is_empty(&self) -> bool {
            self.head.load(Ordering::SeqCst).is_null()
        }

        /// Visits the buffered items, newest first (weakly consistent).
        pub(crate) fn for_each(&self, guard: &Guard, mut f: impl FnMut(&Arc<T>)) {
            self.any(guard, |item| {
                f(item);
                false
            });
        }

        /// Visits the buffered items, newest first (weakly consistent),
        /// until `f` returns true; returns whether it did.
        pub(crate) fn any(&self, guard: &Guard, mut f: impl FnMut(&Arc<T>) -> bool) -> bool {
            let mut cur = self.head.load(Ordering::Acquire);
            while !cur.is_null() {
                // SAFETY: R1, R6: items are released only after being
                // unlinked, through the epoch `guard` pins, so every item
                // reachable from the head under it stays valid while it is
                // held.
                let item = unsafe { Lent::new(cur, guard) };
                if f(&item) {
                    return true;
                }
                cur = item.chain().0.load(Ordering::Acquire);
            }
            false
        }

        /// Takes the drainer's flag. A CAS, not a swap: a thread that finds
        /// the flag taken must not write it.
        fn try_begin_drain(&self) -> Option<Draining<'_>> {
            begin_drain(&self.draining)
        }

        /// Whether a drain is under way (never, once quiescent).
        pub(crate) fn is_draining(&self) -> bool {
            self.draining.load(Ordering::SeqCst)
        }

        /// Hands the buffered items that `reach` selects to `keep` (with
        /// the number of items kept so far, counting those below a
        /// [`Reach::New`] walk), then removes those it returns false for,
        /// handing the chain's counts of them to `drained`. Returns false
        /// (doing nothing) if another thread is draining.
        ///
        /// Kept items stay where they are; the drainer relinks each kept
        /// item's link past the removed ones below it, then swings the link
        /// into the snapshot to the first kept item. A reader on a removed
        /// item still follows its old (unchanged) link, and every path down
        /// the chain still meets every kept item, so no reader misses one.
        /// A walk of new items stops at the run the last drain kept, which
        /// it leaves as it is (below the walk, the chain is unchanged).
        pub(crate) fn drain_with(
            &self,
            guard: &Guard,
            drained: &mut Drained<T>,
            reach: Reach,
            mut keep: impl FnMut(&Arc<T>, usize) -> bool,
        ) -> bool
        where
            T: 'static,
        {
            let Some(draining) = self.try_begin_drain() else {
                return false;
            };
            // Cleared until this drain ends: see `kept_top`.
            let top = self.kept_top.swap(ptr::null_mut(), Ordering::Relaxed);
            let kept_before = self.kept.load(Ordering::Relaxed);
            // Where the walk stops, and the items kept below that.
            let (bottom, mut kept) = match reach {
                Reach::New { unless_kept_over } if kept_before <= unless_kept_over => {
                    (top, if top.is_null() { 0 } else { kept_before })
                }
                _ => (ptr::null_mut(), 0),
            };
            let snapshot = self.head.load(Ordering::Acquire);
            let mut cur = snapshot;
            let mut first_kept = bottom;
            let mut last_kept: Option<Lent<'_, T>> = None;
            let mut removed = Removed::new();
            // Whether items were removed since the last kept one.
            let mut gap = false;
            while cur != bottom {
                debug_assert!(!cur.is_null(), "the kept run is not below the head");
                if cur.is_null() {
                    break;
                }
                // SAFETY: R1, R6 as in `for_each`; R7: only this (the
                // single) drainer unlinks, so the snapshot chain stays
                // linked meanwhile.
                let item = unsafe { Lent::new(cur, guard) };
                let next = item.chain().0.load(Ordering::Acquire);
                if keep(&item, kept) {
                    match &last_kept {
                        // Skip the removed items between the two kept ones.
                        Some(above) if gap => above.chain().0.store(cur, Ordering::Release),
                        Some(_) => {}
                        None => first_kept = cur,
                    }
                    last_kept = Some(item);
                    kept += 1;
                    gap = false;
                } else {
                    removed.push(cur, || self.len.load(Ordering::Relaxed));
                    gap = true;
                }
                cur = next;
            }
            // Past the removed items below the last kept one, to the kept
            // run below the walk (or the end).
            if let Some(last) = &last_kept
                && gap
            {
                last.chain().0.store(bottom, Ordering::Release);
            }
            if first_kept != snapshot {
                self.relink(snapshot, first_kept, guard);
            }
            self.len.fetch_sub(removed.len, Ordering::SeqCst);
            self.kept.store(kept, Ordering::Relaxed);
            self.kept_top.store(first_kept, Ordering::Relaxed);
            // SAFETY: R2, R7: this (the single) drain unlinked every item
            // in `removed` (the link stores and `relink` above), each once.
            unsafe { removed.give_back(drained, guard) };
            drop(draining);
            true
        }

        /// Points the link that leads to `at` (the head, or the link of an
        /// item pushed since) at `to` instead.
        fn relink(&self, at: *mut T, to: *mut T, _guard: &Guard) {
            if self
                .head
                .compare_exchange(at, to, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
            // Newer items were pushed above `at`: find the one that links to
            // it. Pushers never change a published link, so it is stable.
            let mut cur = self.head.load(Ordering::Acquire);
            while !cur.is_null() {
                // SAFETY: R1, R6: items above the snapshot are on the
                // chain, and the drainer (us) holds its caller's guard.
                let link = unsafe { &(*cur).chain().0 };
                let next = link.load(Ordering::Acquire);
                if next == at {
                    link.store(to, Ordering::Release);
                    return;
                }
                cur = next;
            }
            debug_assert!(false, "drained chain not found below the head");
        }
    }

    impl<T: Chained> Drop for Pending<T> {
        fn drop(&mut self) {
            // A load, not `get_mut`, which loom's atomics lack; with
            // `&mut self` the two are the same.
            let mut cur = self.head.load(Ordering::Relaxed);
            while !cur.is_null() {
                // SAFETY: R5: `&mut self`: no reader or writer can reach
                // the chain; R6: each item on it holds one strong count we
                // give back.
                let item = unsafe { Arc::from_raw(cur) };
                cur = item.chain().0.load(Ordering::Relaxed);
            }
        }
    }
}

pub(crate) use imp::{Drained, Pending};

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
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

    #[test]
    fn drains_keep_exactly_what_they_are_told_under_readers_and_pushers() {
        let p = Pending::<Item>::new();
        for id in 0..STABLE {
            p.push(item(id));
        }
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
            /// Stops the other threads even if a check below fails.
            struct StopOnDrop<'a>(&'a AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
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
}
