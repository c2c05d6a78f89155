//! The point index: a lock-free open-addressing hash set of `Arc`'d
//! members, found by a precomputed hash and `(scope, key)`.
//!
//! Built for this crate's one use, where papaya (a general concurrent map)
//! paid for generality: a boxed key per member (an allocation per row and a
//! cache miss per probe) and a reclaimer per removal. Here a slot is the
//! member's own pointer; a one-byte tag per slot filters probes; removal
//! leaves a tombstone and hands the member's count to crossbeam-epoch.
//!
//! # Groups
//!
//! Slots come in groups of seven, each group one 64-byte cache line: seven
//! pointers and one word holding their tags. A probe starts at the first
//! slot of its key's home group and reads the group's tags with one load,
//! so a probe that ends in its home group (nearly all of them: a table is
//! at most three quarters full, see "Tombstones") misses once on the
//! index; with the tags and pointers in
//! two arrays it missed twice, once on each (BENCHMARKS.md, issue 15,
//! "Thirteenth session"). Beyond the home group the probe goes on group by
//! group, in slot order, as linear probing does.
//!
//! # Shards
//!
//! The set is 256 independent tables (`SHARDS`), chosen by hash bits; each
//! grows (and sheds its tombstones) on its own. A resize freezes and copies
//! one shard's table under that shard's mutex, and writers that meet the
//! frozen table wait for it: so a writer waits at most for one shard's
//! copy, about `rows / 256` members (8k at 2M rows),
//! not for the whole index (`rows`: 266 ms at 2M rows when this was one
//! table). The alternatives: papaya's incremental mode (writers that meet a
//! resize each move a chunk) bounds the wait without a lock, but doubles
//! the probe path (old and new table both live) and needs a copy protocol
//! per slot; shards keep the one-table probe and the simple freeze-copy
//! that the loom models check, and bound the stall by the shard size,
//! which is what the floor asks for. Reads never wait either way.
//!
//! # Tombstones
//!
//! A removal leaves a tombstone, which is never reused in place (see the
//! ground rules: reuse would let two inserters of one key claim different
//! slots). Instead a shard whose members and tombstones fill three quarters
//! of it is rehashed into a table sized for its members only (half full),
//! which drops every tombstone: under steady churn that is a rehash at the
//! same size, of one shard, every quarter-table of inserts into it. So a
//! shard's slots follow the members it holds, not its history, and the
//! rehash costs amortised O(1) per insert and at most one shard's copy in
//! one go.
//!
//! # Ground rules
//!
//! * A slot's pointer moves only forward: null -> member -> tombstone, and
//!   any of them -> frozen (below). A slot never becomes null again, and a
//!   tombstone is never reused, so two inserters of one key always meet at
//!   the first null slot of its probe sequence in its shard's table: one
//!   CAS wins, the other finds the winner there. That is what makes keys
//!   unique.
//! * A slot's tag is written once, after its pointer (an atomic OR into its
//!   group's tag word), and only narrows probes: a reader that sees the tag
//!   sees the pointer; a reader that sees no tag reads the pointer.
//! * The table owns one strong count of each member it holds. A removal
//!   (member -> tombstone) gives the count back through the epoch, so a
//!   reader pinned while it probes can use every member it reaches.
//! * Resizing a shard runs under its mutex: the resizer freezes every slot
//!   of the shard's table (sets the low bit of its pointer, so no insert or
//!   removal can succeed there any more), copies the members into a new
//!   table, publishes it and retires the old one. Readers never wait: a
//!   frozen slot still names its member. Writers that meet a frozen slot
//!   wait for the shard's new table and retry there.
//! * A shard has no table until its first insert (an empty set allocates
//!   its shard array only).

use std::ptr;

use crate::counter::StripedCounter;
use crate::index::Member;
use crate::sync::{Arc, AtomicPtr, Mutex, Ordering};

use crate::raw::{Guard, Lent};

/// Runs `f` once no thread pinned now can still be reading (through
/// crossbeam-epoch; under loom its own loom mode, so the models see every
/// deferred free run at the end of a grace period, as it ships).
///
/// # Safety
/// What `f` frees must be unreachable for threads that pin later.
unsafe fn defer(guard: &Guard, f: impl FnOnce() + 'static) {
    // SAFETY: per this function's contract.
    unsafe { guard.epoch().defer_unchecked(f) };
}

/// Counts of members removed from a set, given back together (see
/// [`crate::raw::retire`]).
pub(crate) struct Released<T: Member> {
    counts: crate::raw::retire::Batch<Count<T>>,
}

impl<T: Member> Released<T> {
    pub(crate) const fn new() -> Self {
        Self {
            counts: crate::raw::retire::Batch::new(),
        }
    }

    /// Gives the counts released so far back through the caller's pin
    /// (see [`crate::raw::retire::Batch::retire_now`]).
    pub(crate) fn retire_now(&mut self, guard: &Guard) {
        self.counts.retire_now(guard);
    }

    fn push(&mut self, member: *const T, gone: bool) {
        // SAFETY: R2, R6: callers hand over the set's count of a member
        // that their tombstone CAS unlinked, once, with whether it was gone
        // before (R3); R1: the batch defers giving it back.
        self.counts.push(unsafe { Count::new(member, gone) });
    }
}

/// A set's count of a member it unlinked: given back when this drops,
/// after telling the member ([`Member::unlinked`]) if it was gone before
/// the unlink (R3: the set's own tests unlink live members, whose release
/// proves nothing).
struct Count<T: Member> {
    member: Arc<T>,
    gone: bool,
}

impl<T: Member> Count<T> {
    /// # Safety
    /// `member` is the set's strong count of a member that this thread's
    /// tombstone CAS unlinked (R2, R6), `gone` whether `member.is_gone()`
    /// held before that CAS (R3), and the handle is dropped only after
    /// R1's grace period.
    unsafe fn new(member: *const T, gone: bool) -> Self {
        // SAFETY: R6: the set's count, handed over once per the contract.
        let member = unsafe { Arc::from_raw(member) };
        Self { member, gone }
    }
}

impl<T: Member> Drop for Count<T> {
    fn drop(&mut self) {
        if self.gone {
            self.member.unlinked(&crate::raw::Unlinked(&*self.member));
        }
    }
}

/// Gives back a set's count of a member it unlinked (after telling the
/// member, see [`Member::unlinked`]).
///
/// # Safety
/// As [`Count::new`], and past R1's grace period already.
unsafe fn release_count<T: Member>(member: *const T, gone: bool) {
    // SAFETY: R1, R2, R3, R6, as the contract passes them on.
    drop(unsafe { Count::new(member, gone) });
}

/// Low pointer bit: the slot is frozen (a resize is copying the table).
const FROZEN: usize = 1;
/// A removed member's slot. Not a valid member address (members are at
/// least 8-aligned), and distinct from null and from frozen forms.
const TOMB: usize = 2;
/// Slot indexes of a shard's first table (seven eighths of them slots).
#[cfg(not(skipstore_loom))]
const MIN_SLOTS: usize = 16;
#[cfg(skipstore_loom)]
const MIN_SLOTS: usize = 4;
/// log2 of the number of shards. 256 in production: a store of 2M rows
/// copies about 8k members per resize. Fewer under
/// tests (more resizes per key), one under loom (the models force a resize
/// with three members).
#[cfg(not(any(test, skipstore_loom)))]
const SHARD_BITS: u32 = 8;
#[cfg(all(test, not(skipstore_loom)))]
const SHARD_BITS: u32 = 2;
#[cfg(skipstore_loom)]
const SHARD_BITS: u32 = 0;
const SHARDS: usize = 1 << SHARD_BITS;

/// What a slot holds, decoded (whether or not it is frozen).
enum Seen<T> {
    Empty,
    Tomb,
    Member(*mut T),
}

/// Decodes a slot's pointer; the flag says whether the slot is frozen.
fn decode<T>(p: *mut T) -> (Seen<T>, bool) {
    let seen = match p.addr() & !FROZEN {
        0 => Seen::Empty,
        TOMB => Seen::Tomb,
        _ => Seen::Member(p.map_addr(|a| a & !FROZEN)),
    };
    (seen, p.addr() & FROZEN != 0)
}

/// Whether `member` is the one for `(scope, key)` with point hash `hash`
/// (the hash first: it rejects almost every other member without touching
/// a string).
fn is_key<T: Member>(member: &T, hash: u64, scope: &str, key: &str) -> bool {
    member.point_hash() == hash && member.has_sort_key(key) && member.has_scope(scope)
}

/// The point hash of a member we hold a count of.
fn hash_of<T: Member>(raw: *mut T) -> u64 {
    // SAFETY: R6: callers hold a strong count of `raw`.
    unsafe { &*raw }.point_hash()
}

enum Inserted<T> {
    /// Inserted; true if the table is now due for a resize.
    Done(bool),
    Occupied(*mut T),
    Frozen,
    Full,
}

enum Removed {
    Done,
    Absent,
    Frozen,
}

/// One shard: its current table (null until its first insert) and the
/// mutex its resizes run under.
struct Shard<T> {
    table: AtomicPtr<Table<T>>,
    resizing: Mutex<()>,
}

pub(crate) struct PointSet<T: Member> {
    shards: Box<[Shard<T>]>,
    members: StripedCounter,
}

impl<T: Member> PointSet<T> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    table: AtomicPtr::new(ptr::null_mut()),
                    resizing: Mutex::new(()),
                })
                .collect(),
            members: StripedCounter::new(),
        }
    }

    /// The shard `spread` falls in.
    fn shard(&self, spread: Spread) -> &Shard<T> {
        &self.shards[spread.shard]
    }

    /// A shard's current table (`None` before its first insert), valid
    /// for as long as `_guard`.
    fn current<'g>(shard: &'g Shard<T>, _guard: &'g Guard) -> Option<&'g Table<T>> {
        // SAFETY: R1: tables are retired through the epoch after being
        // replaced, and `_guard` (which bounds the reference) is pinned.
        unsafe { shard.table.load(Ordering::Acquire).as_ref() }
    }

    /// The member found under `(scope, key)`, whose point hash is `hash`,
    /// borrowed for as long as `guard`.
    #[inline]
    pub(crate) fn get<'g>(
        &'g self,
        hash: u64,
        scope: &str,
        key: &str,
        guard: &'g Guard,
    ) -> Option<Lent<'g, T>> {
        let spread = Spread::of(hash);
        let table = Self::current(self.shard(spread), guard)?;
        for i in table.probe(spread) {
            // Readers read through frozen slots: they still name their
            // members.
            let p = match decode(table.slot(i).load(Ordering::Acquire)).0 {
                Seen::Empty => return None,
                Seen::Tomb => continue,
                Seen::Member(p) => p,
            };
            // SAFETY: R1, R6: read from a slot of a table reached under
            // `guard`.
            let member = unsafe { Lent::new(p, guard) };
            if is_key(&**member, hash, scope, key) {
                return Some(member);
            }
        }
        None
    }

    /// A hint to the CPU, nothing more: starts loading the tag and the slot
    /// where a probe for `hash` begins, so that a caller with other memory
    /// to wait for first (a write's namespace lookup) waits for both at
    /// once. A no-op under Miri and loom, and off x86-64.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64, guard: &Guard) {
        #[cfg(all(target_arch = "x86_64", not(miri), not(skipstore_loom)))]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let spread = Spread::of(hash);
            if let Some(table) = Self::current(self.shard(spread), guard) {
                let line = table.home_line(spread);
                // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 has;
                // it reads nothing and cannot fault, and the address is in
                // bounds of a table reached under `guard` anyway.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri), not(skipstore_loom))))]
        let _ = (hash, guard);
    }

    /// Inserts `member` unless its `(scope, key)` is taken; then returns
    /// the occupant.
    pub(crate) fn try_insert(&self, member: Arc<T>, guard: &Guard) -> Result<(), Option<Arc<T>>> {
        let raw = Arc::into_raw(member).cast_mut();
        let spread = Spread::of(hash_of(raw));
        let shard = self.shard(spread);
        loop {
            let Some(table) = Self::current(shard, guard) else {
                self.resize(shard, ptr::null(), guard);
                continue;
            };
            match Self::insert_into(table, spread, raw) {
                Inserted::Done(crowded) => {
                    self.members.add(1);
                    if crowded {
                        self.resize(shard, table, guard);
                    }
                    return Ok(());
                }
                Inserted::Occupied(p) => {
                    // SAFETY: R6: `raw` was never published: the count
                    // `into_raw` took is still ours alone; take it back.
                    drop(unsafe { Arc::from_raw(raw) });
                    // SAFETY: R1, R6: read from a slot of a table reached
                    // under `guard`.
                    let occupant = unsafe { Lent::new(p, guard) };
                    return Err(Some(Arc::clone(&occupant)));
                }
                Inserted::Frozen => Self::wait_for_resize(shard),
                Inserted::Full => self.resize(shard, table, guard),
            }
        }
    }

    fn insert_into(table: &Table<T>, spread: Spread, raw: *mut T) -> Inserted<T> {
        // SAFETY: R6: we hold a strong count of `raw` (not yet published).
        let mine = unsafe { &*raw };
        let hash = mine.point_hash();
        // Slots of other keys are skipped; if the table is frozen, a null
        // slot further on says so.
        for i in table.probe(spread) {
            let mut p = table.slot(i).load(Ordering::Acquire);
            if p.is_null() {
                match table.slot(i).compare_exchange(
                    ptr::null_mut(),
                    raw,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        table.set_tag(i, spread.tag);
                        return Inserted::Done(table.fill_one());
                    }
                    Err(current) => p = current,
                }
            }
            match decode(p) {
                (_, true) => return Inserted::Frozen,
                (Seen::Empty, false) => unreachable!("slots never return to null"),
                (Seen::Tomb, false) => {}
                (Seen::Member(other), false) => {
                    // SAFETY: R1, R6: read from a slot; the caller is pinned.
                    if is_key(unsafe { &*other }, hash, mine.scope(), mine.sort_key()) {
                        return Inserted::Occupied(other);
                    }
                }
            }
        }
        Inserted::Full
    }

    /// Removes `member` itself, if it is still the one held.
    pub(crate) fn remove_same(&self, member: &Arc<T>, guard: &Guard) {
        // Before the unlink (R3): a kill seen here precedes the deferral.
        let gone = member.is_gone();
        if self.unlink(member, guard) {
            let raw = Arc::as_ptr(member);
            // SAFETY: R2, R6: our tombstone CAS unlinked it, so the count
            // given back is the table's own, once; R1: no reader that pins
            // from now on can reach it through this set, and readers
            // pinned earlier are waited for.
            unsafe { defer(guard, move || release_count::<T>(raw, gone)) };
        }
    }

    /// As [`remove_same`](Self::remove_same), but the set's count of the
    /// member goes to `released`, which gives such counts back in batches
    /// (one epoch deferral per batch instead of one per removal).
    pub(crate) fn remove_same_into(
        &self,
        member: &Arc<T>,
        released: &mut Released<T>,
        guard: &Guard,
    ) {
        // Before the unlink, as in `remove_same` (R3).
        let gone = member.is_gone();
        if self.unlink(member, guard) {
            released.push(Arc::as_ptr(member), gone);
        }
    }

    /// Tombstones `member`'s slot; true if this call did (the caller then
    /// owns the set's count of it).
    fn unlink(&self, member: &Arc<T>, guard: &Guard) -> bool {
        let target = Arc::as_ptr(member).cast_mut();
        let spread = Spread::of(member.point_hash());
        let shard = self.shard(spread);
        loop {
            let Some(table) = Self::current(shard, guard) else {
                return false;
            };
            match Self::remove_from(table, spread, target) {
                Removed::Done => {
                    self.members.add(-1);
                    return true;
                }
                Removed::Absent => return false,
                Removed::Frozen => Self::wait_for_resize(shard),
            }
        }
    }

    fn remove_from(table: &Table<T>, spread: Spread, target: *mut T) -> Removed {
        for i in table.probe(spread) {
            match decode(table.slot(i).load(Ordering::Acquire)) {
                // Being resized: the member (or its absence) moves to the
                // new table; look there.
                (_, true) => return Removed::Frozen,
                (Seen::Empty, false) => return Removed::Absent,
                (Seen::Member(p), false) if p == target => {
                    return match table.slot(i).compare_exchange(
                        target,
                        ptr::without_provenance_mut(TOMB),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => Removed::Done,
                        Err(now) if decode(now).1 => Removed::Frozen,
                        // Removed by someone else meanwhile.
                        Err(_) => Removed::Absent,
                    };
                }
                (Seen::Tomb | Seen::Member(_), false) => {}
            }
        }
        Removed::Absent
    }

    /// Waits until the resize of `shard` in progress (if any) has
    /// published its table.
    fn wait_for_resize(shard: &Shard<T>) {
        drop(crate::sync::lock(&shard.resizing));
    }

    /// Replaces `shard`'s table `old` (if still current; null: the shard
    /// has none yet) by one sized for its members, without its tombstones.
    fn resize(&self, shard: &Shard<T>, old: *const Table<T>, guard: &Guard) {
        let _resizing = crate::sync::lock(&shard.resizing);
        let old_ptr = shard.table.load(Ordering::Acquire);
        if !ptr::eq(old_ptr, old) {
            return; // Someone else resized it meanwhile.
        }
        // SAFETY: R1, R2: current (so not retired), and we hold the
        // shard's mutex, so nobody but us replaces and retires it.
        let members = unsafe { old.as_ref() }.map_or_else(Vec::new, freeze);
        // At most four sevenths full after the copy (half of the indexes,
        // seven eighths of which are slots), so the next resize is at
        // least 5/28 of the table's slots of writes away; a shard of
        // tombstones and few members is rehashed at its own size or less.
        let slots = (members.len() * 2).next_power_of_two().max(MIN_SLOTS);
        let new = Table::holding(slots, &members, |m| Spread::of(hash_of(m)));
        shard
            .table
            .store(Box::into_raw(Box::new(new)), Ordering::Release);
        if old_ptr.is_null() {
            return;
        }
        // SAFETY: R1, R2: the old table is unreachable for readers that pin
        // from now on, and only we (holding the shard's mutex) retire it;
        // R6: it holds no counts any more (they moved), so dropping it
        // frees only its arrays.
        unsafe { defer(guard, move || drop(Box::from_raw(old_ptr))) };
    }

    /// Members held (approximate while writers run).
    pub(crate) fn len(&self) -> usize {
        self.members.sum()
    }

    /// Visits every member (no order; weakly consistent).
    pub(crate) fn for_each(&self, guard: &Guard, mut f: impl FnMut(&Arc<T>)) {
        for shard in &self.shards[..] {
            let Some(table) = Self::current(shard, guard) else {
                continue;
            };
            for slot in table.slots() {
                if let (Seen::Member(p), _) = decode(slot.load(Ordering::Acquire)) {
                    // SAFETY: R1, R6: read from a slot of a table reached
                    // under `guard`.
                    let member = unsafe { Lent::new(p, guard) };
                    f(&member);
                }
            }
        }
    }

    /// Slots allocated over all shards (tests: memory follows the members
    /// held, not the history of removals).
    #[cfg(all(test, not(skipstore_loom)))]
    fn slots(&self) -> usize {
        let guard = crate::raw::pin();
        self.shards
            .iter()
            .filter_map(|s| Self::current(s, &guard).map(Table::capacity))
            .sum()
    }
}

/// Freezes every slot of `table` (sets the low bit of its pointer, so no
/// insert or removal can succeed there any more) and returns its members.
fn freeze<T>(table: &Table<T>) -> Vec<*mut T> {
    let mut members = Vec::with_capacity(table.used());
    for slot in table.slots() {
        let mut p = slot.load(Ordering::Acquire);
        loop {
            let frozen = p.map_addr(|a| a | FROZEN);
            match slot.compare_exchange(p, frozen, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => p = now,
            }
        }
        if let (Seen::Member(m), false) = decode(p) {
            members.push(m);
        }
    }
    members
}

impl<T: Member> Drop for PointSet<T> {
    fn drop(&mut self) {
        for shard in &self.shards[..] {
            let table = shard.table.load(Ordering::Relaxed);
            if table.is_null() {
                continue;
            }
            // SAFETY: R5: `&mut self`: nobody else can reach the table; R6:
            // it owns one count of each member it names (tombstones gave
            // theirs back).
            unsafe {
                let table = Box::from_raw(table);
                for slot in table.slots() {
                    if let (Seen::Member(p), _) = decode(slot.load(Ordering::Relaxed)) {
                        drop(Arc::from_raw(p));
                    }
                }
            }
        }
    }
}

// SAFETY: R8: the raw pointers are `Arc<T>` counts (R6) and tables owned
// by the set; sharing the set shares `Arc<T>`s, which needs
// `T: Send + Sync` (`Member`).
unsafe impl<T: Member> Send for PointSet<T> {}
// SAFETY: R8, as for `Send`.
unsafe impl<T: Member> Sync for PointSet<T> {}

mod table;

use table::{Spread, Table};

#[cfg(test)]
mod test_member;

#[cfg(all(test, not(skipstore_loom)))]
mod tests;

#[cfg(all(test, skipstore_loom))]
mod loom_models;
