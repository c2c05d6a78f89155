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

/// Unlinked objects (as addresses) and how to free one.
pub(crate) struct Batch {
    /// The first object, kept apart (0: none), so that an operation that
    /// unlinks one object (a delete, an overwrite) retires it with one
    /// deferral that allocates nothing: crossbeam-epoch stores a closure of
    /// up to three words inline.
    first: usize,
    more: Vec<usize>,
    free: unsafe fn(usize),
}

impl Batch {
    /// An empty batch whose objects `free` frees (it must accept exactly
    /// the addresses later pushed).
    pub(crate) const fn new(free: unsafe fn(usize)) -> Self {
        Self {
            first: 0,
            more: Vec::new(),
            free,
        }
    }

    /// Takes an unlinked object.
    ///
    /// # Safety
    /// `addr` must be unreachable for threads that pin from now on, owned by
    /// the caller (handed here once), non-zero, and of the kind `free` frees.
    pub(crate) unsafe fn push(&mut self, addr: usize) {
        debug_assert_ne!(addr, 0, "objects have non-null addresses");
        if self.first == 0 {
            self.first = addr;
            return;
        }
        if self.more.capacity() == 0 {
            self.more.reserve_exact(BATCH - 1);
        }
        self.more.push(addr);
        if self.more.len() + 1 >= BATCH {
            self.retire();
        }
    }

    fn retire(&mut self) {
        let (first, free) = (std::mem::take(&mut self.first), self.free);
        if first == 0 {
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
            for addr in std::iter::once(first).chain(more) {
                // SAFETY: per `push`'s contract, each is owned here once and
                // of the kind `free` frees.
                unsafe { free(addr) };
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
