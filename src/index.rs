//! The two index shapes the engine is built from, behind a seam.
//!
//! * [`OrderedSet`]: members sorted by a string key, for range scans (a
//!   namespace's keys; the store's namespaces). crossbeam-skiplist.
//! * [`PointSet`]: members found by `(scope, key)` in O(1), for point
//!   operations. A lock-free open-addressing hash set of our own
//!   (`crate::raw::hashindex`).
//!
//! Both hold `Arc`s to the same members, and both follow one rule: a member
//! that is *gone* (a dead entry, a retired namespace) may be replaced or
//! removed, a present one never is. Removal is always "remove this very
//! member", never "remove whatever is under this key".
//!
//! Under loom (`--cfg skipstore_loom --cfg crossbeam_loom`) the hash set
//! ships unchanged: its atomics are `crate::sync`'s and its frees go through
//! crossbeam-epoch's loom mode, so loom explores both. The ordered set is
//! the one twin left: a `Mutex` around a `BTreeMap`, linearizable per
//! operation, which is all the engine's protocol assumes of it.
//! crossbeam-skiplist 0.1.3 cannot run in crossbeam's loom mode: it
//! allocates each node raw and zero-fills its tower of
//! `crossbeam_epoch::Atomic`s (`Node::alloc`, `write_bytes(0, height)`),
//! which are loom objects in that mode and must be constructed
//! (`Atomic::null()` is not `const` there); with the real skiplist every
//! store model stopped at once on a loom causality violation inside
//! `SkipList::search_position`, or crashed.

use std::ops::{Bound, ControlFlow};

use crate::sync::Arc;

/// Something an index holds.
pub(crate) trait Member: Send + Sync + 'static {
    /// The string the member sorts and is found by.
    fn sort_key(&self) -> &str;
    /// The point-index scope: members with equal `(scope, sort_key)` are the
    /// same logical item.
    fn scope(&self) -> &str;
    /// Whether the member's sort key is `key` (a point lookup's compare: a
    /// member may hold a copy that is cheaper to reach).
    fn has_sort_key(&self, key: &str) -> bool {
        self.sort_key() == key
    }
    /// Whether the member's scope is `scope` (as [`Self::has_sort_key`]).
    fn has_scope(&self, scope: &str) -> bool {
        self.scope() == scope
    }
    /// True once the member is logically removed and may be replaced.
    fn is_gone(&self) -> bool;
    /// The member's hash in its point index, computed once when the
    /// member was made, so that probes compare it before any string and
    /// resizing the hash index rehashes no string (it reads this word):
    /// `point_hash(self.scope(), self.sort_key())` for an entry,
    /// `scope_hash(self.sort_key())` for a namespace node (whose scope is
    /// empty). Lookups pass the same function's hash.
    fn point_hash(&self) -> u64;
    /// Called once the point index has unlinked the member and the grace
    /// period of a deferral made after the unlink is over, just before the
    /// index gives back its count of it.
    fn unlinked(&self, _proof: &crate::raw::Unlinked<'_, Self>) {}
}

/// The point-index hash of `(scope, key)`: foldhash with a per-process
/// random seed (so keys chosen by an adversary cannot force collisions
/// across processes), of the key and the scope's own hash
/// ([`scope_hash`]). 60 bits: entries keep four flags in the top bits of
/// the same word.
pub(crate) fn point_hash(scope: &str, key: &str) -> u64 {
    point_hash_in(scope_hash(scope), key)
}

/// [`point_hash`] of a key in the scope whose [`scope_hash`] is
/// `scope_hash`: a write, which needs both (the namespace's hash is its
/// node's lookup hash), reads the rendered namespace once, not twice.
pub(crate) fn point_hash_in(scope_hash: u64, key: &str) -> u64 {
    use std::hash::BuildHasher;
    seed().hash_one((scope_hash, key)) >> 4
}

/// The hash of a scope alone (60 bits): a namespace node's lookup hash,
/// and the start of [`point_hash`] for every key in the namespace.
pub(crate) fn scope_hash(scope: &str) -> u64 {
    use std::hash::BuildHasher;
    seed().hash_one(scope) >> 4
}

fn seed() -> &'static foldhash::fast::RandomState {
    static SEED: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
    SEED.get_or_init(foldhash::fast::RandomState::default)
}

#[cfg(not(skipstore_loom))]
mod imp {
    use crossbeam_epoch as epoch;
    use crossbeam_skiplist::base::SkipList;
    use once_cell::race::OnceBox;
    use std::borrow::Borrow;
    use std::cmp::Ordering as CmpOrdering;

    use super::{Arc, Bound, ControlFlow, Member};

    /// Orders a member by its sort key, borrowing as `str` for lookups.
    ///
    /// The node holds the member, not a copy of its key: a copy would save a
    /// pointer hop per node a search visits, but cost 16 bytes per entry,
    /// and the write buffer in front of the skiplist (`crate::raw::pending`)
    /// already spares short-lived rows the search.
    ///
    /// The member is the node's key and its value is `()`: the member's one
    /// handle in the node, so a node is 8 bytes smaller than with the member
    /// held twice (key and value), and an insert takes one count, not two
    /// (the caller lends its handle).
    struct ByKey<T: Member>(Arc<T>);

    impl<T: Member> PartialEq for ByKey<T> {
        fn eq(&self, other: &Self) -> bool {
            self.0.sort_key() == other.0.sort_key()
        }
    }
    impl<T: Member> Eq for ByKey<T> {}
    impl<T: Member> PartialOrd for ByKey<T> {
        fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
            Some(self.cmp(other))
        }
    }
    impl<T: Member> Ord for ByKey<T> {
        fn cmp(&self, other: &Self) -> CmpOrdering {
            self.0.sort_key().cmp(other.0.sort_key())
        }
    }
    impl<T: Member> Borrow<str> for ByKey<T> {
        fn borrow(&self) -> &str {
            self.0.sort_key()
        }
    }

    /// The skiplist is allocated by the first insert, not with the set.
    ///
    /// crossbeam-skiplist keeps its 32-pointer head and a cache-padded
    /// counter line inline (512 bytes, aligned to 128): inline here, every
    /// namespace node paid that, about two thirds of a small namespace's
    /// footprint, even for a namespace whose rows never leave its write
    /// buffer (short-lived rows, or fewer than a drain's worth). Boxed and
    /// lazy, such a namespace pays one empty pointer; an ordered one pays
    /// one more pointer hop per skiplist operation.
    ///
    /// The install is lock-free (`OnceBox`: writers that race to install
    /// the first skiplist each build one, one compare-and-swap wins, the
    /// others drop theirs), so no writer waits for another's allocation;
    /// `std::sync::OnceLock` would park them.
    ///
    /// # The guard-based skiplist
    ///
    /// The set drives crossbeam-skiplist's `base::SkipList` under an epoch
    /// pin of its own for each call, not its `SkipMap`, whose every entry
    /// handle takes and gives back a reference count on its node (two
    /// atomic read-modify-writes per node a scan steps over, on lines the
    /// scan would otherwise only read) and whose every step pins again. A
    /// `base::Entry` borrows the pin instead: a node it points at cannot be
    /// freed before the pin ends (the skiplist frees nodes through the
    /// same collector's deferrals). The handles that do carry a count
    /// (`RefEntry`, from an insert) have no `Drop`: each is released here
    /// before the call returns ([`Self::insert_over_gone`]).
    ///
    /// The pin is crossbeam-epoch's default collector's, the one the
    /// skiplist is made with (`base::SkipList` asserts that every guard it
    /// is handed comes from its collector); a pin taken while the caller
    /// holds one of the store's own is a counter increment on this thread.
    pub(crate) struct OrderedSet<T: Member> {
        list: OnceBox<SkipList<ByKey<T>, ()>>,
    }

    impl<T: Member> OrderedSet<T> {
        pub(crate) fn new() -> Self {
            Self {
                list: OnceBox::new(),
            }
        }

        /// Inserts `member`, replacing an occupant only if it is gone.
        ///
        /// `SkipList::compare_insert` would decide on the occupant's value,
        /// which is `()` here; so the occupant is looked at as the key it
        /// is. A gone occupant is removed (that very node), then the insert
        /// is tried again. Between the two, another insert may take the
        /// key; if its member is present it stays, as it would have after
        /// `compare_insert` (which also removes, then inserts).
        pub(crate) fn insert_over_gone(&self, member: &Arc<T>) {
            let list = self
                .list
                .get_or_init(|| Box::new(SkipList::new(epoch::default_collector().clone())));
            let guard = &epoch::pin();
            loop {
                let held = list.get_or_insert(ByKey(Arc::clone(member)), (), guard);
                let occupant = &held.key().0;
                let stays = Arc::ptr_eq(occupant, member) || !occupant.is_gone();
                if !stays {
                    held.remove(guard);
                }
                // The insert's count on the node: a `RefEntry` has no
                // `Drop`, so one not released keeps its node forever.
                held.release(guard);
                if stays {
                    return;
                }
            }
        }

        /// Removes `member` itself, if it is still the one held for its key.
        pub(crate) fn remove_same(&self, member: &Arc<T>) {
            let Some(list) = self.list.get() else {
                return;
            };
            let guard = &epoch::pin();
            if let Some(e) = list.get(member.sort_key(), guard)
                && Arc::ptr_eq(&e.key().0, member)
            {
                e.remove();
            }
        }

        /// Whether the set holds no member (approximate while members are
        /// inserted or removed: the skiplist's relaxed length).
        pub(crate) fn is_empty(&self) -> bool {
            self.list.get().is_none_or(|list| list.is_empty())
        }

        pub(crate) fn get(&self, key: &str) -> Option<Arc<T>> {
            let list = self.list.get()?;
            let guard = &epoch::pin();
            list.get(key, guard).map(|e| Arc::clone(&e.key().0))
        }

        /// Visits members in key order from `start` until `f` breaks.
        pub(crate) fn scan(
            &self,
            start: Bound<&str>,
            mut f: impl FnMut(&Arc<T>) -> ControlFlow<()>,
        ) {
            let Some(list) = self.list.get() else {
                return;
            };
            let guard = &epoch::pin();
            // Entry by entry: `f` decides where the scan ends. From the
            // front, `front` reads the head's bottom link; a lower bound
            // descends the head's whole tower, a node per level.
            let mut cur = match start {
                Bound::Unbounded | Bound::Included("") => list.front(guard),
                bound => list.lower_bound(bound, guard),
            };
            while let Some(e) = cur {
                if f(&e.key().0).is_break() {
                    return;
                }
                cur = e.next();
            }
        }

        /// Removes every member (used when the store is dropped).
        ///
        /// One `pop_front` at a time: `SkipList::clear` marks its last batch
        /// of nodes removed without the search that unlinks them, so they
        /// (and their members) would stay until the skiplist drops.
        pub(crate) fn clear(&self) {
            if let Some(list) = self.list.get() {
                // Every 64 nodes (a garbage bag's worth), the nodes released
                // so far go to the epoch and the pin moves on, so that a long
                // list's first nodes are freed while the rest is cleared, as
                // they were with a pin per node.
                let mut guard = epoch::pin();
                for popped in 1usize.. {
                    let Some(entry) = list.pop_front(&guard) else {
                        return;
                    };
                    entry.release(&guard);
                    if popped % 64 == 0 {
                        guard.flush();
                        guard.repin();
                    }
                }
            }
        }
    }
}

#[cfg(skipstore_loom)]
mod imp {
    use std::collections::BTreeMap;

    use super::{Arc, Bound, ControlFlow, Member};
    use crate::sync::{Mutex, lock};

    pub(crate) struct OrderedSet<T: Member> {
        map: Mutex<BTreeMap<String, Arc<T>>>,
    }

    impl<T: Member> OrderedSet<T> {
        pub(crate) fn new() -> Self {
            Self {
                map: Mutex::new(BTreeMap::new()),
            }
        }

        pub(crate) fn insert_over_gone(&self, member: &Arc<T>) {
            let mut map = lock(&self.map);
            let key = member.sort_key().to_owned();
            match map.get(&key) {
                Some(old) if !old.is_gone() => {}
                _ => {
                    map.insert(key, Arc::clone(member));
                }
            }
        }

        pub(crate) fn remove_same(&self, member: &Arc<T>) {
            let mut map = lock(&self.map);
            if map
                .get(member.sort_key())
                .is_some_and(|m| Arc::ptr_eq(m, member))
            {
                map.remove(member.sort_key());
            }
        }

        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.map).is_empty()
        }

        pub(crate) fn get(&self, key: &str) -> Option<Arc<T>> {
            lock(&self.map).get(key).cloned()
        }

        /// Visits a snapshot (the skiplist's iterator is weakly consistent;
        /// a snapshot is one of the behaviours it allows).
        pub(crate) fn scan(
            &self,
            start: Bound<&str>,
            mut f: impl FnMut(&Arc<T>) -> ControlFlow<()>,
        ) {
            let snapshot: Vec<Arc<T>> = lock(&self.map)
                .range::<str, _>((start, Bound::Unbounded))
                .map(|(_, m)| Arc::clone(m))
                .collect();
            for m in &snapshot {
                if f(m).is_break() {
                    return;
                }
            }
        }

        pub(crate) fn clear(&self) {
            let drained = std::mem::take(&mut *lock(&self.map));
            drop(drained);
        }
    }
}

pub(crate) use crate::raw::hashindex::{PointSet, Released};
pub(crate) use imp::OrderedSet;

#[cfg(all(test, not(skipstore_loom)))]
mod ordered_set_tests {
    use std::ops::{Bound, ControlFlow};

    use super::{Member, OrderedSet};
    use crate::sync::{Arc, AtomicBool, Ordering};

    struct M {
        key: &'static str,
        gone: AtomicBool,
    }

    impl Member for M {
        fn sort_key(&self) -> &str {
            self.key
        }
        fn scope(&self) -> &str {
            "s"
        }
        fn is_gone(&self) -> bool {
            self.gone.load(Ordering::SeqCst)
        }
        fn point_hash(&self) -> u64 {
            0
        }
    }

    fn member(key: &'static str) -> Arc<M> {
        Arc::new(M {
            key,
            gone: AtomicBool::new(false),
        })
    }

    fn holds(set: &OrderedSet<M>, m: &Arc<M>) -> bool {
        set.get(m.key).is_some_and(|held| Arc::ptr_eq(&held, m))
    }

    /// What `of` makes of each member a whole scan visits, in order.
    fn scanned<R>(set: &OrderedSet<M>, of: impl Fn(&Arc<M>) -> R) -> Vec<R> {
        let mut seen = Vec::new();
        set.scan(Bound::Unbounded, |m| {
            seen.push(of(m));
            ControlFlow::Continue(())
        });
        seen
    }

    #[test]
    fn a_present_occupant_stays_and_a_gone_one_is_replaced() {
        let set = OrderedSet::new();
        let (a, b, c) = (member("k"), member("k"), member("k"));
        let other = member("j");
        set.insert_over_gone(&a);
        set.insert_over_gone(&other);
        set.insert_over_gone(&b);
        assert!(holds(&set, &a), "a present occupant stays");

        a.gone.store(true, Ordering::SeqCst);
        set.insert_over_gone(&b);
        assert!(holds(&set, &b), "a gone occupant is replaced");
        assert_eq!(
            scanned(&set, Arc::as_ptr),
            [Arc::as_ptr(&other), Arc::as_ptr(&b)]
        );
        // The replaced node lets its member go once the epoch frees it.
        crate::raw::retire::reclaim_until(|| Arc::strong_count(&a) == 1);

        set.insert_over_gone(&c);
        assert!(holds(&set, &b));
        set.remove_same(&a);
        assert!(
            holds(&set, &b),
            "removing a replaced member removes nothing"
        );
        set.remove_same(&b);
        assert!(set.get("k").is_none());
        set.clear();
        assert!(scanned(&set, Arc::as_ptr).is_empty());
    }

    /// A clear longer than its flush interval unlinks every node, so each
    /// member is let go once the epoch frees the nodes (`SkipList::clear`
    /// left its last batch linked; this caught it).
    #[test]
    fn a_long_clear_lets_every_member_go() {
        const LETTERS: &str = "abcdefghijklmnopqrstuvwxyz";
        // Every substring of 26 distinct letters: 351 distinct keys.
        let made: Vec<Arc<M>> = (0..LETTERS.len())
            .flat_map(|i| (i + 1..=LETTERS.len()).map(move |j| member(&LETTERS[i..j])))
            .collect();
        let set = OrderedSet::new();
        for m in &made {
            set.insert_over_gone(m);
        }
        assert_eq!(scanned(&set, Arc::as_ptr).len(), made.len());
        set.clear();
        assert!(scanned(&set, Arc::as_ptr).is_empty());
        crate::raw::retire::reclaim_until(|| made.iter().all(|m| Arc::strong_count(m) == 1));
    }

    /// Three writers insert over each other on three keys of the real
    /// skiplist (the loom models run the `BTreeMap` twin), each member going
    /// gone one round after its insert, every other one also removed. No
    /// insert may spin forever on an occupant; afterwards each key is held
    /// at most once, a present holder stays and a gone one is replaced, and
    /// every node lets its member go (no count lost or taken twice).
    #[test]
    fn racing_inserts_over_gone_occupants_keep_the_set_whole() {
        const KEYS: [&str; 3] = ["a", "b", "c"];
        let rounds = if cfg!(miri) { 30 } else { 20_000 };
        let set = OrderedSet::new();
        let mut made: Vec<Arc<M>> = Vec::new();
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..3)
                .map(|t| {
                    let set = &set;
                    s.spawn(move || {
                        let mut mine: Vec<Arc<M>> = Vec::with_capacity(rounds);
                        for i in 0..rounds {
                            let m = member(KEYS[(i + t) % KEYS.len()]);
                            set.insert_over_gone(&m);
                            if let Some(last) = mine.last() {
                                last.gone.store(true, Ordering::SeqCst);
                                if i % 2 == 0 {
                                    set.remove_same(last);
                                }
                            }
                            mine.push(m);
                        }
                        mine
                    })
                })
                .collect();
            for w in writers {
                made.extend(w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
        });

        let held = scanned(&set, |m| m.key);
        assert!(
            held.is_sorted_by(|a, b| a < b),
            "each key once, in order: {held:?}"
        );
        for key in KEYS {
            let before = set.get(key);
            let fresh = member(key);
            set.insert_over_gone(&fresh);
            match before {
                Some(old) if !old.is_gone() => assert!(holds(&set, &old), "a present holder stays"),
                _ => assert!(holds(&set, &fresh), "a gone holder, or none, gives way"),
            }
            made.push(fresh);
        }

        set.clear();
        crate::raw::retire::reclaim_until(|| made.iter().all(|m| Arc::strong_count(m) == 1));
    }
}
