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
/// (512 bytes, allocated once at full size) stays below the sizes that make
/// glibc consolidate its free lists.
const BATCH: usize = 64;

/// Unlinked objects (as addresses) and how to free one.
pub(crate) struct Batch {
    unlinked: Vec<usize>,
    free: unsafe fn(usize),
}

impl Batch {
    /// An empty batch whose objects `free` frees (it must accept exactly
    /// the addresses later pushed).
    pub(crate) const fn new(free: unsafe fn(usize)) -> Self {
        Self {
            unlinked: Vec::new(),
            free,
        }
    }

    /// Takes an unlinked object.
    ///
    /// # Safety
    /// `addr` must be unreachable for threads that pin from now on, owned by
    /// the caller (handed here once), and of the kind `free` frees.
    pub(crate) unsafe fn push(&mut self, addr: usize) {
        if self.unlinked.capacity() == 0 {
            self.unlinked.reserve_exact(BATCH);
        }
        self.unlinked.push(addr);
        if self.unlinked.len() >= BATCH {
            self.retire();
        }
    }

    fn retire(&mut self) {
        let unlinked = std::mem::take(&mut self.unlinked);
        if unlinked.is_empty() {
            return;
        }
        let free = self.free;
        let release = move || {
            for addr in unlinked {
                // SAFETY: per `push`'s contract, each is owned here once and
                // of the kind `free` frees.
                unsafe { free(addr) };
            }
        };
        // SAFETY: every object here was unlinked before it was pushed;
        // readers that reached it are pinned, and the deferral waits for them.
        unsafe { crossbeam_epoch::pin().defer_unchecked(release) };
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.retire();
    }
}
