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
//!   crossbeam-epoch; under the `skipstore_loom` cfg, through a garbage list
//!   that the slot frees when it is dropped (loom cannot see crossbeam-epoch,
//!   and leaking until drop keeps the model simple and sound).
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

use crate::sync::{AtomicU64, Ordering};

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
/// together (see [`crate::retire`]). Under loom a displaced version stays
/// on its slot's garbage list instead.
///
/// A boxed version is freed. An inline one that an overwrite displaced
/// (see the module docs) is retired through an owning handle to its slot's
/// owner, which the overwrite took (its `hold` argument); after the grace
/// period, `release_inline` drops the inline version through that handle
/// and then the handle.
pub(crate) struct Graveyard<V> {
    #[cfg(not(skipstore_loom))]
    boxed: crate::retire::Batch,
    #[cfg(not(skipstore_loom))]
    inline: crate::retire::Batch,
    _versions: std::marker::PhantomData<Box<Version<V>>>,
}

impl<V> Graveyard<V> {
    /// An empty graveyard. `release_inline` must accept exactly the handles
    /// that the `hold` closures given to [`Slot::replace_if`] with this
    /// graveyard make, and must call [`Slot::drop_inline`] on the slot each
    /// one reaches, once.
    #[cfg_attr(skipstore_loom, allow(unused_variables))]
    pub(crate) const fn new(release_inline: unsafe fn(usize)) -> Self {
        Self {
            #[cfg(not(skipstore_loom))]
            boxed: crate::retire::Batch::new(free_version::<V>),
            #[cfg(not(skipstore_loom))]
            inline: crate::retire::Batch::new(release_inline),
            _versions: std::marker::PhantomData,
        }
    }
}

/// # Safety
/// `addr` must be a `Box<Version<V>>` nobody else frees.
#[cfg(not(skipstore_loom))]
unsafe fn free_version<V>(addr: usize) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(addr as *mut Version<V>) });
}

#[cfg(not(skipstore_loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::mem::{ManuallyDrop, MaybeUninit};

    use super::{Graveyard, Killed, Ordering, Replaced, Version, next_version};
    use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};

    /// Tag: the slot's version is the inline one (the pointer is null).
    pub(super) const INLINE: usize = 1;
    /// Tag: the inline cell is empty and may be claimed by a write (never
    /// together with [`INLINE`]).
    pub(super) const FREE: usize = 2;
    /// Tag of a dead slot (null) whose kill displaced the inline version:
    /// it is dropped by [`Slot::release_killed`], or with the slot.
    pub(super) const KILLED: usize = 4;

    pub(crate) struct Slot<V> {
        /// Null: dead (possibly tagged [`KILLED`] or [`FREE`]). Null tagged
        /// [`INLINE`]: the version in `inline`. Otherwise a boxed version,
        /// possibly tagged [`FREE`].
        current: Atomic<Version<V>>,
        /// The first version, and later ones that claim the cell. Holds a
        /// version while `current` marks it, and while a writer that claimed
        /// it tries to install it; empty once dropped in place
        /// ([`Slot::drop_inline`]) or taken back.
        inline: UnsafeCell<MaybeUninit<Version<V>>>,
    }

    // SAFETY: a slot hands out `&Version<V>` to several threads and moves
    // versions (and so values) between threads, exactly as a shared
    // `Box<Version<V>>` behind an atomic would: sound for `V: Send + Sync`.
    // The inline cell is written only by its one owner: the creator, the
    // writer that claimed it, or the release that drops it, each while no
    // reader can reach its contents (see the module docs).
    unsafe impl<V: Send + Sync> Send for Slot<V> {}
    // SAFETY: see `Send`.
    unsafe impl<V: Send + Sync> Sync for Slot<V> {}

    /// Where the version a write is installing sits.
    enum Next<V> {
        /// Not placed yet (the write has not seen the slot live).
        Unplaced(Version<V>),
        Boxed(Owned<Version<V>>),
        /// In the slot's inline cell, which this write claimed.
        Inline,
    }

    impl<V> Slot<V> {
        /// A live slot holding `first` inline.
        pub(crate) fn new(first: Version<V>) -> Self {
            Self {
                current: Atomic::from(Shared::null().with_tag(INLINE)),
                inline: UnsafeCell::new(MaybeUninit::new(first)),
            }
        }

        /// The version `cur` (loaded from `current` under `guard`) names.
        fn resolve<'g>(
            &'g self,
            cur: Shared<'g, Version<V>>,
            _guard: &'g Guard,
        ) -> Option<&'g Version<V>> {
            if cur.tag() & INLINE != 0 {
                // SAFETY: while `current` marks the inline version it holds
                // one, and once displaced it is dropped only after the grace
                // period of a deferral made after the displacing CAS, so
                // every thread that saw the marker (pinned by `_guard`) is
                // done with it first.
                Some(unsafe { (*self.inline.get()).assume_init_ref() })
            } else {
                // SAFETY: boxed versions are freed only through the epoch
                // after being unlinked; `cur` was loaded under `_guard`.
                unsafe { cur.as_ref() }
            }
        }

        /// Hands a version just replaced by this thread's CAS to `grave`.
        fn bury(
            &self,
            cur: Shared<'_, Version<V>>,
            grave: &mut Graveyard<V>,
            hold: impl FnOnce() -> usize,
        ) {
            if cur.tag() & INLINE != 0 {
                // SAFETY: the CAS displaced the inline version, and only the
                // displacing CAS buries it; `hold` keeps the slot alive and
                // `release_inline` (the graveyard's contract) drops it.
                unsafe { grave.inline.push(hold()) };
            } else {
                Self::bury_boxed(cur, grave);
            }
        }

        /// Hands a boxed version just unlinked by this thread's CAS to
        /// `grave`.
        fn bury_boxed(cur: Shared<'_, Version<V>>, grave: &mut Graveyard<V>) {
            // SAFETY: the CAS unlinked this box and hands it here once.
            unsafe { grave.boxed.push(cur.as_raw() as usize) };
        }

        /// Runs `f` on the current version (`None` when dead).
        pub(crate) fn read<R>(&self, f: impl FnOnce(Option<&Version<V>>) -> R) -> R {
            let guard = epoch::pin();
            let cur = self.current.load(Ordering::Acquire, &guard);
            f(self.resolve(cur, &guard))
        }

        pub(crate) fn is_dead(&self) -> bool {
            // SAFETY: only the pointer's bits are looked at.
            let cur = self
                .current
                .load(Ordering::Acquire, unsafe { epoch::unprotected() });
            cur.is_null() && cur.tag() & INLINE == 0
        }

        /// The current version of a slot nobody else can reach.
        pub(crate) fn into_version(self) -> Option<Version<V>> {
            let this = ManuallyDrop::new(self);
            // SAFETY: we own the slot, so no other thread can reach it, and
            // `this` is never dropped: what it owns is taken once here.
            unsafe {
                let cur = this.current.load(Ordering::Relaxed, epoch::unprotected());
                if cur.tag() & INLINE != 0 {
                    Some((*this.inline.get()).assume_init_read())
                } else if cur.is_null() {
                    if cur.tag() & KILLED != 0 {
                        (*this.inline.get()).assume_init_drop();
                    }
                    None
                } else {
                    Some(*cur.into_owned().into_box())
                }
            }
        }

        /// Drops the inline version in place and marks the cell free.
        ///
        /// # Safety
        /// Once per displacement of the inline version, once no thread can
        /// still be reading it (the grace period of a deferral made after
        /// the displacing CAS).
        pub(crate) unsafe fn drop_inline(&self) {
            // SAFETY: per the contract, it holds the displaced version and
            // nobody else reads or claims it (it is not marked free yet).
            unsafe { (*self.inline.get()).assume_init_drop() };
            // Release: a writer that claims the cell (an acquiring CAS) sees
            // it empty. On a dead slot the mark is harmless (dead is final).
            // SAFETY: only the tag bits change; nothing is dereferenced.
            self.current
                .fetch_or(FREE, Ordering::AcqRel, unsafe { epoch::unprotected() });
        }

        /// The pointer's tag bits (for tests).
        #[cfg(test)]
        pub(super) fn tag(&self) -> usize {
            // SAFETY: only the tag is looked at.
            let cur = self
                .current
                .load(Ordering::SeqCst, unsafe { epoch::unprotected() });
            cur.tag()
        }

        /// Drops the inline version that the slot's kill displaced, if it
        /// did.
        ///
        /// # Safety
        /// After the slot was killed, once no thread that was pinned at the
        /// kill can still be reading (the grace period of a deferral made
        /// after it: the point index's release of the entry provides it).
        pub(crate) unsafe fn release_killed(&self) {
            // SAFETY: tag bits only.
            let guard = unsafe { epoch::unprotected() };
            let cur = self.current.load(Ordering::Acquire, guard);
            if cur.tag() & KILLED != 0 {
                // The mark goes first: if the value's `Drop` panics, the
                // slot's own drop must not drop the cell a second time. A
                // dead slot's pointer changes no more, but for this.
                self.current.store(Shared::null(), Ordering::Release);
                // SAFETY: the kill displaced the inline version (the mark
                // said so, and it is set once and cleared only here), and
                // readers are gone per the contract.
                unsafe { (*self.inline.get()).assume_init_drop() };
            }
        }

        /// Takes back the version of a write that did not install it.
        fn take_back(&self, next: Next<V>) -> Version<V> {
            match next {
                Next::Unplaced(version) => version,
                Next::Boxed(owned) => *owned.into_box(),
                Next::Inline => {
                    // SAFETY: this write claimed the cell and wrote it, and
                    // never published it; it moves out before giving the
                    // cell back.
                    let version = unsafe { (*self.inline.get()).assume_init_read() };
                    // SAFETY: tag bits only.
                    self.current
                        .fetch_or(FREE, Ordering::AcqRel, unsafe { epoch::unprotected() });
                    version
                }
            }
        }

        /// Installs `next` over the live version, numbering it one past the
        /// version it replaces: in the inline cell if it is free (claimed
        /// first), else boxed. On success returns `f` applied to the replaced
        /// version, which goes to `grave` (`hold` makes an owning handle to
        /// the slot's owner, in case it is the inline one).
        pub(crate) fn replace_if<R>(
            &self,
            next: Version<V>,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>) -> R,
            grave: &mut Graveyard<V>,
            hold: impl FnOnce() -> usize,
        ) -> Replaced<V, R> {
            let guard = epoch::pin();
            let mut next = Next::Unplaced(next);
            let mut cur = self.current.load(Ordering::Acquire, &guard);
            loop {
                let Some(cur_ref) = self.resolve(cur, &guard) else {
                    return Replaced::Dead(self.take_back(next));
                };
                if !pred(cur_ref) {
                    drop(self.take_back(next));
                    return Replaced::Declined;
                }
                if let Next::Unplaced(v) = next {
                    if cur.tag() & FREE == 0 {
                        next = Next::Boxed(Owned::new(v));
                    } else {
                        // Claim the free cell: clearing the mark makes this
                        // write its one owner.
                        let claimed = cur.with_tag(cur.tag() & !FREE);
                        match self.current.compare_exchange(
                            cur,
                            claimed,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                            &guard,
                        ) {
                            Ok(_) => {
                                // Unit tests widen the window between the
                                // claim and the install, so that the racing
                                // test would see two owners of one cell.
                                #[cfg(test)]
                                std::thread::yield_now();
                                // SAFETY: claimed; empty (the release dropped
                                // its last version before marking it free).
                                unsafe { (*self.inline.get()).write(v) };
                                next = Next::Inline;
                                cur = claimed;
                            }
                            Err(e) => {
                                next = Next::Unplaced(v);
                                cur = e.current;
                                continue;
                            }
                        }
                    }
                }
                let number = next_version(cur_ref.version);
                let new = match &mut next {
                    Next::Unplaced(_) => unreachable!("placed above"),
                    Next::Boxed(owned) => {
                        owned.version = number;
                        // A boxed install keeps the cell's free mark.
                        let raw = &**owned as *const Version<V>;
                        Shared::from(raw).with_tag(cur.tag() & FREE)
                    }
                    Next::Inline => {
                        // SAFETY: claimed and written by this write, not yet
                        // published.
                        unsafe { (*self.inline.get()).assume_init_mut() }.version = number;
                        Shared::null().with_tag(INLINE)
                    }
                };
                match self.current.compare_exchange(
                    cur,
                    new,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                    &guard,
                ) {
                    Ok(_) => {
                        // Published: the box now belongs to the slot.
                        if let Next::Boxed(owned) = next {
                            let _ = owned.into_shared(&guard);
                        }
                        // Buried before `f` runs (user code, which may
                        // panic): nothing is lost, and `guard` keeps
                        // `cur_ref` valid until this returns.
                        self.bury(cur, grave, hold);
                        return Replaced::Done(number, f(cur_ref));
                    }
                    Err(e) => {
                        cur = e.current;
                        if let Next::Inline = next {
                            // Give the cell back before `pred` (which may
                            // read a user clock, and panic) runs again: a
                            // claim is never held across it. The retry may
                            // claim the cell again.
                            next = Next::Unplaced(self.take_back(next));
                            cur = self.current.load(Ordering::Acquire, &guard);
                        }
                    }
                }
            }
        }

        /// Moves the slot from live to dead if `pred` holds for the current
        /// version; `f` sees the version that was killed. A boxed one goes
        /// to `grave`; an inline one stays until [`Slot::release_killed`].
        pub(crate) fn kill_if(
            &self,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>),
            grave: &mut Graveyard<V>,
        ) -> Killed {
            let guard = epoch::pin();
            let mut cur = self.current.load(Ordering::Acquire, &guard);
            loop {
                let Some(cur_ref) = self.resolve(cur, &guard) else {
                    return Killed::No;
                };
                if !pred(cur_ref) {
                    return Killed::No;
                }
                let dead = if cur.tag() & INLINE != 0 {
                    Shared::null().with_tag(KILLED)
                } else {
                    Shared::null()
                };
                match self.current.compare_exchange(
                    cur,
                    dead,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                    &guard,
                ) {
                    Ok(_) => {
                        // As in `replace_if`: buried first.
                        if cur.tag() & INLINE == 0 {
                            Self::bury_boxed(cur, grave);
                        }
                        f(cur_ref);
                        return Killed::Now;
                    }
                    Err(e) => cur = e.current,
                }
            }
        }
    }

    impl<V> Drop for Slot<V> {
        fn drop(&mut self) {
            // SAFETY: `&mut self` means no other thread can reach this slot
            // (see the module's ground rules), so no pin is needed. The cell
            // holds a version only while marked current or killed: one an
            // overwrite displaced was dropped by its release, which held the
            // slot's owner and so ran before this, one the kill displaced is
            // dropped here unless `release_killed` did, and a write that
            // claimed the cell either installed its version or took it back.
            unsafe {
                let cur = self.current.load(Ordering::Relaxed, epoch::unprotected());
                if cur.tag() & (INLINE | KILLED) != 0 {
                    self.inline.get_mut().assume_init_drop();
                } else if !cur.is_null() {
                    drop(cur.into_owned());
                }
            }
        }
    }
}

#[cfg(skipstore_loom)]
mod imp {
    //! The loom seam: the same protocol on a loom `AtomicPtr` whose low bits
    //! carry the tags, and a loom-tracked inline cell, so that a model sees
    //! two owners of the cell or a read racing its write. Retired boxed
    //! versions are parked on a garbage list until the slot drops. Nothing
    //! frees a displaced inline version early (there is no epoch here): it
    //! stays in its cell until the slot drops, unless a model frees it with
    //! [`Slot::drop_inline`] at a point where no thread can read it, which is
    //! how `slot::loom_models` exercises the claim path.
    use std::mem::{ManuallyDrop, MaybeUninit};

    use loom::cell::UnsafeCell;

    use super::{Graveyard, Killed, Ordering, Replaced, Version, next_version};
    use crate::sync::{AtomicPtr, Mutex};

    /// Tag: the slot's version is the inline one (the pointer is null).
    pub(super) const INLINE: usize = 1;
    /// Tag: the inline cell is empty and may be claimed (never with
    /// [`INLINE`]). A kill keeps it, so a dead slot still says whether its
    /// cell holds a version.
    pub(super) const FREE: usize = 2;
    const TAGS: usize = INLINE | FREE;

    fn tag<V>(p: *mut Version<V>) -> usize {
        p.addr() & TAGS
    }

    fn untag<V>(p: *mut Version<V>) -> *mut Version<V> {
        p.map_addr(|a| a & !TAGS)
    }

    fn with_tag<V>(p: *mut Version<V>, t: usize) -> *mut Version<V> {
        untag(p).map_addr(|a| a | t)
    }

    pub(crate) struct Slot<V> {
        current: AtomicPtr<Version<V>>,
        inline: UnsafeCell<MaybeUninit<Version<V>>>,
        garbage: Mutex<Vec<Box<Version<V>>>>,
    }

    /// Where the version a write is installing sits (as in the twin).
    enum Next<V> {
        Unplaced(Version<V>),
        Boxed(Box<Version<V>>),
        Inline,
    }

    /// One step of a write's loop.
    enum Step<V, R> {
        Finished(Replaced<V, R>),
        Again(*mut Version<V>),
    }

    impl<V> Slot<V> {
        pub(crate) fn new(first: Version<V>) -> Self {
            Self {
                current: AtomicPtr::new(with_tag(std::ptr::null_mut(), INLINE)),
                inline: UnsafeCell::new(MaybeUninit::new(first)),
                garbage: Mutex::new(Vec::new()),
            }
        }

        /// Runs `f` on the version `cur` names, holding loom's record of a
        /// shared access to the cell while it runs if that is the inline one.
        fn view<R>(&self, cur: *mut Version<V>, f: impl FnOnce(Option<&Version<V>>) -> R) -> R {
            if tag(cur) & INLINE != 0 {
                let cell = self.inline.get();
                // SAFETY: the cell holds a version while marked current, and
                // is freed only with the slot or by a model's `drop_inline`.
                f(Some(unsafe { cell.deref().assume_init_ref() }))
            } else {
                // SAFETY: boxed versions are freed only when the slot drops.
                f(unsafe { untag(cur).as_ref() })
            }
        }

        pub(crate) fn read<R>(&self, f: impl FnOnce(Option<&Version<V>>) -> R) -> R {
            self.view(self.current.load(Ordering::Acquire), f)
        }

        pub(crate) fn is_dead(&self) -> bool {
            let cur = self.current.load(Ordering::Acquire);
            untag(cur).is_null() && tag(cur) & INLINE == 0
        }

        pub(crate) fn into_version(self) -> Option<Version<V>> {
            let this = ManuallyDrop::new(self);
            let cur = this.current.load(Ordering::Relaxed);
            // SAFETY: we own the slot and `this` is never dropped: each field
            // is taken once here.
            unsafe {
                drop(std::ptr::read(&this.garbage));
                if tag(cur) & INLINE != 0 {
                    return Some(this.inline.get_mut().deref().assume_init_read());
                }
                if tag(cur) & FREE == 0 {
                    this.inline.get_mut().deref().assume_init_drop();
                }
                let boxed = untag(cur);
                (!boxed.is_null()).then(|| *Box::from_raw(boxed))
            }
        }

        /// Drops a displaced inline version and marks the cell free. Only
        /// loom models call it (see the module docs).
        ///
        /// # Safety
        /// The inline version was displaced, and no thread can read it.
        #[cfg(test)]
        pub(crate) unsafe fn drop_inline(&self) {
            // SAFETY: per the contract.
            unsafe { self.inline.get_mut().deref().assume_init_drop() };
            self.mark_free();
        }

        /// Under loom a killed inline version is dropped with the slot.
        pub(crate) unsafe fn release_killed(&self) {}

        /// The pointer's tag bits (for models).
        #[cfg(test)]
        pub(super) fn tag(&self) -> usize {
            tag(self.current.load(Ordering::SeqCst))
        }

        fn mark_free(&self) {
            let _ = self
                .current
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                    Some(with_tag(p, tag(p) | FREE))
                });
        }

        /// Parks a version this thread's CAS unlinked until the slot drops.
        fn bury(&self, old: *mut Version<V>) {
            if tag(old) & INLINE != 0 {
                return; // stays in its cell until the slot drops
            }
            // SAFETY: `old` was unlinked by our CAS, so we own it now.
            let boxed = unsafe { Box::from_raw(untag(old)) };
            crate::sync::lock(&self.garbage).push(boxed);
        }

        /// Takes back the version of a write that did not install it.
        fn take_back(&self, next: Next<V>) -> Version<V> {
            match next {
                Next::Unplaced(version) => version,
                Next::Boxed(boxed) => *boxed,
                Next::Inline => {
                    // SAFETY: this write claimed the cell and wrote it, and
                    // never published it.
                    let version = unsafe { self.inline.get_mut().deref().assume_init_read() };
                    self.mark_free();
                    version
                }
            }
        }

        /// As the twin: claims a free cell (a CAS clearing its mark) or
        /// boxes, installs, and gives a claimed cell back on failure.
        pub(crate) fn replace_if<R>(
            &self,
            next: Version<V>,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>) -> R,
            _grave: &mut Graveyard<V>,
            _hold: impl FnOnce() -> usize,
        ) -> Replaced<V, R> {
            let mut next = Next::Unplaced(next);
            let mut f = Some(f);
            let mut cur = self.current.load(Ordering::Acquire);
            loop {
                let step = self.view(cur, |seen| {
                    let Some(cur_ref) = seen else {
                        let back = self.take_back(std::mem::replace(&mut next, Next::Inline));
                        return Step::Finished(Replaced::Dead(back));
                    };
                    if !pred(cur_ref) {
                        drop(self.take_back(std::mem::replace(&mut next, Next::Inline)));
                        return Step::Finished(Replaced::Declined);
                    }
                    let mut cur = cur;
                    if let Next::Unplaced(_) = next {
                        let Next::Unplaced(v) = std::mem::replace(&mut next, Next::Inline) else {
                            unreachable!("matched above");
                        };
                        if tag(cur) & FREE == 0 {
                            next = Next::Boxed(Box::new(v));
                        } else {
                            let claimed = with_tag(cur, tag(cur) & !FREE);
                            match self.current.compare_exchange(
                                cur,
                                claimed,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            ) {
                                Ok(_) => {
                                    // SAFETY: claimed; empty.
                                    unsafe { self.inline.get_mut().deref().write(v) };
                                    cur = claimed;
                                }
                                Err(seen) => {
                                    next = Next::Unplaced(v);
                                    return Step::Again(seen);
                                }
                            }
                        }
                    }
                    let number = next_version(cur_ref.version);
                    let new = match &mut next {
                        Next::Unplaced(_) => unreachable!("placed above"),
                        Next::Boxed(boxed) => {
                            boxed.version = number;
                            with_tag(&raw mut **boxed, tag(cur) & FREE)
                        }
                        Next::Inline => {
                            let cell = self.inline.get_mut();
                            // SAFETY: claimed and written by this write, not
                            // yet published.
                            unsafe { cell.deref().assume_init_mut() }.version = number;
                            with_tag(std::ptr::null_mut(), INLINE)
                        }
                    };
                    match self.current.compare_exchange(
                        cur,
                        new,
                        Ordering::SeqCst,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            if let Next::Boxed(boxed) = std::mem::replace(&mut next, Next::Inline) {
                                let _ = Box::into_raw(boxed); // the slot's now
                            }
                            let f = f.take().expect("runs once");
                            let out = f(cur_ref);
                            self.bury(cur);
                            Step::Finished(Replaced::Done(number, out))
                        }
                        Err(seen) => {
                            if let Next::Inline = next {
                                // Give the cell back before `pred` runs again.
                                next = Next::Unplaced(self.take_back(Next::Inline));
                                return Step::Again(self.current.load(Ordering::Acquire));
                            }
                            Step::Again(seen)
                        }
                    }
                });
                match step {
                    Step::Finished(out) => return out,
                    Step::Again(seen) => cur = seen,
                }
            }
        }

        pub(crate) fn kill_if(
            &self,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>),
            _grave: &mut Graveyard<V>,
        ) -> Killed {
            let mut f = Some(f);
            let mut cur = self.current.load(Ordering::Acquire);
            loop {
                let step = self.view(cur, |seen| {
                    let Some(cur_ref) = seen else {
                        return Ok(Killed::No);
                    };
                    if !pred(cur_ref) {
                        return Ok(Killed::No);
                    }
                    // The dead pointer keeps the cell's free mark (see `FREE`).
                    let dead = with_tag(std::ptr::null_mut(), tag(cur) & FREE);
                    match self.current.compare_exchange(
                        cur,
                        dead,
                        Ordering::SeqCst,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            (f.take().expect("runs once"))(cur_ref);
                            self.bury(cur);
                            Ok(Killed::Now)
                        }
                        Err(seen) => Err(seen),
                    }
                });
                match step {
                    Ok(killed) => return killed,
                    Err(seen) => cur = seen,
                }
            }
        }
    }

    impl<V> Drop for Slot<V> {
        fn drop(&mut self) {
            let cur = self.current.load(Ordering::Acquire);
            // SAFETY: `&mut self`: nobody else can reach the slot. Under loom
            // the cell holds a version exactly when it is not marked free
            // (nothing empties it but `drop_inline` and a write's take-back,
            // both of which mark it, and a kill keeps the mark).
            unsafe {
                if tag(cur) & FREE == 0 {
                    self.inline.get_mut().deref().assume_init_drop();
                }
                let boxed = untag(cur);
                if !boxed.is_null() {
                    drop(Box::from_raw(boxed));
                }
            }
        }
    }

    // SAFETY: the raw pointer is owned by the slot (a `Box` in disguise), so
    // the slot is Send/Sync exactly when a `Box<Version<V>>` shared behind
    // atomics would be: `V: Send + Sync`.
    unsafe impl<V: Send + Sync> Send for Slot<V> {}
    // SAFETY: see `Send`.
    unsafe impl<V: Send + Sync> Sync for Slot<V> {}
}

pub(crate) use imp::Slot;

#[cfg(all(test, skipstore_loom))]
mod loom_models;

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
    //! The slot alone: the inline first version, its release, and the
    //! claim of a free cell by later writes, counted with values that know
    //! whether they are alive.
    #![allow(clippy::disallowed_types)] // test bookkeeping, not the protocol

    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

    use super::{Graveyard, Killed, Replaced, Slot, Version};

    /// A value that counts itself and poisons its canary when dropped, so a
    /// read of a dropped value (in a cell that stays allocated) shows.
    struct Tracked {
        canary: AtomicU64,
        id: u64,
        live: Arc<AtomicI64>,
    }

    const ALIVE: u64 = 0xA11C_E5A1_1CE5_A11C;

    impl Tracked {
        fn new(id: u64, live: &Arc<AtomicI64>) -> Self {
            live.fetch_add(1, Ordering::SeqCst);
            Self {
                canary: AtomicU64::new(ALIVE),
                id,
                live: Arc::clone(live),
            }
        }
        fn check(&self) -> u64 {
            assert_eq!(
                self.canary.load(Ordering::SeqCst),
                ALIVE,
                "read a dropped value"
            );
            self.id
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            assert_eq!(
                self.canary.swap(0, Ordering::SeqCst),
                ALIVE,
                "dropped twice"
            );
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// An owner as the engine's entries are: the slot in an `Arc`, handles
    /// made with `Arc::into_raw`.
    type Owner = Arc<Slot<Tracked>>;

    fn hold(owner: &Owner) -> usize {
        Arc::into_raw(Arc::clone(owner)) as usize
    }

    /// # Safety
    /// As `crate::entry::release_inline`.
    unsafe fn release(addr: usize) {
        // SAFETY: per the contract.
        let owner = unsafe { Arc::from_raw(addr as *const Slot<Tracked>) };
        // SAFETY: per the contract.
        unsafe { owner.drop_inline() };
    }

    fn version(id: u64, live: &Arc<AtomicI64>) -> Version<Tracked> {
        Version::new(Tracked::new(id, live), super::NEVER, None)
    }

    fn is_inline(slot: &Slot<Tracked>) -> bool {
        slot.tag() & super::imp::INLINE != 0
    }

    fn is_free(slot: &Slot<Tracked>) -> bool {
        slot.tag() & super::imp::FREE != 0
    }

    fn replace(owner: &Owner, id: u64, live: &Arc<AtomicI64>) -> u64 {
        let mut grave = Graveyard::new(release);
        match owner.replace_if(
            version(id, live),
            |_| true,
            |old| old.value.check(),
            &mut grave,
            || hold(owner),
        ) {
            Replaced::Done(_, old) => old,
            _ => panic!("a live slot refused a plain replace"),
        }
    }

    fn reclaim_until(mut done: impl FnMut() -> bool) {
        for i in 0..100_000 {
            if done() {
                return;
            }
            crossbeam_epoch::pin().flush();
            if i % 256 == 255 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        assert!(done(), "the epoch never reclaimed");
    }

    #[test]
    fn the_inline_cell_is_reclaimed_and_reused() {
        let live = Arc::new(AtomicI64::new(0));
        let owner: Owner = Arc::new(Slot::new(version(1, &live)));
        assert!(is_inline(&owner));
        assert_eq!(replace(&owner, 2, &live), 1);
        assert!(!is_inline(&owner), "the second version is boxed");
        // The first version is dropped in place once the epoch moves on,
        // and the cell marked free.
        reclaim_until(|| live.load(Ordering::SeqCst) == 1);
        assert!(is_free(&owner));
        assert_eq!(replace(&owner, 3, &live), 2);
        assert!(
            is_inline(&owner),
            "a free cell is claimed by the next write"
        );
        assert!(!is_free(&owner));
        owner.read(|v| assert_eq!(v.map(|v| v.value.check()), Some(3)));
        // A boxed write over a free cell keeps the mark.
        assert_eq!(replace(&owner, 4, &live), 3);
        reclaim_until(|| is_free(&owner) && live.load(Ordering::SeqCst) == 1);
        // And a kill of a slot whose cell is free leaves nothing behind.
        let mut grave = Graveyard::new(release);
        let killed = owner.kill_if(|_| true, |v| assert_eq!(v.value.check(), 4), &mut grave);
        assert!(matches!(killed, Killed::Now));
        drop(grave);
        reclaim_until(|| live.load(Ordering::SeqCst) == 0 && Arc::strong_count(&owner) == 1);
    }

    #[test]
    fn a_write_that_claims_the_cell_and_is_refused_gives_it_back() {
        let live = Arc::new(AtomicI64::new(0));
        let owner: Owner = Arc::new(Slot::new(version(1, &live)));
        replace(&owner, 2, &live);
        reclaim_until(|| is_free(&owner));
        let mut grave = Graveyard::new(release);
        let out = owner.replace_if(
            version(3, &live),
            |_| false,
            |_| (),
            &mut grave,
            || hold(&owner),
        );
        assert!(matches!(out, Replaced::Declined));
        assert!(is_free(&owner), "a declined write gives the cell back");
        assert_eq!(live.load(Ordering::SeqCst), 1);
        assert_eq!(replace(&owner, 4, &live), 2);
        assert!(is_inline(&owner));
        drop(grave);
        drop(owner);
        reclaim_until(|| live.load(Ordering::SeqCst) == 0);
    }

    #[test]
    fn racing_writers_readers_and_a_killer_lose_and_repeat_nothing() {
        use std::sync::Barrier;
        use std::sync::atomic::AtomicBool;
        const WRITERS: u64 = 3;
        let live = Arc::new(AtomicI64::new(0));
        let owner: Owner = Arc::new(Slot::new(version(0, &live)));
        let (displaced, inline_seen) = (AtomicU64::new(0), AtomicU64::new(0));
        let killed = AtomicBool::new(false);
        // The writers, the reader and the killer.
        let start = Barrier::new(3 + 2);
        std::thread::scope(|s| {
            for w in 0..WRITERS {
                let (owner, live, start) = (&owner, &live, &start);
                let (displaced, inline_seen, killed) = (&displaced, &inline_seen, &killed);
                s.spawn(move || {
                    start.wait();
                    let mut i = 0;
                    while !killed.load(Ordering::SeqCst) {
                        let mut grave = Graveyard::new(release);
                        let id = (w + 1) * 1_000_000_000 + i;
                        let out = owner.replace_if(
                            version(id, live),
                            |_| true,
                            |old| old.value.check(),
                            &mut grave,
                            || hold(owner),
                        );
                        match out {
                            Replaced::Done(..) => {
                                displaced.fetch_add(1, Ordering::SeqCst);
                                if is_inline(owner) {
                                    inline_seen.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Replaced::Dead(v) => drop(v),
                            Replaced::Declined => unreachable!(),
                        }
                        drop(grave);
                        if i % 8 == 0 {
                            crossbeam_epoch::pin().flush();
                        }
                        i += 1;
                    }
                });
            }
            s.spawn(|| {
                start.wait();
                while !killed.load(Ordering::SeqCst) {
                    owner.read(|v| {
                        if let Some(v) = v {
                            v.value.check();
                        }
                    });
                }
            });
            s.spawn(|| {
                start.wait();
                std::thread::sleep(std::time::Duration::from_millis(200));
                let mut grave = Graveyard::new(release);
                owner.kill_if(
                    |_| true,
                    |v| {
                        v.value.check();
                    },
                    &mut grave,
                );
                killed.store(true, Ordering::SeqCst);
            });
        });
        assert!(owner.is_dead());
        assert!(displaced.load(Ordering::SeqCst) > 0);
        assert!(
            inline_seen.load(Ordering::SeqCst) > 0,
            "the writers never reused the inline cell"
        );
        // Every reader is gone: what the point index's release would do.
        // SAFETY: killed, and nobody can be reading.
        unsafe { owner.release_killed() };
        reclaim_until(|| live.load(Ordering::SeqCst) == 0 && Arc::strong_count(&owner) == 1);
    }

    #[test]
    fn a_panicking_drop_in_the_kill_release_is_not_repeated_by_the_slot() {
        use std::sync::atomic::AtomicUsize;
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Boom;
        impl Drop for Boom {
            fn drop(&mut self) {
                if DROPS.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first drop panics");
                }
            }
        }
        unsafe fn nothing(_: usize) {}
        let slot = Slot::new(Version::new(Boom, super::NEVER, None));
        let mut grave = Graveyard::new(nothing);
        assert!(matches!(
            slot.kill_if(|_| true, |_| (), &mut grave),
            Killed::Now
        ));
        drop(grave);
        let released = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: killed, and nobody else can be reading.
            unsafe { slot.release_killed() };
        }));
        assert!(released.is_err());
        drop(slot);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1, "dropped once, not twice");
    }

    #[test]
    fn a_killed_inline_version_is_dropped_by_its_release_or_with_the_slot() {
        let live = Arc::new(AtomicI64::new(0));
        let mut grave = Graveyard::new(release);
        let released = Slot::new(version(1, &live));
        let kept = Slot::new(version(2, &live));
        for slot in [&released, &kept] {
            assert!(matches!(
                slot.kill_if(|_| true, |_| (), &mut grave),
                Killed::Now
            ));
            assert!(slot.is_dead());
            assert!(matches!(
                slot.kill_if(|_| true, |_| (), &mut grave),
                Killed::No
            ));
        }
        drop(grave);
        assert_eq!(live.load(Ordering::SeqCst), 2, "a kill alone drops nothing");
        // SAFETY: killed, and nobody else can be reading.
        unsafe { released.release_killed() };
        assert_eq!(live.load(Ordering::SeqCst), 1);
        // SAFETY: as above; a second call finds nothing to drop.
        unsafe { released.release_killed() };
        assert_eq!(live.load(Ordering::SeqCst), 1);
        drop(kept);
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "the slot drops what was never released"
        );
        drop(released);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}
