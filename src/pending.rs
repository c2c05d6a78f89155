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
//! * Pushes only prepend: they write the `next` of their own, unpublished
//!   node and CAS the head.
//! * One drainer at a time (the `draining` flag). Only the drainer writes the
//!   `next` of a published node: after it has handled every node of a
//!   snapshot of the chain, it unlinks the nodes it did not keep (pointing
//!   each kept node past them, and the link into the snapshot at the first
//!   kept node), so an item leaves the buffer only after its destination
//!   saw it, and a kept item never leaves it.
//! * Unlinked nodes are retired through crossbeam-epoch, once per drain; a
//!   reader walking the chain is pinned, so a node it reaches stays valid,
//!   and a reader on an unlinked node follows its unchanged `next` back to
//!   the kept nodes below it. Under the
//!   `skipstore_loom` cfg the buffer is a mutexed `Vec` with the same
//!   operations (loom cannot see crossbeam-epoch).

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};

#[cfg(not(skipstore_loom))]
mod imp {
    use super::{Arc, AtomicBool, AtomicUsize, Ordering};
    use crossbeam_epoch::{self as epoch, Atomic, Owned, Shared};

    struct Node<T> {
        item: Arc<T>,
        next: Atomic<Node<T>>,
    }

    pub(crate) struct Pending<T> {
        head: Atomic<Node<T>>,
        len: AtomicUsize,
        /// Items the last drain kept (written by the drainer only).
        kept: AtomicUsize,
        draining: AtomicBool,
    }

    impl<T> Pending<T> {
        pub(crate) fn new() -> Self {
            Self {
                head: Atomic::null(),
                len: AtomicUsize::new(0),
                kept: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
            }
        }

        /// Adds `item`; returns the number of items pushed since the last
        /// drain (approximate: counted before the item is published, so
        /// never below the truth while no drain runs).
        pub(crate) fn push(&self, item: Arc<T>) -> usize {
            let count = (self.len.fetch_add(1, Ordering::SeqCst) + 1)
                .saturating_sub(self.kept.load(Ordering::Relaxed));
            let guard = epoch::pin();
            let mut node = Owned::new(Node {
                item,
                next: Atomic::null(),
            });
            let mut head = self.head.load(Ordering::Acquire, &guard);
            loop {
                node.next.store(head, Ordering::Relaxed);
                // SeqCst: `is_empty` after a drain must see a push whose
                // pusher saw the drain flag set (see `Engine::drain`).
                match self.head.compare_exchange(
                    head,
                    node,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                    &guard,
                ) {
                    Ok(_) => break,
                    Err(e) => {
                        head = e.current;
                        node = e.new;
                    }
                }
            }
            count
        }

        /// True when no item is buffered (exact, unlike the count).
        pub(crate) fn is_empty(&self) -> bool {
            self.head.load(Ordering::SeqCst, &epoch::pin()).is_null()
        }

        /// Visits the buffered items, newest first (weakly consistent).
        pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<T>)) {
            let guard = epoch::pin();
            let mut cur = self.head.load(Ordering::Acquire, &guard);
            // SAFETY: nodes are retired only after being cut from the chain,
            // through the epoch we are pinned in, so every node reachable
            // from a pointer loaded under `guard` is valid until it drops.
            while let Some(node) = unsafe { cur.as_ref() } {
                f(&node.item);
                cur = node.next.load(Ordering::Acquire, &guard);
            }
        }

        /// Takes the drainer's flag. A CAS, not a swap: a thread that finds
        /// the flag taken must not write it.
        fn try_begin_drain(&self) -> bool {
            self.draining
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        }

        /// Hands every buffered item to `keep`, then removes those it returns
        /// false for. Returns false (doing nothing) if another thread is
        /// draining.
        ///
        /// Kept nodes stay where they are; the drainer relinks each kept
        /// node's `next` past the removed ones below it, then swings the link
        /// into the snapshot to the first kept node. A reader on a removed
        /// node still follows its old (unchanged) `next`, and every path down
        /// the chain still meets every kept node, so no reader misses one.
        pub(crate) fn drain_with(&self, mut keep: impl FnMut(&Arc<T>) -> bool) -> bool {
            if !self.try_begin_drain() {
                return false;
            }
            let guard = epoch::pin();
            let snapshot = self.head.load(Ordering::Acquire, &guard);
            let mut cur = snapshot;
            let mut first_kept = Shared::null();
            let mut last_kept: Option<&Node<T>> = None;
            let mut kept = 0;
            let mut removed = Vec::new();
            // Whether nodes were removed since the last kept one.
            let mut gap = false;
            // SAFETY: as in `for_each`; moreover only this (the single)
            // drainer unlinks, so the snapshot chain stays linked meanwhile.
            while let Some(node) = unsafe { cur.as_ref() } {
                let next = node.next.load(Ordering::Acquire, &guard);
                if keep(&node.item) {
                    match last_kept {
                        // Skip the removed nodes between the two kept ones.
                        Some(above) if gap => above.next.store(cur, Ordering::Release),
                        Some(_) => {}
                        None => first_kept = cur,
                    }
                    last_kept = Some(node);
                    kept += 1;
                    gap = false;
                } else {
                    removed.push(cur.as_raw() as usize);
                    gap = true;
                }
                cur = next;
            }
            if let Some(last) = last_kept
                && gap
            {
                last.next.store(Shared::null(), Ordering::Release);
            }
            if first_kept != snapshot {
                self.relink(snapshot, first_kept, &guard);
            }
            self.len.fetch_sub(removed.len(), Ordering::SeqCst);
            self.kept.store(kept, Ordering::Relaxed);
            if !removed.is_empty() {
                // SAFETY: every node in `removed` is unreachable from the head
                // since `relink` (and the `next` stores above); readers still
                // on one are pinned, and the deferred call waits for them.
                // Each was allocated by `push` as an `Owned` and is freed once.
                unsafe {
                    guard.defer_unchecked(move || {
                        for raw in removed {
                            drop(Shared::from(raw as *const Node<T>).into_owned());
                        }
                    });
                }
            }
            self.draining.store(false, Ordering::SeqCst);
            true
        }

        /// Points the link that leads to `at` (the head, or the `next` of a
        /// node pushed since) at `to` instead.
        fn relink(&self, at: Shared<'_, Node<T>>, to: Shared<'_, Node<T>>, guard: &epoch::Guard) {
            if self
                .head
                .compare_exchange(at, to, Ordering::AcqRel, Ordering::Acquire, guard)
                .is_ok()
            {
                return;
            }
            // Newer nodes were pushed above `at`: find the one that links to
            // it. Pushers never change a published `next`, so it is stable.
            let mut cur = self.head.load(Ordering::Acquire, guard);
            // SAFETY: as in `for_each`.
            while let Some(node) = unsafe { cur.as_ref() } {
                let next = node.next.load(Ordering::Acquire, guard);
                if next == at {
                    node.next.store(to, Ordering::Release);
                    return;
                }
                cur = next;
            }
            debug_assert!(false, "drained chain not found below the head");
        }
    }

    impl<T> Drop for Pending<T> {
        fn drop(&mut self) {
            // SAFETY: `&mut self`: no reader or writer can reach the chain.
            unsafe {
                let guard = epoch::unprotected();
                let mut cur = self.head.load(Ordering::Relaxed, guard);
                while !cur.is_null() {
                    let next = cur.deref().next.load(Ordering::Relaxed, guard);
                    drop(cur.into_owned());
                    cur = next;
                }
            }
        }
    }
}

#[cfg(skipstore_loom)]
mod imp {
    use super::{Arc, AtomicBool, AtomicUsize, Ordering};
    use crate::sync::{Mutex, MutexGuard};

    fn lock<M>(m: &Mutex<M>) -> MutexGuard<'_, M> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) struct Pending<T> {
        items: Mutex<Vec<Arc<T>>>,
        len: AtomicUsize,
        kept: AtomicUsize,
        draining: AtomicBool,
    }

    impl<T> Pending<T> {
        pub(crate) fn new() -> Self {
            Self {
                items: Mutex::new(Vec::new()),
                len: AtomicUsize::new(0),
                kept: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
            }
        }

        pub(crate) fn push(&self, item: Arc<T>) -> usize {
            let mut items = lock(&self.items);
            items.push(item);
            // Counted inside the lock: a reader that sees the count then
            // locks sees the item.
            (self.len.fetch_add(1, Ordering::SeqCst) + 1)
                .saturating_sub(self.kept.load(Ordering::Relaxed))
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.len.load(Ordering::SeqCst) == 0
        }

        pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<T>)) {
            let snapshot: Vec<Arc<T>> = lock(&self.items).clone();
            for item in &snapshot {
                f(item);
            }
        }

        fn try_begin_drain(&self) -> bool {
            self.draining
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        }

        pub(crate) fn drain_with(&self, mut keep: impl FnMut(&Arc<T>) -> bool) -> bool {
            if !self.try_begin_drain() {
                return false;
            }
            let snapshot: Vec<Arc<T>> = lock(&self.items).clone();
            let kept: Vec<bool> = snapshot.iter().map(&mut keep).collect();
            // Pushes since the snapshot were appended behind it; kept items
            // never leave the buffer.
            let mut items = lock(&self.items);
            let mut at = 0;
            items.retain(|_| {
                let stays = kept.get(at).is_none_or(|k| *k);
                at += 1;
                stays
            });
            let removed = kept.iter().filter(|k| !**k).count();
            self.len.fetch_sub(removed, Ordering::SeqCst);
            self.kept.store(kept.len() - removed, Ordering::Relaxed);
            drop(items);
            self.draining.store(false, Ordering::SeqCst);
            true
        }
    }
}

pub(crate) use imp::Pending;

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
    #![allow(clippy::disallowed_types, clippy::unwrap_used)]

    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{Arc, Pending};

    /// Items below this are kept by every drain; the rest are kept by some
    /// drains and dropped by a later one, so drains relink past removed
    /// nodes, keep runs of nodes, and drop nodes kept before.
    const STABLE: u64 = 64;

    #[test]
    fn drains_keep_exactly_what_they_are_told_under_readers_and_pushers() {
        let p = Pending::<u64>::new();
        for id in 0..STABLE {
            p.push(Arc::new(id));
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (p, stop) = (&p, &stop);
                s.spawn(move || {
                    let mut id = 1_000 + t;
                    while !stop.load(Ordering::Relaxed) {
                        p.push(Arc::new(id));
                        id += 2;
                    }
                });
            }
            let (p, stop) = (&p, &stop);
            s.spawn(move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    assert!(p.drain_with(|x| **x < STABLE || (**x + round).is_multiple_of(3)));
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
            for _ in 0..2_000 {
                let mut seen = HashSet::new();
                p.for_each(|x| assert!(seen.insert(**x), "item {x} listed twice"));
                for id in 0..STABLE {
                    assert!(seen.contains(&id), "kept item {id} missed");
                }
            }
        });
        assert!(p.drain_with(|x| **x < STABLE));
        let mut left = Vec::new();
        p.for_each(|x| left.push(**x));
        left.sort_unstable();
        assert_eq!(left, (0..STABLE).collect::<Vec<_>>());
        // Counted since the last drain: the kept items are not.
        assert_eq!(p.push(Arc::new(STABLE)), 1);
        assert!(p.drain_with(|_| false));
        assert!(p.is_empty());
    }
}
