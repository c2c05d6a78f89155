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
//! * A list may leave a *sorted copy* of the buffer on it (see
//!   [`Pending::sorted`]): pointers to items the chain holds, sorted, with
//!   no count of their own. It stands for the chain while no item has
//!   been unlinked since it was made (then every item it names is still
//!   on the chain and counted by it) and no item has been pushed (its
//!   `top` is still the head). So a drain about to unlink items first
//!   replaces the copy with a *token* (before any link store, so before
//!   the counts' deferrals), and a list installs a copy only by a CAS from
//!   the word it read before it checked the drain flag and walked: a
//!   token written after that read, or a copy installed meanwhile, fails
//!   the CAS. Tokens are odd words that only grow, so no CAS can mistake
//!   one for another; a copy's address is not reused while a reader that
//!   read it is pinned.

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
    use std::cmp::Ordering as Order;
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
        /// The sorted copy a list left ([`SortedCopy`]), or a token (an odd
        /// address-free word: the generation of the last drain that
        /// unlinked items). See the module's ground rules.
        copy: AtomicPtr<SortedCopy<T>>,
    }

    /// A sorted copy of the chain: what it held when `top` was its head,
    /// sorted by the list's order, less what the list did not want.
    struct SortedCopy<T> {
        top: *const T,
        /// The generation of the token this copy replaced (directly, or
        /// through the copies before it), so the next token grows.
        generation: usize,
        items: Box<[*const T]>,
    }

    /// The word of the token of `generation` (odd: copies are aligned).
    fn token<T>(generation: usize) -> *mut SortedCopy<T> {
        ptr::without_provenance_mut(generation << 1 | 1)
    }

    /// The copy `word` points at, if it is one and not a token.
    fn as_copy<T>(word: *mut SortedCopy<T>) -> Option<*mut SortedCopy<T>> {
        (word.addr() & 1 == 0 && !word.is_null()).then_some(word)
    }

    /// Frees the copy `word` points at (if it is one), which a CAS took
    /// off its buffer, once the pins of the moment are over.
    fn retire_copy<T>(word: *mut SortedCopy<T>, guard: &Guard) {
        if let Some(copy) = as_copy(word) {
            // SAFETY: R2: the CAS that replaced `word` succeeded in this
            // thread alone; R1: the copy is unreachable for pins taken from
            // now on. It owns no count (it frees only its own memory), so
            // dropping it on any thread is sound (R8).
            unsafe {
                guard
                    .epoch()
                    .defer_unchecked(move || drop(Box::from_raw(copy)));
            }
        }
    }

    /// The two sorted runs as one (the copy's first among equals).
    fn merge<T>(
        kept: &[*const T],
        fresh: &[*const T],
        order: impl Fn(&*const T, &*const T) -> Order,
    ) -> Vec<*const T> {
        let mut out = Vec::with_capacity(kept.len() + fresh.len());
        let (mut i, mut j) = (0, 0);
        while i < kept.len() && j < fresh.len() {
            if order(&fresh[j], &kept[i]) == Order::Less {
                out.push(fresh[j]);
                j += 1;
            } else {
                out.push(kept[i]);
                i += 1;
            }
        }
        out.extend_from_slice(&kept[i..]);
        out.extend_from_slice(&fresh[j..]);
        out
    }

    /// A buffer's items sorted, for one reader (see [`Pending::sorted`]).
    pub(crate) struct Sorted<'g, T> {
        items: SortedItems<'g, T>,
        guard: &'g Guard,
    }

    enum SortedItems<'g, T> {
        /// The copy on the buffer.
        Kept(&'g [*const T]),
        /// The reader's own.
        Own(Vec<*const T>),
    }

    impl<'g, T: Chained> Sorted<'g, T> {
        fn slice(&self) -> &[*const T] {
            match &self.items {
                SortedItems::Kept(items) => items,
                SortedItems::Own(items) => items,
            }
        }

        /// The items from the first that `before` is false for on (they
        /// are sorted: `before` holds for a prefix of them), in order.
        pub(crate) fn from<'s>(
            &'s self,
            before: impl Fn(&T) -> bool,
        ) -> impl Iterator<Item = Lent<'g, T>> + 's {
            let items = self.slice();
            // SAFETY: R1, R6: every item of a sorted view was on the chain,
            // counted by it, while this reader was pinned by `guard` (see
            // `Pending::sorted`), so it stays valid while `guard` is held.
            let at = items.partition_point(|p| before(unsafe { &**p }));
            let guard = self.guard;
            items[at..].iter().map(move |&p| {
                // SAFETY: as above.
                unsafe { Lent::new(p, guard) }
            })
        }
    }

    impl<T: Chained> Pending<T> {
        pub(crate) fn new() -> Self {
            Self {
                head: AtomicPtr::new(ptr::null_mut()),
                len: AtomicUsize::new(0),
                kept: AtomicUsize::new(0),
                kept_top: AtomicPtr::new(ptr::null_mut()),
                draining: AtomicBool::new(false),
                copy: AtomicPtr::new(token(0)),
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

        /// The buffered items that `wanted` accepts, sorted by `order`.
        ///
        /// The sorted copy on the buffer, if it is current (no item pushed
        /// or unlinked since it was made). Else a walk: of the items pushed
        /// since the copy was made, merged into it, while none was
        /// unlinked; of every item otherwise. A walk's result of at least
        /// `keep_at` items is left on the buffer as its copy, unless a
        /// drain runs or ran meanwhile (see the module's ground rules).
        ///
        /// `order` must be a total order that does not change while items
        /// are buffered (a key's), and `wanted` must not change its answer
        /// for an item that a copy holds, except to refuse a dead item.
        pub(crate) fn sorted<'g>(
            &self,
            guard: &'g Guard,
            keep_at: usize,
            wanted: impl Fn(&T) -> bool,
            order: impl Fn(&T, &T) -> Order,
        ) -> Sorted<'g, T> {
            // SeqCst, the word, then the flag: see the module's rules.
            let word = self.copy.load(Ordering::SeqCst);
            // SAFETY: R1: a copy is freed only through a deferral made
            // after it left the buffer, and it was on it once we were
            // pinned by `guard`.
            let shelved = as_copy(word).map(|c| unsafe { &*c });
            let head = self.head.load(Ordering::Acquire);
            if let Some(copy) = shelved
                && ptr::eq(copy.top, head)
            {
                return Sorted {
                    items: SortedItems::Kept(&copy.items),
                    guard,
                };
            }
            let draining = self.draining.load(Ordering::SeqCst);
            // The items above the copy's top, or every item.
            let stop = shelved.map_or(ptr::null(), |c| c.top);
            let mut fresh: Vec<*const T> = Vec::new();
            let mut met = false;
            let mut cur = head;
            while !cur.is_null() {
                if ptr::eq(cur, stop) {
                    met = true;
                    break;
                }
                // SAFETY: R1, R6 as in `any`.
                let item = unsafe { Lent::new(cur, guard) };
                if wanted(&item) {
                    fresh.push(cur);
                }
                cur = item.chain().0.load(Ordering::Acquire);
            }
            // SAFETY (the derefs in both closures): R1, R6: the walk met
            // each item on the chain under `guard`, and the copy's items
            // were on it when we read the copy, so each stays valid while
            // `guard` is held.
            fresh.sort_unstable_by(|a, b| order(unsafe { &**a }, unsafe { &**b }));
            let (items, generation) = match shelved {
                Some(copy) if met => (
                    merge(&copy.items, &fresh, |a, b| {
                        // SAFETY: as above.
                        order(unsafe { &**a }, unsafe { &**b })
                    }),
                    copy.generation,
                ),
                // Not met: the copy's top was unlinked, so a drain wrote a
                // token since we read the word, and the CAS would fail.
                Some(_) => (fresh, 0),
                None => (fresh, word.addr() >> 1),
            };
            if draining || head.is_null() || items.len() < keep_at || (shelved.is_some() && !met) {
                return Sorted {
                    items: SortedItems::Own(items),
                    guard,
                };
            }
            let copy = Box::into_raw(Box::new(SortedCopy {
                top: head,
                generation,
                items: items.into_boxed_slice(),
            }));
            match self
                .copy
                .compare_exchange(word, copy, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => {
                    retire_copy(word, guard);
                    // SAFETY: R1: whoever takes it off the buffer defers
                    // its free past `guard`.
                    let items: &'g [*const T] = unsafe { &(*copy).items };
                    Sorted {
                        items: SortedItems::Kept(items),
                        guard,
                    }
                }
                Err(_) => {
                    // SAFETY: the CAS failed: the copy was never shared.
                    let copy = unsafe { Box::from_raw(copy) };
                    Sorted {
                        items: SortedItems::Own(copy.items.into_vec()),
                        guard,
                    }
                }
            }
        }

        /// The copy on the buffer, if any: its address, `f` of each of its
        /// items, and whether it is current (its top is the head).
        #[cfg(all(test, not(skipstore_loom)))]
        pub(crate) fn kept_copy<R>(
            &self,
            guard: &Guard,
            f: impl Fn(&T) -> R,
        ) -> Option<(usize, Vec<R>, bool)> {
            let _ = guard;
            let copy = as_copy(self.copy.load(Ordering::SeqCst))?;
            // SAFETY: R1, as in `sorted`: we are pinned by `guard`.
            let copy = unsafe { &*copy };
            // SAFETY: R1, R6: a copy on the buffer names only items the
            // chain holds and counts (see the module's rules).
            let items = copy.items.iter().map(|&p| f(unsafe { &*p })).collect();
            let current = ptr::eq(copy.top, self.head.load(Ordering::Acquire));
            Some((ptr::from_ref(copy).addr(), items, current))
        }

        /// Replaces the sorted copy with the next token: called by the
        /// drainer before it unlinks any item (see the module's rules).
        fn invalidate(&self, guard: &Guard) {
            let mut word = self.copy.load(Ordering::SeqCst);
            loop {
                let generation = match as_copy(word) {
                    // SAFETY: R1 as in `sorted`: the drainer's caller is
                    // pinned by `guard`.
                    Some(copy) => unsafe { (*copy).generation },
                    None => word.addr() >> 1,
                };
                match self.copy.compare_exchange(
                    word,
                    token(generation.wrapping_add(1)),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => return retire_copy(word, guard),
                    Err(seen) => word = seen,
                }
            }
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
                    if removed.len == 0 {
                        // Before any link store unlinks an item.
                        self.invalidate(guard);
                    }
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
            if let Some(copy) = as_copy(self.copy.load(Ordering::Relaxed)) {
                // SAFETY: R5: `&mut self`: no reader can reach the copy,
                // which was never retired (R2); it owns no count.
                drop(unsafe { Box::from_raw(copy) });
            }
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

pub(crate) use imp::{Drained, Pending, Sorted};

#[cfg(all(test, not(skipstore_loom)))]
mod tests;

#[cfg(all(test, skipstore_loom))]
mod loom_models;
