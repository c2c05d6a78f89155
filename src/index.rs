//! The two index shapes the engine is built from, behind a seam.
//!
//! * [`OrderedSet`]: members sorted by a string key, for range scans (a
//!   namespace's keys; the store's namespaces). crossbeam-skiplist.
//! * [`PointSet`]: members found by `(scope, key)` in O(1), for point
//!   operations. A papaya lock-free hash table.
//!
//! Both hold `Arc`s to the same members, and both follow one rule: a member
//! that is *gone* (a dead entry, a retired namespace) may be replaced or
//! removed, a present one never is. Removal is always "remove this very
//! member", never "remove whatever is under this key".
//!
//! loom cannot see inside crossbeam or papaya, so under the `skipstore_loom`
//! cfg both are a `Mutex` around a std map: linearizable per operation, which
//! is all the engine's protocol assumes of them.

use std::ops::{Bound, ControlFlow};

use crate::sync::Arc;

/// Something an index holds.
pub(crate) trait Member: Send + Sync + 'static {
    /// The string the member sorts and is found by.
    fn sort_key(&self) -> &str;
    /// The point-index scope: members with equal `(scope, sort_key)` are the
    /// same logical item.
    fn scope(&self) -> &str;
    /// True once the member is logically removed and may be replaced.
    fn is_gone(&self) -> bool;
    /// `point_hash(self.scope(), self.sort_key())`, computed once when the
    /// member was made, so that resizing the hash index never follows a
    /// member's pointers to rehash it.
    fn point_hash(&self) -> u64;
}

/// The point-index hash of `(scope, key)`: foldhash with a per-process
/// random seed (so keys chosen by an adversary cannot force collisions
/// across processes).
pub(crate) fn point_hash(scope: &str, key: &str) -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
    // 62 bits: entries keep two flags in the top bits of the same word.
    SEED.get_or_init(foldhash::fast::RandomState::default)
        .hash_one((scope, key))
        >> 2
}

#[cfg(not(skipstore_loom))]
mod imp {
    use std::borrow::Borrow;
    use std::cmp::Ordering as CmpOrdering;
    use std::hash::{Hash, Hasher};

    use crossbeam_skiplist::SkipMap;
    use papaya::Equivalent;

    use super::{Arc, Bound, ControlFlow, Member};

    /// Orders a member by its sort key, borrowing as `str` for lookups.
    ///
    /// The node holds the member, not a copy of its key: a copy would save a
    /// pointer hop per node a search visits, but cost 16 bytes per entry,
    /// and the write buffer in front of the skiplist (`crate::pending`)
    /// already spares short-lived rows the search.
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

    pub(crate) struct OrderedSet<T: Member> {
        map: SkipMap<ByKey<T>, Arc<T>>,
    }

    impl<T: Member> OrderedSet<T> {
        pub(crate) fn new() -> Self {
            Self {
                map: SkipMap::new(),
            }
        }

        /// Inserts `member`, replacing an occupant only if it is gone.
        pub(crate) fn insert_over_gone(&self, member: Arc<T>) {
            self.map
                .compare_insert(ByKey(Arc::clone(&member)), member, |old| old.is_gone());
        }

        /// Removes `member` itself, if it is still the one held for its key.
        pub(crate) fn remove_same(&self, member: &Arc<T>) {
            if let Some(e) = self.map.get(member.sort_key())
                && Arc::ptr_eq(e.value(), member)
            {
                e.remove();
            }
        }

        pub(crate) fn get(&self, key: &str) -> Option<Arc<T>> {
            self.map.get(key).map(|e| Arc::clone(e.value()))
        }

        /// Visits members in key order from `start` until `f` breaks.
        pub(crate) fn scan(
            &self,
            start: Bound<&str>,
            mut f: impl FnMut(&Arc<T>) -> ControlFlow<()>,
        ) {
            // Not `SkipMap::range`: crossbeam-skiplist 0.1.3's range iterator
            // never releases the nodes it steps past (crossbeam issue #1178,
            // fixed after the release), so every member a listing visited
            // leaked once removed. Entries release their node when dropped.
            let mut cur = self.map.lower_bound(start);
            while let Some(e) = cur {
                if f(e.value()).is_break() {
                    return;
                }
                cur = e.next();
            }
        }

        /// Removes every member (used when the store is dropped).
        pub(crate) fn clear(&self) {
            while self.map.pop_front().is_some() {}
        }
    }

    /// Point-index key: the member itself, hashed and compared by
    /// `(scope, sort_key)`, with its hash beside it so that resizing the
    /// table (papaya rehashes every key it copies) and rejecting a probe
    /// touch only papaya's own allocation, not the member. Free in memory:
    /// papaya boxes each key, and a 16-byte box takes the same allocator
    /// chunk as an 8-byte one.
    struct ByIdentity<T: Member> {
        hash: u64,
        member: Arc<T>,
    }

    impl<T: Member> ByIdentity<T> {
        fn new(member: Arc<T>) -> Self {
            Self {
                hash: member.point_hash(),
                member,
            }
        }
    }

    /// A borrowed probe equal to a member with the same `(scope, key)`.
    struct Probe<'a> {
        hash: u64,
        scope: &'a str,
        key: &'a str,
    }

    impl<'a> Probe<'a> {
        fn of<T: Member>(member: &'a T) -> Self {
            Self {
                hash: member.point_hash(),
                scope: member.scope(),
                key: member.sort_key(),
            }
        }
    }

    impl Hash for Probe<'_> {
        fn hash<H: Hasher>(&self, state: &mut H) {
            state.write_u64(self.hash);
        }
    }

    impl<T: Member> Hash for ByIdentity<T> {
        fn hash<H: Hasher>(&self, state: &mut H) {
            state.write_u64(self.hash);
        }
    }

    /// A probe equal to exactly one member: the one at this address.
    struct Same<'a, T: Member>(&'a Arc<T>);

    impl<T: Member> Hash for Same<'_, T> {
        fn hash<H: Hasher>(&self, state: &mut H) {
            state.write_u64(self.0.point_hash());
        }
    }

    impl<T: Member> Equivalent<ByIdentity<T>> for Same<'_, T> {
        fn equivalent(&self, m: &ByIdentity<T>) -> bool {
            Arc::ptr_eq(self.0, &m.member)
        }
    }

    /// papaya's hasher: the members' hashes are already seeded and mixed, so
    /// only spread them to 64 bits.
    #[derive(Clone, Default)]
    struct Prehashed;

    #[derive(Default)]
    struct PrehashedHasher(u64);

    impl std::hash::BuildHasher for Prehashed {
        type Hasher = PrehashedHasher;
        fn build_hasher(&self) -> PrehashedHasher {
            PrehashedHasher(0)
        }
    }

    impl Hasher for PrehashedHasher {
        fn finish(&self) -> u64 {
            // Point hashes are 62 bits; spread them over all 64 so papaya's
            // tag bits (the top ones) and index bits (the low ones) both vary.
            self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
        fn write(&mut self, bytes: &[u8]) {
            // Not reached (both key types write one u64); fold for safety.
            for &b in bytes {
                self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    impl<T: Member> PartialEq for ByIdentity<T> {
        fn eq(&self, other: &Self) -> bool {
            self.hash == other.hash
                && self.member.sort_key() == other.member.sort_key()
                && self.member.scope() == other.member.scope()
        }
    }
    impl<T: Member> Eq for ByIdentity<T> {}
    impl<T: Member> Equivalent<ByIdentity<T>> for Probe<'_> {
        fn equivalent(&self, m: &ByIdentity<T>) -> bool {
            // Hash and key first: both are inline in an entry; the scope is
            // one hop away.
            self.hash == m.hash && self.key == m.member.sort_key() && self.scope == m.member.scope()
        }
    }

    /// Removed members a thread collects before papaya's reclaimer (seize)
    /// tries to free them. Each attempt issues a process-wide memory barrier
    /// (`membarrier(2)`, an interrupt on every core running the process);
    /// at seize's default of 32, a store shedding expired rows spent about a
    /// tenth of its time there. A larger batch only keeps removed rows'
    /// husks (the entry without its value, which goes at once) a little
    /// longer: about 100 KiB per writing thread.
    const RECLAIM_BATCH: usize = 1024;

    pub(crate) struct PointSet<T: Member> {
        map: papaya::HashMap<ByIdentity<T>, (), Prehashed>,
    }

    impl<T: Member> PointSet<T> {
        pub(crate) fn new() -> Self {
            Self {
                map: papaya::HashMap::builder()
                    .collector(seize::Collector::new().batch_size(RECLAIM_BATCH))
                    .hasher(Prehashed)
                    .resize_mode(papaya::ResizeMode::Blocking)
                    .build(),
            }
        }

        /// Runs `f` on the member found under `(scope, key)`, whose
        /// [`point_hash`](super::point_hash) is `hash`.
        #[inline]
        pub(crate) fn with<R>(
            &self,
            hash: u64,
            scope: &str,
            key: &str,
            f: impl FnOnce(&Arc<T>) -> R,
        ) -> Option<R> {
            let guard = self.map.guard();
            self.map
                .get_key_value(&Probe { hash, scope, key }, &guard)
                .map(|(k, ())| f(&k.member))
        }

        /// Inserts `member` unless its `(scope, key)` is taken; then returns
        /// the occupant (`None` if it vanished meanwhile: retry).
        pub(crate) fn try_insert(&self, member: Arc<T>) -> Result<(), Option<Arc<T>>> {
            let guard = self.map.guard();
            let probe_key = Arc::clone(&member);
            match self.map.try_insert(ByIdentity::new(member), (), &guard) {
                Ok(_) => Ok(()),
                Err(_) => {
                    let probe = Probe::of(&*probe_key);
                    Err(self
                        .map
                        .get_key_value(&probe, &guard)
                        .map(|(k, ())| Arc::clone(&k.member)))
                }
            }
        }

        /// Removes `member` itself, if it is still the one held.
        pub(crate) fn remove_same(&self, member: &Arc<T>) {
            let guard = self.map.guard();
            let _ = self.map.remove_if(&Same(member), |_, ()| true, &guard);
        }

        pub(crate) fn len(&self) -> usize {
            self.map.len()
        }

        /// Visits every member (no order; weakly consistent).
        pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<T>)) {
            let guard = self.map.guard();
            for (k, ()) in self.map.iter(&guard) {
                f(&k.member);
            }
        }
    }
}

#[cfg(skipstore_loom)]
mod imp {
    use std::collections::{BTreeMap, HashMap};

    use super::{Arc, Bound, ControlFlow, Member};
    use crate::sync::{Mutex, MutexGuard};

    fn lock<M>(m: &Mutex<M>) -> MutexGuard<'_, M> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) struct OrderedSet<T: Member> {
        map: Mutex<BTreeMap<String, Arc<T>>>,
    }

    impl<T: Member> OrderedSet<T> {
        pub(crate) fn new() -> Self {
            Self {
                map: Mutex::new(BTreeMap::new()),
            }
        }

        pub(crate) fn insert_over_gone(&self, member: Arc<T>) {
            let mut map = lock(&self.map);
            let key = member.sort_key().to_owned();
            match map.get(&key) {
                Some(old) if !old.is_gone() => {}
                _ => {
                    map.insert(key, member);
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

    pub(crate) struct PointSet<T: Member> {
        map: Mutex<HashMap<(String, String), Arc<T>>>,
    }

    impl<T: Member> PointSet<T> {
        pub(crate) fn new() -> Self {
            Self {
                map: Mutex::new(HashMap::new()),
            }
        }

        pub(crate) fn with<R>(
            &self,
            _hash: u64,
            scope: &str,
            key: &str,
            f: impl FnOnce(&Arc<T>) -> R,
        ) -> Option<R> {
            let found = lock(&self.map)
                .get(&(scope.to_owned(), key.to_owned()))
                .cloned();
            found.map(|m| f(&m))
        }

        pub(crate) fn try_insert(&self, member: Arc<T>) -> Result<(), Option<Arc<T>>> {
            let mut map = lock(&self.map);
            let k = (member.scope().to_owned(), member.sort_key().to_owned());
            if let Some(old) = map.get(&k) {
                return Err(Some(Arc::clone(old)));
            }
            map.insert(k, member);
            Ok(())
        }

        pub(crate) fn remove_same(&self, member: &Arc<T>) {
            let mut map = lock(&self.map);
            let k = (member.scope().to_owned(), member.sort_key().to_owned());
            if map.get(&k).is_some_and(|m| Arc::ptr_eq(m, member)) {
                map.remove(&k);
            }
        }

        pub(crate) fn len(&self) -> usize {
            lock(&self.map).len()
        }

        pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<T>)) {
            let snapshot: Vec<Arc<T>> = lock(&self.map).values().cloned().collect();
            for m in &snapshot {
                f(m);
            }
        }
    }
}

pub(crate) use imp::{OrderedSet, PointSet};
