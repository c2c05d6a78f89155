//! A namespace's write buffer: entries written but not yet in its ordered
//! key index.
//!
//! Inserting into a skiplist costs a cache miss per node visited; a row that
//! lives for milliseconds (TTL churn) would pay that twice, once to insert
//! and once to unlink. New entries are therefore pushed onto this small
//! lock-free stack and moved into the skiplist in batches by [`drain_with`];
//! entries that died meanwhile are simply dropped. Readers that list a
//! namespace look at both.
//!
//! [`drain_with`]: Pending::drain_with
//!
//! # Ground rules
//!
//! * Pushes only prepend: they write the `next` of their own, unpublished
//!   node and CAS the head.
//! * One drainer at a time (the `draining` flag). Only the drainer writes the
//!   `next` of a published node: it cuts the chain below a snapshot of the
//!   head after it has handled every node of the snapshot, so an item leaves
//!   the buffer only after its destination saw it.
//! * Cut nodes are retired through crossbeam-epoch; a reader walking the
//!   chain is pinned, so a node it reaches stays valid. Under the
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
        draining: AtomicBool,
    }

    impl<T> Pending<T> {
        pub(crate) fn new() -> Self {
            Self {
                head: Atomic::null(),
                len: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
            }
        }

        /// Adds `item`; returns the number of items buffered (approximate:
        /// counted before the item is published, so never below the truth).
        pub(crate) fn push(&self, item: Arc<T>) -> usize {
            let count = self.len.fetch_add(1, Ordering::SeqCst) + 1;
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

        /// Hands every buffered item to `f`, then removes them. Returns false
        /// (doing nothing) if another thread is draining.
        pub(crate) fn drain_with(&self, mut f: impl FnMut(&Arc<T>)) -> bool {
            if !self.try_begin_drain() {
                return false;
            }
            let guard = epoch::pin();
            let snapshot = self.head.load(Ordering::Acquire, &guard);
            let mut cur = snapshot;
            let mut count = 0;
            // SAFETY: as in `for_each`; moreover only this (the single)
            // drainer cuts, so the snapshot chain stays linked meanwhile.
            while let Some(node) = unsafe { cur.as_ref() } {
                f(&node.item);
                count += 1;
                cur = node.next.load(Ordering::Acquire, &guard);
            }
            if !snapshot.is_null() {
                self.cut(snapshot, &guard);
                self.retire_chain(snapshot, &guard);
            }
            self.len.fetch_sub(count, Ordering::SeqCst);
            self.draining.store(false, Ordering::SeqCst);
            true
        }

        /// Detaches the chain starting at `at` from the stack.
        fn cut(&self, at: Shared<'_, Node<T>>, guard: &epoch::Guard) {
            if self
                .head
                .compare_exchange(
                    at,
                    Shared::null(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                    guard,
                )
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
                    node.next.store(Shared::null(), Ordering::Release);
                    return;
                }
                cur = next;
            }
            debug_assert!(false, "drained chain not found below the head");
        }

        fn retire_chain(&self, from: Shared<'_, Node<T>>, guard: &epoch::Guard) {
            let mut cur = from;
            // SAFETY: the chain from `from` is unreachable from the head since
            // `cut`; readers still on it are pinned, and `defer_destroy` waits
            // for them. Each node is retired once (the chain is ours alone).
            while let Some(node) = unsafe { cur.as_ref() } {
                let next = node.next.load(Ordering::Acquire, guard);
                unsafe { guard.defer_destroy(cur) };
                cur = next;
            }
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
        draining: AtomicBool,
    }

    impl<T> Pending<T> {
        pub(crate) fn new() -> Self {
            Self {
                items: Mutex::new(Vec::new()),
                len: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
            }
        }

        pub(crate) fn push(&self, item: Arc<T>) -> usize {
            let mut items = lock(&self.items);
            items.push(item);
            // Counted inside the lock: a reader that sees the count then
            // locks sees the item.
            self.len.fetch_add(1, Ordering::SeqCst) + 1
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

        pub(crate) fn drain_with(&self, mut f: impl FnMut(&Arc<T>)) -> bool {
            if !self.try_begin_drain() {
                return false;
            }
            let snapshot: Vec<Arc<T>> = lock(&self.items).clone();
            for item in &snapshot {
                f(item);
            }
            // Pushes since the snapshot were appended behind it.
            let mut items = lock(&self.items);
            items.drain(..snapshot.len());
            self.len.fetch_sub(snapshot.len(), Ordering::SeqCst);
            drop(items);
            self.draining.store(false, Ordering::SeqCst);
            true
        }
    }
}

pub(crate) use imp::Pending;
