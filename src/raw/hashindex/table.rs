//! The point index's tables: groups of seven slots per cache line, and the
//! probe that walks them (see the parent module's "Groups" and "Ground
//! rules"). Safe code: the parent decides what a slot's pointer means.

use crossbeam_utils::CachePadded;
use std::ptr;

use super::SHARDS;
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, Unshared};

/// Splits a point hash into a shard, a slot index and a one-byte tag.
#[derive(Clone, Copy)]
pub(super) struct Spread {
    /// Bits 32.. of the mixed hash, before the table's mask.
    high: usize,
    pub(super) tag: u8,
    pub(super) shard: usize,
}

impl Spread {
    pub(super) fn of(hash: u64) -> Self {
        // Point hashes are seeded and mixed already; multiply once more so
        // that the slot index (bits 32..), the shard (bits 24..32) and the
        // tag (bits 0..8) are independent.
        let h = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            high: (h >> 32) as usize,
            // Never 0: 0 means "no tag yet".
            tag: (h as u8) | 0x80,
            shard: (h >> 24) as usize & (SHARDS - 1),
        }
    }

    /// The first slot of the key's home group: a probe starts there, so
    /// that it reads every slot of that cache line before the next.
    fn home(self, mask: usize) -> usize {
        self.high & mask & !(GROUP - 1)
    }
}

/// Slot indexes per group: the last index of each group has no slot (its
/// tag byte is spare), so that a group, seven pointers and the word of
/// their tags, is one 64-byte cache line.
const GROUP: usize = 8;
/// Slots a group holds: every index but the last of each group.
const PER_GROUP: usize = GROUP - 1;
/// `0x01` in every byte of a tag word.
const BYTES: u64 = u64::from_ne_bytes([1; 8]);
/// The low seven bits of every byte.
const LOW7: u64 = 0x7f * BYTES;
/// The high bit of every byte.
const HIGH: u64 = 0x80 * BYTES;

/// Seven slots and their tags in one cache line: a probe that finds its
/// member (or its absence) in the home group misses once on the index,
/// where separate tag and pointer arrays missed twice (one line each).
#[repr(C, align(64))]
struct Group<T> {
    /// Byte `i` (`tags >> 8 * i`) tags `slots[i]`, 0 until set; byte
    /// `PER_GROUP` is spare. One word, so that a probe reads a group's
    /// tags with one load.
    tags: AtomicU64,
    slots: [AtomicPtr<T>; PER_GROUP],
}

// One line exactly (loom's atomics are larger; the layout is the same).
#[cfg(not(skipstore_loom))]
const _: () = assert!(size_of::<Group<u8>>() == 64);

impl<T> Group<T> {
    fn new() -> Self {
        Self {
            tags: AtomicU64::new(0),
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Fills slot `i` of a group that no other thread can reach yet (a
    /// resize's copy): plain writes, no atomic operation, so the copy
    /// costs a loom model no interleavings.
    fn seed(&mut self, i: usize, member: *mut T, tag: u8) {
        self.slots[i].with_unshared(|p| *p = member);
        self.tags.with_unshared(|t| *t |= u64::from(tag) << (8 * i));
    }
}

pub(super) struct Table<T> {
    /// Over slot indexes (`GROUP` per group, the last of each spare).
    mask: usize,
    /// `(mask + 1) / GROUP` groups, one at least: a table under loom has
    /// four indexes, all in its one group.
    groups: Box<[Group<T>]>,
    /// The high bit of each byte of a tag word that tags a slot of this
    /// table (seven, or all the indexes of a table smaller than a group).
    lanes: u64,
    /// Slots ever filled (members and tombstones): the resize trigger.
    /// Padded: every insert into the shard bumps it, and readers load the
    /// fields above on every probe.
    used: CachePadded<AtomicUsize>,
}

impl<T> Table<T> {
    /// A table of `indexes` slot indexes (a power of two).
    fn new(indexes: usize) -> Self {
        debug_assert!(indexes.is_power_of_two());
        let lanes = indexes.min(PER_GROUP);
        Self {
            mask: indexes - 1,
            groups: (0..indexes.div_ceil(GROUP)).map(|_| Group::new()).collect(),
            lanes: HIGH & (u64::MAX >> (8 * (8 - lanes))),
            used: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Slot `i`'s pointer (`i` a slot index a probe gave, never a group's
    /// spare one).
    pub(super) fn slot(&self, i: usize) -> &AtomicPtr<T> {
        &self.groups[i / GROUP].slots[i % GROUP]
    }

    /// Sets slot `i`'s tag (once, after its pointer).
    pub(super) fn set_tag(&self, i: usize, tag: u8) {
        let shift = 8 * (i % GROUP);
        self.groups[i / GROUP]
            .tags
            .fetch_or(u64::from(tag) << shift, Ordering::Release);
    }

    /// A table of `indexes` slot indexes (a power of two) holding
    /// `members`, each at the first free slot of its probe order, as an
    /// insert would put it; `spread` is a member's [`Spread`]. Nobody can
    /// reach the table yet, so its slots are filled with plain writes.
    pub(super) fn holding(
        indexes: usize,
        members: &[*mut T],
        spread: impl Fn(*mut T) -> Spread,
    ) -> Self {
        let mut table = Self::new(indexes);
        // The table is ours alone: the slots each group has filled are
        // counted here instead of read back.
        let (width, last) = (table.width(), table.groups.len() - 1);
        let mut filled = vec![0_usize; table.groups.len()];
        for &m in members {
            let spread = spread(m);
            let mut g = spread.home(table.mask) / GROUP;
            while filled[g] == width {
                g = (g + 1) & last;
            }
            table.groups[g].seed(filled[g], m, spread.tag);
            filled[g] += 1;
        }
        table.used.store(members.len(), Ordering::Relaxed);
        table
    }

    /// Slots ever filled (members and tombstones).
    pub(super) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The address of the cache line a probe from `spread` reads first
    /// (for a prefetch, which only x86-64 builds outside Miri and loom
    /// issue).
    #[cfg(all(target_arch = "x86_64", not(miri), not(skipstore_loom)))]
    pub(super) fn home_line(&self, spread: Spread) -> *const i8 {
        let group = &self.groups[spread.home(self.mask) / GROUP];
        ptr::from_ref(group).cast()
    }

    /// Every slot, in index order.
    pub(super) fn slots(&self) -> impl Iterator<Item = &AtomicPtr<T>> + '_ {
        let width = self.width();
        self.groups.iter().flat_map(move |g| &g.slots[..width])
    }

    /// Slots per group: seven, or all the indexes of a smaller table.
    fn width(&self) -> usize {
        (self.mask + 1).min(PER_GROUP)
    }

    /// Slots the table holds (its indexes less the spare ones).
    pub(super) fn capacity(&self) -> usize {
        let indexes = self.mask + 1;
        indexes - indexes / GROUP
    }

    /// The slots a probe from `spread` visits that may hold its key, in
    /// probe order (group by group from the home group, each in slot
    /// order): slots whose tag is unset or the key's. Another tag is
    /// another key, skipped without loading its pointer.
    pub(super) fn probe(&self, spread: Spread) -> Probe<'_, T> {
        let wanted = BYTES * u64::from(spread.tag);
        let group = spread.home(self.mask) / GROUP;
        Probe {
            table: self,
            wanted,
            group,
            groups_left: self.groups.len() - 1,
            candidates: self.candidates(group, wanted),
        }
    }

    /// The high bit of each byte of group `g`'s tag word whose slot may
    /// hold the key tagged `wanted` (in every byte): its tag is unset or
    /// the key's.
    #[inline]
    fn candidates(&self, g: usize, wanted: u64) -> u64 {
        // One snapshot serves as well as a load per tag: a tag is set
        // once, so a slot skipped as another key's stays that key's, and
        // a slot whose tag comes later has its pointer read.
        let tags = self.groups[g].tags.load(Ordering::Acquire);
        let diff = tags ^ wanted;
        // A byte's high bit set where `diff`'s byte is zero (exact: nothing
        // carries across bytes), or where no tag is set yet (tags have
        // their high bit set).
        let matching = !(((diff & LOW7) + LOW7) | diff) & HIGH;
        let unset = !tags & HIGH;
        (matching | unset) & self.lanes
    }

    /// Counts a slot just filled; true if the table is now due for a
    /// resize (members and tombstones fill three quarters of it).
    pub(super) fn fill_one(&self) -> bool {
        (self.used.fetch_add(1, Ordering::Relaxed) + 1) * 4 >= self.capacity() * 3
    }
}

/// A probe's walk over a table: the slots that may hold its key, in
/// probe order (group by group from the home group, each in slot order):
/// slots whose tag is unset or the key's. Another tag is another key,
/// skipped without loading its pointer.
pub(super) struct Probe<'t, T> {
    table: &'t Table<T>,
    /// The key's tag in every byte.
    wanted: u64,
    /// The group `candidates` come from.
    group: usize,
    /// Groups not yet read.
    groups_left: usize,
    /// The high bit of each byte of `group`'s tag word still to visit.
    candidates: u64,
}

impl<T> Iterator for Probe<'_, T> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.candidates == 0 {
            if self.groups_left == 0 {
                return None;
            }
            self.groups_left -= 1;
            self.group = (self.group + 1) & (self.table.groups.len() - 1);
            self.candidates = self.table.candidates(self.group, self.wanted);
        }
        let byte = self.candidates.trailing_zeros() as usize / 8;
        self.candidates &= self.candidates - 1;
        Some(self.group * GROUP + byte)
    }
}
