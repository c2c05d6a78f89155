//! The slot on crossbeam-epoch (see the parent module for the ground
//! rules). Every build runs it, the loom build too: there crossbeam-epoch
//! runs in its own loom mode and the inline cell is loom's, so a model sees
//! each deferred free and each access to the cell.

use std::mem::MaybeUninit;
use std::ops::Deref;

use super::{
    Displaced, Graveyard, InlineRelease, Killed, Ordering, Replaced, RetiredBox, Version, contain,
    next_version, offset_within,
};
use crate::raw::{Guard, Unlinked};
use crate::sync::{Arc, UnsafeCell};
use crossbeam_epoch::{self as epoch, Atomic, Guard as EpochGuard, Owned, Shared};

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

// SAFETY: R8: a slot hands out `&Version<V>` to several threads and moves
// versions (and so values) between threads, exactly as a shared
// `Box<Version<V>>` behind an atomic would: sound for `V: Send + Sync`.
// R4: the inline cell is written only by its one owner of the moment,
// while no reader can reach its contents.
unsafe impl<V: Send + Sync> Send for Slot<V> {}
// SAFETY: R8 and R4, as for `Send`.
unsafe impl<V: Send + Sync> Sync for Slot<V> {}

/// The version a slot held when it was loaded under a guard
/// ([`Slot::load`]), readable for as long as that guard (R1). Under loom it
/// also holds loom's record of a read of the inline cell for as long as it
/// is held, so a model fails if the cell is written, or its version
/// dropped, meanwhile (a version freed before its readers are done).
/// Elsewhere it is the reference alone.
pub(crate) struct Current<'g, V> {
    seen: &'g Version<V>,
    #[cfg(skipstore_loom)]
    _reading: Option<loom::cell::ConstPtr<MaybeUninit<Version<V>>>>,
}

impl<V> Deref for Current<'_, V> {
    type Target = Version<V>;

    #[inline(always)]
    fn deref(&self) -> &Version<V> {
        self.seen
    }
}

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

    /// The version `cur` (loaded from `current` under `_guard`) names.
    fn resolve<'g>(
        &'g self,
        cur: Shared<'g, Version<V>>,
        _guard: &'g EpochGuard,
    ) -> Option<Current<'g, V>> {
        if cur.tag() & INLINE != 0 {
            #[cfg(skipstore_loom)]
            let reading = self.inline.get();
            #[cfg(skipstore_loom)]
            let cell = reading.with(|cell| cell);
            #[cfg(not(skipstore_loom))]
            let cell = self.inline.with(|cell| cell);
            // SAFETY: R4: while `current` marks the inline version the
            // cell holds one; R1: once displaced it is dropped only after
            // the grace period of a deferral made after the displacing
            // CAS, so every thread that saw the marker (pinned by
            // `_guard`, which bounds the reference) is done with it first.
            let seen = unsafe { (*cell).assume_init_ref() };
            Some(Current {
                seen,
                #[cfg(skipstore_loom)]
                _reading: Some(reading),
            })
        } else {
            // SAFETY: R1: boxed versions are freed only through the epoch
            // after being unlinked; `cur` was loaded under `_guard`.
            let seen = unsafe { cur.as_ref() }?;
            Some(Current {
                seen,
                #[cfg(skipstore_loom)]
                _reading: None,
            })
        }
    }

    /// Hands a version just replaced by this thread's CAS to `grave`.
    fn bury<O: Send + Sync + 'static>(
        &self,
        cur: Shared<'_, Version<V>>,
        grave: &mut Graveyard<V, O>,
        hold: impl FnOnce() -> Arc<O>,
    ) where
        V: Send + Sync + 'static,
    {
        if cur.tag() & INLINE != 0 {
            // SAFETY: R2: this thread's CAS displaced the inline version,
            // and only the displacing CAS buries it; R1: the graveyard
            // defers the release.
            grave
                .inline
                .push(unsafe { InlineRelease::new(self, hold()) });
        } else {
            Self::bury_boxed(cur, grave);
        }
    }

    /// Hands a boxed version just unlinked by this thread's CAS to
    /// `grave`.
    fn bury_boxed<O: Send + Sync + 'static>(
        cur: Shared<'_, Version<V>>,
        grave: &mut Graveyard<V, O>,
    ) where
        V: Send + Sync + 'static,
    {
        let Some(boxed) = std::ptr::NonNull::new(cur.as_raw().cast_mut()) else {
            debug_assert!(false, "a boxed version is non-null");
            return;
        };
        // SAFETY: R2: this thread's CAS unlinked the box and hands it here
        // once; R1: the graveyard defers the free.
        grave.boxed.push(unsafe { RetiredBox::new(boxed) });
    }

    /// The current version (`None` when dead), readable while `guard` is
    /// held.
    #[inline]
    pub(crate) fn load<'g>(&'g self, guard: &'g Guard) -> Option<Current<'g, V>> {
        let guard = guard.epoch();
        let cur = self.current.load(Ordering::Acquire, guard);
        self.resolve(cur, guard)
    }

    pub(crate) fn is_dead(&self) -> bool {
        // SAFETY: R9: only the pointer's bits are looked at.
        let cur = self
            .current
            .load(Ordering::Acquire, unsafe { epoch::unprotected() });
        cur.is_null() && cur.tag() & INLINE == 0
    }

    /// Drops the inline version in place and marks the cell free.
    ///
    /// # Safety
    /// Once per displacement of the inline version, once no thread can
    /// still be reading it (the grace period of a deferral made after
    /// the displacing CAS).
    pub(crate) unsafe fn drop_inline(&self) {
        // SAFETY: R4, R1 as the contract passes them on: the cell holds
        // the displaced version, no reader is left, and nobody claims it
        // (it is not marked free yet). The access is taken outside
        // `contain`: under loom, a check that fails must not be
        // swallowed.
        self.inline
            .with_mut(|cell| contain(|| unsafe { (*cell).assume_init_drop() }));
        self.mark_free();
    }

    /// Marks the inline cell free (it was just emptied). Release: a writer
    /// that claims the cell (an acquiring CAS) sees it empty. On a dead slot
    /// the mark is harmless (dead is final).
    fn mark_free(&self) {
        // SAFETY: R9: only the tag bits change.
        self.current
            .fetch_or(FREE, Ordering::AcqRel, unsafe { epoch::unprotected() });
    }

    /// The pointer's tag bits (for tests).
    #[cfg(test)]
    pub(super) fn tag(&self) -> usize {
        // SAFETY: R9: only the tag is looked at.
        let cur = self
            .current
            .load(Ordering::SeqCst, unsafe { epoch::unprotected() });
        cur.tag()
    }

    /// Drops the inline version that the slot's kill displaced, if it
    /// did: the point set's release of the slot's owner (`proof`, R3).
    /// Does nothing unless the slot lies in the member `proof` names.
    pub(crate) fn release_killed<T>(&self, proof: &Unlinked<'_, T>) {
        if offset_within(proof.member(), self).is_none() {
            debug_assert!(false, "a release names the slot's own owner");
            return;
        }
        // SAFETY: R9: tag bits only.
        let guard = unsafe { epoch::unprotected() };
        let cur = self.current.load(Ordering::Acquire, guard);
        if cur.tag() & KILLED != 0 {
            // The mark goes first: if the value's `Drop` panics, the
            // slot's own drop must not drop the cell a second time. A
            // dead slot's pointer changes no more, but for this.
            self.current.store(Shared::null(), Ordering::Release);
            // SAFETY: R4: the kill displaced the inline version (the mark
            // said so, and it is set once and cleared only here); R3 and
            // R1: `proof` says the point set unlinked the slot's owner
            // after its kill, and the grace period of a deferral made
            // after that is over, so no reader is left.
            self.inline
                .with_mut(|cell| contain(|| unsafe { (*cell).assume_init_drop() }));
        }
    }

    /// Takes back the version of a write that did not install it.
    fn take_back(&self, next: Next<V>) -> Version<V> {
        match next {
            Next::Unplaced(version) => version,
            Next::Boxed(owned) => *owned.into_box(),
            Next::Inline => {
                // SAFETY: R4: this write claimed the cell and wrote it, and
                // never published it; it moves out before giving the
                // cell back.
                let version = unsafe { self.inline.with_mut(|cell| (*cell).assume_init_read()) };
                self.mark_free();
                version
            }
        }
    }

    /// Installs `next` over the live version, numbering it one past the
    /// version it replaces: in the inline cell if it is free (claimed
    /// first), else boxed. On success returns `f` applied to the replaced
    /// version, which goes to `grave` (`hold` makes an owning handle to
    /// the slot's owner, in case it is the inline one).
    pub(crate) fn replace_if<R, O: Send + Sync + 'static>(
        &self,
        next: Version<V>,
        mut pred: impl FnMut(&Version<V>) -> bool,
        f: impl FnOnce(Displaced<'_, V>) -> R,
        grave: &mut Graveyard<V, O>,
        hold: impl FnOnce() -> Arc<O>,
        guard: &Guard,
    ) -> Replaced<V, R>
    where
        V: Send + Sync + 'static,
    {
        let guard = guard.epoch();
        let mut next = Next::Unplaced(next);
        let mut cur = self.current.load(Ordering::Acquire, guard);
        loop {
            let Some(cur_ref) = self.resolve(cur, guard) else {
                return Replaced::Dead(self.take_back(next));
            };
            if !pred(&cur_ref) {
                let refused = self.take_back(next);
                contain(|| drop(refused));
                return Replaced::Declined;
            }
            next = match self.place(next, &mut cur, guard) {
                Ok(placed) => placed,
                Err(unplaced) => {
                    next = unplaced;
                    continue; // lost the cell to another write: look again
                }
            };
            let number = next_version(cur_ref.version);
            let new = self.numbered(&mut next, number, cur.tag());
            match self.current.compare_exchange(
                cur,
                new,
                Ordering::SeqCst,
                Ordering::Acquire,
                guard,
            ) {
                Ok(_) => {
                    // Published: the box now belongs to the slot.
                    if let Next::Boxed(owned) = next {
                        let _ = owned.into_shared(guard);
                    }
                    // Buried before `f` runs (user code, which may
                    // panic): nothing is lost, and `guard` keeps
                    // `cur_ref` valid until this returns.
                    self.bury(cur, grave, hold);
                    return Replaced::Done(number, f(Displaced::new(&cur_ref)));
                }
                Err(e) => {
                    cur = e.current;
                    if let Next::Inline = next {
                        // Give the cell back before `pred` (which may
                        // read a user clock, and panic) runs again: a
                        // claim is never held across it. The retry may
                        // claim the cell again.
                        next = Next::Unplaced(self.take_back(next));
                        cur = self.current.load(Ordering::Acquire, guard);
                    }
                }
            }
        }
    }

    /// Places `next` for an install over `cur`, if it is still unplaced: in
    /// the inline cell when `cur` marks it free (claimed by clearing the
    /// mark, which makes this write its one owner; `cur` becomes the
    /// claimed word), else in a box. `Err` if the claim lost a race: `next`
    /// back, unplaced, and `cur` the word found.
    fn place<'g>(
        &self,
        next: Next<V>,
        cur: &mut Shared<'g, Version<V>>,
        guard: &'g EpochGuard,
    ) -> Result<Next<V>, Next<V>> {
        let Next::Unplaced(v) = next else {
            return Ok(next);
        };
        if cur.tag() & FREE == 0 {
            return Ok(Next::Boxed(Owned::new(v)));
        }
        let claimed = cur.with_tag(cur.tag() & !FREE);
        match self.current.compare_exchange(
            *cur,
            claimed,
            Ordering::AcqRel,
            Ordering::Acquire,
            guard,
        ) {
            Ok(_) => {
                // Unit tests widen the window between the claim and the
                // install, so that the racing test would see two owners
                // of one cell.
                #[cfg(all(test, not(skipstore_loom)))]
                std::thread::yield_now();
                // SAFETY: R4: claimed; empty (the release dropped its last
                // version before marking it free).
                self.inline.with_mut(|cell| unsafe { (*cell).write(v) });
                *cur = claimed;
                Ok(Next::Inline)
            }
            Err(e) => {
                *cur = e.current;
                Err(Next::Unplaced(v))
            }
        }
    }

    /// Gives the placed `next` its `number` and returns the word that
    /// publishes it over a word tagged `cur_tag`.
    fn numbered<'g>(
        &self,
        next: &mut Next<V>,
        number: u64,
        cur_tag: usize,
    ) -> Shared<'g, Version<V>> {
        match next {
            Next::Unplaced(_) => unreachable!("placed first"),
            Next::Boxed(owned) => {
                owned.version = number;
                // A boxed install keeps the cell's free mark.
                let raw = &**owned as *const Version<V>;
                Shared::from(raw).with_tag(cur_tag & FREE)
            }
            Next::Inline => {
                // SAFETY: R4: claimed and written by this write, not yet
                // published.
                self.inline
                    .with_mut(|cell| unsafe { (*cell).assume_init_mut() }.version = number);
                Shared::null().with_tag(INLINE)
            }
        }
    }

    /// Moves the slot from live to dead if `pred` holds for the current
    /// version; `f` sees the version that was killed. A boxed one goes
    /// to `grave`; an inline one stays until [`Slot::release_killed`].
    pub(crate) fn kill_if<O: Send + Sync + 'static>(
        &self,
        mut pred: impl FnMut(&Version<V>) -> bool,
        f: impl FnOnce(Displaced<'_, V>),
        grave: &mut Graveyard<V, O>,
        guard: &Guard,
    ) -> Killed
    where
        V: Send + Sync + 'static,
    {
        let guard = guard.epoch();
        let mut cur = self.current.load(Ordering::Acquire, guard);
        loop {
            let Some(cur_ref) = self.resolve(cur, guard) else {
                return Killed::No;
            };
            if !pred(&cur_ref) {
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
                guard,
            ) {
                Ok(_) => {
                    // As in `replace_if`: buried first.
                    if cur.tag() & INLINE == 0 {
                        Self::bury_boxed(cur, grave);
                    }
                    f(Displaced::new(&cur_ref));
                    return Killed::Now;
                }
                Err(e) => cur = e.current,
            }
        }
    }
}

impl<V> Drop for Slot<V> {
    fn drop(&mut self) {
        // SAFETY: R5: `&mut self` means no other thread can reach this
        // slot, so no pin is needed. R4: the cell holds a version only
        // while marked current or killed: one an overwrite displaced was
        // dropped by its release, which held the slot's owner and so ran
        // before this, one the kill displaced is dropped here unless
        // `release_killed` did (and cleared the mark), and a write that
        // claimed the cell either installed its version or took it back.
        // R2: a boxed current version is the slot's alone.
        let drop_version = || unsafe {
            let cur = self.current.load(Ordering::Relaxed, epoch::unprotected());
            if cur.tag() & (INLINE | KILLED) != 0 {
                self.inline.with_mut(|cell| (*cell).assume_init_drop());
            } else if !cur.is_null() {
                drop(cur.into_owned());
            }
        };
        // Often inside crossbeam's deferred destruction (the entry's last
        // handle goes there): see `contain`.
        contain(drop_version);
    }
}
