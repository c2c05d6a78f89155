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
    Dead(Box<Version<V>>),
}

/// Versions killed during one operation, retired together (see
/// [`crate::retire`]). Under loom a killed version stays on its slot's
/// garbage list instead.
pub(crate) struct Graveyard<V> {
    #[cfg(not(skipstore_loom))]
    dead: crate::retire::Batch,
    _versions: std::marker::PhantomData<Box<Version<V>>>,
}

impl<V> Graveyard<V> {
    pub(crate) const fn new() -> Self {
        Self {
            #[cfg(not(skipstore_loom))]
            dead: crate::retire::Batch::new(free_version::<V>),
            _versions: std::marker::PhantomData,
        }
    }

    /// Takes a version unlinked by a kill.
    #[cfg(not(skipstore_loom))]
    fn bury(&mut self, dead: *const Version<V>) {
        // SAFETY: the kill's CAS unlinked it and hands it here once; it is a
        // `Box<Version<V>>` (an `Owned`), which `free_version` frees.
        unsafe { self.dead.push(dead as usize) };
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
    use super::{Graveyard, Killed, Ordering, Replaced, Version, next_version};
    use crossbeam_epoch::{self as epoch, Atomic, Owned, Shared};

    pub(crate) struct Slot<V> {
        current: Atomic<Version<V>>,
    }

    impl<V> Slot<V> {
        /// A live slot holding `first` (its allocation is reused).
        pub(crate) fn new(first: Box<Version<V>>) -> Self {
            Self {
                current: Atomic::from(Owned::from(first)),
            }
        }

        /// Runs `f` on the current version (`None` when dead).
        pub(crate) fn read<R>(&self, f: impl FnOnce(Option<&Version<V>>) -> R) -> R {
            let guard = epoch::pin();
            let cur = self.current.load(Ordering::Acquire, &guard);
            // SAFETY: `cur` was loaded under `guard`; versions are only freed
            // through `defer_destroy` after being unlinked, so it stays valid
            // until `guard` drops at the end of this function.
            f(unsafe { cur.as_ref() })
        }

        pub(crate) fn is_dead(&self) -> bool {
            self.read(|cur| cur.is_none())
        }

        /// The current version of a slot nobody else can reach.
        pub(crate) fn into_version(self) -> Option<Box<Version<V>>> {
            // SAFETY: we own the slot, so no other thread can reach it.
            unsafe {
                let cur =
                    self.current
                        .swap(Shared::null(), Ordering::Relaxed, epoch::unprotected());
                (!cur.is_null()).then(|| cur.into_owned().into_box())
            }
        }

        /// Installs `next` over the live version, numbering it one past the
        /// version it replaces. `Err(next)` when the slot is dead. On success
        /// returns `f` applied to the replaced version.
        pub(crate) fn replace_if<R>(
            &self,
            next: Box<Version<V>>,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>) -> R,
        ) -> Replaced<V, R> {
            let guard = epoch::pin();
            let mut next: Owned<Version<V>> = Owned::from(next);
            let mut cur = self.current.load(Ordering::Acquire, &guard);
            loop {
                // SAFETY: loaded under `guard`, see `read`.
                let Some(cur_ref) = (unsafe { cur.as_ref() }) else {
                    return Replaced::Dead(next.into_box());
                };
                if !pred(cur_ref) {
                    return Replaced::Declined;
                }
                next.version = next_version(cur_ref.version);
                let number = next.version;
                match self.current.compare_exchange(
                    cur,
                    next,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                    &guard,
                ) {
                    Ok(_) => {
                        let out = f(cur_ref);
                        // SAFETY: `cur` is unlinked by the successful CAS and
                        // no new reference to it can be created; readers that
                        // hold one are pinned, and the epoch waits for them.
                        unsafe { guard.defer_destroy(cur) };
                        return Replaced::Done(number, out);
                    }
                    Err(e) => {
                        cur = e.current;
                        next = e.new;
                    }
                }
            }
        }

        /// Moves the slot from live to dead if `pred` holds for the current
        /// version; `f` sees the version that was killed.
        pub(crate) fn kill_if(
            &self,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>),
            grave: &mut Graveyard<V>,
        ) -> Killed {
            let guard = epoch::pin();
            let mut cur = self.current.load(Ordering::Acquire, &guard);
            loop {
                // SAFETY: loaded under `guard`, see `read`.
                let Some(cur_ref) = (unsafe { cur.as_ref() }) else {
                    return Killed::No;
                };
                if !pred(cur_ref) {
                    return Killed::No;
                }
                match self.current.compare_exchange(
                    cur,
                    Shared::null(),
                    Ordering::SeqCst,
                    Ordering::Acquire,
                    &guard,
                ) {
                    Ok(_) => {
                        f(cur_ref);
                        // Unlinked by the CAS; the graveyard retires it
                        // through the epoch.
                        grave.bury(cur.as_raw());
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
            // (see the module's ground rules), so no pin is needed.
            unsafe {
                let cur =
                    self.current
                        .swap(Shared::null(), Ordering::Relaxed, epoch::unprotected());
                if !cur.is_null() {
                    drop(cur.into_owned());
                }
            }
        }
    }
}

#[cfg(skipstore_loom)]
mod imp {
    //! The loom seam: the same protocol on a loom `AtomicPtr`, with retired
    //! versions parked on a garbage list until the slot drops.
    use super::{Graveyard, Killed, Ordering, Replaced, Version, next_version};
    use crate::sync::{AtomicPtr, Mutex};

    pub(crate) struct Slot<V> {
        current: AtomicPtr<Version<V>>,
        garbage: Mutex<Vec<Box<Version<V>>>>,
    }

    impl<V> Slot<V> {
        pub(crate) fn new(first: Box<Version<V>>) -> Self {
            Self {
                current: AtomicPtr::new(Box::into_raw(first)),
                garbage: Mutex::new(Vec::new()),
            }
        }

        pub(crate) fn read<R>(&self, f: impl FnOnce(Option<&Version<V>>) -> R) -> R {
            let cur = self.current.load(Ordering::Acquire);
            // SAFETY: versions are freed only when the slot drops.
            f(unsafe { cur.as_ref() })
        }

        pub(crate) fn is_dead(&self) -> bool {
            self.current.load(Ordering::Acquire).is_null()
        }

        pub(crate) fn into_version(self) -> Option<Box<Version<V>>> {
            let cur = self.current.swap(std::ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: we own the slot; a non-null pointer is its live box.
            (!cur.is_null()).then(|| unsafe { Box::from_raw(cur) })
        }

        fn retire(&self, old: *mut Version<V>) {
            // SAFETY: `old` was unlinked by our CAS, so we own it now.
            let boxed = unsafe { Box::from_raw(old) };
            if let Ok(mut g) = self.garbage.lock() {
                g.push(boxed);
            }
        }

        pub(crate) fn replace_if<R>(
            &self,
            mut next: Box<Version<V>>,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>) -> R,
        ) -> Replaced<V, R> {
            let mut cur = self.current.load(Ordering::Acquire);
            loop {
                // SAFETY: versions are freed only when the slot drops.
                let Some(cur_ref) = (unsafe { cur.as_ref() }) else {
                    return Replaced::Dead(next);
                };
                if !pred(cur_ref) {
                    return Replaced::Declined;
                }
                next.version = next_version(cur_ref.version);
                let number = next.version;
                let raw = Box::into_raw(next);
                match self
                    .current
                    .compare_exchange(cur, raw, Ordering::SeqCst, Ordering::Acquire)
                {
                    Ok(_) => {
                        let out = f(cur_ref);
                        self.retire(cur);
                        return Replaced::Done(number, out);
                    }
                    Err(seen) => {
                        // SAFETY: the CAS failed, `raw` was never published.
                        next = unsafe { Box::from_raw(raw) };
                        cur = seen;
                    }
                }
            }
        }

        pub(crate) fn kill_if(
            &self,
            mut pred: impl FnMut(&Version<V>) -> bool,
            f: impl FnOnce(&Version<V>),
            _grave: &mut Graveyard<V>,
        ) -> Killed {
            let mut cur = self.current.load(Ordering::Acquire);
            loop {
                // SAFETY: versions are freed only when the slot drops.
                let Some(cur_ref) = (unsafe { cur.as_ref() }) else {
                    return Killed::No;
                };
                if !pred(cur_ref) {
                    return Killed::No;
                }
                match self.current.compare_exchange(
                    cur,
                    std::ptr::null_mut(),
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        f(cur_ref);
                        self.retire(cur);
                        return Killed::Now;
                    }
                    Err(seen) => cur = seen,
                }
            }
        }
    }

    impl<V> Drop for Slot<V> {
        fn drop(&mut self) {
            let cur = self.current.load(Ordering::Acquire);
            if !cur.is_null() {
                // SAFETY: `&mut self`: nobody else can reach the slot.
                drop(unsafe { Box::from_raw(cur) });
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
