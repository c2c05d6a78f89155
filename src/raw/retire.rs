//! Retiring unlinked objects in batches through crossbeam-epoch: the one
//! place the raw layer defers a release (R1 in [`crate::raw`]).
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

/// Unlinked objects, each a typed handle whose `Drop` releases it (frees a
/// version, drops an inline one in place, gives back a count). Dropping a
/// handle later is as sound as dropping it at once, so pushing is safe
/// code: what makes a release sound (R1, R2 in [`crate::raw`]) is checked
/// where the raw layer makes the handle, which is the only place that can.
pub(crate) struct Batch<T: Send + 'static> {
    /// The first object, kept apart, so that an operation that unlinks one
    /// object (a delete, an overwrite) retires it with one deferral that
    /// allocates nothing: crossbeam-epoch stores a closure of up to three
    /// words inline, and the handles are one or two.
    first: Option<T>,
    more: Vec<T>,
}

impl<T: Send + 'static> Batch<T> {
    /// An empty batch.
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            more: Vec::new(),
        }
    }

    /// Takes an unlinked object; it is released (dropped) once the grace
    /// period of a deferral made from now on is over.
    pub(crate) fn push(&mut self, object: T) {
        if self.first.is_none() {
            self.first = Some(object);
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

    // Inline, so that an empty batch's drop (most operations' batches)
    // compiles to a test of `first` and of the vector's capacity.
    #[inline]
    fn retire(&mut self) {
        if self.first.is_some() {
            self.retire_under(&crossbeam_epoch::pin());
        }
    }

    /// Retires what the batch holds now, through the caller's pin: an
    /// operation that still holds its guard saves a pin of its own.
    pub(crate) fn retire_now(&mut self, guard: &super::Guard) {
        self.retire_under(guard.epoch());
    }

    fn retire_under(&mut self, guard: &crossbeam_epoch::Guard) {
        let Some(first) = self.first.take() else {
            return;
        };
        if self.more.is_empty() {
            guard.defer(move || drop(first));
            return;
        }
        let more = std::mem::take(&mut self.more);
        // In push order: the first, then the rest.
        guard.defer(move || {
            drop(first);
            drop(more);
        });
    }
}

impl<T: Send + 'static> Drop for Batch<T> {
    #[inline]
    fn drop(&mut self) {
        self.retire();
    }
}

/// Flushes until `done` holds (the unit tests of retirement and of the
/// slot wait on the epoch with it). Tests run in parallel, and a thread of
/// another test that is descheduled while pinned holds the epoch back,
/// so this sleeps now and then (about 0.4 s over all tries) instead of
/// spinning through its tries in a few milliseconds: without the
/// sleeps, it failed once under load.
#[cfg(test)]
pub(crate) fn reclaim_until(mut done: impl FnMut() -> bool) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_types)] // test bookkeeping, not the protocol

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{BATCH, Batch, reclaim_until};

    /// Objects freed so far; each object is its own index, so a double
    /// free or a lost one shows in the sum as well as the count.
    static FREED: AtomicUsize = AtomicUsize::new(0);
    static SUM: AtomicUsize = AtomicUsize::new(0);

    /// An object that counts its release.
    struct Object(usize);

    impl Drop for Object {
        fn drop(&mut self) {
            SUM.fetch_add(self.0, Ordering::SeqCst);
            FREED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_pushed_object_is_freed_once_after_the_batch_drops() {
        let (mut freed, mut sum) = (0, 0);
        // None, the inline first one alone, a partial vector, exactly one
        // full batch, and several batches retired while pushing.
        for n in [0, 1, 2, BATCH - 1, BATCH, 3 * BATCH + 5] {
            let mut batch = Batch::new();
            for id in 1..=n {
                batch.push(Object(id));
            }
            drop(batch);
            freed += n;
            sum += n * (n + 1) / 2;
            reclaim_until(|| FREED.load(Ordering::SeqCst) == freed);
            assert_eq!(SUM.load(Ordering::SeqCst), sum, "{n} objects");
        }
    }
}
