//! The entry slot: one atomic pointer to the current [`Version`] of an entry.
//!
//! # Ground rules
//!
//! * A slot is *live* while it points at a version and *dead* once it holds
//!   null. Dead is final: no operation ever stores a non-null pointer into a
//!   dead slot. Every protocol step in [`crate::engine`] leans on this.
//! * Overwrites swap in a whole new [`Version`] (value, expiry and version
//!   number together), so a reader never sees a torn mix of two writes.
//! * A replaced or killed version is retired, not freed: readers that loaded
//!   it may still be cloning its value. Retirement goes through
//!   crossbeam-epoch, in every build: the loom build (`--cfg skipstore_loom
//!   --cfg crossbeam_loom`) runs this very implementation with crossbeam-epoch
//!   in its own loom mode and a loom-checked inline cell, so the models in
//!   `slot/loom_models.rs` see every deferred free, and fail if a version is
//!   dropped before its readers are done.
//! * The slot's final version is freed when the slot drops; by then no reader
//!   can reach the slot (its entry is unreachable from every index).
//!
//! # The first version lives in the slot
//!
//! A slot is created with its first version stored inline (the pointer then
//! holds a marker, not an address), so a new row costs one allocation, not
//! two, and its removal one free less. Later versions are boxed. The inline
//! version cannot be freed on its own; once displaced, its value is dropped
//! in place after the epoch's grace period:
//!
//! * displaced by an overwrite: by a deferral that holds an owning handle to
//!   the slot's owner (the entry) until then (see [`Graveyard`]);
//! * displaced by the kill: the dead pointer is marked, and the point
//!   index's release of the entry (which comes after the kill, through the
//!   epoch) drops it ([`Slot::release_killed`]), on a cache line that
//!   release touches anyway.
//!
//! A slot whose pointer still marks its inline version (live or killed)
//! drops it with itself.
//!
//! Once an overwrite's release has dropped it, it marks the cell free (a
//! second tag bit on the pointer), and the next overwrite may claim it (a CAS that
//! clears the mark, so exactly one writer owns the cell), write its version
//! there and install the inline marker again; a writer whose install then
//! fails gives the cell back. So a row overwritten now and then returns to
//! one allocation, and its first-version space is not dead weight. No ABA:
//! a cell is marked free only after a grace period, which a thread that
//! loaded the old marker (and is still pinned) holds back.

use std::ptr::NonNull;

use super::retire::Batch;
use crate::sync::{Arc, AtomicU64, Ordering};

/// Expiry stamp meaning "never expires".
pub(crate) const NEVER: u64 = u64::MAX;

/// Expiry stamp of a version whose expiry was claimed by a sweep: expired,
/// and no reader may extend it any more (see [`Version::claim_expired`]).
const CLAIMED: u64 = 0;

/// Bits of a version number that count writes to one entry; the bits above
/// them name the entry's incarnation, unique in the process, so that a
/// version never repeats across a delete and re-insert of the same key.
const WRITE_BITS: u32 = 24;
const WRITE_MASK: u64 = (1 << WRITE_BITS) - 1;

/// The version number of the first write of a new entry.
pub(crate) fn first_version() -> u64 {
    use std::cell::Cell;
    #[allow(clippy::disallowed_types)] // a process-wide id source, not part of any protocol
    static NEXT_BLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    const BLOCK: u64 = 1024;
    thread_local! {
        static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    let id = IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, std::sync::atomic::Ordering::Relaxed);
            end = next + BLOCK;
        }
        ids.set((next + 1, end));
        next
    });
    (id << WRITE_BITS) | 1
}

/// The version number of the write after `v` (same incarnation).
/// The version number of the write after `v`: the next write number of the
/// same incarnation, or a fresh incarnation once its write numbers run out
/// (so that no version ever repeats).
pub(crate) fn next_version(v: u64) -> u64 {
    if v & WRITE_MASK == WRITE_MASK {
        first_version()
    } else {
        v + 1
    }
}

/// Sliding expiry: each read pushes the expiry to `now + ttl`, never past
/// `cap_at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slide {
    pub(crate) ttl: u64,
    pub(crate) cap_at: u64,
}

/// One write of an entry: the value, when it expires, and which write it was.
#[derive(Debug)]
pub(crate) struct Version<V> {
    pub(crate) value: V,
    /// Clock nanoseconds at which the value stops being visible; [`NEVER`]
    /// for no TTL. Live while `now < expires_at`. Moves only forward (a
    /// sliding read) or to [`CLAIMED`] (a sweep that removes it).
    expires_at: AtomicU64,
    /// Write number (see [`first_version`]). Timers carry it so that a timer
    /// armed by an earlier write never removes a later one.
    pub(crate) version: u64,
    /// Present for sliding-TTL writes only (boxed: most writes do not slide).
    pub(crate) slide: Option<Box<Slide>>,
}

impl<V> Version<V> {
    pub(crate) fn new(value: V, expires_at: u64, slide: Option<Slide>) -> Self {
        Self {
            value,
            expires_at: AtomicU64::new(expires_at),
            version: 0,
            slide: slide.map(Box::new),
        }
    }

    pub(crate) fn expires_at(&self) -> u64 {
        self.expires_at.load(Ordering::Acquire)
    }

    pub(crate) fn is_live(&self, now: impl FnOnce() -> u64) -> bool {
        if self.expires_at() == NEVER {
            // A "never" stamp is final: no read moves it, no sweep claims it.
            return true;
        }
        // The clock first, then the stamp: a sliding read may move the stamp
        // forward meanwhile, and comparing an old stamp with a later time
        // would call a refreshed entry expired.
        let now = now();
        now < self.expires_at()
    }

    /// A read at `now`: whether the version is live, and if it slides, its
    /// expiry pushed forward. Lock-free (a CAS on the expiry).
    pub(crate) fn touch(&self, now: impl FnOnce() -> u64) -> bool {
        if self.expires_at() == NEVER {
            return true;
        }
        // As in `is_live`: the clock first, then the stamp.
        let now = now();
        let mut at = self.expires_at();
        let Some(slide) = &self.slide else {
            return now < at;
        };
        // Never onto the "never" sentinel: a refreshed expiry stays finite.
        let want = now
            .saturating_add(slide.ttl)
            .min(slide.cap_at)
            .min(NEVER - 1);
        loop {
            if now >= at {
                return false;
            }
            if want <= at {
                return true;
            }
            match self.expires_at.compare_exchange_weak(
                at,
                want,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => at = seen,
            }
        }
    }

    /// Claims an expired version for removal: true if it was expired at
    /// `now` and no reader extended it first. Afterwards no read sees it live.
    pub(crate) fn claim_expired(&self, now: u64) -> bool {
        let mut at = self.expires_at();
        loop {
            if at == NEVER || now < at {
                return false;
            }
            if at == CLAIMED {
                return true;
            }
            match self
                .expires_at
                .compare_exchange(at, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(seen) => at = seen,
            }
        }
    }
}

impl<V: Clone> Version<V> {
    /// A copy of this version (its value cloned) for a write to retry.
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            value: self.value.clone(),
            expires_at: AtomicU64::new(self.expires_at()),
            version: self.version,
            slide: self.slide.clone(),
        }
    }
}

/// A version that this thread's [`Slot::kill_if`] or [`Slot::replace_if`]
/// has just displaced, as their `f` sees it (while the guard the caller
/// passed them is held). [`Keepsakes::keep`] keeps it readable for longer.
pub(crate) struct Displaced<'a, V>(&'a Version<V>);

impl<'a, V> Displaced<'a, V> {
    /// Only the slot implementations make these, for a version their own
    /// CAS displaced, while pinned since before that CAS.
    pub(super) fn new(version: &'a Version<V>) -> Self {
        Self(version)
    }
}

impl<V> std::ops::Deref for Displaced<'_, V> {
    type Target = Version<V>;

    fn deref(&self) -> &Version<V> {
        self.0
    }
}

/// Displaced versions whose values a removal listener is to receive, kept
/// readable until the operation that displaced them has released every
/// lock and flag: their values are cloned (user code) only then.
///
/// Holds an epoch pin of its own, taken on the displacing thread while the
/// guard passed to the displacing call was still held, so the pin is
/// continuous from before the displacing CAS (and outlives the operation's
/// guard, which is dropped before delivery), and the deferred free of every kept version (boxed, or an inline
/// one dropped in place) waits for it. Not `Send`: the pin belongs to the
/// thread.
pub(crate) struct Keepsakes<V> {
    pin: Option<super::Guard>,
    kept: Vec<std::ptr::NonNull<Version<V>>>,
}

impl<V> Keepsakes<V> {
    pub(crate) const fn new() -> Self {
        Self {
            pin: None,
            kept: Vec::new(),
        }
    }

    /// Keeps `version` readable; returns its index for [`Keepsakes::get`].
    pub(crate) fn keep(&mut self, version: Displaced<'_, V>) -> usize {
        // A nested pin on this thread: it extends the guard held while
        // `version` is handed out.
        self.pin.get_or_insert_with(super::pin);
        self.kept.push(std::ptr::NonNull::from(version.0));
        self.kept.len() - 1
    }

    /// The version kept at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&Version<V>> {
        // SAFETY: R1: kept by `keep`, whose pin (held by `self`) continues
        // the caller's guard from before the displacing CAS, so the deferred
        // free of every version kept waits for it (see the type docs).
        self.kept.get(index).map(|v| unsafe { v.as_ref() })
    }
}

/// Outcome of [`Slot::kill_if`].
pub(crate) enum Killed {
    /// This call moved the slot from live to dead.
    Now,
    /// The slot was already dead, or the predicate declined.
    No,
}

/// Outcome of [`Slot::replace_if`].
pub(crate) enum Replaced<V, R> {
    /// Installed, with this version number; `R` is what `f` made of the
    /// version it replaced.
    Done(u64, R),
    /// The predicate declined the current version (the new one is dropped).
    Declined,
    /// The slot is dead; the new version comes back.
    Dead(Version<V>),
}

/// Versions displaced (killed or replaced) during one operation, retired
/// together (see [`crate::raw::retire`]).
///
/// A boxed version is freed. An inline one that an overwrite displaced
/// (see the module docs) is retired with an owning handle to its slot's
/// owner `O` (an `Arc<O>` the overwrite's `hold` argument made, whose
/// allocation holds the slot: checked when the handle is made); after the
/// grace period its release drops the inline version in place through that
/// handle, then drops the handle.
pub(crate) struct Graveyard<V: Send + Sync + 'static, O: Send + Sync + 'static> {
    boxed: Batch<RetiredBox<V>>,
    inline: Batch<InlineRelease<V, O>>,
}

impl<V: Send + Sync + 'static, O: Send + Sync + 'static> Graveyard<V, O> {
    /// An empty graveyard.
    pub(crate) const fn new() -> Self {
        Self {
            boxed: Batch::new(),
            inline: Batch::new(),
        }
    }

    /// Retires the versions displaced so far through the caller's pin
    /// (see [`Batch::retire_now`]).
    pub(crate) fn retire_now(&mut self, guard: &super::Guard) {
        self.boxed.retire_now(guard);
        self.inline.retire_now(guard);
    }
}

/// A boxed version a slot CAS unlinked: freed when this drops.
struct RetiredBox<V>(NonNull<Version<V>>);

// SAFETY: R8: it moves a `Version<V>` (and so its value) to the thread
// that frees it.
unsafe impl<V: Send + Sync> Send for RetiredBox<V> {}

impl<V> RetiredBox<V> {
    /// # Safety
    /// `version` is a boxed version this thread's CAS unlinked from a slot
    /// (R2), handed here once; it is dropped only after R1's grace period
    /// (the handle goes straight into a [`Batch`]).
    unsafe fn new(version: NonNull<Version<V>>) -> Self {
        Self(version)
    }
}

impl<V> Drop for RetiredBox<V> {
    fn drop(&mut self) {
        // SAFETY: R2: owned here once (see `new`); R1: past the grace
        // period of a deferral made after the unlinking CAS.
        let version = unsafe { Box::from_raw(self.0.as_ptr()) };
        contain(|| drop(version));
    }
}

/// A displaced inline version and an owning handle to the slot's owner:
/// when this drops, the version is dropped in place and the cell marked
/// free, then the handle goes.
struct InlineRelease<V, O> {
    /// Inside `owner`'s allocation (checked by `new`), so the handle keeps
    /// it alive.
    slot: NonNull<Slot<V>>,
    _owner: Arc<O>,
}

// SAFETY: R8: it moves the owner's count and the displaced version's
// value to the thread that releases them.
unsafe impl<V: Send + Sync, O: Send + Sync> Send for InlineRelease<V, O> {}

impl<V, O> InlineRelease<V, O> {
    /// The release of `slot`'s inline version, held through `owner`, which
    /// must hold the slot in its allocation.
    ///
    /// # Safety
    /// This thread's CAS displaced `slot`'s inline version (R2, once per
    /// displacement), and the handle is dropped only after R1's grace
    /// period (it goes straight into a [`Batch`]).
    unsafe fn new(slot: &Slot<V>, owner: Arc<O>) -> Self {
        let Some(offset) = offset_within(&*owner, slot) else {
            // A handle that does not own the slot could let the slot go
            // before its release: refuse it (an engine bug, not input).
            panic!("an inline release's handle must own its slot");
        };
        // Derived from the owner's pointer, so it carries the provenance
        // of the allocation the handle keeps alive.
        let base = NonNull::from(&*owner).cast::<u8>();
        // SAFETY: in bounds: `offset_within` checked that the slot lies in
        // the owner's bytes.
        let slot = unsafe { base.add(offset) }.cast::<Slot<V>>();
        Self {
            slot,
            _owner: owner,
        }
    }
}

impl<V, O> Drop for InlineRelease<V, O> {
    fn drop(&mut self) {
        // SAFETY: the slot lies in `owner`'s allocation, which `owner`
        // keeps alive until after this; R1, R2, R4: displaced once by
        // the CAS that made this handle, and past the grace period of a
        // deferral made after it.
        unsafe { self.slot.as_ref().drop_inline() };
    }
}

/// Where `inner` lies in `outer`'s bytes, if it lies wholly inside them.
pub(super) fn offset_within<O, I>(outer: &O, inner: &I) -> Option<usize> {
    let base = std::ptr::from_ref(outer).addr();
    std::ptr::from_ref(inner)
        .addr()
        .checked_sub(base)
        .filter(|&at| at + size_of::<I>() <= size_of::<O>())
}

/// Runs `drop_values` (which drops stored values: user code) and swallows
/// a panic from it, after the panic hook has reported it.
///
/// Values are dropped where the store lets go of them: often inside
/// crossbeam-epoch's deferred destruction, which runs in whatever pin
/// (of any store, on any thread) happens to collect garbage. A panic let
/// out there would unwind through that unrelated operation, half done,
/// and crossbeam would skip (leak) the rest of its batch. So the store
/// contains it: the value counts as dropped (Rust has run the drop glue
/// of its fields), and nothing else is skipped.
///
/// Under loom nothing is contained: a model's failure is a panic (loom's
/// own checks too, inside a value's drop), and one caught here would pass.
#[cfg(not(skipstore_loom))]
pub(super) fn contain(drop_values: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(drop_values));
}

/// See the non-loom `contain`: under loom a panic fails the model.
#[cfg(skipstore_loom)]
pub(super) fn contain(drop_values: impl FnOnce()) {
    drop_values();
}

mod epoch_imp;
use epoch_imp as imp;

pub(crate) use imp::Slot;

#[cfg(all(test, skipstore_loom))]
mod loom_models;

#[cfg(all(test, not(skipstore_loom)))]
mod tests;
