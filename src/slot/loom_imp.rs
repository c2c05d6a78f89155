//! The loom seam: the same protocol on a loom `AtomicPtr` whose low bits
//! carry the tags, and a loom-tracked inline cell, so that a model sees
//! two owners of the cell or a read racing its write. Retired boxed
//! versions are parked on a garbage list until the slot drops. Nothing
//! frees a displaced inline version early (there is no epoch here): it
//! stays in its cell until the slot drops, unless a model frees it with
//! [`Slot::drop_inline`] at a point where no thread can read it, which is
//! how `slot::loom_models` exercises the claim path.
use std::mem::MaybeUninit;

use loom::cell::UnsafeCell;

use super::{Displaced, Graveyard, Killed, Ordering, Replaced, Version, next_version};
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

    /// As in the twin: the version of a slot nobody else reads, taken
    /// out; the slot is left dead with its cell marked free (empty).
    pub(crate) unsafe fn take_unread(&self) -> Option<Version<V>> {
        let cur = self
            .current
            .swap(with_tag(std::ptr::null_mut(), FREE), Ordering::AcqRel);
        // SAFETY: per the twin's contract, the version is ours alone; the
        // free mark tells the slot's drop that the cell is empty.
        unsafe {
            if tag(cur) & INLINE != 0 {
                return Some(self.inline.get_mut().deref().assume_init_read());
            }
            if tag(cur) & FREE == 0 {
                self.inline.get_mut().deref().assume_init_drop();
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
        f: impl FnOnce(Displaced<'_, V>) -> R,
        _grave: &mut Graveyard<V>,
        _hold: impl FnOnce() -> *mut (),
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
                match self
                    .current
                    .compare_exchange(cur, new, Ordering::SeqCst, Ordering::Acquire)
                {
                    Ok(_) => {
                        if let Next::Boxed(boxed) = std::mem::replace(&mut next, Next::Inline) {
                            let _ = Box::into_raw(boxed); // the slot's now
                        }
                        let f = f.take().expect("runs once");
                        let out = f(Displaced::new(cur_ref));
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
        f: impl FnOnce(Displaced<'_, V>),
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
                match self
                    .current
                    .compare_exchange(cur, dead, Ordering::SeqCst, Ordering::Acquire)
                {
                    Ok(_) => {
                        (f.take().expect("runs once"))(Displaced::new(cur_ref));
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
