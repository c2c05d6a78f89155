//! Retiring unlinked objects in batches through crossbeam-epoch.
//!
//! A sweep or a drain unlinks many objects in one operation (killed
//! versions, the point index's counts of removed entries). Deferring each
//! on its own costs crossbeam-epoch a 2 KiB bag per 64 deferrals, and under
//! TTL churn those allocations (which make glibc consolidate its free lists)
//! were a tenth of the write path. A [`Batch`] gathers them and defers one
//! closure per [`BATCH`] objects, and the rest when it drops. An object is
//! unreachable from the moment it was unlinked, so retiring it a little
//! later is as sound as retiring it at once.

/// Objects a batch holds before it retires them: an operation that unlinks
/// a million objects does not keep them all until it ends, and the buffer
/// (under 512 bytes, allocated once at full size, and only once a second
/// object arrives) stays below the sizes that make glibc consolidate its
/// free lists.
const BATCH: usize = 64;

/// Unlinked objects (as type-erased pointers, which keep their provenance:
/// Miri checks every free against the allocation it came from) and how to
/// free one.
pub(crate) struct Batch {
    /// The first object, kept apart (null: none), so that an operation that
    /// unlinks one object (a delete, an overwrite) retires it with one
    /// deferral that allocates nothing: crossbeam-epoch stores a closure of
    /// up to three words inline.
    first: *mut (),
    more: Vec<*mut ()>,
    free: unsafe fn(*mut ()),
}

impl Batch {
    /// An empty batch whose objects `free` frees (it must accept exactly
    /// the pointers later pushed).
    pub(crate) const fn new(free: unsafe fn(*mut ())) -> Self {
        Self {
            first: std::ptr::null_mut(),
            more: Vec::new(),
            free,
        }
    }

    /// Takes an unlinked object.
    ///
    /// # Safety
    /// `object` must be unreachable for threads that pin from now on, owned
    /// by the caller (handed here once), non-null, and of the kind `free`
    /// frees.
    pub(crate) unsafe fn push(&mut self, object: *mut ()) {
        debug_assert!(!object.is_null(), "objects are non-null");
        if self.first.is_null() {
            self.first = object;
            return;
        }
        if self.more.capacity() == 0 {
            self.more.reserve_exact(BATCH - 1);
        }
        self.more.push(object);
        if self.more.len() + 1 >= BATCH {
            self.retire();
        }
    }

    fn retire(&mut self) {
        let (first, free) = (
            std::mem::replace(&mut self.first, std::ptr::null_mut()),
            self.free,
        );
        if first.is_null() {
            return;
        }
        let guard = crossbeam_epoch::pin();
        if self.more.is_empty() {
            // SAFETY: per `push`'s contract: unlinked before it was pushed,
            // owned here once, of the kind `free` frees; readers that
            // reached it are pinned, and the deferral waits for them.
            unsafe { guard.defer_unchecked(move || free(first)) };
            return;
        }
        let more = std::mem::take(&mut self.more);
        let release = move || {
            for object in std::iter::once(first).chain(more) {
                // SAFETY: per `push`'s contract, each is owned here once and
                // of the kind `free` frees.
                unsafe { free(object) };
            }
        };
        // SAFETY: as above, for every object in the batch.
        unsafe { guard.defer_unchecked(release) };
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.retire();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_types)] // test bookkeeping, not the protocol

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{BATCH, Batch};

    /// Objects freed so far; each object is its own index, so a double
    /// free or a lost one shows in the sum as well as the count.
    static FREED: AtomicUsize = AtomicUsize::new(0);
    static SUM: AtomicUsize = AtomicUsize::new(0);

    /// # Safety
    /// `object` must be a `Box<usize>` nobody else frees.
    unsafe fn free(object: *mut ()) {
        // SAFETY: per the contract.
        let id = unsafe { Box::from_raw(object.cast::<usize>()) };
        SUM.fetch_add(*id, Ordering::SeqCst);
        FREED.fetch_add(1, Ordering::SeqCst);
    }

    /// Flushes until `done` holds. Tests run in parallel, and a thread of
    /// another test that is descheduled while pinned holds the epoch back,
    /// so this sleeps now and then (about 0.4 s over all tries) instead of
    /// spinning through its tries in a few milliseconds: without the
    /// sleeps, it failed once under load.
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
    fn every_pushed_object_is_freed_once_after_the_batch_drops() {
        let (mut freed, mut sum) = (0, 0);
        // None, the inline first one alone, a partial vector, exactly one
        // full batch, and several batches retired while pushing.
        for n in [0, 1, 2, BATCH - 1, BATCH, 3 * BATCH + 5] {
            let mut batch = Batch::new(free);
            for id in 1..=n {
                // SAFETY: a fresh box, handed over once, freed by `free`.
                unsafe { batch.push(Box::into_raw(Box::new(id)).cast()) };
            }
            drop(batch);
            freed += n;
            sum += n * (n + 1) / 2;
            reclaim_until(|| FREED.load(Ordering::SeqCst) == freed);
            assert_eq!(SUM.load(Ordering::SeqCst), sum, "{n} objects");
        }
    }
}
